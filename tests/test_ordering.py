"""
Tests for L{nextplane.ordering}: the one per-key serializer.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.trial.unittest import SynchronousTestCase

from nextplane.ordering import KeyedSerializer, LaneFull


class SubmitTests(SynchronousTestCase):
    def test_one_key_runs_in_submission_order(self) -> None:
        """
        Jobs of one key run one at a time, in order, each after the one
        before it has finished.
        """
        serializer = KeyedSerializer()
        gates = [Deferred[None]() for _ in range(3)]
        started: list[int] = []

        def job(n: int) -> Any:
            def run() -> Deferred[None]:
                started.append(n)
                return gates[n]

            return run

        results = [serializer.submit("k", job(n)) for n in range(3)]
        self.assertEqual(started, [0])
        gates[0].callback(None)
        self.assertEqual(started, [0, 1])
        gates[1].callback(None)
        gates[2].callback(None)
        self.assertEqual(started, [0, 1, 2])
        for result in results:
            self.successResultOf(result)
        self.assertFalse(serializer.busy("k"))

    def test_keys_are_independent(self) -> None:
        """
        A busy key does not hold back another key.
        """
        serializer = KeyedSerializer()
        blocked: Deferred[None] = Deferred()
        serializer.submit("a", lambda: blocked)
        other = serializer.submit("b", lambda: Deferred.fromCoroutine(_value(7)))
        self.assertEqual(self.successResultOf(other), 7)
        self.assertTrue(serializer.busy("a"))

    def test_failure_does_not_stop_the_key(self) -> None:
        """
        A failing job fails its own result; the next job still runs.
        """
        serializer = KeyedSerializer()

        async def boom() -> None:
            raise ValueError("no")

        first = serializer.submit("k", boom)
        second = serializer.submit("k", lambda: Deferred.fromCoroutine(_value(1)))
        self.failureResultOf(first, ValueError)
        self.assertEqual(self.successResultOf(second), 1)

    def test_bounded(self) -> None:
        """
        Past C{max_queued} jobs under one key, submit refuses at once.
        """
        serializer = KeyedSerializer(max_queued=2)
        serializer.submit("k", Deferred)
        serializer.submit("k", Deferred)
        self.assertRaises(LaneFull, serializer.submit, "k", Deferred)
        self.assertEqual(serializer.queued("k"), 2)

    def test_cancel_before_start(self) -> None:
        """
        A job cancelled before it starts never runs.
        """
        serializer = KeyedSerializer()
        gate: Deferred[None] = Deferred()
        ran: list[str] = []
        serializer.submit("k", lambda: gate)

        def later() -> Deferred[None]:
            ran.append("later")
            return Deferred.fromCoroutine(_value(None))

        waiting = serializer.submit("k", later)
        waiting.cancel()
        self.failureResultOf(waiting, CancelledError)
        gate.callback(None)
        self.assertEqual(ran, [])

    def test_fail_waiting_by_tag(self) -> None:
        """
        L{KeyedSerializer.fail_waiting} fails the jobs whose tag it picks.
        """
        serializer = KeyedSerializer()
        gate: Deferred[None] = Deferred()
        serializer.submit("k", lambda: gate, tag="first")
        keep = serializer.submit("k", lambda: Deferred.fromCoroutine(_value(1)), tag="keep")
        drop = serializer.submit("k", Deferred, tag="drop")
        failed = serializer.fail_waiting(lambda tag: KeyError(tag) if tag == "drop" else None)
        self.assertEqual(failed, 1)
        self.failureResultOf(drop, KeyError)
        gate.callback(None)
        self.assertEqual(self.successResultOf(keep), 1)

    def test_idle(self) -> None:
        """
        L{KeyedSerializer.idle} fires once the running keys are done.
        """
        serializer = KeyedSerializer()
        gate: Deferred[None] = Deferred()
        serializer.submit("k", lambda: gate)
        idle = serializer.idle()
        self.assertNoResult(idle)
        gate.callback(None)
        self.successResultOf(idle)


class AcquireTests(SynchronousTestCase):
    def test_free_key_is_granted_at_once(self) -> None:
        """
        A free key is granted synchronously.
        """
        serializer = KeyedSerializer()
        release = self.successResultOf(serializer.acquire("k"))
        self.assertTrue(serializer.busy("k"))
        release()
        self.assertFalse(serializer.busy("k"))

    def test_holders_follow_each_other(self) -> None:
        """
        The second holder is let in once the first releases; releasing
        twice is harmless.
        """
        serializer = KeyedSerializer()
        first = self.successResultOf(serializer.acquire("k"))
        second = serializer.acquire("k")
        self.assertNoResult(second)
        first()
        first()
        release = self.successResultOf(second)
        self.assertTrue(serializer.busy("k"))
        release()
        self.assertEqual(len(serializer), 0)

    def test_acquire_and_submit_share_the_order(self) -> None:
        """
        A submitted job waits for an earlier holder, and a later holder
        waits for the job.
        """
        serializer = KeyedSerializer()
        order: list[str] = []
        held = self.successResultOf(serializer.acquire("k"))

        def job() -> Deferred[None]:
            order.append("job")
            return Deferred.fromCoroutine(_value(None))

        done = serializer.submit("k", job)
        later = serializer.acquire("k")
        self.assertEqual(order, [])
        held()
        self.successResultOf(done)
        self.assertEqual(order, ["job"])
        self.successResultOf(later)()


async def _value(value: Any) -> Any:
    return value
