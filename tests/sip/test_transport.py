# -*- test-case-name: tests.sip.test_transport -*-
"""
Tests for L{nextplane.connectors.sip.transport}: mutual TLS with real
OpenSSL handshakes over the in-memory network of L{tests.xmpp.fakenet}.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from twisted.internet.interfaces import IHandshakeListener, IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from nextplane.connectors.sip.message import Headers, Message, Request, Response, make_response
from nextplane.connectors.sip.parser import StreamParser
from nextplane.connectors.sip.resolve import SipResolver, Target
from nextplane.connectors.sip.tls import SipClientTLS, SipServerTLS, TrustStore, load_credentials
from nextplane.connectors.sip.transaction import (
    ServerTransaction,
    TransactionError,
    TransactionLayer,
    TransportError,
)
from nextplane.connectors.sip.transport import (
    ConnectError,
    Limits,
    SipConnection,
    SipTransport,
)
from tests.xmpp.fakenet import FakeResolver, Network

from . import vectors
from .certs import sip_pki

HUB_IP = "192.0.2.5"
PEER_IP = "192.0.2.9"
WRONG_IP = "192.0.2.20"


class Recorder:
    """
    A receiver that records messages and lost connections.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[Message, SipConnection]] = []
        self.lost: list[SipConnection] = []

    def receive(self, message: Message, flow: Any) -> None:
        self.messages.append((message, flow))

    def busy(self, flow: Any) -> bool:
        return False

    def flow_lost(self, flow: Any) -> None:
        self.lost.append(flow)


class AnsweringUser:
    """
    A transaction user answering every request with C{status}.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[ServerTransaction] = []

    def request_received(self, transaction: ServerTransaction) -> None:
        self.requests.append(transaction)
        transaction.reply(self.status)

    def ack_received(self, ack: Request, flow: Any) -> None:
        pass

    def stray_response(self, response: Response, flow: Any) -> None:
        pass

    def cancelled(self, transaction: ServerTransaction) -> None:
        pass

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        pass


@implementer(IHandshakeListener)
class RawClient(Protocol):
    """
    A TLS client that sends raw bytes and records what comes back.
    """

    def __init__(self, creator: Any) -> None:
        self.creator = creator
        self.received = b""
        self.handshake_done = False
        self.lost: Failure | None = None

    def connectionMade(self) -> None:
        if self.creator is not None:
            self.transport.startTLS(self.creator)  # type: ignore[union-attr]

    def handshakeCompleted(self) -> None:
        self.handshake_done = True

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = Failure(Exception())) -> None:  # noqa: B008
        self.lost = reason

    def send(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]

    def responses(self) -> list[Any]:
        return StreamParser().feed(self.received)


class RawFactory(Factory):
    """
    Builds one L{RawClient}.
    """

    def __init__(self, creator: Any) -> None:
        self.creator = creator

    def buildProtocol(self, addr: Any) -> RawClient:
        return RawClient(self.creator)


@implementer(IOpenSSLClientConnectionCreator)
class BareCreator:
    """
    A TLS client without certificate, optionally offering ALPN.
    """

    def __init__(self, inner: Any = None, alpn: list[bytes] | None = None) -> None:
        self.inner = inner
        self.alpn = alpn

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N803
        if self.inner is not None:
            connection = self.inner.clientConnectionForTLS(tlsProtocol)
        else:
            connection = SSL.Connection(CertificateOptions().getContext(), None)
            connection.set_tlsext_host_name(b"sip.hub.test")
        if self.alpn:
            connection.set_alpn_protos(self.alpn)
        return connection


def message_request(
    branch: str = "z9hG4bKraw1", via: str = "sip.peer.test:5061", extra: str = ""
) -> bytes:
    """
    A pager MESSAGE from the peer to the hub.
    """
    return vectors.wire(
        f"""
MESSAGE sip:bob@hub.test SIP/2.0
Via: SIP/2.0/TLS {via};branch={branch}{extra}
Max-Forwards: 70
From: <sip:alice@peer.test>;tag=a1
To: <sip:bob@hub.test>
Call-ID: raw-{branch}
CSeq: 1 MESSAGE
Content-Type: text/plain;charset=UTF-8
Content-Length: {{length}}
""",
        "Grüezi".encode(),
    )


class TransportTestCase(SynchronousTestCase):
    """
    A hub (C{hub.test}, C{other.test}) and a peer (C{peer.test}) on an
    in-memory network with DNS.
    """

    def setUp(self) -> None:
        self.pki = sip_pki()
        self.clock = Clock()
        self.network = Network(self.clock)
        self.dns = FakeResolver()
        self.dns.srv["_sipfederationtls._tcp.hub.test"] = [(0, 0, 5061, "sip.hub.test")]
        self.dns.srv["_sipfederationtls._tcp.other.test"] = [(0, 0, 5061, "sip.other.test")]
        self.dns.srv["_sipfederationtls._tcp.peer.test"] = [(0, 0, 5061, "sip.peer.test")]
        self.dns.a["sip.hub.test"] = [HUB_IP]
        self.dns.a["sip.other.test"] = [HUB_IP]
        self.dns.a["sip.peer.test"] = [PEER_IP]
        self.hub_receiver = Recorder()
        self.hub = self.transport(
            self.hub_receiver,
            {"hub.test": self.pki.hub, "other.test": self.pki.other},
            "sip.hub.test",
        )
        self.network.listen(HUB_IP, 5061, self.hub.server_factory())
        self.peer_receiver = Recorder()
        self.peer = self.transport(
            self.peer_receiver, {"peer.test": self.pki.peer}, "sip.peer.test"
        )
        self.network.listen(PEER_IP, 5061, self.peer.server_factory())
        self.log = EventLoggingObserver()
        globalLogPublisher.addObserver(self.log)
        self.addCleanup(globalLogPublisher.removeObserver, self.log)

    def transport(
        self, receiver: Any, tenants: dict[str, Any], via_host: str, **kwargs: Any
    ) -> SipTransport:
        credentials = load_credentials(tenants)
        return SipTransport(
            self.clock,
            receiver,
            via_host=via_host,
            trust=TrustStore(paths=[self.pki.ca_path]),
            server_tls=SipServerTLS(credentials),
            client_tls=SipClientTLS(credentials),
            resolver=SipResolver(self.dns),
            endpoint_factory=self.network.endpoint,
            **kwargs,
        )

    def logged(self) -> str:
        return "\n".join(formatEvent(e) for e in self.log)

    def peer_connects(self, domain: str = "hub.test") -> SipConnection:
        d = self.peer.connect(domain, "peer.test")
        self.network.flush()
        return self.successResultOf(d)

    def raw(self, creator: Any, host: str = HUB_IP, port: int = 5061) -> RawClient:
        d = self.network.endpoint(host, port).connect(RawFactory(creator))
        client = self.successResultOf(d)
        self.network.flush()
        return client

    def peer_creator(self, server_name: str = "sip.hub.test") -> Any:
        return SipClientTLS(load_credentials({"peer.test": self.pki.peer})).creator(
            "peer.test", server_name
        )


class MutualTLSTests(TransportTestCase):
    """
    Mutual TLS and RFC 5922 identities.
    """

    def test_connect(self) -> None:
        """
        The peer dials hub.test through SRV; both sides verify each other.
        """
        connection = self.peer_connects()
        self.assertTrue(connection.outbound)
        self.assertIn("hub.test", connection.peer_identities)
        self.assertEqual(self.network.attempts, [(HUB_IP, 5061)])
        (inbound,) = self.hub.table.connections()
        self.assertFalse(inbound.outbound)
        self.assertEqual(inbound.peer_identities, frozenset({"peer.test", "sip.peer.test"}))
        self.assertEqual(inbound.local_domain, "hub.test")

    def test_sni_selects_tenant(self) -> None:
        """
        Dialling other.test, the hub presents other.test's certificate.
        """
        connection = self.peer_connects("other.test")
        self.assertIn("other.test", connection.peer_identities)
        (inbound,) = self.hub.table.connections()
        self.assertEqual(inbound.local_domain, "other.test")

    def test_no_client_certificate(self) -> None:
        """
        A client without certificate fails the handshake; nothing reaches
        the hub's receiver and the reason is logged.
        """
        client = self.raw(BareCreator())
        client.send(message_request())
        self.network.flush()
        self.assertIsNotNone(client.lost)
        self.assertEqual(self.hub.table.connections(), [])
        self.assertEqual(self.hub_receiver.messages, [])
        self.assertIn("closed before it was verified", self.logged())

    def test_untrusted_client(self) -> None:
        """
        A client certificate from an unknown CA is refused after the
        handshake, with the reason logged.
        """
        creator = SipClientTLS(load_credentials({"peer.test": self.pki.peer_untrusted})).creator(
            "peer.test", "sip.hub.test"
        )
        client = self.raw(creator)
        client.send(message_request())
        self.network.flush()
        self.assertIsNotNone(client.lost)
        self.assertEqual(self.hub_receiver.messages, [])
        self.assertIn("certificate not trusted", self.logged())

    def test_wildcard_client(self) -> None:
        """
        A client certificate naming only a wildcard has no SIP identity.
        """
        creator = SipClientTLS(load_credentials({"peer.test": self.pki.peer_wildcard})).creator(
            "peer.test", "sip.hub.test"
        )
        client = self.raw(creator)
        self.assertIsNotNone(client.lost)
        self.assertIn("certificate names no SIP domain", self.logged())

    def test_alpn_offered(self) -> None:
        """
        A client offering ALPN still completes the handshake.
        """
        client = self.raw(BareCreator(self.peer_creator(), alpn=[b"h2", b"http/1.1"]))
        self.assertTrue(client.handshake_done)
        self.assertIsNone(client.lost)
        self.assertEqual(len(self.hub.table), 1)

    def test_server_wrong_identity(self) -> None:
        """
        A server whose certificate does not name the domain is refused.
        """
        wrong = self.transport(Recorder(), {"wrong.test": self.pki.peer_wrong}, "wrong.test")
        self.network.listen(WRONG_IP, 5061, wrong.server_factory())
        self.dns.srv["_sipfederationtls._tcp.victim.test"] = [(0, 0, 5061, "sip.victim.test")]
        self.dns.a["sip.victim.test"] = [WRONG_IP]
        d = self.hub.connect("victim.test", "hub.test")
        self.network.flush()
        failure = self.failureResultOf(d, ConnectError)
        self.assertIn("not valid for", str(failure.value))
        self.assertEqual(self.hub.table.connections(), [])

    def test_edge_certificate(self) -> None:
        """
        An Edge certificate naming only the SRV target (sip.peer.test) is
        accepted for peer.test.
        """
        edge = self.transport(Recorder(), {"peer.test": self.pki.peer_edge}, "sip.peer.test")
        self.network.listen("192.0.2.30", 5061, edge.server_factory())
        self.dns.a["sip.peer.test"] = ["192.0.2.30"]
        d = self.hub.connect("peer.test", "hub.test")
        self.network.flush()
        connection = self.successResultOf(d)
        self.assertEqual(connection.peer_identities, frozenset({"sip.peer.test"}))

    def test_no_local_certificate(self) -> None:
        """
        Without a certificate for the sending tenant there is no mutual TLS.
        """
        self.failureResultOf(self.hub.connect("peer.test", "nocert.test"), ConnectError)

    def test_unresolvable(self) -> None:
        """
        A domain without service fails with L{ConnectError}.
        """
        self.dns.srv["_sipfederationtls._tcp.none.test"] = [(0, 0, 0, ".")]
        failure = self.failureResultOf(self.hub.connect("none.test", "hub.test"), ConnectError)
        self.assertIn("does not offer SIP federation", str(failure.value))
        failure = self.failureResultOf(self.hub.connect("nowhere.test", "hub.test"), ConnectError)
        self.assertIn("no address", str(failure.value))


class ReuseTests(TransportTestCase):
    """
    Connection reuse (RFC 5923 and per peer).
    """

    def test_reuse(self) -> None:
        """
        A second connect returns the live connection.
        """
        first = self.peer_connects()
        self.assertIs(self.peer_connects(), first)
        self.assertEqual(len(self.network.attempts), 1)

    def test_concurrent(self) -> None:
        """
        Concurrent connects share one attempt.
        """
        first = self.peer.connect("hub.test", "peer.test")
        second = self.peer.connect("hub.test", "peer.test")
        self.network.flush()
        self.assertIs(self.successResultOf(first), self.successResultOf(second))
        self.assertEqual(len(self.network.attempts), 1)

    def test_concurrent_failure(self) -> None:
        """
        A failed attempt fails every waiter.
        """
        self.network.hanging.add((HUB_IP, 5061))
        first = self.peer.connect("hub.test", "peer.test")
        second = self.peer.connect("hub.test", "peer.test")
        self.clock.advance(30)
        self.failureResultOf(first, ConnectError)
        self.failureResultOf(second, ConnectError)

    def test_alias(self) -> None:
        """
        A request with ;alias for a sent-by the peer's certificate names
        makes its connection reusable for requests to that sent-by.
        """
        client = self.raw(self.peer_creator())
        client.send(message_request(extra=";alias"))
        self.network.flush()
        (inbound,) = self.hub.table.connections()
        d = self.hub.connect("peer.test", "hub.test")
        self.assertIs(self.successResultOf(d), inbound)
        self.assertEqual(self.network.attempts, [(HUB_IP, 5061)])

    def test_alias_not_proven(self) -> None:
        """
        An alias for a host the certificate does not name is ignored.
        """
        client = self.raw(self.peer_creator())
        client.send(message_request(via="sip.evil.test:5061", extra=";alias"))
        self.network.flush()
        self.dns.srv["_sipfederationtls._tcp.evil.test"] = [(0, 0, 5061, "sip.evil.test")]
        self.dns.a["sip.evil.test"] = ["192.0.2.66"]
        self.failureResultOf(self.hub.connect("evil.test", "hub.test"), ConnectError)
        self.assertIn(("192.0.2.66", 5061), self.network.attempts)

    def test_connect_timeout_then_next(self) -> None:
        """
        A target that does not answer is abandoned after the timeout and the
        next SRV target is tried.
        """
        self.dns.srv["_sipfederationtls._tcp.hub.test"] = [
            (0, 0, 5061, "dead.hub.test"),
            (1, 0, 5061, "sip.hub.test"),
        ]
        self.dns.a["dead.hub.test"] = ["192.0.2.99"]
        self.network.hanging.add(("192.0.2.99", 5061))
        d = self.peer.connect("hub.test", "peer.test")
        self.assertNoResult(d)
        self.clock.advance(30)
        self.network.flush()
        connection = self.successResultOf(d)
        self.assertIn("hub.test", connection.peer_identities)
        self.assertEqual(self.network.attempts, [("192.0.2.99", 5061), (HUB_IP, 5061)])

    def test_closed_connection_forgotten(self) -> None:
        """
        A closed connection leaves the table, its receiver is told, and
        sending on it fails.
        """
        connection = self.peer_connects()
        (inbound,) = self.hub.table.connections()
        connection.close()
        self.network.flush()
        self.assertEqual(self.peer.table.connections(), [])
        self.assertEqual(self.hub.table.connections(), [])
        self.assertEqual(self.peer_receiver.lost, [connection])
        self.assertEqual(self.hub_receiver.lost, [inbound])
        with self.assertRaises(TransportError):
            connection.send(make_response(Request("OPTIONS", "sip:x", Headers()), 200))
        self.assertIsNot(self.peer_connects(), connection)


class StreamTests(TransportTestCase):
    """
    What the hub does with the bytes of a verified peer.
    """

    def setUp(self) -> None:
        super().setUp()
        self.client = self.raw(self.peer_creator())

    def exchange(self, data: bytes) -> list[Any]:
        self.client.received = b""
        self.client.send(data)
        self.network.flush()
        return self.client.responses()

    def test_message_delivered(self) -> None:
        """
        A valid request reaches the receiver with received/rport stamped.
        """
        self.exchange(message_request(extra=";rport"))
        ((message, flow),) = self.hub_receiver.messages
        assert isinstance(message, Request)
        self.assertEqual(message.top_via.params.get("received"), "192.0.2.1")
        self.assertEqual(message.top_via.params.get("rport"), str(flow.peer_port))
        self.assertEqual(message.body.decode(), "Grüezi")
        self.assertIn("peer.test", flow.peer_identities)

    def test_receiver_error(self) -> None:
        """
        An exception in the receiver is logged and the connection stays up.
        """

        def explode(message: Message, flow: Any) -> None:
            raise ZeroDivisionError()

        self.hub_receiver.receive = explode  # type: ignore[method-assign]
        self.exchange(message_request())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertIsNone(self.client.lost)

    def test_keepalive(self) -> None:
        """
        A CRLF CRLF ping is answered with CRLF (RFC 5626).
        """
        self.client.send(b"\r\n\r\n")
        self.network.flush()
        self.assertEqual(self.client.received, b"\r\n")

    def test_malformed(self) -> None:
        """
        A malformed request is answered 400 with the reason and the
        connection stays usable.
        """
        bad = message_request().replace(b"Max-Forwards: 70", b"Max-Forwards: many")
        (response,) = self.exchange(bad)
        self.assertEqual((response.status, response.reason), (400, "Malformed Max-Forwards header"))
        self.assertEqual(response.header("Call-ID"), "raw-z9hG4bKraw1")
        self.exchange(message_request())
        self.assertEqual(len(self.hub_receiver.messages), 1)
        self.assertIsNone(self.client.lost)

    def test_unanswerable(self) -> None:
        """
        A request too broken to be answered (no To) is logged and dropped;
        the connection stays usable.
        """
        bad = message_request().replace(b"To: <sip:bob@hub.test>\r\n", b"")
        self.assertEqual(self.exchange(bad), [])
        self.assertIn("Missing To header", self.logged())
        self.exchange(message_request())
        self.assertEqual(len(self.hub_receiver.messages), 1)

    def test_body_too_large(self) -> None:
        """
        A body over the limit is answered 413 and skipped.
        """
        self.hub.limits = Limits(max_body_size=3)
        client = self.raw(self.peer_creator())
        client.send(
            message_request()
            + message_request(branch="z9hG4bKnext")
            .replace(b"Gr\xc3\xbcezi", b"")
            .replace(b"Content-Length: 7", b"Content-Length: 0")
        )
        self.network.flush()
        (response,) = client.responses()
        self.assertEqual(response.status, 413)
        self.assertEqual(len(self.hub_receiver.messages), 1)
        self.assertIsNone(client.lost)

    def test_header_too_large(self) -> None:
        """
        A header section over the limit is answered 513 and the connection
        closed.
        """
        self.hub.limits = Limits(max_header_size=300)
        client = self.raw(self.peer_creator())
        client.send(
            message_request().replace(
                b"Content-Type:", b"Subject: " + b"y" * 400 + b"\r\nContent-Type:"
            )
        )
        self.network.flush()
        (response,) = client.responses()
        self.assertEqual(response.status, 513)
        self.assertIsNotNone(client.lost)

    def test_missing_content_length(self) -> None:
        """
        Without Content-Length the hub answers 400 and closes.
        """
        data = (
            message_request().replace(b"Content-Length: 7\r\n", b"").replace("Grüezi".encode(), b"")
        )
        (response,) = self.exchange(data)
        self.assertEqual((response.status, response.reason), (400, "Missing Content-Length"))
        self.assertIsNotNone(self.client.lost)

    def test_garbage(self) -> None:
        """
        Bytes that are not SIP close the connection without an answer.
        """
        self.assertEqual(self.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), [])
        self.assertIsNotNone(self.client.lost)

    def test_malformed_response_dropped(self) -> None:
        """
        A malformed response is dropped quietly.
        """
        self.assertEqual(
            self.exchange(vectors.IPV6_RESPONSE.replace(b"CSeq: 3 MESSAGE\r\n", b"")), []
        )
        self.assertEqual(self.hub_receiver.messages, [])
        self.assertIsNone(self.client.lost)

    def test_bad_ack_unanswered(self) -> None:
        """
        A malformed ACK gets no response.
        """
        ack = (
            message_request()
            .replace(b"MESSAGE", b"ACK")
            .replace(b"To: <sip:bob@hub.test>\r\n", b"")
        )
        self.assertEqual(self.exchange(ack), [])


class EndToEndTests(TransportTestCase):
    """
    Transaction layers over mutual TLS.
    """

    def test_message_transaction(self) -> None:
        """
        The peer's MESSAGE, sent through its transaction layer, is answered
        by the hub's transaction user.
        """
        hub_user = AnsweringUser(200)
        hub_layer = TransactionLayer(self.clock, hub_user)
        self.hub.receiver = hub_layer
        peer_layer = TransactionLayer(self.clock, AnsweringUser())
        self.peer.receiver = peer_layer
        connection = self.peer_connects()
        request = Request(
            "MESSAGE",
            "sip:bob@hub.test",
            Headers(
                [
                    ("From", "<sip:alice@peer.test>;tag=p1"),
                    ("To", "<sip:bob@hub.test>"),
                    ("Call-ID", "e2e-1"),
                    ("CSeq", "1 MESSAGE"),
                    ("Content-Type", "text/plain;charset=UTF-8"),
                ]
            ),
            "Grüße 👋".encode(),
        )
        tx = peer_layer.send_request(request, connection)
        self.network.flush()
        response = self.successResultOf(tx.final)
        self.assertEqual(response.status, 200)
        (server,) = hub_user.requests
        self.assertEqual(server.request.body.decode(), "Grüße 👋")
        self.assertEqual(server.request.top_via.host, "sip.peer.test")
        self.assertEqual(server.request.top_via.params.get("received"), "192.0.2.1")

    def test_lost_connection_fails_transaction(self) -> None:
        """
        When the connection drops, the pending client transaction fails.
        """
        peer_layer = TransactionLayer(self.clock, AnsweringUser())
        self.peer.receiver = peer_layer
        self.hub.receiver = Recorder()
        connection = self.peer_connects()
        tx = peer_layer.send_request(
            Request(
                "OPTIONS",
                "sip:hub.test",
                Headers(
                    [
                        ("From", "<sip:peer.test>;tag=1"),
                        ("To", "<sip:hub.test>"),
                        ("Call-ID", "o"),
                        ("CSeq", "1 OPTIONS"),
                    ]
                ),
            ),
            connection,
        )
        self.network.flush()
        (inbound,) = self.hub.table.connections()
        inbound.close()
        self.network.flush()
        self.failureResultOf(tx.final, TransportError)

    def test_alias_advertised(self) -> None:
        """
        With advertise_alias our Via carries ;alias.
        """
        self.peer.advertise_alias = True
        connection = self.peer_connects()
        self.assertIn("alias", connection.via("z9hG4bK1").params)
        self.assertEqual(
            connection.via("z9hG4bK1").format(),
            "SIP/2.0/TLS sip.peer.test:5061;branch=z9hG4bK1;alias",
        )


class PlainTCPTests(TransportTestCase):
    """
    Plain TCP from and to trusted relays.
    """

    def test_trusted_relay(self) -> None:
        """
        A configured relay may connect over TCP; its messages arrive and
        keep-alives are answered.
        """
        self.hub.trusted_relays = frozenset({"192.0.2.1"})
        self.network.listen(HUB_IP, 5070, self.hub.server_factory(tls=False))
        client = self.raw(None, port=5070)
        client.send(message_request().replace(b"SIP/2.0/TLS", b"SIP/2.0/TCP") + b"\r\n\r\n")
        self.network.flush()
        ((_, flow),) = self.hub_receiver.messages
        self.assertTrue(flow.trusted_relay)
        self.assertEqual(flow.peer_identities, frozenset())
        self.assertEqual(client.received, b"\r\n")

    def test_untrusted_relay(self) -> None:
        """
        Anyone else is refused.
        """
        self.network.listen(HUB_IP, 5070, self.hub.server_factory(tls=False))
        d = self.network.endpoint(HUB_IP, 5070).connect(RawFactory(None))
        self.failureResultOf(d)
        self.assertIn("Refusing plain TCP", self.logged())

    def test_outbound_relay(self) -> None:
        """
        A route with transport=tcp dials without TLS; our Via says TCP and
        keep-alive pings are not answered on our own connection.
        """
        relay = Recorder()
        relay_transport = SipTransport(
            self.clock, relay, via_host="relay.test", trusted_relays=["192.0.2.1"]
        )
        self.network.listen("192.0.2.40", 5070, relay_transport.server_factory(tls=False))
        d = self.hub.connect(
            "b.test", "hub.test", targets=[Target("192.0.2.40", 5070, False, "route")]
        )
        self.network.flush()
        connection = self.successResultOf(d)
        self.assertTrue(connection.trusted_relay)
        self.assertEqual(connection.via("z9hG4bK1").transport, "TCP")
        options = Request(
            "OPTIONS",
            "sip:b.test",
            Headers(
                [
                    ("Via", connection.via("z9hG4bKo1").format()),
                    ("From", "<sip:hub.test>;tag=1"),
                    ("To", "<sip:b.test>"),
                    ("Call-ID", "relay-1"),
                    ("CSeq", "1 OPTIONS"),
                ]
            ),
        )
        connection.send(options)
        self.network.flush()
        ((received, _),) = relay.messages
        assert isinstance(received, Request)
        self.assertEqual(received.top_via.transport, "TCP")
        self.assertEqual(received.top_via.host, "sip.hub.test")

    def test_keepalive_not_answered_outbound(self) -> None:
        """
        On a connection we opened, a CRLF CRLF is not answered (we are the
        RFC 5626 client there).
        """
        connection = SipConnection(self.hub, outbound=True, tls=False)
        transport = StringTransport()
        connection.makeConnection(transport)
        connection.dataReceived(b"\r\n\r\n")
        self.assertEqual(transport.value(), b"")


class HandshakeTimeoutTests(TransportTestCase):
    """
    Connections that never finish TLS.
    """

    def test_inbound(self) -> None:
        """
        A client that never starts TLS is disconnected after the timeout.
        """
        client = self.raw(None)
        self.assertIsNone(client.lost)
        self.clock.advance(30)
        self.network.flush()
        self.assertIsNotNone(client.lost)
        self.assertIn("TLS handshake timed out", self.logged())
