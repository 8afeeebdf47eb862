# -*- test-case-name: tests.teams.test_simulator -*-
"""
Teams' documented rate limits as sliding windows
(C{msteams-platform/bots/how-to/rate-limit.md}):

  - per bot per conversation, sending and creating conversations:
    7 per 1 s, 8 per 2 s, 60 per 30 s, 1,800 per 3,600 s;
  - per app per tenant: 30 requests per second (the documented floor).

Teams promises no C{Retry-After}; the simulator sends one (the time until
the fullest window has room), which a client may honour.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

__all__ = ["CONVERSATION_LIMITS", "TENANT_LIMITS", "SlidingWindows"]

#: (requests, seconds) per conversation for sends and conversation creation.
CONVERSATION_LIMITS: tuple[tuple[int, float], ...] = (
    (7, 1.0),
    (8, 2.0),
    (60, 30.0),
    (1800, 3600.0),
)
#: (requests, seconds) per app per tenant.
TENANT_LIMITS: tuple[tuple[int, float], ...] = ((30, 1.0),)


class SlidingWindows:
    """
    Several sliding-window limits over one stream of requests.
    """

    def __init__(self, limits: Sequence[tuple[int, float]]) -> None:
        self.limits = tuple(limits)
        self._span = max(seconds for _, seconds in self.limits)
        self._times: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """
        Take a request at C{now}: C{None} when admitted (and counted),
        else the seconds to wait until every window has room.
        """
        while self._times and self._times[0] <= now - self._span:
            self._times.popleft()
        wait = 0.0
        for count, seconds in self.limits:
            inside = [t for t in self._times if t > now - seconds]
            if len(inside) >= count:
                wait = max(wait, inside[-count] + seconds - now)
        if wait > 0:
            return wait
        self._times.append(now)
        return None


def retry_after(wait: float) -> int:
    """
    A C{Retry-After} value (whole seconds, at least 1) for a wait.
    """
    return max(1, math.ceil(wait))
