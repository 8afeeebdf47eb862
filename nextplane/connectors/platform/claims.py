# -*- test-case-name: tests.platform.test_claims -*-
"""
Acknowledging a platform's webhook once the work record of what it
delivered is durable (L{nextplane.work}), within the platform's budget.

A platform that stops retrying once it got its answer must not be
answered before the record is in the store, or a crash loses the message
silently; a store slower than the platform's budget must not make it
resend what is being handled, so past the budget it is answered anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...storage.records import WorkRecord

__all__ = ["acknowledged"]

log = Logger()


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
    answer: Deferred[bool] = Deferred()

    def expire() -> None:
        if not answer.called:
            answer.callback(True)

    timer = clock.callLater(budget, expire)

    def done(result: Any) -> None:
        if timer.active():
            timer.cancel()
        if isinstance(result, Failure):
            log.failure("recording {what} failed", result, what=what)
        elif result is not None:
            take(result)
        if not answer.called:
            answer.callback(not isinstance(result, Failure))

    claiming.addBoth(done)
    return answer
