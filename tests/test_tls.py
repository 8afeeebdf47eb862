"""
Tests for L{nextplane.tls}, the TLS pieces shared by the federation
connectors.
"""

from __future__ import annotations

from pathlib import Path

from OpenSSL import SSL
from twisted.trial.unittest import SynchronousTestCase

from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.tls import (
    NO_CERTIFICATE,
    Credentials,
    TenantTLS,
    TrustStore,
    alpn_selector,
    load_credentials,
)


class SharedTLSTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.ca = ensure_ca(self.directory)
        self.cert = ensure_domain_cert(self.directory, "acme.test", self.ca)

    def test_credentials_and_trust(self) -> None:
        """Tenant credentials load, and their chain is trusted by a store holding the CA only."""
        credentials = load_credentials(
            {"ACME.test": TenantTLS(str(self.cert.cert), str(self.cert.key))}
        )
        self.assertEqual(list(credentials), ["acme.test"])
        store = TrustStore(paths=[str(self.ca.cert)])
        self.assertTrue(store.check(credentials["acme.test"].certificate).chain_valid)
        self.assertIs(store.check(None), NO_CERTIFICATE)
        rogue = ensure_ca(self.directory / "rogue", name="rogue-ca")
        verdict = TrustStore(paths=[str(rogue.cert)]).check(credentials["acme.test"].certificate)
        self.assertFalse(verdict.chain_valid)
        self.assertTrue(verdict.reason)

    def test_mismatched_key_refused(self) -> None:
        """A key that does not belong to the certificate is refused with a clear error."""
        other = ensure_domain_cert(self.directory, "other.test", self.ca)
        with self.assertRaises(ValueError) as caught:
            Credentials.load(TenantTLS(str(self.cert.cert), str(other.key)))
        self.assertIn("does not match", str(caught.exception))

    def test_alpn_selector(self) -> None:
        """The ALPN callback agrees on its protocol when offered and otherwise carries on without ALPN."""
        select = alpn_selector(b"xmpp-server")
        self.assertEqual(select(None, [b"h2", b"xmpp-server"]), b"xmpp-server")  # type: ignore[arg-type]
        self.assertIs(select(None, [b"h2"]), SSL.NO_OVERLAPPING_PROTOCOLS)  # type: ignore[arg-type]
        self.assertIs(alpn_selector(None)(None, [b"h2"]), SSL.NO_OVERLAPPING_PROTOCOLS)  # type: ignore[arg-type]
