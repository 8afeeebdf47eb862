# -*- test-case-name: tests.sip.test_tls -*-
"""
Tests for L{nextplane.connectors.sip.tls}: RFC 5922 identities and the
tenant selection by SNI.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.tls import (
    SipClientTLS,
    SipServerTLS,
    identity_matches,
    load_credentials,
    sip_identities,
)

from .certs import issue, sip_pki


class IdentityTests(SynchronousTestCase):
    """
    Tests for L{sip_identities} (RFC 5922 section 7.1).
    """

    def test_uri_and_dns(self) -> None:
        """
        C{URI:sip:} SANs and dNSName SANs are identities; the common name is
        not when SANs exist.
        """
        certificate, _ = issue(sip_pki().ca, "cn.example", ("sip.b.test",), ("sip:b.test",))
        self.assertEqual(sip_identities(certificate), frozenset({"b.test", "sip.b.test"}))
        self.assertTrue(identity_matches(certificate, "B.TEST."))
        self.assertFalse(identity_matches(certificate, "cn.example"))

    def test_uri_rules(self) -> None:
        """
        Only C{sip:} URIs without user part count.
        """
        certificate, _ = issue(
            sip_pki().ca,
            "x",
            (),
            ("sip:alice@b.test", "sips:c.test", "https://d.test/", "sip:e.test"),
        )
        self.assertEqual(sip_identities(certificate), frozenset({"e.test"}))

    def test_no_wildcards(self) -> None:
        """
        Wildcard names are never identities (RFC 5922 section 7.2).
        """
        certificate, _ = issue(sip_pki().ca, "*.b.test", ("*.b.test",))
        self.assertEqual(sip_identities(certificate), frozenset())
        self.assertFalse(identity_matches(certificate, "sip.b.test"))

    def test_common_name_without_san(self) -> None:
        """
        The common name is used only when there is no SAN extension.
        """
        certificate, _ = issue(sip_pki().ca, "legacy.b.test", with_san=False)
        self.assertEqual(sip_identities(certificate), frozenset({"legacy.b.test"}))
        wildcard, _ = issue(sip_pki().ca, "*.b.test", with_san=False)
        self.assertEqual(sip_identities(wildcard), frozenset())


class ContextTests(SynchronousTestCase):
    """
    Tests for L{SipServerTLS} and L{SipClientTLS}.
    """

    def test_tenant_for(self) -> None:
        """
        SNI picks the tenant by domain or by any identity of its
        certificate; unknown names get the first tenant.
        """
        pki = sip_pki()
        server = SipServerTLS(load_credentials({"hub.test": pki.hub, "other.test": pki.other}))
        self.assertEqual(server.domains(), ["hub.test", "other.test"])
        self.assertEqual(server.tenant_for("sip.hub.test"), "hub.test")
        self.assertEqual(server.tenant_for(b"SIP.OTHER.TEST"), "other.test")
        self.assertEqual(server.tenant_for("other.test."), "other.test")
        self.assertEqual(server.tenant_for("unknown.test"), "hub.test")
        self.assertEqual(server.tenant_for(None), "hub.test")
        self.assertEqual(server.tenant_for(b"\xff"), "hub.test")

    def test_needs_a_tenant(self) -> None:
        """
        A server without certificates is a configuration error.
        """
        with self.assertRaises(ValueError):
            SipServerTLS({})

    def test_client(self) -> None:
        """
        Client contexts exist only for tenants with a certificate.
        """
        client = SipClientTLS(load_credentials({"hub.test": sip_pki().hub}))
        self.assertTrue(client.has_certificate("HUB.test"))
        self.assertFalse(client.has_certificate("other.test"))
        with self.assertRaises(KeyError):
            client.creator("other.test", "sip.b.test")
