# -*- test-case-name: tests.test_refusals -*-
"""
Rate-limited logging of refused connections.

A listener facing the Internet refuses hostile or excess connections all
day; one info line per refusal helps an operator, thousands per minute
drown the log. L{RefusalLog} lets a few lines through per interval and
counts the rest, reporting the count with the next line it lets through.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

__all__ = ["RefusalLog"]


class RefusalLog:
    """
    At most C{burst} info lines per C{interval} seconds, shared by every
    caller of one instance (one per listener or service).
    """

    def __init__(
        self, log: Logger, clock: IReactorTime, interval: float = 60.0, burst: int = 10
    ) -> None:
        """
        @param log: Where lines go (at info level).
        @param clock: Source of time.
        @param interval: The window, in seconds.
        @param burst: Lines let through per window.
        """
        self._log = log
        self._clock = clock
        self._interval = interval
        self._burst = burst
        self._window_start: float | None = None
        self._count = 0
        self.suppressed = 0

    def refused(self, format: str, **kwargs: Any) -> bool:
        """
        Log one refusal, unless this window's lines are used up.

        @param format: A L{twisted.logger} format string; never content.
        @param kwargs: Its fields.
        @return: Whether the line was logged.
        """
        now = self._clock.seconds()
        if self._window_start is None or now - self._window_start >= self._interval:
            self._window_start = now
            self._count = 0
        if self._count >= self._burst:
            self.suppressed += 1
            return False
        self._count += 1
        if self.suppressed:
            format += " ({suppressed} similar lines suppressed before)"
            kwargs["suppressed"] = self.suppressed
            self.suppressed = 0
        self._log.info(format, **kwargs)
        return True
