# -*- test-case-name: tests.test_contacts -*-
"""
Contact state: the lifecycle rule and its one writer.

  - L{next_contact} is the pure lifecycle rule: given a contact event, the
    hub user's side and the current record, the new record (or C{None}).
  - L{ContactBook} is the one writer of contact state. The router, contact
    expiry, the admin API and platform commands all change contacts
    through it, never with C{put_contact} of their own.

States: pending (either direction), accepted, declined, removed, blocked,
revoked (by an administrator), expired (an unanswered request).

Handshakes are race-free: the router calls L{ContactBook.begin} I{before}
it hands a contact event to the destination, so a request is durable
before anyone can answer it and a fast acceptance finds it. If the event is
then not delivered, for any reason, L{ContactBook.end} ends the handshake
(the request, or the acceptance that the other side never learned of)
instead of leaving it pending for ever; the router tells the sender why.

How each caller changes contacts:
  - a contact request, acceptance, decline or removal between a hub user
    and someone else is I{routed} (L{nextplane.router.Router.route} of a
    L{ContactRequest}, L{ContactAccept}, L{ContactDecline} or
    L{ContactRemove}); the router records it here;
  - a hub user's own decisions that tell nobody: L{ContactBook.block},
    L{ContactBook.unblock}, L{ContactBook.forget} (the other side could
    not be told of a removal);
  - administrators: L{ContactBook.revoke}, L{ContactBook.revoke_user},
    L{ContactBook.revoke_domain} (C{*.example.com} included), each one
    store transaction;
  - expiry: L{ContactBook.expire}, driven by L{ContactExpiryService}.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import evolve, frozen
from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from .interfaces import IStore
from .model.address import Address
from .model.events import (
    Category,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    Event,
)
from .ordering import KeyedSerializer
from .storage.records import ContactChange, ContactDirection, ContactRecord, ContactState

__all__ = ["ContactBook", "ContactExpiryService", "Handshake", "next_contact"]

log = Logger()

_FINAL_FOR_REQUESTS = (ContactState.BLOCKED, ContactState.REVOKED)
#: States a handshake writes that the other side must learn of to hold.
_UNFINISHED = (ContactState.PENDING, ContactState.ACCEPTED)


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


@frozen
class Handshake:
    """
    What L{ContactBook.begin} wrote for one contact event, so
    L{ContactBook.end} can end it if the event is not delivered.

    @ivar written: The records written, one per hub-user side.
    """

    written: tuple[ContactRecord, ...] = ()


class ContactBook:
    """
    The one writer of contact state; see the module docstring.

    Changes of one contact are serialised (read, decide, write), so two
    events of one pair never interleave their writes. Set-based changes
    (revocations, expiry) are one store transaction each.

    @param store: Where contacts are kept.
    @param clock: Stamps the changes.
    @param is_local: Whether an address is a hub user's (its domain is a
        tenant's); only hub users own contact records.
    """

    def __init__(
        self, store: IStore, clock: IReactorTime, is_local: Callable[[Address], bool]
    ) -> None:
        self._store = store
        self._clock = clock
        self._is_local = is_local
        self._serial = KeyedSerializer(max_queued=10_000)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    # -- reads ----------------------------------------------------------------

    def get(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """
        @return: A Deferred firing with C{owner}'s contact C{external}, or
            C{None}.
        """
        return self._store.get_contact(owner, external)  # type: ignore[no-any-return]

    def list_contacts(
        self, *, owner: Address | None = None, domain: str | None = None, state: str | None = None
    ) -> Deferred[list[ContactRecord]]:
        """
        Contacts filtered by owner, external domain and/or state (each
        C{None} for any).

        @return: A Deferred firing with them, ordered by (owner, external).
        """
        return self._store.list_contacts(owner, domain, state)  # type: ignore[no-any-return]

    # -- handshakes (the router) ----------------------------------------------

    def begin(self, event: Event) -> Deferred[Handshake]:
        """
        Record contact event C{event} for each hub-user side, before the
        router hands it to its destination. Other events change nothing.

        @return: A Deferred firing with the L{Handshake} written.
        """
        return Deferred.fromCoroutine(self._begin(event))

    async def _begin(self, event: Event) -> Handshake:
        if event.category != Category.CONTACT:
            return Handshake()
        now = self._now()
        written = []
        for user, other, is_sender in (
            (event.sender, event.recipient, True),
            (event.recipient, event.sender, False),
        ):
            if not self._is_local(user):
                continue

            async def write(
                user: Address = user, other: Address = other, s: bool = is_sender
            ) -> Any:
                current = await self._store.get_contact(user, other)
                updated = next_contact(event, user, other, s, current, now)
                if updated is not None:
                    await self._store.put_contact(updated)
                return updated

            record = await self._serial.submit((user.key, other.key), write)
            if record is not None:
                written.append(record)
        return Handshake(tuple(written))

    def end(self, handshake: Handshake) -> Deferred[list[ContactRecord]]:
        """
        The event of C{handshake} was not delivered: end each request or
        acceptance it wrote (as C{removed}), unless the contact changed
        since (an administrator's revocation stays). Declines and removals
        stand: they are the hub user's own decision.

        @return: A Deferred firing with the contacts ended.
        """
        return Deferred.fromCoroutine(self._end(handshake))

    async def _end(self, handshake: Handshake) -> list[ContactRecord]:
        ended = []
        now = self._now()
        for record in handshake.written:
            if record.state not in _UNFINISHED:
                continue
            change = ContactChange(
                state=ContactState.REMOVED,
                at=now,
                owner=record.owner,
                external=record.external,
                from_states=[record.state],
            )
            ended.extend(await self._store.change_contacts(change))
        if ended:
            log.info("{count} contact handshakes ended undelivered", count=len(ended))
        return ended

    # -- a hub user's own decisions ---------------------------------------------

    def _update(
        self,
        owner: Address,
        external: Address,
        decide: Callable[[ContactRecord | None, datetime], ContactRecord | None],
    ) -> Deferred[ContactRecord | None]:
        async def job() -> ContactRecord | None:
            current = await self._store.get_contact(owner, external)
            updated = decide(current, self._now())
            if updated is not None:
                await self._store.put_contact(updated)
            return updated

        return self._serial.submit((owner.key, external.key), job)

    def block(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """
        C{owner} blocks C{external}: no messages or requests either way.
        (Tell the other side first by routing a L{ContactRemove} if they
        were a contact.)

        @return: A Deferred firing with the new record, or C{None} if it was
            blocked already.
        """

        def decide(current: ContactRecord | None, now: datetime) -> ContactRecord | None:
            if current is None:
                state, direction = ContactState.BLOCKED, ContactDirection.OUTBOUND
                return ContactRecord(owner, external, state, direction, now, now)
            if current.state == ContactState.BLOCKED:
                return None
            return evolve(current, state=ContactState.BLOCKED, updated_at=now)

        return self._update(owner, external, decide)

    def unblock(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """
        C{owner} unblocks C{external}, who becomes a removed contact (a new
        request may follow).

        @return: A Deferred firing with the new record, or C{None} if it
            was not blocked.
        """
        return self._update(owner, external, _moved(ContactState.BLOCKED, ContactState.REMOVED))

    def forget(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """
        End a pending or accepted contact on the hub user's side only, for
        a removal the other side could not be told of.

        @return: A Deferred firing with the new record, or C{None} if there
            was nothing to end.
        """
        return self._update(owner, external, _moved(_UNFINISHED, ContactState.REMOVED))

    # -- administrators -----------------------------------------------------------

    def revoke(self, owner: Address, external: Address) -> Deferred[list[ContactRecord]]:
        """
        Revoke one contact. @return: A Deferred firing with the contacts
        revoked (none if it was revoked already).
        """
        return self._revoke(owner=owner, external=external)

    def revoke_user(self, user: Address) -> Deferred[list[ContactRecord]]:
        """
        Revoke every contact of hub user C{user}, in one transaction.

        @return: A Deferred firing with the contacts revoked.
        """
        return self._revoke(owner=user)

    def revoke_domain(
        self, pattern: str, tenants: Collection[str] | None = None
    ) -> Deferred[list[ContactRecord]]:
        """
        Revoke every contact with a remote domain, in one transaction.

        @param pattern: A domain, or C{*.example.com} for its subdomains
            (as domain rules read).
        @param tenants: Only contacts of users of these tenant domains;
            C{None} for every tenant.
        @return: A Deferred firing with the contacts revoked.
        """
        return self._revoke(
            external_pattern=pattern, owner_domains=None if tenants is None else list(tenants)
        )

    def _revoke(self, **filters: Any) -> Deferred[list[ContactRecord]]:
        change = ContactChange(state=ContactState.REVOKED, at=self._now(), **filters)
        return self._store.change_contacts(change)  # type: ignore[no-any-return]

    # -- expiry -----------------------------------------------------------------------

    def expire(self, ttl: timedelta) -> Deferred[int]:
        """
        Mark every request unanswered for C{ttl} or longer expired, in one
        transaction.

        @return: A Deferred firing with how many expired.
        """
        now = self._now()
        change = ContactChange(
            state=ContactState.EXPIRED,
            at=now,
            from_states=[ContactState.PENDING],
            # Strictly before: a request exactly C{ttl} old has expired too.
            updated_before=now - ttl + timedelta(microseconds=1),
        )
        return self._store.change_contacts(change).addCallback(len)  # type: ignore[no-any-return]


def _moved(
    before: ContactState | Iterable[ContactState], after: ContactState
) -> Callable[[ContactRecord | None, datetime], ContactRecord | None]:
    states = (before,) if isinstance(before, ContactState) else tuple(before)

    def decide(current: ContactRecord | None, now: datetime) -> ContactRecord | None:
        if current is None or current.state not in states:
            return None
        return evolve(current, state=after, updated_at=now)

    return decide


class ContactExpiryService(TimerService):
    """
    Expires unanswered contact requests periodically (and once at start).
    A failed run is logged and the next one tried as usual.
    """

    def __init__(
        self, contacts: ContactBook, clock: IReactorTime, ttl: timedelta, interval: float = 3600.0
    ) -> None:
        super().__init__(interval, self.run_once)
        self.clock = clock
        self.setName("contact-expiry")
        self._contacts = contacts
        self._ttl = ttl

    def run_once(self) -> Deferred[int]:
        """
        One pass; fires with the number of requests expired.
        """

        def report(count: int) -> int:
            if count:
                log.info("{count} contact requests expired", count=count)
            return count

        def failed(failure: object) -> int:
            log.failure("expiring contact requests failed", failure)  # type: ignore[arg-type]
            return 0

        return self._contacts.expire(self._ttl).addCallbacks(report, failed)
