# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
Stanzas sent back in answer to a received one: RFC 6120 stanza errors
and XEP-0184 receipts.
"""

from __future__ import annotations

from collections.abc import Mapping

from twisted.words.xish.domish import Element

from .jids import parse_jid
from .namespaces import NS_RECEIPTS, NS_SERVER, NS_STANZAS, NS_XML, xml_text
from .stanza_limits import MAX_ID_CHARS

__all__ = ["ERROR_CONDITIONS", "build_error", "error_reply", "receipt_stanza"]

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
    sender = parse_jid(element.getAttribute("from"))
    if sender is None:
        return None
    recipient = parse_jid(element.getAttribute("to"))
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
