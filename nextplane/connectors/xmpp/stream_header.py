# -*- test-case-name: tests.xmpp.test_stream -*-
"""
Stream headers (RFC 6120 section 4.7), domain normalisation and the
serialisation of first-level elements in an s2s stream's scope.
"""

from __future__ import annotations

import secrets

from attrs import frozen
from twisted.words.protocols.jabber import jid
from twisted.words.xish import domish

from .namespaces import NS_DIALBACK, NS_SERVER, NS_STREAMS, NS_XML
from .stream_parser import StreamError

__all__ = [
    "StreamHeader",
    "format_stream_header",
    "jid_domain",
    "new_stream_id",
    "normalise_domain",
    "parse_stream_header",
    "serialize",
]


@frozen
class StreamHeader:
    """
    The attributes of a received C{<stream:stream>} header (RFC 6120 §4.7).

    @ivar to: The C{to} attribute, normalised, or L{None}.
    @ivar from_: The C{from} attribute, normalised, or L{None}.
    @ivar id: The stream id, or L{None}.
    @ivar version: C{(major, minor)}, or L{None} if absent (pre-1.0 peer).
    @ivar lang: The C{xml:lang} attribute, or L{None}.
    @ivar dialback: Whether the header declares the dialback namespace
        (XEP-0220 section 2.4.1, the traditional advertisement).
    @ivar raw_to: The C{to} attribute as sent.
    @ivar raw_from: The C{from} attribute as sent.
    """

    to: str | None
    from_: str | None
    id: str | None
    version: tuple[int, int] | None
    lang: str | None
    dialback: bool
    raw_to: str | None = None
    raw_from: str | None = None


def normalise_domain(value: str) -> str:
    """
    Normalise a domain name as XMPP compares them (nameprep, lower case).

    @raise ValueError: C{value} is not a bare domain.
    """
    try:
        user, host, resource = jid.parse(value)
    except jid.InvalidFormat as e:
        raise ValueError(f"malformed domain {value!r}") from e
    if user is not None or resource is not None or not host:
        raise ValueError(f"not a bare domain: {value!r}")
    return host.rstrip(".").lower()


def jid_domain(value: str) -> str:
    """
    Return the normalised domain part of a JID.

    @raise ValueError: C{value} is not a valid JID.
    """
    try:
        _user, host, _resource = jid.parse(value)
    except jid.InvalidFormat as e:
        raise ValueError(f"malformed JID {value!r}") from e
    if not host:
        raise ValueError(f"malformed JID {value!r}")
    return host.rstrip(".").lower()


def _parse_version(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    major, dot, minor = value.strip().partition(".")
    if not dot or not major.isdigit() or not minor.isdigit():
        raise StreamError("unsupported-version", "malformed version attribute")
    return int(major), int(minor)


def parse_stream_header(root: domish.Element) -> StreamHeader:
    """
    Check a received stream header and return its attributes.

    Only the namespaces and C{version} are judged here; whether C{to} and
    C{from} are acceptable is up to the caller.

    @raise StreamError: C{invalid-namespace} unless the root is
        C{<stream:stream>} with content namespace C{jabber:server};
        C{unsupported-version} for a malformed version or major version
        other than 1; C{improper-addressing} for malformed C{to}/C{from}.
    """
    if root.uri != NS_STREAMS or root.name != "stream":
        raise StreamError("invalid-namespace", "expected <stream:stream>")
    if root.defaultUri != NS_SERVER:
        raise StreamError("invalid-namespace", "content namespace must be jabber:server")
    version = _parse_version(root.getAttribute("version"))
    if version is not None and version[0] != 1:
        raise StreamError("unsupported-version", "only XMPP 1.x is supported")
    raw_to = root.getAttribute("to")
    raw_from = root.getAttribute("from")
    try:
        to = normalise_domain(raw_to) if raw_to else None
    except ValueError:
        raise StreamError("host-unknown", "malformed 'to' domain") from None
    try:
        from_ = normalise_domain(raw_from) if raw_from else None
    except ValueError:
        raise StreamError("invalid-from", "malformed 'from' domain") from None
    lang = root.attributes.get((NS_XML, "lang"))
    dialback = root.localPrefixes.get("db") == NS_DIALBACK or NS_DIALBACK in (
        root.localPrefixes.values()
    )
    return StreamHeader(
        to=to,
        from_=from_,
        id=root.getAttribute("id") or None,
        version=version,
        lang=lang,
        dialback=dialback,
        raw_to=raw_to,
        raw_from=raw_from,
    )


def format_stream_header(
    from_: str | None, to: str | None, stream_id: str | None, lang: str = "en"
) -> bytes:
    """
    Serialise an opening C{<stream:stream>} tag for a server-to-server stream.

    Always declares C{xmlns:db} (XEP-0220 section 2.4.1) and sends
    C{version='1.0'} and C{xml:lang} (RFC 6120 sections 4.7.4, 4.7.5).
    """
    parts = [
        "<?xml version='1.0'?>",
        f"<stream:stream xmlns='{NS_SERVER}' xmlns:stream='{NS_STREAMS}'",
        f" xmlns:db='{NS_DIALBACK}'",
    ]
    for name, value in (("from", from_), ("to", to), ("id", stream_id)):
        if value is not None:
            parts.append(f" {name}='{domish.escapeToXml(value, 1)}'")
    parts.append(f" version='1.0' xml:lang='{domish.escapeToXml(lang, 1)}'>")
    return "".join(parts).encode("utf-8")


def serialize(element: domish.Element) -> bytes:
    """
    Serialise a first-level element in the scope of an s2s stream header.

    The C{stream} and C{db} prefixes are in scope and C{jabber:server} is
    the default namespace, so stanzas in no namespace or in
    C{jabber:server} come out without an C{xmlns}.
    """
    xml = element.toXml(
        prefixes={NS_STREAMS: "stream", NS_DIALBACK: "db"},
        prefixesInScope=["stream", "db"],
        defaultUri=NS_SERVER,
    )
    return xml.encode("utf-8")


def new_stream_id() -> str:
    """
    Return a fresh, unpredictable stream id (RFC 6120 section 4.7.3).
    """
    return secrets.token_hex(16)
