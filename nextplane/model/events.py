# -*- test-case-name: tests.test_model -*-
"""
The immutable event model that connectors hand to the router.

Every event names a C{sender} and a C{recipient} (both L{Address}), an
optional L{ChatSessionId}, a unique C{event_id} and a UTC C{timestamp}.
Each class carries two class-level labels used by the metadata log:
C{category} (one of L{Category}) and C{kind} (the finer type).

Content fields (bodies, file names and URLs, reaction emoji, status texts)
are left out of C{repr}, so an event that reaches a log line or an exception
message never carries content.

Events never carry platform markup or native identifiers of a platform:
C{message_id} values are hub-neutral identifiers that connectors map to
their native ones through the store.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import ClassVar

from attrs import evolve, field, frozen, validators

from .address import Address, ChatSessionId
from .text import RichText

__all__ = [
    "Availability",
    "Category",
    "ContactAccept",
    "ContactDecline",
    "ContactRemove",
    "ContactRequest",
    "DeliveryError",
    "Event",
    "FileShare",
    "MessageEdit",
    "MessageRetract",
    "Presence",
    "ReactionAdd",
    "ReactionRemove",
    "TextMessage",
    "Typing",
    "TypingState",
    "new_event_id",
    "utc_now",
]


class Category(enum.StrEnum):
    """
    The coarse metadata type of an event.
    """

    IM = "im"
    PRESENCE = "presence"
    TYPING = "typing"
    CONTACT = "contact"
    ERROR = "error"


class Availability(enum.StrEnum):
    """
    Normalised presence. C{UNKNOWN} means a side cannot tell, which is never
    shown as offline.
    """

    AVAILABLE = "available"
    AWAY = "away"
    BUSY = "busy"
    DND = "dnd"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class TypingState(enum.StrEnum):
    """
    Chat state of the sender (XEP-0085 / RFC 3994 vocabulary, reduced).
    """

    COMPOSING = "composing"
    PAUSED = "paused"
    IDLE = "idle"


def new_event_id() -> str:
    """
    A fresh hub-neutral identifier for an event or message.
    """
    return uuid.uuid4().hex


def utc_now() -> datetime:
    """
    The current time, timezone-aware UTC. Only for the edges; core code is
    given the time.
    """
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC)


_is_address = validators.instance_of(Address)
_optional_session = validators.optional(validators.instance_of(ChatSessionId))


@frozen(kw_only=True)
class _Base:
    category: ClassVar[Category]
    kind: ClassVar[str]

    sender: Address = field(validator=_is_address)
    recipient: Address = field(validator=_is_address)
    session: ChatSessionId | None = field(default=None, validator=_optional_session)
    event_id: str = field(factory=new_event_id)
    timestamp: datetime = field(factory=utc_now, converter=_utc)

    def with_session(self, session: ChatSessionId) -> Event:
        """
        A copy of this event bound to C{session}.
        """
        return evolve(self, session=session)  # type: ignore[return-value]


def _nonempty(instance: object, attribute: object, value: str) -> None:
    if not value:
        raise ValueError("must not be empty")


@frozen(kw_only=True)
class TextMessage(_Base):
    """
    A chat message with a rich-text body.

    @ivar message_id: Hub-neutral id, the key of the message-id map.
    @ivar reply_to: The C{message_id} this replies to, if any.
    """

    category = Category.IM
    kind = "message"

    body: RichText = field(validator=validators.instance_of(RichText), repr=False)
    message_id: str = field(factory=new_event_id, validator=_nonempty)
    reply_to: str | None = None


@frozen(kw_only=True)
class MessageEdit(_Base):
    """
    A correction of an earlier message, replacing its whole body.
    """

    category = Category.IM
    kind = "edit"

    message_id: str = field(validator=_nonempty)
    body: RichText = field(validator=validators.instance_of(RichText), repr=False)


@frozen(kw_only=True)
class MessageRetract(_Base):
    """
    The deletion of an earlier message by its sender.
    """

    category = Category.IM
    kind = "retract"

    message_id: str = field(validator=_nonempty)


@frozen(kw_only=True)
class ReactionAdd(_Base):
    """
    An emoji reaction added to a message.
    """

    category = Category.IM
    kind = "reaction_add"

    message_id: str = field(validator=_nonempty)
    emoji: str = field(validator=_nonempty, repr=False)


@frozen(kw_only=True)
class ReactionRemove(_Base):
    """
    An emoji reaction taken back.
    """

    category = Category.IM
    kind = "reaction_remove"

    message_id: str = field(validator=_nonempty)
    emoji: str = field(validator=_nonempty, repr=False)


@frozen(kw_only=True)
class FileShare(_Base):
    """
    A file offered by URL.
    """

    category = Category.IM
    kind = "file"

    name: str = field(validator=_nonempty, repr=False)
    size: int | None = field(default=None)
    media_type: str = "application/octet-stream"
    url: str = field(validator=_nonempty, repr=False)
    message_id: str = field(factory=new_event_id)

    @size.validator
    def _check_size(self, attribute: object, value: int | None) -> None:
        if value is not None and value < 0:
            raise ValueError("size must not be negative")


@frozen(kw_only=True)
class Typing(_Base):
    """
    The sender is (or stopped) typing to the recipient.
    """

    category = Category.TYPING
    kind = "typing"

    state: TypingState = field(converter=TypingState)


@frozen(kw_only=True)
class Presence(_Base):
    """
    The sender's availability, as shown to the recipient.
    """

    category = Category.PRESENCE
    kind = "presence"

    availability: Availability = field(converter=Availability)
    status: str = field(default="", repr=False)


@frozen(kw_only=True)
class ContactRequest(_Base):
    """
    The sender asks to become a contact of the recipient.
    """

    category = Category.CONTACT
    kind = "contact_request"

    display_name: str | None = field(default=None, repr=False)


@frozen(kw_only=True)
class ContactAccept(_Base):
    """
    The sender accepts the recipient's pending request.
    """

    category = Category.CONTACT
    kind = "contact_accept"


@frozen(kw_only=True)
class ContactDecline(_Base):
    """
    The sender declines the recipient's pending request.
    """

    category = Category.CONTACT
    kind = "contact_decline"


@frozen(kw_only=True)
class ContactRemove(_Base):
    """
    The sender removes the recipient from their contacts.
    """

    category = Category.CONTACT
    kind = "contact_remove"


@frozen(kw_only=True)
class DeliveryError(_Base):
    """
    An earlier event could not be delivered. Sent back to that event's
    sender (so C{recipient} is the original sender, C{sender} the original
    recipient).

    @ivar condition: A machine-readable condition, e.g. C{not-allowed},
        C{remote-server-not-found}, C{service-unavailable}.
    @ivar reason: A human-readable reason naming the cause or the rule.
    @ivar original_event_id: The C{event_id} of the failed event.
    @ivar original_kind: Its C{kind}.
    @ivar message_id: The failed message's id, when it was a message.
    """

    category = Category.ERROR
    kind = "delivery_error"

    condition: str = field(validator=_nonempty)
    reason: str = field(validator=_nonempty)
    original_event_id: str = field(validator=_nonempty)
    original_kind: str = field(validator=_nonempty)
    message_id: str | None = None


Event = (
    TextMessage
    | MessageEdit
    | MessageRetract
    | ReactionAdd
    | ReactionRemove
    | FileShare
    | Typing
    | Presence
    | ContactRequest
    | ContactAccept
    | ContactDecline
    | ContactRemove
    | DeliveryError
)

#: Every concrete event class, for exhaustive tests and dispatch tables.
EVENT_TYPES: tuple[type[Event], ...] = (
    TextMessage,
    MessageEdit,
    MessageRetract,
    ReactionAdd,
    ReactionRemove,
    FileShare,
    Typing,
    Presence,
    ContactRequest,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    DeliveryError,
)
