# -*- test-case-name: tests.teams.test_auth -*-
"""
Validation of the Bot Framework's inbound JSON Web Tokens.

Every activity the Teams channel posts to the hub carries
C{Authorization: Bearer <JWT>}. The token is accepted only when
(bot-docs C{rest-api/bot-framework-rest-connector-authentication.md};
botbuilder-python C{connector/auth/channel_validation.py}):

  1. it is signed with RS256 by a key published in the JWKS that the
     OpenID metadata document (L{DEFAULT_METADATA_URL}, configurable so a
     simulator can publish its own) points to;
  2. that key's C{endorsements}, when it has any, list the activity's
     channel (C{msteams});
  3. C{iss} is L{ISSUER} and C{aud} is the bot's app id;
  4. C{exp} and C{nbf} hold with L{SKEW} seconds of leeway;
  5. its C{serviceurl} claim equals the activity's C{serviceUrl}.

Each way of failing raises its own L{TokenRejected} subclass; the
webhook answers every one of them with 401 and routes nothing.

Keys are cached by L{OpenIdKeys}: refreshed daily, and fetched again on an
unknown C{kid} at most once an hour, so forged key ids cannot make the hub
hammer the metadata endpoint. Signatures and claims are checked by PyJWT;
time comes from an injected clock so expiry is tested without sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt
from attrs import frozen
from twisted.internet.interfaces import IReactorTime

from ..platform.httpapi import HTTPClient, within
from .flight import SingleFlight

__all__ = [
    "DEFAULT_METADATA_URL",
    "ISSUER",
    "KEY_REFRESH",
    "SKEW",
    "UNKNOWN_KID_REFETCH",
    "BotFrameworkAuthenticator",
    "ExpiredToken",
    "ForgedToken",
    "KeysUnavailable",
    "MalformedToken",
    "MissingToken",
    "NotEndorsed",
    "OpenIdKeys",
    "PublishedKey",
    "TokenRejected",
    "UnknownKey",
    "UnsignedToken",
    "ValidatedToken",
    "WrongAudience",
    "WrongIssuer",
    "WrongServiceUrl",
    "bearer_token",
    "parse_jwks",
]

#: The Bot Framework's OpenID metadata for tokens from the channel.
DEFAULT_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
#: The issuer of channel tokens.
ISSUER = "https://api.botframework.com"
#: Leeway on C{exp} and C{nbf}, in seconds.
SKEW = 300
#: Keys are fetched again after this many seconds.
KEY_REFRESH = 24 * 3600
#: An unknown C{kid} fetches the keys again at most this often, in seconds.
UNKNOWN_KID_REFETCH = 3600
#: After a failed fetch, the next is tried no sooner than this, in seconds.
FAILED_FETCH_PAUSE = 60
#: How long a metadata or JWKS fetch may take, in seconds.
FETCH_TIMEOUT = 10.0
_ALGORITHMS = ("RS256",)


class TokenRejected(Exception):
    """
    The request's token is not acceptable; answer 401 and route nothing.

    @cvar status: The HTTP status to answer.
    """

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MissingToken(TokenRejected):
    """No C{Authorization: Bearer} header."""


class MalformedToken(TokenRejected):
    """The bearer value is not a JWT, or lacks a required claim."""


class UnsignedToken(TokenRejected):
    """The token is unsigned (C{alg: none}) or not signed with RS256."""


class ForgedToken(TokenRejected):
    """The signature does not verify with the published key."""


class ExpiredToken(TokenRejected):
    """C{exp} has passed, or C{nbf} has not come, beyond the skew."""


class WrongAudience(TokenRejected):
    """C{aud} is not this bot's app id."""


class WrongIssuer(TokenRejected):
    """C{iss} is not the Bot Framework."""


class UnknownKey(TokenRejected):
    """The C{kid} names no published key."""


class NotEndorsed(TokenRejected):
    """The key is not endorsed for the activity's channel."""


class WrongServiceUrl(TokenRejected):
    """The C{serviceurl} claim differs from the activity's C{serviceUrl}."""


class KeysUnavailable(TokenRejected):
    """The keys could not be fetched, so nothing can be verified."""


@frozen
class PublishedKey:
    """
    One key of the JWKS.

    @ivar endorsements: The channels the key is endorsed for; empty when
        the key has no C{endorsements} member.
    """

    kid: str
    key: jwt.PyJWK
    endorsements: frozenset[str]


@frozen
class ValidatedToken:
    """
    What a valid token says.
    """

    app_id: str
    service_url: str
    claims: Mapping[str, Any]


async def _get_json(http: HTTPClient, url: str, clock: IReactorTime) -> Any:
    response = await within(http.request("GET", url), FETCH_TIMEOUT, clock)
    body = await within(response.content(), FETCH_TIMEOUT, clock)
    if response.code != 200:
        raise ValueError(f"HTTP {response.code} from {url}")
    return json.loads(body)


def parse_jwks(document: Any) -> dict[str, PublishedKey]:
    """
    The usable RS256 keys of a JWKS document, by C{kid}; others are skipped.
    """
    keys: dict[str, PublishedKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256")
        except jwt.PyJWTError:
            continue
        endorsed = entry.get("endorsements")
        endorsements = frozenset(e for e in endorsed if isinstance(e, str)) if endorsed else ()
        keys[kid] = PublishedKey(kid, key, frozenset(endorsements))
    return keys


class OpenIdKeys:
    """
    The signing keys behind an OpenID metadata URL, cached.
    """

    def __init__(
        self, http: HTTPClient, clock: IReactorTime, metadata_url: str = DEFAULT_METADATA_URL
    ) -> None:
        """
        @param http: A treq-like client (L{treq.testing.StubTreq} in tests).
        @param clock: Time for the refresh rules.
        @param metadata_url: The OpenID configuration document.
        """
        self._http = http
        self._clock = clock
        self.metadata_url = metadata_url
        self._keys: dict[str, PublishedKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._flight: SingleFlight[None] = SingleFlight(self._fetch)
        #: How many times the keys were fetched (for tests and metrics).
        self.fetches = 0

    async def _fetch(self) -> None:
        self.fetches += 1
        self._attempted_at = self._clock.seconds()
        metadata = await _get_json(self._http, self.metadata_url, self._clock)
        jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        if not isinstance(jwks_uri, str):
            raise ValueError("OpenID metadata without jwks_uri")
        self._keys = parse_jwks(await _get_json(self._http, jwks_uri, self._clock))
        self._fetched_at = self._clock.seconds()

    async def refresh(self) -> None:
        """
        Fetch the keys now; concurrent callers share one fetch.

        @raise KeysUnavailable: When the fetch failed.
        """
        try:
            await self._flight()
        except Exception as e:
            raise KeysUnavailable(f"signing keys unavailable: {e}") from e

    async def _refresh_stale(self, now: float) -> None:
        attempted = self._attempted_at
        failed_recently = (
            not self._flight.flying
            and attempted is not None
            and now - attempted < FAILED_FETCH_PAUSE
        )
        if failed_recently:
            if not self._keys:
                raise KeysUnavailable("signing keys unavailable (fetch failed recently)")
            return
        try:
            await self.refresh()
        except KeysUnavailable:
            # Keep verifying with yesterday's keys rather than refusing everything.
            if not self._keys:
                raise

    async def key(self, kid: str) -> PublishedKey:
        """
        The published key C{kid}, fetching keys when stale or unknown.

        @raise UnknownKey: When no key has that id, even after a re-fetch
            (or a re-fetch was done less than an hour ago).
        @raise KeysUnavailable: When the keys could not be fetched.
        """
        now = self._clock.seconds()
        if self._fetched_at is None or now - self._fetched_at >= KEY_REFRESH:
            await self._refresh_stale(now)
        found = self._keys.get(kid)
        if found is not None:
            return found
        attempted = self._attempted_at
        if self._flight.flying or attempted is None or now - attempted >= UNKNOWN_KID_REFETCH:
            await self.refresh()
            found = self._keys.get(kid)
            if found is not None:
                return found
        raise UnknownKey(f"no published key {kid!r}")


def bearer_token(authorization: str | bytes | None) -> str:
    """
    The token of an C{Authorization: Bearer} header value.

    @raise MissingToken: When there is no bearer token.
    """
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("no bearer token")
    return token.strip()


class BotFrameworkAuthenticator:
    """
    Validates the channel's tokens for one bot (app id).
    """

    def __init__(
        self, app_id: str, keys: OpenIdKeys, clock: IReactorTime, channel_id: str = "msteams"
    ) -> None:
        """
        @param app_id: The bot's Microsoft app id: the required audience.
        @param keys: Where the signing keys come from.
        @param clock: Time for C{exp} and C{nbf}.
        @param channel_id: The channel keys must be endorsed for.
        """
        self.app_id = app_id
        self._keys = keys
        self._clock = clock
        self.channel_id = channel_id

    async def validate(self, authorization: str | bytes | None, service_url: str) -> ValidatedToken:
        """
        Check the C{Authorization} header of a request whose activity has
        C{serviceUrl} C{service_url}.

        @raise TokenRejected: A subclass naming what is wrong.
        """
        token = bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise MalformedToken(f"not a JWT: {e}") from e
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none" or not alg:
            raise UnsignedToken("token is not signed")
        if alg not in _ALGORITHMS:
            raise UnsignedToken(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise UnknownKey("token names no key")
        published = await self._keys.key(kid)
        if published.endorsements and self.channel_id not in published.endorsements:
            raise NotEndorsed(f"key {kid!r} is not endorsed for {self.channel_id}")
        claims = self._decode(token, published)
        self._check_times(claims)
        claimed = claims.get("serviceurl")
        if not isinstance(claimed, str) or claimed != service_url:
            raise WrongServiceUrl("serviceurl claim does not match the activity")
        return ValidatedToken(self.app_id, claimed, claims)

    def _decode(self, token: str, published: PublishedKey) -> dict[str, Any]:
        # Times are checked against the injected clock in _check_times.
        options: jwt.types.Options = {
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "require": ["iss", "aud", "exp"],
        }
        try:
            return jwt.decode(
                token,
                published.key,
                algorithms=list(_ALGORITHMS),
                audience=self.app_id,
                issuer=ISSUER,
                options=options,
            )
        except jwt.InvalidSignatureError as e:
            raise ForgedToken("signature does not verify") from e
        except jwt.InvalidAudienceError as e:
            raise WrongAudience("token is for another audience") from e
        except jwt.InvalidIssuerError as e:
            raise WrongIssuer("token is from another issuer") from e
        except jwt.InvalidAlgorithmError as e:
            raise UnsignedToken(f"algorithm not accepted: {e}") from e
        except jwt.PyJWTError as e:
            raise MalformedToken(f"invalid token: {e}") from e

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.seconds()
        exp = claims.get("exp")
        nbf = claims.get("nbf")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise MalformedToken("exp is not a number")
        if now > exp + SKEW:
            raise ExpiredToken("token has expired")
        if nbf is not None:
            if not isinstance(nbf, int | float) or isinstance(nbf, bool):
                raise MalformedToken("nbf is not a number")
            if now < nbf - SKEW:
                raise ExpiredToken("token is not valid yet")
