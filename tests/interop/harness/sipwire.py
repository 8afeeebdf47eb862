"""
A raw SIP-over-TLS client for interop tests: it writes exactly the bytes a
test gives it (malformed requests, bodies split across TLS records) and
reads back what the hub answers.

It is a real TLS client on the real reactor (Twisted's
C{optionsForClientTLS}), verifying the hub's certificate against the test
CA and presenting a client certificate when given one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer, ssl
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from nextplane.connectors.sip.message import ParseError, Response
from nextplane.connectors.sip.parser import StreamParser
from nextplane.devcerts import CertPaths

from .siphub import poll

__all__ = ["WireClient", "connect_wire"]


@implementer(IHandshakeListener)
class WireClient(Protocol):
    """
    One raw TLS connection; see the module docstring.

    @ivar received: everything the hub sent.
    @ivar handshake: fires when the TLS handshake completed.
    @ivar lost: fires when the connection closed (the reason is in
        C{reason}).
    """

    def __init__(self, reactor: Any, options: Any) -> None:
        self.reactor = reactor
        self.options = options
        self.received = b""
        self.handshake: defer.Deferred[None] = defer.Deferred()
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.closed = False
        self.reason: Failure | None = None

    def connectionMade(self) -> None:
        self.transport.startTLS(self.options)  # type: ignore[union-attr]

    def handshakeCompleted(self) -> None:
        if not self.handshake.called:
            self.handshake.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        self.closed = True
        self.reason = reason
        if not self.handshake.called:
            self.handshake.errback(reason)
        self.lost.callback(None)

    def send(self, data: bytes) -> None:
        """
        Write bytes (one TLS record per call, as far as TLS goes).
        """
        self.transport.write(data)  # type: ignore[union-attr]

    def responses(self) -> list[Response]:
        """
        The responses received so far (also those echoing a malformed
        header, which do not parse cleanly themselves).
        """
        found = []
        for result in StreamParser().feed(self.received):
            if isinstance(result, Response):
                found.append(result)
            elif isinstance(result, ParseError) and isinstance(result.message, Response):
                found.append(result.message)
        return found

    def wait_for_responses(self, count: int, timeout: float = 10.0) -> defer.Deferred[Any]:
        """
        Wait until C{count} responses arrived; fires with the last one.
        """

        def check() -> Response | None:
            found = self.responses()
            return found[count - 1] if len(found) >= count else None

        return poll(self.reactor, check, timeout, f"response #{count} from the hub")


@defer.inlineCallbacks
def connect_wire(
    reactor: Any,
    host: str,
    port: int,
    ca: Path,
    certificate: CertPaths | None,
    server_name: str,
) -> Any:
    """
    Connect and start TLS to the hub at C{host:port}, expecting
    C{server_name} in its certificate, presenting C{certificate}.

    @return: a Deferred firing with the L{WireClient} once connected (the
        handshake may still fail: see L{WireClient.handshake}).
    """
    trust = ssl.Certificate.loadPEM(ca.read_bytes())
    client_certificate = None
    if certificate is not None:
        client_certificate = ssl.PrivateCertificate.loadPEM(
            certificate.cert.read_bytes() + certificate.key.read_bytes()
        )
    options = ssl.optionsForClientTLS(
        server_name, trustRoot=trust, clientCertificate=client_certificate
    )
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=5)
    client = yield endpoint.connect(Factory.forProtocol(lambda: WireClient(reactor, options)))
    return client
