# -*- test-case-name: tests.xmpp.test_pool -*-
"""
Tests for L{nextplane.connectors.xmpp.pool}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from nextplane.connectors.xmpp.pool import (
    ConnectionPool,
    PooledStream,
    StreamOpener,
    _StreamProtocolFactory,
)
from nextplane.connectors.xmpp.resolve import ServerResolver
from nextplane.connectors.xmpp.s2s_out import StreamPurpose
from nextplane.interfaces import DeliveryFailed
from tests.xmpp.fakenet import FakeResolver, Network, silent_factory


def message(n: int) -> domish.Element:
    element = domish.Element((None, "message"))
    element["id"] = str(n)
    return element


class FakeStream:
    """
    A ready outbound stream that records what it is asked to do.
    """

    def __init__(self, acknowledging: bool = False) -> None:
        self.sent: list[str] = []
        self.closed = False
        self.verifies: list[tuple[str, str, Deferred[bool]]] = []
        self._lost: Deferred[None] = Deferred()
        #: With stream management: each send waits for its confirmation.
        self.acknowledging = acknowledging
        self.unconfirmed: list[Deferred[None]] = []

    def send_stanza(self, stanza: domish.Element) -> Deferred[None]:
        if self.closed:
            raise DeliveryFailed("remote-server-timeout", "closed")
        self.sent.append(stanza["id"])
        d: Deferred[None] = Deferred()
        if self.acknowledging:
            self.unconfirmed.append(d)
        else:
            d.callback(None)
        return d

    def verify(self, stream_id: str, key: str) -> Deferred[bool]:
        d: Deferred[bool] = Deferred()
        self.verifies.append((stream_id, key, d))
        return d

    def close(self) -> None:
        self.closed = True

    def when_lost(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._lost.addCallback(lambda _: d.callback(None))
        return d

    def lose(self) -> None:
        self.closed = True
        self._lost.callback(None)


class FakeOpener:
    """
    Records open requests; the test decides their outcome.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, StreamPurpose, Deferred[PooledStream]]] = []

    def __call__(self, local: str, remote: str, purpose: StreamPurpose) -> Deferred[PooledStream]:
        d: Deferred[PooledStream] = Deferred()
        self.requests.append((local, remote, purpose, d))
        return d


class PoolTests(SynchronousTestCase):
    """
    Tests for L{ConnectionPool} with a fake opener.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.opener = FakeOpener()
        self.pool = ConnectionPool(self.clock, self.opener, max_queue=3, idle_timeout=100)

    def test_queue_while_connecting(self) -> None:
        """
        Stanzas sent while the stream opens are queued and sent in order
        once it is ready; their Deferreds fire then.
        """
        ds = [self.pool.send("hub.test", "peer.test", message(i)) for i in range(3)]
        self.assertEqual(len(self.opener.requests), 1)
        self.assertEqual(self.pool.queued("hub.test", "peer.test"), 3)
        self.assertNoResult(ds[0])
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        self.assertEqual(stream.sent, ["0", "1", "2"])
        for d in ds:
            self.assertIsNone(self.successResultOf(d))

    def test_sent_once_confirmed(self) -> None:
        """
        On a stream that confirms stanzas (stream management), a send
        fires when the stream confirms it, whether it was queued or sent at
        once, and fails when the stream fails it.
        """
        queued = self.pool.send("hub.test", "peer.test", message(1))
        stream = FakeStream(acknowledging=True)
        self.opener.requests[0][3].callback(stream)
        direct = self.pool.send("hub.test", "peer.test", message(2))
        self.assertEqual(stream.sent, ["1", "2"])
        self.assertNoResult(queued)
        self.assertNoResult(direct)
        stream.unconfirmed[0].callback(None)
        self.assertIsNone(self.successResultOf(queued))
        stream.unconfirmed[1].errback(DeliveryFailed("remote-server-timeout", "ended"))
        self.assertEqual(
            self.failureResultOf(direct, DeliveryFailed).value.condition, "remote-server-timeout"
        )

    def test_reuse(self) -> None:
        """
        A ready stream is reused for later stanzas of the same pair.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        self.successResultOf(self.pool.send("hub.test", "peer.test", message(2)))
        self.assertEqual(stream.sent, ["1", "2"])
        self.assertEqual(len(self.opener.requests), 1)
        self.assertIs(self.pool.stream_for("hub.test", "peer.test"), stream)

    def test_pairs_are_separate(self) -> None:
        """
        Different (local, remote) pairs get different streams.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        self.pool.send("other.test", "peer.test", message(2))
        self.assertEqual(
            [(r[0], r[1]) for r in self.opener.requests],
            [("hub.test", "peer.test"), ("other.test", "peer.test")],
        )

    def test_drop(self) -> None:
        """
        L{ConnectionPool.pairs} lists the pairs with a ready stream;
        L{ConnectionPool.drop} closes one and forgets it, so the next send
        opens a new stream.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        self.pool.send("hub.test", "slow.test", message(2))
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        self.assertEqual(self.pool.pairs(), [("hub.test", "peer.test")])
        self.assertFalse(self.pool.drop("hub.test", "slow.test"))
        self.assertTrue(self.pool.drop("hub.test", "peer.test"))
        self.assertTrue(stream.closed)
        self.assertEqual(self.pool.pairs(), [])
        self.assertIsNone(self.pool.stream_for("hub.test", "peer.test"))
        self.assertFalse(self.pool.drop("hub.test", "peer.test"))
        d = self.pool.send("hub.test", "peer.test", message(3))
        self.assertEqual(len(self.opener.requests), 3)
        self.assertNoResult(d)

    def test_queue_cap(self) -> None:
        """
        Beyond max_queue, sends fail at once with resource-constraint.
        """
        for i in range(3):
            self.pool.send("hub.test", "peer.test", message(i))
        failure = self.failureResultOf(
            self.pool.send("hub.test", "peer.test", message(9)), DeliveryFailed
        )
        self.assertEqual(failure.value.condition, "resource-constraint")

    def test_unreachable(self) -> None:
        """
        When opening fails, every queued stanza fails with its condition.
        """
        ds = [self.pool.send("hub.test", "peer.test", message(i)) for i in range(2)]
        self.opener.requests[0][3].errback(DeliveryFailed("remote-server-not-found", "nxdomain"))
        for d in ds:
            self.assertEqual(
                self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-not-found"
            )
        self.assertEqual(self.pool.queued("hub.test", "peer.test"), 0)
        self.pool.send("hub.test", "peer.test", message(3))
        self.assertEqual(len(self.opener.requests), 2)

    def test_unexpected_error(self) -> None:
        """
        An unexpected opener error fails the queue with
        remote-server-not-found and is logged.
        """
        d = self.pool.send("hub.test", "peer.test", message(1))
        self.opener.requests[0][3].errback(RuntimeError("bug"))
        self.assertEqual(
            self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-not-found"
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_idle_close(self) -> None:
        """
        A stream unused for idle_timeout seconds is closed; each send
        restarts the timer; after closing a send opens a new stream.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        self.clock.advance(60)
        self.pool.send("hub.test", "peer.test", message(2))
        self.clock.advance(60)
        self.assertFalse(stream.closed)
        self.clock.advance(40)
        self.assertTrue(stream.closed)
        self.assertIsNone(self.pool.stream_for("hub.test", "peer.test"))
        self.pool.send("hub.test", "peer.test", message(3))
        self.assertEqual(len(self.opener.requests), 2)

    def test_lost_stream(self) -> None:
        """
        A stream whose connection drops is forgotten; the next send reopens.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        stream.lose()
        self.assertIsNone(self.pool.stream_for("hub.test", "peer.test"))
        self.pool.send("hub.test", "peer.test", message(2))
        self.assertEqual(len(self.opener.requests), 2)

    def test_cancel_queued(self) -> None:
        """
        Cancelling a queued send removes it from the queue.
        """
        d = self.pool.send("hub.test", "peer.test", message(1))
        self.pool.send("hub.test", "peer.test", message(2))
        d.cancel()
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        self.assertEqual(stream.sent, ["2"])
        self.failureResultOf(d)

    def test_verify_over_existing_stream(self) -> None:
        """
        Dialback verification uses the pair's ready stream when there is one.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        d = self.pool.verify("hub.test", "peer.test", "sid", "key")
        self.assertEqual(len(self.opener.requests), 1)
        stream.verifies[0][2].callback(True)
        self.assertTrue(self.successResultOf(d))

    def test_verify_over_new_stream(self) -> None:
        """
        Without a ready stream, a dedicated verification stream is opened,
        asked, and closed afterwards.
        """
        d = self.pool.verify("hub.test", "peer.test", "sid", "key")
        _local, _remote, purpose, opening = self.opener.requests[0]
        self.assertEqual(purpose, StreamPurpose.VERIFY)
        stream = FakeStream()
        opening.callback(stream)
        self.assertEqual(stream.verifies[0][:2], ("sid", "key"))
        stream.verifies[0][2].callback(False)
        self.assertFalse(self.successResultOf(d))
        self.assertTrue(stream.closed)

    def test_verify_unreachable(self) -> None:
        """
        Verification fails with the opener's condition.
        """
        d = self.pool.verify("hub.test", "peer.test", "sid", "key")
        self.opener.requests[0][3].errback(DeliveryFailed("remote-server-not-found", "x"))
        self.assertEqual(
            self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-not-found"
        )

    def test_close(self) -> None:
        """
        Closing the pool closes ready streams, fails queued stanzas and
        refuses new sends.
        """
        self.pool.send("hub.test", "peer.test", message(1))
        stream = FakeStream()
        self.opener.requests[0][3].callback(stream)
        queued = self.pool.send("hub.test", "else.test", message(2))
        done = self.pool.close()
        self.assertTrue(stream.closed)
        self.failureResultOf(queued, DeliveryFailed)
        self.failureResultOf(self.pool.send("hub.test", "peer.test", message(3)), DeliveryFailed)
        self.assertNoResult(done)
        stream.lose()
        self.successResultOf(done)


class NeverReady:
    """
    Stands in for an OutboundStream in opener tests.
    """

    def __init__(self) -> None:
        self.ready: Deferred[Any] = Deferred()
        self.dropped = False

    def makeConnection(self, transport: object) -> None:
        self.transport = transport

    def when_ready(self) -> Deferred[Any]:
        return self.ready

    def drop_connection(self) -> None:
        self.dropped = True


class OpenerTests(SynchronousTestCase):
    """
    Tests for L{StreamOpener} over the in-memory network.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.network = Network(self.clock)
        self.dns = FakeResolver()
        self.streams: list[Any] = []

    def opener(self, routes: dict[str, str] | None = None) -> StreamOpener:
        def stream_factory(
            local: str, remote: str, purpose: StreamPurpose, direct_tls: bool
        ) -> Any:
            stream = NeverReady()
            stream.direct_tls = direct_tls  # type: ignore[attr-defined]
            self.streams.append(stream)
            return stream

        return StreamOpener(
            self.clock,
            ServerResolver(self.dns, routes),
            self.network.endpoint,
            stream_factory,
            connect_timeout=10,
        )

    def test_factory_is_quiet(self) -> None:
        """
        The per-connection protocol factory starts and stops without a log
        line ("Starting factory ..." for every s2s connection was noise).
        """
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        factory = _StreamProtocolFactory(NeverReady())  # type: ignore[arg-type]
        factory.doStart()
        factory.doStop()
        self.assertEqual([formatEvent(e) for e in events], [])

    def test_connection_refused(self) -> None:
        """
        When every address refuses, the open fails with
        remote-server-not-found.
        """
        self.dns.a["peer.test"] = ["192.0.2.1", "192.0.2.2"]
        d = self.opener().open("hub.test", "peer.test", StreamPurpose.DELIVER)
        self.assertEqual(
            self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-not-found"
        )
        self.assertEqual(self.network.attempts, [("192.0.2.1", 5269), ("192.0.2.2", 5269)])

    def test_no_address(self) -> None:
        """
        A domain without any address is remote-server-not-found.
        """
        d = self.opener().open("hub.test", "peer.test", StreamPurpose.DELIVER)
        failure = self.failureResultOf(d, DeliveryFailed)
        self.assertEqual(failure.value.condition, "remote-server-not-found")

    def test_no_service(self) -> None:
        """
        An explicit no-service SRV record is remote-server-not-found.
        """
        self.dns.srv["_xmpp-server._tcp.peer.test"] = [(0, 0, 0, ".")]
        d = self.opener().open("hub.test", "peer.test", StreamPurpose.DELIVER)
        self.assertEqual(
            self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-not-found"
        )

    def test_connect_timeout(self) -> None:
        """
        A connection attempt that never completes times out with
        remote-server-timeout.
        """
        self.network.hanging.add(("10.9.9.9", 5269))
        d = self.opener({"peer.test": "10.9.9.9:5269"}).open(
            "hub.test", "peer.test", StreamPurpose.DELIVER
        )
        self.assertNoResult(d)
        self.clock.advance(10)
        self.assertEqual(
            self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-timeout"
        )

    def test_next_target(self) -> None:
        """
        After a refused target the next SRV target is tried, and the stream
        is returned once ready; direct TLS targets are flagged.
        """
        self.dns.srv["_xmpps-server._tcp.peer.test"] = [(0, 0, 5270, "a.peer.test")]
        self.dns.srv["_xmpp-server._tcp.peer.test"] = [(0, 0, 5269, "b.peer.test")]
        self.dns.a["a.peer.test"] = ["192.0.2.1"]
        self.dns.a["b.peer.test"] = ["192.0.2.2"]
        self.network.listen("192.0.2.2", 5269, silent_factory())
        d = self.opener().open("hub.test", "peer.test", StreamPurpose.DELIVER)
        self.assertEqual(self.network.attempts, [("192.0.2.1", 5270), ("192.0.2.2", 5269)])
        self.assertEqual([s.direct_tls for s in self.streams], [True, False])
        self.streams[1].ready.callback(self.streams[1])
        self.assertIs(self.successResultOf(d), self.streams[1])

    def test_negotiation_failure_not_retried(self) -> None:
        """
        A connection that fails negotiation fails the open with its
        condition rather than trying the next address.
        """
        self.dns.a["peer.test"] = ["192.0.2.1", "192.0.2.2"]
        self.network.listen("192.0.2.1", 5269, silent_factory())
        self.network.listen("192.0.2.2", 5269, silent_factory())
        d = self.opener().open("hub.test", "peer.test", StreamPurpose.DELIVER)
        self.streams[0].ready.errback(DeliveryFailed("remote-server-timeout", "dialback refused"))
        self.assertEqual(self.failureResultOf(d, DeliveryFailed).value.reason, "dialback refused")
        self.assertEqual(len(self.network.attempts), 1)

    def test_cancel_drops_connection(self) -> None:
        """
        Cancelling an open that is negotiating drops its connection.
        """
        self.network.listen("192.0.2.1", 5269, silent_factory())
        d = self.opener({"peer.test": "192.0.2.1"}).open(
            "hub.test", "peer.test", StreamPurpose.DELIVER
        )
        d.cancel()
        self.failureResultOf(d)
        self.assertTrue(self.streams[0].dropped)
