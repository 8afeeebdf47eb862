# -*- test-case-name: tests.webex.test_webhooks -*-
"""
One Webex REST exchange over an injected treq client.

L{RestClient.call} adds the base URL and the bot's bearer token to an
L{ApiRequest}, performs it once and returns the answer's body, or raises
L{WebexApiError} (classified by L{api_error}). Retries, pacing and
ordering belong to the platform kit's caller, which the connector puts in
front; this thin client serves the webhook keeper at start-up and tests.
"""

from __future__ import annotations

# The one treq client protocol; it lives in the platform kit once that is
# merged (slack.api re-exports it there too).
from ..platform.httpapi import HTTPClient
from .api import BASE_URL, ApiRequest, api_error

__all__ = ["RestClient"]


class RestClient:
    """
    Performs L{ApiRequest}s with the bot token.

    The token never appears in C{repr}.
    """

    def __init__(self, http: HTTPClient, token: str, base_url: str = BASE_URL) -> None:
        """
        @param http: The treq client.
        @param token: The bot's access token.
        @param base_url: The REST base URL.
        """
        if not token:
            raise ValueError("empty Webex bot token")
        self._http = http
        self._token = token
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"<RestClient {self.base_url} token=***>"

    async def call(self, request: ApiRequest) -> bytes:
        """
        Perform C{request} once.

        @return: The answer's body (2xx).
        @raise WebexApiError: For any other status.
        """
        headers = {b"Authorization": [f"Bearer {self._token}".encode()]}
        body = request.json_body()
        if body is not None:
            headers[b"Content-Type"] = [b"application/json; charset=utf-8"]
        response = await self._http.request(
            request.verb, request.url(self.base_url), headers=headers, data=body
        )
        content: bytes = await response.content()
        retry_after = response.headers.getRawHeaders(b"retry-after", [None])[0]
        error = api_error(response.code, content, retry_after)
        if error is not None:
            raise error
        return content
