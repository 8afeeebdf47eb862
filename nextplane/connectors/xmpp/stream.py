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

from collections.abc import Callable
from typing import cast

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
from twisted.words.xish import domish
from zope.interface import implementer

from ...refusals import RefusalLog
from .namespaces import (
    NS_CLIENT,
    NS_DIALBACK,
    NS_DIALBACK_FEATURES,
    NS_SASL,
    NS_SERVER,
    NS_STANZAS,
    NS_STREAM_ERRORS,
    NS_STREAMS,
    NS_TLS,
    NS_XML,
)
from .stream_header import (
    StreamHeader,
    format_stream_header,
    jid_domain,
    new_stream_id,
    normalise_domain,
    parse_stream_header,
    serialize,
)
from .stream_parser import StreamError, StreamParser

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

#: First-level children of C{jabber:server} that are stanzas (RFC 6120 §8).
STANZA_NAMES = frozenset({"message", "presence", "iq"})

_CLOSE_TAG = b"</stream:stream>"


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
    @ivar ack_timeout: Seconds to wait for a stream management
        acknowledgement before dropping an outbound stream (its
        unconfirmed stanzas then fail).
    """

    max_stanza_size: int = 512 * 1024
    max_unauthenticated_stanza_size: int = 10_000
    max_depth: int = 64
    max_elements: int = 25_000
    negotiation_timeout: float = 60.0
    close_timeout: float = 5.0
    idle_timeout: float = 3600.0
    verify_timeout: float = 30.0
    ack_timeout: float = 30.0


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
    @ivar refusals: If set, where the line for each stream error goes,
        rate-limited (one per hostile connection would flood the log).
    @ivar trace: If set, called with C{(stream, "in" | "out", data)} for
        every chunk received and sent (plaintext once TLS is up). A
        debugging aid for tests: it sees stanza content, so production
        code never sets it.
    """

    log = Logger(namespace="nextplane.xmpp.s2s")
    trace: Callable[[BaseStream, str, bytes], object] | None = None
    refusals: RefusalLog | None = None

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

    def element_while_closing(self, element: domish.Element) -> None:
        """
        The peer sent a first-level child after we closed our side; ignored
        unless a subclass still wants it.
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
            self.element_while_closing(element)
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
        line = "Closing s2s stream {stream}: {condition} {text}"
        fields = {"stream": self, "condition": error.condition, "text": error.text or ""}
        if self.refusals is not None:
            self.refusals.refused(line, **fields)
        else:
            self.log.info(line, **fields)
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
