"""
Tests for L{nextplane.web.bounded}: request bodies over the limit are
refused with 413 before the rest is read.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from nextplane.web.app import hub_site
from nextplane.web.bounded import DEFAULT_MAX_BODY, BoundedRequest, bounded_site


class _Echo(Resource):
    """
    Answers with the size of the body it was given.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.rendered: list[bytes] = []

    def render_POST(self, request: Any) -> bytes:
        body = request.content.read()
        self.rendered.append(body)
        return str(len(body)).encode()


class BoundedRequestTests(SynchronousTestCase):
    """
    L{BoundedRequest} through a L{Site} on an in-memory transport.
    """

    def connect(self, max_body: int = 1000) -> tuple[_Echo, Any, StringTransport]:
        resource = _Echo()
        site = bounded_site(resource, max_body, access_log=False)
        site.doStart()
        self.addCleanup(site.doStop)
        protocol = site.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.addCleanup(protocol.connectionLost, None)
        return resource, protocol, transport

    def test_within_limit(self) -> None:
        """
        A body of exactly the limit is served.
        """
        resource, protocol, transport = self.connect()
        body = b"x" * 1000
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: 1000\r\n\r\n" + body
        )
        self.assertIn(b"200", transport.value().split(b"\r\n")[0])
        self.assertEqual(resource.rendered, [body])
        self.assertFalse(transport.disconnecting)

    def test_content_length_over_limit(self) -> None:
        """
        A C{Content-Length} over the limit is answered 413 from the headers
        alone, the connection is closed (no more is read) and the resource
        never runs.
        """
        resource, protocol, transport = self.connect()
        protocol.dataReceived(b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: 10485760\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertIn(b"payload too large", transport.value())
        self.assertTrue(transport.disconnecting)
        # Whatever was already in flight is dropped, never rendered.
        protocol.dataReceived(b"y" * 100_000)
        self.assertEqual(resource.rendered, [])
        self.assertEqual(transport.value().count(b"HTTP/1.1"), 1)

    def test_no_continue_after_refusal(self) -> None:
        """
        C{Expect: 100-continue} with a body over the limit gets the 413
        only: the client must not send the body.
        """
        _, protocol, transport = self.connect()
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: hub\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"
        )
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertNotIn(b"100 Continue", transport.value())

    def test_chunked_over_limit(self) -> None:
        """
        A chunked body is refused once it passes the limit.
        """
        resource, protocol, transport = self.connect()
        protocol.dataReceived(b"POST / HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n")
        protocol.dataReceived(b"3e8\r\n" + b"a" * 1000 + b"\r\n")
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(b"1\r\nb\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        protocol.dataReceived(b"0\r\n\r\n")
        self.assertEqual(resource.rendered, [])

    def test_chunked_within_limit(self) -> None:
        """
        A chunked body within the limit is served, from memory.
        """
        resource, protocol, transport = self.connect()
        protocol.dataReceived(
            b"POST / HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        self.assertIn(b"200", transport.value().split(b"\r\n")[0])
        self.assertEqual(resource.rendered, [b"hello"])

    def test_large_body_in_memory(self) -> None:
        """
        A body over Twisted's 100 kB threshold is not spilled to a temporary
        file: request bodies hold message content.
        """
        from twisted.web.test.requesthelper import DummyChannel

        request = BoundedRequest(DummyChannel())
        request.gotLength(500_000)
        self.assertEqual(type(request.content).__name__, "BytesIO")
        request.gotLength(None)
        self.assertEqual(type(request.content).__name__, "BytesIO")

    def test_hub_site(self) -> None:
        """
        L{hub_site} is bounded, by default at 1 MiB.
        """
        site: Site = hub_site(_Echo(), access_log=False)
        self.assertIs(site.requestFactory, BoundedRequest)
        self.assertEqual(site.max_body, DEFAULT_MAX_BODY)  # type: ignore[attr-defined]
        self.assertEqual(DEFAULT_MAX_BODY, 1 << 20)
