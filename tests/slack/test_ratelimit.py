# -*- test-case-name: tests.slack.test_ratelimit -*-
"""
Tests for L{nextplane.connectors.slack.ratelimit}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.ratelimit import METHOD_TIERS, RateLimiter, Tier


class RateLimiterTests(SynchronousTestCase):
    """
    L{RateLimiter} answers how long each call must wait.
    """

    def test_tiers(self) -> None:
        """Each tier allows its documented calls per minute."""
        limiter = RateLimiter()
        self.assertEqual(limiter.limit("reactions.remove"), 20)
        self.assertEqual(limiter.limit("chat.update"), 50)
        self.assertEqual(limiter.limit("users.info"), 100)
        self.assertEqual(limiter.limit("unknown.method"), 50)
        self.assertIsNone(limiter.limit("chat.postMessage"))
        self.assertEqual(METHOD_TIERS["chat.postMessage"], Tier.SPECIAL)

    def test_window(self) -> None:
        """After the limit, the next call waits until the oldest leaves the window."""
        limiter = RateLimiter()
        for second in range(20):
            self.assertEqual(limiter.delay("reactions.remove", None, 100.0 + second), 0.0)
        self.assertEqual(limiter.delay("reactions.remove", None, 130.0), 30.0)
        self.assertEqual(limiter.delay("reactions.remove", None, 160.0), 0.0)

    def test_post_per_channel(self) -> None:
        """Posts to one channel are a second apart; other channels are independent."""
        limiter = RateLimiter()
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 10.0), 0.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 10.25), 0.75)
        self.assertEqual(limiter.delay("chat.postMessage", "C2", 10.25), 0.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 11.0), 0.0)

    def test_pace_restarts_at_the_answer(self) -> None:
        """
        A post answered late (slow connection) holds the channel's next post
        a full interval after the answer, so it cannot arrive early.
        """
        limiter = RateLimiter()
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 10.0), 0.0)
        limiter.answered("chat.postMessage", "C1", 10.2)
        self.assertAlmostEqual(limiter.delay("chat.postMessage", "C1", 11.0), 0.2)
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 11.2), 0.0)
        limiter.answered("users.info", None, 12.0)
        limiter.answered("chat.postMessage", "C9", 12.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C9", 12.0), 0.0)

    def test_waiting_counts_nothing(self) -> None:
        """A call told to wait is not counted."""
        limiter = RateLimiter(post_interval=1.0)
        limiter.delay("chat.postMessage", "C1", 0.0)
        for _ in range(5):
            limiter.delay("chat.postMessage", "C1", 0.5)
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 1.0), 0.0)

    def test_workspace_post_cap(self) -> None:
        """An optional workspace cap limits posts across channels."""
        limiter = RateLimiter(post_per_minute=2)
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 0.0), 0.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C2", 0.0), 0.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C3", 0.0), 60.0)

    def test_block(self) -> None:
        """A 429 blocks the method, or only the channel for posts."""
        limiter = RateLimiter()
        limiter.block("users.info", None, 50.0)
        self.assertEqual(limiter.delay("users.info", None, 20.0), 30.0)
        limiter.block("chat.postMessage", "C1", 50.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C1", 20.0), 30.0)
        self.assertEqual(limiter.delay("chat.postMessage", "C2", 20.0), 0.0)

    def test_memory_bounded(self) -> None:
        """Per-channel state of long-idle channels is dropped."""
        limiter = RateLimiter()
        for index in range(5000):
            limiter.delay("chat.postMessage", f"C{index}", float(index))
        self.assertLess(limiter.tracked(), 4097)
