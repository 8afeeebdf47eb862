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

This module is the public face; the work is done in L{jids} (JIDs and
XEP-0106), L{reading} (received stanzas), L{received} (L{Received} and its
binding), L{replies} (stanza errors and receipts) and L{writing} (sent
stanzas), with the bounds in L{stanza_limits}.
"""

from __future__ import annotations

from .jids import address_to_jid, escape_local, jid_to_address, unescape_local
from .reading import stanza_to_events
from .received import (
    NativeRef,
    ReactionSet,
    Receipt,
    Received,
    Resolver,
    apply_reaction,
    reaction_changes,
)
from .replies import ERROR_CONDITIONS, build_error, error_reply, receipt_stanza
from .stanza_limits import (
    MAX_BODY_CHARS,
    MAX_ERROR_TEXT_CHARS,
    MAX_ID_CHARS,
    MAX_JID_CHARS,
    MAX_NAME_CHARS,
    MAX_REACTION_CHARS,
    MAX_REACTIONS,
    MAX_STATUS_CHARS,
)
from .writing import RETRACT_FALLBACK, event_to_stanzas

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
