# -*- test-case-name: tests.slack.test_ratelimit -*-
"""
Slack Web API rate limits as a sans-IO scheduler.

Slack limits each method per workspace and app by tier
(U{https://docs.slack.dev/apis/web-api/rate-limits}): Tier 1 "1+ per
minute", Tier 2 "20+", Tier 3 "50+", Tier 4 "100+". C{chat.postMessage} is
special: "1 message per second per channel", with short bursts allowed and
an unpublished workspace-wide cap. A limited call gets HTTP 429 with a
C{Retry-After} header in seconds.

L{RateLimiter} keeps the documented floor of each tier as a sliding
60-second window per method, spaces C{chat.postMessage} calls to one
channel by one second, and honours C{Retry-After} blocks. It is given the
time and answers how long to wait; L{nextplane.connectors.slack.api} does
the waiting on an injected clock. Method tiers are those of the Slack
method reference pages as collected in java-slack-sdk
C{MethodsRateLimits.java}.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping

__all__ = [
    "METHOD_TIERS",
    "POST_MESSAGE",
    "TIER_PER_MINUTE",
    "RateLimiter",
    "Tier",
]

#: The method paced per channel.
POST_MESSAGE = "chat.postMessage"


class Tier(enum.Enum):
    """
    Slack's rate-limit tiers.
    """

    TIER_1 = 1
    TIER_2 = 2
    TIER_3 = 3
    TIER_4 = 4
    #: C{chat.postMessage}: one per second per channel.
    SPECIAL = 0


#: Calls per minute that each tier allows at least ("1+", "20+", ...).
TIER_PER_MINUTE: Mapping[Tier, int] = {
    Tier.TIER_1: 1,
    Tier.TIER_2: 20,
    Tier.TIER_3: 50,
    Tier.TIER_4: 100,
}

#: The tier of every method this package calls.
METHOD_TIERS: Mapping[str, Tier] = {
    "chat.postMessage": Tier.SPECIAL,
    "chat.update": Tier.TIER_3,
    "chat.delete": Tier.TIER_3,
    "reactions.add": Tier.TIER_3,
    "reactions.remove": Tier.TIER_2,
    "conversations.create": Tier.TIER_2,
    "conversations.invite": Tier.TIER_3,
    "conversations.open": Tier.TIER_3,
    "conversations.info": Tier.TIER_3,
    "conversations.history": Tier.TIER_3,
    "users.info": Tier.TIER_4,
    "users.lookupByEmail": Tier.TIER_3,
    "users.getPresence": Tier.TIER_3,
    "users.profile.get": Tier.TIER_4,
    # auth.test is "special" (hundreds per minute); Tier 4 is a safe floor.
    "auth.test": Tier.TIER_4,
    "oauth.v2.access": Tier.TIER_4,
    "files.getUploadURLExternal": Tier.TIER_4,
    "files.completeUploadExternal": Tier.TIER_4,
    "files.info": Tier.TIER_4,
    "views.publish": Tier.TIER_4,
}

_WINDOW = 60.0


class RateLimiter:
    """
    Decides when each call may start; see the module docstring.

    One limiter serves one token (one workspace installation).
    """

    def __init__(
        self,
        tiers: Mapping[str, Tier] = METHOD_TIERS,
        per_minute: Mapping[Tier, int] = TIER_PER_MINUTE,
        post_interval: float = 1.0,
        post_per_minute: int | None = None,
        default_tier: Tier = Tier.TIER_3,
    ) -> None:
        """
        @param tiers: Each method's tier; others use C{default_tier}.
        @param per_minute: Calls per minute per tier.
        @param post_interval: Seconds between two C{chat.postMessage} calls
            to one channel.
        @param post_per_minute: Optional workspace-wide cap on
            C{chat.postMessage}; Slack publishes no number, so none by default
            (a 429 then blocks the method).
        """
        self._tiers = dict(tiers)
        self._per_minute = dict(per_minute)
        self._post_interval = post_interval
        self._post_per_minute = post_per_minute
        self._default_tier = default_tier
        self._windows: dict[str, deque[float]] = {}
        self._last_post: dict[str, float] = {}
        self._blocked_method: dict[str, float] = {}
        self._blocked_channel: dict[str, float] = {}

    def limit(self, method: str) -> int | None:
        """
        Calls per minute allowed for C{method}, or C{None} for no window.
        """
        tier = self._tiers.get(method, self._default_tier)
        if tier is Tier.SPECIAL:
            return self._post_per_minute
        return self._per_minute[tier]

    def delay(self, method: str, channel: str | None, now: float) -> float:
        """
        How long C{method} (to C{channel}) must wait before it may start.

        @return: C{0.0} when the call may start now; it is then counted.
            Otherwise the seconds to wait before asking again; nothing is
            counted.
        """
        wait = max(0.0, self._blocked_method.get(method, 0.0) - now)
        paced = method == POST_MESSAGE and channel is not None
        if paced:
            assert channel is not None
            wait = max(wait, self._blocked_channel.get(channel, 0.0) - now)
            last = self._last_post.get(channel)
            if last is not None:
                wait = max(wait, last + self._post_interval - now)
        limit = self.limit(method)
        window = self._windows.get(method)
        if limit is not None and window is not None:
            while window and window[0] <= now - _WINDOW:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, window[0] + _WINDOW - now)
        if wait > 0:
            return wait
        if limit is not None:
            self._windows.setdefault(method, deque()).append(now)
        if paced:
            assert channel is not None
            self._last_post[channel] = now
            if len(self._last_post) > 4096:
                self._prune(now)
        return 0.0

    def answered(self, method: str, channel: str | None, now: float) -> None:
        """
        Restart C{channel}'s pace when Slack has answered a post to it.

        Slack counts a post when it arrives, which is some time after
        L{delay} let it start (a new connection, a busy reactor); pacing
        from the answer keeps the next arrival at least one interval after
        this one, instead of earning a 429 for being a few ms early.
        """
        if method == POST_MESSAGE and channel is not None and channel in self._last_post:
            self._last_post[channel] = max(self._last_post[channel], now)

    def _prune(self, now: float) -> None:
        horizon = now - self._post_interval
        self._last_post = {c: t for c, t in self._last_post.items() if t > horizon}
        self._blocked_channel = {c: t for c, t in self._blocked_channel.items() if t > now}

    def block(self, method: str, channel: str | None, until: float) -> None:
        """
        Hold C{method} back until C{until} after a 429; for
        C{chat.postMessage} with a channel only that channel is held.
        """
        if method == POST_MESSAGE and channel is not None:
            self._blocked_channel[channel] = max(self._blocked_channel.get(channel, 0.0), until)
        else:
            self._blocked_method[method] = max(self._blocked_method.get(method, 0.0), until)
