# -*- test-case-name: tests.sip.test_transaction -*-
"""
Tests for L{nextplane.connectors.sip.transaction}, on a L{Clock}.
"""

from __future__ import annotations

import itertools

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.message import (
    Headers,
    Message,
    ParseError,
    Request,
    Response,
    Via,
    make_response,
    serialize,
)
from nextplane.connectors.sip.parser import parse_message
from nextplane.connectors.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    Timers,
    TransactionError,
    TransactionLayer,
    TransactionState,
    TransactionTimeout,
    TransportError,
)
from nextplane.connectors.sip.uri import Params

from . import vectors


class FakeFlow:
    """
    Records what the layer sends; can be closed.
    """

    def __init__(self, host: str = "sip.a.test") -> None:
        self.sent: list[Message] = []
        self.closed = False
        self.host = host

    def send(self, message: Message) -> None:
        if self.closed:
            raise TransportError("closed")
        # Everything sent must survive the wire.
        parsed = parse_message(serialize(message))
        assert not isinstance(parsed, ParseError), parsed
        self.sent.append(message)

    def via(self, branch: str) -> Via:
        return Via(self.host, 5061, "TLS", Params.of(branch=branch))

    def take(self) -> list[Message]:
        sent, self.sent = self.sent, []
        return sent


class RecordingUser:
    """
    A transaction user that records every call.
    """

    def __init__(self) -> None:
        self.requests: list[ServerTransaction] = []
        self.acks: list[Request] = []
        self.strays: list[Response] = []
        self.cancelled_transactions: list[ServerTransaction] = []
        self.failures: list[tuple[ServerTransaction, TransactionError]] = []
        self.answer: int | None = None

    def request_received(self, transaction: ServerTransaction) -> None:
        self.requests.append(transaction)
        if self.answer is not None:
            transaction.reply(self.answer)

    def ack_received(self, ack: Request, flow: object) -> None:
        self.acks.append(ack)

    def stray_response(self, response: Response, flow: object) -> None:
        self.strays.append(response)

    def cancelled(self, transaction: ServerTransaction) -> None:
        self.cancelled_transactions.append(transaction)

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        self.failures.append((transaction, reason))


def make_layer(clock: Clock, user: RecordingUser, name: str = "hub") -> TransactionLayer:
    branches = itertools.count(1)
    tags = itertools.count(1)
    return TransactionLayer(
        clock,
        user,
        branch_factory=lambda: f"z9hG4bK{name}{next(branches)}",
        tag_factory=lambda: f"{name}tag{next(tags)}",
    )


def request(
    method: str,
    branch: str = "z9hG4bKpeer1",
    cseq: int = 1,
    sent_by: str = "edge.b.test:5061",
    to_tag: str | None = None,
    call_id: str = "call-1",
) -> Request:
    """
    A request as a peer would send it.
    """
    to = "<sip:bob@a.test>" + (f";tag={to_tag}" if to_tag else "")
    return Request(
        method,
        "sip:bob@a.test",
        Headers(
            [
                ("Via", f"SIP/2.0/TLS {sent_by};branch={branch}"),
                ("Max-Forwards", "70"),
                ("From", "<sip:alice@b.test>;tag=alice1"),
                ("To", to),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} {method}"),
            ]
        ),
    )


def outgoing(method: str, cseq: int = 1) -> Request:
    """
    A request the hub sends (without Via).
    """
    return Request(
        method,
        "sip:alice@b.test",
        Headers(
            [
                ("Route", vectors.SFB_RECORD_ROUTE),
                ("From", "<sip:bob@a.test>;tag=bob1"),
                ("To", "<sip:alice@b.test>"),
                ("Call-ID", "hubcall"),
                ("CSeq", f"{cseq} {method}"),
            ]
        ),
    )


class ClientInviteTests(SynchronousTestCase):
    """
    INVITE client transactions (RFC 3261 section 17.1.1, RFC 6026).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.user = RecordingUser()
        self.layer = make_layer(self.clock, self.user)
        self.flow = FakeFlow()
        self.provisional: list[Response] = []
        self.tx = self.layer.send_request(outgoing("INVITE"), self.flow, self.provisional.append)
        (self.sent,) = self.flow.take()

    def respond(self, status: int, tag: str | None = "alice9") -> Response:
        """
        Feed a response to the INVITE into the layer.
        """
        assert isinstance(self.sent, Request)
        response = make_response(self.sent, status, to_tag=tag)
        self.layer.receive(response, self.flow)
        return response

    def test_sent(self) -> None:
        """
        The INVITE goes out with our Via on top and Max-Forwards added.
        """
        assert isinstance(self.sent, Request)
        self.assertEqual(self.sent.top_via.branch, "z9hG4bKhub1")
        self.assertEqual(self.sent.top_via.host, "sip.a.test")
        self.assertEqual(self.sent.header("Max-Forwards"), "70")
        self.assertEqual(self.tx.state, TransactionState.CALLING)
        self.assertEqual(self.layer.client_transactions, [self.tx])

    def test_timer_b(self) -> None:
        """
        Without any response, Timer B (64*T1) fails the transaction.
        """
        self.clock.advance(31.9)
        self.assertNoResult(self.tx.final)
        self.clock.advance(0.1)
        self.failureResultOf(self.tx.final, TransactionTimeout)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)
        self.assertEqual(self.layer.client_transactions, [])

    def test_provisional_stops_timer_b(self) -> None:
        """
        A provisional response moves to Proceeding, where no timer runs.
        """
        ringing = self.respond(180)
        self.assertEqual(self.tx.state, TransactionState.PROCEEDING)
        self.assertEqual(self.provisional, [ringing])
        self.clock.advance(600)
        self.assertNoResult(self.tx.final)

    def test_2xx_accepted(self) -> None:
        """
        A 2xx fires the result and moves to Accepted, where retransmitted
        2xx go to the TU until Timer M; later ones are stray.
        """
        ok = self.respond(200)
        self.assertEqual(self.successResultOf(self.tx.final), ok)
        self.assertEqual(self.tx.state, TransactionState.ACCEPTED)
        self.assertEqual(self.flow.take(), [])  # the TU ACKs a 2xx
        self.respond(200)
        self.assertEqual(self.provisional, [ok])
        self.clock.advance(32)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)
        self.respond(200)
        self.assertEqual(len(self.user.strays), 1)

    def test_error_acked(self) -> None:
        """
        A 300-699 response is ACKed by the transaction (17.1.1.3) and ends it.
        """
        busy = self.respond(486)
        self.assertEqual(self.successResultOf(self.tx.final), busy)
        (ack,) = self.flow.take()
        assert isinstance(ack, Request) and isinstance(self.sent, Request)
        self.assertEqual(ack.method, "ACK")
        self.assertEqual(ack.uri, self.sent.uri)
        self.assertEqual(ack.headers.get_all("Via"), [self.sent.header("Via")])
        self.assertEqual(ack.headers.get_all("Route"), [vectors.SFB_RECORD_ROUTE])
        self.assertEqual(ack.header("To"), busy.header("To"))
        self.assertEqual(ack.header("CSeq"), "1 ACK")
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)

    def test_other_method_not_matched(self) -> None:
        """
        A response with the INVITE's branch but another CSeq method does not
        match the INVITE transaction (17.1.3).
        """
        assert isinstance(self.sent, Request)
        response = make_response(self.sent, 200).with_headers(
            make_response(self.sent, 200).headers.set("CSeq", "1 CANCEL")
        )
        self.layer.receive(response, self.flow)
        self.assertNoResult(self.tx.final)
        self.assertEqual(self.user.strays, [response])

    def test_cancel_waits_for_provisional(self) -> None:
        """
        A CANCEL is only sent once a provisional response arrived (9.1),
        with the INVITE's branch and CSeq number.
        """
        self.assertTrue(self.layer.cancel(self.tx, 'SIP;cause=487;text="gone"'))
        self.assertEqual(self.flow.take(), [])
        self.respond(180)
        (cancel,) = self.flow.take()
        assert isinstance(cancel, Request) and isinstance(self.sent, Request)
        self.assertEqual(cancel.method, "CANCEL")
        self.assertEqual(cancel.top_via, self.sent.top_via)
        self.assertEqual(cancel.header("CSeq"), "1 CANCEL")
        self.assertEqual(cancel.header("To"), self.sent.header("To"))
        self.assertEqual(cancel.header("Reason"), 'SIP;cause=487;text="gone"')
        self.assertEqual(cancel.headers.get_all("Route"), [vectors.SFB_RECORD_ROUTE])
        cancel_ok = make_response(cancel, 200, to_tag="alice9")
        self.layer.receive(cancel_ok, self.flow)
        assert self.tx.cancel_transaction is not None
        self.assertEqual(self.successResultOf(self.tx.cancel_transaction.final), cancel_ok)
        self.respond(487)
        self.assertEqual(self.successResultOf(self.tx.final).status, 487)
        self.assertEqual([m.method for m in self.flow.take()], ["ACK"])  # type: ignore[union-attr]

    def test_cancel_in_proceeding(self) -> None:
        """
        In Proceeding a CANCEL goes at once; if no final response follows
        within 64*T1 the INVITE transaction gives up (9.1).
        """
        self.respond(180)
        self.assertTrue(self.tx.cancel())
        self.assertEqual([m.method for m in self.flow.take()], ["CANCEL"])  # type: ignore[union-attr]
        self.assertFalse(self.tx.cancel())
        self.clock.advance(32)
        self.failureResultOf(self.tx.final, TransactionTimeout)

    def test_cancel_too_late(self) -> None:
        """
        Nothing can be cancelled once a final response arrived.
        """
        self.respond(200)
        self.assertFalse(self.tx.cancel())
        self.assertEqual(self.flow.take(), [])

    def test_flow_lost(self) -> None:
        """
        A lost connection fails the transaction with L{TransportError}.
        """
        self.layer.flow_lost(self.flow)
        self.failureResultOf(self.tx.final, TransportError)
        self.assertEqual(self.layer.client_transactions, [])

    def test_flow_lost_after_2xx(self) -> None:
        """
        A lost connection after the 2xx only ends the transaction.
        """
        self.respond(200)
        self.layer.flow_lost(self.flow)
        self.successResultOf(self.tx.final)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)


class ClientNonInviteTests(SynchronousTestCase):
    """
    Non-INVITE client transactions (RFC 3261 section 17.1.2).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.user = RecordingUser()
        self.layer = make_layer(self.clock, self.user)
        self.flow = FakeFlow()
        self.tx = self.layer.send_request(outgoing("MESSAGE"), self.flow)
        (self.sent,) = self.flow.take()

    def test_final(self) -> None:
        """
        A final response fires the result and ends the transaction at once
        (Timer K is zero on TLS).
        """
        assert isinstance(self.sent, Request)
        ok = make_response(self.sent, 200, to_tag="x")
        self.layer.receive(ok, self.flow)
        self.assertEqual(self.successResultOf(self.tx.final), ok)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)
        self.assertEqual(self.layer.client_transactions, [])

    def test_timer_f(self) -> None:
        """
        Timer F (64*T1) runs in Trying and Proceeding.
        """
        assert isinstance(self.sent, Request)
        self.layer.receive(make_response(self.sent, 100), self.flow)
        self.assertEqual(self.tx.state, TransactionState.PROCEEDING)
        self.clock.advance(31.9)
        self.assertNoResult(self.tx.final)
        self.clock.advance(0.1)
        self.failureResultOf(self.tx.final, TransactionTimeout)

    def test_no_retransmission(self) -> None:
        """
        Nothing is retransmitted on a reliable transport (no Timer E).
        """
        self.clock.pump([0.5] * 63)
        self.assertEqual(self.flow.take(), [])

    def test_timers_configurable(self) -> None:
        """
        64*T1 follows a configured T1.
        """
        layer = TransactionLayer(self.clock, self.user, Timers(t1=0.1))
        tx = layer.send_request(outgoing("MESSAGE"), self.flow)
        self.clock.advance(6.4)
        self.failureResultOf(tx.final, TransactionTimeout)

    def test_send_failure(self) -> None:
        """
        A closed connection fails the transaction at once.
        """
        self.flow.closed = True
        tx = self.layer.send_request(outgoing("OPTIONS"), self.flow)
        self.failureResultOf(tx.final, TransportError)

    def test_ack_and_cancel_refused(self) -> None:
        """
        ACK and CANCEL are not started as transactions of their own.
        """
        for method in ("ACK", "CANCEL"):
            with self.assertRaises(ValueError):
                self.layer.send_request(outgoing(method), self.flow)

    def test_send_ack(self) -> None:
        """
        An ACK for a 2xx gets its own branch and is sent without transaction.
        """
        ack = self.layer.send_ack(outgoing("ACK"), self.flow)
        self.assertEqual(self.flow.take(), [ack])
        self.assertEqual(ack.top_via.branch, "z9hG4bKhub2")
        self.assertEqual(len(self.layer.client_transactions), 1)


class ServerInviteTests(SynchronousTestCase):
    """
    INVITE server transactions (RFC 3261 section 17.2.1, RFC 6026).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.user = RecordingUser()
        self.layer = make_layer(self.clock, self.user)
        self.flow = FakeFlow()
        self.invite = request("INVITE")
        self.layer.receive(self.invite, self.flow)
        (self.tx,) = self.user.requests

    def test_trying(self) -> None:
        """
        A 100 Trying goes out after 200 ms without a TU response.
        """
        self.assertEqual(self.flow.take(), [])
        self.clock.advance(0.2)
        (trying,) = self.flow.take()
        assert isinstance(trying, Response)
        self.assertEqual(trying.status, 100)
        self.assertEqual(trying.header("To"), "<sip:bob@a.test>")

    def test_no_trying_if_answered(self) -> None:
        """
        No 100 Trying if the TU answered within 200 ms.
        """
        self.tx.reply(180)
        self.clock.advance(1)
        self.assertEqual([m.status for m in self.flow.take()], [180])  # type: ignore[union-attr]

    def test_retransmitted_invite(self) -> None:
        """
        A retransmitted INVITE gets the last provisional response again and
        is not passed to the TU.
        """
        ringing = self.tx.reply(180)
        self.layer.receive(self.invite, self.flow)
        self.assertEqual(self.flow.take(), [ringing, ringing])
        self.assertEqual(len(self.user.requests), 1)

    def test_error_then_ack(self) -> None:
        """
        A 300-699 is resent for a retransmitted INVITE and absorbed by the
        ACK (same branch), which the TU never sees.
        """
        busy = self.tx.reply(486)
        self.assertEqual(busy.header("To"), "<sip:bob@a.test>;tag=hubtag1")
        self.assertEqual(self.tx.state, TransactionState.COMPLETED)
        self.layer.receive(self.invite, self.flow)
        self.assertEqual(self.flow.take(), [busy, busy])
        self.layer.receive(request("ACK", to_tag="hubtag1"), self.flow)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)
        self.assertEqual(self.user.acks, [])
        self.clock.advance(100)
        self.assertEqual(self.user.failures, [])

    def test_timer_h(self) -> None:
        """
        Without an ACK for a 300-699, Timer H ends the transaction and the
        TU is told.
        """
        self.tx.reply(486)
        self.clock.advance(32)
        ((tx, reason),) = self.user.failures
        self.assertIs(tx, self.tx)
        self.assertIsInstance(reason, TransactionTimeout)
        self.assertEqual(self.layer.server_transactions, [])

    def test_2xx_retransmitted_until_ack(self) -> None:
        """
        A 2xx is retransmitted at T1, 2*T1, ... up to T2 until the ACK
        (a new transaction) arrives; the ACK goes to the TU.
        """
        ok = self.tx.reply(200)
        self.assertEqual(self.tx.state, TransactionState.ACCEPTED)
        self.assertEqual(self.flow.take(), [ok])
        times = []
        for _ in range(60):
            self.clock.advance(0.25)
            if self.flow.take():
                times.append(round(self.clock.seconds(), 1))
        self.assertEqual(times[:5], [0.5, 1.5, 3.5, 7.5, 11.5])
        ack = request("ACK", branch="z9hG4bKpeer2", to_tag="hubtag1")
        self.layer.receive(ack, self.flow)
        self.assertEqual(self.user.acks, [ack])
        self.clock.advance(10)
        self.assertEqual(self.flow.take(), [])
        self.clock.advance(30)
        self.assertEqual(self.user.failures, [])
        self.assertEqual(self.layer.server_transactions, [])

    def test_2xx_never_acked(self) -> None:
        """
        If no ACK arrives within 64*T1 the TU is told (it should send BYE).
        """
        self.tx.reply(200)
        self.clock.advance(32)
        ((_, reason),) = self.user.failures
        self.assertIsInstance(reason, TransactionTimeout)
        self.flow.take()
        self.clock.advance(10)
        self.assertEqual(self.flow.take(), [])

    def test_accepted_absorbs_invite(self) -> None:
        """
        In Accepted a retransmitted INVITE is absorbed.
        """
        self.tx.reply(200)
        self.flow.take()
        self.layer.receive(self.invite, self.flow)
        self.assertEqual(self.flow.take(), [])
        self.assertEqual(len(self.user.requests), 1)

    def test_cancel(self) -> None:
        """
        A CANCEL for a proceeding INVITE is answered 200, the INVITE 487,
        and the TU told; its late answer is dropped.
        """
        self.tx.reply(180)
        self.flow.take()
        self.layer.receive(request("CANCEL"), self.flow)
        ok, terminated = self.flow.take()
        assert isinstance(ok, Response) and isinstance(terminated, Response)
        self.assertEqual((ok.status, ok.header("CSeq")), (200, "1 CANCEL"))
        self.assertEqual((terminated.status, terminated.header("CSeq")), (487, "1 INVITE"))
        self.assertEqual(self.user.cancelled_transactions, [self.tx])
        self.assertFalse(self.tx.respond(make_response(self.invite, 200, to_tag="x")))
        self.assertEqual(self.flow.take(), [])
        self.layer.receive(request("ACK", to_tag="hubtag1"), self.flow)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)

    def test_cancel_after_final(self) -> None:
        """
        A CANCEL after the final response is answered 200 and does nothing
        else.
        """
        self.tx.reply(200)
        self.flow.take()
        self.layer.receive(request("CANCEL"), self.flow)
        self.assertEqual([m.status for m in self.flow.take()], [200])  # type: ignore[union-attr]
        self.assertEqual(self.user.cancelled_transactions, [])

    def test_cancel_unknown(self) -> None:
        """
        A CANCEL matching nothing is answered 481.
        """
        self.layer.receive(request("CANCEL", branch="z9hG4bKnothing"), self.flow)
        self.assertEqual([m.status for m in self.flow.take()], [481])  # type: ignore[union-attr]

    def test_cancel_other_sent_by(self) -> None:
        """
        A CANCEL with the INVITE's branch from another sent-by does not match.
        """
        self.layer.receive(request("CANCEL", sent_by="evil.test"), self.flow)
        self.assertEqual([m.status for m in self.flow.take()], [481])  # type: ignore[union-attr]

    def test_unanswered(self) -> None:
        """
        An INVITE the TU never answers gets a 408 after the safety limit.
        """
        self.clock.advance(180)
        statuses = [m.status for m in self.flow.take()]  # type: ignore[union-attr]
        self.assertEqual(statuses, [100, 408])
        self.assertEqual(len(self.user.failures), 1)

    def test_flow_lost(self) -> None:
        """
        A lost connection ends a proceeding transaction and tells the TU.
        """
        self.layer.flow_lost(self.flow)
        ((_, reason),) = self.user.failures
        self.assertIsInstance(reason, TransportError)
        self.assertEqual(self.layer.server_transactions, [])

    def test_send_failure(self) -> None:
        """
        A response that cannot be sent ends the transaction.
        """
        self.flow.closed = True
        self.tx.reply(200)
        self.assertEqual(self.tx.state, TransactionState.TERMINATED)
        self.assertIsInstance(self.user.failures[0][1], TransportError)


class ServerNonInviteTests(SynchronousTestCase):
    """
    Non-INVITE server transactions (RFC 3261 section 17.2.2).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.user = RecordingUser()
        self.layer = make_layer(self.clock, self.user)
        self.flow = FakeFlow()

    def test_answer(self) -> None:
        """
        The TU's final response is sent once and ends the transaction (Timer
        J is zero on TLS).
        """
        message = request("MESSAGE")
        self.layer.receive(message, self.flow)
        (tx,) = self.user.requests
        self.assertEqual(tx.state, TransactionState.TRYING)
        ok = tx.reply(200)
        self.assertEqual(self.flow.take(), [ok])
        self.assertEqual(tx.state, TransactionState.TERMINATED)
        self.assertFalse(tx.respond(ok))

    def test_retransmissions(self) -> None:
        """
        A retransmission is ignored in Trying and answered with the last
        provisional in Proceeding.
        """
        message = request("MESSAGE")
        self.layer.receive(message, self.flow)
        (tx,) = self.user.requests
        self.layer.receive(message, self.flow)
        self.assertEqual(self.flow.take(), [])
        trying = tx.reply(100)
        self.layer.receive(message, self.flow)
        self.assertEqual(self.flow.take(), [trying, trying])
        self.assertEqual(len(self.user.requests), 1)

    def test_same_tag(self) -> None:
        """
        Every response of a transaction carries the same To tag.
        """
        self.layer.receive(request("SUBSCRIBE"), self.flow)
        (tx,) = self.user.requests
        first = tx.reply(183)
        second = tx.reply(200)
        self.assertEqual(first.to.tag, second.to.tag)

    def test_sent_by_matters(self) -> None:
        """
        The same branch from another sent-by is another transaction.
        """
        self.layer.receive(request("MESSAGE"), self.flow)
        self.layer.receive(request("MESSAGE", sent_by="other.b.test"), self.flow)
        self.assertEqual(len(self.user.requests), 2)

    def test_unanswered(self) -> None:
        """
        A request never answered is dropped after 64*T1 and the TU told.
        """
        self.layer.receive(request("MESSAGE"), self.flow)
        self.clock.advance(32)
        self.assertEqual(len(self.user.failures), 1)
        self.assertEqual(self.layer.server_transactions, [])
        self.assertEqual(self.flow.take(), [])

    def test_missing_branch(self) -> None:
        """
        A request without branch is answered 400; an ACK without is dropped.
        """
        bad = request("MESSAGE")
        bad = bad.with_headers(bad.headers.set("Via", "SIP/2.0/TLS edge.b.test"))
        self.layer.receive(bad, self.flow)
        (response,) = self.flow.take()
        assert isinstance(response, Response)
        self.assertEqual((response.status, response.reason), (400, "Missing Via branch"))
        ack = request("ACK")
        self.layer.receive(
            ack.with_headers(ack.headers.set("Via", "SIP/2.0/TLS edge.b.test")), self.flow
        )
        self.assertEqual(self.flow.take(), [])
        self.assertEqual(self.user.requests, [])

    def test_stray_ack(self) -> None:
        """
        An ACK matching nothing goes to the TU (it may be for a 2xx).
        """
        ack = request("ACK", to_tag="x")
        self.layer.receive(ack, self.flow)
        self.assertEqual(self.user.acks, [ack])


class PipeFlow:
    """
    A flow that serializes, parses and hands messages to another layer.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.peer: tuple[TransactionLayer, PipeFlow] | None = None
        self.log: list[str] = []

    def send(self, message: Message) -> None:
        parsed = parse_message(serialize(message))
        assert not isinstance(parsed, ParseError)
        self.log.append(parsed.method if isinstance(parsed, Request) else str(parsed.status))
        assert self.peer is not None
        layer, flow = self.peer
        layer.receive(parsed, flow)

    def via(self, branch: str) -> Via:
        return Via(self.host, 5061, "TLS", Params.of(branch=branch))


class EndToEndTests(SynchronousTestCase):
    """
    Two transaction layers talking over the wire format.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.alice = RecordingUser()
        self.bob = RecordingUser()
        self.alice_layer = make_layer(self.clock, self.alice, "alice")
        self.bob_layer = make_layer(self.clock, self.bob, "bob")
        self.to_bob = PipeFlow("alice.test")
        self.to_alice = PipeFlow("bob.test")
        self.to_bob.peer = (self.bob_layer, self.to_alice)
        self.to_alice.peer = (self.alice_layer, self.to_bob)

    def test_message(self) -> None:
        """
        A MESSAGE answered 200 completes both sides.
        """
        self.bob.answer = 200
        tx: ClientTransaction = self.alice_layer.send_request(outgoing("MESSAGE"), self.to_bob)
        self.assertEqual(self.successResultOf(tx.final).status, 200)
        self.assertEqual(self.alice_layer.client_transactions, [])
        self.assertEqual(self.bob_layer.server_transactions, [])

    def test_invite_ok_ack(self) -> None:
        """
        INVITE, 200, ACK: the 2xx retransmissions stop at the ACK.
        """
        tx = self.alice_layer.send_request(outgoing("INVITE"), self.to_bob)
        (server,) = self.bob.requests
        ok = server.reply(200)
        self.assertEqual(self.successResultOf(tx.final), ok)
        self.clock.pump([0.25] * 7)  # two retransmissions reach Alice's TU
        self.assertEqual(self.to_alice.log, ["200", "200", "200"])
        ack = Request(
            "ACK",
            "sip:alice@b.test",
            Headers(
                [
                    ("From", "<sip:bob@a.test>;tag=bob1"),
                    ("To", ok.header("To") or ""),
                    ("Call-ID", "hubcall"),
                    ("CSeq", "1 ACK"),
                ]
            ),
        )
        self.alice_layer.send_ack(ack, self.to_bob)
        self.assertEqual(len(self.bob.acks), 1)
        self.clock.advance(40)
        self.assertEqual(self.to_alice.log, ["200", "200", "200"])
        self.assertEqual(self.bob.failures, [])

    def test_invite_cancelled(self) -> None:
        """
        INVITE, 180, CANCEL: 200 to the CANCEL, 487 and its ACK.
        """
        tx = self.alice_layer.send_request(outgoing("INVITE"), self.to_bob)
        (server,) = self.bob.requests
        server.reply(180)
        tx.cancel()
        self.assertEqual(self.successResultOf(tx.final).status, 487)
        self.assertEqual(self.to_bob.log, ["INVITE", "CANCEL", "ACK"])
        self.assertEqual(self.to_alice.log, ["180", "200", "487"])
        self.assertEqual(self.bob.cancelled_transactions, [server])
        self.assertEqual(self.bob_layer.server_transactions, [])
