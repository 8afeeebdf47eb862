# -*- test-case-name: tests.webex.test_events -*-
"""
Webex webhook envelopes, parsed into typed values.

A delivery is a JSON envelope (C{../shared/notes/platforms.md} §C1):
C{id} (the webhook), C{name}, C{resource}, C{event}, C{orgId},
C{createdBy}, C{appId}, C{ownedBy}, C{status}, C{actorId} and C{data}.
C{data} carries ids only, never content: the hub fetches a message with
C{GET /messages/{id}} and a card answer with C{GET /attachment/actions/{id}}.

L{parse_envelope} reads the resources the hub subscribes to:

  - C{messages} C{created} / C{deleted} -> L{MessageCreated} / L{MessageDeleted};
  - C{attachmentActions} C{created} -> L{CardActionCreated};
  - C{memberships} C{created} / C{deleted} -> L{MembershipCreated} /
    L{MembershipDeleted};
  - C{rooms} C{migrated} -> L{RoomMigrated}.

Any other resource or event parses to L{Ignored} (answered 2xx, not
routed). Unknown fields are ignored; bodies over L{MAX_ENVELOPE_BYTES}, and
envelopes without the fields a value needs, raise L{EnvelopeError} (400).
Every value has a L{Envelope.dedupe_key}: webhooks carry no timestamp, so a
replay is recognised by resource, event and C{data.id}.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "CardActionCreated",
    "Envelope",
    "EnvelopeError",
    "Ignored",
    "MembershipCreated",
    "MembershipDeleted",
    "MessageCreated",
    "MessageDeleted",
    "RoomMigrated",
    "WebexEvent",
    "parse_envelope",
]

#: The largest envelope read. Webex's are about 1 kB (ids only).
MAX_ENVELOPE_BYTES = 64 * 1024
#: Longest id or short field kept; Webex ids are about 80 characters.
_MAX_FIELD = 1024


class EnvelopeError(ValueError):
    """
    A delivery is not a usable Webex envelope (answer 400).
    """

    status = 400


@frozen
class MessageCreated:
    """
    A message was posted (fetch it with C{GET /messages/{message_id}}).

    @ivar room_type: C{direct} or C{group}, when given.
    """

    message_id: str
    room_id: str
    person_id: str | None
    person_email: str | None
    room_type: str | None


@frozen
class MessageDeleted:
    """
    A message was deleted.
    """

    message_id: str
    room_id: str
    person_id: str | None


@frozen
class CardActionCreated:
    """
    Someone pressed a card button (fetch the inputs with
    C{GET /attachment/actions/{action_id}}).

    @ivar message_id: The message that carried the card.
    """

    action_id: str
    message_id: str | None
    room_id: str | None
    person_id: str | None


@frozen
class _Membership:
    membership_id: str
    room_id: str
    person_id: str | None
    person_email: str | None
    room_type: str | None


@frozen
class MembershipCreated(_Membership):
    """
    Someone (perhaps the bot) was added to a space.
    """


@frozen
class MembershipDeleted(_Membership):
    """
    Someone (perhaps the bot) left or was removed from a space.
    """


@frozen
class RoomMigrated:
    """
    A space got a new id (C{rooms} C{migrated}); stored references to
    C{room_id} follow it.
    """

    room_id: str


@frozen
class Ignored:
    """
    A resource or event the hub does not use.
    """

    resource: str
    event: str


WebexEvent = (
    MessageCreated
    | MessageDeleted
    | CardActionCreated
    | MembershipCreated
    | MembershipDeleted
    | RoomMigrated
    | Ignored
)


@frozen
class Envelope:
    """
    One delivery: the webhook it came from and the parsed event.

    @ivar webhook_id: The webhook's id (C{id}).
    @ivar actor_id: Who caused the event (C{actorId}); the bot's own
        events are dropped by comparing it with C{people/me}.
    @ivar data_id: C{data.id}, for deduplication.
    """

    webhook_id: str
    resource: str
    event: str
    org_id: str | None
    actor_id: str | None
    data_id: str
    item: WebexEvent

    @property
    def dedupe_key(self) -> str:
        """
        The replay key: C{resource:event:data.id}.
        """
        return f"{self.resource}:{self.event}:{self.data_id}"


def _text(mapping: dict[str, Any], name: str) -> str | None:
    value = mapping.get(name)
    if isinstance(value, str) and value and len(value) <= _MAX_FIELD:
        return value
    return None


def _required(mapping: dict[str, Any], name: str) -> str:
    value = _text(mapping, name)
    if value is None:
        raise EnvelopeError(f"envelope without a usable {name}")
    return value


def _item(resource: str, event: str, data: dict[str, Any]) -> WebexEvent:
    key = (resource, event)
    if key == ("messages", "created"):
        return MessageCreated(
            _required(data, "id"),
            _required(data, "roomId"),
            _text(data, "personId"),
            _text(data, "personEmail"),
            _text(data, "roomType"),
        )
    if key == ("messages", "deleted"):
        return MessageDeleted(
            _required(data, "id"), _required(data, "roomId"), _text(data, "personId")
        )
    if key == ("attachmentActions", "created"):
        return CardActionCreated(
            _required(data, "id"),
            _text(data, "messageId"),
            _text(data, "roomId"),
            _text(data, "personId"),
        )
    if resource == "memberships" and event in ("created", "deleted"):
        kind = MembershipCreated if event == "created" else MembershipDeleted
        return kind(
            _required(data, "id"),
            _required(data, "roomId"),
            _text(data, "personId"),
            _text(data, "personEmail"),
            _text(data, "roomType"),
        )
    if key == ("rooms", "migrated"):
        return RoomMigrated(_required(data, "id"))
    return Ignored(resource, event)


def parse_envelope(body: bytes) -> Envelope:
    """
    Parse one webhook delivery (after its signature was verified).

    @param body: The raw body.
    @return: The L{Envelope}; its C{item} is L{Ignored} for resources and
        events the hub does not use.
    @raise EnvelopeError: If the body is too large, not a JSON object, or
        lacks a field the event needs.
    """
    if len(body) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError("envelope too large")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise EnvelopeError("envelope is not JSON") from e
    if not isinstance(document, dict):
        raise EnvelopeError("envelope is not a JSON object")
    data = document.get("data")
    if not isinstance(data, dict):
        raise EnvelopeError("envelope without data")
    resource = _required(document, "resource")
    event = _required(document, "event")
    return Envelope(
        webhook_id=_required(document, "id"),
        resource=resource,
        event=event,
        org_id=_text(document, "orgId"),
        actor_id=_text(document, "actorId"),
        data_id=_required(data, "id"),
        item=_item(resource, event, data),
    )
