"""
Raw TLS clients against the hub's SIP listener: peers without a valid
client certificate are refused at TLS; malformed, unknown, oversized and
refused requests get their status over the wire while the connection stays
usable.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet import defer, task
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.model.events import TextMessage
from tests.interop.harness.sipwire import WireClient, connect_wire

from .world import HUB_DOMAIN, REMOTE_USER, SipWorld, issue_certificate

_branches = itertools.count(1)


def request(
    method: str = "MESSAGE",
    body: bytes = b"hello",
    *,
    sender: str = "<sip:alice@b.test>;tag=w1",
    uri: str = "sip:bob@a.test",
    extra: str = "",
    content_type: str = "text/plain;charset=UTF-8",
) -> bytes:
    """
    One request as bytes, each with a fresh branch and Call-ID.
    """
    n = next(_branches)
    head = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS sip.b.test:5061;branch=z9hG4bKwire{n}\r\n"
        f"Max-Forwards: 70\r\nFrom: {sender}\r\nTo: <sip:bob@a.test>\r\n"
        f"Call-ID: wire-{n}@b.test\r\nCSeq: 1 {method}\r\n{extra}"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class RefusedAtTLSTests(TestCase):
    """
    Mutual TLS is required.
    """

    timeout = 60

    @defer.inlineCallbacks
    def refused(self, world: SipWorld, certificate: Any, log: str) -> Any:
        hub = world.hub_()
        reactor = world.reactor
        client = yield connect_wire(
            reactor, world.hub_address, 5061, world.env.ca.cert, certificate, HUB_DOMAIN
        )
        client.handshake.addErrback(lambda f: None)  # the outcome is what the hub does
        client.send(request(body=b"should never arrive"))
        yield world.check(client.lost.addTimeout(10, reactor))
        self.assertEqual(client.responses(), [])
        yield world.check(hub.wait_for_log(log))
        self.assertEqual(hub.delivered(), [])

    @defer.inlineCallbacks
    def test_no_client_certificate(self) -> Any:
        """
        A client without a certificate fails the handshake (certificate
        required) and is never heard.
        """
        world = yield SipWorld.create(self, kamailio=False)
        yield self.refused(world, None, r"from 127\.0\.0\.1:\d+ closed before it was verified")

    @defer.inlineCallbacks
    def test_untrusted_certificate(self) -> Any:
        """
        A client certificate from an unknown CA is refused after the
        handshake, with the reason logged.
        """
        world = yield SipWorld.create(self, kamailio=False)
        rogue = issue_certificate(
            world.env, "b.test", world.kamailio_address, stem="rogue-b.test", ca=world.env.rogue_ca
        )
        yield self.refused(world, rogue, "certificate not trusted")


class BadInputTests(TestCase):
    """
    Bad requests over one mutual-TLS connection.
    """

    timeout = 90

    @defer.inlineCallbacks
    def test_bad_input(self) -> Any:
        """
        Each bad request gets its status with a reason; after each, a good
        MESSAGE on the same connection is still delivered.
        """
        world = yield SipWorld.create(self, kamailio=False)
        hub = world.hub_()
        reactor = world.reactor
        client: WireClient = yield connect_wire(
            reactor, world.hub_address, 5061, world.env.ca.cert, world.remote_cert, HUB_DOMAIN
        )
        yield world.check(client.handshake)
        count = 0
        good = 0

        @defer.inlineCallbacks
        def exchange(*chunks: bytes, pause: float = 0.0) -> Any:
            nonlocal count
            for index, chunk in enumerate(chunks):
                if index and pause:
                    yield task.deferLater(reactor, pause, lambda: None)
                client.send(chunk)
            count += 1
            response = yield world.check(client.wait_for_responses(count))
            self.assertFalse(client.closed)
            return response

        @defer.inlineCallbacks
        def still_usable() -> Any:
            nonlocal good
            good += 1
            text = f"still usable {good}"
            response = yield exchange(request(body=text.encode()))
            self.assertEqual(response.status, 200)
            event = yield world.check(
                hub.wait_for_event(
                    lambda e: isinstance(e, TextMessage) and e.body.plain_text() == text,
                    kind="message",
                )
            )
            self.assertEqual(event.sender, Address.parse(REMOTE_USER))

        cases = [
            (request(sender="<sip:alice@b.test;tag=w1"), 400, "Malformed From header"),
            (request("FROBNICATE"), 501, "Not Implemented"),
            (request("REGISTER"), 405, "Method Not Allowed"),
            (request(body=b"x" * (300 * 1024)), 413, "Request Entity Too Large"),
            (request(extra="Require: 100rel\r\n"), 420, "Bad Extension"),
            (request(uri="tel:+41441234567"), 416, "Unsupported URI Scheme"),
            (
                request(
                    "SUBSCRIBE",
                    b"",
                    extra="Event: dialog\r\nContact: <sip:alice@sip.b.test;transport=tls>\r\n",
                ),
                489,
                "Bad Event",
            ),
            (request(sender="<sip:mallory@c.test>;tag=w2"), 403, "does not speak for c.test"),
            (request(body=b"\x00", content_type="application/octet-stream"), 415, "Unsupported"),
        ]
        for data, status, reason in cases:
            response = yield exchange(data)
            self.assertEqual((response.status, reason in response.reason), (status, True), reason)
            yield still_usable()

        # A UTF-8 body split inside a character across two TLS records.
        body = "Grüße über TLS 👋".encode()
        data = request(body=body)
        cut = data.index("👋".encode()) + 2
        response = yield exchange(data[:cut], data[cut:], pause=0.2)
        self.assertEqual(response.status, 200)
        yield world.check(
            hub.wait_for_event(
                lambda e: isinstance(e, TextMessage) and e.body.plain_text() == "Grüße über TLS 👋",
                kind="message",
            )
        )

        # The tenant blocks the domain: 403 with the rule as reason.
        yield hub.block("b.test")
        response = yield exchange(request(body=b"blocked"))
        self.assertEqual(response.status, 403)
        self.assertIn("block list", response.reason)
        self.assertIn("block list", response.headers.get("Warning", ""))


class DeadlineTests(TestCase):
    """
    The listener's bounds with short configured deadlines: silent, slow,
    bloated and garbage connections are closed, and one address may hold
    only so many connections.
    """

    timeout = 90

    @defer.inlineCallbacks
    def test_bounds(self) -> Any:
        """
        Silent connections close at the idle deadline; a body shorter than
        its Content-Length gets 400 at the message deadline; 2,000 headers
        get 400 at once; random bytes close at once; past the per-address
        limit a connection is refused; the closings are logged.
        """
        world = yield SipWorld.create(
            self,
            kamailio=False,
            sip={"idle_timeout": 2, "message_timeout": 1, "max_connections_per_address": 4},
        )
        hub = world.hub_()
        reactor = world.reactor

        @defer.inlineCallbacks
        def connect() -> Any:
            client = yield connect_wire(
                reactor, world.hub_address, 5061, world.env.ca.cert, world.remote_cert, HUB_DOMAIN
            )
            yield world.check(client.handshake)
            return client

        def closed_within(client: WireClient, seconds: float) -> Any:
            return world.check(client.lost.addTimeout(seconds, reactor))

        silent = []
        for _ in range(4):
            silent.append((yield connect()))
        started = reactor.seconds()
        refused = yield connect_wire(
            reactor, world.hub_address, 5061, world.env.ca.cert, world.remote_cert, HUB_DOMAIN
        )
        refused.handshake.addErrback(lambda f: None)
        yield closed_within(refused, 5)
        yield world.check(hub.wait_for_log("4 connections from that address already"))
        for client in silent:
            yield closed_within(client, 10)
        waited = reactor.seconds() - started
        self.assertTrue(1.0 <= waited < 8, waited)
        yield world.check(hub.wait_for_log(r"Closing SIP connection from [^ ]+: idle"))

        short = yield connect()
        short.send(request(body=b"hello").replace(b"Content-Length: 5", b"Content-Length: 50"))
        yield closed_within(short, 10)
        (response,) = short.responses()
        self.assertEqual((response.status, response.reason), (400, "Message not completed in time"))

        bloated = yield connect()
        headers = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(2000))
        bloated.send(request(extra=headers))
        yield closed_within(bloated, 1)
        (response,) = bloated.responses()
        self.assertEqual((response.status, response.reason), (400, "Too many headers"))

        garbage = yield connect()
        garbage.send(bytes(range(256)) * 4)
        yield closed_within(garbage, 1)
        self.assertEqual(garbage.received, b"")
        self.assertEqual(hub.delivered(), [])
