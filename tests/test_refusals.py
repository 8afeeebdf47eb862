"""
Tests for L{nextplane.refusals}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import LogEvent, Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from nextplane.refusals import RefusalLog


class RefusalLogTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.events: list[LogEvent] = []
        self.clock = Clock()
        self.refusals = RefusalLog(
            Logger(observer=self.events.append), self.clock, interval=60.0, burst=2
        )

    def lines(self) -> list[str]:
        return [formatEvent(event) for event in self.events]

    def test_burst_then_quiet(self) -> None:
        """A burst of refusals logs C{burst} lines; the rest are counted."""
        for index in range(5):
            self.refusals.refused("Refused {peer}", peer=f"192.0.2.{index}")
        self.assertEqual(self.lines(), ["Refused 192.0.2.0", "Refused 192.0.2.1"])
        self.assertEqual(self.refusals.suppressed, 3)

    def test_next_window_reports_suppressed(self) -> None:
        """The first line of a later window says how many were left out."""
        for _ in range(4):
            self.refusals.refused("Refused {peer}", peer="192.0.2.1")
        self.clock.advance(60)
        self.assertTrue(self.refusals.refused("Refused {peer}", peer="192.0.2.9"))
        self.assertEqual(self.lines()[-1], "Refused 192.0.2.9 (2 similar lines suppressed before)")
        self.assertEqual(self.refusals.suppressed, 0)
