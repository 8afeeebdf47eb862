"""
A Slack simulator and a Web API client wired together in memory.
"""

from __future__ import annotations

import random
from typing import Any, TypeVar

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from nextplane.connectors.slack.api import RetryPolicy, SlackWebClient
from nextplane.connectors.slack.ratelimit import RateLimiter
from nextplane.testing.slack_sim import REAL_LIMITS, SlackSimulator

from ..platform.hub import T0, advance_pumping

T = TypeVar("T")

TOKEN = "xoxb-1111-2222-SECRETTOKENVALUE"
BASE_URL = "https://slack.test/api/"
#: The scopes of the nextplane app's bot token.
SCOPES = frozenset(
    {
        "chat:write",
        "chat:write.customize",
        "reactions:write",
        "channels:manage",
        "groups:write",
        "im:write",
        "mpim:write",
        "users:read",
        "users:read.email",
        "files:write",
        "files:read",
    }
)


class ZeroRandom(random.Random):
    """A random source whose jitter is always zero."""

    def random(self) -> float:
        """Always 0."""
        return 0.0


class SlackFixture:
    """
    A simulated workspace (users alice and bob, channel #general with alice
    and the bot, #lobby without the bot) and a client for the bot token.
    """

    def __init__(
        self,
        mode: str = REAL_LIMITS,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        http: Any = None,
        token: str = TOKEN,
        scopes: frozenset[str] = SCOPES,
    ) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.sim = SlackSimulator(self.clock, mode=mode)
        ws = self.sim.workspace
        ws.add_token(TOKEN, scopes)
        self.alice = ws.add_user("alice", "alice@acme.test", "Alice Liddell")
        self.bob = ws.add_user("bob", "bob@acme.test")
        self.general = ws.add_channel("general", {self.alice.id, ws.bot_user_id})
        self.lobby = ws.add_channel("lobby", {self.alice.id})
        self.stub = StubTreq(self.sim.resource())
        self.client = SlackWebClient(
            token,
            http if http is not None else self.stub,
            self.clock,
            ZeroRandom(),
            base_url=BASE_URL,
            policy=policy,
            limiter=limiter,
        )

    def pump(self) -> None:
        """Deliver pending in-memory HTTP traffic."""
        self.stub.flush()

    def run(self, d: Deferred[T]) -> Deferred[T]:
        """Pump, then hand C{d} back (for successResultOf/failureResultOf)."""
        self.pump()
        return d

    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move the clock forward in steps, pumping traffic after each."""
        advance_pumping(self.clock, self.pump, seconds, step)

    def texts(self, channel: str) -> list[str]:
        """The texts of a channel's messages, oldest first."""
        return [m.text for m in self.sim.messages(channel)]
