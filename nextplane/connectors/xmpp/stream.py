# -*- test-case-name: tests.xmpp.test_stream -*-
"""
Hardened XML stream handling shared by inbound and outbound s2s streams.

An XMPP stream (RFC 6120 section 4) is one long XML document per direction;
its unit of work is a first-level child of the root C{<stream:stream>}. This
module provides:

  - L{StreamParser}: a sans-IO, bytes-in/elements-out wrapper around expat
    that enforces the restricted XML profile of RFC 6120 section 11.1 (no
    DTDs, entity declarations, comments or processing instructions, which
    also rules out "billion laughs" entity expansion), a byte limit per
    first-level child (counted on the wire, not after parsing), an element
    count and depth limit, and stream restarts (RFC 6120 sections 5.4.3.3 and
    6.4.6) that discard whatever the peer pipelined after the element that
    triggered the restart (the STARTTLS injection defence).
  - L{StreamError}: the stream errors of RFC 6120 section 4.9, raised by the
    parser and the protocol logic and turned into C{<stream:error/>} by
    L{BaseStream}.
  - L{parse_stream_header} / L{format_stream_header}: stream headers per
    RFC 6120 section 4.7 with C{id}, C{version='1.0'}, C{xml:lang} and the
    C{db} prefix of XEP-0220 declared.
  - L{BaseStream}: the Twisted protocol both directions build on: parser
    wiring, sending, stream errors, graceful close with a timeout, STARTTLS
    switching and timers on an injected clock. Malformed input only ever
    closes the one stream it arrived on.

Nothing here imports the reactor.
"""

from __future__ import annotations

import pyexpat
import secrets
from collections.abc import Callable
from typing import Any, cast

from attrs import frozen
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    IReactorTime,
    ITLSTransport,
    ITransport,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols.jabber import jid
from twisted.words.xish import domish
from zope.interface import implementer

__all__ = [
    "NS_CLIENT",
    "NS_DIALBACK",
    "NS_DIALBACK_FEATURES",
    "NS_SASL",
    "NS_SERVER",
    "NS_STANZAS",
    "NS_STREAMS",
    "NS_STREAM_ERRORS",
    "NS_TLS",
    "NS_XML",
    "STANZA_NAMES",
    "BaseStream",
    "StreamError",
    "StreamHeader",
    "StreamLimits",
    "StreamParser",
    "format_stream_header",
    "jid_domain",
    "make_error_reply",
    "new_stream_id",
    "normalise_domain",
    "parse_stream_header",
    "serialize",
]

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_SERVER = "jabber:server"
NS_CLIENT = "jabber:client"
NS_DIALBACK = "jabber:server:dialback"
NS_DIALBACK_FEATURES = "urn:xmpp:features:dialback"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_XML = "http://www.w3.org/XML/1998/namespace"

#: First-level children of C{jabber:server} that are stanzas (RFC 6120 §8).
STANZA_NAMES = frozenset({"message", "presence", "iq"})

_CLOSE_TAG = b"</stream:stream>"
_XML_WHITESPACE = " \t\r\n"


class StreamError(Exception):
    """
    A condition that ends an XML stream (RFC 6120 section 4.9.3).

    @ivar condition: The defined condition, e.g. C{policy-violation}.
    @ivar text: Optional human-readable text; never stanza content.
    """

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition, text)
        self.condition = condition
        self.text = text

    def __str__(self) -> str:
        return f"{self.condition}: {self.text}" if self.text else self.condition

    def to_element(self) -> domish.Element:
        """
        Build the C{<stream:error/>} element for this condition.
        """
        error = domish.Element((NS_STREAMS, "error"))
        error.addElement((NS_STREAM_ERRORS, self.condition))
        if self.text:
            text = error.addElement((NS_STREAM_ERRORS, "text"), content=self.text)
            text[(NS_XML, "lang")] = "en"
        return error

    @classmethod
    def from_element(cls, element: domish.Element) -> StreamError:
        """
        Read a received C{<stream:error/>} element.
        """
        condition = "undefined-condition"
        text = None
        for child in element.elements():
            if child.uri != NS_STREAM_ERRORS:
                continue
            if child.name == "text":
                text = str(child)
            else:
                condition = child.name
        return cls(condition, text)


@frozen(kw_only=True)
class StreamLimits:
    """
    Size limits and timeouts of one stream.

    @ivar max_stanza_size: Bytes allowed for one first-level child once the
        stream is authenticated (Prosody and ejabberd use 512 KiB).
    @ivar max_unauthenticated_stanza_size: Bytes allowed for one first-level
        child (and for a stream header) before authentication.
    @ivar max_depth: Maximum element nesting inside a stanza.
    @ivar max_elements: Maximum number of elements in one stanza.
    @ivar negotiation_timeout: Seconds allowed from TCP connect to
        authentication.
    @ivar close_timeout: Seconds to wait for the peer's C{</stream:stream>}
        (or TLS shutdown) before aborting the connection.
    @ivar idle_timeout: Seconds without received data after which an inbound
        stream is closed (Prosody sends a keepalive every 840 s).
    @ivar verify_timeout: Seconds to wait for a C{db:verify} answer.
    """

    max_stanza_size: int = 512 * 1024
    max_unauthenticated_stanza_size: int = 10_000
    max_depth: int = 64
    max_elements: int = 25_000
    negotiation_timeout: float = 60.0
    close_timeout: float = 5.0
    idle_timeout: float = 3600.0
    verify_timeout: float = 30.0


class _Halt(Exception):
    """
    Raised inside expat callbacks to stop parsing the current buffer.
    """


class StreamParser:
    """
    Sans-IO parser for one direction of an XMPP stream.

    Feed it bytes with L{feed}; it calls C{on_header} with the root element
    (attributes only), C{on_element} with each complete first-level child and
    C{on_end} when the root element closes. Violations raise L{StreamError}:

      - C{restricted-xml} for DTDs, entity/notation declarations, comments and
        processing instructions (RFC 6120 section 11.1);
      - C{not-well-formed} for anything expat rejects;
      - C{policy-violation} when a first-level child (or the bytes buffered
        towards one) exceeds L{max_stanza_size} bytes, or is nested or
        populated beyond the limits;
      - C{bad-format} for non-whitespace text between stanzas.

    After an error the parser ignores further input.

    @ivar max_stanza_size: The current byte limit; callers raise it once the
        stream is authenticated.
    """

    MAX_HEADER_SIZE = 8192

    def __init__(
        self,
        on_header: Callable[[domish.Element], object],
        on_element: Callable[[domish.Element], object],
        on_end: Callable[[], object],
        max_stanza_size: int,
        max_depth: int = 64,
        max_elements: int = 25_000,
    ) -> None:
        self._on_header = on_header
        self._on_element = on_element
        self._on_end = on_end
        self.max_stanza_size = max_stanza_size
        self.max_depth = max_depth
        self.max_elements = max_elements
        self._halt: str | None = None
        self._parsing = False
        self._done = False
        self._new_parser()

    def _new_parser(self) -> None:
        parser = pyexpat.ParserCreate("UTF-8", " ")
        parser.SetParamEntityParsing(pyexpat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._cdata
        parser.StartNamespaceDeclHandler = self._start_namespace
        parser.EndNamespaceDeclHandler = self._end_namespace
        parser.StartDoctypeDeclHandler = self._forbidden("DTD")
        parser.EntityDeclHandler = self._forbidden("entity declaration")
        parser.UnparsedEntityDeclHandler = self._forbidden("entity declaration")
        parser.NotationDeclHandler = self._forbidden("notation declaration")
        parser.ElementDeclHandler = self._forbidden("element declaration")
        parser.AttlistDeclHandler = self._forbidden("attribute list declaration")
        parser.ExternalEntityRefHandler = self._forbidden("external entity")
        parser.SkippedEntityHandler = self._forbidden("entity reference")
        parser.CommentHandler = self._forbidden("comment")
        parser.ProcessingInstructionHandler = self._forbidden("processing instruction")
        self._parser = parser
        self._fed = 0
        self._depth = 0
        self._boundary = 0
        self._boundary_is_header = True
        self._stanza_start: int | None = None
        self._elements = 0
        self._current: domish.Element | None = None
        self._default_ns: list[str] = [""]
        self._local_prefixes: dict[str, str] = {}

    @staticmethod
    def _forbidden(what: str) -> Any:
        def handler(*args: object) -> None:
            raise StreamError("restricted-xml", f"{what} not allowed in XMPP")

        return handler

    def reset(self) -> None:
        """
        Restart the stream: the next bytes must open a new stream header.

        Called from inside an C{on_element} callback, the rest of the buffer
        being parsed is discarded (nothing may legitimately follow the
        element that triggers a restart).
        """
        if self._parsing:
            self._halt = "restart"
        else:
            self._new_parser()

    def stop(self) -> None:
        """
        Ignore all further input.
        """
        self._done = True
        if self._parsing:
            self._halt = "stop"

    def feed(self, data: bytes) -> None:
        """
        Parse C{data}, calling the callbacks for what it completes.

        @raise StreamError: The input violates the XMPP XML profile or a
            limit; the parser ignores further input.
        """
        if self._done or not data:
            return
        self._fed += len(data)
        self._parsing = True
        try:
            self._parser.Parse(data, False)
        except _Halt:
            pass
        except StreamError:
            self._done = True
            raise
        except pyexpat.ExpatError as e:
            self._done = True
            raise StreamError("not-well-formed", pyexpat.ErrorString(e.code)) from None
        except BaseException:
            self._done = True
            raise
        finally:
            self._parsing = False
        halt, self._halt = self._halt, None
        if halt == "restart":
            self._new_parser()
            return
        if halt == "stop" or self._done:
            self._done = True
            return
        self._check_pending()

    def _check_pending(self) -> None:
        if self._depth == 0:
            if self._fed > self.MAX_HEADER_SIZE:
                self._too_big("stream header too large")
            return
        if self._stanza_start is not None:
            pending = self._fed - self._stanza_start
        else:
            pending = self._fed - self._boundary
            if self._boundary_is_header:
                # The boundary is the start of the header, whose end expat
                # does not report; allow for the header itself.
                pending -= self.MAX_HEADER_SIZE
        if pending > self.max_stanza_size:
            self._too_big(f"stanza larger than {self.max_stanza_size} bytes")

    def _too_big(self, text: str) -> None:
        self._done = True
        raise StreamError("policy-violation", text)

    def _after_callback(self) -> None:
        if self._halt is not None:
            raise _Halt()

    # expat callbacks

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        qname = name.rsplit(" ", 1)
        uri, local = (qname[0], qname[1]) if len(qname) == 2 else ("", name)
        attributes: dict[str | tuple[str, str], str] = {}
        for key, value in attrs.items():
            if " " in key:
                ns, attr = key.rsplit(" ", 1)
                attributes[(ns, attr)] = value
            else:
                attributes[key] = value
        element = domish.Element(
            (uri, local), self._default_ns[-1], attributes, self._local_prefixes
        )
        self._local_prefixes = {}
        if self._depth == 0:
            self._depth = 1
            self._boundary = self._parser.CurrentByteIndex
            self._on_header(element)
            self._after_callback()
            return
        self._depth += 1
        position = self._parser.CurrentByteIndex
        if self._depth == 2:
            self._stanza_start = position
            self._elements = 0
        elif self._depth - 1 > self.max_depth:
            self._too_big("elements nested too deeply")
        self._elements += 1
        if self._elements > self.max_elements:
            self._too_big("too many elements in one stanza")
        assert self._stanza_start is not None
        if position - self._stanza_start > self.max_stanza_size:
            self._too_big(f"stanza larger than {self.max_stanza_size} bytes")
        if self._current is not None:
            self._current.children.append(element)
            element.parent = self._current
        self._current = element

    def _end(self, name: str) -> None:
        if self._depth == 1:
            self._depth = 0
            self._done = True
            self._on_end()
            raise _Halt()
        self._depth -= 1
        element = self._current
        assert element is not None
        if self._depth > 1:
            self._current = cast(domish.Element, element.parent)
            return
        assert self._stanza_start is not None
        position = self._parser.CurrentByteIndex
        if position - self._stanza_start > self.max_stanza_size:
            self._too_big(f"stanza larger than {self.max_stanza_size} bytes")
        self._current = None
        self._stanza_start = None
        self._boundary = position
        self._boundary_is_header = False
        self._on_element(element)
        self._after_callback()

    def _cdata(self, data: str) -> None:
        if self._depth == 1:
            if data.strip(_XML_WHITESPACE):
                raise StreamError("bad-format", "text between stanzas")
            self._boundary = self._parser.CurrentByteIndex
            self._boundary_is_header = False
            return
        if self._current is not None:
            assert self._stanza_start is not None
            if self._parser.CurrentByteIndex - self._stanza_start > self.max_stanza_size:
                self._too_big(f"stanza larger than {self.max_stanza_size} bytes")
            self._current.addContent(data)

    def _start_namespace(self, prefix: str | None, uri: str) -> None:
        if prefix is None:
            self._default_ns.append(uri)
        else:
            self._local_prefixes[prefix] = uri

    def _end_namespace(self, prefix: str | None) -> None:
        if prefix is None:
            self._default_ns.pop()


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


#: Error type per stanza error condition (RFC 6120 section 8.3.3).
_ERROR_TYPES = {
    "bad-request": "modify",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "policy-violation": "modify",
    "resource-constraint": "wait",
    "remote-server-timeout": "wait",
    "internal-server-error": "cancel",
}


def make_error_reply(
    stanza: domish.Element, condition: str, text: str | None = None
) -> domish.Element | None:
    """
    Build the stanza error that answers C{stanza} (RFC 6120 section 8.3).

    Returns L{None} for stanzas of type C{error}, which are never answered
    with an error (RFC 6120 section 8.3.1).
    """
    if stanza.getAttribute("type") == "error":
        return None
    reply = domish.Element((NS_SERVER, stanza.name))
    for name, value in (("from", stanza.getAttribute("to")), ("to", stanza.getAttribute("from"))):
        if value is not None:
            reply[name] = value
    if stanza.getAttribute("id") is not None:
        reply["id"] = stanza["id"]
    reply["type"] = "error"
    error = reply.addElement((NS_SERVER, "error"))
    error["type"] = _ERROR_TYPES.get(condition, "cancel")
    error.addElement((NS_STANZAS, condition))
    if text:
        error.addElement((NS_STANZAS, "text"), content=text)
    return reply


@implementer(IHandshakeListener)
class BaseStream(Protocol):
    """
    The transport half shared by inbound and outbound s2s streams.

    Subclasses implement the protocol hooks L{stream_connected},
    L{header_received}, L{element_received}, L{tls_handshake_done},
    L{stream_lost} and L{negotiation_timed_out}. Any L{StreamError} raised
    from a hook is sent to the peer and closes this stream; any other
    exception is logged and closes the stream with C{internal-server-error}.

    @ivar clock: Source of time and timers.
    @ivar limits: This stream's limits.
    @ivar tls_active: Whether TLS has been started on the transport.
    @ivar closing: Whether we sent our C{</stream:stream>}.
    @ivar disconnected: Whether the connection is gone.
    @ivar error: The stream error that ended this stream, if any (sent or
        received).
    @ivar trace: If set, called with C{(stream, "in" | "out", data)} for
        every chunk received and sent (plaintext once TLS is up). A
        debugging aid for tests: it sees stanza content, so production
        code never sets it.
    """

    log = Logger(namespace="nextplane.xmpp.s2s")
    trace: Callable[[BaseStream, str, bytes], object] | None = None

    def __init__(self, clock: IReactorTime, limits: StreamLimits) -> None:
        self.clock = clock
        self.limits = limits
        self.parser = StreamParser(
            self._header_received,
            self._element_received,
            self._end_received,
            max_stanza_size=limits.max_unauthenticated_stanza_size,
            max_depth=limits.max_depth,
            max_elements=limits.max_elements,
        )
        self.tls_active = False
        self.closing = False
        self.disconnected = False
        self.header_sent = False
        self.error: StreamError | None = None
        self.last_activity = clock.seconds()
        self._timers: dict[str, IDelayedCall] = {}
        self._lost_waiters: list[Deferred[None]] = []

    # Protocol

    def connectionMade(self) -> None:
        self.last_activity = self.clock.seconds()
        self.set_timer(
            "negotiation", self.limits.negotiation_timeout, self._negotiation_timer_fired
        )
        self._guard(self.stream_connected)

    def dataReceived(self, data: bytes) -> None:
        if self.disconnected:
            return
        self.last_activity = self.clock.seconds()
        if self.trace is not None:
            self.trace(self, "in", data)
        self._guard(self.parser.feed, data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.disconnected = True
        self.parser.stop()
        for call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()
        try:
            self.stream_lost(reason)
        finally:
            waiters, self._lost_waiters = self._lost_waiters, []
            for d in waiters:
                d.callback(None)

    def when_lost(self) -> Deferred[None]:
        """
        Fires once the connection is gone.
        """
        if self.disconnected:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._lost_waiters.append(d)
        return d

    def handshakeCompleted(self) -> None:
        self._guard(self.tls_handshake_done)

    # hooks

    def stream_connected(self) -> None:
        """
        The TCP connection is up.
        """

    def header_received(self, header: domish.Element) -> None:
        """
        The peer opened (or reopened) its stream.
        """

    def element_received(self, element: domish.Element) -> None:
        """
        The peer sent a first-level child.
        """

    def tls_handshake_done(self) -> None:
        """
        The TLS handshake finished; the peer's certificate is available.
        """

    def stream_lost(self, reason: Failure | None) -> None:
        """
        The connection is gone.
        """

    def negotiation_timed_out(self) -> None:
        """
        The stream was not authenticated in time; by default a
        C{connection-timeout} stream error.
        """
        self.stream_error(StreamError("connection-timeout", "negotiation took too long"))

    def error_header(self) -> bytes | None:
        """
        The stream header to send before a stream error if none was sent yet.
        """
        return None

    def peer_closed(self) -> None:
        """
        The peer sent C{</stream:stream>}.
        """

    # helpers

    def _guard(self, function: Callable[..., object], *args: object) -> None:
        try:
            function(*args)
        except StreamError as error:
            self.stream_error(error)
        except Exception:
            self.log.failure("Unexpected error on s2s stream; closing it")
            self.stream_error(StreamError("internal-server-error"))

    def _header_received(self, root: domish.Element) -> None:
        self.header_received(root)

    def _element_received(self, element: domish.Element) -> None:
        if self.closing:
            return
        self.element_received(element)

    def _end_received(self) -> None:
        self.peer_closed()
        if not self.closing:
            self.send_raw(_CLOSE_TAG)
            self.closing = True
        self.drop_connection()

    def _negotiation_timer_fired(self) -> None:
        self._timers.pop("negotiation", None)
        self._guard(self.negotiation_timed_out)

    def set_timer(self, name: str, delay: float, function: Callable[[], object]) -> None:
        """
        (Re)start the named timer.
        """
        self.cancel_timer(name)
        if not self.disconnected:
            self._timers[name] = self.clock.callLater(delay, function)

    def cancel_timer(self, name: str) -> None:
        """
        Stop the named timer if it is running.
        """
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    @property
    def _transport(self) -> ITransport:
        assert self.transport is not None
        return cast(ITransport, self.transport)

    def send_raw(self, data: bytes) -> None:
        """
        Write bytes unless the stream is closing or gone.
        """
        if self.closing or self.disconnected or self.transport is None:
            return
        if self.trace is not None:
            self.trace(self, "out", data)
        self._transport.write(data)

    def send_element(self, element: domish.Element) -> None:
        """
        Serialise and send a first-level element.
        """
        self.send_raw(serialize(element))

    def send_header(self, from_: str | None, to: str | None, stream_id: str | None) -> None:
        """
        Send our stream header.
        """
        self.send_raw(format_stream_header(from_, to, stream_id))
        self.header_sent = True

    def start_tls(
        self, creator: IOpenSSLClientConnectionCreator | IOpenSSLServerConnectionCreator
    ) -> None:
        """
        Switch the transport to TLS with the given connection creator.
        """
        cast(ITLSTransport, self._transport).startTLS(creator)
        self.tls_active = True

    def restart_stream(self) -> None:
        """
        Expect a new stream header (after TLS or SASL, RFC 6120 §4.3.3).
        """
        self.parser.reset()
        self.header_sent = False

    def stream_error(self, error: StreamError) -> None:
        """
        Send a stream error and close the stream (RFC 6120 section 4.9.1.1).
        """
        if self.closing or self.disconnected:
            return
        self.error = error
        self.log.info(
            "Closing s2s stream {stream}: {condition} {text}",
            stream=self,
            condition=error.condition,
            text=error.text or "",
        )
        if not self.header_sent:
            header = self.error_header()
            if header is not None:
                self.send_raw(header)
                self.header_sent = True
        self.send_element(error.to_element())
        self.send_raw(_CLOSE_TAG)
        self.closing = True
        self.parser.stop()
        self.stream_failed(error)
        self.drop_connection()

    def stream_failed(self, error: StreamError) -> None:
        """
        Called once when this side ends the stream with C{error}.
        """

    def close(self) -> None:
        """
        Close gracefully: send C{</stream:stream>} and wait (at most
        C{close_timeout}) for the peer to close its side.
        """
        if self.closing or self.disconnected:
            return
        if self.transport is None:
            return
        self.send_raw(_CLOSE_TAG)
        self.closing = True
        self.set_timer("close", self.limits.close_timeout, self.drop_connection)

    def drop_connection(self) -> None:
        """
        Close the connection now, aborting it if it does not go away within
        C{close_timeout} (e.g. a TLS peer that never answers close_notify).
        """
        if self.disconnected or self.transport is None:
            return
        self.cancel_timer("close")
        self.parser.stop()
        self._transport.loseConnection()
        if not self.disconnected:
            self.set_timer("abort", self.limits.close_timeout, self._abort_connection)

    def _abort_connection(self) -> None:
        self._timers.pop("abort", None)
        if not self.disconnected and self.transport is not None:
            abort = getattr(self.transport, "abortConnection", None)
            if abort is not None:
                abort()
