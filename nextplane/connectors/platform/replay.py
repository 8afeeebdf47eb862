# -*- test-case-name: tests.slack.test_signature -*-
"""
Remembering what was already seen (webhook deliveries retried by the
platform, request signatures, one-time tokens) for a time window, in
bounded memory.
"""

from __future__ import annotations

from cachetools import TTLCache
from twisted.internet.interfaces import IReactorTime

__all__ = ["ReplayGuard"]


class ReplayGuard:
    """
    Remembers keys for C{window} seconds (a C{cachetools.TTLCache} on the
    injected clock). At most C{max_entries} are kept, the oldest going
    first, so a flood cannot exhaust memory; a key evicted early can then be
    accepted again, which only weakens deduplication under such a flood.
    """

    def __init__(self, clock: IReactorTime, window: float, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._seen: TTLCache[str, bool] = TTLCache(max_entries, window, timer=clock.seconds)

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, key: str) -> bool:
        """
        Record C{key}; tell whether it had been recorded within the window.

        @return: C{True} for a replay (the key stays recorded with its first
            time), C{False} for a new key.
        """
        if key in self._seen:
            return True
        self._seen[key] = True
        return False
