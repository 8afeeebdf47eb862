"""
Late or lost (issue 16): what became of each message a benchmark step
sent, told apart once the step's messages in flight have drained.

A step is judged at its drain deadline: what arrived by then arrived in
time. A message still missing then is not yet lost: an overloaded
system may deliver it later, or tell its sender it was not delivered.
So after the deadline L{settle} keeps waiting, bounded, until every
message arrived or its sender was told, or nothing more arrived (and
no sender was told) for C{quiet_s} seconds. L{fates} then counts each
message once:

  - C{arrived_in_time}: arrived by the drain deadline;
  - C{arrived_late}: arrived after it, while settling;
  - C{told}: never arrived, and its sender got an error back (a stanza
    error, a notice): not delivered, but not silently;
  - C{lost}: never arrived and its sender was never told. The only real
    loss; the guarantee of issue 16 is that it is 0 at any load.

A message that both arrived and was told (an ambiguous failure) counts
as arrived; C{ambiguous} counts those.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Container
from dataclasses import dataclass
from typing import Any

from twisted.internet import task

__all__ = ["Fates", "fates", "settle"]


@dataclass(frozen=True)
class Fates:
    """
    One step's messages by fate; see the module docstring.
    """

    arrived_in_time: int
    arrived_late: int
    told: int
    lost: int
    ambiguous: int
    settle_seconds: float

    def as_dict(self) -> dict[str, Any]:
        """The result fields."""
        return {
            "arrived_in_time": self.arrived_in_time,
            "arrived_late": self.arrived_late,
            "told": self.told,
            "lost": self.lost,
            "ambiguous": self.ambiguous,
            "settle_seconds": round(self.settle_seconds, 1),
        }


async def settle(
    reactor: Any,
    sent: Collection[int],
    arrived: Callable[[], Container[int]],
    told: Callable[[], Container[int]],
    *,
    quiet_s: float,
    max_s: float,
    interval: float = 0.1,
) -> float:
    """
    Wait until every message of C{sent} arrived or was told, or neither
    count moved for C{quiet_s} seconds, at most C{max_s} seconds.

    @param arrived: The sequence numbers that arrived so far.
    @param told: Those whose sender was told.
    @return: Seconds waited.
    """
    started = time.monotonic()
    last_change = started
    previous = -1
    while True:
        seen, answered = arrived(), told()
        accounted = sum(1 for s in sent if s in seen or s in answered)
        now = time.monotonic()
        if accounted == len(sent):
            break
        if accounted != previous:
            previous, last_change = accounted, now
        elif now - last_change >= quiet_s or now - started >= max_s:
            break
        await task.deferLater(reactor, interval, lambda: None)
    return time.monotonic() - started


def fates(
    sent: Collection[int],
    in_time: Container[int],
    arrived: Container[int],
    told: Container[int],
    settle_seconds: float,
) -> Fates:
    """
    Count each message of C{sent} by fate.

    @param in_time: What had arrived at the drain deadline.
    @param arrived: What has arrived now (after L{settle}).
    @param told: Whose senders were told.
    """
    on_time = sum(1 for s in sent if s in in_time)
    late = sum(1 for s in sent if s in arrived and s not in in_time)
    answered = sum(1 for s in sent if s in told and s not in arrived)
    return Fates(
        arrived_in_time=on_time,
        arrived_late=late,
        told=answered,
        lost=len(sent) - on_time - late - answered,
        ambiguous=sum(1 for s in sent if s in told and s in arrived),
        settle_seconds=settle_seconds,
    )
