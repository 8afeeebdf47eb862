# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
Writing the stanzas that carry a hub event to a remote server
(L{event_to_stanzas}); see L{nextplane.connectors.xmpp.stanzas}.
"""

from __future__ import annotations

from collections.abc import Iterable

from twisted.words.xish.domish import Element

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
)
from nextplane.model.text import RichText

from .jids import address_to_jid
from .namespaces import (
    NS_CHATSTATES,
    NS_CORRECT,
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
    xml_text,
)
from .received import apply_reaction
from .replies import build_error
from .stanza_limits import MAX_NAME_CHARS, MAX_REACTIONS, MAX_STATUS_CHARS
from .styling import format_styling
from .xhtml import format_xhtml_im, has_markup, safe_url

__all__ = ["RETRACT_FALLBACK", "event_to_stanzas"]

#: The XEP-0424 fallback body for clients that do not support retraction.
RETRACT_FALLBACK = (
    "This person attempted to retract a previous message, but it's unsupported by your client."
)

_PRESENCE_KINDS = frozenset(
    {"presence", "contact_request", "contact_accept", "contact_decline", "contact_remove"}
)


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
