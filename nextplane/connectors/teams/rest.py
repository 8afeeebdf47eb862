# -*- test-case-name: tests.teams.test_connector -*-
"""
Bot Connector REST calls through the platform kit's caller
(L{nextplane.connectors.platform.httpapi.Caller}): the bot token, Teams'
rate windows, retries with backoff and jitter, and failures in words the
sender understands.

Rate windows (C{msteams-platform/bots/how-to/rate-limit.md}): every call
that posts, changes or deletes an activity, or creates a conversation,
counts against one conversation's 7/1 s, 8/2 s, 60/30 s and 1,800/3,600 s
windows; every call counts against the app's requests per second in the
tenant (30, the documented floor). One L{TeamsRest} serves one tenant.

Answers (L{nextplane.connectors.teams.api.classify}): 429, 412, 502, 503
and 504 are retried after a pause (C{Retry-After} when given, else
exponential backoff with jitter; Teams documents them as transient and
not acted on); a 401 fetches a new token and retries once; the rest fail
with a L{TeamsApiError} whose reason says what happened (blocked app, too
large, app not installed, ...).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import DeferredSemaphore
from twisted.internet.interfaces import IReactorTime

from ..platform.httpapi import ApiError, Caller, HTTPClient, Retry, RetryPolicy, check_status
from ..platform.ratelimit import Limit, RateLimiter, Window
from .api import ConnectorAnswer, ConnectorRequest, Outcome, classify
from .token import BotTokenProvider, TokenUnavailable

__all__ = ["PACED", "TRANSIENT", "TeamsApiError", "TeamsRest", "limits"]

#: The rate-limiter name of every call Teams paces per conversation.
PACED = "send"
_PACED_OPERATIONS = frozenset(
    {
        "Conversations_CreateConversation",
        "Conversations_SendToConversation",
        "Conversations_ReplyToActivity",
        "Conversations_UpdateActivity",
        "Conversations_DeleteActivity",
    }
)
#: Answers Teams documents as transient and not acted on (rate-limit.md):
#: retried after a pause; 429 waits its C{Retry-After}.
TRANSIENT = frozenset({412, 502, 503, 504})
#: Teams' per-conversation windows.
CONVERSATION_WINDOWS = (
    Window(7, 1.0),
    Window(8, 2.0),
    Window(60, 30.0),
    Window(1800, 3600.0),
)
_CONDITIONS: Mapping[Outcome, str] = {
    Outcome.BLOCKED: "recipient-unavailable",
    Outcome.NOT_INSTALLED: "recipient-unavailable",
    Outcome.TOO_LARGE: "policy-violation",
    Outcome.NOT_FOUND: "item-not-found",
    Outcome.UNAUTHORIZED: "service-unavailable",
    Outcome.FAILED: "undefined-condition",
    Outcome.RETRY: "service-unavailable",
}


class TeamsApiError(ApiError):
    """
    A Connector call failed for good.

    @ivar outcome: What the answer meant (L{Outcome.BLOCKED}, ...).
    """

    def __init__(
        self, condition: str, reason: str, method: str, error: str, outcome: Outcome
    ) -> None:
        super().__init__(condition, reason, method, error)
        self.outcome = outcome


def limits(requests_per_second: int = 30) -> tuple[dict[str, Limit], Limit]:
    """
    The limiter's table: paced calls per conversation and per app; others per app.
    """
    app = (Window(requests_per_second, 1.0),)
    return {PACED: Limit(overall=app, per_key=CONVERSATION_WINDOWS)}, Limit(overall=app)


def _describe(method: str, error: str) -> ApiError:
    return TeamsApiError(
        "resource-constraint",
        "Teams kept asking the hub to slow down; try again later",
        method,
        error,
        Outcome.RETRY,
    )


class TeamsRest:
    """
    Makes L{ConnectorRequest}s for one tenant; see the module docstring.
    """

    def __init__(
        self,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random,
        tokens: BotTokenProvider,
        policy: RetryPolicy,
        gate: DeferredSemaphore | None = None,
        requests_per_second: int = 30,
    ) -> None:
        table, default = limits(requests_per_second)
        self.limiter = RateLimiter(table, default)
        self.caller = Caller(
            http, clock, rng, policy, self.limiter, _describe, "Teams", gate, TeamsApiError
        )
        self.tokens = tokens
        self._clock = clock
        #: Answers per HTTP status, for health and tests.
        self.statuses: dict[int, int] = {}

    async def call(self, request: ConnectorRequest) -> ConnectorAnswer:
        """
        Make C{request} until it succeeds or fails for good.

        @raise TeamsApiError: With the reason to tell the sender.
        """
        answer, _ = await self.exchange(request)
        return answer

    async def exchange(self, request: ConnectorRequest) -> tuple[ConnectorAnswer, bytes]:
        """
        Like L{call}, with the answer's body (e.g. a member list).
        """
        paced = request.operation in _PACED_OPERATIONS
        renewed: list[bool] = []

        async def once() -> tuple[ConnectorAnswer, bytes]:
            try:
                headers: dict[str, Any] = await self.tokens.authorization()
            except TokenUnavailable as e:
                if e.retryable:
                    raise Retry(f"token_{e.status}", False) from None
                raise TeamsApiError(
                    "service-unavailable",
                    "the hub could not sign in to Teams",
                    request.operation,
                    "token",
                    Outcome.UNAUTHORIZED,
                ) from None
            headers["Content-Type"] = "application/json; charset=utf-8"
            status, response_headers, body = await self.caller.request(
                request.method, request.url, headers=headers, data=request.encoded()
            )
            self.statuses[status] = self.statuses.get(status, 0) + 1
            check_status(status, response_headers, not_processed=TRANSIENT)
            answer = classify(status, body)
            if answer.outcome is Outcome.DONE:
                return answer, body
            if answer.outcome is Outcome.UNAUTHORIZED and not renewed:
                renewed.append(True)
                self.tokens.invalidate()
                raise Retry("http_401", False)
            raise TeamsApiError(
                _CONDITIONS[answer.outcome],
                answer.reason or "Teams refused the call",
                request.operation,
                answer.code or f"http_{status}",
                answer.outcome,
            )

        return await self.caller.call(
            PACED if paced else request.operation,
            once,
            key=request.lane if paced else None,
            idempotent=request.method in ("GET", "PUT", "DELETE"),
        )
