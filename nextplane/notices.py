# -*- test-case-name: tests.test_notices -*-
"""
Sender notices: the one place that builds the events telling a sender that
something they sent did not arrive (L{DeliveryError}).

Who is told: the sender of a message or contact event (the categories a
person notices missing). Presence, typing and errors themselves are never
answered with a notice, so notices cannot loop.

The router tells hub users of refusals and failures at once; a connector
that learns of a failure later (after it acknowledged the event to the
router) builds its notice here too and routes it, so every platform shows
the same words.
"""

from __future__ import annotations

from datetime import datetime

from .model.address import ChatSessionId
from .model.events import Category, DeliveryError, Event

__all__ = ["NOTIFIED_CATEGORIES", "delivery_error", "wants_notice"]

#: Categories whose senders are told when an event is not delivered.
NOTIFIED_CATEGORIES = frozenset({Category.IM, Category.CONTACT})

_DEFAULT_CONDITION = "undefined-condition"
_DEFAULT_REASON = "the message could not be delivered"


def wants_notice(event: Event) -> bool:
    """
    Whether the sender of C{event} is told when it is not delivered.
    """
    return not isinstance(event, DeliveryError) and event.category in NOTIFIED_CATEGORIES


def delivery_error(
    event: Event,
    condition: str | None,
    reason: str | None,
    now: datetime,
    session: ChatSessionId | None = None,
) -> DeliveryError | None:
    """
    The notice telling C{event}'s sender it was not delivered, or C{None}
    when such events get no notice (L{wants_notice}).

    @param condition: Machine-readable (XMPP stanza-error vocabulary);
        C{undefined-condition} when unknown.
    @param reason: Why, in words, never message content.
    @param now: The hub's time; the notice never predates its cause,
        whatever the clocks say.
    @param session: The chat session, when the event's own is not set.
    """
    if not wants_notice(event):
        return None
    return DeliveryError(
        sender=event.recipient,
        recipient=event.sender,
        session=session or event.session,
        timestamp=max(now, event.timestamp),
        condition=condition or _DEFAULT_CONDITION,
        reason=reason or _DEFAULT_REASON,
        original_event_id=event.event_id,
        original_kind=event.kind,
        message_id=getattr(event, "message_id", None),
    )
