# -*- test-case-name: tests.sip.test_connector -*-
"""
Per-key serialisation for the SIP connector: what one SIP user sends one
hub user (and the reverse) is handled in arrival order, though handling
waits for the store and the router.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from twisted.internet.defer import Deferred, succeed

__all__ = ["Lanes"]


class Lanes:
    """
    One queue per key: L{acquire} fires, in call order, with a function
    that lets the next caller for the same key in.
    """

    def __init__(self) -> None:
        self._waiting: dict[Hashable, list[Deferred[Callable[[], None]]]] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def busy(self, key: Hashable) -> bool:
        """
        Whether someone holds C{key}.
        """
        return key in self._waiting

    def acquire(self, key: Hashable) -> Deferred[Callable[[], None]]:
        """
        Wait for C{key}; fires with its release function (idempotent).
        """
        queue = self._waiting.get(key)
        if queue is None:
            self._waiting[key] = []
            return succeed(self._releaser(key))
        waiter: Deferred[Callable[[], None]] = Deferred()
        queue.append(waiter)
        return waiter

    def _releaser(self, key: Hashable) -> Callable[[], None]:
        done = False

        def release() -> None:
            nonlocal done
            if done:
                return
            done = True
            queue = self._waiting.get(key)
            if not queue:
                self._waiting.pop(key, None)
                return
            queue.pop(0).callback(self._releaser(key))

        return release
