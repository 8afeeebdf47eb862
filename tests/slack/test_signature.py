# -*- test-case-name: tests.slack.test_signature -*-
"""
Tests for L{nextplane.connectors.slack.signature}.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.signature import (
    ReplayGuard,
    SignatureError,
    SignatureReason,
    SignatureVerifier,
    Verified,
    sign,
)

# The official test vector (Slack docs; python-slack-sdk
# tests/slack_sdk/signature/test_signature_verifier.py).
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
    b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def clock_at(seconds: float) -> Clock:
    """A clock showing C{seconds}."""
    clock = Clock()
    clock.advance(seconds)
    return clock


class SignTests(SynchronousTestCase):
    """
    L{sign} computes C{X-Slack-Signature}.
    """

    def test_official_vector(self) -> None:
        """The official test vector's signature is reproduced."""
        self.assertEqual(sign(SECRET, TIMESTAMP, BODY), SIGNATURE)

    def test_bytes_secret(self) -> None:
        """A secret given as bytes signs the same."""
        self.assertEqual(sign(SECRET.encode(), int(TIMESTAMP), BODY), SIGNATURE)


class VerifierTests(SynchronousTestCase):
    """
    L{SignatureVerifier} accepts Slack's requests and refuses others.
    """

    def setUp(self) -> None:
        self.clock = clock_at(int(TIMESTAMP))
        self.verifier = SignatureVerifier(SECRET, self.clock)

    def refused(self, body: bytes, timestamp: str | None, signature: str | None) -> SignatureReason:
        """The reason a request is refused."""
        error = self.assertRaises(SignatureError, self.verifier.verify, body, timestamp, signature)
        return error.reason

    def test_official_vector(self) -> None:
        """The official request verifies with the clock at its timestamp."""
        self.assertEqual(
            self.verifier.verify(BODY, TIMESTAMP, SIGNATURE), Verified(int(TIMESTAMP), SIGNATURE)
        )

    def test_within_window(self) -> None:
        """A request five minutes old still verifies."""
        self.clock.advance(300)
        self.verifier.verify(BODY, TIMESTAMP, SIGNATURE)

    def test_stale(self) -> None:
        """A request more than five minutes old is refused."""
        self.clock.advance(301)
        self.assertEqual(self.refused(BODY, TIMESTAMP, SIGNATURE), SignatureReason.STALE)

    def test_future(self) -> None:
        """A request dated more than five minutes ahead is refused."""
        self.clock.advance(-301)
        self.assertEqual(self.refused(BODY, TIMESTAMP, SIGNATURE), SignatureReason.STALE)

    def test_tampered_body(self) -> None:
        """A changed body does not verify."""
        self.assertEqual(
            self.refused(BODY.replace(b"roadrunner", b"coyote"), TIMESTAMP, SIGNATURE),
            SignatureReason.MISMATCH,
        )

    def test_forged(self) -> None:
        """A signature made with another secret does not verify."""
        forged = sign("another-secret", TIMESTAMP, BODY)
        self.assertEqual(self.refused(BODY, TIMESTAMP, forged), SignatureReason.MISMATCH)

    def test_timestamp_swapped(self) -> None:
        """A valid signature replayed with a fresher timestamp does not verify."""
        self.clock.advance(100)
        fresh = str(int(TIMESTAMP) + 100)
        self.assertEqual(self.refused(BODY, fresh, SIGNATURE), SignatureReason.MISMATCH)

    def test_unsigned(self) -> None:
        """Missing headers are refused with their own reasons."""
        self.assertEqual(self.refused(BODY, TIMESTAMP, None), SignatureReason.MISSING_SIGNATURE)
        self.assertEqual(self.refused(BODY, None, SIGNATURE), SignatureReason.MISSING_TIMESTAMP)
        self.assertEqual(self.refused(BODY, "", ""), SignatureReason.MISSING_TIMESTAMP)

    def test_malformed(self) -> None:
        """Malformed timestamps and signatures are refused."""
        for timestamp in ("abc", "1531420618.5", "-1531420618", "١٥٣١٤٢٠٦١٨", "9" * 40):
            self.assertEqual(
                self.refused(BODY, timestamp, SIGNATURE), SignatureReason.MALFORMED_TIMESTAMP
            )
        for signature in ("v1=" + SIGNATURE[3:], SIGNATURE[:-1], "v0=zz", SIGNATURE[:-1] + "é"):
            self.assertEqual(
                self.refused(BODY, TIMESTAMP, signature), SignatureReason.MALFORMED_SIGNATURE
            )

    def test_headers(self) -> None:
        """Headers are found whatever their case, as bytes or text."""
        verified = self.verifier.verify_headers(
            BODY,
            {
                b"X-Slack-Request-Timestamp": TIMESTAMP.encode(),
                b"x-slack-signature": SIGNATURE.encode(),
            },
        )
        self.assertEqual(verified.timestamp, int(TIMESTAMP))
        error = self.assertRaises(
            SignatureError,
            self.verifier.verify_headers,
            BODY,
            {"X-Slack-Request-Timestamp": TIMESTAMP},
        )
        self.assertEqual(error.reason, SignatureReason.MISSING_SIGNATURE)

    def test_secret_hidden(self) -> None:
        """The secret appears neither in the repr nor in errors."""
        self.assertNotIn(SECRET, repr(self.verifier))
        error = self.assertRaises(
            SignatureError, self.verifier.verify, BODY, TIMESTAMP, "v0=" + "0" * 64
        )
        self.assertNotIn(SECRET, str(error))

    def test_empty_secret(self) -> None:
        """An empty signing secret is a configuration error."""
        self.assertRaises(ValueError, SignatureVerifier, "", self.clock)


class ReplayGuardTests(SynchronousTestCase):
    """
    L{ReplayGuard} remembers keys for the window, in bounded memory.
    """

    def test_replay_detected(self) -> None:
        """A key seen twice within the window is a replay."""
        guard = ReplayGuard(clock_at(1000))
        self.assertFalse(guard.seen(SIGNATURE))
        self.assertTrue(guard.seen(SIGNATURE))
        error = self.assertRaises(SignatureError, guard.check, SIGNATURE)
        self.assertEqual(error.reason, SignatureReason.REPLAYED)

    def test_verified_replay(self) -> None:
        """The official request verifies once and is refused as a replay the second time."""
        clock = clock_at(int(TIMESTAMP))
        verifier, guard = SignatureVerifier(SECRET, clock), ReplayGuard(clock)
        guard.check(verifier.verify(BODY, TIMESTAMP, SIGNATURE).signature)
        clock.advance(10)
        verified = verifier.verify(BODY, TIMESTAMP, SIGNATURE)
        self.assertRaises(SignatureError, guard.check, verified.signature)

    def test_expires(self) -> None:
        """Keys are forgotten after the window."""
        clock = clock_at(1000)
        guard = ReplayGuard(clock, window=300)
        guard.seen("a")
        clock.advance(200)
        guard.seen("b")
        clock.advance(101)
        self.assertEqual(len(guard), 1)  # "a" is forgotten
        self.assertFalse(guard.seen("a"))
        self.assertEqual(len(guard), 2)  # "a" expired and was recorded again
        self.assertTrue(guard.seen("b"))

    def test_bounded(self) -> None:
        """At most max_entries keys are kept, the oldest dropped first."""
        guard = ReplayGuard(clock_at(1000), max_entries=3)
        for key in "abcd":
            guard.seen(key)
        self.assertEqual(len(guard), 3)
        self.assertTrue(guard.seen("d"))
        self.assertFalse(guard.seen("a"))

    def test_positive_bound(self) -> None:
        """A bound below one is refused."""
        self.assertRaises(ValueError, ReplayGuard, Clock(), max_entries=0)
