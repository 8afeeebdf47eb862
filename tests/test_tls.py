"""
Tests for L{nextplane.tls}, the TLS pieces shared by the federation
connectors.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from cryptography import x509
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
    load_trusted_certificates,
)

DATA = Path(__file__).parent / "data"


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


class ZeroSerialTests(SynchronousTestCase):
    """
    System bundles hold roots with serial number 0, which cryptography warns
    about (and will refuse); loading them is quiet and keeps them trusted.
    """

    def bundle(self) -> bytes:
        ca = ensure_ca(Path(self.mktemp()))
        return ca.cert.read_bytes() + (DATA / "zero-serial-ca.crt").read_bytes()

    def test_loaded_without_warnings(self) -> None:
        """No warning; both roots are kept."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            certificates = load_trusted_certificates(self.bundle(), "test bundle")
        self.assertEqual(len(certificates), 2)
        self.assertEqual(self.flushWarnings(), [])

    def test_zero_serial_root_still_trusted(self) -> None:
        """A chain to the zero-serial root still validates."""
        path = Path(self.mktemp())
        path.write_bytes(self.bundle())
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            store = TrustStore(paths=[str(path)])
            leaf = x509.load_pem_x509_certificate((DATA / "zero-serial-leaf.crt").read_bytes())
        self.assertTrue(store.check(leaf).chain_valid)

    def test_unreadable_block_skipped(self) -> None:
        """A block neither library reads is skipped; the rest load."""
        broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        self.assertEqual(len(load_trusted_certificates(broken + self.bundle())), 2)
