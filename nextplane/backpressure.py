# -*- test-case-name: tests.test_backpressure -*-
"""
Backpressure: slow a producer down instead of losing its work.

A connection (an s2s stream, a SIP connection) feeds the hub work: each
stanza or request becomes a L{Deferred} that fires once the hub is done
with it (delivered, refused or queued for the platform). L{Backpressure}
counts each producer's work in flight; past C{high} it stops reading the
connection (C{pauseProducing}), so TCP's window holds the peer back, and
at C{low} it reads again (C{resumeProducing}). Work already read is never
dropped for this: the bound is on what is read, not on what is kept.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger

__all__ = ["Backpressure"]

log = Logger()


class Backpressure:
    """
    Pauses producers with too much work in flight; see the module docstring.

    @ivar pauses: How many times a producer was paused (for metrics).
    """

    def __init__(self, high: int, low: int | None = None, what: str = "connection") -> None:
        """
        @param high: Work in flight per producer at which it is paused.
        @param low: Work in flight at which it is resumed (default: half).
        @param what: The producers' kind, for logs.
        """
        if high < 1:
            raise ValueError("high must be at least 1")
        self.high = high
        self.low = low if low is not None else high // 2
        if not 0 <= self.low < high:
            raise ValueError("low must be below high")
        self._what = what
        self._in_flight: dict[IPushProducer, int] = {}
        self._paused: set[IPushProducer] = set()
        self.pauses = 0

    def in_flight(self, producer: IPushProducer) -> int:
        """
        The work of C{producer} not finished yet.
        """
        return self._in_flight.get(producer, 0)

    def paused(self, producer: IPushProducer) -> bool:
        """
        Whether C{producer} is paused here.
        """
        return producer in self._paused

    def track(self, producer: Any, work: Any) -> None:
        """
        Count C{work} (a L{Deferred}; anything else is already done) against
        C{producer} (an L{IPushProducer}, such as a TCP transport; C{None}:
        not counted) until it fires, pausing the producer past the high mark.
        The work's result is passed on untouched.
        """
        if producer is None or not isinstance(work, Deferred) or work.called:
            return
        count = self._in_flight.get(producer, 0) + 1
        self._in_flight[producer] = count
        if count >= self.high and producer not in self._paused:
            self._paused.add(producer)
            self.pauses += 1
            log.info(
                "a {what} has {count} items in flight: reading paused until it drains",
                what=self._what,
                count=count,
            )
            producer.pauseProducing()

        def done(result: Any) -> Any:
            self._finished(producer)
            return result

        work.addBoth(done)

    def _finished(self, producer: IPushProducer) -> None:
        count = self._in_flight.get(producer, 1) - 1
        if count > 0:
            self._in_flight[producer] = count
        else:
            self._in_flight.pop(producer, None)
        if producer in self._paused and count <= self.low:
            self._paused.discard(producer)
            producer.resumeProducing()

    def forget(self, producer: Any) -> None:
        """
        Stop counting for C{producer} (its connection closed).
        """
        self._in_flight.pop(producer, None)
        self._paused.discard(producer)
