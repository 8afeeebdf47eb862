"""
Tests for L{nextplane.connectors.sip.inbound_work}: SIP messages claim work
records, duplicates are answered and never routed twice (also across a
restart: a new connector on the same store), and after a restart a message
answered 202 is told to its sender, never with its content.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.inbound_work import SOURCE, origin_of
from nextplane.connectors.sip.message import Request, Response
from nextplane.interfaces import DeliveryFailed, Queued
from nextplane.storage.records import WorkRecord, WorkState

from ..helpers import addr
from .helpers import HubFixture
from .test_connector import SDP, ms_text_format

JOHN = addr("john@acme.test")
ALICE = addr("alice@sipco.test")
MARKER = "MARKER-sipwork-5c1e"


class InboundWorkTests(SynchronousTestCase):
    """
    A SIP peer writes to a hub user of platform C{alpha}.
    """

    def setUp(self) -> None:
        self.hub = HubFixture(self)
        self.peer = self.hub.peer
        self.hub.befriend()
        self.held: list[Deferred[None]] = []
        self.addCleanup(self.settle_all)

    def settle_all(self) -> None:
        """
        Let what the platform still holds go, so no coroutine of this test
        is left suspended for the garbage collector to finalize later.
        """
        for settled in self.held:
            if not settled.called:
                settled.callback(None)
        self.hub.alpha.release()
        self.hub.network.flush()

    def hold_alpha(self) -> None:
        """
        From now on, platform C{alpha} holds every delivery for its rate
        limit (C{Queued}) until the test settles it.
        """

        def deliver(event: Any) -> Deferred[Any]:
            settled: Deferred[None] = Deferred()
            self.held.append(settled)
            d: Deferred[Any] = Deferred()
            d.callback(Queued(settled))
            return d

        self.hub.alpha.deliver = deliver  # type: ignore[method-assign]

    def request(self, text: str = f"lunch? {MARKER}", **kwargs: Any) -> Request:
        return self.peer.request(
            "MESSAGE", text.encode(), "text/plain;charset=UTF-8", call_id="call-1@sipco", **kwargs
        )

    def send(self, request: Request) -> Response:
        """
        Send C{request} in a new client transaction (a new branch: the
        hub's transaction layer cannot absorb it); its final response.
        """
        return self.peer.final(self.peer.send(request))

    def unfinished(self) -> list[WorkRecord]:
        return self.successResultOf(self.hub.store.unfinished_work())

    def record(self, request: Request) -> WorkRecord:
        found = self.successResultOf(self.hub.router.work.find(SOURCE, origin_of(request)))
        assert found is not None
        return found

    def restart(self) -> None:
        """
        The hub dies (kill -9) and a new connector starts on its store.
        """
        self.hub.crash()
        self.hub.clock.advance(1)
        self.hub.start_connector()

    def recover(self) -> dict[str, int]:
        """
        What the hub does at start-up: tell the senders of unfinished
        records through the SIP teller.
        """
        work = self.hub.router.work
        recovering = work.recover({"sip": self.hub.connector.tell_not_delivered}, work.now())
        self.hub.network.flush()
        return self.successResultOf(recovering)

    def test_claimed_and_delivered(self) -> None:
        """
        A text claims the record of its transaction identity, holding ids
        only (the original From URI, the hub user, the chat); the router
        moves it to delivered before the 200.
        """
        request = self.request()
        self.assertEqual(self.send(request).status, 200)
        record = self.record(request)
        [event] = self.hub.delivered("message")
        self.assertEqual(origin_of(request), f"call-1@sipco 1 {request.from_.tag}")
        self.assertEqual(
            (record.sender, record.recipient, record.state, record.work_id),
            ("sip:alice@sipco.test", "john@acme.test", WorkState.DELIVERED, event.event_id),
        )
        self.assertEqual(record.conversation, event.session.value)
        self.assertNotIn(MARKER, repr(self.successResultOf(self.hub.store.dump_tables())))

    def test_duplicate_answered_alike_routed_once(self) -> None:
        """
        The same request in a new transaction gets the first one's answer
        and is not routed again; another CSeq is another message.
        """
        request = self.request()
        self.assertEqual(self.send(request).status, 200)
        self.assertEqual(self.send(request).status, 200)
        self.assertEqual(len(self.hub.delivered("message")), 1)
        self.assertEqual(self.hub.connector._messages.inbound.duplicates, 1)
        self.send(self.request(cseq=2))
        self.assertEqual(len(self.hub.delivered("message")), 2)

    def test_refused_duplicate_refused_alike(self) -> None:
        """
        A refused message's duplicate gets the same error status and
        reason, and the record is closed as told (the peer was answered).
        """
        request = self.request(sender="bob@sipco.test")  # not john's contact
        first = self.send(request)
        second = self.send(request)
        self.assertEqual(first.status, 403)
        self.assertEqual((second.status, second.reason), (first.status, first.reason))
        self.assertEqual(self.record(request).state, WorkState.TOLD)
        self.assertEqual(self.hub.delivered("message"), [])

    def test_invite_first_message(self) -> None:
        """
        The first message of a Skype for Business style INVITE claims a
        record too; the same INVITE again opens the session without
        routing the message twice.
        """
        headers = [("ms-text-format", ms_text_format(f"hi {MARKER}"))]
        invite = self.peer.request("INVITE", SDP, "application/sdp", headers=headers)
        self.assertEqual(self.send(invite).status, 200)
        self.assertEqual(self.record(invite).state, WorkState.DELIVERED)
        self.assertEqual(self.send(invite).status, 200)
        self.assertEqual(len(self.hub.delivered("message")), 1)

    def test_typing_claims_nothing(self) -> None:
        """
        An isComposing MESSAGE is no message a sender misses: no record.
        """
        body = (
            b'<?xml version="1.0"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
            b"<state>active</state></isComposing>"
        )
        request = self.peer.request("MESSAGE", body, "application/im-iscomposing+xml")
        self.assertEqual(self.send(request).status, 200)
        found = self.successResultOf(self.hub.router.work.find(SOURCE, origin_of(request)))
        self.assertIsNone(found)

    def test_queued_answered_202_then_delivered(self) -> None:
        """
        A message the platform holds is answered 202 with its record handed
        over; once the platform takes it the record is delivered.
        """
        self.hold_alpha()
        request = self.request()
        self.assertEqual(self.send(request).status, 202)
        self.assertEqual(self.record(request).state, WorkState.HANDED_OVER)
        self.held[0].callback(None)
        self.assertEqual(self.record(request).state, WorkState.DELIVERED)

    def test_late_failure_told_in_a_message(self) -> None:
        """
        A message answered 202 that the platform then refuses is told to
        its sender in a MESSAGE from the hub user (reason, no content); the
        record is told.
        """
        self.hold_alpha()
        request = self.request()
        self.assertEqual(self.send(request).status, 202)
        self.held[0].errback(DeliveryFailed("resource-constraint", "the platform refused it"))
        self.hub.network.flush()
        [notice] = self.peer.of("MESSAGE")
        body = notice.request.body.decode()
        self.assertIn("not delivered", body)
        self.assertIn("the platform refused it", body)
        self.assertNotIn(MARKER, body)
        self.assertEqual(str(notice.request.from_.uri), "sip:john@acme.test")
        self.assertEqual(self.record(request).state, WorkState.TOLD)

    def test_restart_tells_the_202d_sender(self) -> None:
        """
        A message answered 202 and still held at a kill -9 is told after
        the restart: an out-of-dialog text/plain MESSAGE from the hub user
        to the original From URI, naming the time and the hub user, never
        the content; the record is told.
        """
        self.hold_alpha()
        request = self.request()
        self.assertEqual(self.send(request).status, 202)
        self.restart()
        self.assertEqual(self.recover(), {"told": 1, "failed": 0})
        [notice] = self.peer.of("MESSAGE")
        sent = notice.request
        self.assertEqual(sent.uri, "sip:alice@sipco.test")
        self.assertEqual(str(sent.to.uri), "sip:alice@sipco.test")
        self.assertEqual(str(sent.from_.uri), "sip:john@acme.test")
        self.assertIsNone(sent.to.tag)
        self.assertEqual(sent.headers.get("Content-Type"), "text/plain;charset=UTF-8")
        body = sent.body.decode()
        accepted = self.record(request).accepted_at
        self.assertIn("not delivered", body)
        self.assertIn("john@acme.test", body)
        self.assertIn(accepted.strftime("%H:%M:%S UTC on %Y-%m-%d"), body)
        self.assertNotIn(MARKER, body)
        self.assertNotIn("lunch", body)
        self.assertEqual(self.record(request).state, WorkState.TOLD)

    def test_restart_unanswered_closed_without_notice(self) -> None:
        """
        A message never answered 2xx (the hub died while routing it) gets
        no notice after the restart (its peer saw no success), and its
        record is closed.
        """
        self.hub.alpha.hold = True
        request = self.request()
        tx = self.peer.send(request)
        self.assertNoResult(tx.final)
        tx.final.addErrback(lambda failure: None)  # the hub dies without answering
        self.assertEqual(self.record(request).state, WorkState.ACCEPTED)
        self.restart()
        self.assertEqual(self.recover(), {"told": 1, "failed": 0})
        self.assertEqual(self.peer.of("MESSAGE"), [])
        self.assertEqual(self.unfinished(), [])

    def test_teller_refused(self) -> None:
        """
        A sender whose domain refuses the notice is not told: the record
        is failed.
        """
        self.hold_alpha()
        self.send(self.request())
        self.restart()
        self.peer.answer = lambda tx: tx.reply(403)
        self.assertEqual(self.recover(), {"told": 0, "failed": 1})

    def test_duplicates_after_restart(self) -> None:
        """
        After a restart a duplicate is answered by its record: delivered
        200, still held 202, told 480; none is routed again.
        """
        delivered = self.request()
        self.send(delivered)
        self.hold_alpha()
        held = self.request(cseq=2)
        self.assertEqual(self.send(held).status, 202)
        told = self.request(cseq=3)
        self.send(told)
        self.restart()
        self.held[1].errback(DeliveryFailed("item-not-found", "gone"))
        self.hub.network.flush()
        before = len(self.hub.delivered("message"))
        statuses = [self.send(r).status for r in (delivered, held, told)]
        self.assertEqual(statuses, [200, 202, 480])
        self.assertEqual(len(self.hub.delivered("message")), before)
        self.assertEqual(len(self.held), 2)
