# -*- test-case-name: tests.test_contacts -*-
"""
Contact lifecycle: how a delivered contact event changes the stored state.

Pure: given the event, the hub user's side and the current record, return
the new record (or C{None} when nothing changes). The router applies the
result after the other side accepted the event.

States: pending (either direction), accepted, declined, removed, blocked,
revoked (by an administrator), expired (an unanswered request).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import evolve
from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from .interfaces import IStore
from .model.address import Address
from .model.events import ContactAccept, ContactDecline, ContactRemove, ContactRequest, Event
from .storage.records import ContactDirection, ContactRecord, ContactState

__all__ = ["ContactExpiryService", "expire_pending", "next_contact"]

log = Logger()

_FINAL_FOR_REQUESTS = (ContactState.BLOCKED, ContactState.REVOKED)


def next_contact(
    event: Event,
    user: Address,
    other: Address,
    user_is_sender: bool,
    current: ContactRecord | None,
    now: datetime,
) -> ContactRecord | None:
    """
    The hub user C{user}'s contact record for C{other} after C{event}.

    @return: The record to store, or C{None} if the event changes nothing.
    """
    state = current.state if current is not None else None

    def with_state(new: ContactState, direction: ContactDirection | None = None) -> ContactRecord:
        if current is None:
            return ContactRecord(user, other, new, direction or ContactDirection.OUTBOUND, now, now)
        return evolve(
            current,
            state=new,
            direction=direction or current.direction,
            updated_at=now,
        )

    if isinstance(event, ContactRequest):
        if state in _FINAL_FOR_REQUESTS or state == ContactState.ACCEPTED:
            return None
        direction = ContactDirection.OUTBOUND if user_is_sender else ContactDirection.INBOUND
        if state == ContactState.PENDING and current is not None and current.direction != direction:
            # Both asked each other: that is mutual consent.
            return with_state(ContactState.ACCEPTED)
        return with_state(ContactState.PENDING, direction)
    if isinstance(event, ContactAccept):
        if state == ContactState.PENDING:
            return with_state(ContactState.ACCEPTED)
        return None
    if isinstance(event, ContactDecline):
        if state == ContactState.PENDING:
            return with_state(ContactState.DECLINED)
        return None
    if isinstance(event, ContactRemove):
        if state in (ContactState.PENDING, ContactState.ACCEPTED):
            return with_state(ContactState.REMOVED)
        return None
    return None


async def expire_pending(store: IStore, now: datetime, ttl: timedelta) -> int:
    """
    Mark every contact request unanswered for longer than C{ttl} expired.

    @return: How many expired.
    """
    expired = 0
    for contact in await store.list_contacts(state=ContactState.PENDING):
        if now - contact.updated_at >= ttl:
            await store.put_contact(evolve(contact, state=ContactState.EXPIRED, updated_at=now))
            expired += 1
    return expired


class ContactExpiryService(TimerService):
    """
    Expires unanswered contact requests periodically (and once at start).
    A failed run is logged and the next one tried as usual.
    """

    def __init__(
        self, store: IStore, clock: IReactorTime, ttl: timedelta, interval: float = 3600.0
    ) -> None:
        super().__init__(interval, self.run_once)
        self.clock = clock
        self.setName("contact-expiry")
        self._store = store
        self._clock = clock
        self._ttl = ttl

    def run_once(self) -> Deferred[int]:
        """
        One pass; fires with the number of requests expired.
        """
        from datetime import UTC

        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        d = Deferred.fromCoroutine(expire_pending(self._store, now, self._ttl))

        def report(count: int) -> int:
            if count:
                log.info("{count} contact requests expired", count=count)
            return count

        def failed(failure: object) -> int:
            log.failure("expiring contact requests failed", failure)  # type: ignore[arg-type]
            return 0

        return d.addCallbacks(report, failed)
