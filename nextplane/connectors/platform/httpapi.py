# -*- test-case-name: tests.platform.test_httpapi -*-
"""
Calling a platform's HTTP API: one exchange with a timeout, retries by
what the failure says about the platform having acted, backoff with
jitter, a bound on exchanges in flight (the connection pool's size), the
rate limiter, and per-conversation ordering of calls.

Delivered once
==============
A failed call is retried only when the platform cannot have acted on it,
or when acting twice is harmless:

  - I{Not processed} (L{Retry} with C{processed=False}): connection refused,
    DNS failure, the request not fully sent, HTTP 429 and 503 - retried for
    every method, with exponential backoff and jitter from an injected RNG,
    for as long as the outage lasts within L{RetryPolicy.outage_deadline}
    (past C{max_attempts} too). A 429 (L{Retry} with C{retry_after}) waits
    C{Retry-After} plus up to a second of jitter, blocks the method (or
    conversation) in the limiter meanwhile, and does not use up an attempt;
    it fails only when waiting would pass the deadline.
  - I{Ambiguous} (C{processed=None}): a timeout, a connection lost before
    the response, other 5xx. Idempotent methods are retried, and their
    "already done" answers on a retry count as success; others fail with
    condition L{CONDITION_UNCERTAIN} and a reason saying the message may or
    may not have arrived, so the sender is told instead of the message being
    silently lost or duplicated (L{RetryPolicy.retry_ambiguous_writes}
    switches to at-least-once).
    Each such failure is counted (L{Caller.ambiguous_failures} and the
    C{nextplane_platform_ambiguous_failures} metric).

The platform adapter decodes answers (its C{once} raises L{Retry} or its
own L{ApiError}); this module never logs per call, parses no URL per call
and adds no Deferred beyond the exchange itself on the success path.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, TypeVar

from attrs import frozen
from hyperlink import EncodedURL
from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore, TimeoutError
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web._newclient import RequestTransmissionFailed
from twisted.web.client import Agent, HTTPConnectionPool

from ...interfaces import DeliveryFailed
from ...metrics.tally import PLATFORM_CALLS
from ...ordering import KeyedSerializer
from .ratelimit import RateLimiter

__all__ = [
    "CONDITION_UNCERTAIN",
    "ApiError",
    "CallLanes",
    "Caller",
    "HTTPClient",
    "Retry",
    "RetryPolicy",
    "pooled_client",
    "retry_after",
    "run_cancellable",
    "within",
]

log = Logger()
T = TypeVar("T")

#: The condition of a failure after which the platform may or may not have acted.
CONDITION_UNCERTAIN = "remote-server-timeout"


class HTTPClient(Protocol):
    """
    The part of L{treq.client.HTTPClient} (and L{treq.testing.StubTreq}) used.
    """

    def request(self, method: str, url: str | EncodedURL, **kwargs: Any) -> Deferred[Any]:
        """
        Make a request; the result has C{code}, C{headers} and C{content()}.
        """


class ApiError(DeliveryFailed):
    """
    An API call failed for good.

    @ivar method: The API method.
    @ivar error: The platform's error code or a description of the
        transport failure (C{timeout}, C{http_500}).
    """

    def __init__(self, condition: str, reason: str, method: str, error: str) -> None:
        super().__init__(condition, reason)
        self.method = method
        self.error = error


class Retry(Exception):
    """
    One attempt failed in a way that may be retried.

    @ivar processed: C{False} when the platform did not act; C{None}: unknown.
    @ivar retry_after: Seconds the platform asked to wait (a 429).
    """

    def __init__(
        self, error: str, processed: bool | None, retry_after: float | None = None
    ) -> None:
        super().__init__(error)
        self.error = error
        self.processed = processed
        self.retry_after = retry_after


@frozen
class RetryPolicy:
    """
    How hard to try; see the module docstring.

    @ivar max_attempts: Tries per call for transport errors and 5xx (a
        failure the platform did not act on is retried past it, within
        C{outage_deadline}).
    @ivar max_rate_limited: 429 answers tolerated per call; C{None}: as many
        as fit in C{outage_deadline}.
    @ivar outage_deadline: Seconds from a call's first attempt during which
        failures the platform did not act on (429, 503, refused
        connections) are retried: a platform outage shorter than this loses
        nothing.
    @ivar base_backoff: First backoff, in seconds; doubled per attempt.
    @ivar max_backoff: Largest backoff.
    @ivar timeout: Seconds to wait for each response.
    @ivar max_retry_after: Largest C{Retry-After} honoured; a longer one
        fails the call.
    @ivar retry_ambiguous_writes: Retry non-idempotent calls after an
        ambiguous failure (at-least-once instead of at-most-once).
    """

    max_attempts: int = 4
    max_rate_limited: int | None = None
    outage_deadline: float = 180.0
    base_backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 10.0
    max_retry_after: float = 600.0
    retry_ambiguous_writes: bool = False


def retry_after(value: str | bytes | None, default: float = 1.0) -> float:
    """
    Seconds from a C{Retry-After} header value (C{default} when absent or
    malformed).
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    return seconds if seconds >= 0 else default


def check_status(
    code: int,
    headers: Any,
    *,
    limited: frozenset[int] = frozenset({429}),
    not_processed: frozenset[int] = frozenset({503}),
    ambiguous: frozenset[int] = frozenset(),
    default_wait: float = 1.0,
) -> None:
    """
    Raise the L{Retry} an HTTP status calls for, if any: a rate limit
    (C{limited}, waiting C{Retry-After} or C{default_wait}), a refusal the
    platform did not act on (C{not_processed}), or an answer after which it
    may have acted (C{ambiguous}, and every other 5xx). Platforms differ in
    the sets: Teams adds 412 to the retried ones, Webex 423 to the limited.
    """
    if code in limited:
        value = headers.getRawHeaders(b"retry-after", [None])[0]
        raise Retry("ratelimited", False, retry_after(value, default_wait))
    if code in not_processed:
        raise Retry(f"http_{code}", False)
    if code >= 500 or code in ambiguous:
        raise Retry(f"http_{code}", None)


async def within(d: Deferred[Any], timeout: float, clock: IReactorTime) -> Any:
    """
    Wait for C{d} at most C{timeout} seconds on C{clock}, then cancel it.

    @raise TimeoutError: When the time ran out, whatever failure the
        cancellation caused (treq reports C{ResponseNeverReceived}).
    """
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        d.cancel()

    timer = clock.callLater(timeout, expire)
    try:
        return await d
    except Exception as e:
        if expired:
            raise TimeoutError(timeout, "no answer in time") from e
        raise
    finally:
        if timer.active():
            timer.cancel()


#: Builds the permanent failure of (method, error code).
Describe = Callable[[str, str], ApiError]


class Caller:
    """
    Performs single API calls with retries; see the module docstring.

    @ivar platform: The platform's name, for reasons shown to senders.
    """

    def __init__(
        self,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random,
        policy: RetryPolicy,
        limiter: RateLimiter,
        describe: Describe,
        platform: str,
        gate: DeferredSemaphore | None = None,
        error: type[ApiError] = ApiError,
    ) -> None:
        """
        @param error: The adapter's L{ApiError} class, for the failures
            built here.
        @param describe: The adapter's failure for an error code (used for
            C{ratelimited} when 429s never end).
        @param gate: Exchanges in flight at most (the connection pool's
            size): past it a request waits here for a free connection
            instead of opening a new one (which under load costs more than
            the request itself).
        """
        self.http = http
        self.clock = clock
        self.rng = rng
        self.policy = policy
        self.limiter = limiter
        self.describe = describe
        self.platform = platform
        self.gate = gate
        self.error = error
        self.ambiguous_failures = 0

    def backoff(self, attempt: int) -> float:
        """
        Seconds to wait before attempt C{attempt + 1}: exponential, capped,
        with jitter (half to all of it).
        """
        delay = min(self.policy.max_backoff, self.policy.base_backoff * 2 ** (attempt - 1))
        return delay * (0.5 + self.rng.random() / 2)

    async def sleep(self, seconds: float) -> None:
        """
        Wait on the injected clock.
        """
        await deferLater(self.clock, seconds)

    async def request(
        self,
        method: str,
        url: str | EncodedURL,
        cancelled: Callable[[], bool] = lambda: False,
        **kwargs: Any,
    ) -> tuple[int, Any, bytes]:
        """
        One HTTP exchange with the policy's timeout, classifying failures.

        @param cancelled: Tells whether the caller cancelled (then any
            failure is reported as L{CancelledError}).
        @raise Retry: For a transport failure or timeout.
        """
        response, body = await self._exchange(method, url, cancelled, True, kwargs)
        return response.code, response.headers, body

    async def open(
        self,
        method: str,
        url: str | EncodedURL,
        cancelled: Callable[[], bool] = lambda: False,
        **kwargs: Any,
    ) -> Any:
        """
        Like L{request}, but fires with the response once its headers
        arrived, its body unread (to be streamed, e.g. with
        L{nextplane.connectors.platform.files.pipe}).
        """
        response, _ = await self._exchange(method, url, cancelled, False, kwargs)
        return response

    async def _exchange(
        self,
        method: str,
        url: str | EncodedURL,
        cancelled: Callable[[], bool],
        read: bool,
        kwargs: dict[str, Any],
    ) -> tuple[Any, bytes]:
        gate = self.gate
        if gate is not None:
            # Not under the timeout: a request still waiting was not sent.
            await gate.acquire()
            if cancelled():
                gate.release()
                raise CancelledError(f"{method} cancelled before it was sent")
        try:
            response = await within(
                self.http.request(method, url, **kwargs), self.policy.timeout, self.clock
            )
            body = (
                await within(response.content(), self.policy.timeout, self.clock) if read else b""
            )
        except Exception as e:
            if cancelled():
                shown = url if isinstance(url, str) else url.to_text()
                raise CancelledError(f"{method} {shown} cancelled") from e
            if isinstance(e, TimeoutError):
                raise Retry("timeout", None) from e
            if isinstance(e, ConnectError | DNSLookupError | RequestTransmissionFailed):
                raise Retry(f"connection_failed ({type(e).__name__})", False) from e
            raise Retry(f"connection_lost ({type(e).__name__})", None) from e
        finally:
            if gate is not None:
                gate.release()
        return response, body

    async def call(
        self,
        method: str,
        once: Callable[[], Awaitable[T]],
        *,
        key: Hashable | None = None,
        idempotent: bool = False,
        done: Callable[[ApiError, bool], T | None] = lambda error, retried: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> T:
        """
        Call C{once} until it succeeds or fails for good.

        @param key: The conversation, for the limiter.
        @param done: Maps a permanent failure to a success when it means
            the wanted state already holds (given whether an ambiguous
            attempt came before), else C{None}.
        """
        retry_ambiguous = idempotent or self.policy.retry_ambiguous_writes
        limiter, clock, policy = self.limiter, self.clock, self.policy
        give_up = clock.seconds() + policy.outage_deadline
        attempts = limited = 0
        retried_after_ambiguity = False
        while True:
            while True:
                if cancelled():
                    raise CancelledError(f"{method} cancelled before it was sent")
                wait = limiter.delay(method, key, clock.seconds())
                if wait <= 0:
                    break
                await self.sleep(wait)
            attempts += 1
            try:
                try:
                    return await once()
                finally:
                    limiter.answered(method, key, clock.seconds())
            except Retry as retry:
                if retry.retry_after is not None:
                    limited += 1
                    attempts -= 1
                    if (
                        (policy.max_rate_limited is not None and limited > policy.max_rate_limited)
                        or retry.retry_after > policy.max_retry_after
                        or clock.seconds() + retry.retry_after > give_up
                    ):
                        raise self.describe(method, "ratelimited") from None
                    until = clock.seconds() + retry.retry_after + self.rng.random()
                    limiter.block(method, key, until)
                    log.info(
                        "{platform} {method} rate limited; retrying in {delay:.1f}s",
                        platform=self.platform,
                        method=method,
                        delay=retry.retry_after,
                    )
                    continue
                if retry.processed is None and not retry_ambiguous:
                    self.ambiguous_failures += 1
                    PLATFORM_CALLS.ambiguous(self.platform)
                    raise self.error(
                        CONDITION_UNCERTAIN,
                        f"{self.platform} did not confirm {method} ({retry.error}); it may "
                        "or may not have taken effect, so it was not repeated",
                        method,
                        retry.error,
                    ) from None
                delay = self.backoff(attempts)
                # Not acted on: retried for as long as the outage lasts,
                # within the deadline; other failures max_attempts times.
                outage = retry.processed is False and clock.seconds() + delay <= give_up
                if attempts >= policy.max_attempts and not outage:
                    raise self.error(
                        "service-unavailable",
                        f"{self.platform} {method} failed {attempts} times; last: {retry.error}",
                        method,
                        retry.error,
                    ) from None
                if retry.processed is None:
                    retried_after_ambiguity = True
                log.info(
                    "{platform} {method} failed ({error}); attempt {attempt} in {delay:.1f}s",
                    platform=self.platform,
                    method=method,
                    error=retry.error,
                    attempt=attempts + 1,
                    delay=delay,
                )
                await self.sleep(delay)
            except ApiError as e:
                answer = done(e, retried_after_ambiguity)
                if answer is not None:
                    return answer
                raise


class _QuietClientFactory(HTTPConnectionPool._factory):  # type: ignore[name-defined,misc,valid-type]
    noisy = False


class _QuietConnectionPool(HTTPConnectionPool):
    """
    A persistent pool whose connections log no "Starting factory" line.
    """

    _factory = _QuietClientFactory


def pooled_client(reactor: Any, max_connections: int) -> tuple[HTTPClient, HTTPConnectionPool]:
    """
    A treq client over a persistent connection pool keeping up to
    C{max_connections} connections per host (give L{Caller} a gate of the
    same size). @return: (client, pool); close the pool's cached
    connections on stop.
    """
    from treq.client import HTTPClient as TreqClient

    pool = _QuietConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = max_connections
    agent = Agent(reactor, pool=pool, connectTimeout=10)
    return TreqClient(agent), pool  # type: ignore[return-value]


#: One call; given a function telling whether it was cancelled.
Thunk = Callable[[Callable[[], bool]], Awaitable[Any]]


def run_cancellable(thunk: Thunk) -> Deferred[Any]:
    """
    Run C{thunk} now; cancelling the result cancels what it awaits and makes
    it fail with L{CancelledError}, never retry.
    """
    flag: list[bool] = []

    async def run() -> Any:
        return await thunk(lambda: bool(flag))

    inner = Deferred.fromCoroutine(run())

    def cancel(outer: Deferred[Any]) -> None:
        flag.append(True)
        inner.cancel()

    outer: Deferred[Any] = Deferred(cancel)

    def relay(result: Any) -> None:
        if not outer.called:
            outer.callback(result)

    inner.addBoth(relay)
    return outer


class CallLanes:
    """
    Calls that name a conversation run one at a time, in the order they
    were made (on L{KeyedSerializer}): a message is never overtaken by a
    later one, even while it waits for a retry. Cancelling a queued call
    drops it before it is sent.
    """

    def __init__(self) -> None:
        self._lanes = KeyedSerializer(max_queued=1 << 30)

    def queued(self, key: Hashable) -> int:
        """
        How many calls wait or run in C{key}'s lane.
        """
        return self._lanes.queued(key)

    def run(self, key: Hashable | None, thunk: Thunk) -> Deferred[Any]:
        """
        Run C{thunk} in C{key}'s lane (at once when C{key} is C{None}).
        """
        if key is None:
            return run_cancellable(thunk)
        result: list[Deferred[Any]] = []

        def cancelled() -> bool:
            return bool(result) and result[0].called

        d = self._lanes.submit(key, lambda: thunk(cancelled))
        result.append(d)
        return d
