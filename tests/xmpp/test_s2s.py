# -*- test-case-name: tests.xmpp.test_s2s -*-
"""
Tests for L{nextplane.connectors.xmpp.s2s}, L{s2s_in} and L{s2s_out}.

Two kinds of tests:

  - L{InboundStringTests} drive one inbound stream with strings over a
    C{StringTransport} (TLS is simulated: bytes after C{<proceed/>} are
    taken as decrypted);
  - L{FederationTests} connect two complete L{S2SService}s ("hub.test" and
    "peer.test") through an in-memory network with real TLS handshakes,
    real certificates and the hub's own inbound and outbound code on each
    side.
"""

from __future__ import annotations

from typing import Any

from attrs import evolve
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from nextplane.connectors.xmpp import dialback
from nextplane.connectors.xmpp.s2s import S2SService, S2SSettings
from nextplane.connectors.xmpp.s2s_in import (
    InboundState,
    InboundStream,
    StanzaRejected,
    check_stanza_addressing,
    decode_external_authzid,
)
from nextplane.connectors.xmpp.s2s_out import (
    OutboundStream,
    StreamPurpose,
    encode_external_authzid,
)
from nextplane.connectors.xmpp.stream import NS_CLIENT, StreamError, StreamLimits
from nextplane.connectors.xmpp.tls import TenantTLS
from nextplane.interfaces import DeliveryFailed
from tests.xmpp.certs import pki
from tests.xmpp.fakenet import FakeResolver, Network, silent_factory

HUB = ("10.0.0.1", 5269)
PEER = ("10.0.0.2", 5269)


def header(to: str = "hub.test", from_: str | None = "peer.test", extra: str = "") -> bytes:
    sender = f" from='{from_}'" if from_ else ""
    return (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server'"
        " xmlns:stream='http://etherx.jabber.org/streams'"
        f" xmlns:db='jabber:server:dialback' to='{to}'{sender} version='1.0'{extra}>"
    ).encode()


def message(
    sender: str = "alice@peer.test", to: str = "bob@hub.test", body: str = "hi"
) -> domish.Element:
    element = domish.Element((None, "message"))
    element["from"] = sender
    element["to"] = to
    element["type"] = "chat"
    element.addElement("body", content=body)
    return element


class FakeTLSTransport(StringTransport):
    """
    A StringTransport that accepts startTLS (and then pretends).
    """

    def __init__(self) -> None:
        super().__init__()
        self.tls_started: list[Any] = []

    def startTLS(self, creator: Any) -> None:
        self.tls_started.append(creator)

    def getHandle(self) -> None:
        return None

    def abortConnection(self) -> None:
        self.disconnecting = True


class AddressingTests(SynchronousTestCase):
    """
    Tests for the pure helpers of the inbound side.
    """

    def stanza(self, sender: str | None, to: str | None) -> domish.Element:
        element = domish.Element((None, "message"))
        if sender:
            element["from"] = sender
        if to:
            element["to"] = to
        return element

    def check(self, sender: str | None, to: str | None) -> tuple[str, str]:
        return check_stanza_addressing(
            self.stanza(sender, to),
            {("peer.test", "hub.test")},
            {"hub.test", "other.test"}.__contains__,
        )

    def condition(self, sender: str | None, to: str | None) -> str:
        with self.assertRaises(StreamError) as raised:
            self.check(sender, to)
        return raised.exception.condition

    def test_valid(self) -> None:
        """
        A stanza of an authenticated pair passes and yields the pair.
        """
        self.assertEqual(self.check("a@Peer.test/r", "b@hub.test"), ("peer.test", "hub.test"))

    def test_missing(self) -> None:
        """
        Missing from or to is improper-addressing.
        """
        self.assertEqual(self.condition(None, "b@hub.test"), "improper-addressing")
        self.assertEqual(self.condition("a@peer.test", None), "improper-addressing")

    def test_spoofed_from(self) -> None:
        """
        A sender domain that is not authenticated is invalid-from.
        """
        self.assertEqual(self.condition("a@evil.test", "b@hub.test"), "invalid-from")

    def test_foreign_to(self) -> None:
        """
        A recipient outside the hub's domains is host-unknown.
        """
        self.assertEqual(self.condition("a@peer.test", "b@elsewhere.test"), "host-unknown")

    def test_other_local_domain(self) -> None:
        """
        An authenticated sender writing to a hub domain it did not
        authenticate towards is not-authorized.
        """
        self.assertEqual(self.condition("a@peer.test", "b@other.test"), "not-authorized")

    def test_malformed_to(self) -> None:
        """
        A malformed recipient is refused with a jid-malformed stanza error.
        """
        with self.assertRaises(StanzaRejected) as raised:
            self.check("a@peer.test", "b@@hub.test")
        self.assertEqual(raised.exception.condition, "jid-malformed")

    def test_external_authzid(self) -> None:
        """
        EXTERNAL initial responses: '=' or empty mean none, base64 decodes,
        garbage is refused.
        """
        self.assertIsNone(decode_external_authzid("="))
        self.assertIsNone(decode_external_authzid(""))
        self.assertEqual(decode_external_authzid(encode_external_authzid("peer.test")), "peer.test")
        self.assertRaises(ValueError, decode_external_authzid, "***")


class InboundStringTests(SynchronousTestCase):
    """
    One inbound stream driven with strings.
    """

    def setUp(self) -> None:
        p = pki()
        self.clock = Clock()
        self.network = Network(self.clock)
        self.received: list[domish.Element] = []
        self.service = S2SService(
            {"hub.test": p.hub, "other.test": p.other},
            [p.ca_path],
            FakeResolver(),
            self.clock,
            self.received.append,
            policy_hook=lambda local, domain: (
                "blocked by policy" if domain == "evil.test" else None
            ),
            settings=S2SSettings(
                dialback_secret=b"secret",
                secure_domains=frozenset({"secure.test"}),
                static_routes={"peer.test": "10.0.0.2:5269"},
            ),
            endpoint_factory=self.network.endpoint,
        )
        stream = self.service.listen_factory().buildProtocol(None)
        assert isinstance(stream, InboundStream)
        self.stream = stream
        self.transport = FakeTLSTransport()
        self.stream.makeConnection(self.transport)

    def feed(self, data: bytes | str) -> bytes:
        self.transport.clear()
        self.stream.dataReceived(data.encode() if isinstance(data, str) else data)
        return self.transport.value()

    def assertStreamError(self, data: bytes | str, condition: str) -> bytes:
        sent = self.feed(data)
        self.assertIn(f"<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'".encode(), sent)
        self.assertTrue(sent.endswith(b"</stream:stream>"), sent)
        self.assertTrue(self.transport.disconnecting)
        return sent

    def start_tls(self) -> None:
        self.feed(header())
        sent = self.feed("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.assertEqual(sent, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.assertEqual(len(self.transport.tls_started), 1)

    def test_response_header(self) -> None:
        """
        The response header has a fresh id, version 1.0, xml:lang and
        swapped addresses, followed by features requiring STARTTLS.
        """
        sent = self.feed(header())
        self.assertIn(b"from='hub.test' to='peer.test' id='", sent)
        self.assertIn(b"version='1.0' xml:lang='en'", sent)
        self.assertIn(
            b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
            b"</starttls></stream:features>",
            sent,
        )
        self.assertEqual(self.stream.state, InboundState.AWAIT_STARTTLS)

    def test_xml_bomb(self) -> None:
        """
        A DOCTYPE with entity declarations gets a header, restricted-xml and
        the connection is closed.
        """
        sent = self.assertStreamError(
            b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]>"
            + header(),
            "restricted-xml",
        )
        self.assertTrue(sent.startswith(b"<?xml version='1.0'?><stream:stream"))

    def test_malformed(self) -> None:
        """
        Malformed XML is not-well-formed.
        """
        self.feed(header())
        self.assertStreamError("<message><body></message>", "not-well-formed")

    def test_oversized_before_auth(self) -> None:
        """
        Before authentication a stanza over 10000 bytes is a policy
        violation.
        """
        self.feed(header())
        self.assertStreamError(b"<message><body>" + b"x" * 20000, "policy-violation")

    def test_blocked_domain(self) -> None:
        """
        A stream from a domain the policy blocks is closed with
        policy-violation and the reason.
        """
        sent = self.assertStreamError(header(from_="evil.test"), "policy-violation")
        self.assertIn(b"blocked by policy", sent)

    def test_host_unknown(self) -> None:
        """
        A header to a domain the hub does not serve is host-unknown.
        """
        sent = self.assertStreamError(header(to="nope.test"), "host-unknown")
        self.assertIn(b"from='hub.test'", sent)

    def test_missing_to(self) -> None:
        """
        A header without 'to' is improper-addressing.
        """
        self.assertStreamError(header().replace(b" to='hub.test'", b""), "improper-addressing")

    def test_pre_1_0(self) -> None:
        """
        A header without version is refused: STARTTLS needs XMPP 1.0.
        """
        self.assertStreamError(header().replace(b" version='1.0'>", b">"), "unsupported-version")

    def test_client_namespace(self) -> None:
        """
        A jabber:client stream is invalid-namespace.
        """
        self.assertStreamError(
            header().replace(b"xmlns='jabber:server'", b"xmlns='jabber:client'"),
            "invalid-namespace",
        )

    def test_stanza_before_tls(self) -> None:
        """
        A stanza before STARTTLS is not-authorized.
        """
        self.feed(header())
        self.assertStreamError("<message from='a@peer.test' to='b@hub.test'/>", "not-authorized")
        self.assertEqual(self.received, [])

    def test_dialback_before_tls(self) -> None:
        """
        Dialback before STARTTLS is a policy violation.
        """
        self.feed(header())
        self.assertStreamError(
            "<db:result from='peer.test' to='hub.test'>key</db:result>", "policy-violation"
        )

    def test_starttls_restart(self) -> None:
        """
        After STARTTLS the stream restarts: a new header gets a new id and
        post-TLS features with dialback and <errors/> but no EXTERNAL when
        the peer has no certificate.
        """
        first = self.stream.stream_id
        self.start_tls()
        sent = self.feed(header())
        self.assertNotEqual(self.stream.stream_id, first)
        self.assertIn(
            b"<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/>"
            b"</dialback></stream:features>",
            sent,
        )
        self.assertNotIn(b"EXTERNAL", sent)
        self.assertEqual(self.stream.state, InboundState.NEGOTIATING)

    def test_starttls_injection(self) -> None:
        """
        Plaintext pipelined after <starttls/> is discarded.
        """
        self.feed(header())
        self.feed(
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
            "<message from='a@peer.test' to='b@hub.test'/>"
        )
        self.assertEqual(self.received, [])
        self.assertFalse(self.transport.disconnecting)

    def test_secure_domain_features(self) -> None:
        """
        A domain that must use certificates is not offered dialback.
        """
        self.start_tls()
        sent = self.feed(header(from_="secure.test"))
        self.assertIn(b"<stream:features/>", sent)

    def test_secure_domain_dialback_refused(self) -> None:
        """
        Dialback from a domain that must use certificates is refused
        with not-authorized.
        """
        self.start_tls()
        self.feed(header(from_="secure.test"))
        self.assertStreamError(
            "<db:result from='secure.test' to='hub.test'>key</db:result>", "not-authorized"
        )
        self.assertEqual(self.network.attempts, [])

    def test_stanza_before_auth(self) -> None:
        """
        A stanza after TLS but before authentication is not-authorized.
        """
        self.start_tls()
        self.feed(header())
        self.assertStreamError("<message from='a@peer.test' to='b@hub.test'/>", "not-authorized")

    def test_unsupported_stanza_type(self) -> None:
        """
        An unknown first-level element is unsupported-stanza-type.
        """
        self.start_tls()
        self.feed(header())
        self.assertStreamError("<foo/>", "unsupported-stanza-type")

    def test_peer_stream_error(self) -> None:
        """
        A stream error from the peer (Prosody says system-shutdown when it
        stops) ends the stream: we close ours, without a stream error of
        our own, before or after TLS.
        """
        self.start_tls()
        self.feed(header())
        sent = self.feed(
            "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Received SIGTERM</text>"
            "</stream:error>"
        )
        self.assertEqual(sent, b"</stream:stream>")
        self.assertTrue(self.transport.disconnecting)
        assert self.stream.error is not None
        self.assertEqual(
            (self.stream.error.condition, self.stream.error.text),
            ("system-shutdown", "Received SIGTERM"),
        )
        self.assertEqual(self.feed("<message from='a@peer.test' to='b@hub.test'/>"), b"")

    def test_peer_stream_error_before_tls(self) -> None:
        """
        Before STARTTLS too, a peer's stream error is not answered with one.
        """
        self.feed(header())
        sent = self.feed(
            "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "</stream:error>"
        )
        self.assertEqual(sent, b"</stream:stream>")
        self.assertTrue(self.transport.disconnecting)

    def test_client_namespace_stanza(self) -> None:
        """
        A jabber:client stanza on a server stream is invalid-namespace.
        """
        self.start_tls()
        self.feed(header())
        self.assertStreamError(f"<message xmlns='{NS_CLIENT}'/>", "invalid-namespace")

    def test_sasl_not_offered(self) -> None:
        """
        SASL EXTERNAL without a valid certificate fails with
        invalid-mechanism; the stream stays open.
        """
        self.start_tls()
        self.feed(header())
        sent = self.feed(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>"
        )
        self.assertIn(b"<invalid-mechanism/>", sent)
        self.assertFalse(self.transport.disconnecting)

    def test_db_verify(self) -> None:
        """
        db:verify is answered on an unauthenticated stream: valid for our
        key, invalid otherwise, addresses swapped and id echoed.
        """
        self.start_tls()
        self.feed(header())
        key = self.service.dialback_keys().key("peer.test", "hub.test", "s1")
        sent = self.feed(f"<db:verify from='peer.test' to='hub.test' id='s1'>{key}</db:verify>")
        self.assertEqual(sent, b"<db:verify from='hub.test' to='peer.test' id='s1' type='valid'/>")
        sent = self.feed("<db:verify from='peer.test' to='hub.test' id='s1'>bad</db:verify>")
        self.assertIn(b"type='invalid'", sent)

    def test_db_verify_unknown_domain(self) -> None:
        """
        db:verify for a domain we do not serve is invalid, or an
        item-not-found dialback error for peers that handle errors.
        """
        self.start_tls()
        self.feed(header())
        sent = self.feed("<db:verify from='peer.test' to='nope.test' id='s1'>k</db:verify>")
        self.assertIn(b"type='invalid'", sent)
        self.service.note_dialback_errors("peer.test", True)
        sent = self.feed("<db:verify from='peer.test' to='nope.test' id='s1'>k</db:verify>")
        self.assertIn(b"type='error'", sent)
        self.assertIn(b"<item-not-found", sent)

    def test_db_result_unknown_domain_without_errors(self) -> None:
        """
        db:result to an unknown domain from a peer that does not handle
        dialback errors is a host-unknown stream error.
        """
        self.start_tls()
        self.feed(header())
        self.assertStreamError(
            "<db:result from='peer.test' to='nope.test'>k</db:result>", "host-unknown"
        )

    def test_db_result_unknown_domain_with_errors(self) -> None:
        """
        Peers that advertised dialback <errors/> get an item-not-found
        dialback error instead, and the stream stays up.
        """
        self.service.note_dialback_errors("peer.test", True)
        self.start_tls()
        self.feed(header())
        sent = self.feed("<db:result from='peer.test' to='nope.test'>k</db:result>")
        self.assertIn(b"<db:result from='nope.test' to='peer.test' type='error'>", sent)
        self.assertIn(b"<item-not-found", sent)
        self.assertFalse(self.transport.disconnecting)

    def test_db_result_unverifiable(self) -> None:
        """
        When the authoritative server cannot be reached, a peer handling
        errors gets remote-server-not-found, others a stream error.
        """
        self.start_tls()
        self.feed(header())
        self.service.note_dialback_errors("peer.test", True)
        sent = self.feed("<db:result from='peer.test' to='hub.test'>k</db:result>")
        self.assertIn(b"type='error'", sent)
        self.assertIn(b"<remote-server-not-found", sent)
        self.assertEqual(self.network.attempts, [PEER])
        self.service.note_dialback_errors("peer.test", False)
        self.assertStreamError(
            "<db:result from='peer.test' to='hub.test'>k</db:result>", "remote-connection-failed"
        )

    def test_negotiation_timeout(self) -> None:
        """
        A stream not authenticated within the negotiation timeout is closed
        with connection-timeout.
        """
        self.feed(header())
        self.clock.advance(self.service.limits.negotiation_timeout)
        self.assertIn(b"<connection-timeout", self.transport.value())

    def test_stream_counted(self) -> None:
        """
        The service tracks its inbound streams until they are lost.
        """
        self.assertEqual(self.service.inbound_streams(), [self.stream])
        self.stream.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.service.inbound_streams(), [])


class Federation:
    """
    hub.test and peer.test, each a full S2SService, on one network.
    """

    def __init__(
        self,
        peer_tls: TenantTLS | None = None,
        hub_settings: S2SSettings | None = None,
        peer_settings: S2SSettings | None = None,
        peer_secret: bytes = b"peer secret",
        hub_policy: Any = None,
    ) -> None:
        p = pki()
        self.clock = Clock()
        self.net = Network(self.clock)
        self.hub_received: list[domish.Element] = []
        self.peer_received: list[domish.Element] = []
        self.hub_dns = FakeResolver()
        self.peer_dns = FakeResolver()
        self.hub = S2SService(
            {"hub.test": p.hub},
            [p.ca_path],
            self.hub_dns,
            self.clock,
            self.hub_received.append,
            policy_hook=hub_policy,
            settings=evolve(
                hub_settings or S2SSettings(),
                dialback_secret=b"hub secret",
                static_routes={"peer.test": "10.0.0.2:5269"},
            ),
            endpoint_factory=self.net.endpoint,
        )
        self.peer = self.make_peer(peer_tls or p.peer, peer_settings, peer_secret)
        self.net.listen(*HUB, self.hub.listen_factory())
        self.net.listen(*PEER, self.peer.listen_factory())

    def make_peer(self, tls: TenantTLS, settings: S2SSettings | None, secret: bytes) -> S2SService:
        return S2SService(
            {"peer.test": tls},
            [pki().ca_path],
            self.peer_dns,
            self.clock,
            self.peer_received.append,
            settings=evolve(
                settings or S2SSettings(),
                dialback_secret=secret,
                static_routes={"hub.test": "10.0.0.1:5269"},
            ),
            endpoint_factory=self.net.endpoint,
        )

    def send(self, service: S2SService, stanza: domish.Element) -> Deferred[None]:
        d = service.send(stanza)
        self.net.flush()
        return d

    def hub_inbound(self) -> InboundStream:
        (stream,) = self.hub.inbound_streams()
        return stream

    def outbound(self, service: S2SService, local: str, remote: str) -> OutboundStream:
        stream = service.pool.stream_for(local, remote)
        assert isinstance(stream, OutboundStream)
        return stream


class FederationTests(SynchronousTestCase):
    """
    The hub's inbound and outbound sides against each other, with real TLS.
    """

    def test_backpressure(self) -> None:
        """
        A stream with C{max_in_flight} stanzas still being handled is not
        read further (nothing is refused or lost); it is read again once
        half of them are done, and the waiting stanzas arrive in order.
        """
        f = Federation(hub_settings=S2SSettings(max_in_flight=3))
        handling: list[Deferred[None]] = []

        def on_stanza(stanza: domish.Element) -> Deferred[None]:
            f.hub_received.append(stanza)
            handling.append(Deferred())
            return handling[-1]

        f.hub._on_stanza = on_stanza
        for i in range(6):
            f.send(f.peer, message(body=str(i)))
        self.assertEqual([str(m.body) for m in f.hub_received], ["0", "1", "2"])
        inbound = f.hub_inbound()
        self.assertTrue(f.hub.backpressure.paused(inbound.transport))
        handling[0].callback(None)
        f.net.flush()
        self.assertEqual(len(f.hub_received), 3)  # still above the low mark
        handling[1].callback(None)
        f.net.flush()
        # Read again: what waited arrives, in order (bytes already read are
        # handled, so a pause takes effect after the chunk in hand).
        self.assertEqual([str(m.body) for m in f.hub_received], [str(i) for i in range(6)])
        self.assertTrue(f.hub.backpressure.paused(inbound.transport))
        for d in handling[2:]:
            d.callback(None)
        f.net.flush()
        self.assertFalse(f.hub.backpressure.paused(inbound.transport))
        self.assertEqual(f.hub.backpressure.pauses, 2)

    def test_sasl_external(self) -> None:
        """
        Two servers with trusted certificates authenticate with SASL
        EXTERNAL over STARTTLS, and the stanza is delivered.
        """
        f = Federation()
        self.assertIsNone(self.successResultOf(f.send(f.peer, message())))
        self.assertEqual([m.body and str(m.body) for m in f.hub_received], ["hi"])
        self.assertEqual(f.outbound(f.peer, "peer.test", "hub.test").authentication, "EXTERNAL")
        inbound = f.hub_inbound()
        self.assertEqual(inbound.sasl_domain, "peer.test")
        self.assertEqual(inbound.state, InboundState.OPEN)
        self.assertEqual(len(f.net.connections), 1)

    def test_both_directions(self) -> None:
        """
        Each direction uses its own stream (no bidi).
        """
        f = Federation()
        self.successResultOf(f.send(f.peer, message()))
        self.successResultOf(f.send(f.hub, message("bob@hub.test", "alice@peer.test", "yo")))
        self.assertEqual(len(f.peer_received), 1)
        self.assertEqual(len(f.net.open_connections()), 2)

    def test_reuse(self) -> None:
        """
        Later stanzas reuse the authenticated stream.
        """
        f = Federation()
        for i in range(3):
            self.successResultOf(f.send(f.peer, message(body=str(i))))
        self.assertEqual([str(m.body) for m in f.hub_received], ["0", "1", "2"])
        self.assertEqual(len(f.net.connections), 1)

    def test_dialback_untrusted_certificate(self) -> None:
        """
        With an untrusted client certificate EXTERNAL is not offered; the
        peer falls back to dialback, the hub verifies the key with the
        peer's authoritative server over a second stream, which it closes
        afterwards, and the stanza is delivered.
        """
        f = Federation(peer_tls=pki().peer_untrusted)
        self.successResultOf(f.send(f.peer, message()))
        self.assertEqual(len(f.hub_received), 1)
        self.assertEqual(f.outbound(f.peer, "peer.test", "hub.test").authentication, "dialback")
        self.assertEqual(f.hub_inbound().authenticated_pairs, {("peer.test", "hub.test")})
        self.assertEqual([c.address for c in f.net.connections], [HUB, PEER])
        self.assertFalse(f.net.connections[0].closed)
        self.assertTrue(f.net.connections[1].closed)

    def test_dialback_invalid_key(self) -> None:
        """
        An impostor claiming peer.test whose key the real peer.test
        rejects gets type='invalid', its stream is closed and its stanza is
        not delivered.
        """
        f = Federation()
        impostor = f.make_peer(pki().peer_untrusted, None, b"other secret")
        f.net.listen("10.6.6.6", 5269, impostor.listen_factory())
        d = f.send(impostor, message())
        failure = self.failureResultOf(d, DeliveryFailed)
        self.assertEqual(failure.value.condition, "remote-server-timeout")
        self.assertIn("refused our dialback key", failure.value.reason)
        self.assertEqual(f.hub_received, [])
        self.assertEqual(f.hub.inbound_streams(), [])

    def test_require_certificates_refuses_dialback(self) -> None:
        """
        When the hub requires certificates from peer.test, an untrusted
        peer is refused without any dialback verification.
        """
        f = Federation(
            peer_tls=pki().peer_untrusted,
            hub_settings=S2SSettings(secure_domains=frozenset({"peer.test"})),
        )
        failure = self.failureResultOf(f.send(f.peer, message()), DeliveryFailed)
        self.assertEqual(failure.value.condition, "remote-server-timeout")
        self.assertEqual(f.hub_received, [])
        self.assertEqual(f.net.attempts, [HUB])

    def test_require_certificates_trusted(self) -> None:
        """
        Requiring certificates does not hinder a trusted peer.
        """
        f = Federation(hub_settings=S2SSettings(require_certificates=True))
        self.successResultOf(f.send(f.peer, message()))
        self.assertEqual(len(f.hub_received), 1)

    def test_outbound_require_certificates(self) -> None:
        """
        With certificates required towards the remote, a failed EXTERNAL
        does not fall back to dialback.
        """
        f = Federation(
            peer_tls=pki().peer_untrusted,
            peer_settings=S2SSettings(require_certificates=True),
        )
        failure = self.failureResultOf(f.send(f.peer, message()), DeliveryFailed)
        self.assertIn("dialback is disabled", failure.value.reason)

    def test_wrong_name_server_certificate(self) -> None:
        """
        The hub refuses to send to a server whose certificate names another
        domain.
        """
        f = Federation(peer_tls=pki().peer_wrong_name)
        failure = self.failureResultOf(
            f.send(f.hub, message("bob@hub.test", "alice@peer.test")), DeliveryFailed
        )
        self.assertEqual(failure.value.condition, "remote-server-timeout")
        self.assertIn("not valid for peer.test", failure.value.reason)
        self.assertEqual(f.peer_received, [])

    def test_untrusted_server_certificate(self) -> None:
        """
        The hub refuses to send to a server whose certificate is not
        trusted, unless the domain is configured as insecure.
        """
        f = Federation(peer_tls=pki().peer_untrusted)
        failure = self.failureResultOf(
            f.send(f.hub, message("bob@hub.test", "alice@peer.test")), DeliveryFailed
        )
        self.assertIn("not trusted", failure.value.reason)
        f = Federation(
            peer_tls=pki().peer_untrusted,
            hub_settings=S2SSettings(insecure_domains=frozenset({"peer.test"})),
        )
        self.successResultOf(f.send(f.hub, message("bob@hub.test", "alice@peer.test")))
        self.assertEqual(len(f.peer_received), 1)

    def test_wrong_name_client_certificate(self) -> None:
        """
        A client certificate for another name is not good for EXTERNAL; the
        peer authenticates by dialback instead.
        """
        f = Federation(peer_tls=pki().peer_wrong_name)
        self.successResultOf(f.send(f.peer, message()))
        self.assertEqual(f.outbound(f.peer, "peer.test", "hub.test").authentication, "dialback")

    def test_xmpp_addr_certificate(self) -> None:
        """
        A certificate naming the domain only as id-on-xmppAddr is good for
        EXTERNAL.
        """
        f = Federation(peer_tls=pki().peer_xmppaddr)
        self.successResultOf(f.send(f.peer, message()))
        self.assertEqual(f.outbound(f.peer, "peer.test", "hub.test").authentication, "EXTERNAL")

    def test_spoofed_from(self) -> None:
        """
        A stanza whose sender domain is not the authenticated one ends the
        stream with invalid-from and is not delivered.
        """
        f = Federation()
        self.successResultOf(f.send(f.peer, message()))
        inbound = f.hub_inbound()
        f.outbound(f.peer, "peer.test", "hub.test").send_stanza(message("mallory@evil.test"))
        f.net.flush()
        self.assertEqual(len(f.hub_received), 1)
        assert inbound.error is not None
        self.assertEqual(inbound.error.condition, "invalid-from")
        self.assertEqual(f.hub.inbound_streams(), [])

    def test_authenticated_size_limit(self) -> None:
        """
        After authentication the larger limit applies, and a stanza beyond
        it is a policy violation.
        """
        limits = StreamLimits(max_stanza_size=20_000)
        f = Federation(hub_settings=S2SSettings(limits=limits))
        self.successResultOf(f.send(f.peer, message(body="x" * 15_000)))
        self.assertEqual(len(f.hub_received), 1)
        inbound = f.hub_inbound()
        self.successResultOf(f.send(f.peer, message(body="x" * 25_000)))
        assert inbound.error is not None
        self.assertEqual(inbound.error.condition, "policy-violation")
        self.assertEqual(len(f.hub_received), 1)

    def test_db_verify_on_dedicated_stream(self) -> None:
        """
        A verification-only stream (as ejabberd opens) gets authoritative
        answers from the hub without authenticating.
        """
        f = Federation()
        key = f.hub.dialback_keys().key("peer.test", "hub.test", "sid-1")
        valid = f.peer.pool.verify("peer.test", "hub.test", "sid-1", key)
        f.net.flush()
        self.assertTrue(self.successResultOf(valid))
        invalid = f.peer.pool.verify("peer.test", "hub.test", "sid-1", "0" * 64)
        f.net.flush()
        self.assertFalse(self.successResultOf(invalid))
        self.assertTrue(all(c.closed for c in f.net.connections))

    def test_verify_over_authenticated_stream(self) -> None:
        """
        With an authenticated stream to the authoritative server,
        verification goes over it (Prosody's behaviour).
        """
        f = Federation()
        self.successResultOf(f.send(f.peer, message()))
        key = f.hub.dialback_keys().key("peer.test", "hub.test", "sid-2")
        d = f.peer.pool.verify("peer.test", "hub.test", "sid-2", key)
        f.net.flush()
        self.assertTrue(self.successResultOf(d))
        self.assertEqual(len(f.net.connections), 1)

    def test_dialback_errors_learnt_from_features(self) -> None:
        """
        The hub learns from its outbound stream's features that peer.test
        handles dialback errors, and then sends it dialback errors instead
        of stream errors.
        """
        f = Federation()
        self.assertFalse(f.hub.supports_dialback_errors("peer.test"))
        self.successResultOf(f.send(f.hub, message("bob@hub.test", "alice@peer.test")))
        self.assertTrue(f.hub.supports_dialback_errors("peer.test"))
        self.successResultOf(f.send(f.peer, message()))
        received: list[domish.Element] = []
        outbound = f.outbound(f.peer, "peer.test", "hub.test")
        original = outbound.element_received

        def record(element: domish.Element) -> None:
            received.append(element)
            original(element)

        outbound.element_received = record  # type: ignore[method-assign]
        outbound.send_element(dialback.build_request("result", "peer.test", "nope.test", "k"))
        f.net.flush()
        self.assertEqual(received[0].getAttribute("type"), "error")
        self.assertTrue(outbound.is_ready)

    def test_unreachable(self) -> None:
        """
        A domain nobody listens for fails with remote-server-not-found.
        """
        f = Federation()
        f.net.listeners.pop(PEER)
        failure = self.failureResultOf(
            f.send(f.hub, message("bob@hub.test", "alice@peer.test")), DeliveryFailed
        )
        self.assertEqual(failure.value.condition, "remote-server-not-found")

    def test_connect_timeout(self) -> None:
        """
        A connection that never completes fails with remote-server-timeout
        after the connect timeout.
        """
        f = Federation()
        f.net.hanging.add(PEER)
        d = f.send(f.hub, message("bob@hub.test", "alice@peer.test"))
        self.assertNoResult(d)
        f.clock.advance(f.hub.settings.connect_timeout)
        self.assertEqual(
            self.failureResultOf(d, DeliveryFailed).value.condition, "remote-server-timeout"
        )

    def test_negotiation_timeout(self) -> None:
        """
        A server that accepts the connection but never answers fails the
        send with remote-server-timeout after the negotiation timeout.
        """
        f = Federation()
        f.net.listen(*PEER, silent_factory())
        d = f.send(f.hub, message("bob@hub.test", "alice@peer.test"))
        self.assertNoResult(d)
        f.clock.advance(f.hub.limits.negotiation_timeout)
        f.net.flush()
        failure = self.failureResultOf(d, DeliveryFailed)
        self.assertEqual(failure.value.condition, "remote-server-timeout")
        self.assertIn("timed out", failure.value.reason)

    def test_idle_close(self) -> None:
        """
        An outbound stream unused for the idle timeout is closed gracefully
        on both ends.
        """
        f = Federation(peer_settings=S2SSettings(idle_timeout=50))
        self.successResultOf(f.send(f.peer, message()))
        f.clock.advance(50)
        f.net.flush()
        self.assertIsNone(f.peer.pool.stream_for("peer.test", "hub.test"))
        self.assertTrue(all(c.closed for c in f.net.connections))
        self.assertEqual(f.hub.inbound_streams(), [])

    def test_srv_and_direct_tls(self) -> None:
        """
        The hub follows _xmpps-server SRV records to a direct TLS listener
        (XEP-0368) chosen by SNI.
        """
        f = Federation()
        f.hub = S2SService(
            {"hub.test": pki().hub},
            [pki().ca_path],
            f.hub_dns,
            f.clock,
            f.hub_received.append,
            endpoint_factory=f.net.endpoint,
        )
        f.hub_dns.srv["_xmpps-server._tcp.peer.test"] = [(0, 0, 5270, "xmpp.peer.test")]
        f.hub_dns.a["xmpp.peer.test"] = ["10.0.0.2"]
        f.net.listen("10.0.0.2", 5270, f.peer.listen_factory(direct_tls=True))
        self.successResultOf(f.send(f.hub, message("bob@hub.test", "alice@peer.test")))
        self.assertEqual(len(f.peer_received), 1)
        self.assertEqual(f.net.attempts, [("10.0.0.2", 5270)])
        stream = f.outbound(f.hub, "hub.test", "peer.test")
        self.assertTrue(stream.direct_tls)
        self.assertEqual(stream.authentication, "EXTERNAL")

    def test_policy_blocks_outbound(self) -> None:
        """
        Sending to a domain the policy refuses fails with not-allowed
        without connecting.
        """
        f = Federation()
        hub = S2SService(
            {"hub.test": pki().hub},
            [pki().ca_path],
            f.hub_dns,
            f.clock,
            f.hub_received.append,
            policy_hook=lambda local, domain: "no" if domain == "peer.test" else None,
            endpoint_factory=f.net.endpoint,
        )
        failure = self.failureResultOf(
            hub.send(message("bob@hub.test", "alice@peer.test")), DeliveryFailed
        )
        self.assertEqual(failure.value.condition, "not-allowed")
        self.assertEqual(f.net.attempts, [])

    def test_enforce_policy(self) -> None:
        """
        Once the policy refuses a domain whose streams are up,
        L{S2SService.enforce_policy} ends the inbound stream with a
        policy-violation naming the reason and closes the outbound one; the
        peer's next attempt is refused at the stream header with the same
        reason, and the hub does not send there any more.
        """
        blocked: set[str] = set()
        f = Federation(
            hub_policy=lambda local, remote: "blocked here" if remote in blocked else None
        )
        self.successResultOf(f.send(f.peer, message()))
        self.successResultOf(f.send(f.hub, message("bob@hub.test", "alice@peer.test")))
        inbound = f.hub_inbound()
        outbound = f.outbound(f.hub, "hub.test", "peer.test")
        self.assertEqual(f.hub.enforce_policy(), 0)

        blocked.add("peer.test")
        self.assertEqual(f.hub.enforce_policy(), 2)
        f.net.flush()
        assert inbound.error is not None
        self.assertEqual(
            (inbound.error.condition, inbound.error.text), ("policy-violation", "blocked here")
        )
        self.assertTrue(inbound.disconnected)
        self.assertTrue(outbound.disconnected)
        self.assertIsNone(outbound.error)
        self.assertEqual(f.hub.inbound_streams(), [])
        self.assertIsNone(f.hub.pool.stream_for("hub.test", "peer.test"))
        self.assertIsNone(f.peer.pool.stream_for("peer.test", "hub.test"))

        failure = self.failureResultOf(f.send(f.peer, message()), DeliveryFailed)
        self.assertIn("policy-violation: blocked here", failure.value.reason)
        self.assertEqual(len(f.hub_received), 1)
        failure = self.failureResultOf(
            f.send(f.hub, message("bob@hub.test", "alice@peer.test")), DeliveryFailed
        )
        self.assertEqual(failure.value.condition, "not-allowed")

    def test_trace(self) -> None:
        """
        The trace hook given to the service sees every chunk of every
        stream in both directions, as plaintext once TLS is up.
        """
        f = Federation()
        seen: list[tuple[str, str, bytes]] = []
        f.hub.trace = lambda stream, direction, data: seen.append(
            (type(stream).__name__, direction, data)
        )
        self.successResultOf(f.send(f.peer, message(body="traced in")))
        self.successResultOf(
            f.send(f.hub, message("bob@hub.test", "alice@peer.test", "traced out"))
        )

        def joined(kind: str, direction: str) -> bytes:
            return b"".join(d for k, dr, d in seen if (k, dr) == (kind, direction))

        self.assertIn(b"<starttls", joined("InboundStream", "in"))
        self.assertIn(b"<body>traced in</body>", joined("InboundStream", "in"))
        self.assertIn(b"<proceed", joined("InboundStream", "out"))
        self.assertIn(b"<body>traced out</body>", joined("OutboundStream", "out"))
        self.assertIn(b"<success", joined("OutboundStream", "in"))
        self.assertIsNone(f.outbound(f.peer, "peer.test", "hub.test").trace)

    def test_send_validation(self) -> None:
        """
        Stanzas not addressed from a hub domain to a remote domain are
        refused with ValueError.
        """
        f = Federation()
        for stanza in (
            message("bob@hub.test", "carol@hub.test"),
            message("alice@peer.test", "carol@other.test"),
            message("", "alice@peer.test"),
        ):
            self.failureResultOf(f.hub.send(stanza), ValueError)
        self.failureResultOf(f.hub.send(domish.Element((None, "foo"))), ValueError)

    def test_client_namespace_converted(self) -> None:
        """
        A stanza built in jabber:client goes out in jabber:server.
        """
        f = Federation()
        stanza = domish.Element((NS_CLIENT, "message"))
        stanza["from"], stanza["to"] = "bob@hub.test", "alice@peer.test"
        stanza.addElement("body", content="x")
        self.successResultOf(f.send(f.hub, stanza))
        self.assertEqual(f.peer_received[0].uri, "jabber:server")
        self.assertEqual(str(f.peer_received[0].body), "x")

    def test_malformed_to_bounced(self) -> None:
        """
        A stanza with a malformed recipient is answered with a jid-malformed
        error over the hub's own outbound stream; the inbound stream stays.
        """
        f = Federation()
        self.successResultOf(f.send(f.peer, message()))
        bad = message(to="b@@hub.test")
        bad["id"] = "m1"
        f.outbound(f.peer, "peer.test", "hub.test").send_stanza(bad)
        f.net.flush()
        self.assertEqual(len(f.peer_received), 1)
        self.assertEqual(f.peer_received[0]["type"], "error")
        self.assertEqual(f.peer_received[0]["id"], "m1")
        self.assertEqual(len(f.hub.inbound_streams()), 1)

    def test_stop_service(self) -> None:
        """
        Stopping the service closes every stream and fires once they are
        gone.
        """
        f = Federation()
        self.successResultOf(f.send(f.peer, message()))
        self.successResultOf(f.send(f.hub, message("bob@hub.test", "alice@peer.test")))
        d = f.hub.stopService()
        f.net.flush()
        self.successResultOf(d)
        self.assertTrue(all(c.closed for c in f.net.connections))
        self.failureResultOf(f.hub.send(message("bob@hub.test", "alice@peer.test")))


class OutboundStringBase(SynchronousTestCase):
    """
    One outbound stream driven with strings (TLS simulated, so the peer
    presents no certificate): the set-up and steps, no tests.
    """

    def setUp(self) -> None:
        p = pki()
        self.clock = Clock()
        self.service = S2SService(
            {"hub.test": p.hub},
            [p.ca_path],
            FakeResolver(),
            self.clock,
            lambda stanza: None,
            settings=S2SSettings(insecure_domains=frozenset({"lax.test"})),
        )
        self.transport = FakeTLSTransport()

    def connect(
        self, remote: str = "peer.test", purpose: StreamPurpose = StreamPurpose.DELIVER
    ) -> OutboundStream:
        stream = OutboundStream(self.service, "hub.test", remote, purpose)
        stream.makeConnection(self.transport)
        self.ready = stream.when_ready()
        return stream

    def feed(self, stream: OutboundStream, data: str) -> bytes:
        self.transport.clear()
        stream.dataReceived(data.encode())
        return self.transport.value()

    def peer_header(self, remote: str = "peer.test") -> str:
        return (
            "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
            f" xmlns:db='jabber:server:dialback' from='{remote}' to='hub.test' id='p1'"
            " version='1.0'>"
        )

    def through_tls(self, stream: OutboundStream, remote: str = "peer.test") -> None:
        self.feed(
            stream,
            self.peer_header(remote) + "<stream:features><starttls"
            " xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
        )
        sent = self.feed(stream, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.assertEqual(len(self.transport.tls_started), 1)
        self.assertIn(
            b"from='hub.test' to='peer.test'".replace(b"peer.test", remote.encode()), sent
        )

    def failure_reason(self) -> str:
        return str(self.failureResultOf(self.ready, DeliveryFailed).value.reason)


class OutboundStringTests(OutboundStringBase):
    """
    One outbound stream driven with strings.
    """

    def test_initial_header(self) -> None:
        """
        The initiating header names both domains, version 1.0 and xml:lang.
        """
        self.connect()
        self.assertIn(
            b"from='hub.test' to='peer.test' version='1.0' xml:lang='en'>", self.transport.value()
        )

    def test_no_starttls(self) -> None:
        """
        A peer not offering STARTTLS is refused with policy-violation.
        """
        stream = self.connect()
        sent = self.feed(stream, self.peer_header() + "<stream:features/>")
        self.assertIn(b"<policy-violation", sent)
        self.assertIn("does not offer STARTTLS", self.failure_reason())

    def test_pre_1_0_peer(self) -> None:
        """
        A peer answering without version 1.0 is refused.
        """
        stream = self.connect()
        self.feed(stream, self.peer_header().replace(" version='1.0'", ""))
        self.assertIn("XMPP 1.0", self.failure_reason())

    def test_peer_stream_error(self) -> None:
        """
        A stream error from the peer fails negotiation with its condition.
        """
        stream = self.connect()
        self.feed(
            stream,
            self.peer_header() + "<stream:error><host-unknown"
            " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        )
        self.assertIn("host-unknown", self.failure_reason())
        self.assertTrue(self.transport.disconnecting)

    def test_no_certificate(self) -> None:
        """
        A server presenting no certificate is refused for delivery.
        """
        stream = self.connect()
        self.through_tls(stream)
        sent = self.feed(stream, self.peer_header() + "<stream:features/>")
        self.assertIn(b"<not-authorized", sent)
        self.assertIn("no certificate presented", self.failure_reason())

    def test_dialback_error_answer(self) -> None:
        """
        A dialback error answer fails negotiation, naming the condition.
        """
        stream = self.connect("lax.test")
        self.through_tls(stream, "lax.test")
        sent = self.feed(
            stream,
            self.peer_header("lax.test") + "<stream:features><dialback"
            " xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>",
        )
        key = self.service.dialback_keys().key("lax.test", "hub.test", "p1")
        self.assertEqual(
            sent, f"<db:result from='hub.test' to='lax.test'>{key}</db:result>".encode()
        )
        self.assertTrue(self.service.supports_dialback_errors("lax.test"))
        self.feed(
            stream,
            "<db:result from='lax.test' to='hub.test' type='error'><error type='cancel'>"
            "<forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
        )
        self.assertIn("error forbidden", self.failure_reason())

    def test_sasl_failure_falls_back_to_dialback(self) -> None:
        """
        After a SASL EXTERNAL failure the stream tries dialback (as
        ejabberd does).
        """
        stream = self.connect("lax.test")
        self.through_tls(stream, "lax.test")
        sent = self.feed(
            stream,
            self.peer_header("lax.test") + "<stream:features><mechanisms"
            " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism>"
            "</mechanisms></stream:features>",
        )
        self.assertEqual(
            sent,
            b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
            b"aHViLnRlc3Q=</auth>",
        )
        sent = self.feed(
            stream, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
        )
        self.assertIn(b"<db:result from='hub.test' to='lax.test'>", sent)
        self.feed(stream, "<db:result from='lax.test' to='hub.test' type='valid'/>")
        self.assertIs(self.successResultOf(self.ready), stream)
        self.assertEqual(stream.authentication, "dialback")

    def test_verify_timeout(self) -> None:
        """
        A db:verify without answer fails with remote-server-timeout after
        the verify timeout; answers are matched by id.
        """
        stream = self.connect(purpose=StreamPurpose.VERIFY)
        self.through_tls(stream)
        self.feed(stream, self.peer_header() + "<stream:features/>")
        self.successResultOf(self.ready)
        answered = stream.verify("s1", "k1")
        silent = stream.verify("s2", "k2")
        self.assertIn(
            b"<db:verify from='hub.test' to='peer.test' id='s2'>k2</db:verify>",
            self.transport.value(),
        )
        self.feed(stream, "<db:verify from='peer.test' to='hub.test' id='s1' type='valid'/>")
        self.assertTrue(self.successResultOf(answered))
        self.clock.advance(self.service.limits.verify_timeout)
        self.assertEqual(
            self.failureResultOf(silent, DeliveryFailed).value.condition, "remote-server-timeout"
        )

    def test_ignores_stanzas(self) -> None:
        """
        Stanzas on a stream we initiated are ignored (no bidi).
        """
        stream = self.connect()
        self.feed(stream, self.peer_header() + "<message to='x@hub.test'/>")
        self.assertFalse(self.transport.disconnecting)


class ServiceTests(SynchronousTestCase):
    """
    Service-level limits and housekeeping.
    """

    def test_inbound_idle_timeout(self) -> None:
        """
        An authenticated inbound stream without traffic for the idle
        timeout is closed by the hub.
        """
        f = Federation(
            hub_settings=S2SSettings(limits=StreamLimits(idle_timeout=1000)),
            peer_settings=S2SSettings(idle_timeout=5000),
        )
        self.successResultOf(f.send(f.peer, message()))
        f.clock.advance(999)
        self.assertEqual(len(f.hub.inbound_streams()), 1)
        f.clock.advance(1)
        f.net.flush()
        self.assertEqual(f.hub.inbound_streams(), [])

    def test_max_inbound_streams(self) -> None:
        """
        Connections beyond max_inbound_streams are refused.
        """
        f = Federation(hub_settings=S2SSettings(max_inbound_streams=1))
        factory = f.hub.listen_factory()
        self.assertIsNotNone(factory.buildProtocol(None))
        self.assertIsNone(factory.buildProtocol(None))

    def test_max_streams_per_address(self) -> None:
        """
        A connection beyond max_streams_per_address from one IP address is
        answered with a policy-violation stream error and closed; other
        addresses are not affected, and a slot frees when a stream ends.
        """
        f = Federation(hub_settings=S2SSettings(max_streams_per_address=2))
        factory = f.hub.listen_factory()
        first, second = (
            factory.buildProtocol(IPv4Address("TCP", "192.0.2.7", 4000 + n)) for n in range(2)
        )
        for stream in (first, second):
            assert stream is not None
            stream.makeConnection(FakeTLSTransport())
        extra = factory.buildProtocol(IPv4Address("TCP", "192.0.2.7", 4002))
        assert extra is not None
        transport = FakeTLSTransport()
        extra.makeConnection(transport)
        sent = transport.value()
        self.assertIn(b"<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'", sent)
        self.assertIn(b"too many connections from your address", sent)
        self.assertTrue(sent.endswith(b"</stream:stream>"))
        self.assertTrue(transport.disconnecting)
        other = factory.buildProtocol(IPv4Address("TCP", "198.51.100.1", 4000))
        assert other is not None
        other_transport = FakeTLSTransport()
        other.makeConnection(other_transport)
        self.assertFalse(other_transport.disconnecting)
        assert first is not None
        first.connectionLost(Failure(ConnectionDone()))
        again = factory.buildProtocol(IPv4Address("TCP", "192.0.2.7", 4003))
        assert again is not None
        again_transport = FakeTLSTransport()
        again.makeConnection(again_transport)
        self.assertFalse(again_transport.disconnecting)

    def test_negotiation_timeout_setting(self) -> None:
        """
        An inbound connection not authenticated within the configured
        negotiation timeout ends with connection-timeout.
        """
        f = Federation(hub_settings=S2SSettings(limits=StreamLimits(negotiation_timeout=5)))
        stream = f.hub.listen_factory().buildProtocol(None)
        assert stream is not None
        transport = FakeTLSTransport()
        stream.makeConnection(transport)
        f.clock.advance(4.9)
        self.assertFalse(transport.disconnecting)
        f.clock.advance(0.1)
        self.assertIn(b"<connection-timeout", transport.value())
        self.assertTrue(transport.disconnecting)

    def test_policy_hook_failure(self) -> None:
        """
        A policy hook that raises refuses the domain (fails closed) and is
        logged.
        """
        p = pki()

        def hook(local: str, domain: str) -> str | None:
            raise RuntimeError("boom")

        service = S2SService(
            {"hub.test": p.hub}, [p.ca_path], FakeResolver(), Clock(), print, policy_hook=hook
        )
        self.assertEqual(service.refusal_reason("hub.test", "peer.test"), "policy check failed")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class Garbage(Protocol):
    """
    Connects and sends malformed XML.
    """

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(header() + b"<message><<<>>>")


class IsolationTests(SynchronousTestCase):
    """
    One stream's trouble does not affect the others; tenants are separate.
    """

    def test_malformed_stream_isolated(self) -> None:
        """
        A connection sending malformed XML is closed while an established
        stream keeps delivering.
        """
        f = Federation()
        self.successResultOf(f.send(f.peer, message(body="1")))
        f.net.endpoint(*HUB).connect(Factory.forProtocol(Garbage))
        f.net.flush()
        self.assertTrue(f.net.connections[1].closed)
        self.successResultOf(f.send(f.peer, message(body="2")))
        self.assertEqual([str(m.body) for m in f.hub_received], ["1", "2"])
        self.assertFalse(f.net.connections[0].closed)

    def test_certificate_per_tenant(self) -> None:
        """
        A listener serving two tenant domains presents the certificate of
        the domain the stream is addressed to, so EXTERNAL works for both.
        """
        f = Federation()
        f.hub = S2SService(
            {"hub.test": pki().hub, "other.test": pki().other},
            [pki().ca_path],
            f.hub_dns,
            f.clock,
            f.hub_received.append,
            endpoint_factory=f.net.endpoint,
        )
        f.net.listen(*HUB, f.hub.listen_factory())
        f.peer = S2SService(
            {"peer.test": pki().peer},
            [pki().ca_path],
            f.peer_dns,
            f.clock,
            f.peer_received.append,
            settings=S2SSettings(
                static_routes={"hub.test": "10.0.0.1:5269", "other.test": "10.0.0.1:5269"}
            ),
            endpoint_factory=f.net.endpoint,
        )
        self.successResultOf(f.send(f.peer, message(to="bob@hub.test")))
        self.successResultOf(f.send(f.peer, message(to="carol@other.test")))
        self.assertEqual([m["to"] for m in f.hub_received], ["bob@hub.test", "carol@other.test"])
        for local in ("hub.test", "other.test"):
            self.assertEqual(f.outbound(f.peer, "peer.test", local).authentication, "EXTERNAL")
