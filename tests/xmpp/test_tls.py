# -*- test-case-name: tests.xmpp.test_tls -*-
"""
Tests for L{nextplane.connectors.xmpp.tls}, with real TLS handshakes in
memory.
"""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from OpenSSL import SSL
from twisted.internet.interfaces import IHandshakeListener, IOpenSSLClientConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from nextplane.connectors.xmpp.tls import (
    NO_CERTIFICATE,
    ClientTLS,
    Credentials,
    ServerTLS,
    TenantTLS,
    TrustStore,
    identity_matches,
    load_credentials,
    peer_certificates,
)
from tests.xmpp.certs import CA, pki
from tests.xmpp.fakenet import Network


def _certificate(**kwargs: Any) -> x509.Certificate:
    return pki().ca.issue("test", **kwargs)[0]


class IdentityTests(SynchronousTestCase):
    """
    Tests for L{identity_matches} (RFC 6120 section 13.7.1.2).
    """

    def test_dns_name(self) -> None:
        """
        A dNSName equal to the domain matches, case-insensitively.
        """
        certificate = _certificate(dns_names=["peer.test"])
        self.assertTrue(identity_matches(certificate, "PEER.test"))
        self.assertFalse(identity_matches(certificate, "other.test"))

    def test_wildcard(self) -> None:
        """
        A wildcard dNSName matches one label only.
        """
        certificate = _certificate(dns_names=["*.peer.test"])
        self.assertTrue(identity_matches(certificate, "chat.peer.test"))
        self.assertFalse(identity_matches(certificate, "peer.test"))
        self.assertFalse(identity_matches(certificate, "a.chat.peer.test"))

    def test_srv_id(self) -> None:
        """
        An SRV-ID for _xmpp-server matches; one for another service does not.
        """
        self.assertTrue(
            identity_matches(_certificate(srv_names=["_xmpp-server.peer.test"]), "peer.test")
        )
        self.assertFalse(
            identity_matches(_certificate(srv_names=["_xmpp-client.peer.test"]), "peer.test")
        )

    def test_xmpp_addr(self) -> None:
        """
        An id-on-xmppAddr equal to the domain matches.
        """
        self.assertTrue(identity_matches(_certificate(xmpp_addrs=["peer.test"]), "peer.test"))
        self.assertFalse(
            identity_matches(_certificate(xmpp_addrs=["alice@peer.test"]), "peer.test")
        )

    def test_common_name_ignored(self) -> None:
        """
        The subject CN alone does not match.
        """
        certificate = pki().ca.issue("peer.test")[0]
        self.assertFalse(identity_matches(certificate, "peer.test"))


class TrustStoreTests(SynchronousTestCase):
    """
    Tests for L{TrustStore}.
    """

    def setUp(self) -> None:
        self.store = TrustStore(paths=[pki().ca_path])

    def test_trusted(self) -> None:
        """
        A certificate from the configured CA validates.
        """
        certificate = _certificate(dns_names=["peer.test"])
        check = self.store.check(certificate)
        self.assertTrue(check.chain_valid)
        self.assertTrue(check.valid_for("peer.test"))
        self.assertIsNone(check.problem_for("peer.test"))
        self.assertIn("not valid for", check.problem_for("wrong.test") or "")

    def test_untrusted(self) -> None:
        """
        A certificate from another CA does not.
        """
        certificate = pki().rogue_ca.issue("x", dns_names=["peer.test"])[0]
        check = self.store.check(certificate)
        self.assertFalse(check.valid_for("peer.test"))
        self.assertIn("not trusted", check.problem_for("peer.test") or "")

    def test_intermediate(self) -> None:
        """
        A chain through an intermediate the peer sent validates.
        """
        root = pki().ca
        intermediate = CA("Intermediate")
        # Re-issue the intermediate's certificate from the root.
        from cryptography.hazmat.primitives import hashes

        inter_cert = (
            x509.CertificateBuilder()
            .subject_name(intermediate.certificate.subject)
            .issuer_name(root.certificate.subject)
            .public_key(intermediate.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(intermediate.certificate.not_valid_before_utc)
            .not_valid_after(intermediate.certificate.not_valid_after_utc)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(root.key, hashes.SHA256())
        )
        intermediate.certificate = inter_cert
        leaf = intermediate.issue("peer.test", dns_names=["peer.test"])[0]
        self.assertFalse(self.store.check(leaf).chain_valid)
        self.assertTrue(self.store.check(leaf, [inter_cert]).valid_for("peer.test"))

    def test_expired(self) -> None:
        """
        Validation as of a time after expiry fails.
        """
        certificate = _certificate(dns_names=["peer.test"])
        later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20)
        self.assertFalse(self.store.check(certificate, when=later).chain_valid)

    def test_no_certificate(self) -> None:
        """
        No certificate is not valid for anything.
        """
        self.assertIs(self.store.check(None), NO_CERTIFICATE)
        self.assertFalse(NO_CERTIFICATE.valid_for("peer.test"))


class CredentialsTests(SynchronousTestCase):
    """
    Tests for loading credentials.
    """

    def test_mismatched_key(self) -> None:
        """
        A key that does not belong to the certificate is refused.
        """
        tenant = TenantTLS(pki().hub.certificate, pki().peer.private_key)
        self.assertRaises(ValueError, Credentials.load, tenant)

    def test_load(self) -> None:
        """
        PEM files load, keyed by lower-case domain.
        """
        loaded = load_credentials({"Hub.Test": pki().hub})
        self.assertEqual(list(loaded), ["hub.test"])


@implementer(IHandshakeListener)
class Probe(Protocol):
    """
    Starts TLS on connect and records the handshake.
    """

    def __init__(self, creator: Any) -> None:
        self.creator = creator
        self.done = False

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.startTLS(self.creator)  # type: ignore[attr-defined]

    def handshakeCompleted(self) -> None:
        self.done = True


@implementer(IOpenSSLClientConnectionCreator)
class _OtherALPN:
    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def clientConnectionForTLS(self, tls: object) -> SSL.Connection:
        connection = SSL.Connection(self.context, None)
        connection.set_tlsext_host_name(b"hub.test")
        connection.set_alpn_protos([b"h2"])
        return connection


class HandshakeTests(SynchronousTestCase):
    """
    Real handshakes between L{ServerTLS} and L{ClientTLS}.
    """

    def setUp(self) -> None:
        p = pki()
        self.server_tls = ServerTLS(load_credentials({"hub.test": p.hub, "other.test": p.other}))
        self.network = Network(Clock())

    def connect(self, client_creator: Any, server_domain: str = "hub.test") -> tuple[Probe, Probe]:
        server = Probe(self.server_tls.creator(server_domain))
        self.network.listen("10.0.0.1", 5269, Factory.forProtocol(lambda: server))
        client = Probe(client_creator)
        self.network.endpoint("10.0.0.1", 5269).connect(Factory.forProtocol(lambda: client))
        self.network.flush()
        return server, client

    def test_client_certificate(self) -> None:
        """
        The client presents its tenant certificate; the server sees it and
        the client sees the server's, over TLS 1.2+ with ALPN xmpp-server.
        """
        client_tls = ClientTLS(load_credentials({"peer.test": pki().peer}))
        server, client = self.connect(client_tls.creator("peer.test", "hub.test"))
        self.assertTrue(server.done and client.done)
        leaf, _ = peer_certificates(server.transport)
        assert leaf is not None
        self.assertTrue(identity_matches(leaf, "peer.test"))
        server_leaf, _ = peer_certificates(client.transport)
        assert server_leaf is not None
        self.assertTrue(identity_matches(server_leaf, "hub.test"))
        connection = client.transport.getHandle()  # type: ignore[union-attr]
        self.assertIn(connection.get_protocol_version_name(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(connection.get_alpn_proto_negotiated(), b"xmpp-server")

    def test_sni_selects_certificate(self) -> None:
        """
        SNI for the hub's other domain switches to that domain's
        certificate on the same listener.
        """
        client_tls = ClientTLS({})
        _, client = self.connect(client_tls.creator("peer.test", "other.test"))
        leaf, _ = peer_certificates(client.transport)
        assert leaf is not None
        self.assertTrue(identity_matches(leaf, "other.test"))

    def test_no_client_certificate(self) -> None:
        """
        A client without a certificate still completes the handshake: the
        server requests one but does not require it.
        """
        server, client = self.connect(ClientTLS({}).creator("nocert.test", "hub.test"))
        self.assertTrue(server.done and client.done)
        self.assertEqual(peer_certificates(server.transport), (None, []))

    def test_untrusted_client_certificate(self) -> None:
        """
        An untrusted client certificate does not fail the handshake; it is
        judged afterwards.
        """
        client_tls = ClientTLS(load_credentials({"peer.test": pki().peer_untrusted}))
        server, client = self.connect(client_tls.creator("peer.test", "hub.test"))
        self.assertTrue(server.done and client.done)
        leaf, chain = peer_certificates(server.transport)
        check = TrustStore(paths=[pki().ca_path]).check(leaf, chain)
        self.assertFalse(check.chain_valid)

    def test_other_alpn(self) -> None:
        """
        A client offering only other ALPN protocols still gets a connection
        (without ALPN) instead of a handshake failure.
        """
        context = SSL.Context(SSL.TLS_METHOD)
        server, client = self.connect(_OtherALPN(context))
        self.assertTrue(server.done and client.done)
