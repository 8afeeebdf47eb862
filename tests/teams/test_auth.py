# -*- test-case-name: tests.teams.test_auth -*-
"""
Tests for L{nextplane.connectors.teams.auth}.
"""

from __future__ import annotations

from typing import Any

import jwt
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.auth import (
    ISSUER,
    BotFrameworkAuthenticator,
    ExpiredToken,
    ForgedToken,
    KeysUnavailable,
    MalformedToken,
    MissingToken,
    NotEndorsed,
    OpenIdKeys,
    TokenRejected,
    UnknownKey,
    UnsignedToken,
    ValidatedToken,
    WrongAudience,
    WrongIssuer,
    WrongServiceUrl,
    bearer_token,
    parse_jwks,
)

from .helpers import KEY, OTHER_KEY, UNENDORSED_KEY, KeyServer

APP = "00000000-0000-0000-0000-00000000b077"
SERVICE = "https://smba.trafficmanager.net/emea/"
METADATA = "https://login.test/v1/.well-known/openidconfiguration"
NOW = 1_800_000_000.0


class AuthTests(SynchronousTestCase):
    """
    L{BotFrameworkAuthenticator} accepts the channel's tokens and refuses
    every class of bad one with its own error.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.server = KeyServer(KEY, UNENDORSED_KEY)
        self.keys = OpenIdKeys(StubTreq(self.server), self.clock, METADATA)
        self.auth = BotFrameworkAuthenticator(APP, self.keys, self.clock)

    def validate(self, header: str | None, service_url: str = SERVICE) -> Deferred[Any]:
        return Deferred.fromCoroutine(self.auth.validate(header, service_url))

    def refused(self, header: str | None, kind: type[TokenRejected], **kw: Any) -> TokenRejected:
        failure = self.failureResultOf(self.validate(header, **kw), TokenRejected)
        self.assertIsInstance(failure.value, kind)
        self.assertEqual(failure.value.status, 401)
        return failure.value  # type: ignore[return-value]

    def token(self, key: Any = KEY, **overrides: Any) -> str:
        claims = {
            "iss": ISSUER,
            "aud": APP,
            "nbf": int(NOW) - 5,
            "exp": int(NOW) + 3600,
            "serviceurl": SERVICE,
        }
        claims.update(overrides)
        for name in [n for n, v in claims.items() if v is None]:
            del claims[name]
        return f"Bearer {key.sign(claims)}"

    def test_valid(self) -> None:
        """A token signed by a published, endorsed key with the right claims passes."""
        result = self.successResultOf(self.validate(self.token()))
        self.assertIsInstance(result, ValidatedToken)
        self.assertEqual(result.service_url, SERVICE)
        self.assertEqual(result.app_id, APP)

    def test_channel_token_helper(self) -> None:
        """The simulator's own token helper makes tokens that pass."""
        header = f"Bearer {KEY.channel_token(APP, SERVICE, NOW)}"
        self.successResultOf(self.validate(header))

    def test_missing(self) -> None:
        """No header, or another scheme, is refused."""
        self.refused(None, MissingToken)
        self.refused("Basic abc", MissingToken)
        self.refused("Bearer ", MissingToken)

    def test_malformed(self) -> None:
        """A bearer value that is not a JWT is refused."""
        self.refused("Bearer not.a.jwt", MalformedToken)

    def test_unsigned(self) -> None:
        """An C{alg: none} token is refused, whatever it claims."""
        claims = {"iss": ISSUER, "aud": APP, "exp": int(NOW) + 60, "serviceurl": SERVICE}
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": "key-1"})
        self.refused(f"Bearer {token}", UnsignedToken)

    def test_hmac_refused(self) -> None:
        """An HS256 token (the public key used as a secret) is refused."""
        claims = {"iss": ISSUER, "aud": APP, "exp": int(NOW) + 60, "serviceurl": SERVICE}
        token = jwt.encode(claims, "s" * 32, algorithm="HS256", headers={"kid": "key-1"})
        self.refused(f"Bearer {token}", UnsignedToken)

    def test_forged(self) -> None:
        """A token signed by another key under a published kid is refused."""
        forged = OTHER_KEY.sign(
            {"iss": ISSUER, "aud": APP, "exp": int(NOW) + 60, "serviceurl": SERVICE}
        )
        header, payload, _ = forged.split(".")
        genuine = KEY.sign({"x": 1}).split(".")[0]
        self.refused(f"Bearer {genuine}.{payload}.{forged.split('.')[2]}", ForgedToken)
        self.assertTrue(header)

    def test_tampered(self) -> None:
        """A genuine token with a changed claim is refused as forged."""
        good = KEY.sign({"iss": ISSUER, "aud": APP, "exp": int(NOW) + 60, "serviceurl": "x"})
        other = KEY.sign({"iss": ISSUER, "aud": APP, "exp": int(NOW) + 60, "serviceurl": SERVICE})
        head, _, sig = good.split(".")
        self.refused(f"Bearer {head}.{other.split('.')[1]}.{sig}", ForgedToken)

    def test_expired(self) -> None:
        """A token expired more than five minutes ago is refused; within the skew it passes."""
        self.successResultOf(self.validate(self.token(exp=int(NOW) - 299)))
        self.refused(self.token(exp=int(NOW) - 301), ExpiredToken)

    def test_not_yet_valid(self) -> None:
        """A token whose nbf is more than five minutes ahead is refused."""
        self.successResultOf(self.validate(self.token(nbf=int(NOW) + 299)))
        self.refused(self.token(nbf=int(NOW) + 301), ExpiredToken)

    def test_expiry_follows_clock(self) -> None:
        """Expiry is judged by the injected clock."""
        header = self.token(exp=int(NOW) + 100)
        self.successResultOf(self.validate(header))
        self.clock.advance(401)
        self.refused(header, ExpiredToken)

    def test_missing_exp(self) -> None:
        """A token without exp is refused."""
        self.refused(self.token(exp=None), MalformedToken)

    def test_wrong_audience(self) -> None:
        """A token for another bot is refused."""
        self.refused(self.token(aud="another-app"), WrongAudience)

    def test_wrong_issuer(self) -> None:
        """A token from another issuer is refused."""
        self.refused(self.token(iss="https://sts.windows.net/x/"), WrongIssuer)

    def test_unknown_key(self) -> None:
        """A token signed by an unpublished key is refused."""
        self.refused(self.token(key=OTHER_KEY), UnknownKey)

    def test_not_endorsed(self) -> None:
        """A key endorsed only for other channels cannot sign Teams activities."""
        self.refused(self.token(key=UNENDORSED_KEY), NotEndorsed)

    def test_wrong_service_url(self) -> None:
        """The serviceurl claim must equal the activity's serviceUrl."""
        self.refused(self.token(), WrongServiceUrl, service_url="https://evil.test/")
        self.refused(self.token(serviceurl=None), WrongServiceUrl)

    def test_keys_unavailable(self) -> None:
        """When the keys cannot be fetched, the request is refused."""
        self.server.fail = True
        self.refused(self.token(), KeysUnavailable)


class KeyCacheTests(SynchronousTestCase):
    """
    L{OpenIdKeys} caches keys, refreshes them daily and re-fetches at most
    hourly on an unknown kid.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.server = KeyServer(KEY)
        self.keys = OpenIdKeys(StubTreq(self.server), self.clock, METADATA)

    def key(self, kid: str) -> Deferred[Any]:
        return Deferred.fromCoroutine(self.keys.key(kid))

    def test_cached(self) -> None:
        """Known keys are served from the cache."""
        self.successResultOf(self.key("key-1"))
        self.successResultOf(self.key("key-1"))
        self.assertEqual(self.keys.fetches, 1)
        self.assertEqual(
            self.server.requests, ["/v1/.well-known/openidconfiguration", "/v1/.well-known/keys"]
        )

    def test_daily_refresh(self) -> None:
        """After a day the keys are fetched again."""
        self.successResultOf(self.key("key-1"))
        self.clock.advance(24 * 3600 - 1)
        self.successResultOf(self.key("key-1"))
        self.assertEqual(self.keys.fetches, 1)
        self.clock.advance(1)
        self.successResultOf(self.key("key-1"))
        self.assertEqual(self.keys.fetches, 2)

    def test_unknown_kid_hourly(self) -> None:
        """An unknown kid re-fetches at most once an hour; a rotated-in key is then found."""
        self.successResultOf(self.key("key-1"))
        self.failureResultOf(self.key("key-2"), UnknownKey)
        self.failureResultOf(self.key("key-2"), UnknownKey)
        self.assertEqual(self.keys.fetches, 1)
        self.server.keys.append(OTHER_KEY)
        self.clock.advance(3600)
        self.successResultOf(self.key("key-2"))
        self.assertEqual(self.keys.fetches, 2)

    def test_failed_fetch_retried_hourly(self) -> None:
        """A failed first fetch is not repeated for every request within the hour."""
        self.server.fail = True
        self.failureResultOf(self.key("key-1"), KeysUnavailable)
        self.failureResultOf(self.key("key-1"), KeysUnavailable)
        self.assertEqual(self.keys.fetches, 1)
        self.server.fail = False
        self.clock.advance(60)
        self.successResultOf(self.key("key-1"))
        self.assertEqual(self.keys.fetches, 2)

    def test_stale_keys_kept_on_failure(self) -> None:
        """When the daily refresh fails, the old keys keep working."""
        self.successResultOf(self.key("key-1"))
        self.server.fail = True
        self.clock.advance(24 * 3600)
        self.successResultOf(self.key("key-1"))
        self.assertEqual(self.keys.fetches, 2)

    def test_concurrent_first_fetch(self) -> None:
        """Lookups while the first fetch is under way wait for it, and share it."""
        gate: Deferred[None] = Deferred()
        stub = StubTreq(self.server)

        class Slow:
            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                async def later() -> Any:
                    await gate
                    return await stub.request(method, url, **kwargs)

                return Deferred.fromCoroutine(later())

        keys = OpenIdKeys(Slow(), self.clock, METADATA)
        first = Deferred.fromCoroutine(keys.key("key-1"))
        second = Deferred.fromCoroutine(keys.key("key-1"))
        unknown = Deferred.fromCoroutine(keys.key("key-9"))
        self.assertNoResult(second)
        gate.callback(None)
        self.assertEqual(self.successResultOf(first).kid, "key-1")
        self.assertEqual(self.successResultOf(second).kid, "key-1")
        self.failureResultOf(unknown, UnknownKey)
        self.assertEqual(keys.fetches, 1)

    def test_parse_jwks_skips_junk(self) -> None:
        """Entries that are not RSA keys with a kid are skipped."""
        keys = parse_jwks({"keys": [{"kty": "EC"}, {"kty": "RSA"}, "x", KEY.jwk()]})
        self.assertEqual(list(keys), ["key-1"])
        self.assertEqual(keys["key-1"].endorsements, frozenset({"msteams"}))
        self.assertEqual(parse_jwks(None), {})

    def test_bearer(self) -> None:
        """The bearer token is taken from str or bytes header values."""
        self.assertEqual(bearer_token(b"Bearer abc"), "abc")
        self.assertEqual(bearer_token("bearer  abc "), "abc")
