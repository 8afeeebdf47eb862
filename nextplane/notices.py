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

from datetime import UTC, datetime

from .model.address import ChatSessionId
from .model.events import Category, DeliveryError, Event

__all__ = [
    "NOTIFIED_CATEGORIES",
    "RESTARTED",
    "delivery_error",
    "not_delivered_text",
    "wants_notice",
]

#: Categories whose senders are told when an event is not delivered.
NOTIFIED_CATEGORIES = frozenset({Category.IM, Category.CONTACT})

#: Why a message the previous process accepted was not delivered.
RESTARTED = "the hub restarted before it was passed on. Please send it again"

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


def not_delivered_text(
    sent: datetime | None = None, recipient: str = "", reason: str = RESTARTED
) -> str:
    """
    The words telling a sender, on a platform that shows plain text, that
    their message was not delivered. The message is named by the time it
    was sent and whom it was for, never by its content.

    @param sent: When the hub accepted it; left out when unknown.
    @param recipient: Whom it was for, or C{""} where the notice is shown
        in the conversation itself (a threaded reply).
    @param reason: Why (no content); by default, the restart.
    """
    when = f" of {sent.astimezone(UTC).strftime('%H:%M:%S UTC on %Y-%m-%d')}" if sent else ""
    to = f" to {recipient}" if recipient else ""
    return f"Your message{when}{to} was not delivered: {reason.rstrip('.')}."
