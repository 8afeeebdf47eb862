# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
XML namespaces of the XMPP core (RFC 6120, RFC 6121) and of the XEPs the
stanza translation layer speaks, plus L{xml_text}, the one check every
module applies to text it puts into an element.

Every module of L{nextplane.connectors.xmpp} names a namespace through
these constants.
"""

from __future__ import annotations

from typing import Final

from ...model.xhtml import NS_XHTML, NS_XML, xml_text

__all__ = [
    "NS_CHATSTATES",
    "NS_CLIENT",
    "NS_CORRECT",
    "NS_DELAY",
    "NS_DIALBACK",
    "NS_DIALBACK_FEATURES",
    "NS_DISCO_INFO",
    "NS_DISCO_ITEMS",
    "NS_FALLBACK",
    "NS_FASTEN",
    "NS_HINTS",
    "NS_MARKERS",
    "NS_NICK",
    "NS_OOB",
    "NS_PING",
    "NS_REACTIONS",
    "NS_RECEIPTS",
    "NS_REPLY",
    "NS_RETRACT",
    "NS_RETRACT_0",
    "NS_SASL",
    "NS_SERVER",
    "NS_SID",
    "NS_STANZAS",
    "NS_STREAMS",
    "NS_STREAM_ERRORS",
    "NS_STYLING",
    "NS_TLS",
    "NS_VCARD",
    "NS_XHTML",
    "NS_XHTML_IM",
    "NS_XML",
    "STANZA_NAMESPACES",
    "xml_text",
]


#: Stanza namespaces: client-to-server and server-to-server (RFC 6120 §4.8.3).
NS_CLIENT: Final = "jabber:client"
NS_SERVER: Final = "jabber:server"

#: Namespaces a received stanza may carry (C{None}: unqualified, as built by code).
STANZA_NAMESPACES: Final = frozenset({NS_CLIENT, NS_SERVER, None, ""})

#: Stanza error conditions (RFC 6120 §8.3.3).
NS_STANZAS: Final = "urn:ietf:params:xml:ns:xmpp-stanzas"

#: The stream root and its errors (RFC 6120 §4.8.1, §4.9).
NS_STREAMS: Final = "http://etherx.jabber.org/streams"
NS_STREAM_ERRORS: Final = "urn:ietf:params:xml:ns:xmpp-streams"

#: Stream features: STARTTLS, SASL (RFC 6120 §5, §6).
NS_TLS: Final = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL: Final = "urn:ietf:params:xml:ns:xmpp-sasl"

#: XEP-0220 Server Dialback: the C{db:} prefix and its stream feature.
NS_DIALBACK: Final = "jabber:server:dialback"
NS_DIALBACK_FEATURES: Final = "urn:xmpp:features:dialback"

#: XEP-0030 Service Discovery.
NS_DISCO_INFO: Final = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS: Final = "http://jabber.org/protocol/disco#items"

#: XEP-0054 vcard-temp.
NS_VCARD: Final = "vcard-temp"

#: XEP-0066 Out of Band Data (the message form, C{jabber:x:oob}).
NS_OOB: Final = "jabber:x:oob"

#: XEP-0071 XHTML-IM: the wrapper and the XHTML 1.0 body inside it.
NS_XHTML_IM: Final = "http://jabber.org/protocol/xhtml-im"

#: XEP-0085 Chat State Notifications.
NS_CHATSTATES: Final = "http://jabber.org/protocol/chatstates"

#: XEP-0172 User Nickname.
NS_NICK: Final = "http://jabber.org/protocol/nick"

#: XEP-0184 Message Delivery Receipts.
NS_RECEIPTS: Final = "urn:xmpp:receipts"

#: XEP-0199 XMPP Ping.
NS_PING: Final = "urn:xmpp:ping"

#: XEP-0203 Delayed Delivery.
NS_DELAY: Final = "urn:xmpp:delay"

#: XEP-0308 Last Message Correction.
NS_CORRECT: Final = "urn:xmpp:message-correct:0"

#: XEP-0333 Chat Markers.
NS_MARKERS: Final = "urn:xmpp:chat-markers:0"

#: XEP-0334 Message Processing Hints.
NS_HINTS: Final = "urn:xmpp:hints"

#: XEP-0359 Unique and Stable Stanza IDs (C{origin-id}).
NS_SID: Final = "urn:xmpp:sid:0"

#: XEP-0393 Message Styling (feature and C{<unstyled/>} hint).
NS_STYLING: Final = "urn:xmpp:styling:0"

#: XEP-0422 Message Fastening (carrier of XEP-0424 version 0).
NS_FASTEN: Final = "urn:xmpp:fasten:0"

#: XEP-0424 Message Retraction, current and legacy versions.
NS_RETRACT: Final = "urn:xmpp:message-retract:1"
NS_RETRACT_0: Final = "urn:xmpp:message-retract:0"

#: XEP-0428 Fallback Indication.
NS_FALLBACK: Final = "urn:xmpp:fallback:0"

#: XEP-0444 Message Reactions.
NS_REACTIONS: Final = "urn:xmpp:reactions:0"

#: XEP-0461 Message Replies.
NS_REPLY: Final = "urn:xmpp:reply:0"
