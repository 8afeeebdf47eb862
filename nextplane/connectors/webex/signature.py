# -*- test-case-name: tests.webex.test_signature -*-
"""
Verification of Webex webhook signatures.

A webhook created with a C{secret} makes Webex sign each delivery:
C{X-Spark-Signature} is the lower-case hex HMAC-SHA1 of the raw request
body keyed with that secret (U{https://developer.webex.com/docs/api/guides/webhooks},
"Authenticating Requests"). Deliveries carry no timestamp, so there is no
replay window here: replays are deduplicated by the event's id, in the store.

Verification is sans-IO and compares in constant time. Several secrets may
be accepted at once, so a secret can be rotated while deliveries signed with
the old one are still in flight. Unsigned and forged requests raise
L{SignatureError}, which the webhook answers with L{SignatureError.status}
(401) and routes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable

__all__ = [
    "SIGNATURE_HEADER",
    "SignatureError",
    "SignatureReason",
    "WebhookVerifier",
    "sign",
]

#: The header carrying the signature (compared case-insensitively by HTTP).
SIGNATURE_HEADER = b"X-Spark-Signature"
_HEX_DIGITS = frozenset("0123456789abcdef")
_SHA1_HEX_LENGTH = 40


class SignatureReason(enum.Enum):
    """
    Why a delivery was refused.
    """

    MISSING = "missing X-Spark-Signature header"
    MALFORMED = "malformed X-Spark-Signature header"
    MISMATCH = "signature does not match"


class SignatureError(Exception):
    """
    A delivery's signature could not be verified.

    @ivar reason: The L{SignatureReason}.
    @ivar status: The HTTP status to answer with.
    """

    status = 401

    def __init__(self, reason: SignatureReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _key(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: bytes | str, body: bytes) -> str:
    """
    Compute the C{X-Spark-Signature} value of a delivery.

    @param secret: The webhook's secret.
    @param body: The raw body, exactly as sent.
    @return: 40 lower-case hex digits.
    """
    return hmac.new(_key(secret), body, hashlib.sha1).hexdigest()


class WebhookVerifier:
    """
    Verifies deliveries against the secrets the hub gave its webhooks.

    The secrets never appear in C{repr} or in exception messages.
    """

    def __init__(self, secrets: Iterable[bytes | str]) -> None:
        """
        @param secrets: The accepted secrets (the current one first).
        @raise ValueError: If there is none, or one is empty.
        """
        keys = tuple(_key(secret) for secret in secrets)
        if not keys or not all(keys):
            raise ValueError("a webhook secret is empty or missing")
        self._keys = keys

    def __repr__(self) -> str:
        return f"<WebhookVerifier secrets={len(self._keys)} ***>"

    def verify(self, body: bytes, signature: bytes | str | None) -> None:
        """
        Verify one delivery.

        @param body: The raw body bytes, exactly as received.
        @param signature: The C{X-Spark-Signature} header value, or C{None}
            when the header is absent.
        @raise SignatureError: If the delivery is unsigned, the header
            malformed or the signature forged.
        """
        if isinstance(signature, bytes):
            signature = signature.decode("latin-1")
        if not signature:
            raise SignatureError(SignatureReason.MISSING)
        candidate = signature.strip().lower()
        if len(candidate) != _SHA1_HEX_LENGTH or not set(candidate) <= _HEX_DIGITS:
            raise SignatureError(SignatureReason.MALFORMED)
        given = candidate.encode("ascii")
        matched = False
        # Compare with every key, without stopping early, so timing says nothing.
        for key in self._keys:
            expected = hmac.new(key, body, hashlib.sha1).hexdigest().encode("ascii")
            matched |= hmac.compare_digest(expected, given)
        if not matched:
            raise SignatureError(SignatureReason.MISMATCH)
