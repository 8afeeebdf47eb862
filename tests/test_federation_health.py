"""
Tests for L{nextplane.federation_health}: the book of link health the
portal's federation page shows, and the XMPP pool's hook lines.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.xmpp.pool import ConnectionPool
from nextplane.federation_health import RECENT_ERRORS, FederationHealthBook, peer_cert_expiry
from nextplane.interfaces import DeliveryFailed
from tests.xmpp.test_pool import FakeOpener, FakeStream, message

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class BookTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0.timestamp())
        self.book = FederationHealthBook(self.clock)

    def test_link_up(self) -> None:
        """A link that came up records when, over what, with which authentication and certificate expiry."""
        expiry = datetime(2027, 1, 1, tzinfo=UTC)
        self.book.link_up("xmpp", "ACME.test", "widget.test", "EXTERNAL", expiry)
        [peer] = self.book.peers("acme.test")
        self.assertEqual(
            (
                peer.local,
                peer.remote,
                peer.last_success,
                peer.protocol,
                peer.auth,
                peer.peer_cert_expiry,
            ),
            ("acme.test", "widget.test", T0, "xmpp", "EXTERNAL", expiry),
        )
        self.assertEqual(self.book.peers("beta.test"), [])

    def test_recent_errors_newest_first_and_bounded(self) -> None:
        """Failures keep their reasons, newest first, only the last few."""
        for n in range(RECENT_ERRORS + 2):
            self.clock.advance(60)
            self.book.link_failed("sip", "acme.test", "sipco.test", f"refused {n}")
        [peer] = self.book.peers()
        self.assertEqual(len(peer.errors), RECENT_ERRORS)
        self.assertEqual(peer.errors[0].reason, f"refused {RECENT_ERRORS + 1}")
        self.assertIsNone(peer.last_success)

    def test_no_certificate(self) -> None:
        """Without a TLS transport there is no expiry."""
        self.assertIsNone(peer_cert_expiry(None))
        self.assertIsNone(peer_cert_expiry(object()))


class PoolHookTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.book = FederationHealthBook(self.clock)
        self.opener = FakeOpener()
        self.pool = ConnectionPool(self.clock, self.opener)
        self.pool.recorder = self.book

    def test_opened_stream_recorded(self) -> None:
        """A stream the pool opens is recorded with its authentication."""
        self.pool.send("acme.test", "widget.test", message(1))
        stream = FakeStream()
        stream.authentication = "dialback"  # type: ignore[attr-defined]
        self.opener.requests[0][3].callback(stream)
        [peer] = self.book.peers()
        self.assertEqual(
            (peer.remote, peer.protocol, peer.auth), ("widget.test", "xmpp", "dialback")
        )

    def test_failed_stream_recorded(self) -> None:
        """A stream that fails to open is recorded with the reason."""
        d = self.pool.send("acme.test", "widget.test", message(1))
        d.addErrback(lambda f: None)
        self.opener.requests[0][3].errback(DeliveryFailed("remote-server-not-found", "no route"))
        [peer] = self.book.peers()
        self.assertEqual([e.reason for e in peer.errors], ["no route"])
