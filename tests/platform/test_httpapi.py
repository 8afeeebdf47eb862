"""
Tests for L{nextplane.connectors.platform.httpapi}.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.httpapi import (
    CONDITION_UNCERTAIN,
    ApiError,
    Caller,
    CallLanes,
    Retry,
    RetryPolicy,
    check_status,
    retry_after,
)
from nextplane.connectors.platform.ratelimit import Limit, RateLimiter, Window


class _Response:
    def __init__(self, code: int, body: bytes = b"{}") -> None:
        self.code = code
        self.headers = None
        self._body = body

    def content(self) -> Deferred[bytes]:
        return succeed(self._body)


class _HTTP:
    """Answers each request with the next item: a response, an exception or a Deferred."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[str, Any]] = []

    def request(self, method: str, url: Any, **kwargs: Any) -> Deferred[Any]:
        self.requests.append((method, url))
        answer = self.answers.pop(0)
        if isinstance(answer, Deferred):
            return answer
        if isinstance(answer, Exception):
            d: Deferred[Any] = Deferred()
            d.errback(answer)
            return d
        return succeed(answer)


def _fail(method: str, error: str) -> ApiError:
    return ApiError("resource-constraint", f"{method}: {error}", method, error)


class CallerTests(SynchronousTestCase):
    """
    L{Caller} retries by what a failure says about the platform having acted.
    """

    def caller(self, http: _HTTP, limiter: RateLimiter | None = None, gate: Any = None) -> Caller:
        self.clock = Clock()
        return Caller(
            http,
            self.clock,
            random.Random(1),
            RetryPolicy(max_attempts=3),
            limiter or RateLimiter({}),
            _fail,
            "Toy",
            gate,
        )

    def call(self, caller: Caller, idempotent: bool, **kwargs: Any) -> Deferred[Any]:
        async def once() -> Any:
            code, _, body = await caller.request("POST", "https://api.test/x")
            if code == 429:
                raise Retry("ratelimited", False, 2.0)
            if code >= 500:
                raise Retry(f"http_{code}", None if code != 503 else False)
            return body

        return Deferred.fromCoroutine(caller.call("x", once, idempotent=idempotent, **kwargs))

    def test_not_processed_retried(self) -> None:
        """A refused connection is retried, after a backoff, even for a write."""
        http = _HTTP(ConnectionRefusedError(), _Response(200, b"ok"))
        caller = self.caller(http)
        d = self.call(caller, idempotent=False)
        self.assertNoResult(d)
        self.clock.advance(1.0)
        self.assertEqual(self.successResultOf(d), b"ok")

    def test_ambiguous_write_not_repeated(self) -> None:
        """A 500 on a write fails as uncertain: it is not repeated."""
        http = _HTTP(_Response(500), _Response(200))
        d = self.call(self.caller(http), idempotent=False)
        error = self.failureResultOf(d, ApiError).value
        self.assertEqual(error.condition, CONDITION_UNCERTAIN)
        self.assertIn("Toy did not confirm x", error.reason)
        self.assertEqual(len(http.requests), 1)

    def test_ambiguous_idempotent_retried_then_done(self) -> None:
        """An idempotent call is repeated; an "already done" answer then is success."""
        http = _HTTP(_Response(500), _Response(409))

        async def once() -> Any:
            code, _, _ = await caller.request("POST", "u")
            if code == 500:
                raise Retry("http_500", None)
            raise ApiError("conflict", "gone", "x", "already")

        caller = self.caller(http)
        d = Deferred.fromCoroutine(
            caller.call(
                "x",
                once,
                idempotent=True,
                done=lambda e, retried: {"already": e.error} if retried else None,
            )
        )
        self.clock.advance(10)
        self.assertEqual(self.successResultOf(d), {"already": "already"})

    def test_attempts_bounded(self) -> None:
        """After max_attempts an ambiguous (idempotent) call fails for good."""
        http = _HTTP(*[_Response(500)] * 3)
        d = self.call(self.caller(http), idempotent=True)
        self.clock.pump([10.0] * 5)
        self.assertIn("Toy x failed 3 times", self.failureResultOf(d, ApiError).value.reason)

    def test_outage_outlasted(self) -> None:
        """
        503s and refused connections for 60 s (far past max_attempts) are
        retried until the platform is back: the write goes out once.
        """
        caller = self.caller(_HTTP())
        requests: list[float] = []

        def request(method: str, url: Any, **kwargs: Any) -> Deferred[Any]:
            requests.append(self.clock.seconds())
            if self.clock.seconds() >= 60:
                return succeed(_Response(200, b"ok"))
            if len(requests) % 2:
                return succeed(_Response(503))
            failed: Deferred[Any] = Deferred()
            failed.errback(ConnectionRefusedError())
            return failed

        caller.http.request = request  # type: ignore[method-assign]
        d = self.call(caller, idempotent=False)
        self.clock.pump([1.0] * 120)
        self.assertEqual(self.successResultOf(d), b"ok")
        self.assertGreater(len(requests), caller.policy.max_attempts)
        self.assertEqual(sum(1 for t in requests if t >= 60), 1)

    def test_rate_limited_for_a_minute(self) -> None:
        """429s for over a minute (more than 10 of them) do not drop the call."""
        http = _HTTP(*[_Response(429)] * 40, _Response(200, b"ok"))
        d = self.call(self.caller(http), idempotent=False, key="c1")
        self.clock.pump([1.0] * 150)
        self.assertEqual(self.successResultOf(d), b"ok")
        self.assertGreater(self.clock.seconds(), 60)

    def test_outage_deadline(self) -> None:
        """Past the outage deadline, a call the platform keeps refusing fails."""
        http = _HTTP(*[_Response(429)] * 200)
        caller = self.caller(http)
        d = self.call(caller, idempotent=False, key="c1")
        self.clock.pump([1.0] * 400)
        self.assertEqual(self.failureResultOf(d, ApiError).value.error, "ratelimited")
        self.assertLessEqual(len(http.requests) * 2.0, caller.policy.outage_deadline + 2)
        http = _HTTP(*[_Response(503)] * 200)
        d = self.call(self.caller(http), idempotent=False)
        self.clock.pump([5.0] * 100)
        self.assertIn("Toy x failed", self.failureResultOf(d, ApiError).value.reason)

    def test_ambiguous_counted(self) -> None:
        """An ambiguous failure of a write is counted, here and in the metrics."""
        from nextplane.metrics.tally import PLATFORM_CALLS

        before = PLATFORM_CALLS.ambiguous_failures["Toy"]
        caller = self.caller(_HTTP(_Response(500)))
        self.failureResultOf(self.call(caller, idempotent=False), ApiError)
        self.assertEqual(caller.ambiguous_failures, 1)
        self.assertEqual(PLATFORM_CALLS.ambiguous_failures["Toy"], before + 1)

    def test_rate_limited_waits_retry_after(self) -> None:
        """A 429 waits Retry-After plus jitter, blocks the conversation, uses no attempt."""
        limiter = RateLimiter({"x": Limit(per_key=(Window(100, 1.0),))})
        http = _HTTP(*[_Response(429)] * 3, _Response(200, b"ok"))
        caller = self.caller(http, limiter)
        d = self.call(caller, idempotent=False, key="c1")
        self.clock.advance(2.0)
        self.assertEqual(len(http.requests), 1)  # still within the jitter
        self.assertGreater(limiter.delay("x", "c1", self.clock.seconds()), 0)
        self.clock.pump([1.0] * 10)
        self.assertEqual(self.successResultOf(d), b"ok")
        self.assertEqual(len(http.requests), 4)

    def test_backoff_jitter(self) -> None:
        """Backoff doubles, is capped, and is jittered between half and all of it."""
        caller = self.caller(_HTTP())
        delays = [caller.backoff(n) for n in (1, 2, 3, 10)]
        self.assertTrue(0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0, delays)
        self.assertTrue(15.0 <= delays[3] <= 30.0, delays)

    def test_gate_bounds_exchanges(self) -> None:
        """Past the pool's size, a request waits for a free connection."""
        first: Deferred[Any] = Deferred()
        http = _HTTP(first, _Response(200, b"2"))
        caller = self.caller(http, gate=DeferredSemaphore(1))
        d1 = Deferred.fromCoroutine(caller.request("GET", "u"))
        d2 = Deferred.fromCoroutine(caller.request("GET", "u"))
        self.assertEqual(len(http.requests), 1)
        first.callback(_Response(200, b"1"))
        self.assertEqual(self.successResultOf(d1)[2], b"1")
        self.assertEqual(self.successResultOf(d2)[2], b"2")

    def test_check_status(self) -> None:
        """Statuses become the retries they call for; platforms choose the sets."""
        from twisted.web.http_headers import Headers

        headers = Headers({b"retry-after": [b"7"]})
        limited = self.assertRaises(Retry, check_status, 429, headers)
        self.assertEqual((limited.processed, limited.retry_after), (False, 7.0))
        webex = self.assertRaises(
            Retry, check_status, 423, Headers(), limited=frozenset({429, 423}), default_wait=15.0
        )
        self.assertEqual(webex.retry_after, 15.0)
        self.assertFalse(self.assertRaises(Retry, check_status, 503, headers).processed)
        self.assertIsNone(self.assertRaises(Retry, check_status, 502, headers).processed)
        teams = self.assertRaises(Retry, check_status, 412, headers, ambiguous=frozenset({412}))
        self.assertEqual(teams.error, "http_412")
        self.assertIsNone(check_status(200, headers))
        self.assertIsNone(check_status(404, headers))

    def test_retry_after_header(self) -> None:
        """Retry-After in seconds; missing or malformed falls back."""
        self.assertEqual(retry_after(b"3"), 3.0)
        self.assertEqual(retry_after(None, 15.0), 15.0)
        self.assertEqual(retry_after("soon"), 1.0)
        self.assertEqual(retry_after("-2"), 1.0)


class CallLanesTests(SynchronousTestCase):
    """
    L{CallLanes} keeps calls of one conversation in order.
    """

    def test_order_and_cancel(self) -> None:
        """Calls run one at a time in order; a cancelled queued call never runs."""
        lanes = CallLanes()
        gates = [Deferred(), Deferred(), Deferred()]
        ran: list[int] = []

        def thunk(n: int) -> Any:
            async def run(cancelled: Any) -> int:
                ran.append(n)
                await gates[n]
                return n

            return run

        results = [lanes.run("c", thunk(n)) for n in range(3)]
        self.assertEqual((ran, lanes.queued("c")), ([0], 3))
        results[1].cancel()
        self.failureResultOf(results[1], CancelledError)
        gates[0].callback(None)
        self.assertEqual(ran, [0, 2])
        gates[2].callback(None)
        self.assertEqual([self.successResultOf(results[n]) for n in (0, 2)], [0, 2])

    def test_no_key_runs_at_once(self) -> None:
        """A call with no conversation runs at once and can be cancelled while running."""
        seen: list[bool] = []
        waiting: Deferred[None] = Deferred()

        async def run(cancelled: Any) -> None:
            await waiting
            seen.append(cancelled())

        d = CallLanes().run(None, run)
        d.cancel()
        self.failureResultOf(d, CancelledError)
