# -*- test-case-name: tests.xmpp.test_acks -*-
"""
Tests for L{nextplane.connectors.xmpp.acks} and stream management on
L{nextplane.connectors.xmpp.s2s_out.OutboundStream}.
"""

from __future__ import annotations

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from nextplane.connectors.xmpp import acks
from nextplane.connectors.xmpp.s2s_out import OutboundState, OutboundStream
from nextplane.interfaces import DeliveryFailed
from tests.xmpp.test_s2s import OutboundStringBase

SM = "xmlns='urn:xmpp:sm:3'"


class AckQueueTests(SynchronousTestCase):
    """
    Tests for L{acks.AckQueue}.
    """

    def test_confirmed_in_order(self) -> None:
        """
        An acknowledgement confirms the stanzas it counts, oldest first;
        a later one counts from the total, not from the last answer.
        """
        queue = acks.AckQueue()
        sent = [queue.sent() for _ in range(3)]
        queue.acknowledge(2)
        self.successResultOf(sent[0])
        self.successResultOf(sent[1])
        self.assertNoResult(sent[2])
        self.assertEqual(queue.unacked, 1)
        queue.acknowledge(2)
        self.assertNoResult(sent[2])
        queue.acknowledge(3)
        self.successResultOf(sent[2])

    def test_wraps_at_two_to_the_32(self) -> None:
        """
        C{h} counts modulo 2^32: 1 after 2^32 - 1 confirms two stanzas.
        """
        queue = acks.AckQueue()
        queue._acked = 2**32 - 2  # as after that many stanzas
        sent = [queue.sent() for _ in range(3)]
        queue.acknowledge(1)
        for d in sent:
            self.successResultOf(d)

    def test_too_many(self) -> None:
        """
        An acknowledgement of more stanzas than were sent is an error.
        """
        queue = acks.AckQueue()
        queue.sent()
        self.assertRaises(ValueError, queue.acknowledge, 2)

    def test_fail(self) -> None:
        """
        When the stream ends, every unconfirmed stanza fails; one its
        sender stopped waiting for is left alone.
        """
        queue = acks.AckQueue()
        given_up, waiting = queue.sent(), queue.sent()
        given_up.cancel()
        self.failureResultOf(given_up, CancelledError)
        queue.fail(DeliveryFailed("remote-server-timeout", "gone"))
        self.failureResultOf(waiting, DeliveryFailed)
        self.assertEqual(queue.unacked, 0)

    def test_one_request_at_a_time(self) -> None:
        """
        A request is due when stanzas are unconfirmed and none is in
        flight; an answer allows the next.
        """
        queue = acks.AckQueue()
        self.assertFalse(queue.request_due())
        queue.sent()
        self.assertTrue(queue.request_due())
        queue.sent()
        self.assertFalse(queue.request_due())
        queue.acknowledge(1)
        self.assertTrue(queue.request_due())

    def test_parse_h(self) -> None:
        """
        C{h} must be an unsigned 32-bit decimal number.
        """
        element = domish.Element((acks.NS_SM, "a"))
        for good, value in (("0", 0), ("4294967295", 2**32 - 1)):
            element["h"] = good
            self.assertEqual(acks.parse_h(element), value)
        for bad in ("", "-1", "4294967296", "1e3", "²", "12345678901"):
            element["h"] = bad
            self.assertRaises(ValueError, acks.parse_h, element)


class OutboundStreamManagementTests(OutboundStringBase):
    """
    Stream management on an outbound stream driven with strings: the
    peer offers it after SASL EXTERNAL, as Prosody does.
    """

    def authenticated(self, features: str) -> OutboundStream:
        """
        A stream to C{lax.test} through TLS and SASL EXTERNAL, at its
        post-authentication features.
        """
        stream = self.connect("lax.test")
        self.through_tls(stream, "lax.test")
        self.feed(
            stream,
            self.peer_header("lax.test") + "<stream:features><mechanisms"
            " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism>"
            "</mechanisms></stream:features>",
        )
        self.feed(stream, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        self.sent_after_features = self.feed(
            stream, self.peer_header("lax.test") + f"<stream:features>{features}</stream:features>"
        )
        return stream

    def managed(self) -> OutboundStream:
        stream = self.authenticated(f"<sm {SM}><optional/></sm>")
        self.assertEqual(self.sent_after_features, f"<enable {SM}/>".encode())
        self.assertEqual(stream.state, OutboundState.ENABLING_SM)
        self.assertNoResult(self.ready)
        self.feed(stream, f"<enabled {SM}/>")
        self.assertIs(self.successResultOf(self.ready), stream)
        return stream

    def stanza(self, n: int) -> domish.Element:
        element = domish.Element(("jabber:server", "message"))
        element["from"], element["to"], element["id"] = "a@hub.test", "b@lax.test", f"m{n}"
        return element

    def test_without_stream_management(self) -> None:
        """
        A peer that does not offer it: ready at once, and a stanza counts
        as sent once written (nothing better is known).
        """
        stream = self.authenticated("")
        self.assertIs(self.successResultOf(self.ready), stream)
        self.assertIsNone(stream.acks)
        self.successResultOf(stream.send_stanza(self.stanza(1)))

    def test_refused(self) -> None:
        """
        A peer that answers C{<failed/>}: the stream is used without it.
        """
        stream = self.authenticated(f"<sm {SM}/>")
        self.feed(
            stream,
            f"<failed {SM}><unexpected-request"
            " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
        )
        self.assertIs(self.successResultOf(self.ready), stream)
        self.successResultOf(stream.send_stanza(self.stanza(1)))

    def test_sent_once_acknowledged(self) -> None:
        """
        A stanza is sent once the peer's C{<a/>} covers it; one request is
        in flight at a time, the next goes out when an answer leaves
        stanzas unconfirmed.
        """
        stream = self.managed()
        self.transport.clear()
        first, second = stream.send_stanza(self.stanza(1)), stream.send_stanza(self.stanza(2))
        written = self.transport.value()
        self.assertEqual(written.count(b"<r "), 1)
        self.assertLess(written.index(b"id='m1'"), written.index(b"<r "))
        self.assertNoResult(first)
        sent = self.feed(stream, f"<a {SM} h='1'/>")
        self.successResultOf(first)
        self.assertNoResult(second)
        self.assertEqual(sent, f"<r {SM}/>".encode())
        self.assertEqual(self.feed(stream, f"<a {SM} h='2'/>"), b"")
        self.successResultOf(second)

    def test_lost_before_acknowledged(self) -> None:
        """
        When the connection ends, the stanzas the peer did not confirm
        fail with remote-server-timeout, saying they may not have arrived;
        the confirmed ones stay sent.
        """
        stream = self.managed()
        confirmed, unconfirmed = (
            stream.send_stanza(self.stanza(1)),
            stream.send_stanza(self.stanza(2)),
        )
        self.feed(stream, f"<a {SM} h='1'/>")
        stream.connectionLost(Failure(ConnectionLost()))
        self.successResultOf(confirmed)
        error = self.failureResultOf(unconfirmed, DeliveryFailed).value
        self.assertEqual(error.condition, "remote-server-timeout")
        self.assertIn("may not have arrived", error.reason)

    def test_acknowledgement_timeout(self) -> None:
        """
        A peer that does not answer a request within ack_timeout (hung)
        has its stream dropped; the unconfirmed stanzas then fail.
        """
        stream = self.managed()
        d = stream.send_stanza(self.stanza(1))
        self.clock.advance(self.service.limits.ack_timeout - 1)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertTrue(self.transport.disconnecting)
        stream.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(d, DeliveryFailed)

    def test_acknowledged_while_closing(self) -> None:
        """
        After we closed our side, the peer's last acknowledgement still
        confirms what it handled.
        """
        stream = self.managed()
        d = stream.send_stanza(self.stanza(1))
        stream.close()
        self.feed(stream, f"<a {SM} h='1'/>")
        self.successResultOf(d)

    def test_too_many_acknowledged(self) -> None:
        """
        An acknowledgement of stanzas never sent ends the stream with an
        error.
        """
        stream = self.managed()
        sent = self.feed(stream, f"<a {SM} h='5'/>")
        self.assertIn(b"<undefined-condition", sent)
        self.assertTrue(stream.closing)

    def test_answers_requests(self) -> None:
        """
        A peer's request is answered with how many stanzas we handled on
        the stream (none: the outbound stream carries none inbound).
        """
        stream = self.managed()
        self.assertEqual(self.feed(stream, f"<r {SM}/>"), f"<a {SM} h='0'/>".encode())

    def test_caller_gave_up(self) -> None:
        """
        A stanza whose sender stopped waiting (a delivery timeout) is
        still counted when the peer confirms it later.
        """
        stream = self.managed()
        first: Deferred[None] = stream.send_stanza(self.stanza(1))
        second = stream.send_stanza(self.stanza(2))
        first.cancel()
        self.failureResultOf(first, CancelledError)
        self.feed(stream, f"<a {SM} h='2'/>")
        self.successResultOf(second)
