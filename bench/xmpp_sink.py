"""
A minimal XMPP server-to-server peer for benchmarks: the receiving end of
the hub's outbound s2s streams (L{XmppSink}) and a bare initiator
(L{S2SInitiator}) for the in-run baselines.

The sink plays a remote domain (e.g. C{widget.test}) the hub federates
with through a C{[[federation.partners]]} route. It does what the hub's
outbound stream (L{nextplane.connectors.xmpp.s2s_out}) needs and nothing
more (RFC 6120, XEP-0178):

  1. answer the stream header, offer C{<starttls><required/></starttls>};
  2. C{<proceed/>}, TLS as server for the sink's domain, demanding a
     client certificate that chains to the benchmark CA (the hub presents
     its tenant's certificate, so SASL EXTERNAL is honest);
  3. after the restart offer SASL C{EXTERNAL} only, answer C{<success/>};
  4. after the second restart, empty features: the stream is open and
     every C{<message>} is handed to a callback with its C{<body>} text
     and the time its bytes arrived.

Anything else (iq, presence) is counted and ignored: the sink only
receives. Parsing is Twisted's expat-backed C{domish} stream, the same
parser the hub uses, so the sink's cost per stanza is known (~60k
stanzas/s on one CPython core, performance.md section 1).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IOpenSSLServerConnectionCreator
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.python.failure import Failure
from twisted.words.xish import domish
from zope.interface import implementer

from bench.common import now_ns
from nextplane.devcerts import CertPaths
from nextplane.tls import alpn_selector

__all__ = ["S2SInitiator", "XmppSink", "parse_stream_bodies"]

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

#: Called with (body text, ns when the bytes holding it arrived).
BodyCallback = Callable[[str, int], None]


def _header(from_: str, to: str, stream_id: str | None) -> bytes:
    ident = f" id='{stream_id}'" if stream_id else ""
    return (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
        f"xmlns:stream='{NS_STREAMS}' xmlns:db='jabber:server:dialback' "
        f"from='{from_}' to='{to}'{ident} version='1.0'>"
    ).encode()


@implementer(IOpenSSLServerConnectionCreator)
class _ServerCreator:
    def __init__(self, context: SSL.Context) -> None:
        self._context = context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N803
        return SSL.Connection(self._context, None)


def _server_options(cert: CertPaths, ca: CertPaths) -> IOpenSSLServerConnectionCreator:
    """
    TLS server side presenting C{cert} and requiring a client certificate
    issued by C{ca}; agrees on ALPN C{xmpp-server} when offered (the hub
    offers it, XEP-0368, and Twisted's default ALPN callback would abort
    the handshake).
    """
    own = ssl.PrivateCertificate.loadPEM(cert.cert.read_bytes() + cert.key.read_bytes())
    authority = ssl.Certificate.loadPEM(ca.cert.read_bytes())
    context = own.options(authority).getContext()
    context.set_alpn_select_callback(alpn_selector(b"xmpp-server"))
    return _ServerCreator(context)


def _client_options(server_name: str, cert: CertPaths, ca: CertPaths) -> Any:
    """
    TLS client options for C{server_name}, with C{cert} as client certificate.
    """
    own = ssl.PrivateCertificate.loadPEM(cert.cert.read_bytes() + cert.key.read_bytes())
    authority = ssl.Certificate.loadPEM(ca.cert.read_bytes())
    return ssl.optionsForClientTLS(server_name, trustRoot=authority, clientCertificate=own)


class _ElementStream(Protocol):
    """
    Expat parsing of one XML stream, restartable (after STARTTLS and SASL).
    """

    def connectionMade(self) -> None:
        self._arrived_ns = 0
        self._restart()

    def _restart(self) -> None:
        parser = domish.elementStream()
        parser.DocumentStartEvent = self._header_received
        parser.ElementEvent = self._element_received
        parser.DocumentEndEvent = self._stream_ended
        self._parser = parser

    def dataReceived(self, data: bytes) -> None:
        self._arrived_ns = now_ns()
        try:
            self._parser.parse(data)
        except domish.ParserError:
            self.transport.loseConnection()  # type: ignore[union-attr]

    def _stream_ended(self) -> None:
        self.transport.write(b"</stream:stream>")  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]

    def _header_received(self, root: domish.Element) -> None:
        raise NotImplementedError

    def _element_received(self, element: domish.Element) -> None:
        raise NotImplementedError


class _SinkStream(_ElementStream):
    def __init__(self, sink: XmppSink) -> None:
        self._sink = sink
        self._stage = "plain"  # -> "tls" -> "open"

    def _header_received(self, root: domish.Element) -> None:
        peer = root.getAttribute("from") or ""
        self._sink.streams_seen += 1
        out = _header(self._sink.domain, peer, f"sink{self._sink.streams_seen}")
        if self._stage == "plain":
            features = (
                f"<stream:features><starttls xmlns='{NS_TLS}'><required/></starttls>"
                "</stream:features>"
            )
        elif self._stage == "tls":
            features = (
                f"<stream:features><mechanisms xmlns='{NS_SASL}'>"
                "<mechanism>EXTERNAL</mechanism></mechanisms></stream:features>"
            )
        else:
            features = "<stream:features/>"
        self.transport.write(out + features.encode())  # type: ignore[union-attr]

    def _element_received(self, element: domish.Element) -> None:
        name = element.name
        if name == "message":
            for child in element.elements():
                if child.name == "body":
                    self._sink.on_body(str(child), self._arrived_ns)
                    return
            self._sink.other_stanzas += 1
        elif name == "starttls" and self._stage == "plain":
            self.transport.write(f"<proceed xmlns='{NS_TLS}'/>".encode())  # type: ignore[union-attr]
            self.transport.startTLS(self._sink.tls_options)  # type: ignore[union-attr]
            self._stage = "tls"
            self._restart()
        elif name == "auth" and self._stage == "tls":
            self.transport.write(f"<success xmlns='{NS_SASL}'/>".encode())  # type: ignore[union-attr]
            self._stage = "open"
            self._sink.authenticated += 1
            self._restart()
        else:
            self._sink.other_stanzas += 1


class XmppSink(Factory):
    """
    The receiving server of a remote XMPP domain; see the module docstring.

    @ivar streams_seen: Stream headers answered (three per stream).
    @ivar authenticated: Streams that completed SASL EXTERNAL.
    @ivar other_stanzas: Elements that were not a C{<message>} with a body.
    """

    def __init__(self, domain: str, cert: CertPaths, ca: CertPaths, on_body: BodyCallback) -> None:
        """
        @param domain: The remote domain played (C{widget.test}).
        @param cert: Its certificate (for C{domain}, issued by C{ca}).
        @param ca: The CA the peer's client certificate must chain to.
        @param on_body: Given each message body and its arrival time.
        """
        self.domain = domain
        self.tls_options = _server_options(cert, ca)
        self.on_body = on_body
        self.streams_seen = 0
        self.authenticated = 0
        self.other_stanzas = 0

    def buildProtocol(self, addr: Any) -> Protocol:
        return _SinkStream(self)

    def listen(self, reactor: Any, port: int, interface: str = "127.0.0.1") -> IListeningPort:
        """
        Listen on C{interface:port} (plain TCP; STARTTLS inside the stream).
        """
        return reactor.listenTCP(port, self, interface=interface)  # type: ignore[no-any-return]


def parse_stream_bodies(text: str, tag: str) -> tuple[int, int] | None:
    """
    The (sequence, scheduled ns) of a benchmark body C{"<tag> <seq> <ns> ..."}.
    """
    parts = text.split(" ", 3)
    if len(parts) < 3 or parts[0] != tag:
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


class _InitiatorStream(_ElementStream):
    def __init__(self, initiator: S2SInitiator) -> None:
        self._initiator = initiator
        self._stage = "plain"  # -> "starttls" -> "tls" -> "auth" -> "open"

    def connectionMade(self) -> None:
        super().connectionMade()
        self._send_header()

    def _send_header(self) -> None:
        i = self._initiator
        self.transport.write(_header(i.local, i.remote, None))  # type: ignore[union-attr]

    def _header_received(self, root: domish.Element) -> None:
        pass

    def _element_received(self, element: domish.Element) -> None:
        name = element.name
        write = self.transport.write  # type: ignore[union-attr]
        if name == "features":
            if self._stage == "plain":
                write(f"<starttls xmlns='{NS_TLS}'/>".encode())
                self._stage = "starttls"
            elif self._stage == "tls":
                authzid = base64.b64encode(self._initiator.local.encode()).decode()
                write(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{authzid}</auth>".encode())
                self._stage = "auth"
            elif self._stage == "open":
                self._initiator._ready(self)
        elif name == "proceed" and self._stage == "starttls":
            self.transport.startTLS(self._initiator.tls_options)  # type: ignore[union-attr]
            self._stage = "tls"
            self._restart()
            self._send_header()
        elif name == "success" and self._stage == "auth":
            self._stage = "open"
            self._restart()
            self._send_header()
        elif name in ("failure", "error"):
            self._initiator._failed(f"s2s negotiation refused: <{name}/>")
            self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        self._initiator._failed(f"s2s connection lost: {reason.getErrorMessage()}")


class S2SInitiator(ClientFactory):
    """
    A bare outbound s2s stream (STARTTLS, client certificate, SASL
    EXTERNAL), for the baselines: once L{ready} fires, L{send} writes
    pre-serialised stanzas straight to the TLS transport.
    """

    def __init__(self, local: str, remote: str, cert: CertPaths, ca: CertPaths) -> None:
        self.local = local
        self.remote = remote
        self.tls_options = _client_options(remote, cert, ca)
        self.ready: Deferred[S2SInitiator] = Deferred()
        self._stream: _InitiatorStream | None = None

    def buildProtocol(self, addr: Any) -> Protocol:
        return _InitiatorStream(self)

    def connect(self, reactor: Any, host: str, port: int) -> Deferred[S2SInitiator]:
        """
        Connect to C{host:port} and negotiate; returns L{ready}.
        """
        reactor.connectTCP(host, port, self)
        return self.ready

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self._failed(f"s2s connection failed: {reason.getErrorMessage()}")

    def _ready(self, stream: _InitiatorStream) -> None:
        self._stream = stream
        if not self.ready.called:
            self.ready.callback(self)

    def _failed(self, why: str) -> None:
        self._stream = None
        if not self.ready.called:
            self.ready.errback(Failure(RuntimeError(why)))

    def send(self, stanza: bytes) -> None:
        """
        Write one serialised stanza on the open stream.
        """
        if self._stream is None:
            raise RuntimeError("s2s stream not open")
        self._stream.transport.write(stanza)  # type: ignore[union-attr]

    def close(self) -> None:
        """
        End the stream.
        """
        stream, self._stream = self._stream, None
        if stream is not None and stream.transport is not None:
            stream.transport.write(b"</stream:stream>")
            stream.transport.loseConnection()
