# -*- test-case-name: tests.platform.test_cards -*-
"""
What a bot shows about contacts, as models each platform renders: the
contact-request card (Block Kit on Slack, Adaptive Cards on Teams and
Webex) and the lines of a contact list.
"""

from __future__ import annotations

import enum

from attrs import frozen

from ...model.address import Address
from ...model.events import Availability
from ...storage.records import ContactDirection, ContactRecord, ContactState

__all__ = ["CardState", "ContactCard", "ContactLine", "state_text"]


class CardState(enum.Enum):
    """
    Where a contact request stands, as its card shows it.
    """

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    FAILED = "failed"


@frozen
class ContactCard:
    """
    A contact request shown to its recipient.

    @ivar contact: The requester; the Accept/Decline buttons carry it.
    @ivar name: The requester's display name, if known.
    @ivar picture: The requester's avatar URL, if known.
    @ivar state: L{CardState.PENDING} shows the buttons; any other state
        replaces them with C{outcome}.
    @ivar outcome: What happened, once answered (already rendered text).
    """

    contact: Address
    name: str | None = None
    picture: str | None = None
    state: CardState = CardState.PENDING
    outcome: str | None = None

    @property
    def title(self) -> str:
        """
        The card's plain-text title (and notification fallback).
        """
        return f"{self.contact} wants to chat with you"

    @property
    def value(self) -> str:
        """
        What the Accept and Decline actions carry back: the requester.
        """
        return str(self.contact)


def state_text(contact: ContactRecord) -> str:
    """
    A contact's state in words.
    """
    state = contact.state
    if state == ContactState.PENDING:
        if contact.direction == ContactDirection.OUTBOUND:
            return "invitation sent"
        return "wants to chat with you"
    return {
        ContactState.ACCEPTED: "contact",
        ContactState.DECLINED: "declined",
        ContactState.REVOKED: "revoked by an administrator",
        ContactState.BLOCKED: "blocked",
        ContactState.REMOVED: "removed",
        ContactState.EXPIRED: "request expired",
    }.get(state, state.value)


@frozen
class ContactLine:
    """
    One contact as shown to its owner.

    @ivar presence: Last presence heard from the contact; C{UNKNOWN} when
        nothing was heard (never shown as offline).
    @ivar channel: The platform conversation with the contact, if any.
    """

    contact: ContactRecord
    name: str | None = None
    presence: Availability = Availability.UNKNOWN
    channel: str | None = None

    @property
    def awaits_answer(self) -> bool:
        """
        Whether the owner has a request of this contact to answer (the
        line then carries the request's buttons).
        """
        return (
            self.contact.state == ContactState.PENDING
            and self.contact.direction == ContactDirection.INBOUND
        )
