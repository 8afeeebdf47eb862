# -*- test-case-name: tests.xmpp.test_disco -*-
"""
Answers to the IQs a remote server sends about the hub's domains and users:
XEP-0030 Service Discovery (C{disco#info}, C{disco#items}), XEP-0199 XMPP
Ping and XEP-0054 vcard-temp.

L{answer_iq} takes a received C{<iq/>} and a L{Directory} (which domains
the hub serves, which users exist and their profiles) and returns the
result or stanza error to send back, or C{None} when nothing must be sent
(IQ results and errors, RFC 6120 §8.2.3). It never raises.

Identities: a domain is C{server/im}; a user's bare JID, answered by the hub
on the user's behalf (hub users have no resources), is
C{account/registered} and lists the features the hub's message translation
supports (L{USER_FEATURES}), so remote clients offer corrections,
reactions, retractions and the like.

Errors: an IQ C{set}, or a C{get} in a namespace not listed here, gets
C{service-unavailable} (RFC 6120 §8.4); a known namespace for a user or
domain the hub does not serve gets C{item-not-found} (XEP-0030 §3.1,
XEP-0054); a disco C{node} gets C{item-not-found} (the hub publishes none);
an IQ without exactly one payload gets C{bad-request}.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from twisted.words.protocols.jabber import jid as _jid
from twisted.words.xish.domish import Element

from nextplane.model.address import Address, InvalidAddress, validate_domain

from .namespaces import (
    NS_CHATSTATES,
    NS_CORRECT,
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    NS_FALLBACK,
    NS_MARKERS,
    NS_OOB,
    NS_PING,
    NS_REACTIONS,
    NS_RECEIPTS,
    NS_REPLY,
    NS_RETRACT,
    NS_RETRACT_0,
    NS_SERVER,
    NS_SID,
    NS_STYLING,
    NS_VCARD,
    NS_XHTML_IM,
    STANZA_NAMESPACES,
    xml_text,
)
from .stanzas import MAX_ID_CHARS, MAX_JID_CHARS, error_reply, jid_to_address
from .vcard import Profile, build_vcard

__all__ = [
    "DOMAIN_FEATURES",
    "SOFTWARE_NAME",
    "USER_FEATURES",
    "Directory",
    "answer_iq",
    "disco_info",
    "iq_result",
    "ping_request",
]

#: The name in the domain's identity.
SOFTWARE_NAME = "nextplane"

#: Features of a hub domain.
DOMAIN_FEATURES: tuple[str, ...] = (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VCARD)

#: Features of a hub user's bare JID: what the stanza translation supports.
USER_FEATURES: tuple[str, ...] = (
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    NS_PING,
    NS_VCARD,
    NS_RECEIPTS,
    NS_CHATSTATES,
    NS_XHTML_IM,
    NS_REACTIONS,
    NS_CORRECT,
    NS_RETRACT,
    NS_RETRACT_0,
    NS_OOB,
    NS_SID,
    NS_STYLING,
    NS_REPLY,
    NS_FALLBACK,
    NS_MARKERS,
)


class Directory(Protocol):
    """
    What L{answer_iq} needs to know, synchronously (the caller may look the
    addressed user up first, see L{answer_iq}).
    """

    def serves_domain(self, domain: str) -> bool:
        """
        @param domain: A normalised domain, e.g. C{acme.test}.
        @return: Whether the hub serves it.
        """

    def profile(self, address: Address) -> Profile | None:
        """
        @param address: A user address on a served domain.
        @return: The user's profile, or C{None} if there is no such user.
        """


def iq_result(iq: Element) -> Element:
    """
    An empty C{type='result'} answering C{iq}: same id, C{from} and C{to}
    swapped.
    """
    result = Element((NS_SERVER, "iq"))
    result["type"] = "result"
    for source, target in (("to", "from"), ("from", "to"), ("id", "id")):
        value = iq.getAttribute(source)
        if isinstance(value, str) and value:
            result[target] = xml_text(value)
    return result


def disco_info(
    iq: Element,
    identities: Iterable[tuple[str, str, str | None]],
    features: Iterable[str],
) -> Element:
    """
    A XEP-0030 C{disco#info} result.

    @param iq: The request.
    @param identities: C{(category, type, name or None)} triples.
    @param features: Feature namespaces, listed in sorted order.
    """
    result = iq_result(iq)
    query = result.addElement((NS_DISCO_INFO, "query"))
    for category, kind, name in identities:
        identity = query.addElement("identity")
        identity["category"] = category
        identity["type"] = kind
        if name:
            identity["name"] = xml_text(name)
    for feature in sorted(set(features)):
        query.addElement("feature")["var"] = feature
    return result


def ping_request(sender: str, recipient: str, stanza_id: str) -> Element:
    """
    A XEP-0199 ping, e.g. from a hub domain to a remote server.

    @param sender: The C{from} JID.
    @param recipient: The C{to} JID.
    @param stanza_id: The IQ id, to match the answer.
    """
    iq = Element((NS_SERVER, "iq"))
    iq["type"] = "get"
    iq["from"] = xml_text(sender)
    iq["to"] = xml_text(recipient)
    iq["id"] = xml_text(stanza_id)
    iq.addElement((NS_PING, "ping"))
    return iq


_KNOWN = frozenset(
    {
        (NS_DISCO_INFO, "query"),
        (NS_DISCO_ITEMS, "query"),
        (NS_PING, "ping"),
        (NS_VCARD, "vCard"),
    }
)


def answer_iq(element: Element, lookup: Directory) -> Element | None:
    """
    Answer an IQ received from a remote server.

    Never raises; an exception from C{lookup} gives
    C{internal-server-error}.

    @param element: The received C{<iq/>}.
    @param lookup: The hub's directory. It is asked only about the domain
        and user in the IQ's C{to}; a caller whose user data is
        asynchronous can fetch that user first and pass a directory that
        knows only them.
    @return: The result or stanza error to send, or C{None} if nothing must
        be sent (not an IQ, an IQ result or error, or no usable C{from} or
        C{id}).
    """
    try:
        return _answer(element, lookup)
    except Exception:
        return error_reply(element, "internal-server-error")


def _answer(element: Element, lookup: Directory) -> Element | None:
    if not isinstance(element, Element) or element.name != "iq":
        return None
    if element.uri not in STANZA_NAMESPACES:
        return None
    iq_type = element.getAttribute("type")
    stanza_id = element.getAttribute("id")
    if iq_type not in ("get", "set") or not stanza_id or len(stanza_id) > MAX_ID_CHARS:
        return None
    sender = element.getAttribute("from")
    if not sender or len(sender) > MAX_JID_CHARS:
        return None
    payloads = list(element.elements())
    if len(payloads) != 1:
        return error_reply(element, "bad-request")
    payload = payloads[0]
    if iq_type == "set" or (payload.uri, payload.name) not in _KNOWN:
        return error_reply(element, "service-unavailable")
    try:
        target = _jid.JID(element.getAttribute("to") or "")
    except Exception:
        return error_reply(element, "jid-malformed")
    try:
        domain = validate_domain(target.host)
    except InvalidAddress:
        return error_reply(element, "item-not-found")
    if not lookup.serves_domain(domain):
        return error_reply(element, "item-not-found")
    if payload.uri in (NS_DISCO_INFO, NS_DISCO_ITEMS) and payload.getAttribute("node"):
        return error_reply(element, "item-not-found")
    profile: Profile | None = None
    if target.user is not None:
        address = jid_to_address(target.full())
        profile = lookup.profile(address) if address is not None else None
        if profile is None:
            return error_reply(element, "item-not-found")
    if payload.uri == NS_DISCO_INFO:
        if profile is None:
            return disco_info(element, [("server", "im", SOFTWARE_NAME)], DOMAIN_FEATURES)
        return disco_info(element, [("account", "registered", profile.display_name)], USER_FEATURES)
    if payload.uri == NS_DISCO_ITEMS:
        result = iq_result(element)
        result.addElement((NS_DISCO_ITEMS, "query"))
        return result
    if payload.uri == NS_PING:
        return iq_result(element)
    # vcard-temp
    if profile is None:
        return error_reply(element, "item-not-found")
    result = iq_result(element)
    result.addChild(build_vcard(profile))
    return result
