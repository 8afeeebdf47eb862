# -*- test-case-name: tests.platform.test_delivery -*-
"""
Delivery for a bot-platform connector: the part of C{deliver} that is the
same on Slack, Teams and Webex.

  - Per-conversation queues (L{nextplane.ordering.KeyedSerializer}):
    deliveries to one user from one contact run in order; a queue holds at
    most C{max_queued} deliveries, beyond which the router is told
    C{resource-constraint}.
  - Acknowledgement: the router's L{Deferred} fires when the platform took
    the event, or after C{ack_after} seconds of waiting in the queue, so a
    burst held back by the platform's pace never runs into the router's
    delivery timeout. A failure after that is sent back to the sender as a
    L{DeliveryError} (only for messages and contact events).
  - Events whose sender is answered inline (a command's reply, an updated
    card) are routed without the router's L{DeliveryError}
    (L{Delivery.route_inline}).
  - Revocation drops queued deliveries it covers; stopping fails the queued
    ones (their senders are told) and waits, boundedly, for work under way.
  - Inbound events of one conversation are handled one after another, in
    arrival order (L{Delivery.receive}); L{Delivery.receiving} counts those
    not finished, so the webhook can answer 503 (the platform retries
    later) rather than take more than it can hold.
  - Background work and timers the connector starts are tracked here, so
    stopping waits for them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredList, fail
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...interfaces import DeliveryFailed, IEventSink
from ...model.events import Event
from ...notices import delivery_error
from ...ordering import KeyedSerializer, LaneFull, is_cancelled
from ...router import revocation_reason

__all__ = ["Delivery", "late_notice", "track", "wait_all"]

log = Logger()


def late_notice(event: Event, error: DeliveryFailed, now: datetime) -> Event | None:
    """
    The notice telling C{event}'s sender it failed after it was
    acknowledged (L{nextplane.notices.delivery_error}), or C{None} when the
    sender is not told (a notice itself, presence, typing).
    """
    return delivery_error(event, error.condition, error.reason, now)


def track(pending: set[Deferred[Any]], d: Deferred[Any], what: str) -> None:
    """
    Keep C{d} in C{pending} until it fires; log its failure as C{what}.
    """
    pending.add(d)

    def done(result: Any) -> None:
        pending.discard(d)
        if isinstance(result, Failure):
            log.failure("{what} failed", result, what=what)

    d.addBoth(done)


async def wait_all(clock: IReactorTime, waits: Iterable[Deferred[Any]], timeout: float) -> bool:
    """
    Wait for every Deferred in C{waits} to fire, at most C{timeout}
    seconds, without cancelling or consuming them.

    @return: Whether all fired in time.
    """
    observers: list[Deferred[None]] = []
    for d in waits:
        observer: Deferred[None] = Deferred()

        def relay(result: Any, observer: Deferred[None] = observer) -> Any:
            if not observer.called:
                observer.callback(None)
            return result

        d.addBoth(relay)
        observers.append(observer)
    everything = DeferredList(observers, consumeErrors=True)
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        everything.cancel()

    timer = clock.callLater(timeout, expire)
    with suppress(Exception):  # cancelled by expire()
        await everything
    if timer.active():
        timer.cancel()
    return not expired


class Delivery:
    """
    Queues, acknowledgement and late failures; see the module docstring.

    @ivar late_failures: Deliveries that failed after they were acknowledged.
    @ivar receiving: Inbound events queued or being handled.
    """

    def __init__(
        self,
        *,
        platform: str,
        sink: IEventSink,
        clock: IReactorTime,
        ack_after: float,
        max_queued: int = 1000,
        stop_timeout: float = 15.0,
        notice: Callable[[Event, DeliveryFailed, datetime], Event | None] = late_notice,
    ) -> None:
        """
        @param platform: The platform's name, for reasons and logs.
        @param ack_after: Longest a delivery waits before it is acknowledged.
        @param notice: Builds the sender's notice of a late failure.
        """
        self.platform = platform
        self._sink = sink
        self._clock = clock
        self.ack_after = ack_after
        self._stop_timeout = stop_timeout
        self._notice = notice
        self._lanes = KeyedSerializer(max_queued)
        self._incoming = KeyedSerializer(1 << 30)
        self._background: set[Deferred[Any]] = set()
        self._timers: dict[Hashable, IDelayedCall] = {}
        self.late_failures = 0
        self.receiving = 0

    def __len__(self) -> int:
        return len(self._lanes)

    # -- outbound --------------------------------------------------------------

    def submit(
        self, key: Hashable, event: Event, work: Callable[[], Awaitable[None]]
    ) -> Deferred[None]:
        """
        Queue C{work} delivering C{event} behind earlier deliveries of
        C{key} (the conversation). @return: The router's L{Deferred}.
        """
        try:
            done = self._lanes.submit(key, lambda: self._guarded(event, work), tag=event)
        except LaneFull:
            return fail(
                DeliveryFailed(
                    "resource-constraint",
                    f"too many messages for {event.recipient} are waiting for "
                    f"{self.platform}'s rate limit; try again later",
                )
            )
        return self._acknowledge(event, done)

    def in_order(self, key: Hashable, job: Callable[[], Awaitable[Any]]) -> Deferred[Any]:
        """
        Run C{job} in C{key}'s delivery order (e.g. opening a conversation
        after a command), unbounded by C{max_queued}.
        """
        return self._lanes.submit(key, job)

    async def _guarded(self, event: Event, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except (DeliveryFailed, CancelledError):
            raise
        except Exception:
            log.failure(
                "delivering a {kind} to {platform} failed", kind=event.kind, platform=self.platform
            )
            raise DeliveryFailed(
                "internal-server-error", f"internal error in the {self.platform} connector"
            ) from None

    def _acknowledge(self, event: Event, done: Deferred[Any]) -> Deferred[None]:
        ack: Deferred[None] = Deferred(lambda _: done.cancel())

        def early() -> None:
            if not ack.called:
                ack.callback(None)

        timer = self._clock.callLater(self.ack_after, early)

        def finished(result: Any) -> None:
            if timer.active():
                timer.cancel()
            if not ack.called:
                if isinstance(result, Failure):
                    ack.errback(result)
                else:
                    ack.callback(None)
            elif isinstance(result, Failure) and not is_cancelled(result):
                self._report_late(event, result)

        done.addBoth(finished)
        return ack

    def _report_late(self, event: Event, failure: Failure) -> None:
        self.late_failures += 1
        error = failure.value
        if not isinstance(error, DeliveryFailed):
            error = DeliveryFailed(
                "internal-server-error", f"internal error in the {self.platform} connector"
            )
        log.info(
            "{platform} delivery of {kind} {event_id} failed after it was queued: {condition}",
            platform=self.platform,
            kind=event.kind,
            event_id=event.event_id,
            condition=error.condition,
        )
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        notice = self._notice(event, error, now)
        if notice is not None:
            self.track(self._sink.route(notice), "telling a sender about a failed delivery")

    async def route_inline(self, event: Event) -> Any:
        """
        Route an event whose sender is answered by the caller (a command's
        reply, an updated card): the router's L{DeliveryError} for it is
        then not shown again.
        """
        route: Any = self._sink.route  # the router's, with tell_sender
        return await route(event, tell_sender=False)

    # -- inbound ---------------------------------------------------------------

    def receive(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        """
        Handle an inbound event behind earlier ones of conversation C{key};
        a failure is logged (the platform was answered already).
        """
        self.receiving += 1
        d = self._incoming.submit(key, job)
        d.addErrback(lambda f: log.failure("handling a {p} event failed", f, p=self.platform))
        d.addBoth(self._received)

    def _received(self, result: Any) -> None:
        self.receiving -= 1

    # -- background work -------------------------------------------------------

    def track(self, d: Deferred[Any], what: str) -> None:
        """
        Keep C{d} until it fires (stopping waits for it); log its failure.
        """
        track(self._background, d, what)

    def schedule(
        self, key: Hashable, delay: float, work: Callable[[], Awaitable[Any]], what: str
    ) -> None:
        """
        Run coroutine function C{work} after C{delay}, once per C{key} (a
        second request while one is pending is dropped).
        """
        pending = self._timers.get(key)
        if pending is not None and pending.active():
            return

        def run() -> None:
            self._timers.pop(key, None)
            self.track(Deferred.fromCoroutine(_call(work)), what)

        self._timers[key] = self._clock.callLater(delay, run)

    # -- revocation and stop ---------------------------------------------------

    def revoke(self, revocation: Any) -> int:
        """
        Fail queued (and running) deliveries an admin revocation covers;
        their senders are told. @return: How many.
        """

        def covered(tag: Any) -> DeliveryFailed | None:
            reason = revocation_reason(revocation, tag) if isinstance(tag, Event) else None
            return DeliveryFailed("forbidden", reason) if reason else None

        return self._lanes.fail_waiting(covered, running=True)

    def stop(self) -> Deferred[bool]:
        """
        Cancel timers, fail the queued deliveries and wait (at most
        C{stop_timeout}) for work under way. @return: Fires with whether
        everything finished in time.
        """
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        dropped = self._lanes.fail_waiting(
            lambda tag: DeliveryFailed(
                "service-unavailable", f"the hub stopped before {self.platform} took it"
            )
        )
        if dropped:
            log.info(
                "stopping {platform}: {count} queued deliveries failed",
                platform=self.platform,
                count=dropped,
            )
        waits = [self._lanes.idle(), self._incoming.idle(), *self._background]
        return Deferred.fromCoroutine(wait_all(self._clock, waits, self._stop_timeout))


async def _call(work: Callable[[], Awaitable[Any]]) -> Any:
    return await work()
