# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
Pure translation between XMPP stanzas and the hub's events.

No I/O, no reactor, no state: elements (L{twisted.words.xish.domish.Element},
as Twisted's C{XmlStream} produces them) in, values out. Both directions are
total: hostile or malformed input never raises, it yields no event (with a
L{Received.note} saying why) or a stanza error to send back.

Received stanzas (L{stanza_to_events}):

  - RFC 6121 C{<message type='chat'|'normal'>} with C{<body>}: a
    L{TextMessage}; the XEP-0071 XHTML-IM alternative is preferred when
    present and not empty, otherwise the body is read as XEP-0393 styling
    (or as plain text under the XEP-0393 C{<unstyled/>} hint). A XEP-0461
    C{<reply id>} sets C{reply_to}; its XEP-0428 fallback quote is cut out
    of the body.
  - XEP-0308 C{<replace id>}: a L{MessageEdit} of the message with that id.
  - XEP-0424 C{<retract id xmlns='urn:xmpp:message-retract:1'>}, or version
    0 inside a XEP-0422 C{<apply-to id>}: a L{MessageRetract}; the fallback
    body is ignored.
  - XEP-0444 C{<reactions id>}: the I{full} set of the sender's reactions;
    L{Received.bind} compares it with the previous set (kept by the caller)
    and yields L{ReactionAdd} and L{ReactionRemove} events.
  - XEP-0085 chat states without a body: L{Typing} (C{composing},
    C{paused}; C{active}, C{inactive}, C{gone} are idle).
  - XEP-0066 C{<x xmlns='jabber:x:oob'><url>}: a L{FileShare} named after
    the URL's last path segment, size unknown; a body that is just the URL
    (the usual fallback) is not repeated as a text message.
  - XEP-0184 C{<request/>}: L{Received.receipt_request} (answer with
    L{Received.receipt_reply}); C{<received id>} and XEP-0333 markers: a
    L{Receipt}, which is not an event.
  - C{<message type='error'>} and C{<presence type='error'>}: a
    L{DeliveryError} with the RFC 6120 §8.3.3 condition and a reason such as
    C{the remote server reports: item-not-found}.
  - C{<presence>} (RFC 6121 §4): available / C{unavailable} with C{<show>}
    and C{<status>}: L{Presence} (C{chat} → available, C{away} and C{xa} →
    away, C{dnd} → dnd, C{unavailable} → offline). Subscriptions (RFC 6121
    §3): C{subscribe} → L{ContactRequest} (display name from XEP-0172
    C{<nick>}), C{subscribed} → L{ContactAccept}, C{unsubscribe} →
    L{ContactRemove}, C{unsubscribed} → L{ContactDecline} when the recipient
    had a request pending towards the sender, else L{ContactRemove} (the
    caller says which, see L{Received.bind}). C{probe} sets
    L{Received.probe}.
  - C{groupchat} and C{headline} messages, and IQs (see
    L{nextplane.connectors.xmpp.disco.answer_iq}), give no events.

Addresses are the bare JIDs of C{from} and C{to} (resources dropped, XEP-0106
escapes undone); a JID without a local part gives no event, and a content
message to a bare domain is answered with C{service-unavailable}.

B{Message ids.} Events carry hub-neutral message ids; XMPP ids are chosen by
the sender and mapped through the store, which is asynchronous. So reading
is in two steps: L{stanza_to_events} returns a L{Received} listing the
native ids it involves (L{NativeRef}s: the id of the new message, or ids of
earlier messages it refers to, with their author when known); the caller
looks them up (or mints and records a new id), then calls L{Received.bind}
with a function from L{NativeRef} to hub id to get the events. The native id
of a new message is its C{id} attribute, else its XEP-0359 C{origin-id}.

Sent stanzas (L{event_to_stanzas}) are the inverse, for every event type,
from and to bare JIDs; the caller passes the native ids (the new stanza's
id, the id of the message an edit, retraction or reaction targets) and, for
reactions, the sender's previous reaction set:

  - L{TextMessage}: C{<message type='chat'>} with the XEP-0393 styled
    C{<body>}, an XHTML-IM alternative when the text has markup, a XEP-0461
    C{<reply>} when the native id of the replied message is given, XEP-0085
    C{<active/>}, XEP-0184 C{<request/>}, XEP-0359 C{<origin-id>} (same as
    the stanza id) and optionally XEP-0333 C{<markable/>};
  - L{MessageEdit}: a new body with XEP-0308 C{<replace id>};
  - L{MessageRetract}: XEP-0424 version 1 C{<retract id>} plus the version 0
    fastening for older clients, the XEP-0428 fallback body
    L{RETRACT_FALLBACK} and a XEP-0334 C{<store/>} hint;
  - L{ReactionAdd}, L{ReactionRemove}: the complete XEP-0444 set after the
    event, with C{<store/>};
  - L{FileShare}: XEP-0066 C{jabber:x:oob} with the URL as body (the usual
    fallback, which lets clients such as Conversations show the file);
  - L{Typing}: a chat state (composing, paused; idle is C{active}) with a
    C{<no-store/>} hint;
  - L{Presence}: available without C{<show>}, away and unknown as C{away},
    busy and dnd as C{dnd}, offline as C{unavailable}, with C{<status>};
  - L{ContactRequest}: C{subscribe} (with a XEP-0172 C{<nick>}),
    L{ContactAccept}: C{subscribed}, L{ContactDecline}: C{unsubscribed},
    L{ContactRemove}: C{unsubscribe} then C{unsubscribed} (RFC 6121 §3.3,
    §3.2: ending the subscription both ways);
  - L{DeliveryError}: C{<message type='error'>} (C{<presence>} for presence
    and contact events) echoing the failed stanza's id, with the RFC 6120
    condition (unknown ones as C{undefined-condition}) and the reason as
    C{<text>}.

Limits: bodies over L{MAX_BODY_CHARS} characters are refused with
C{policy-violation}; at most L{MAX_REACTIONS} reactions of at most
L{MAX_REACTION_CHARS} characters are read; ids longer than L{MAX_ID_CHARS}
count as absent; statuses are cut to L{MAX_STATUS_CHARS}, error texts to
L{MAX_ERROR_TEXT_CHARS}, names to L{MAX_NAME_CHARS}; JIDs longer than
L{MAX_JID_CHARS} are invalid; XHTML deeper than
L{nextplane.connectors.xmpp.xhtml.MAX_DEPTH} is flattened.
"""

from __future__ import annotations

import functools
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from attrs import evolve, field, frozen
from twisted.words.protocols.jabber import jid as _jid
from twisted.words.xish.domish import Element

from nextplane.model.address import Address, InvalidAddress
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
    Typing,
    TypingState,
    new_event_id,
)
from nextplane.model.text import RichText

from .namespaces import (
    NS_CHATSTATES,
    NS_CORRECT,
    NS_DELAY,
    NS_FALLBACK,
    NS_FASTEN,
    NS_HINTS,
    NS_MARKERS,
    NS_NICK,
    NS_OOB,
    NS_REACTIONS,
    NS_RECEIPTS,
    NS_REPLY,
    NS_RETRACT,
    NS_RETRACT_0,
    NS_SERVER,
    NS_SID,
    NS_STANZAS,
    NS_STYLING,
    NS_XHTML_IM,
    NS_XML,
    STANZA_NAMESPACES,
    xml_text,
)
from .styling import format_styling, parse_styling
from .xhtml import format_xhtml_im, has_markup, parse_xhtml_im, safe_url

__all__ = [
    "ERROR_CONDITIONS",
    "MAX_BODY_CHARS",
    "MAX_ERROR_TEXT_CHARS",
    "MAX_ID_CHARS",
    "MAX_JID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_REACTIONS",
    "MAX_REACTION_CHARS",
    "MAX_STATUS_CHARS",
    "RETRACT_FALLBACK",
    "NativeRef",
    "ReactionSet",
    "Receipt",
    "Received",
    "Resolver",
    "address_to_jid",
    "apply_reaction",
    "build_error",
    "error_reply",
    "escape_local",
    "event_to_stanzas",
    "jid_to_address",
    "reaction_changes",
    "receipt_stanza",
    "stanza_to_events",
    "unescape_local",
]

#: Longer bodies are refused with C{policy-violation}.
MAX_BODY_CHARS = 65_536
#: Reactions beyond this many in one C{<reactions>} element are ignored.
MAX_REACTIONS = 32
#: Longer reaction strings are ignored (one emoji, even a long ZWJ sequence, fits).
MAX_REACTION_CHARS = 64
#: Longer stanza ids count as absent.
MAX_ID_CHARS = 256
#: Presence status texts are cut to this length.
MAX_STATUS_CHARS = 1024
#: Error texts quoted in a L{DeliveryError} reason are cut to this length.
MAX_ERROR_TEXT_CHARS = 200
#: File names and nicknames are cut to this length.
MAX_NAME_CHARS = 256
#: Longer JIDs are invalid (three parts of at most 1023 bytes, RFC 7622).
MAX_JID_CHARS = 3071

#: The XEP-0424 fallback body for clients that do not support retraction.
RETRACT_FALLBACK = (
    "This person attempted to retract a previous message, but it's unsupported by your client."
)

#: RFC 6120 §8.3.3 stanza error conditions and the error type sent with each.
ERROR_CONDITIONS: Mapping[str, str] = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "gone": "cancel",
    "internal-server-error": "cancel",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "policy-violation": "modify",
    "recipient-unavailable": "wait",
    "redirect": "modify",
    "registration-required": "auth",
    "remote-server-not-found": "cancel",
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "service-unavailable": "cancel",
    "subscription-required": "auth",
    "undefined-condition": "cancel",
    "unexpected-request": "wait",
}

_CHAT_STATES: Mapping[str, TypingState] = {
    "composing": TypingState.COMPOSING,
    "paused": TypingState.PAUSED,
    "active": TypingState.IDLE,
    "inactive": TypingState.IDLE,
    "gone": TypingState.IDLE,
}
_SHOW: Mapping[str, Availability] = {
    "chat": Availability.AVAILABLE,
    "away": Availability.AWAY,
    "xa": Availability.AWAY,
    "dnd": Availability.DND,
}
_PRESENCE_KINDS = frozenset(
    {"presence", "contact_request", "contact_accept", "contact_decline", "contact_remove"}
)
_MEDIA_TYPES: Mapping[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "zip": "application/zip",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/opus",
    "wav": "audio/wav",
}
_DELAY_WINDOW = timedelta(days=365)

# -- JIDs ------------------------------------------------------------------

# XEP-0106 JID Escaping: characters a localpart cannot hold, and their codes.
_ESCAPES: Mapping[str, str] = {
    " ": "\\20",
    '"': "\\22",
    "&": "\\26",
    "'": "\\27",
    "/": "\\2f",
    ":": "\\3a",
    "<": "\\3c",
    ">": "\\3e",
    "@": "\\40",
}
_ESCAPE_CODES = frozenset({"20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c"})
_ESCAPED = re.compile(r"\\(20|22|26|27|2f|3a|3c|3e|40|5c)", re.IGNORECASE)


def escape_local(local: str) -> str:
    """
    Escape a local part for use in a JID (XEP-0106).

    @param local: An address's local part, e.g. C{o'brien}.
    @return: The JID localpart, e.g. C{o\\27brien}.
    """
    out: list[str] = []
    for index, char in enumerate(local):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == "\\" and local[index + 1 : index + 3].lower() in _ESCAPE_CODES:
            out.append("\\5c")
        else:
            out.append(char)
    return "".join(out)


def unescape_local(local: str) -> str:
    """
    Undo XEP-0106 escaping of a JID localpart.

    @param local: A JID localpart, e.g. C{o\\27brien}.
    @return: The address local part, e.g. C{o'brien}.
    """
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), local)


def _parse_jid(value: object) -> _jid.JID | None:
    if not isinstance(value, str) or not value or len(value) > MAX_JID_CHARS:
        return None
    return _parsed_jid(value)


# Stringprep is costly and the same few JIDs come back on every stanza.
@functools.lru_cache(maxsize=8192)
def _parsed_jid(value: str) -> _jid.JID | None:
    try:
        return _jid.JID(value)
    except Exception:  # InvalidFormat, UnicodeError, stringprep failures
        return None


def jid_to_address(value: object) -> Address | None:
    """
    The address of a JID's bare form.

    Never raises.

    @param value: A JID, bare or full, e.g. C{Juliet@capulet.example/balcony}.
    @return: C{juliet@capulet.example}, or C{None} if C{value} is not a valid
        JID with a local part whose domain is a DNS name.
    """
    parsed = _parse_jid(value)
    if parsed is None or not parsed.user:
        return None
    try:
        return Address(unescape_local(parsed.user), parsed.host)
    except (InvalidAddress, ValueError):
        return None


def address_to_jid(address: Address) -> str:
    """
    The bare JID of an address (local part escaped per XEP-0106).
    """
    return f"{escape_local(address.local)}@{address.domain}"


# -- received stanzas ------------------------------------------------------


@frozen
class NativeRef:
    """
    A native XMPP message id that a received stanza involves.

    @ivar stanza_id: The id as received.
    @ivar new: C{True} for the id of the message this stanza creates (map it
        to a fresh hub id); C{False} for an earlier message it refers to.
    @ivar author: Who sent the message with that id, when the protocol says
        (for an edit or retraction, the sender; for an error, receipt or
        marker, the recipient, who sent the failed or acknowledged stanza);
        C{None} when it may be either party (reactions, replies).
    @ivar origin_id: For a new message, its XEP-0359 C{origin-id} when it
        differs from C{stanza_id}, an alias worth mapping too.
    """

    stanza_id: str
    new: bool
    author: Address | None = None
    origin_id: str | None = None


@frozen
class Receipt:
    """
    The recipient of an earlier message acknowledges it (XEP-0184
    C{<received/>}, or XEP-0333 C{<received/>}, C{<displayed/>},
    C{<acknowledged/>}).

    @ivar sender: Who acknowledges.
    @ivar recipient: Who sent the acknowledged message.
    @ivar message: Its native id.
    @ivar kind: C{received}, C{displayed} or C{acknowledged}.
    """

    sender: Address
    recipient: Address
    message: NativeRef
    kind: str


@frozen
class ReactionSet:
    """
    The complete set of a sender's reactions to one message (XEP-0444).

    @ivar message: The native id of the message reacted to.
    @ivar emojis: The reactions, at most L{MAX_REACTIONS}.
    """

    message: NativeRef
    emojis: frozenset[str]


@frozen
class _Pending:
    """
    An event whose id fields still hold native ids.

    @ivar refs: (field name, reference) pairs to resolve.
    """

    event: Event
    refs: tuple[tuple[str, NativeRef], ...] = ()


#: Maps a native id to a hub message id, or C{None} if unknown.
Resolver = Callable[[NativeRef], "str | None"]


@frozen(kw_only=True)
class Received:
    """
    What a received stanza means, before native ids are mapped.

    Call L{bind} to get the events.

    @ivar sender: The sender's address, if the stanza had a valid one.
    @ivar recipient: The recipient's address, if valid.
    @ivar sender_jid: The sender's full JID (normalised), where replies such
        as receipts and errors go.
    @ivar resource: The sender's resource, for presence aggregation.
    @ivar stanza_id: The stanza's C{id}, if any (at most L{MAX_ID_CHARS}).
    @ivar timestamp: When it was sent (XEP-0203 delay, else C{now}).
    @ivar refs: Every native id L{bind} will ask about, without repeats.
    @ivar receipt_request: The sender asked for a XEP-0184 receipt.
    @ivar receipt: An acknowledgement of an earlier message.
    @ivar reactions: The sender's new complete reaction set for a message.
    @ivar unsubscribed: The stanza was C{<presence type='unsubscribed'/>}.
    @ivar probe: The stanza was a presence probe: answer with the
        recipient's presence.
    @ivar error_reply: A stanza error to send back, if the stanza is refused.
    @ivar note: Why the stanza gave nothing, for logs (never content).
    """

    sender: Address | None = None
    recipient: Address | None = None
    sender_jid: str | None = None
    resource: str | None = None
    stanza_id: str | None = None
    timestamp: datetime | None = None
    refs: tuple[NativeRef, ...] = ()
    receipt_request: bool = False
    receipt: Receipt | None = None
    reactions: ReactionSet | None = None
    unsubscribed: bool = False
    probe: bool = False
    error_reply: Element | None = field(default=None, eq=False)
    note: str | None = None
    pending: tuple[_Pending, ...] = field(default=(), repr=False)

    def bind(
        self,
        resolve: Resolver | None = None,
        *,
        previous_reactions: Iterable[str] = (),
        request_pending: bool = False,
    ) -> tuple[Event, ...]:
        """
        The events, with native ids replaced by hub ids.

        @param resolve: Maps each of L{refs} to a hub message id, or C{None}
            if unknown. For a new message (C{ref.new}) the caller mints and
            records the id; C{None} makes this method mint one. An event
            referring to an unknown message is dropped (an edit, retraction
            or reaction); a reply keeps no C{reply_to}; an error keeps no
            C{message_id} and has C{original_event_id} C{"unknown"}.
        @param previous_reactions: The sender's reactions to
            C{reactions.message} before this stanza (state kept by the
            caller); only used when L{reactions} is set.
        @param request_pending: Whether the recipient had asked to become a
            contact of the sender and has no answer yet; only used when
            L{unsubscribed} is set: C{True} gives L{ContactDecline}, C{False}
            L{ContactRemove}.
        @return: The events, in order.
        """
        cache: dict[NativeRef, str | None] = {}

        def lookup(ref: NativeRef) -> str | None:
            if ref not in cache:
                value = resolve(ref) if resolve is not None else None
                cache[ref] = value if isinstance(value, str) and value else None
            return cache[ref]

        events: list[Event] = []
        for pending in self.pending:
            changes: dict[str, str | None] = {}
            keep = True
            for name, ref in pending.refs:
                value = lookup(ref)
                if value is not None:
                    changes[name] = value
                elif ref.new:
                    changes[name] = new_event_id()
                elif name == "reply_to":
                    changes[name] = None
                elif isinstance(pending.event, DeliveryError):
                    changes[name] = "unknown" if name == "original_event_id" else None
                else:
                    keep = False
            if keep:
                events.append(evolve(pending.event, **changes))  # type: ignore[arg-type]
        if self.sender is not None and self.recipient is not None and self.timestamp:
            common: dict[str, Any] = {
                "sender": self.sender,
                "recipient": self.recipient,
                "timestamp": self.timestamp,
            }
            if self.reactions is not None:
                message_id = lookup(self.reactions.message)
                if message_id is not None:
                    added, removed = reaction_changes(previous_reactions, self.reactions.emojis)
                    for emoji in added:
                        events.append(ReactionAdd(message_id=message_id, emoji=emoji, **common))
                    for emoji in removed:
                        events.append(ReactionRemove(message_id=message_id, emoji=emoji, **common))
            if self.unsubscribed:
                if request_pending:
                    events.append(ContactDecline(**common))
                else:
                    events.append(ContactRemove(**common))
        return tuple(events)

    def receipt_reply(self, stanza_id: str | None = None) -> Element | None:
        """
        The XEP-0184 C{<received/>} answering this stanza, if it asked for
        one. Send it once the message was accepted.

        @param stanza_id: An id for the receipt message itself, if wanted.
        """
        if not self.receipt_request or self.stanza_id is None:
            return None
        if self.recipient is None or self.sender_jid is None:
            return None
        return receipt_stanza(
            address_to_jid(self.recipient), self.sender_jid, self.stanza_id, stanza_id=stanza_id
        )


def reaction_changes(
    previous: Iterable[str], current: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """
    Compare two complete XEP-0444 reaction sets.

    @param previous: The sender's reactions to a message before.
    @param current: The sender's reactions to it now.
    @return: C{(added, removed)}, each sorted.
    """
    before, after = frozenset(previous), frozenset(current)
    return tuple(sorted(after - before)), tuple(sorted(before - after))


def apply_reaction(previous: Iterable[str], event: ReactionAdd | ReactionRemove) -> frozenset[str]:
    """
    A sender's reaction set after one reaction event.

    @param previous: The set before.
    @param event: The reaction added or removed.
    @return: The set after, which L{event_to_stanzas} sends.
    """
    before = frozenset(previous)
    if isinstance(event, ReactionAdd):
        return before | {event.emoji}
    return before - {event.emoji}


def _child(element: Element, uri: str | None, name: str) -> Element | None:
    for child in element.elements():
        if child.uri == uri and child.name == name:
            return child
    return None


def _children(element: Element, uri: str | None, name: str) -> list[Element]:
    return [child for child in element.elements() if child.uri == uri and child.name == name]


def _text(element: Element) -> str:
    return "".join(child for child in element.children if isinstance(child, str))


def _attribute(element: Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = element.attributes.get(name)
    return value if isinstance(value, str) else None


def _valid_id(value: str | None) -> str | None:
    if value is None or not value or len(value) > MAX_ID_CHARS:
        return None
    if not value.isprintable():
        return None
    return value


def _clean(text: str, limit: int) -> str:
    """
    Text from a peer for a one-line field: no control or format
    characters, whitespace collapsed, at most C{limit} characters.
    """
    text = "".join(
        " " if char.isspace() else char
        for char in text[: limit * 4]
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cs")
    )
    return " ".join(text.split())[:limit]


def _lang(element: Element) -> str | None:
    value = element.attributes.get((NS_XML, "lang"))
    return value if isinstance(value, str) else None


def _pick(elements: list[Element]) -> Element | None:
    """The first element without C{xml:lang}, else the first."""
    for element in elements:
        if _lang(element) is None:
            return element
    return elements[0] if elements else None


def _timestamp(element: Element, now: datetime) -> datetime:
    delay = _child(element, NS_DELAY, "delay")
    stamp = _attribute(delay, "stamp")
    if stamp is None or len(stamp) > 64:
        return now
    try:
        when = datetime.fromisoformat(stamp.strip())
    except ValueError:
        return now
    if when.tzinfo is None or not (now - _DELAY_WINDOW <= when <= now):
        return now
    return when


def stanza_to_events(element: Element, *, now: datetime) -> Received:
    """
    Read a stanza received from a remote server.

    Never raises: what cannot be read gives a L{Received} without events,
    with a L{Received.note}, and an L{Received.error_reply} where RFC 6120
    asks for one.

    @param element: A C{<message/>} or C{<presence/>} in C{jabber:server}
        (or C{jabber:client}, or unqualified).
    @param now: The current time (timezone-aware), the events' timestamp
        unless the stanza carries a XEP-0203 delay.
    @return: What it means; call L{Received.bind} for the events.
    """
    try:
        if not isinstance(element, Element) or element.uri not in STANZA_NAMESPACES:
            return Received(note="not a stanza")
        if element.name == "message":
            return _read_message(element, now)
        if element.name == "presence":
            return _read_presence(element, now)
        return Received(note=f"no events from <{element.name[:32]}/>")
    except Exception as e:  # a bug must not let a peer break the stream
        return Received(note=f"unreadable stanza ({type(e).__name__})")


def _envelope(element: Element, now: datetime) -> Received:
    """The addressing part of a received stanza."""
    sender_jid = _parse_jid(element.getAttribute("from"))
    sender = jid_to_address(element.getAttribute("from"))
    recipient = jid_to_address(element.getAttribute("to"))
    return Received(
        sender=sender,
        recipient=recipient,
        sender_jid=sender_jid.full() if sender_jid is not None else None,
        resource=sender_jid.resource if sender_jid is not None else None,
        stanza_id=_valid_id(element.getAttribute("id")),
        timestamp=_timestamp(element, now),
    )


def _addressing_problem(element: Element, base: Received, *, answer: bool) -> Received | None:
    """
    C{None} if both addresses are usable, else the L{Received} to return.
    """
    if base.sender is None:
        return evolve(base, note="sender is not a user JID")
    if base.recipient is None:
        note = "recipient is not a user JID"
        if not answer:
            return evolve(base, note=note)
        recipient = _parse_jid(element.getAttribute("to"))
        condition = "jid-malformed" if recipient is None else "service-unavailable"
        return evolve(base, note=note, error_reply=error_reply(element, condition))
    return None


def _error_condition(error: Element | None) -> tuple[str, str]:
    condition, text = "undefined-condition", ""
    if error is None:
        return condition, text
    for child in error.elements():
        if child.uri != NS_STANZAS:
            continue
        if child.name == "text":
            if not text:
                text = _clean(_text(child), MAX_ERROR_TEXT_CHARS)
        elif child.name in ERROR_CONDITIONS and condition == "undefined-condition":
            condition = child.name
    return condition, text


def _failed_kind(element: Element) -> str:
    """Guess the kind of event a bounced message carried."""
    if element.name == "presence":
        return "presence"
    if _child(element, NS_RETRACT, "retract") or _child(element, NS_FASTEN, "apply-to"):
        return "retract"
    if _child(element, NS_REACTIONS, "reactions"):
        return "reaction_add"
    if _child(element, element.uri, "body") is not None:
        if _child(element, NS_CORRECT, "replace") is not None:
            return "edit"
        return "message"
    if _child(element, NS_OOB, "x") is not None:
        return "file"
    if any(child.uri == NS_CHATSTATES for child in element.elements()):
        return "typing"
    return "message"


def _read_error(element: Element, base: Received) -> Received:
    if base.sender is None or base.recipient is None:
        return evolve(base, note="error from or to a non-user JID")
    condition, text = _error_condition(_child(element, element.uri, "error"))
    reason = f"the remote server reports: {condition}"
    if text:
        reason = f"{reason} ({text})"
    assert base.timestamp is not None
    stanza_id = base.stanza_id
    event = DeliveryError(
        sender=base.sender,
        recipient=base.recipient,
        timestamp=base.timestamp,
        condition=condition,
        reason=reason,
        original_event_id=stanza_id or "unknown",
        original_kind=_failed_kind(element),
        message_id=stanza_id,
    )
    if stanza_id is None:
        return evolve(base, pending=(_Pending(event),))
    ref = NativeRef(stanza_id, new=False, author=base.recipient)
    return evolve(
        base,
        refs=(ref,),
        pending=(_Pending(event, (("message_id", ref), ("original_event_id", ref))),),
    )


def _read_message(element: Element, now: datetime) -> Received:
    base = _envelope(element, now)
    message_type = element.getAttribute("type")
    if message_type == "error":
        return _read_error(element, base)
    if message_type in ("groupchat", "headline"):
        return evolve(base, note=f"{message_type} messages are not handled")
    body_element = _pick(_children(element, element.uri, "body"))
    body = _text(body_element) if body_element is not None else ""
    has_body = bool(body.strip())
    problem = _addressing_problem(element, base, answer=has_body)
    if problem is not None:
        return problem
    sender, recipient = base.sender, base.recipient
    assert sender is not None and recipient is not None and base.timestamp is not None
    if len(body) > MAX_BODY_CHARS:
        return evolve(
            base,
            note="body too long",
            error_reply=error_reply(element, "policy-violation", "message too long"),
        )
    common: dict[str, Any] = {"sender": sender, "recipient": recipient, "timestamp": base.timestamp}
    stanza_id = base.stanza_id
    origin_id = _valid_id(_attribute(_child(element, NS_SID, "origin-id"), "id"))
    native_id = stanza_id or origin_id
    request = _child(element, NS_RECEIPTS, "request") is not None and stanza_id is not None
    receipt = _read_receipt(element, sender, recipient)
    refs: list[NativeRef] = []
    pending: list[_Pending] = []

    def result(**changes: object) -> Received:
        seen: list[NativeRef] = []
        for ref in refs:
            if ref not in seen:
                seen.append(ref)
        return evolve(
            base,
            refs=tuple(seen),
            pending=tuple(pending),
            receipt=receipt,
            receipt_request=request and any(not isinstance(item.event, Typing) for item in pending),
            **changes,  # type: ignore[arg-type]
        )

    # XEP-0424 retraction (version 1, or version 0 fastened with XEP-0422).
    retracted = _valid_id(_attribute(_child(element, NS_RETRACT, "retract"), "id"))
    if retracted is None:
        apply_to = _child(element, NS_FASTEN, "apply-to")
        if apply_to is not None and _child(apply_to, NS_RETRACT_0, "retract") is not None:
            retracted = _valid_id(_attribute(apply_to, "id"))
    if retracted is not None:
        ref = NativeRef(retracted, new=False, author=sender)
        refs.append(ref)
        pending.append(
            _Pending(MessageRetract(message_id=retracted, **common), (("message_id", ref),))
        )
        return result()

    # XEP-0444 reactions: the complete set, compared in bind().
    reactions = _child(element, NS_REACTIONS, "reactions")
    if reactions is not None:
        target = _valid_id(_attribute(reactions, "id"))
        if target is None:
            return result(note="reactions without a valid id")
        ref = NativeRef(target, new=False, author=None)
        refs.append(ref)
        emojis: set[str] = set()
        for child in _children(reactions, NS_REACTIONS, "reaction")[:MAX_REACTIONS]:
            emoji = _text(child).strip()
            if emoji and len(emoji) <= MAX_REACTION_CHARS and emoji.isprintable():
                emojis.add(emoji)
        return result(reactions=ReactionSet(ref, frozenset(emojis)))

    new_ref = (
        NativeRef(
            native_id,
            new=True,
            author=sender,
            origin_id=origin_id if origin_id != native_id else None,
        )
        if native_id is not None
        else None
    )
    oob_url = _oob_url(element)
    if has_body:
        rich = _rich_body(element, body)
        replaced = _valid_id(_attribute(_child(element, NS_CORRECT, "replace"), "id"))
        if replaced is not None:
            ref = NativeRef(replaced, new=False, author=sender)
            refs.append(ref)
            pending.append(
                _Pending(
                    MessageEdit(message_id=replaced, body=rich, **common), (("message_id", ref),)
                )
            )
            return result()
        if oob_url is None or body.strip() != oob_url:
            if rich.plain_text().strip():
                slots: list[tuple[str, NativeRef]] = []
                if new_ref is not None:
                    refs.append(new_ref)
                    slots.append(("message_id", new_ref))
                reply_id = _valid_id(_attribute(_child(element, NS_REPLY, "reply"), "id"))
                reply_ref = None
                if reply_id is not None:
                    reply_ref = NativeRef(reply_id, new=False, author=None)
                    refs.append(reply_ref)
                    slots.append(("reply_to", reply_ref))
                message = TextMessage(
                    body=rich,
                    message_id=native_id or new_event_id(),
                    reply_to=reply_id,
                    **common,
                )
                pending.append(_Pending(message, tuple(slots)))
    if oob_url is not None:
        share = FileShare(
            name=_file_name(oob_url),
            url=oob_url,
            media_type=_media_type(oob_url),
            message_id=native_id or new_event_id(),
            **common,
        )
        slots = []
        if new_ref is not None and not pending:
            refs.append(new_ref)
            slots.append(("message_id", new_ref))
        elif pending:
            share = evolve(share, message_id=new_event_id())
        pending.append(_Pending(share, tuple(slots)))
    if pending:
        return result()

    for child in element.elements():
        if child.uri == NS_CHATSTATES and child.name in _CHAT_STATES:
            pending.append(_Pending(Typing(state=_CHAT_STATES[child.name], **common)))
            return result()
    if receipt is not None:
        return result()
    return result(note="no content")


def _read_receipt(element: Element, sender: Address, recipient: Address) -> Receipt | None:
    received = _child(element, NS_RECEIPTS, "received")
    kind = "received"
    if received is None:
        for child in element.elements():
            if child.uri == NS_MARKERS and child.name in ("received", "displayed", "acknowledged"):
                received, kind = child, child.name
                break
    target = _valid_id(_attribute(received, "id"))
    if target is None:
        return None
    return Receipt(sender, recipient, NativeRef(target, new=False, author=recipient), kind)


def _rich_body(element: Element, body: str) -> RichText:
    """
    The message text: XHTML-IM when present and not empty, else the body
    as XEP-0393 styling (plain under C{<unstyled/>}), with a XEP-0461 reply
    fallback cut out.
    """
    stripped = _strip_reply_fallback(element, body)
    if stripped is None:
        html = _child(element, NS_XHTML_IM, "html")
        if html is not None:
            rich = parse_xhtml_im(html)
            if rich is not None and rich.plain_text().strip():
                return rich
    else:
        body = stripped
    if _child(element, NS_STYLING, "unstyled") is not None:
        return RichText.plain(body)
    return parse_styling(body)


def _strip_reply_fallback(element: Element, body: str) -> str | None:
    """
    The body without the XEP-0428 ranges marked as the XEP-0461 reply
    fallback, or C{None} if there are none.
    """
    if _child(element, NS_REPLY, "reply") is None:
        return None
    ranges: list[tuple[int, int]] = []
    for fallback in _children(element, NS_FALLBACK, "fallback")[:8]:
        if _attribute(fallback, "for") != NS_REPLY:
            continue
        for part in _children(fallback, NS_FALLBACK, "body")[:8]:
            start, end = _attribute(part, "start"), _attribute(part, "end")
            if start is None or end is None or not (start.isdigit() and end.isdigit()):
                continue
            if len(start) > 9 or len(end) > 9:
                continue
            first, last = int(start), int(end)
            if 0 <= first <= last <= len(body):
                ranges.append((first, last))
    if not ranges:
        return None
    for first, last in sorted(set(ranges), reverse=True):
        body = body[:first] + body[last:]
    return body


def _oob_url(element: Element) -> str | None:
    for oob in _children(element, NS_OOB, "x"):
        url_element = _child(oob, NS_OOB, "url")
        if url_element is None:
            continue
        url = safe_url(_text(url_element))
        if url is not None and url.lower().startswith(("https://", "http://")):
            return url
    return None


def _file_name(url: str) -> str:
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    name = posixpath.basename(unquote(path))
    name = "".join(
        char
        for char in name
        if char not in "/\\" and unicodedata.category(char) not in ("Cc", "Cf", "Cs")
    ).strip()
    if not name or name in (".", ".."):
        return "file"
    return name[:MAX_NAME_CHARS]


def _media_type(url: str) -> str:
    name = _file_name(url)
    _, dot, extension = name.rpartition(".")
    if not dot:
        return "application/octet-stream"
    return _MEDIA_TYPES.get(extension.lower(), "application/octet-stream")


def _read_presence(element: Element, now: datetime) -> Received:
    base = _envelope(element, now)
    presence_type = element.getAttribute("type")
    if presence_type == "error":
        return _read_error(element, base)
    problem = _addressing_problem(element, base, answer=False)
    if problem is not None:
        return problem
    sender, recipient = base.sender, base.recipient
    assert sender is not None and recipient is not None and base.timestamp is not None
    common: dict[str, Any] = {"sender": sender, "recipient": recipient, "timestamp": base.timestamp}
    if presence_type in (None, "available", "unavailable"):
        status_element = _pick(_children(element, element.uri, "status"))
        status = _clean(_text(status_element), MAX_STATUS_CHARS) if status_element else ""
        if presence_type == "unavailable":
            availability = Availability.OFFLINE
        else:
            show = _child(element, element.uri, "show")
            show_value = _text(show).strip() if show is not None else ""
            availability = _SHOW.get(show_value, Availability.AVAILABLE)
        event: Event = Presence(availability=availability, status=status, **common)
        return evolve(base, pending=(_Pending(event),))
    if presence_type == "subscribe":
        nick = _child(element, NS_NICK, "nick")
        display_name = _clean(_text(nick), MAX_NAME_CHARS) if nick is not None else ""
        event = ContactRequest(display_name=display_name or None, **common)
        return evolve(base, pending=(_Pending(event),))
    if presence_type == "subscribed":
        return evolve(base, pending=(_Pending(ContactAccept(**common)),))
    if presence_type == "unsubscribe":
        return evolve(base, pending=(_Pending(ContactRemove(**common)),))
    if presence_type == "unsubscribed":
        return evolve(base, unsubscribed=True)
    if presence_type == "probe":
        return evolve(base, probe=True)
    return evolve(base, note="unknown presence type")


# -- stanza errors ---------------------------------------------------------


def build_error(
    name: str,
    sender: str | None,
    recipient: str | None,
    stanza_id: str | None,
    condition: str,
    text: str | None = None,
) -> Element:
    """
    Build a stanza error (RFC 6120 §8.3).

    @param name: C{message}, C{presence} or C{iq}.
    @param sender: The C{from} JID, if any.
    @param recipient: The C{to} JID, if any.
    @param stanza_id: The id of the stanza in error, if any.
    @param condition: One of L{ERROR_CONDITIONS}; anything else is sent as
        C{undefined-condition}.
    @param text: A human-readable description, in English.
    @return: The C{type='error'} stanza.
    """
    if condition not in ERROR_CONDITIONS:
        condition = "undefined-condition"
    stanza = Element((NS_SERVER, name))
    if sender:
        stanza["from"] = xml_text(sender)
    if recipient:
        stanza["to"] = xml_text(recipient)
    if stanza_id:
        stanza["id"] = xml_text(stanza_id)
    stanza["type"] = "error"
    error = stanza.addElement("error")
    error["type"] = ERROR_CONDITIONS[condition]
    error.addElement((NS_STANZAS, condition))
    text = xml_text(text or "")
    if text:
        text_element = error.addElement((NS_STANZAS, "text"), content=text)
        text_element[(NS_XML, "lang")] = "en"
    return stanza


def error_reply(element: Element, condition: str, text: str | None = None) -> Element | None:
    """
    The stanza error answering a received stanza: same name and id, C{from}
    and C{to} swapped.

    @param element: The received stanza.
    @param condition: See L{build_error}.
    @param text: See L{build_error}.
    @return: The error, or C{None} for a stanza that must not be answered
        with one (an error itself, or one without C{from}), RFC 6120 §8.3.1.
    """
    if not isinstance(element, Element) or element.name not in ("message", "presence", "iq"):
        return None
    if element.getAttribute("type") in ("error", "result") and element.name == "iq":
        return None
    if element.getAttribute("type") == "error":
        return None
    sender = _parse_jid(element.getAttribute("from"))
    if sender is None:
        return None
    recipient = _parse_jid(element.getAttribute("to"))
    stanza_id = element.getAttribute("id")
    return build_error(
        element.name,
        recipient.full() if recipient is not None else None,
        sender.full(),
        stanza_id if isinstance(stanza_id, str) and len(stanza_id) <= MAX_ID_CHARS else None,
        condition,
        text,
    )


def receipt_stanza(
    sender: str, recipient: str, message_id: str, *, stanza_id: str | None = None
) -> Element:
    """
    A XEP-0184 receipt: C{<message><received id/></message>}.

    @param sender: The C{from} JID (who received the message).
    @param recipient: The C{to} JID (who sent it; a full JID is best).
    @param message_id: The id of the received message.
    @param stanza_id: An id for the receipt message, if wanted.
    """
    message = Element((NS_SERVER, "message"))
    message["from"] = xml_text(sender)
    message["to"] = xml_text(recipient)
    if stanza_id:
        message["id"] = xml_text(stanza_id)
    received = message.addElement((NS_RECEIPTS, "received"))
    received["id"] = xml_text(message_id)
    return message


# -- events to stanzas -----------------------------------------------------


def _stanza(name: str, event: Event, stanza_id: str | None, stanza_type: str | None) -> Element:
    stanza = Element((NS_SERVER, name))
    stanza["from"] = xml_text(address_to_jid(event.sender))
    stanza["to"] = xml_text(address_to_jid(event.recipient))
    if stanza_type is not None:
        stanza["type"] = stanza_type
    if stanza_id:
        stanza["id"] = xml_text(stanza_id)
    return stanza


def _add_text_payload(message: Element, text: RichText) -> bool:
    body = xml_text(format_styling(text))
    if not body.strip():
        return False
    message.addElement("body", content=body)
    if has_markup(text):
        message.addChild(format_xhtml_im(text))
    return True


def _add_tracking(message: Element, stanza_id: str, *, receipt: bool, markable: bool) -> None:
    if receipt:
        message.addElement((NS_RECEIPTS, "request"))
    if markable:
        message.addElement((NS_MARKERS, "markable"))
    origin = message.addElement((NS_SID, "origin-id"))
    origin["id"] = xml_text(stanza_id)


def event_to_stanzas(
    event: Event,
    *,
    stanza_id: str,
    target_id: str | None = None,
    reply_to_id: str | None = None,
    previous_reactions: Iterable[str] = (),
    request_receipt: bool = True,
    markable: bool = False,
) -> list[Element]:
    """
    The stanzas that carry an event to a remote XMPP server.

    Never raises for a valid event; an event that cannot be expressed
    without a missing native id gives no stanza (an empty list), and the
    caller should report it as undeliverable.

    @param event: Any L{Event}; C{from} and C{to} are the bare JIDs of its
        sender and recipient.
    @param stanza_id: The native id of the new stanza: for a
        L{TextMessage} or L{FileShare}, the id to map C{event.message_id}
        to; for a L{DeliveryError}, the id of the failed stanza it answers.
    @param target_id: The native id of the message a L{MessageEdit},
        L{MessageRetract}, L{ReactionAdd} or L{ReactionRemove} is about.
    @param reply_to_id: The native id of the message a L{TextMessage}
        replies to (XEP-0461), if known.
    @param previous_reactions: The sender's reactions to the target message
        before a reaction event; the stanza carries the set after it
        (XEP-0444 sends complete sets, see L{apply_reaction}).
    @param request_receipt: Ask for a XEP-0184 receipt on messages.
    @param markable: Mark messages as XEP-0333 markable.
    @return: The stanzas to send, in order.
    """
    if isinstance(event, TextMessage):
        message = _stanza("message", event, stanza_id, "chat")
        if not _add_text_payload(message, event.body):
            return []
        if event.reply_to is not None and reply_to_id:
            reply = message.addElement((NS_REPLY, "reply"))
            reply["id"] = xml_text(reply_to_id)
        message.addElement((NS_CHATSTATES, "active"))
        _add_tracking(message, stanza_id, receipt=request_receipt, markable=markable)
        return [message]
    if isinstance(event, MessageEdit):
        if not target_id:
            return []
        message = _stanza("message", event, stanza_id, "chat")
        if not _add_text_payload(message, event.body):
            return []
        replace = message.addElement((NS_CORRECT, "replace"))
        replace["id"] = xml_text(target_id)
        _add_tracking(message, stanza_id, receipt=request_receipt, markable=False)
        return [message]
    if isinstance(event, MessageRetract):
        if not target_id:
            return []
        message = _stanza("message", event, stanza_id, "chat")
        retract = message.addElement((NS_RETRACT, "retract"))
        retract["id"] = xml_text(target_id)
        apply_to = message.addElement((NS_FASTEN, "apply-to"))
        apply_to["id"] = xml_text(target_id)
        apply_to.addElement((NS_RETRACT_0, "retract"))
        fallback = message.addElement((NS_FALLBACK, "fallback"))
        fallback["for"] = NS_RETRACT
        message.addElement("body", content=RETRACT_FALLBACK)
        message.addElement((NS_HINTS, "store"))
        _add_tracking(message, stanza_id, receipt=False, markable=False)
        return [message]
    if isinstance(event, ReactionAdd | ReactionRemove):
        if not target_id:
            return []
        message = _stanza("message", event, stanza_id, "chat")
        reactions = message.addElement((NS_REACTIONS, "reactions"))
        reactions["id"] = xml_text(target_id)
        current = sorted(apply_reaction(previous_reactions, event))[:MAX_REACTIONS]
        for emoji in current:
            emoji = xml_text(emoji)
            if emoji:
                reactions.addElement("reaction", content=emoji)
        message.addElement((NS_HINTS, "store"))
        return [message]
    if isinstance(event, FileShare):
        message = _stanza("message", event, stanza_id, "chat")
        url = xml_text(event.url)
        message.addElement("body", content=url)
        safe = safe_url(url)
        if safe is not None and safe.lower().startswith(("https://", "http://")):
            oob = message.addElement((NS_OOB, "x"))
            oob.addElement("url", content=safe)
        _add_tracking(message, stanza_id, receipt=request_receipt, markable=markable)
        return [message]
    if isinstance(event, Typing):
        message = _stanza("message", event, stanza_id, "chat")
        state = {
            TypingState.COMPOSING: "composing",
            TypingState.PAUSED: "paused",
            TypingState.IDLE: "active",
        }[event.state]
        message.addElement((NS_CHATSTATES, state))
        message.addElement((NS_HINTS, "no-store"))
        return [message]
    if isinstance(event, Presence):
        return [_presence(event, stanza_id)]
    if isinstance(event, ContactRequest):
        presence = _stanza("presence", event, stanza_id, "subscribe")
        if event.display_name:
            name = xml_text(event.display_name)[:MAX_NAME_CHARS]
            if name.strip():
                presence.addElement((NS_NICK, "nick"), content=name)
        return [presence]
    if isinstance(event, ContactAccept):
        return [_stanza("presence", event, stanza_id, "subscribed")]
    if isinstance(event, ContactDecline):
        return [_stanza("presence", event, stanza_id, "unsubscribed")]
    if isinstance(event, ContactRemove):
        return [
            _stanza("presence", event, stanza_id, "unsubscribe"),
            _stanza("presence", event, f"{stanza_id}-2", "unsubscribed"),
        ]
    if isinstance(event, DeliveryError):
        name = "presence" if event.original_kind in _PRESENCE_KINDS else "message"
        return [
            build_error(
                name,
                address_to_jid(event.sender),
                address_to_jid(event.recipient),
                stanza_id,
                event.condition,
                event.reason,
            )
        ]
    return []


def _presence(event: Presence, stanza_id: str) -> Element:
    """
    RFC 6121 §4.7: offline is C{unavailable}; available has no C{<show>};
    away and unknown are C{away} (unknown is never shown as offline); busy
    and do-not-disturb are C{dnd}.
    """
    if event.availability is Availability.OFFLINE:
        presence = _stanza("presence", event, stanza_id, "unavailable")
    else:
        presence = _stanza("presence", event, stanza_id, None)
        show = {
            Availability.AWAY: "away",
            Availability.UNKNOWN: "away",
            Availability.BUSY: "dnd",
            Availability.DND: "dnd",
        }.get(event.availability)
        if show is not None:
            presence.addElement("show", content=show)
    status = xml_text(event.status)[:MAX_STATUS_CHARS]
    if status.strip():
        presence.addElement("status", content=status)
    return presence
