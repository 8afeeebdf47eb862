# -*- test-case-name: tests.slack.test_signature -*-
"""
Verification of Slack's request signatures (version C{v0}) and a replay guard.

Every request Slack sends to the hub (Events API, slash commands,
interactivity) carries C{X-Slack-Request-Timestamp} and C{X-Slack-Signature}.
The signature is C{"v0=" + hex(HMAC-SHA256(signing_secret, "v0:" + timestamp
+ ":" + raw_body))}; requests older than five minutes are refused so a
captured request cannot be replayed later. See
U{https://docs.slack.dev/authentication/verifying-requests-from-slack/} and
C{slack_sdk/signature/__init__.py}.

Verification is sans-IO: L{SignatureVerifier.verify} takes the raw body, the
two header values and reads the time from an injected L{IReactorTime}, so
tests pin the clock with L{twisted.internet.task.Clock}.

Within the window a signed request could still be re-sent verbatim;
L{ReplayGuard} remembers what it has seen for that long, in bounded memory.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping

from attrs import frozen
from twisted.internet.interfaces import IReactorTime

from ..platform import replay

__all__ = [
    "MAX_AGE",
    "ReplayGuard",
    "SignatureError",
    "SignatureReason",
    "SignatureVerifier",
    "Verified",
    "sign",
]

#: Slack's replay window: requests whose timestamp is further than this many
#: seconds from the current time are refused.
MAX_AGE = 300

_TIMESTAMP_HEADER = "x-slack-request-timestamp"
_SIGNATURE_HEADER = "x-slack-signature"


class SignatureReason(enum.Enum):
    """
    Why a request was refused.
    """

    MISSING_TIMESTAMP = "missing X-Slack-Request-Timestamp header"
    MISSING_SIGNATURE = "missing X-Slack-Signature header"
    MALFORMED_TIMESTAMP = "malformed X-Slack-Request-Timestamp header"
    MALFORMED_SIGNATURE = "malformed X-Slack-Signature header"
    STALE = "request timestamp outside the 5-minute window"
    MISMATCH = "signature does not match"
    REPLAYED = "request already seen"


class SignatureError(Exception):
    """
    A request's signature could not be verified.

    @ivar reason: The L{SignatureReason}.
    """

    def __init__(self, reason: SignatureReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


@frozen
class Verified:
    """
    A request whose signature verified.

    @ivar timestamp: The request's Unix timestamp, in seconds.
    @ivar signature: The verified signature header value (C{v0=...}).
    """

    timestamp: int
    signature: str


def sign(signing_secret: bytes | str, timestamp: int | str, body: bytes) -> str:
    """
    Compute the C{X-Slack-Signature} value of a request.

    @param signing_secret: The app's signing secret.
    @param timestamp: The C{X-Slack-Request-Timestamp} value.
    @param body: The raw request body.
    @return: C{"v0=" + 64 lower-case hex digits}.
    """
    secret = signing_secret.encode("utf-8") if isinstance(signing_secret, str) else signing_secret
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str] | Mapping[bytes, bytes], name: str) -> str | None:
    for key, value in headers.items():
        key_text = key.decode("latin-1") if isinstance(key, bytes) else key
        if key_text.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


class SignatureVerifier:
    """
    Verifies Slack request signatures against an injected clock.

    The signing secret is kept private and never appears in C{repr} or in
    exception messages.
    """

    def __init__(
        self, signing_secret: bytes | str, clock: IReactorTime, max_age: int = MAX_AGE
    ) -> None:
        """
        @param signing_secret: The app's signing secret (Basic Information page).
        @param clock: Source of the current time (C{seconds()}).
        @param max_age: The replay window in seconds.
        """
        if not signing_secret:
            raise ValueError("empty signing secret")
        self._secret = (
            signing_secret.encode("utf-8") if isinstance(signing_secret, str) else signing_secret
        )
        self._clock = clock
        self._max_age = max_age

    def __repr__(self) -> str:
        return "<SignatureVerifier secret=***>"

    def verify(self, body: bytes, timestamp: str | None, signature: str | None) -> Verified:
        """
        Verify one request.

        @param body: The raw body bytes, exactly as received.
        @param timestamp: The C{X-Slack-Request-Timestamp} header value.
        @param signature: The C{X-Slack-Signature} header value.
        @return: A L{Verified}.
        @raise SignatureError: If the request is unsigned, malformed, stale
            or forged.
        """
        if timestamp is None or timestamp == "":
            raise SignatureError(SignatureReason.MISSING_TIMESTAMP)
        if signature is None or signature == "":
            raise SignatureError(SignatureReason.MISSING_SIGNATURE)
        stripped = timestamp.strip()
        if not stripped.isascii() or not stripped.isdigit() or len(stripped) > 12:
            raise SignatureError(SignatureReason.MALFORMED_TIMESTAMP)
        when = int(stripped)
        if abs(self._clock.seconds() - when) > self._max_age:
            raise SignatureError(SignatureReason.STALE)
        candidate = signature.strip()
        if not candidate.startswith("v0=") or len(candidate) != 67 or not candidate.isascii():
            raise SignatureError(SignatureReason.MALFORMED_SIGNATURE)
        expected = sign(self._secret, stripped, body)
        if not hmac.compare_digest(expected.encode("ascii"), candidate.lower().encode("ascii")):
            raise SignatureError(SignatureReason.MISMATCH)
        return Verified(timestamp=when, signature=candidate.lower())

    def verify_headers(
        self, body: bytes, headers: Mapping[str, str] | Mapping[bytes, bytes]
    ) -> Verified:
        """
        Verify a request given its headers (names compared case-insensitively).

        @see: L{verify}
        """
        return self.verify(
            body, _header(headers, _TIMESTAMP_HEADER), _header(headers, _SIGNATURE_HEADER)
        )


class ReplayGuard(replay.ReplayGuard):
    """
    The kit's L{nextplane.connectors.platform.replay.ReplayGuard} with
    Slack's signature window by default, and L{check}.
    """

    def __init__(
        self, clock: IReactorTime, window: float = MAX_AGE, max_entries: int = 100_000
    ) -> None:
        """
        @param clock: Source of the current time.
        @param window: How long a key is remembered, in seconds.
        @param max_entries: The most keys kept at once.
        """
        super().__init__(clock, window, max_entries)

    def check(self, key: str) -> None:
        """
        Like L{seen}, raising instead of answering.

        @raise SignatureError: With L{SignatureReason.REPLAYED} for a replay.
        """
        if self.seen(key):
            raise SignatureError(SignatureReason.REPLAYED)
