"""
Tests for L{nextplane.connectors.sip.guard} through the transport: message
and idle deadlines, the header-count limit, garbage input and connections
per address, over the in-memory network with real TLS and a fake clock.
"""

from __future__ import annotations

import os

from nextplane.connectors.sip.guard import AddressCounter, Limits
from nextplane.connectors.sip.message import ParseError
from nextplane.connectors.sip.parser import StreamParser

from .test_transport import HUB_IP, RawClient, RawFactory, TransportTestCase, message_request

LIMITS = Limits(
    message_timeout=5.0, idle_timeout=60.0, max_headers=50, max_connections_per_address=3
)


class GuardTestCase(TransportTestCase):
    """
    A hub with short deadlines and small limits.
    """

    def setUp(self) -> None:
        super().setUp()
        self.hub.limits = LIMITS
        self.busy = False
        self.hub_receiver.busy = lambda flow: self.busy  # type: ignore[method-assign]

    def client(self) -> RawClient:
        client = self.raw(self.peer_creator())
        self.assertTrue(client.handshake_done)
        return client

    def advance(self, seconds: float) -> None:
        self.network.flush()
        self.clock.advance(seconds)
        self.network.flush()

    def closings(self) -> list[str]:
        return [line for line in self.logged().splitlines() if "Closing SIP connection" in line]


class MessageDeadlineTests(GuardTestCase):
    """
    A started message must be complete within C{message_timeout}.
    """

    def test_short_body(self) -> None:
        """
        A Content-Length larger than the body: 400 when the deadline
        passes, then the connection closes.
        """
        client = self.client()
        client.send(message_request().replace(b"Content-Length: 7", b"Content-Length: 70"))
        self.advance(4.9)
        self.assertEqual((client.received, client.lost), (b"", None))
        self.advance(0.2)
        (response,) = client.responses()
        self.assertEqual((response.status, response.reason), (400, "Message not completed in time"))
        self.assertIsNotNone(client.lost)
        self.assertEqual(self.hub_receiver.messages, [])
        self.assertIn("message not completed in time", self.closings()[0])

    def test_slow_headers(self) -> None:
        """
        Headers trickling in never extend the deadline.
        """
        client = self.client()
        data = message_request()
        for index in range(4):
            client.send(data[index * 10 : index * 10 + 10])
            self.advance(1.0)
        self.assertIsNone(client.lost)
        self.advance(1.1)
        self.assertIsNotNone(client.lost)
        self.assertEqual(client.received, b"")

    def test_busy_extends(self) -> None:
        """
        While the hub has work of the connection in hand (it may have
        stopped reading it), a started message is not cut off.
        """
        client = self.client()
        client.send(message_request()[:40])
        self.busy = True
        self.advance(20)
        self.assertIsNone(client.lost)
        self.busy = False
        self.advance(5.1)
        self.assertIsNotNone(client.lost)

    def test_complete_messages(self) -> None:
        """
        Complete messages, however slow between them, never trip it.
        """
        client = self.client()
        for index in range(3):
            client.send(message_request(branch=f"z9hG4bKm{index}"))
            self.advance(4.0)
        self.assertIsNone(client.lost)
        self.assertEqual(len(self.hub_receiver.messages), 3)


class IdleTests(GuardTestCase):
    """
    A connection the peer opened closes when idle with no transaction.
    """

    def test_silent_connection(self) -> None:
        """
        A verified connection that sends nothing closes at the deadline.
        """
        client = self.client()
        self.advance(59)
        self.assertIsNone(client.lost)
        self.advance(1.5)
        self.assertIsNotNone(client.lost)
        self.assertIn("idle", self.closings()[0])
        self.assertEqual(len(self.hub.table), 0)

    def test_traffic_extends(self) -> None:
        """
        Keep-alives and messages count as traffic.
        """
        client = self.client()
        self.advance(50)
        client.send(b"\r\n\r\n")
        self.advance(50)
        client.send(message_request())
        self.advance(50)
        self.assertIsNone(client.lost)
        self.advance(11)
        self.assertIsNotNone(client.lost)

    def test_busy(self) -> None:
        """
        A connection a transaction uses stays open until it is done.
        """
        client = self.client()
        self.busy = True
        self.advance(200)
        self.assertIsNone(client.lost)
        self.busy = False
        self.advance(61)
        self.assertIsNotNone(client.lost)

    def test_outbound_not_idled(self) -> None:
        """
        Our own connections are not closed for idleness by us.
        """
        self.peer.limits = Limits(idle_timeout=10_000.0)
        d = self.hub.connect("peer.test", "hub.test")
        self.network.flush()
        outbound = self.successResultOf(d)
        self.advance(5000)
        self.assertFalse(outbound.closed)

    def test_log_not_flooded(self) -> None:
        """
        Many idle closings make a few log lines and a count.
        """
        self.hub.limits = Limits(idle_timeout=60.0, max_connections_per_address=100)
        clients = [self.client() for _ in range(30)]
        self.advance(61)
        self.assertTrue(all(c.lost is not None for c in clients))
        self.assertEqual(len(self.closings()), 10)
        self.assertEqual(self.hub.refusals.suppressed, 20)


class BadInputTests(GuardTestCase):
    """
    Input that is not SIP, or too much of it, closes at once.
    """

    def test_many_headers(self) -> None:
        """
        2,000 headers: 400 and close, without any clock time.
        """
        self.hub.limits = Limits()
        client = self.client()
        extra = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
        client.send(message_request().replace(b"Content-Type:", extra + b"Content-Type:"))
        self.network.flush()
        (response,) = client.responses()
        self.assertEqual((response.status, response.reason), (400, "Too many headers"))
        self.assertIsNotNone(client.lost)
        self.assertEqual(self.hub_receiver.messages, [])

    def test_random_bytes(self) -> None:
        """
        Random bytes close the connection at once.
        """
        for _ in range(5):
            client = self.client()
            client.send(os.urandom(64))
            self.network.flush()
            self.assertIsNotNone(client.lost)
            self.assertEqual(client.received, b"")

    def test_http(self) -> None:
        """
        A start line that is not SIP closes the connection at once.
        """
        client = self.client()
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        self.network.flush()
        self.assertIsNotNone(client.lost)


class PerAddressTests(GuardTestCase):
    """
    Inbound connections per address are limited.
    """

    def test_limit(self) -> None:
        """
        Past the limit a connection is refused; once one closes, another
        is accepted.
        """
        clients = [self.client() for _ in range(3)]
        self.failureResultOf(self.network.endpoint(HUB_IP, 5061).connect(RawFactory(None)))
        self.assertIn("3 connections from that address already", self.logged())
        clients[0].transport.loseConnection()  # type: ignore[union-attr]
        self.network.flush()
        self.assertFalse(self.client().lost)
        self.assertEqual(self.hub.addresses.count("192.0.2.1"), 3)


class ParserLimitTests(GuardTestCase):
    """
    The parser's own checks.
    """

    def test_header_count(self) -> None:
        parser = StreamParser(max_headers=10)
        data = message_request()
        (ok,) = parser.feed(data)
        self.assertNotIsInstance(ok, ParseError)
        parser = StreamParser(max_headers=5)
        (error,) = parser.feed(data)
        assert isinstance(error, ParseError)
        self.assertEqual((error.status, error.fatal), (400, True))
        self.assertEqual(
            error.message.header("Call-ID") if error.message else None, "raw-z9hG4bKraw1"
        )

    def test_start_line(self) -> None:
        for garbage in [b"\x16\x03\x01\x02\x00", b"INVITE sip:a@b SIP/2.0\x00", b"x" * 9000]:
            (error,) = StreamParser().feed(garbage)
            assert isinstance(error, ParseError)
            self.assertTrue(error.fatal)
        self.assertEqual(StreamParser().feed(b"INVITE sip:a@b SIP/2.0\r\nVia"), [])
        self.assertEqual(StreamParser().feed("SIP/2.0 200 Grüezi".encode()), [])

    def test_counter(self) -> None:
        counter = AddressCounter()
        self.assertTrue(counter.acquire("a", 1))
        self.assertFalse(counter.acquire("a", 1))
        counter.release("a")
        self.assertEqual(counter.count("a"), 0)
