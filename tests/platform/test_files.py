"""
Tests for L{nextplane.connectors.platform.files}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseDone
from zope.interface import implementer

from nextplane.connectors.platform.files import FileLinks, TooLarge, derive_key, pipe


@implementer(IPushProducer)
class _Body:
    """The platform's response body, fed chunk by chunk by the test."""

    def __init__(self) -> None:
        self.protocol: Any = None
        self.paused = self.stopped = False

    def deliverBody(self, protocol: Any) -> None:
        self.protocol = protocol
        protocol.makeConnection(self)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True


class _Request:
    """The contact's request: records writes and its producer."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.producer: Any = None
        self.finished: Deferred[None] = Deferred()

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def notifyFinish(self) -> Deferred[None]:
        return self.finished


class PipeTests(SynchronousTestCase):
    """
    L{pipe} streams a file through in bounded memory.
    """

    def test_chunks_written_as_they_arrive(self) -> None:
        """Each chunk reaches the contact before the next is read; nothing is collected."""
        body, request = _Body(), _Request()
        done = pipe(body, request)
        self.assertIs(request.producer, body)  # the contact's pace drives the reading
        for n in range(1000):
            body.protocol.dataReceived(b"x" * 65536)
            self.assertEqual(len(request.written), n + 1)  # written at once
        self.assertNoResult(done)
        body.protocol.connectionLost(Failure(ResponseDone()))
        self.assertEqual(self.successResultOf(done), 1000 * 65536)
        self.assertIsNone(request.producer)

    def test_backpressure(self) -> None:
        """A slow contact pauses the platform's response (the request is its consumer)."""
        body, request = _Body(), _Request()
        pipe(body, request)
        request.producer.pauseProducing()
        self.assertTrue(body.paused)
        request.producer.resumeProducing()
        self.assertFalse(body.paused)

    def test_contact_gone(self) -> None:
        """When the contact goes away, the platform's response is stopped."""
        body, request = _Body(), _Request()
        done = pipe(body, request)
        request.finished.errback(ConnectionLost())
        self.assertTrue(body.stopped)
        body.protocol.connectionLost(Failure(ConnectionLost()))
        self.failureResultOf(done, ConnectionLost)

    def test_limit(self) -> None:
        """Past the limit the transfer is cut off."""
        body, request = _Body(), _Request()
        done = pipe(body, request, limit=10)
        body.protocol.dataReceived(b"123456")
        body.protocol.dataReceived(b"789012")
        self.assertTrue(body.stopped)
        self.assertEqual(request.written, [b"123456"])
        body.protocol.connectionLost(Failure(ResponseDone()))
        self.failureResultOf(done, TooLarge)


class FileLinksTests(SynchronousTestCase):
    """
    Signed, expiring links.
    """

    def test_make_and_check(self) -> None:
        """A link is valid until it expires; a forged one never."""
        clock = Clock()
        links = FileLinks(
            derive_key("s" * 32, "toy file links"), "https://hub.test/", clock, 60.0, "toy/files"
        )
        url = links.make("T1", "F1", "a/b report.pdf")
        assert url is not None
        self.assertTrue(url.startswith("https://hub.test/toy/files/T1/F1/60/"), url)
        self.assertTrue(url.endswith("/a_b%20report.pdf"))
        *_, expires, signature, _name = url.split("/")
        self.assertIsNone(links.check("T1", "F1", expires, signature))
        self.assertEqual(links.check("T1", "F2", expires, signature), "bad signature")
        self.assertEqual(links.check("T1", "F1", "99", signature), "bad signature")
        clock.advance(61)
        self.assertEqual(links.check("T1", "F1", expires, signature), "expired")

    def test_no_public_url(self) -> None:
        """Without a public URL no link is made."""
        links = FileLinks(b"k", None, Clock())
        self.assertFalse(links.enabled)
        self.assertIsNone(links.make("T1", "F1", "x"))

    def test_keys_per_purpose(self) -> None:
        """Keys for different purposes differ."""
        self.assertNotEqual(derive_key("s", "a"), derive_key("s", "b"))
