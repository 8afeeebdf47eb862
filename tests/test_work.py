"""
Tests for L{nextplane.work} and the router's part in work records: no
success before success, records moved along, recovery after a restart.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.interfaces import DeliveryFailed, Queued
from nextplane.model.events import DeliveryError, TextMessage
from nextplane.model.text import RichText
from nextplane.router import Outcome
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import Decision, MetadataQuery, WorkRecord, WorkState
from nextplane.work import WorkLog

from .helpers import CoreFixture, addr


def message(sender: str, recipient: str) -> TextMessage:
    return TextMessage(sender=addr(sender), recipient=addr(recipient), body=RichText.plain("hi"))


class WorkLogTests(SynchronousTestCase):
    """
    L{WorkLog}: claims, moves, pruning and recovery.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.store = MemoryStore()
        self.work = WorkLog(self.store, self.clock, keep=3600)

    def accept(self, origin: str, source: str = "slack") -> WorkRecord | None:
        return self.successResultOf(
            self.work.accept(
                source=source, origin=origin, work_id="w-" + origin, sender="U1", conversation="D1"
            )
        )

    def state(self, origin: str, source: str = "slack") -> WorkState:
        return next(r.state for r in self.store._work.values() if r.origin == origin)

    def test_accept_once(self) -> None:
        """The same origin is accepted once; a duplicate gets None."""
        self.assertIsNotNone(self.accept("T1:Ev1"))
        self.assertIsNone(self.accept("T1:Ev1"))

    def test_dedupe_outlives_finishing_until_pruned(self) -> None:
        """A finished record still refuses its origin until C{keep} has passed."""
        record = self.accept("T1:Ev1")
        self.successResultOf(self.work.move(record, WorkState.DELIVERED))
        self.clock.advance(3599)
        self.assertEqual(self.successResultOf(self.work.prune()), 0)
        self.assertIsNone(self.accept("T1:Ev1"))
        self.clock.advance(2)
        self.assertEqual(self.successResultOf(self.work.prune()), 1)
        self.assertIsNotNone(self.accept("T1:Ev1"))

    def test_recover_tells_and_closes(self) -> None:
        """Unfinished records of earlier processes are told through their source's teller, then closed."""
        told: list[str] = []

        async def tell(record: WorkRecord) -> bool:
            told.append(record.origin)
            return record.origin != "cannot"

        for origin in ("a", "b", "cannot"):
            self.accept(origin)
        self.accept("x", source="nowhere")
        done = self.accept("done")
        self.successResultOf(self.work.move(done, WorkState.DELIVERED))
        self.successResultOf(self.work.move(self.accept("handed"), WorkState.HANDED_OVER))
        self.clock.advance(1)
        self.accept("this process's own")  # under way: not told
        before = self.work.now()
        self.clock.advance(1)
        self.accept("after")  # accepted after the start: not told either
        counts = self.successResultOf(self.work.recover({"slack": tell}, before))
        self.assertEqual(sorted(told), ["a", "b", "cannot", "handed"])
        self.assertEqual(counts, {"told": 3, "failed": 2})
        self.assertEqual(self.state("a"), WorkState.TOLD)
        self.assertEqual(self.state("cannot"), WorkState.FAILED)
        self.assertEqual(self.state("x", "nowhere"), WorkState.FAILED)
        self.assertEqual(self.state("done"), WorkState.DELIVERED)
        unfinished = self.successResultOf(self.store.unfinished_work())
        self.assertEqual([r.origin for r in unfinished], ["this process's own", "after"])


class QueueingConnectorTests(SynchronousTestCase):
    """
    The router with a destination that holds events for a rate limit.
    """

    def setUp(self) -> None:
        self.core = CoreFixture()
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.settled: list[Deferred[None]] = []

        def deliver(event: Any) -> Deferred[Any]:
            settled: Deferred[None] = Deferred()
            self.settled.append(settled)
            return succeed(Queued(settled))

        self.core.alpha.deliver = deliver  # type: ignore[method-assign]
        self.record = self.successResultOf(
            self.core.router.work.accept(
                source="xmpp",
                origin="peter@widget.test/phone s1",
                work_id="w1",
                sender="peter@widget.test/phone",
            )
        )

    def route(self) -> Outcome:
        event = message("peter@widget.test", "john@acme.test")
        return self.successResultOf(self.core.router.route(event, work=self.record))

    def decisions(self) -> list[tuple[str, Decision]]:
        records = self.successResultOf(self.core.store.query_metadata(MetadataQuery()))
        return [(r.kind, r.decision) for r in records]

    def work_state(self) -> WorkState:
        [record] = self.core.store._work.values()
        return record.state

    def test_queued_is_not_delivered(self) -> None:
        """Held by the platform: recorded queued, the record handed over; delivered once it is."""
        outcome = self.route()
        self.assertTrue(outcome.queued)
        self.assertFalse(outcome.delivered)
        assert outcome.settled is not None
        self.assertNoResult(outcome.settled)
        self.assertEqual(self.decisions(), [("message", Decision.QUEUED)])
        self.assertEqual(self.work_state(), WorkState.HANDED_OVER)
        self.settled[0].callback(None)
        self.assertTrue(self.successResultOf(outcome.settled).delivered)
        self.assertEqual(
            self.decisions(), [("message", Decision.QUEUED), ("message", Decision.DELIVERED)]
        )
        self.assertEqual(self.work_state(), WorkState.DELIVERED)

    def test_late_failure_told(self) -> None:
        """A queued event that fails later: its remote sender gets a DeliveryError, the record is told."""
        outcome = self.route()
        self.settled[0].errback(DeliveryFailed("recipient-unavailable", "gone"))
        assert outcome.settled is not None
        final = self.successResultOf(outcome.settled)
        self.assertEqual(
            (final.decision, final.condition), (Decision.FAILED, "recipient-unavailable")
        )
        [error] = self.core.xmpp.delivered
        assert isinstance(error, DeliveryError)
        self.assertEqual(error.recipient, addr("peter@widget.test"))
        self.assertEqual(error.original_event_id, outcome.event.event_id)
        self.assertEqual(self.work_state(), WorkState.TOLD)

    def test_delivered_at_once(self) -> None:
        """A destination that takes the event at once: delivered, record delivered."""
        del self.core.alpha.deliver
        outcome = self.route()
        self.assertTrue(outcome.delivered)
        self.assertEqual(self.work_state(), WorkState.DELIVERED)

    def test_refused_remote_sender_told_natively(self) -> None:
        """A refusal of a remote sender is answered by its connector: the record is told."""
        record = self.record
        event = message("peter@widget.test", "mary@acme.test")
        outcome = self.successResultOf(self.core.router.route(event, work=record))
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertEqual(self.work_state(), WorkState.TOLD)
