# -*- test-case-name: tests.xmpp.test_dialback -*-
"""
Server Dialback (XEP-0220) with dialback key generation (XEP-0185).

Sans-IO helpers: key generation and checking, and building and reading the
C{db:result} / C{db:verify} elements and the C{urn:xmpp:features:dialback}
stream feature. The stream state machines in L{s2s_in} and L{s2s_out} use
them.

Roles (XEP-0220 section 1.3): the I{originating} (initiating) server sends
C{<db:result from=Sender to=Target>KEY</db:result>} on its outbound stream;
the I{receiving} server asks the sender's I{authoritative} server with
C{<db:verify from=Target to=Sender id=StreamID>KEY</db:verify>} and answers
C{type='valid'}, C{'invalid'} or (to peers advertising C{<errors/>},
section 2.4.2) C{'error'}.

Keys (XEP-0185 section 3)::

    key = HEX(HMAC-SHA256(HEX(SHA256(secret)),
                          receiving + ' ' + originating + ' ' + stream_id))

which is what Prosody, ejabberd and C{wokkel.server.generateKey} compute.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from attrs import frozen
from twisted.words.xish import domish

from nextplane.connectors.xmpp.stream import (
    NS_DIALBACK,
    NS_DIALBACK_FEATURES,
    NS_SERVER,
    NS_STANZAS,
    StreamError,
    normalise_domain,
)

__all__ = [
    "DialbackAnswer",
    "DialbackKeys",
    "DialbackRequest",
    "authoritative_answer",
    "build_answer",
    "build_request",
    "dialback_feature",
    "feature_errors_support",
    "generate_key",
    "parse_answer",
    "parse_request",
]

#: Dialback error condition -> stanza error type (XEP-0220 section 2.5).
_ERROR_TYPES = {
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "remote-connection-failed": "cancel",
}


def generate_key(secret: bytes, receiving: str, originating: str, stream_id: str) -> str:
    """
    Compute a dialback key as recommended by XEP-0185.

    @param secret: The hub's dialback secret.
    @param receiving: The receiving server's domain (the C{to} of
        C{db:result}).
    @param originating: The originating server's domain (its C{from}).
    @param stream_id: The id of the stream the key is sent over, as given by
        the receiving server in its response header.
    """
    hashed_secret = hashlib.sha256(secret).hexdigest().encode("ascii")
    message = " ".join((receiving, originating, stream_id)).encode("utf-8")
    return hmac.new(hashed_secret, message, hashlib.sha256).hexdigest()


class DialbackKeys:
    """
    Generates and checks dialback keys with one secret.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        """
        @param secret: The shared secret of every hub instance behind the same
            domains; a random one if L{None} (keys then do not survive a
            restart, which only costs a failed dialback for a stream opened
            before it).
        """
        self._secret = secret if secret is not None else os.urandom(32)

    def key(self, receiving: str, originating: str, stream_id: str) -> str:
        """
        The key for (receiving, originating, stream id).
        """
        return generate_key(self._secret, receiving, originating, stream_id)

    def check(self, receiving: str, originating: str, stream_id: str, key: str) -> bool:
        """
        Whether C{key} is the key we would have generated (constant time).
        """
        expected = self.key(receiving, originating, stream_id)
        return hmac.compare_digest(expected.encode("ascii"), key.strip().encode("utf-8"))


@frozen
class DialbackRequest:
    """
    A received C{db:result} or C{db:verify} request (one without C{type}).

    @ivar kind: C{"result"} or C{"verify"}.
    @ivar sender: Normalised C{from}.
    @ivar target: Normalised C{to}.
    @ivar key: The dialback key.
    @ivar stream_id: The C{id} attribute (C{db:verify} only).
    @ivar raw_target: C{to} as sent, echoed in answers.
    @ivar raw_sender: C{from} as sent, echoed in answers.
    """

    kind: str
    sender: str
    target: str
    key: str
    stream_id: str | None
    raw_sender: str
    raw_target: str


@frozen
class DialbackAnswer:
    """
    A received C{db:result} or C{db:verify} answer (one with C{type}).

    @ivar kind: C{"result"} or C{"verify"}.
    @ivar sender: Normalised C{from}.
    @ivar target: Normalised C{to}.
    @ivar type: C{valid}, C{invalid} or C{error}.
    @ivar stream_id: The C{id} attribute (C{db:verify} only).
    @ivar condition: The error condition for C{type='error'}.
    """

    kind: str
    sender: str
    target: str
    type: str
    stream_id: str | None = None
    condition: str | None = None


def _addresses(element: domish.Element) -> tuple[str, str, str, str]:
    raw_from = element.getAttribute("from")
    raw_to = element.getAttribute("to")
    if not raw_from or not raw_to:
        raise StreamError("improper-addressing", f"db:{element.name} needs 'from' and 'to'")
    try:
        sender = normalise_domain(raw_from)
    except ValueError:
        raise StreamError("invalid-from", f"malformed 'from' in db:{element.name}") from None
    try:
        target = normalise_domain(raw_to)
    except ValueError:
        raise StreamError("improper-addressing", f"malformed 'to' in db:{element.name}") from None
    return sender, target, raw_from, raw_to


def parse_request(element: domish.Element) -> DialbackRequest:
    """
    Read a C{db:result} or C{db:verify} request.

    @raise StreamError: Missing or malformed addresses, a missing key, or a
        C{db:verify} without C{id}.
    """
    sender, target, raw_from, raw_to = _addresses(element)
    key = str(element).strip()
    if not key:
        raise StreamError("bad-format", f"db:{element.name} without a key")
    stream_id = element.getAttribute("id")
    if element.name == "verify" and not stream_id:
        raise StreamError("bad-format", "db:verify without an id")
    return DialbackRequest(element.name, sender, target, key, stream_id, raw_from, raw_to)


def parse_answer(element: domish.Element) -> DialbackAnswer:
    """
    Read a C{db:result} or C{db:verify} answer.

    @raise StreamError: Missing addresses or an unknown C{type}.
    """
    sender, target, _, _ = _addresses(element)
    kind = element.getAttribute("type")
    if kind not in ("valid", "invalid", "error"):
        raise StreamError("bad-format", f"db:{element.name} with type {kind!r}")
    condition = None
    if kind == "error":
        condition = "undefined-condition"
        for error in element.elements():
            if error.name != "error":
                continue
            for child in error.elements():
                if child.uri == NS_STANZAS and child.name != "text":
                    condition = child.name
    return DialbackAnswer(element.name, sender, target, kind, element.getAttribute("id"), condition)


def build_request(
    kind: str, sender: str, target: str, key: str, stream_id: str | None = None
) -> domish.Element:
    """
    Build C{<db:result from to>key</db:result>} or
    C{<db:verify from to id>key</db:verify>}.
    """
    element = domish.Element((NS_DIALBACK, kind))
    element["from"] = sender
    element["to"] = target
    if stream_id is not None:
        element["id"] = stream_id
    element.addContent(key)
    return element


def build_answer(
    kind: str,
    sender: str,
    target: str,
    type_: str,
    stream_id: str | None = None,
    condition: str | None = None,
) -> domish.Element:
    """
    Build a C{db:result} / C{db:verify} answer of type C{valid}, C{invalid}
    or C{error} (with C{condition}, XEP-0220 section 2.5).
    """
    element = domish.Element((NS_DIALBACK, kind))
    # Children without a namespace are in the stream's jabber:server.
    element.defaultUri = NS_SERVER
    element["from"] = sender
    element["to"] = target
    if stream_id is not None:
        element["id"] = stream_id
    element["type"] = type_
    if type_ == "error":
        error = element.addElement((NS_SERVER, "error"))
        error["type"] = _ERROR_TYPES.get(condition or "", "cancel")
        error.addElement((NS_STANZAS, condition or "undefined-condition"))
    return element


def authoritative_answer(
    request: DialbackRequest, serves: bool, errors: bool, keys: DialbackKeys
) -> domish.Element:
    """
    The authoritative server's answer to a C{<db:verify/>} (XEP-0220
    section 2.3): C{valid}/C{invalid} for the key, or for a domain we do not
    serve C{item-not-found} (C{invalid} to a peer without C{<errors/>}).

    @param serves: Whether the originating domain (C{request.target}) is ours.
    @param errors: Whether the receiving server advertised C{<errors/>}.
    """
    assert request.stream_id is not None
    raw = (request.raw_target, request.raw_sender)
    if not serves:
        if errors:
            return build_answer("verify", *raw, "error", request.stream_id, "item-not-found")
        return build_answer("verify", *raw, "invalid", request.stream_id)
    valid = keys.check(request.sender, request.target, request.stream_id, request.key)
    return build_answer("verify", *raw, "valid" if valid else "invalid", request.stream_id)


def dialback_feature(errors: bool = True) -> domish.Element:
    """
    The C{<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>}
    stream feature (XEP-0220 section 2.4.2).
    """
    feature = domish.Element((NS_DIALBACK_FEATURES, "dialback"))
    if errors:
        feature.addElement((NS_DIALBACK_FEATURES, "errors"))
    return feature


def feature_errors_support(features: domish.Element) -> bool | None:
    """
    Read the dialback feature from received C{<stream:features/>}.

    @return: L{None} if dialback is not advertised, else whether the peer
        handles dialback errors.
    """
    for feature in features.elements(NS_DIALBACK_FEATURES, "dialback"):
        return any(True for _ in feature.elements(NS_DIALBACK_FEATURES, "errors"))
    return None
