"""
A SIP MESSAGE load generator over mutual TLS, in Twisted (Debian's sipp
has no TLS; sip-federation.md section 4.1).

L{SipLoad} opens a few TLS connections to a SIP listener as a federation
peer would (an SfB Edge or Kamailio): client certificate for its SIP
domain (C{widget.test}, from L{nextplane.devcerts}) issued by the CA the
listener trusts, SNI and server certificate checked for the target
domain. It writes pager-mode MESSAGE requests (RFC 3428) built from a
pre-serialised template - only the per-message fields (branch, tag,
Call-ID, body) are formatted at send time, and C{Content-Length} counts
the body's I{bytes} (the body carries a non-ASCII character on purpose) -
and reads the responses with nextplane's own stream parser
(L{nextplane.connectors.sip.parser.StreamParser}), counting final
status codes and timing each final response from the message's
I{scheduled} send time (open loop; see L{bench.common.OpenLoop}).

Messages are spread round-robin over the connections; each connection
writes as soon as a message is due (no window: SIP over TLS pipelines).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet import ssl
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

from bench.common import now_ns
from nextplane.connectors.sip.message import Response
from nextplane.connectors.sip.parser import StreamParser
from nextplane.devcerts import CertPaths

__all__ = ["SipLoad", "message_bytes"]

#: Padding so a body is ~100 bytes like the other benchmarks' texts; the
#: "é" makes bytes != characters (framing must count bytes).
_PADDING = " caf\u00e9 lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod"


def message_bytes(
    *,
    sequence: int,
    text: str,
    sender: str,
    recipient: str,
    via_host: str,
    via_port: int,
) -> bytes:
    """
    One serialised out-of-dialog MESSAGE from C{sender} to C{recipient}
    (both C{user@domain}), with C{text} plus padding as a C{text/plain}
    body. Unique branch, From tag and Call-ID per C{sequence}.
    """
    body = (text + _PADDING).encode("utf-8")
    _, _, sender_domain = sender.partition("@")
    head = (
        f"MESSAGE sip:{recipient} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {via_host}:{via_port};branch=z9hG4bK-bench-{sequence}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{sender}>;tag=bench{sequence}\r\n"
        f"To: <sip:{recipient}>\r\n"
        f"Call-ID: bench-{sequence}@{sender_domain}\r\n"
        "CSeq: 1 MESSAGE\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class _SipClient(Protocol):
    def __init__(self, load: SipLoad) -> None:
        self._load = load
        self._parser = StreamParser()
        self.ready: Deferred[_SipClient] = Deferred()

    def connectionMade(self) -> None:
        self.transport.startTLS(self._load.tls_options)  # type: ignore[union-attr]
        # TLS handshakes lazily; an empty OPTIONS-free start is fine: the
        # first write triggers it. Announce readiness at once.
        self.ready.callback(self)

    def dataReceived(self, data: bytes) -> None:
        arrived = now_ns()
        for result in self._parser.feed(data):
            if isinstance(result, Response):
                self._load._response(result, arrived)
            else:
                self._load.other += 1

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        self._load.lost_connections += 1
        if not self.ready.called:
            self.ready.errback(reason)


class _Factory(ClientFactory):
    def __init__(self, load: SipLoad) -> None:
        self._load = load
        self.client: _SipClient | None = None
        self.connected: Deferred[_SipClient] = Deferred()

    def buildProtocol(self, addr: Any) -> Protocol:
        client = _SipClient(self._load)
        client.ready.chainDeferred(self.connected)
        self.client = client
        return client

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.connected.called:
            self.connected.errback(reason)


class SipLoad:
    """
    The generator; see the module docstring.

    @ivar statuses: Final response status -> count.
    @ivar rtt_ms: Call-ID sequence -> ms from scheduled send to final response.
    @ivar lost_connections: Connections that closed.
    @ivar other: Non-response items the parser returned (should stay 0).
    """

    def __init__(
        self,
        cert: CertPaths,
        ca: CertPaths,
        server_name: str,
        *,
        connections: int = 2,
        on_final: Callable[[int, int, int], None] | None = None,
    ) -> None:
        """
        @param cert: Our client certificate (the sending SIP domain).
        @param ca: The CA the server's certificate must chain to.
        @param server_name: SNI and expected server identity (the hub
            tenant's domain).
        @param connections: TLS connections to spread messages over.
        @param on_final: Optional (sequence, status, arrival ns) hook.
        """
        own = ssl.PrivateCertificate.loadPEM(cert.cert.read_bytes() + cert.key.read_bytes())
        authority = ssl.Certificate.loadPEM(ca.cert.read_bytes())
        self.tls_options = ssl.optionsForClientTLS(
            server_name, trustRoot=authority, clientCertificate=own
        )
        self.connection_count = connections
        self.on_final = on_final
        self.statuses: Counter[int] = Counter()
        self.rtt_ms: dict[int, float] = {}
        self.lost_connections = 0
        self.other = 0
        self._scheduled: dict[int, int] = {}
        self._clients: list[_SipClient] = []
        self._next = 0
        self.local_port = 0

    def connect(self, reactor: Any, host: str, port: int) -> Deferred[list[_SipClient]]:
        """
        Open the connections; fires once all are connected.
        """
        waits = []
        for _ in range(self.connection_count):
            factory = _Factory(self)
            reactor.connectTCP(host, port, factory, timeout=10)
            waits.append(factory.connected)

        def connected(clients: Sequence[_SipClient]) -> list[_SipClient]:
            self._clients = list(clients)
            self.local_port = self._clients[0].transport.getHost().port  # type: ignore[union-attr]
            return self._clients

        return gatherResults(waits).addCallback(connected)

    def send(self, sequence: int, scheduled_ns: int, request: bytes) -> None:
        """
        Write one serialised request (from L{message_bytes}) now.
        """
        self._scheduled[sequence] = scheduled_ns
        client = self._clients[self._next % len(self._clients)]
        self._next += 1
        client.transport.write(request)  # type: ignore[union-attr]

    def _response(self, response: Response, arrived_ns: int) -> None:
        if response.status < 200:
            return
        self.statuses[response.status] += 1
        call_id = response.headers.get("Call-ID") or ""
        if not call_id.startswith("bench-"):
            return
        try:
            sequence = int(call_id[6:].split("@", 1)[0])
        except ValueError:
            return
        scheduled = self._scheduled.pop(sequence, None)
        if scheduled is not None:
            self.rtt_ms[sequence] = (arrived_ns - scheduled) / 1e6
        if self.on_final is not None:
            self.on_final(sequence, response.status, arrived_ns)

    @property
    def outstanding(self) -> int:
        """
        Requests sent without a final response yet.
        """
        return len(self._scheduled)

    def close(self) -> None:
        """
        Close every connection.
        """
        for client in self._clients:
            if client.transport is not None:
                client.transport.loseConnection()
        self._clients = []
