"""
Tests for L{nextplane.backpressure}.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from nextplane.backpressure import Backpressure


class _Producer:
    """Records pauses and resumptions."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")

    def stopProducing(self) -> None:
        self.calls.append("stop")


class BackpressureTests(SynchronousTestCase):
    """
    L{Backpressure} pauses at the high mark and resumes at the low one.
    """

    def test_pause_and_resume(self) -> None:
        """Paused once at C{high} in flight, resumed once at C{low}."""
        pressure = Backpressure(high=4, low=1)
        producer = _Producer()
        work = [Deferred[None]() for _ in range(5)]
        for d in work[:3]:
            pressure.track(producer, d)
        self.assertEqual(producer.calls, [])
        pressure.track(producer, work[3])
        self.assertEqual(producer.calls, ["pause"])
        pressure.track(producer, work[4])  # already paused: once only
        self.assertEqual((producer.calls, pressure.in_flight(producer)), (["pause"], 5))
        for d in work[:3]:
            d.callback(None)
        self.assertEqual(producer.calls, ["pause"])
        work[3].errback(ValueError("failed work counts as done"))
        self.failureResultOf(work[3], ValueError)  # the result is passed on
        self.assertEqual(producer.calls, ["pause", "resume"])
        self.assertFalse(pressure.paused(producer))
        work[4].callback(None)
        self.assertEqual(pressure.in_flight(producer), 0)

    def test_per_producer(self) -> None:
        """Each producer has its own count: one busy peer does not stop another."""
        pressure = Backpressure(high=2)
        busy, quiet = _Producer(), _Producer()
        pressure.track(busy, Deferred())
        pressure.track(busy, Deferred())
        pressure.track(quiet, Deferred())
        self.assertEqual((busy.calls, quiet.calls), (["pause"], []))

    def test_done_or_none(self) -> None:
        """Work already done, or without a producer, is not counted."""
        pressure = Backpressure(high=1)
        producer = _Producer()
        pressure.track(producer, succeed(None))
        pressure.track(producer, None)
        pressure.track(None, Deferred())
        self.assertEqual((producer.calls, pressure.in_flight(producer)), ([], 0))

    def test_forget(self) -> None:
        """A closed connection is forgotten; its late work resumes nothing."""
        pressure = Backpressure(high=1)
        producer = _Producer()
        d: Deferred[None] = Deferred()
        pressure.track(producer, d)
        pressure.forget(producer)
        d.callback(None)
        self.assertEqual(producer.calls, ["pause"])
        self.assertFalse(pressure.paused(producer))

    def test_marks_checked(self) -> None:
        """Marks must make sense."""
        self.assertRaises(ValueError, Backpressure, 0)
        self.assertRaises(ValueError, Backpressure, 4, 4)
