# -*- test-case-name: tests.teams.test_token -*-
"""
Tests for L{nextplane.connectors.teams.token} against the Teams simulator's
token endpoint.
"""

from __future__ import annotations

from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.flight import SingleFlight
from nextplane.connectors.teams.token import (
    BotCredentials,
    BotTokenProvider,
    TokenUnavailable,
)
from nextplane.testing.teams_sim.simulator import TeamsSimulator

from .helpers import KEY

APP = "11111111-2222-3333-4444-555555555555"
TENANT = "tenant-acme"


class TokenTests(SynchronousTestCase):
    """
    L{BotTokenProvider} gets client-credentials tokens and caches them.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000_000)
        self.sim = TeamsSimulator(self.clock, base_url="https://teams.test", key=KEY)
        self.sim.add_app(APP, "s3cret", TENANT)
        self.http = StubTreq(self.sim.resource())

    def provider(self, **overrides: Any) -> BotTokenProvider:
        values: dict[str, Any] = {
            "app_id": APP,
            "secret": "s3cret",
            "tenant_id": TENANT,
            "authority": "https://teams.test",
        }
        values.update(overrides)
        return BotTokenProvider(BotCredentials(**values), self.http, self.clock)

    def token(self, provider: BotTokenProvider) -> Deferred[str]:
        return Deferred.fromCoroutine(provider.token())

    def test_single_tenant(self) -> None:
        """A single-tenant bot gets its token from its own tenant."""
        provider = self.provider()
        token = self.successResultOf(self.token(provider))
        self.assertTrue(token.startswith("sim-bot-token-"))
        self.assertEqual(self.sim.token_requests, [(TENANT, APP, True)])

    def test_single_tenant_default(self) -> None:
        """Credentials are single-tenant unless told otherwise, and need a tenant."""
        self.assertRaises(ValueError, BotCredentials, APP, "x")
        credentials = BotCredentials(APP, "x", TENANT)
        self.assertEqual(
            credentials.token_url,
            f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
        )

    def test_multi_tenant(self) -> None:
        """A multi-tenant bot uses the botframework.com tenant."""
        self.sim.apps[APP].multi_tenant = True
        provider = self.provider(tenant_id=None, multi_tenant=True)
        self.successResultOf(self.token(provider))
        self.assertEqual(self.sim.token_requests, [("botframework.com", APP, True)])

    def test_wrong_tenant_refused(self) -> None:
        """A single-tenant bot cannot take tokens from another tenant."""
        provider = self.provider(tenant_id="other")
        failure = self.failureResultOf(self.token(provider), TokenUnavailable)
        self.assertEqual(failure.value.status, 401)

    def test_bad_secret(self) -> None:
        """A wrong secret is refused, not retryable, and not shown."""
        provider = self.provider(secret="wrong-secret")
        failure = self.failureResultOf(self.token(provider), TokenUnavailable)
        self.assertEqual(failure.value.error, "invalid_client")
        self.assertFalse(failure.value.retryable)
        self.assertNotIn("wrong-secret", str(failure.value))
        self.assertNotIn("wrong-secret", repr(provider.credentials))

    def test_cached_until_margin(self) -> None:
        """The token is reused until five minutes before it expires."""
        provider = self.provider()
        first = self.successResultOf(self.token(provider))
        self.clock.advance(3600 - 301)
        self.assertEqual(self.successResultOf(self.token(provider)), first)
        self.assertEqual(provider.fetches, 1)
        self.clock.advance(1)
        second = self.successResultOf(self.token(provider))
        self.assertNotEqual(second, first)
        self.assertEqual(provider.fetches, 2)

    def test_invalidate(self) -> None:
        """After invalidate the next call fetches a new token."""
        provider = self.provider()
        self.successResultOf(self.token(provider))
        provider.invalidate()
        self.successResultOf(self.token(provider))
        self.assertEqual(provider.fetches, 2)

    def test_authorization_header(self) -> None:
        """The header carries the token as a bearer."""
        provider = self.provider()
        header = self.successResultOf(Deferred.fromCoroutine(provider.authorization()))
        self.assertTrue(header["Authorization"].startswith("Bearer sim-bot-token-"))

    def test_unreachable(self) -> None:
        """No answer at all is a retryable unavailability."""

        class Broken:
            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                return Deferred.fromCoroutine(self._fail())

            async def _fail(self) -> Any:
                raise ConnectionRefusedError()

        provider = BotTokenProvider(BotCredentials(APP, "s", TENANT), Broken(), self.clock)
        failure = self.failureResultOf(self.token(provider), TokenUnavailable)
        self.assertTrue(failure.value.retryable)

    def test_timeout(self) -> None:
        """A token request that never answers fails after its timeout."""

        class Hang:
            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                return Deferred()

        provider = BotTokenProvider(BotCredentials(APP, "s", TENANT), Hang(), self.clock)
        d = self.token(provider)
        self.assertNoResult(d)
        self.clock.advance(15)
        self.assertTrue(self.failureResultOf(d, TokenUnavailable).value.retryable)


class SingleFlightTests(SynchronousTestCase):
    """
    L{SingleFlight} shares one run among concurrent callers.
    """

    def test_shared(self) -> None:
        """Callers during a run get its result; a later call runs again."""
        gate: Deferred[int] = Deferred()
        runs: list[int] = []

        async def run() -> int:
            runs.append(1)
            return await gate

        flight = SingleFlight(run)
        first = Deferred.fromCoroutine(flight())
        second = Deferred.fromCoroutine(flight())
        self.assertTrue(flight.flying)
        gate.callback(7)
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)), (7, 7))
        self.assertFalse(flight.flying)
        self.assertEqual(len(runs), 1)

    def test_failure_shared(self) -> None:
        """A failed run fails every waiting caller."""

        async def run() -> int:
            raise ValueError("no")

        flight = SingleFlight(run)
        self.failureResultOf(Deferred.fromCoroutine(flight()), ValueError)
