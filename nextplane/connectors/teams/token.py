# -*- test-case-name: tests.teams.test_token -*-
"""
The bot's outbound token: OAuth 2.0 client credentials against Microsoft
Entra ID, for calls to the Bot Connector REST API.

C{POST {authority}/{tenant}/oauth2/v2.0/token} with the form
C{grant_type=client_credentials}, C{client_id}, C{client_secret} and
C{scope=https://api.botframework.com/.default} answers
C{{"token_type": "Bearer", "expires_in": 3600, "access_token": ...}}.

Single-tenant registrations (the only kind Azure creates since
2025-07-31) take their token from their own tenant, which is the default
here; existing multi-tenant bots use the C{botframework.com} tenant. The
authority is configurable so tests and benchmarks use a simulator.

L{BotTokenProvider} caches the token and fetches a new one
L{REFRESH_MARGIN} seconds before it expires, one fetch for all waiting
callers. The secret and the token never appear in C{repr} or errors.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import field, frozen
from twisted.internet.interfaces import IReactorTime

from ..platform.httpapi import HTTPClient, within
from .flight import SingleFlight

__all__ = [
    "DEFAULT_AUTHORITY",
    "MULTI_TENANT",
    "REFRESH_MARGIN",
    "SCOPE",
    "BotCredentials",
    "BotTokenProvider",
    "TokenUnavailable",
]

#: Microsoft Entra ID's login host.
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
#: The tenant multi-tenant bots take their tokens from.
MULTI_TENANT = "botframework.com"
#: The scope of Bot Connector tokens.
SCOPE = "https://api.botframework.com/.default"
#: A token is replaced this many seconds before it expires.
REFRESH_MARGIN = 300
#: How long a token request may take, in seconds.
REQUEST_TIMEOUT = 15.0


def _check_tenant(instance: BotCredentials, attribute: Any, value: str | None) -> None:
    if not instance.multi_tenant and not value:
        raise ValueError("a single-tenant bot needs its tenant id")


@frozen
class BotCredentials:
    """
    A bot's app registration.

    @ivar app_id: The Microsoft app (client) id.
    @ivar secret: The client secret.
    @ivar tenant_id: The tenant the app is registered in; required unless
        C{multi_tenant}.
    @ivar multi_tenant: An older multi-tenant registration.
    @ivar authority: The login host, without a trailing path.
    """

    app_id: str
    secret: str = field(repr=False)
    tenant_id: str | None = field(default=None, validator=_check_tenant)
    multi_tenant: bool = False
    authority: str = DEFAULT_AUTHORITY

    @property
    def token_url(self) -> str:
        """
        Where tokens come from.
        """
        tenant = MULTI_TENANT if self.multi_tenant else self.tenant_id
        return f"{self.authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"

    def form(self) -> dict[str, str]:
        """
        The form of a token request.
        """
        return {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self.secret,
            "scope": SCOPE,
        }


class TokenUnavailable(Exception):
    """
    No token could be had: wrong credentials, or the authority failed.

    @ivar error: The OAuth C{error} code, when the authority gave one.
    @ivar status: The HTTP status, or C{0} when no answer came.
    """

    def __init__(self, status: int, error: str | None, detail: str) -> None:
        super().__init__(f"bot token unavailable ({status} {error or ''}): {detail}")
        self.status = status
        self.error = error

    @property
    def retryable(self) -> bool:
        """
        Whether trying again later may help (not for refused credentials).
        """
        return self.status == 0 or self.status == 429 or self.status >= 500


class BotTokenProvider:
    """
    A cached bot token, refreshed before it expires.
    """

    def __init__(self, credentials: BotCredentials, http: HTTPClient, clock: IReactorTime) -> None:
        """
        @param credentials: The app registration.
        @param http: A treq-like client (L{treq.testing.StubTreq} in tests).
        @param clock: Time for expiry.
        """
        self.credentials = credentials
        self._http = http
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._flight: SingleFlight[str] = SingleFlight(self._fetch)
        #: How many tokens were fetched (for tests and metrics).
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<BotTokenProvider app={self.credentials.app_id}>"

    async def token(self) -> str:
        """
        A token valid for at least L{REFRESH_MARGIN} more seconds.

        @raise TokenUnavailable: When none could be fetched.
        """
        if self._token is not None and self._clock.seconds() < self._expires_at - REFRESH_MARGIN:
            return self._token
        return await self._flight()

    async def authorization(self) -> dict[str, str]:
        """
        The C{Authorization} header for a Connector request.
        """
        return {"Authorization": f"Bearer {await self.token()}"}

    def invalidate(self) -> None:
        """
        Forget the token (the Connector refused it with 401).
        """
        self._token = None

    async def _fetch(self) -> str:
        self.fetches += 1
        url = self.credentials.token_url
        try:
            response = await within(
                self._http.request("POST", url, data=self.credentials.form()),
                REQUEST_TIMEOUT,
                self._clock,
            )
            body = await within(response.content(), REQUEST_TIMEOUT, self._clock)
        except Exception as e:
            raise TokenUnavailable(0, None, type(e).__name__) from e
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TokenUnavailable(response.code, None, "answer is not a JSON object")
        if response.code != 200:
            error = data.get("error") if isinstance(data.get("error"), str) else None
            described = data.get("error_description")
            # AADSTS descriptions name the app, never the secret.
            detail = described.splitlines()[0] if isinstance(described, str) else "refused"
            raise TokenUnavailable(response.code, error, detail)
        token = data.get("access_token")
        expires_in = data.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise TokenUnavailable(response.code, None, "answer without access_token/expires_in")
        self._token = token
        self._expires_at = self._clock.seconds() + expires_in
        return token
