# -*- test-case-name: tests.platform.test_claims -*-
"""
Answering a platform within its budget: L{within} waits for a result at
most so long; L{acknowledged} answers a webhook once the work record of
what it delivered is durable (L{nextplane.work}), within the budget.

A platform that stops retrying once it got its answer must not be
answered before the record is in the store, or a crash loses the message
silently; a store slower than the platform's budget must not make it
resend what is being handled, so past the budget it is answered anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...storage.records import WorkRecord

__all__ = ["acknowledged", "within"]

T = TypeVar("T")

log = Logger()


def within(
    d: Deferred[T], timeout: float, clock: IReactorTime, default: Any = None
) -> Deferred[Any]:
    """
    C{d}'s result (or failure) if it comes within C{timeout} seconds, else
    C{default}; C{d} runs on either way, and what it gives after the
    timeout stays its own.
    """
    waiter: Deferred[Any] = Deferred()

    def expire() -> None:
        if not waiter.called:
            waiter.callback(default)

    timer = clock.callLater(timeout, expire)

    def relay(result: Any) -> Any:
        if timer.active():
            timer.cancel()
        if waiter.called:
            return result
        if isinstance(result, Failure):
            waiter.errback(result)
            return None
        waiter.callback(result)
        return result

    d.addBoth(relay)
    return waiter


def acknowledged(
    claiming: Deferred[WorkRecord | None],
    clock: IReactorTime,
    budget: float,
    take: Callable[[WorkRecord], None],
    what: str = "an event",
) -> Deferred[bool]:
    """
    Hand a claimed record to C{take} once it is durable (never for a
    duplicate, whose claim fires with C{None}), and tell when the platform
    may be answered.

    @param claiming: The claim (L{nextplane.work.WorkLog.accept}).
    @param budget: Seconds before the platform is answered anyway (the
        claim carries on).
    @param what: Names the delivery in the log when its claim fails.
    @return: A L{Deferred} firing with C{True} once the claim is durable,
        or after C{budget}; with C{False} when the claim failed (nothing
        is durable: the platform should send it again).
    """

    def durable(record: WorkRecord | None) -> bool:
        if record is not None:
            take(record)
        return True

    def failed(failure: Failure) -> bool:
        log.failure("recording {what} failed", failure, what=what)
        return False

    return within(claiming.addCallbacks(durable, failed), budget, clock, default=True)
