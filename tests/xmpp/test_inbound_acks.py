# -*- test-case-name: tests.xmpp.test_inbound_acks -*-
"""
Tests for L{nextplane.connectors.xmpp.inbound_acks}: stream management
(XEP-0198) on the s2s streams the hub receives, alone and between two
L{S2SService}s on an in-memory network (the sending side is the hub's own
outbound stream, which counts a stanza sent once acknowledged).
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from nextplane.connectors.xmpp import acks
from nextplane.connectors.xmpp.inbound_acks import (
    HandledCount,
    InboundStreamManagement,
    Intake,
    intake_of,
)
from nextplane.connectors.xmpp.stream import StreamError
from nextplane.interfaces import DeliveryFailed
from tests.xmpp.certs import pki
from tests.xmpp.test_s2s import Federation, message

SM_FEATURE = b"<sm xmlns='urn:xmpp:sm:3'/>"


def sm(name: str) -> domish.Element:
    return domish.Element((acks.NS_SM, name))


class HandledCountTests(SynchronousTestCase):
    """
    Tests for L{HandledCount}.
    """

    def test_in_order(self) -> None:
        """
        C{h} counts each stanza once it is done, in order.
        """
        count = HandledCount()
        positions = [count.received() for _ in range(3)]
        self.assertEqual(positions, [0, 1, 2])
        count.done(0)
        self.assertEqual((count.h, count.unconfirmed), (1, 2))
        count.done(1)
        count.done(2)
        self.assertEqual((count.h, count.unconfirmed), (3, 0))

    def test_out_of_order(self) -> None:
        """
        A later stanza done first is not covered before the earlier ones:
        C{h} jumps once the first is done.
        """
        count = HandledCount()
        first, second, third = (count.received() for _ in range(3))
        count.done(third)
        count.done(second)
        self.assertEqual(count.h, 0)
        count.done(first)
        self.assertEqual((count.h, count.unconfirmed), (3, 0))

    def test_second_report_ignored(self) -> None:
        """
        A stanza reported done twice counts once.
        """
        count = HandledCount()
        position = count.received()
        count.received()
        count.done(position)
        count.done(position)
        self.assertEqual((count.h, count.unconfirmed), (1, 1))

    def test_done_reports_advance(self) -> None:
        """
        L{HandledCount.done} says whether C{h} advanced.
        """
        count = HandledCount()
        first, second = count.received(), count.received()
        self.assertFalse(count.done(second))
        self.assertTrue(count.done(first))
        self.assertEqual(count.h, 2)

    def test_wraps_at_two_to_the_32(self) -> None:
        """
        Positions and C{h} wrap at 2^32; out-of-order completion across the
        wrap still advances C{h} in order.
        """
        count = HandledCount()
        count._h = 2**32 - 2  # as after that many stanzas
        positions = [count.received() for _ in range(3)]
        self.assertEqual(positions, [2**32 - 2, 2**32 - 1, 0])
        count.done(0)
        count.done(2**32 - 1)
        self.assertEqual(count.h, 2**32 - 2)
        count.done(2**32 - 2)
        self.assertEqual(count.h, 1)
        self.assertEqual(acks.answer(count.h)["h"], "1")

    def test_bounded(self) -> None:
        """
        At most C{limit} stanzas wait to be covered.
        """
        count = HandledCount(limit=2)
        count.received()
        count.received()
        self.assertRaises(OverflowError, count.received)
        count.done(0)
        count.received()


class InboundStreamManagementTests(SynchronousTestCase):
    """
    Tests for L{InboundStreamManagement} alone.
    """

    def setUp(self) -> None:
        self.sent: list[domish.Element] = []
        self.errors: list[StreamError] = []
        self.sm = InboundStreamManagement(self.sent.append, self.errors.append, lambda: "s")

    def names(self) -> list[str]:
        return [e.name for e in self.sent]

    def test_not_before_authentication(self) -> None:
        """
        C{<enable/>} on a stream not authenticated fails; stanzas are then
        not counted.
        """
        self.sm.element_received(sm("enable"), authenticated=False)
        [failed] = self.sent
        self.assertEqual(failed.name, "failed")
        self.assertEqual(failed.firstChildElement().name, "unexpected-request")
        self.sm.track(None)
        self.assertIsNone(self.sm.count)

    def test_enable_once(self) -> None:
        """
        C{<enable/>} is answered C{<enabled/>} without resumption; a second
        one fails.
        """
        self.sm.element_received(sm("enable"), authenticated=True)
        self.sm.element_received(sm("enable"), authenticated=True)
        self.assertEqual(self.names(), ["enabled", "failed"])
        self.assertIsNone(self.sent[0].getAttribute("resume"))
        self.assertIsNone(self.sent[0].getAttribute("id"))

    def test_request_before_enable(self) -> None:
        """
        C{<r/>} and C{<a/>} before C{<enable/>} are ignored (as Prosody
        does); other elements are a stream error.
        """
        self.sm.element_received(sm("r"), authenticated=True)
        self.sm.element_received(sm("a"), authenticated=True)
        self.assertEqual(self.sent, [])
        with self.assertRaises(StreamError) as raised:
            self.sm.element_received(sm("resume"), authenticated=True)
        self.assertEqual(raised.exception.condition, "unsupported-stanza-type")

    def test_acknowledged_in_order(self) -> None:
        """
        Whenever C{h} advances, an unsolicited C{<a/>} goes out, never
        covering a stanza before the earlier ones are durable; it answers
        an C{<r/>} that came while stanzas were not covered. With every
        stanza covered, C{<r/>} is answered at once.
        """
        self.sm.element_received(sm("enable"), authenticated=True)
        self.sm.element_received(sm("r"), authenticated=True)
        self.assertEqual((self.names(), self.sent[-1]["h"]), (["enabled", "a"], "0"))
        durables: list[Deferred[bool]] = [Deferred() for _ in range(3)]
        for d in durables:
            self.sm.track(d)
        self.sm.track(None)  # answered at once, behind the others
        self.sm.element_received(sm("r"), authenticated=True)
        durables[2].callback(True)
        durables[1].callback(True)
        self.assertEqual(len(self.sent), 2)
        durables[0].callback(True)
        self.assertEqual((self.names(), self.sent[-1]["h"]), (["enabled", "a", "a"], "4"))

    def test_not_durable(self) -> None:
        """
        A stanza that could not be made durable ends the stream.
        """
        self.sm.element_received(sm("enable"), authenticated=True)
        self.sm.track(succeed(False))
        [error] = self.errors
        self.assertEqual(error.condition, "internal-server-error")

    def test_too_many_unconfirmed(self) -> None:
        """
        Past the bound, a stanza ends the stream (resource-constraint).
        """
        self.sm.element_received(sm("enable"), authenticated=True)
        assert self.sm.count is not None
        self.sm.count._limit = 1
        self.sm.track(Deferred())
        with self.assertRaises(StreamError) as raised:
            self.sm.track(None)
        self.assertEqual(raised.exception.condition, "resource-constraint")

    def test_closing_and_lost(self) -> None:
        """
        Closing sends the current C{h} unasked; once the connection is
        lost, late durability reports are ignored.
        """
        self.sm.closing()
        self.assertEqual(self.sent, [])
        self.sm.element_received(sm("enable"), authenticated=True)
        late: Deferred[bool] = Deferred()
        self.sm.track(None)
        self.sm.track(late)
        self.sm.closing()
        self.assertEqual(self.sent[-1]["h"], "1")
        self.sm.lost()
        self.sm.element_received(sm("r"), authenticated=True)
        late.callback(False)
        self.assertEqual((self.names(), self.errors), (["enabled", "a", "a"], []))

    def test_intake_of(self) -> None:
        """
        A plain handler result is durable once handled; an L{Intake} is
        taken as it is.
        """
        self.assertEqual(intake_of(None), Intake(None, None))
        self.assertEqual(intake_of(succeed(None)), Intake(None, None))
        handled: Deferred[object] = Deferred()
        intake = intake_of(handled)
        assert intake.durable is not None
        self.assertIs(intake.handled, handled)
        self.assertNoResult(intake.durable)
        handled.callback("result")
        self.assertTrue(self.successResultOf(intake.durable))
        self.assertEqual(self.successResultOf(handled), "result")
        given = Intake(None, Deferred())
        self.assertIs(intake_of(given), given)


class FederatedStreamManagementTests(SynchronousTestCase):
    """
    The hub's inbound stream management against the hub's own outbound
    streams (which enable it when offered), over TLS in memory.
    """

    def federation(self, **kwargs: object) -> tuple[Federation, list[Deferred[bool]]]:
        """
        A federation whose hub makes each stanza durable when the test
        fires its L{Deferred}.
        """
        f = Federation(**kwargs)  # type: ignore[arg-type]
        durables: list[Deferred[bool]] = []

        def on_stanza(stanza: domish.Element) -> Intake:
            f.hub_received.append(stanza)
            durables.append(Deferred())
            return Intake(None, durables[-1])

        f.hub._on_stanza = on_stanza
        return f, durables

    def test_negotiated_after_external(self) -> None:
        """
        After SASL EXTERNAL the restarted stream's features offer C{<sm/>};
        the sender enables it, and the hub's counter is on.
        """
        f = Federation()
        outputs: list[bytes] = []
        f.hub.trace = lambda stream, way, data: outputs.append(data) if way == "out" else None
        self.successResultOf(f.send(f.peer, message()))
        inbound = f.hub_inbound()
        self.assertEqual(inbound.sasl_domain, "peer.test")
        assert inbound.sm.count is not None
        self.assertEqual(inbound.sm.count.h, 1)
        self.assertIsNotNone(f.outbound(f.peer, "peer.test", "hub.test").acks)
        features = [o for o in outputs if b"<stream:features>" in o]
        # The hub's inbound stream: before TLS, before and after EXTERNAL.
        self.assertEqual([SM_FEATURE in o for o in features], [False, False, True], features)
        self.assertIn(b"<mechanisms", features[1])

    def test_acknowledged_once_durable(self) -> None:
        """
        The sender's stanzas count as sent only once the hub made them
        durable, in order, even when a later one is durable first.
        """
        f, durables = self.federation()
        sends = [f.send(f.peer, message(body=str(i))) for i in range(3)]
        f.net.flush()
        self.assertEqual(len(durables), 3)
        durables[1].callback(True)
        durables[2].callback(True)
        f.clock.advance(0)
        f.net.flush()
        for d in sends:
            self.assertNoResult(d)
        durables[0].callback(True)
        f.clock.advance(0)
        f.net.flush()
        for d in sends:
            self.assertIsNone(self.successResultOf(d))

    def test_without_stream_management(self) -> None:
        """
        A dialback stream (no restart after authentication, so no
        features after it) is not offered stream management; stanzas flow
        as before.
        """
        f = Federation(peer_tls=pki().peer_untrusted)
        self.successResultOf(f.send(f.peer, message()))
        self.assertEqual(len(f.hub_received), 1)
        self.assertIsNone(f.hub_inbound().sm.count)
        outbound = f.outbound(f.peer, "peer.test", "hub.test")
        self.assertEqual(outbound.authentication, "dialback")
        self.assertIsNone(outbound.acks)

    def test_unsolicited_ack_on_close(self) -> None:
        """
        Closing gracefully, the hub first tells the sender what it covered;
        a stanza not yet durable then is not confirmed (its sender is told).
        """
        f, durables = self.federation()
        first = f.send(f.peer, message(body="0"))
        durables[0].callback(True)
        f.clock.advance(0)
        f.net.flush()
        self.successResultOf(first)
        second = f.send(f.peer, message(body="1"))
        inbound = f.hub_inbound()
        out: list[bytes] = []
        inbound.trace = lambda stream, way, data: out.append(data) if way == "out" else None
        inbound.close()
        f.net.flush()
        joined = b"".join(out)
        self.assertIn(b"<a xmlns='urn:xmpp:sm:3' h='1'/></stream:stream>", joined)
        self.failureResultOf(second, DeliveryFailed)
        durables[1].callback(True)  # too late: the stream is gone

    def test_unrecorded_stanza_bounced(self) -> None:
        """
        A stanza the hub could not make durable ends the stream, after a
        last C{<a/>} covering the one before it: the sender learns which
        were taken and which not.
        """
        f, durables = self.federation()
        sends = [f.send(f.peer, message(body=str(i))) for i in range(3)]
        f.net.flush()
        inbound = f.hub_inbound()
        durables[2].callback(True)
        durables[0].callback(True)
        durables[1].callback(False)
        f.net.flush()
        assert inbound.error is not None
        self.assertEqual(inbound.error.condition, "internal-server-error")
        self.assertIsNone(self.successResultOf(sends[0]))
        self.failureResultOf(sends[1], DeliveryFailed)
        # Durable, but behind the failed one: never acknowledged, so told.
        self.failureResultOf(sends[2], DeliveryFailed)
