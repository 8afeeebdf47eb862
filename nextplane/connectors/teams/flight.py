# -*- test-case-name: tests.teams.test_token -*-
"""
One fetch at a time, shared by every caller that wants its result.

Signing keys and bot tokens are fetched when many requests need them at
once; L{SingleFlight} lets the first caller start the fetch and the others
wait for the same answer, instead of each asking the identity provider.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """
    Runs C{run} once for all concurrent callers.
    """

    def __init__(self, run: Callable[[], Coroutine[Any, Any, T]]) -> None:
        """
        @param run: Makes the coroutine to run; called once per flight.
        """
        self._run = run
        self._waiters: list[Deferred[T]] = []

    @property
    def flying(self) -> bool:
        """
        Whether a run is under way.
        """
        return bool(self._waiters)

    async def __call__(self) -> T:
        """
        The result of the run under way, or of a new one.
        """
        waiter: Deferred[T] = Deferred()
        self._waiters.append(waiter)
        if len(self._waiters) == 1:
            Deferred.fromCoroutine(self._run()).addBoth(self._settle)
        return await waiter

    def _settle(self, result: T | Failure) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)
