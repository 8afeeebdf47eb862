# -*- test-case-name: tests.slack.test_api -*-
"""
A Slack Web API client on an injected treq-like HTTP client and clock.

Every method is C{https://slack.com/api/<method>} with
C{Authorization: Bearer xoxb-...}; Slack answers HTTP 200 with
C{{"ok": true, ...}} or C{{"ok": false, "error": "..."}}, except when rate
limited: HTTP 429 with C{Retry-After}
(U{https://docs.slack.dev/apis/web-api/}, U{https://docs.slack.dev/apis/web-api/rate-limits}).
Bodies are encoded as C{slack_sdk/web/client.py} sends them: JSON for
C{chat.postMessage} and C{chat.update}, form fields for other writes, a query
string for reads. Files use the current flow
(U{https://docs.slack.dev/messaging/working-with-files#upload}):
C{files.getUploadURLExternal}, a POST of the raw bytes to the returned
C{upload_url} without credentials, then C{files.completeUploadExternal}.

Scheduling
==========
  - L{RateLimiter} applies each method's tier and spaces
    C{chat.postMessage} by one second per channel.
  - Calls that name a channel (posts, edits, deletions, reactions, file
    shares) go through that channel's queue, one at a time, in the order
    they were made: a message is never overtaken by a later one, even while
    it waits for a retry.
  - HTTP 429 (or C{ok:false, error:ratelimited}) waits C{Retry-After} plus
    up to one second of jitter and blocks the method (the channel, for
    posts) meanwhile; it does not use up an attempt.

Delivered once
==============
A failed request is retried only when Slack cannot have acted on it, or
when acting twice is harmless:

  - I{Not processed} - connection refused, DNS failure, the request not
    fully sent, HTTP 429, HTTP 503 and C{service_unavailable}: retried for
    every method, with exponential backoff and jitter from the injected RNG.
  - I{Ambiguous} - a timeout, a connection lost before the response, other
    5xx, C{internal_error}, C{fatal_error}, C{request_timeout}: Slack may
    have acted. Idempotent methods are retried (reads; edits; deletions and
    reactions, whose "already done" answers on a retry - C{message_not_found},
    C{already_reacted}, C{no_reaction}, C{already_in_channel} - count as
    success). Non-idempotent methods (C{chat.postMessage},
    C{files.completeUploadExternal}, C{conversations.create},
    C{oauth.v2.access}) are B{not} retried: Slack offers no idempotency key
    for bot posts (C{client_msg_id} is set by Slack clients only) and the
    bot may lack the history scopes needed to look for its own post. The
    call fails with L{SlackApiError} condition C{remote-server-timeout} and
    a reason saying the message may or may not have arrived, so the sender
    is told instead of the message being silently lost or duplicated.
    L{RetryPolicy.retry_ambiguous_writes} switches to at-least-once.

Permanent failures (C{ok:false} with C{channel_not_found},
C{not_in_channel}, C{invalid_auth}, ...) raise L{SlackApiError}, a
L{DeliveryFailed} with a human reason. The token is sent only in the
C{Authorization} header, only to the configured API base and Slack's file
hosts, and never appears in logs, C{repr}s or exception messages.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from attrs import frozen
from hyperlink import EncodedURL
from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore, TimeoutError
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._newclient import RequestTransmissionFailed

from ...interfaces import DeliveryFailed
from ...metrics.tally import PLATFORM_CALLS
from .ratelimit import POST_MESSAGE, RateLimiter

__all__ = [
    "CONDITION_UNCERTAIN",
    "DEFAULT_BASE_URL",
    "METHODS",
    "HTTPClient",
    "MethodSpec",
    "RetryPolicy",
    "SlackApiError",
    "SlackOAuthClient",
    "SlackWebClient",
    "within",
]

log = Logger()

#: Where the Web API lives.
DEFAULT_BASE_URL = "https://slack.com/api/"
#: The condition of a failure after which Slack may or may not have acted.
CONDITION_UNCERTAIN = "remote-server-timeout"


class HTTPClient(Protocol):
    """
    The part of L{treq.client.HTTPClient} (and L{treq.testing.StubTreq}) used.
    """

    def request(self, method: str, url: str | EncodedURL, **kwargs: Any) -> Deferred[Any]:
        """
        Make a request; the result has C{code}, C{headers} and C{content()}.
        """


@frozen
class MethodSpec:
    """
    How to call one Web API method.

    @ivar encoding: C{"json"}, C{"form"} (POST) or C{"query"} (GET).
    @ivar idempotent: Whether doing it twice is harmless.
    @ivar done_errors: Errors that mean the wanted state already holds.
    """

    encoding: str
    idempotent: bool
    done_errors: frozenset[str] = frozenset()


#: Every method this client calls.
METHODS: Mapping[str, MethodSpec] = {
    "chat.postMessage": MethodSpec("json", idempotent=False),
    "chat.update": MethodSpec("json", idempotent=True),
    "chat.delete": MethodSpec(
        "form", idempotent=True, done_errors=frozenset({"message_not_found"})
    ),
    "reactions.add": MethodSpec(
        "form", idempotent=True, done_errors=frozenset({"already_reacted"})
    ),
    "reactions.remove": MethodSpec("form", idempotent=True, done_errors=frozenset({"no_reaction"})),
    "conversations.create": MethodSpec("form", idempotent=False),
    "conversations.invite": MethodSpec(
        "form", idempotent=True, done_errors=frozenset({"already_in_channel"})
    ),
    "conversations.open": MethodSpec("form", idempotent=True),
    "users.info": MethodSpec("query", idempotent=True),
    "users.lookupByEmail": MethodSpec("query", idempotent=True),
    "users.getPresence": MethodSpec("query", idempotent=True),
    "auth.test": MethodSpec("form", idempotent=True),
    "oauth.v2.access": MethodSpec("form", idempotent=False),
    "files.getUploadURLExternal": MethodSpec("form", idempotent=True),
    "files.completeUploadExternal": MethodSpec("form", idempotent=False),
    "files.info": MethodSpec("query", idempotent=True),
    "views.publish": MethodSpec("json", idempotent=True),
}

_NOT_PROCESSED_ERRORS = frozenset({"service_unavailable"})
_AMBIGUOUS_ERRORS = frozenset({"internal_error", "fatal_error", "request_timeout"})

#: Slack error code to (condition, explanation).
_ERRORS: Mapping[str, tuple[str, str]] = {
    "channel_not_found": ("item-not-found", "the Slack conversation does not exist"),
    "not_in_channel": ("recipient-unavailable", "the app is not a member of the conversation"),
    "is_archived": ("recipient-unavailable", "the Slack conversation is archived"),
    "user_not_found": ("item-not-found", "no such Slack user"),
    "users_not_found": ("item-not-found", "no such Slack user"),
    "message_not_found": ("item-not-found", "the Slack message no longer exists"),
    "user_is_restricted": ("forbidden", "the Slack user is restricted"),
    "restricted_action": ("forbidden", "the workspace does not allow this"),
    "cant_update_message": ("not-allowed", "the message cannot be edited"),
    "edit_window_closed": ("not-allowed", "the edit window has closed"),
    "cant_delete_message": ("not-allowed", "the message cannot be deleted"),
    "msg_too_long": ("not-acceptable", "the message is too long for Slack"),
    "no_text": ("bad-request", "the message is empty"),
    "invalid_blocks": ("bad-request", "Slack rejected the message blocks"),
    "invalid_arguments": ("bad-request", "Slack rejected the request's arguments"),
    "too_many_attachments": ("not-acceptable", "too many attachments"),
    "invalid_name": ("bad-request", "invalid reaction or channel name"),
    "name_taken": ("conflict", "a channel with that name exists"),
    "cant_invite_self": ("bad-request", "the app cannot invite itself"),
    "not_authed": ("not-authorized", "no Slack token was sent"),
    "invalid_auth": ("not-authorized", "the Slack token is invalid"),
    "account_inactive": ("not-authorized", "the Slack installation is inactive"),
    "token_revoked": ("not-authorized", "the Slack token was revoked"),
    "token_expired": ("not-authorized", "the Slack token has expired"),
    "no_permission": ("forbidden", "the Slack app lacks permission"),
    "missing_scope": ("forbidden", "the Slack app lacks a required scope"),
    "ekm_access_denied": ("forbidden", "Slack denied access (EKM)"),
    "team_access_not_granted": ("forbidden", "the app has no access to that workspace"),
    "invalid_code": ("not-authorized", "the OAuth code is invalid or used"),
    "invalid_client_id": ("not-authorized", "the OAuth client id is invalid"),
    "bad_client_secret": ("not-authorized", "the OAuth client secret is wrong"),
    "ratelimited": ("resource-constraint", "Slack kept rate-limiting the request"),
}


class SlackApiError(DeliveryFailed):
    """
    A Web API call failed for good.

    @ivar method: The Web API method.
    @ivar error: Slack's error code (C{channel_not_found}, ...) or a
        description of the transport failure (C{timeout}, C{http_500}).
    """

    def __init__(self, condition: str, reason: str, method: str, error: str) -> None:
        super().__init__(condition, reason)
        self.method = method
        self.error = error


@frozen
class RetryPolicy:
    """
    How hard to try; see the module docstring.

    @ivar max_attempts: Tries per call for transport errors and 5xx.
    @ivar max_rate_limited: 429 answers tolerated per call.
    @ivar base_backoff: First backoff, in seconds; doubled per attempt.
    @ivar max_backoff: Largest backoff.
    @ivar timeout: Seconds to wait for each response.
    @ivar max_retry_after: Largest C{Retry-After} honoured; a longer one
        fails the call.
    @ivar retry_ambiguous_writes: Retry non-idempotent calls after an
        ambiguous failure (at-least-once instead of at-most-once).
    """

    max_attempts: int = 4
    max_rate_limited: int = 10
    base_backoff: float = 1.0
    max_backoff: float = 30.0
    timeout: float = 10.0
    max_retry_after: float = 600.0
    retry_ambiguous_writes: bool = False


class _Retry(Exception):
    """
    One attempt failed in a way that may be retried.
    """

    def __init__(
        self, error: str, processed: bool | None, retry_after: float | None = None
    ) -> None:
        super().__init__(error)
        self.error = error
        # False: Slack did not act; None: unknown.
        self.processed = processed
        self.retry_after = retry_after


#: Runs one queued call; given a function telling whether it was cancelled.
_Thunk = Callable[[Callable[[], bool]], Awaitable[Any]]


class _Lane:
    def __init__(self) -> None:
        self.queue: deque[tuple[_Thunk, Deferred[Any]]] = deque()
        self.running = False


def _failure_reason(method: str, error: str, detail: Sequence[str] = ()) -> str:
    _, explanation = _ERRORS.get(error, ("", ""))
    text = f"Slack {method} failed: {explanation or error}"
    if explanation:
        text += f" ({error})"
    if detail:
        text += ": " + "; ".join(str(d) for d in detail[:3])
    return text


def _retry_after(value: str | None) -> float:
    if value is None:
        return 1.0
    try:
        seconds = float(value.strip())
    except ValueError:
        return 1.0
    return seconds if seconds >= 0 else 1.0


class _Caller:
    """
    Performs single Web API calls with retries; shared by both clients.
    """

    def __init__(
        self,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random,
        base_url: str,
        policy: RetryPolicy,
        limiter: RateLimiter,
        gate: DeferredSemaphore | None = None,
    ) -> None:
        self.http = http
        # Exchanges in flight at most (the connection pool's size): past
        # it, a request waits here for a free connection instead of opening
        # a new one (which under load costs more than the request itself).
        self.gate = gate
        self.clock = clock
        self.rng = rng
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        # Parsed once per method: treq would parse the text on every call.
        self._urls: dict[str, EncodedURL] = {}
        self.policy = policy
        self.limiter = limiter

    def backoff(self, attempt: int) -> float:
        delay = min(self.policy.max_backoff, self.policy.base_backoff * 2 ** (attempt - 1))
        return delay * (0.5 + self.rng.random() / 2)

    async def sleep(self, seconds: float) -> None:
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
        @raise _Retry: For a transport failure or timeout.
        """
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
            body = await within(response.content(), self.policy.timeout, self.clock)
        except Exception as e:
            if cancelled():
                shown = url if isinstance(url, str) else url.to_text()
                raise CancelledError(f"{method} {shown} cancelled") from e
            if isinstance(e, TimeoutError):
                raise _Retry("timeout", None) from e
            if isinstance(e, ConnectError | DNSLookupError | RequestTransmissionFailed):
                raise _Retry(f"connection_failed ({type(e).__name__})", False) from e
            raise _Retry(f"connection_lost ({type(e).__name__})", None) from e
        finally:
            if gate is not None:
                gate.release()
        return response.code, response.headers, body

    async def call(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        channel: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any]:
        spec = METHODS.get(method, MethodSpec("form", idempotent=False))
        retry_ambiguous = spec.idempotent or self.policy.retry_ambiguous_writes
        attempts = 0
        limited = 0
        retried_after_ambiguity = False
        while True:
            while True:
                if cancelled():
                    raise CancelledError(f"{method} cancelled before it was sent")
                wait = self.limiter.delay(method, channel, self.clock.seconds())
                if wait <= 0:
                    break
                await self.sleep(wait)
            attempts += 1
            try:
                try:
                    return await self._once(method, spec, params, headers, auth, cancelled)
                finally:
                    self.limiter.answered(method, channel, self.clock.seconds())
            except _Retry as retry:
                if retry.retry_after is not None:
                    limited += 1
                    attempts -= 1
                    if limited > self.policy.max_rate_limited:
                        raise self._fail(method, "ratelimited") from None
                    if retry.retry_after > self.policy.max_retry_after:
                        raise self._fail(method, "ratelimited") from None
                    until = self.clock.seconds() + retry.retry_after + self.rng.random()
                    self.limiter.block(method, channel, until)
                    log.info(
                        "Slack {method} rate limited; retrying in {delay:.1f}s",
                        method=method,
                        delay=retry.retry_after,
                    )
                    continue
                if retry.processed is None and not retry_ambiguous:
                    raise SlackApiError(
                        CONDITION_UNCERTAIN,
                        f"Slack did not confirm {method} ({retry.error}); it may or may "
                        "not have taken effect, so it was not repeated",
                        method,
                        retry.error,
                    ) from None
                if attempts >= self.policy.max_attempts:
                    raise SlackApiError(
                        "service-unavailable",
                        f"Slack {method} failed {attempts} times; last: {retry.error}",
                        method,
                        retry.error,
                    ) from None
                if retry.processed is None:
                    retried_after_ambiguity = True
                delay = self.backoff(attempts)
                log.info(
                    "Slack {method} failed ({error}); attempt {attempt} in {delay:.1f}s",
                    method=method,
                    error=retry.error,
                    attempt=attempts + 1,
                    delay=delay,
                )
                await self.sleep(delay)
            except SlackApiError as e:
                if e.error in spec.done_errors and (
                    retried_after_ambiguity or e.error != "message_not_found"
                ):
                    return {"ok": True, "already": e.error}
                raise

    def _fail(self, method: str, error: str, detail: Sequence[str] = ()) -> SlackApiError:
        condition, _ = _ERRORS.get(error, ("service-unavailable", ""))
        PLATFORM_CALLS.failed("slack", error)
        return SlackApiError(condition, _failure_reason(method, error, detail), method, error)

    async def _once(
        self,
        method: str,
        spec: MethodSpec,
        params: Mapping[str, Any],
        headers: Mapping[str, str] | None,
        auth: tuple[str, str] | None,
        cancelled: Callable[[], bool],
    ) -> dict[str, Any]:
        url = self._urls.get(method)
        if url is None:
            url = self._urls[method] = EncodedURL.from_text(self.base_url + method)
        kwargs: dict[str, Any] = {"headers": dict(headers or {})}
        if auth is not None:
            kwargs["auth"] = auth
        clean = {k: v for k, v in params.items() if v is not None}
        if spec.encoding == "json":
            kwargs["json"] = clean
            verb = "POST"
        elif spec.encoding == "query":
            kwargs["params"] = {k: _form_value(v) for k, v in clean.items()}
            verb = "GET"
        else:
            kwargs["data"] = {k: _form_value(v) for k, v in clean.items()}
            verb = "POST"
        code, response_headers, body = await self.request(verb, url, cancelled, **kwargs)
        if code == 429:
            PLATFORM_CALLS.limited("slack")
            value = response_headers.getRawHeaders(b"retry-after", [None])[0]
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            raise _Retry("ratelimited", False, _retry_after(text))
        if code == 503:
            raise _Retry("http_503", False)
        if code >= 500:
            raise _Retry(f"http_{code}", None)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if code != 200:
                raise self._fail(method, f"http_{code}")
            raise _Retry("malformed_response", None)
        if data.get("ok") is True:
            return data
        error = str(data.get("error") or f"http_{code}")
        if error == "ratelimited":
            raise _Retry(error, False, 1.0)
        if error in _NOT_PROCESSED_ERRORS:
            raise _Retry(error, False)
        if error in _AMBIGUOUS_ERRORS:
            raise _Retry(error, None)
        metadata = data.get("response_metadata")
        detail = metadata.get("messages", []) if isinstance(metadata, dict) else []
        needed = data.get("needed")
        if isinstance(needed, str):
            detail = [*detail, f"needed: {needed}"]
        raise self._fail(method, error, detail if isinstance(detail, list) else [])


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


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class SlackWebClient:
    """
    The Web API for one bot token (one workspace installation).

    All methods return L{Deferred}s firing with Slack's decoded JSON answer
    (a C{dict} with C{"ok": True}) or failing with L{SlackApiError}.
    """

    def __init__(
        self,
        token: str,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        file_hosts: Sequence[str] = ("files.slack.com", "slack.com"),
        max_download: int = 100 * 1024 * 1024,
        gate: DeferredSemaphore | None = None,
    ) -> None:
        """
        @param token: The bot token (C{xoxb-...}). Never logged.
        @param http: A treq-like client (L{treq.testing.StubTreq} in tests).
        @param clock: For pacing, backoff and timeouts.
        @param rng: For backoff jitter.
        @param base_url: The API base (the simulator's in tests).
        @param file_hosts: Hosts (besides the API base's) that may receive
            the token when downloading a file.
        @param max_download: The largest file L{download_file} accepts.
        @param gate: Bounds the exchanges in flight (shared by the clients
            of one connection pool).
        """
        if not token:
            raise ValueError("empty Slack token")
        self._token = token
        self._caller = _Caller(
            http,
            clock,
            rng if rng is not None else random.Random(),
            base_url,
            policy if policy is not None else RetryPolicy(),
            limiter if limiter is not None else RateLimiter(),
            gate,
        )
        api_host = urlsplit(self._caller.base_url).hostname or ""
        self._file_hosts = frozenset({api_host, *file_hosts})
        self._max_download = max_download
        self._lanes: dict[str, _Lane] = {}

    def __repr__(self) -> str:
        return f"<SlackWebClient {self._caller.base_url} token=***>"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def queued(self, channel: str) -> int:
        """
        How many calls wait or run in C{channel}'s queue.
        """
        lane = self._lanes.get(channel)
        return len(lane.queue) if lane is not None else 0

    # --- scheduling ---------------------------------------------------------

    def _in_lane(self, channel: str | None, thunk: _Thunk) -> Deferred[Any]:
        if channel is None:
            return _cancellable(thunk)
        result: Deferred[Any] = Deferred()
        lane = self._lanes.setdefault(channel, _Lane())
        lane.queue.append((thunk, result))
        if not lane.running:
            lane.running = True
            Deferred.fromCoroutine(self._run_lane(channel, lane))
        return result

    async def _run_lane(self, channel: str, lane: _Lane) -> None:
        while lane.queue:
            thunk, result = lane.queue[0]
            if result.called:  # cancelled while waiting: never sent
                lane.queue.popleft()
                continue
            try:
                value = await thunk(_called(result))
            except Exception:
                lane.queue.popleft()
                if not result.called:  # the caller may have cancelled
                    result.errback(Failure())
            else:
                lane.queue.popleft()
                if not result.called:
                    result.callback(value)
        lane.running = False
        if self._lanes.get(channel) is lane:
            del self._lanes[channel]

    def call(
        self, method: str, params: Mapping[str, Any], channel: str | None = None
    ) -> Deferred[dict[str, Any]]:
        """
        Call any Web API method with the bot token.

        @param params: Arguments; C{None} values are left out.
        @param channel: Run in this channel's ordered queue. Cancelling
            the returned L{Deferred} before the request is sent (while it is
            queued, paced or backing off) drops it.
        """
        return self._in_lane(
            channel,
            lambda cancelled: self._caller.call(
                method, params, channel=channel, headers=self._auth, cancelled=cancelled
            ),
        )

    # --- messages -----------------------------------------------------------

    def post_message(
        self,
        channel: str,
        text: str | None = None,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool | None = None,
        username: str | None = None,
        icon_url: str | None = None,
        icon_emoji: str | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        C{chat.postMessage}: post C{text} (mrkdwn; the fallback when
        C{blocks} are given). C{username} and C{icon_url} show an external
        contact as itself (scope C{chat:write.customize}).

        @return: Slack's answer, with C{channel} and C{ts}.
        """
        params: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": list(blocks) if blocks is not None else None,
            "thread_ts": thread_ts,
            "reply_broadcast": reply_broadcast,
            "username": username,
            "icon_url": icon_url,
            "icon_emoji": icon_emoji,
            "unfurl_links": unfurl_links,
            "unfurl_media": unfurl_media,
        }
        return self.call(POST_MESSAGE, params, channel=channel)

    def update_message(
        self,
        channel: str,
        ts: str,
        text: str | None = None,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        C{chat.update}: replace a message's text (and blocks).
        """
        params = {
            "channel": channel,
            "ts": ts,
            "text": text,
            "blocks": list(blocks) if blocks is not None else None,
        }
        return self.call("chat.update", params, channel=channel)

    def delete_message(self, channel: str, ts: str) -> Deferred[dict[str, Any]]:
        """
        C{chat.delete}. A message already gone after an ambiguous first try
        counts as deleted.
        """
        return self.call("chat.delete", {"channel": channel, "ts": ts}, channel=channel)

    def add_reaction(self, channel: str, timestamp: str, name: str) -> Deferred[dict[str, Any]]:
        """
        C{reactions.add}: C{name} is a shortcode without colons
        (C{+1::skin-tone-2} for a skin tone). Already reacted is success.
        """
        params = {"channel": channel, "timestamp": timestamp, "name": name.strip(":")}
        return self.call("reactions.add", params, channel=channel)

    def remove_reaction(self, channel: str, timestamp: str, name: str) -> Deferred[dict[str, Any]]:
        """
        C{reactions.remove}. No such reaction is success.
        """
        params = {"channel": channel, "timestamp": timestamp, "name": name.strip(":")}
        return self.call("reactions.remove", params, channel=channel)

    # --- conversations ------------------------------------------------------

    def create_conversation(self, name: str, is_private: bool = False) -> Deferred[dict[str, Any]]:
        """
        C{conversations.create}. @return: The answer, with C{channel.id}.
        """
        return self.call("conversations.create", {"name": name, "is_private": is_private})

    def invite_to_conversation(
        self, channel: str, users: Sequence[str]
    ) -> Deferred[dict[str, Any]]:
        """
        C{conversations.invite}. Users already in the channel are success.
        """
        return self.call("conversations.invite", {"channel": channel, "users": ",".join(users)})

    def open_conversation(
        self,
        users: Sequence[str] | None = None,
        channel: str | None = None,
        return_im: bool | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        C{conversations.open}: a DM with one user, a group DM with several,
        or resume C{channel}. @return: The answer, with C{channel.id}.
        """
        params = {
            "users": ",".join(users) if users else None,
            "channel": channel,
            "return_im": return_im,
        }
        return self.call("conversations.open", params)

    # --- users --------------------------------------------------------------

    def user_info(self, user: str, include_locale: bool | None = None) -> Deferred[dict[str, Any]]:
        """
        C{users.info}. @return: The answer, with C{user}.
        """
        return self.call("users.info", {"user": user, "include_locale": include_locale})

    def lookup_user_by_email(self, email: str) -> Deferred[dict[str, Any]]:
        """
        C{users.lookupByEmail} (scope C{users:read.email}).
        """
        return self.call("users.lookupByEmail", {"email": email})

    def get_presence(self, user: str) -> Deferred[dict[str, Any]]:
        """
        C{users.getPresence}. @return: The answer, with C{presence}.
        """
        return self.call("users.getPresence", {"user": user})

    def publish_view(self, user_id: str, view: Mapping[str, Any]) -> Deferred[dict[str, Any]]:
        """
        C{views.publish}: show C{view} (a C{home} view) as C{user_id}'s
        Home tab of the app. Publishing again replaces it.
        """
        return self.call("views.publish", {"user_id": user_id, "view": dict(view)})

    def file_info(self, file: str) -> Deferred[dict[str, Any]]:
        """
        C{files.info} (scope C{files:read}). @return: The answer, with
        C{file} (C{url_private}, C{name}, C{mimetype}, C{size}).
        """
        return self.call("files.info", {"file": file})

    def auth_test(self) -> Deferred[dict[str, Any]]:
        """
        C{auth.test}: the token's C{team_id}, C{user_id} and C{bot_id}.
        """
        return self.call("auth.test", {})

    # --- files --------------------------------------------------------------

    def upload_file(
        self,
        channel: str,
        filename: str,
        content: bytes,
        *,
        title: str | None = None,
        initial_comment: str | None = None,
        thread_ts: str | None = None,
        alt_txt: str | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        Share a file in C{channel}: C{files.getUploadURLExternal}, a POST of
        C{content} to the upload URL (no credentials), then
        C{files.completeUploadExternal}. Runs in the channel's queue, so it
        keeps its place among messages.

        @return: The C{files.completeUploadExternal} answer, with C{files}.
        """

        async def flow(cancelled: Callable[[], bool]) -> dict[str, Any]:
            ticket = await self._caller.call(
                "files.getUploadURLExternal",
                {"filename": filename, "length": len(content), "alt_txt": alt_txt},
                headers=self._auth,
                cancelled=cancelled,
            )
            upload_url, file_id = ticket.get("upload_url"), ticket.get("file_id")
            if not isinstance(upload_url, str) or not isinstance(file_id, str):
                raise SlackApiError(
                    "service-unavailable",
                    "Slack files.getUploadURLExternal gave no upload URL",
                    "files.getUploadURLExternal",
                    "malformed_response",
                )
            await self._upload(upload_url, content)
            return await self._caller.call(
                "files.completeUploadExternal",
                {
                    "files": [{"id": file_id, "title": title or filename}],
                    "channel_id": channel,
                    "initial_comment": initial_comment,
                    "thread_ts": thread_ts,
                },
                channel=channel,
                headers=self._auth,
                cancelled=cancelled,
            )

        return self._in_lane(channel, flow)

    async def _upload(self, url: str, content: bytes) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                code, _, _ = await self._caller.request(
                    "POST",
                    url,
                    data=content,
                    headers={"Content-Type": "application/octet-stream"},
                )
            except _Retry as retry:
                error = retry.error
            else:
                if code == 200:
                    return
                error = f"http_{code}"
                if code < 500 and code != 429:
                    raise SlackApiError(
                        "service-unavailable",
                        f"Slack refused the file upload ({error})",
                        "files.upload",
                        error,
                    )
            # Uploading the same bytes to the same URL again is harmless.
            if attempts >= self._caller.policy.max_attempts:
                raise SlackApiError(
                    "service-unavailable",
                    f"the file upload to Slack failed {attempts} times; last: {error}",
                    "files.upload",
                    error,
                )
            await self._caller.sleep(self._caller.backoff(attempts))

    def download_file(self, url: str) -> Deferred[bytes]:
        """
        Fetch a file's C{url_private} with the bot token (scope
        C{files:read}). The token is only sent to the API host and the
        configured file hosts, over HTTPS unless the host is the API's.

        @raise SlackApiError: For another host, a failure, a redirect to a
            login page or a file over C{max_download} bytes.
        """
        return Deferred.fromCoroutine(self._download(url))

    async def _download(self, url: str) -> bytes:
        parts = urlsplit(url)
        api = urlsplit(self._caller.base_url)
        same_as_api = (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
        if parts.hostname not in self._file_hosts or (parts.scheme != "https" and not same_as_api):
            raise SlackApiError(
                "forbidden",
                "refusing to send the Slack token to that host",
                "files.download",
                "bad_host",
            )
        attempts = 0
        while True:
            attempts += 1
            try:
                code, headers, body = await self._caller.request(
                    "GET", url, headers=self._auth, allow_redirects=False
                )
            except _Retry as retry:
                error = retry.error
            else:
                content_type = (headers.getRawHeaders(b"content-type", [b""])[0] or b"").lower()
                if code == 200 and not content_type.startswith(b"text/html"):
                    if len(body) > self._max_download:
                        raise SlackApiError(
                            "not-acceptable",
                            "the Slack file is too large",
                            "files.download",
                            "too_large",
                        )
                    return bytes(body)
                error = f"http_{code}" if code != 200 else "login_page"
                if code < 500:
                    raise SlackApiError(
                        "item-not-found",
                        f"the Slack file could not be fetched ({error})",
                        "files.download",
                        error,
                    )
            if attempts >= self._caller.policy.max_attempts:
                raise SlackApiError(
                    "service-unavailable",
                    f"fetching the Slack file failed {attempts} times; last: {error}",
                    "files.download",
                    error,
                )
            await self._caller.sleep(self._caller.backoff(attempts))


def _called(d: Deferred[Any]) -> Callable[[], bool]:
    return lambda: d.called


def _cancellable(thunk: _Thunk) -> Deferred[Any]:
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


class SlackOAuthClient:
    """
    C{oauth.v2.access}: exchanges an OAuth code for a bot token when a
    workspace installs the app
    (U{https://docs.slack.dev/authentication/installing-with-oauth}).

    The client id and secret go in HTTP Basic authentication, Slack's
    preferred form; the secret never appears in logs or messages.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
        gate: DeferredSemaphore | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._caller = _Caller(
            http,
            clock,
            rng if rng is not None else random.Random(),
            base_url,
            policy if policy is not None else RetryPolicy(),
            RateLimiter(),
            gate,
        )

    def __repr__(self) -> str:
        return f"<SlackOAuthClient {self._client_id} secret=***>"

    def access(self, code: str, redirect_uri: str | None = None) -> Deferred[dict[str, Any]]:
        """
        Exchange C{code}. @return: The answer, with C{access_token},
        C{scope}, C{bot_user_id}, C{app_id} and C{team}.
        """
        return Deferred.fromCoroutine(
            self._caller.call(
                "oauth.v2.access",
                {"code": code, "redirect_uri": redirect_uri},
                auth=(self._client_id, self._client_secret),
            )
        )
