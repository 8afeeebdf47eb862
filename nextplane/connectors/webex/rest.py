# -*- test-case-name: tests.webex.test_connector -*-
"""
Webex REST through the platform kit's caller: the bot's bearer token on
every request, 429 and 423 waited out per C{Retry-After} (15 s when it is
missing), 5xx and transport failures retried by the kit's rules, and
permanent failures as the kit's L{ApiError} (the sender is told why).
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

from twisted.internet.defer import DeferredSemaphore
from twisted.internet.interfaces import IReactorTime

from ..platform.httpapi import ApiError, Caller, HTTPClient, Retry, RetryPolicy
from ..platform.ratelimit import RateLimiter
from .api import ApiRequest, api_error, get_file

__all__ = ["WebexRest", "describe"]

_CONDITIONS = {
    400: "bad-request",
    401: "not-authorized",
    403: "forbidden",
    404: "item-not-found",
    409: "conflict",
}


def describe(method: str, error: str) -> ApiError:
    """
    The sender's failure for a permanent Webex error on C{method}.
    """
    condition = "resource-constraint" if error == "ratelimited" else "service-unavailable"
    return ApiError(condition, f"Webex refused {method} ({error})", method, error)


class WebexRest:
    """
    Performs L{ApiRequest}s for the bot; the token never appears in C{repr}.
    """

    def __init__(
        self,
        http: HTTPClient,
        token: str,
        base_url: str,
        clock: IReactorTime,
        rng: random.Random,
        policy: RetryPolicy,
        gate: DeferredSemaphore | None = None,
    ) -> None:
        if not token:
            raise ValueError("empty Webex bot token")
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.caller = Caller(http, clock, rng, policy, RateLimiter({}), describe, "Webex", gate)

    def __repr__(self) -> str:
        return f"<WebexRest {self.base_url} token=***>"

    def _headers(self, body: bytes | None) -> dict[bytes, list[bytes]]:
        headers = {b"Authorization": [f"Bearer {self._token}".encode()]}
        if body is not None:
            headers[b"Content-Type"] = [b"application/json; charset=utf-8"]
        return headers

    async def call(self, request: ApiRequest, key: Hashable | None = None) -> bytes:
        """
        Perform C{request} until it succeeds or fails for good.

        @param key: The space, for per-space pacing.
        @return: The answer's body.
        @raise ApiError: When Webex refuses it for good.
        """
        method = f"{request.verb} {request.path.split('/')[1]}"
        body = request.json_body()
        url = request.url(self.base_url)

        async def once() -> bytes:
            status, headers, content = await self.caller.request(
                request.verb, url, headers=self._headers(body), data=body
            )
            retry_after = headers.getRawHeaders(b"retry-after", [None])[0]
            error = api_error(status, content, retry_after)
            if error is None:
                return content
            if error.retry_after is not None:
                raise Retry(f"http_{status}", False, error.retry_after)
            if error.processed is not True:
                raise Retry(f"http_{status}", error.processed)
            condition = _CONDITIONS.get(status, "undefined-condition")
            raise ApiError(
                condition, f"Webex refused {method}: {error.message}", method, str(status)
            )

        def gone(error: ApiError, retried: bool) -> bytes | None:
            # A DELETE that finds nothing (or a repeat) means the wanted state holds.
            if request.verb == "DELETE" and error.error == "404":
                return b""
            return None

        return await self.caller.call(
            method, once, key=key, idempotent=request.idempotent, done=gone
        )

    async def open_file(self, url: str) -> Any:
        """
        Start streaming a message's file (the bot token goes only to URLs
        below the REST base). @return: The response, or C{None}.
        """
        request = get_file(url, self.base_url)
        if request is None:
            return None
        response = await self.caller.open("GET", url, headers=self._headers(None))
        return response if 200 <= response.code < 300 else None
