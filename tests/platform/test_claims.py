"""
Tests for L{nextplane.connectors.platform.claims}: a webhook is answered
once the claim of its work record is durable, within a budget.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.claims import acknowledged, within
from nextplane.storage.records import WorkRecord

RECORD = WorkRecord(
    source="toy",
    origin="o1",
    work_id="w1",
    sender="u1",
    recipient="",
    accepted_at=datetime(2026, 12, 6, tzinfo=UTC),
    updated_at=datetime(2026, 12, 6, tzinfo=UTC),
)


class AcknowledgedTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.claiming: Deferred[WorkRecord | None] = Deferred()
        self.taken: list[WorkRecord] = []
        self.answer = acknowledged(self.claiming, self.clock, 3.0, self.taken.append)

    def test_durable(self) -> None:
        """No answer before the claim is durable; then yes, and the record is taken."""
        self.assertNoResult(self.answer)
        self.claiming.callback(RECORD)
        self.assertTrue(self.successResultOf(self.answer))
        self.assertEqual(self.taken, [RECORD])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_duplicate(self) -> None:
        """A duplicate is answered and not taken."""
        self.claiming.callback(None)
        self.assertTrue(self.successResultOf(self.answer))
        self.assertEqual(self.taken, [])

    def test_failed(self) -> None:
        """A failed claim is answered C{False} (let the platform resend) and logged."""
        self.claiming.errback(OSError("disk full"))
        self.assertFalse(self.successResultOf(self.answer))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_past_the_budget(self) -> None:
        """A slow claim is answered after the budget and taken when it lands."""
        self.clock.advance(2.9)
        self.assertNoResult(self.answer)
        self.clock.advance(0.1)
        self.assertTrue(self.successResultOf(self.answer))
        self.claiming.callback(RECORD)
        self.assertEqual(self.taken, [RECORD])


class WithinTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.d: Deferred[str] = Deferred()
        self.waited = within(self.d, 2.0, self.clock, default="late")

    def test_in_time(self) -> None:
        """A result in time is the answer."""
        self.d.callback("done")
        self.assertEqual(self.successResultOf(self.waited), "done")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_failure_in_time(self) -> None:
        """A failure in time is the answer's."""
        self.d.errback(OSError("broken"))
        self.failureResultOf(self.waited, OSError)

    def test_too_late(self) -> None:
        """Past the timeout the answer is the default; the result stays C{d}'s."""
        self.clock.advance(2.0)
        self.assertEqual(self.successResultOf(self.waited), "late")
        self.d.callback("done")
        self.assertEqual(self.successResultOf(self.d), "done")
