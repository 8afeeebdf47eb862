# -*- test-case-name: tests.slack.test_connector -*-
"""
Ordered work per key: what the Slack connector does for one conversation
happens one job at a time, in the order it was asked for.

Deliveries to one Slack user from one contact (messages, edits, the
conversation's creation on acceptance...) each need several asynchronous
steps (store look-ups, Web API calls paced at one post per second per
channel). L{Lanes} runs the jobs of one key strictly in submission order
while different keys proceed independently, so a message is never
overtaken by a later one and a conversation is created once.

A job not yet started can be cancelled (its L{Deferred} fails with
L{CancelledError} and it never runs); a lane holds at most C{max_queued}
jobs, beyond which L{Lanes.submit} refuses with L{LaneFull}.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.python.failure import Failure

__all__ = ["LaneFull", "Lanes"]

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


class Lanes:
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

    def submit(self, key: Hashable, job: Job, tag: Any = None) -> Deferred[Any]:
        """
        Run C{job} after every job submitted earlier under C{key}.

        @param tag: Anything describing the job, for L{fail_waiting}.

        @return: Fires with the job's result (or failure).
        @raise LaneFull: When C{max_queued} jobs already wait under C{key}.
        """
        lane = self._lanes.setdefault(key, deque())
        if len(lane) >= self._max:
            raise LaneFull(f"{len(lane)} jobs already wait")
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
