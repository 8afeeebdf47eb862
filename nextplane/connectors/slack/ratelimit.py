# -*- test-case-name: tests.slack.test_ratelimit -*-
"""
Slack Web API rate limits as a sans-IO scheduler.

Slack limits each method per workspace and app by tier
(U{https://docs.slack.dev/apis/web-api/rate-limits}): Tier 1 "1+ per
minute", Tier 2 "20+", Tier 3 "50+", Tier 4 "100+". C{chat.postMessage} is
special: "1 message per second per channel", with short bursts allowed and
an unpublished workspace-wide cap. A limited call gets HTTP 429 with a
C{Retry-After} header in seconds.

L{RateLimiter} is the kit's L{nextplane.connectors.platform.ratelimit}
scheduler with Slack's table: the documented floor of each tier as a
60-second window per method, and C{chat.postMessage} paced one second per
channel. Method tiers are those of the Slack method reference pages as
collected in java-slack-sdk C{MethodsRateLimits.java}.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from ..platform import ratelimit
from ..platform.ratelimit import Limit, Window

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


class RateLimiter(ratelimit.RateLimiter):
    """
    The kit's limiter with Slack's tiers; see the module docstring. One
    limiter serves one token (one workspace installation).
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
        self._tier_of = dict(tiers)
        self._per_minute = dict(per_minute)
        self._post_per_minute = post_per_minute
        self._default_tier = default_tier

        def limit(tier: Tier) -> Limit:
            if tier is Tier.SPECIAL:
                cap = (Window(post_per_minute, 60.0),) if post_per_minute else ()
                return Limit(overall=cap, per_key=(Window(1, post_interval),))
            return Limit(overall=(Window(per_minute[tier], 60.0),))

        super().__init__(
            {method: limit(tier) for method, tier in self._tier_of.items()}, limit(default_tier)
        )

    def limit(self, method: str) -> int | None:
        """
        Calls per minute allowed for C{method}, or C{None} for no window.
        """
        tier = self._tier_of.get(method, self._default_tier)
        if tier is Tier.SPECIAL:
            return self._post_per_minute
        return self._per_minute[tier]
