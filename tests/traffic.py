"""
Time and in-memory HTTP for the platform test hubs (Slack, Teams, Webex):
every L{StubTreq} client flushed and the L{Clock} run until quiet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

T = TypeVar("T")


class MemoryTraffic:
    """
    Mixed into a test hub that has a C{clock} and lists its HTTP clients.

    @cvar rounds: Most pump rounds before giving up on quiet.
    @cvar step: Seconds per step of L{advance}.
    """

    clock: Clock
    rounds = 200
    step = 1.0

    def clients(self) -> Iterable[StubTreq]:
        """Every in-memory HTTP client to flush."""
        raise NotImplementedError

    def pump(self, rounds: int | None = None) -> None:
        """Move HTTP traffic and run what is due now, until quiet."""
        for _ in range(rounds or self.rounds):
            clients = list(self.clients())
            for client in clients:
                client.flush()
            due = [c for c in self.clock.getDelayedCalls() if c.getTime() <= self.clock.seconds()]
            busy = any(client._agent._pumps for client in clients)  # type: ignore[attr-defined]
            if not due and not busy:
                return
            self.clock.advance(0)

    def advance(self, seconds: float, step: float | None = None) -> None:
        """Let C{seconds} pass in steps, pumping after each."""
        self.pump()
        remaining = seconds
        while remaining > 1e-9:
            move = min(step or self.step, remaining)
            self.clock.advance(move)
            self.pump()
            remaining -= move

    def wait(self, d: Deferred[T], limit: float = 30.0) -> Deferred[T]:
        """Advance time until C{d} fired (at most C{limit} seconds)."""
        waited = 0.0
        self.pump()
        while not d.called and waited < limit:
            self.advance(0.5)
            waited += 0.5
        return d
