# -*- test-case-name: tests.slack.test_api -*-
"""
How Slack's Web API is called: its methods, their encodings and
idempotence, and how its answers read (on the kit's
L{nextplane.connectors.platform.httpapi.Caller}).

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

Scheduling and retries come from the platform kit
(L{nextplane.connectors.platform.httpapi}); this module says what is Slack:
the methods, their encodings and idempotence, and how Slack's answers read.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import frozen
from hyperlink import EncodedURL
from twisted.internet.defer import DeferredSemaphore
from twisted.internet.interfaces import IReactorTime

from ...metrics.tally import PLATFORM_CALLS
from ..platform.httpapi import ApiError, Caller, HTTPClient, Retry, RetryPolicy, check_status
from .ratelimit import RateLimiter

__all__ = ["DEFAULT_BASE_URL", "MAX_TEXT", "METHODS", "MethodSpec", "SlackApiError", "SlackCaller"]

#: Where the Web API lives.
DEFAULT_BASE_URL = "https://slack.com/api/"

#: The longest C{text} of one Slack message: Slack refuses longer ones
#: (C{msg_too_long}) and never sends one.
MAX_TEXT = 40_000


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

_UNKNOWN = MethodSpec("form", idempotent=False)


class SlackApiError(ApiError):
    """
    A Web API call failed for good.

    @ivar method: The Web API method.
    @ivar error: Slack's error code (C{channel_not_found}, ...) or a
        description of the transport failure (C{timeout}, C{http_500}).
    """


def _failure_reason(method: str, error: str, detail: Sequence[str] = ()) -> str:
    _, explanation = _ERRORS.get(error, ("", ""))
    text = f"Slack {method} failed: {explanation or error}"
    if explanation:
        text += f" ({error})"
    if detail:
        text += ": " + "; ".join(str(d) for d in detail[:3])
    return text


def _fail(method: str, error: str, detail: Sequence[str] = ()) -> SlackApiError:
    condition, _ = _ERRORS.get(error, ("service-unavailable", ""))
    PLATFORM_CALLS.failed("slack", error)
    return SlackApiError(condition, _failure_reason(method, error, detail), method, error)


def _done(spec: MethodSpec) -> Callable[[ApiError, bool], dict[str, Any] | None]:
    def done(e: ApiError, retried_after_ambiguity: bool) -> dict[str, Any] | None:
        # message_not_found only means "deleted" after an attempt Slack may have done.
        if e.error in spec.done_errors and (
            retried_after_ambiguity or e.error != "message_not_found"
        ):
            return {"ok": True, "already": e.error}
        return None

    return done


class SlackCaller:
    """
    Web API calls on the kit's L{Caller}: Slack's encodings and answers.
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
        self.caller = Caller(http, clock, rng, policy, limiter, _fail, "Slack", gate, SlackApiError)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        # Parsed once per method: treq would parse the text on every call.
        self._urls: dict[str, EncodedURL] = {}
        self._done = {method: _done(spec) for method, spec in METHODS.items()}

    def call(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        channel: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Any:
        spec = METHODS.get(method, _UNKNOWN)
        return self.caller.call(
            method,
            lambda: self._once(method, spec, params, headers, auth, cancelled),
            key=channel,
            idempotent=spec.idempotent,
            done=self._done.get(method) or _done(spec),
            cancelled=cancelled,
        )

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
        code, response_headers, body = await self.caller.request(verb, url, cancelled, **kwargs)
        if code == 429:
            PLATFORM_CALLS.limited("slack")
        check_status(code, response_headers)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if code != 200:
                raise _fail(method, f"http_{code}")
            raise Retry("malformed_response", None)
        if data.get("ok") is True:
            return data
        error = str(data.get("error") or f"http_{code}")
        if error == "ratelimited":
            raise Retry(error, False, 1.0)
        if error in _NOT_PROCESSED_ERRORS:
            raise Retry(error, False)
        if error in _AMBIGUOUS_ERRORS:
            raise Retry(error, None)
        metadata = data.get("response_metadata")
        detail = metadata.get("messages", []) if isinstance(metadata, dict) else []
        needed = data.get("needed")
        if isinstance(needed, str):
            detail = [*detail, f"needed: {needed}"]
        raise _fail(method, error, detail if isinstance(detail, list) else [])


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
