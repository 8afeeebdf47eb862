"""
Tests for L{nextplane.connectors.xmpp.inbound_work} through the XMPP
connector: a stanza sent again is routed once, the receipt waits for a
queued message to be delivered, and the restart notice is a message error
carrying the original stanza id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.xmpp import inbound_work
from nextplane.connectors.xmpp.connector import XmppConnector
from nextplane.connectors.xmpp.inbound_acks import Intake
from nextplane.interfaces import DeliveryFailed, Queued
from nextplane.model.address import Address
from nextplane.model.events import TextMessage
from nextplane.model.text import RichText
from nextplane.router import Outcome
from nextplane.storage.records import Decision, WorkRecord, WorkState

from ..helpers import CoreFixture
from .test_connector import RecordingS2S, parse

MESSAGE = (
    "<message from='peter@widget.test/phone' to='john@acme.test' type='chat' id='m1'>"
    "<body>hello</body><request xmlns='urn:xmpp:receipts'/></message>"
)
PETER = Address("peter", "widget.test")
JOHN = Address("john", "acme.test")


class InboundWorkTests(SynchronousTestCase):
    """
    Work records of messages received over XMPP.
    """

    def setUp(self) -> None:
        self.core = CoreFixture()
        self.connector = XmppConnector(
            sink=self.core.router,
            store=self.core.store,
            clock=self.core.clock,
            tenants=self.core.tenants,
            presence=self.core.router.presence,
            work=self.core.router.work,
        )
        self.s2s = RecordingS2S()
        self.connector.attach(self.s2s)
        self.successResultOf(self.connector.startService())
        self.core.router.add_connector(self.connector)
        self.core.befriend("john@acme.test", "peter@widget.test")

    def receive(self, xml: str = MESSAGE) -> None:
        self.connector.stanza_received(parse(xml))

    def receipts(self) -> list[Any]:
        return [
            s for s in self.s2s.sent if s.name == "message" and s.getAttribute("type") != "error"
        ]

    def records(self) -> list[WorkRecord]:
        return list(self.core.store._work.values())

    def test_same_stanza_routed_once(self) -> None:
        """The same stanza id from the same full JID is routed once; another resource is another message."""
        self.receive()
        self.receive()
        self.assertEqual(len(self.core.alpha.of_kind("message")), 1)
        self.receive(MESSAGE.replace("/phone", "/laptop"))
        self.assertEqual(len(self.core.alpha.of_kind("message")), 2)
        states = sorted((r.origin, r.state) for r in self.records())
        self.assertEqual(
            states,
            [
                ("peter@widget.test/laptop m1", WorkState.DELIVERED),
                ("peter@widget.test/phone m1", WorkState.DELIVERED),
            ],
        )

    def test_receipt_waits_for_queued(self) -> None:
        """A message the platform holds gets its receipt only once delivered."""
        settled: Deferred[None] = Deferred()
        self.core.alpha.deliver = lambda event: succeed(Queued(settled))  # type: ignore[method-assign]
        self.receive()
        self.assertEqual(self.receipts(), [])
        [record] = self.records()
        self.assertEqual(record.state, WorkState.HANDED_OVER)
        settled.callback(None)
        [receipt] = self.receipts()
        self.assertEqual(receipt.firstChildElement()["id"], "m1")
        self.assertEqual(self.records()[0].state, WorkState.DELIVERED)

    def test_late_failure_to_full_jid(self) -> None:
        """
        A message the platform held and then failed is answered with a
        message error carrying its stanza id, sent to the full JID that
        sent it (a server drops a message error to a bare JID); the
        connector forgets that JID once the message is settled.
        """
        settled: Deferred[None] = Deferred()
        self.core.alpha.deliver = lambda event: succeed(Queued(settled))  # type: ignore[method-assign]
        self.receive()
        self.core.alpha.deliver = lambda event: succeed(None)  # type: ignore[method-assign]
        settled.errback(DeliveryFailed("remote-server-timeout", "Slack did not confirm"))
        errors = [s for s in self.s2s.sent if s.getAttribute("type") == "error"]
        self.assertEqual([(e["to"], e["id"]) for e in errors], [("peter@widget.test/phone", "m1")])
        self.assertEqual(self.receipts(), [])
        self.assertEqual(self.records()[0].state, WorkState.TOLD)
        self.assertEqual(len(self.connector._sender_jids), 0)

    def test_sender_jids_bounded(self) -> None:
        """
        Past its limit the map of waiting senders forgets the oldest: its
        late error then goes to the bare JID, as without the map.
        """
        jids = inbound_work.SenderJids(limit=2)
        outcomes = [
            Outcome(
                TextMessage(sender=PETER, recipient=JOHN, body=RichText.plain("x")),
                Decision.QUEUED,
                settled=Deferred(),
            )
            for _ in range(3)
        ]
        for outcome in outcomes:
            jids.remember([outcome], "peter@widget.test/phone")
        self.assertEqual(len(jids), 2)
        first, last = (o.event.message_id for o in (outcomes[0], outcomes[-1]))  # type: ignore[attr-defined]
        self.assertEqual((jids.get(first), jids.get(last)), (None, "peter@widget.test/phone"))
        outcomes[-1].settled.callback(None)  # type: ignore[union-attr]
        self.assertEqual(len(jids), 1)

    def test_durable_once_claimed(self) -> None:
        """
        A chat message with a stanza id is durable (for stream management)
        once its work record is claimed, while its delivery still waits; a
        stanza without a record is durable once handled.
        """
        self.core.alpha.deliver = lambda event: Deferred()  # type: ignore[method-assign]
        intake = self.connector.stanza_received(parse(MESSAGE))
        assert isinstance(intake, Intake) and intake.durable is not None
        self.assertTrue(self.successResultOf(intake.durable))
        assert intake.handled is not None
        self.assertNoResult(intake.handled)
        [record] = self.records()
        self.assertEqual(record.state, WorkState.ACCEPTED)
        presence = self.connector.stanza_received(
            parse("<presence from='paula@widget.test/phone' to='john@acme.test'/>")
        )
        self.assertEqual(presence, Intake(None, None))  # handled at once

    def test_claim_failed_not_durable(self) -> None:
        """
        A claim that failed is not durable; the claim's own failure still
        reaches whoever awaits it.
        """
        claiming: Deferred[WorkRecord | None] = Deferred()
        durable = inbound_work.durable_once_claimed(claiming)
        claiming.errback(RuntimeError("disk full"))
        self.assertFalse(self.successResultOf(durable))
        self.failureResultOf(claiming, RuntimeError)

    def test_not_delivered_notice(self) -> None:
        """After a restart the full JID gets a message error with the stanza id and the time."""
        at = datetime(2026, 12, 6, 14, 30, 5, tzinfo=UTC)
        record = WorkRecord(
            source="xmpp",
            origin="peter@widget.test/phone m1",
            work_id="w1",
            sender="peter@widget.test/phone",
            recipient="john@acme.test",
            native_id="m1",
            accepted_at=at,
            updated_at=at,
        )
        self.assertTrue(self.successResultOf(self.connector.tell_not_delivered(record)))
        [error] = self.s2s.sent
        self.assertEqual(
            (error["to"], error["from"], error["id"], error["type"]),
            ("peter@widget.test/phone", "john@acme.test", "m1", "error"),
        )
        self.assertIn("2026-12-06 14:30:05", error.toXml())
        self.assertEqual(inbound_work.not_delivered(record).name, "message")
