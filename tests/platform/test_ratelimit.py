"""
Tests for L{nextplane.connectors.platform.ratelimit}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.ratelimit import Limit, RateLimiter, Window

#: Teams: sends per bot per conversation.
TEAMS_SEND = Limit(per_key=(Window(7, 1.0), Window(8, 2.0), Window(60, 30.0), Window(1800, 3600.0)))


class RateLimiterTests(SynchronousTestCase):
    """
    Several windows per method and per conversation.
    """

    def test_several_windows_per_conversation(self) -> None:
        """Teams' 7 per second and 8 per 2 seconds both hold, per conversation."""
        limiter = RateLimiter({"send": TEAMS_SEND})
        for _ in range(7):
            self.assertEqual(limiter.delay("send", "a:1", 0.0), 0.0)
        self.assertEqual(limiter.delay("send", "a:1", 0.0), 1.0)  # 7 per 1 s
        self.assertEqual(limiter.delay("send", "a:2", 0.0), 0.0)  # another conversation
        self.assertEqual(limiter.delay("send", "a:1", 1.0), 0.0)  # the 8th in 2 s
        self.assertEqual(limiter.delay("send", "a:1", 1.0), 1.0)  # 8 per 2 s
        self.assertEqual(limiter.delay("send", "a:1", 2.0), 0.0)

    def test_overall_window(self) -> None:
        """An overall window counts every conversation together."""
        limiter = RateLimiter({"get": Limit(overall=(Window(2, 10.0),))})
        self.assertEqual(limiter.delay("get", "x", 0.0), 0.0)
        self.assertEqual(limiter.delay("get", "y", 1.0), 0.0)
        self.assertEqual(limiter.delay("get", None, 2.0), 8.0)

    def test_pace_restarts_from_answer(self) -> None:
        """The platform counted the call when it arrived: the next waits from the answer."""
        limiter = RateLimiter({"send": Limit(per_key=(Window(1, 1.0),))})
        limiter.delay("send", "c", 0.0)
        limiter.answered("send", "c", 0.5)
        self.assertEqual(limiter.delay("send", "c", 1.0), 0.5)

    def test_block(self) -> None:
        """A 429 holds only the conversation for a per-conversation limit, else the method."""
        limiter = RateLimiter({"send": TEAMS_SEND})
        limiter.block("send", "a", 30.0)
        self.assertEqual(limiter.delay("send", "a", 10.0), 20.0)
        self.assertEqual(limiter.delay("send", "b", 10.0), 0.0)
        limiter.block("other", "a", 30.0)
        self.assertEqual(limiter.delay("other", "z", 10.0), 20.0)

    def test_unlimited_default(self) -> None:
        """A method with no limit never waits."""
        limiter = RateLimiter({})
        self.assertEqual([limiter.delay("x", "c", 0.0) for _ in range(100)], [0.0] * 100)

    def test_bounded(self) -> None:
        """Idle conversations are forgotten."""
        limiter = RateLimiter({"send": Limit(per_key=(Window(1, 1.0),))}, max_keys=100)
        for n in range(1000):
            limiter.delay("send", n, float(n))
        self.assertLessEqual(limiter.tracked(), 101)
