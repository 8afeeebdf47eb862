# -*- test-case-name: tests.test_ordering -*-
"""
Per-key order: the one serializer every part of the hub uses when work for
one key (a conversation, a pair of parties, a peer) must happen one job at
a time, in the order it was asked for, while other keys proceed.

Jobs are asynchronous (store look-ups, network calls). L{KeyedSerializer}
runs the jobs of one key strictly in submission order, so a message is
never overtaken by a later one and a conversation is created once.

Two ways in:
  - L{KeyedSerializer.submit} queues a job and fires with its result;
  - L{KeyedSerializer.acquire} waits for the key and fires with a release
    function, for callers that hold the key across several steps.

A job not yet started can be cancelled (its L{Deferred} fails with
L{CancelledError} and it never runs); a key holds at most C{max_queued}
jobs, beyond which L{KeyedSerializer.submit} refuses with L{LaneFull}.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.python.failure import Failure

__all__ = ["KeyedSerializer", "LaneFull", "is_cancelled"]

Job = Callable[[], Awaitable[Any]]


class LaneFull(Exception):
    """
    Too many jobs wait in one lane.
    """


class _Entry:
    def __init__(self, job: Job, tag: Any) -> None:
        self.job = job
        self.tag = tag
        self.started = False
        self.running: Deferred[Any] | None = None
        self.result: Deferred[Any] = Deferred(self._cancel)

    def _cancel(self, d: Deferred[Any]) -> None:
        # Deferred.cancel fails it with CancelledError afterwards; a job
        # already running finishes, but its result is then ignored.
        pass


class KeyedSerializer:
    """
    Job queues by key; see the module docstring.
    """

    def __init__(self, max_queued: int = 1000) -> None:
        self._max = max_queued
        self._lanes: dict[Hashable, deque[_Entry]] = {}
        self._runners: dict[Hashable, Deferred[None]] = {}

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def queued(self, key: Hashable) -> int:
        """
        Jobs waiting or running under C{key}.
        """
        return len(self._lanes.get(key, ()))

    def busy(self, key: Hashable) -> bool:
        """
        Whether a job runs or waits under C{key}.
        """
        return key in self._lanes

    def acquire(self, key: Hashable) -> Deferred[Callable[[], None]]:
        """
        Wait for C{key}: fires, after every job submitted earlier under it,
        with a release function (idempotent) that lets the next one in.
        Not bounded by C{max_queued}: the caller already holds its work.
        """
        released: Deferred[None] = Deferred()
        granted: Deferred[Callable[[], None]] = Deferred()

        def release() -> None:
            if not released.called:
                released.callback(None)

        def hold() -> Deferred[None]:
            granted.callback(release)
            return released

        self._enqueue(key, hold, None)
        return granted

    def submit(self, key: Hashable, job: Job, tag: Any = None) -> Deferred[Any]:
        """
        Run C{job} after every job submitted earlier under C{key}.

        @param tag: Anything describing the job, for L{fail_waiting}.

        @return: Fires with the job's result (or failure).
        @raise LaneFull: When C{max_queued} jobs already wait under C{key}.
        """
        if len(self._lanes.get(key, ())) >= self._max:
            raise LaneFull(f"{self._max} jobs already wait")
        return self._enqueue(key, job, tag)

    def _enqueue(self, key: Hashable, job: Job, tag: Any) -> Deferred[Any]:
        lane = self._lanes.setdefault(key, deque())
        entry = _Entry(job, tag)
        lane.append(entry)
        if key not in self._runners:
            done: Deferred[None] = Deferred()
            self._runners[key] = done
            Deferred.fromCoroutine(self._run(key, lane, done))
        return entry.result

    async def _run(self, key: Hashable, lane: deque[_Entry], done: Deferred[None]) -> None:
        try:
            while lane:
                entry = lane[0]
                if not entry.result.called:
                    entry.started = True
                    entry.running = Deferred.fromCoroutine(_call(entry.job))
                    try:
                        value = await entry.running
                    except Exception:
                        outcome: Any = Failure()
                    else:
                        outcome = value
                    if not entry.result.called:
                        if isinstance(outcome, Failure):
                            entry.result.errback(outcome)
                        else:
                            entry.result.callback(outcome)
                lane.popleft()
        finally:
            if self._runners.get(key) is done:
                del self._runners[key]
            if self._lanes.get(key) is lane and not lane:
                del self._lanes[key]
            done.callback(None)

    def tags(self) -> list[Any]:
        """
        The tags of the jobs not yet started.
        """
        return [
            entry.tag
            for lane in self._lanes.values()
            for entry in lane
            if not entry.started and not entry.result.called
        ]

    def fail_waiting(
        self, decide: Callable[[Any], BaseException | None], running: bool = False
    ) -> int:
        """
        Fail jobs not yet started: each job whose tag C{decide} maps to an
        exception fails with it and never runs.

        @param running: Also fail the jobs running now with their exception
            and cancel what they wait for (a request not yet sent is then
            dropped; one already sent may still take effect).
        @return: How many failed.
        """
        count = 0
        for lane in list(self._lanes.values()):
            for entry in list(lane):
                if entry.result.called or (entry.started and not running):
                    continue
                error = decide(entry.tag)
                if error is not None:
                    entry.result.errback(Failure(error))
                    if entry.running is not None:
                        entry.running.cancel()
                    count += 1
        return count

    def idle(self) -> Deferred[None]:
        """
        Fires once every lane running now has finished.
        """
        running = list(self._runners.values())
        return DeferredList(running, consumeErrors=True).addCallback(lambda _: None)  # type: ignore[arg-type]


async def _call(job: Job) -> Any:
    return await job()


def is_cancelled(failure: Failure) -> bool:
    """
    Whether C{failure} is a cancellation.
    """
    return failure.check(CancelledError) is not None
