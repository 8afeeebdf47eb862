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

from datetime import datetime

from attrs import evolve

from .model.address import Address
from .model.events import ContactAccept, ContactDecline, ContactRemove, ContactRequest, Event
from .storage.records import ContactDirection, ContactRecord, ContactState

__all__ = ["next_contact"]

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
