# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
Reading stanzas received from a remote server (L{stanza_to_events}); see
L{nextplane.connectors.xmpp.stanzas} for what each stanza becomes.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from attrs import evolve
from twisted.words.xish.domish import Element

from nextplane.model.address import Address
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    TextMessage,
    Typing,
    TypingState,
    new_event_id,
)
from nextplane.model.text import RichText

from .jids import jid_to_address, parse_jid
from .namespaces import (
    NS_CHATSTATES,
    NS_CORRECT,
    NS_DELAY,
    NS_FALLBACK,
    NS_FASTEN,
    NS_MARKERS,
    NS_NICK,
    NS_OOB,
    NS_REACTIONS,
    NS_RECEIPTS,
    NS_REPLY,
    NS_RETRACT,
    NS_RETRACT_0,
    NS_SID,
    NS_STANZAS,
    NS_STYLING,
    NS_XHTML_IM,
    NS_XML,
    STANZA_NAMESPACES,
)
from .received import NativeRef, PendingEvent, ReactionSet, Receipt, Received
from .replies import ERROR_CONDITIONS, error_reply
from .stanza_limits import (
    MAX_BODY_CHARS,
    MAX_ERROR_TEXT_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_REACTION_CHARS,
    MAX_REACTIONS,
    MAX_STATUS_CHARS,
)
from .styling import parse_styling
from .xhtml import parse_xhtml_im, safe_url

__all__ = ["stanza_to_events"]

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
    sender_jid = parse_jid(element.getAttribute("from"))
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
        recipient = parse_jid(element.getAttribute("to"))
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
        return evolve(base, pending=(PendingEvent(event),))
    ref = NativeRef(stanza_id, new=False, author=base.recipient)
    return evolve(
        base,
        refs=(ref,),
        pending=(PendingEvent(event, (("message_id", ref), ("original_event_id", ref))),),
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
    pending: list[PendingEvent] = []

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
            PendingEvent(MessageRetract(message_id=retracted, **common), (("message_id", ref),))
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
                PendingEvent(
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
                pending.append(PendingEvent(message, tuple(slots)))
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
        pending.append(PendingEvent(share, tuple(slots)))
    if pending:
        return result()

    for child in element.elements():
        if child.uri == NS_CHATSTATES and child.name in _CHAT_STATES:
            pending.append(PendingEvent(Typing(state=_CHAT_STATES[child.name], **common)))
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
        return evolve(base, pending=(PendingEvent(event),))
    if presence_type == "subscribe":
        nick = _child(element, NS_NICK, "nick")
        display_name = _clean(_text(nick), MAX_NAME_CHARS) if nick is not None else ""
        event = ContactRequest(display_name=display_name or None, **common)
        return evolve(base, pending=(PendingEvent(event),))
    if presence_type == "subscribed":
        return evolve(base, pending=(PendingEvent(ContactAccept(**common)),))
    if presence_type == "unsubscribe":
        return evolve(base, pending=(PendingEvent(ContactRemove(**common)),))
    if presence_type == "unsubscribed":
        return evolve(base, unsubscribed=True)
    if presence_type == "probe":
        return evolve(base, probe=True)
    return evolve(base, note="unknown presence type")
