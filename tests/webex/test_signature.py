"""
Tests for L{nextplane.connectors.webex.signature}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex.signature import (
    SignatureError,
    SignatureReason,
    WebhookVerifier,
    sign,
)

BODY = b'{"id":"hook","resource":"messages","event":"created","data":{"id":"m"}}'


class SignTests(SynchronousTestCase):
    def test_rfc2202_vector(self) -> None:
        """The signature is hex HMAC-SHA1 (RFC 2202 test case 2)."""
        self.assertEqual(
            sign("Jefe", b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        )


class VerifierTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.verifier = WebhookVerifier(["current", "previous"])

    def reason(self, signature: bytes | str | None, body: bytes = BODY) -> SignatureReason:
        error = self.assertRaises(SignatureError, self.verifier.verify, body, signature)
        self.assertEqual(error.status, 401)
        return error.reason

    def test_valid(self) -> None:
        """A body signed with the secret verifies, in either case of hex."""
        self.verifier.verify(BODY, sign("current", BODY))
        self.verifier.verify(BODY, sign("current", BODY).upper().encode("ascii"))

    def test_rotated_secret(self) -> None:
        """A body signed with another accepted secret verifies."""
        self.verifier.verify(BODY, sign("previous", BODY))

    def test_unsigned(self) -> None:
        """A delivery without the header is refused as missing."""
        self.assertEqual(self.reason(None), SignatureReason.MISSING)
        self.assertEqual(self.reason(""), SignatureReason.MISSING)

    def test_malformed(self) -> None:
        """A header that is not 40 hex digits is malformed."""
        self.assertEqual(self.reason("abc"), SignatureReason.MALFORMED)
        self.assertEqual(self.reason("g" * 40), SignatureReason.MALFORMED)
        self.assertEqual(self.reason("sha1=" + sign("current", BODY)), SignatureReason.MALFORMED)

    def test_forged(self) -> None:
        """A signature by another secret, or of another body, is a mismatch."""
        self.assertEqual(self.reason(sign("guess", BODY)), SignatureReason.MISMATCH)
        self.assertEqual(self.reason(sign("current", BODY), BODY + b" "), SignatureReason.MISMATCH)

    def test_secrets_hidden(self) -> None:
        """Neither repr nor errors show a secret."""
        self.assertNotIn("current", repr(self.verifier))
        error = self.assertRaises(SignatureError, self.verifier.verify, BODY, sign("x", BODY))
        self.assertNotIn("current", str(error))

    def test_needs_secret(self) -> None:
        """No secret, or an empty one, is a configuration error."""
        self.assertRaises(ValueError, WebhookVerifier, [])
        self.assertRaises(ValueError, WebhookVerifier, ["ok", ""])
