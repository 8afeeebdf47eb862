"""
Tests for L{nextplane.devcerts}.
"""

from __future__ import annotations

import datetime
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import SSL, crypto
from service_identity import CertificateError, VerificationError
from service_identity.cryptography import verify_certificate_hostname
from twisted.trial.unittest import SynchronousTestCase

from nextplane import devcerts


def _store_for(ca: devcerts.CertPaths) -> crypto.X509Store:
    store = crypto.X509Store()
    store.add_cert(crypto.X509.from_cryptography(ca.load_certificate()))
    return store


def _chain_verifies(leaf: devcerts.CertPaths, ca: devcerts.CertPaths) -> bool:
    context = crypto.X509StoreContext(
        _store_for(ca), crypto.X509.from_cryptography(leaf.load_certificate())
    )
    try:
        context.verify_certificate()
    except crypto.X509StoreContextError:
        return False
    return True


def _san(paths: devcerts.CertPaths) -> x509.SubjectAlternativeName:
    cert = paths.load_certificate()
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _tls_context(
    method_side: str, own: devcerts.CertPaths, ca: devcerts.CertPaths, verified: list[bool]
) -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate_file(str(own.cert))
    context.use_privatekey_file(str(own.key))
    context.load_verify_locations(str(ca.cert))

    def verify(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
        # Record, never abort, so both sides finish and report their result.
        verified.append(bool(ok))
        return True

    mode = SSL.VERIFY_PEER
    if method_side == "server":
        mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
    context.set_verify(mode, verify)
    return context


def _handshake(
    server: devcerts.CertPaths, client: devcerts.CertPaths, ca: devcerts.CertPaths
) -> tuple[list[bool], list[bool]]:
    """Run a mutual-TLS handshake in memory; return each side's verify results."""
    server_ok: list[bool] = []
    client_ok: list[bool] = []
    s = SSL.Connection(_tls_context("server", server, ca, server_ok), None)
    c = SSL.Connection(_tls_context("client", client, ca, client_ok), None)
    s.set_accept_state()
    c.set_connect_state()
    done = {"s": False, "c": False}
    for _ in range(20):
        for name, conn in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    conn.do_handshake()
                    done[name] = True
                except SSL.WantReadError:
                    pass
        for src, dst in ((c, s), (s, c)):
            try:
                data = src.bio_read(65536)
            except SSL.WantReadError:
                continue
            dst.bio_write(data)
        if all(done.values()):
            break
    if not all(done.values()):
        raise AssertionError("TLS handshake did not finish")
    return server_ok, client_ok


class EnsureCaTests(SynchronousTestCase):
    """
    Tests for L{devcerts.ensure_ca}.
    """

    def setUp(self) -> None:
        self.directory = Path(self.mktemp())

    def test_creates_ca(self) -> None:
        """A new CA is self-signed, a CA, may sign certificates and has no combined file."""
        ca = devcerts.ensure_ca(self.directory)
        self.assertEqual(ca.cert, self.directory / "ca.crt")
        self.assertEqual(ca.key, self.directory / "ca.key")
        self.assertIsNone(ca.combined)
        cert = ca.load_certificate()
        self.assertEqual(cert.issuer, cert.subject)
        cert.verify_directly_issued_by(cert)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        self.assertTrue(constraints.critical)
        self.assertTrue(constraints.value.ca)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        self.assertTrue(usage.key_cert_sign)

    def test_key_is_private(self) -> None:
        """The CA key file is readable by its owner only."""
        ca = devcerts.ensure_ca(self.directory)
        self.assertEqual(ca.key.stat().st_mode & 0o777, 0o600)

    def test_reused(self) -> None:
        """A second call keeps the existing CA files untouched."""
        first = devcerts.ensure_ca(self.directory)
        before = first.cert.read_bytes(), first.key.read_bytes()
        second = devcerts.ensure_ca(self.directory)
        self.assertEqual((second.cert.read_bytes(), second.key.read_bytes()), before)

    def test_force(self) -> None:
        """C{force=True} makes a new CA key and certificate."""
        first = devcerts.ensure_ca(self.directory)
        before = first.key.read_bytes()
        devcerts.ensure_ca(self.directory, force=True)
        self.assertNotEqual(first.key.read_bytes(), before)

    def test_near_expiry_regenerated(self) -> None:
        """A CA that expires within C{RENEW_BEFORE} is replaced."""
        ca = devcerts.ensure_ca(self.directory)
        before = ca.cert.read_bytes()
        self.patch(devcerts, "RENEW_BEFORE", datetime.timedelta(days=4000))
        devcerts.ensure_ca(self.directory)
        self.assertNotEqual(ca.cert.read_bytes(), before)

    def test_second_ca(self) -> None:
        """A different C{name} makes an unrelated CA next to the first."""
        ca = devcerts.ensure_ca(self.directory)
        rogue = devcerts.ensure_ca(self.directory, name="rogue-ca")
        self.assertEqual(rogue.cert, self.directory / "rogue-ca.crt")
        self.assertNotEqual(ca.load_certificate().subject, rogue.load_certificate().subject)


class EnsureDomainCertTests(SynchronousTestCase):
    """
    Tests for L{devcerts.ensure_domain_cert}.
    """

    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.ca = devcerts.ensure_ca(self.directory)

    def test_paths(self) -> None:
        """Files are named after the domain: .crt, .key and a combined .pem."""
        paths = devcerts.ensure_domain_cert(self.directory, "prosody1.test", self.ca)
        self.assertEqual(paths.cert, self.directory / "prosody1.test.crt")
        self.assertEqual(paths.key, self.directory / "prosody1.test.key")
        self.assertEqual(paths.combined, self.directory / "prosody1.test.pem")
        assert paths.combined is not None
        self.assertEqual(
            paths.combined.read_bytes(), paths.cert.read_bytes() + paths.key.read_bytes()
        )
        self.assertEqual(paths.key.stat().st_mode & 0o777, 0o600)
        self.assertEqual(paths.combined.stat().st_mode & 0o777, 0o600)

    def test_subject_alt_names(self) -> None:
        """The SAN holds dNSName, both XMPP SRVNames and the sip URI, and no xmppAddr."""
        paths = devcerts.ensure_domain_cert(self.directory, "prosody1.test", self.ca)
        san = _san(paths)
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["prosody1.test"])
        self.assertEqual(
            san.get_values_for_type(x509.UniformResourceIdentifier), ["sip:prosody1.test"]
        )
        others = [
            (o.type_id.dotted_string, o.value) for o in san.get_values_for_type(x509.OtherName)
        ]
        self.assertEqual(
            others,
            [
                # IA5String (tag 0x16), DER.
                ("1.3.6.1.5.5.7.8.7", b"\x16\x1a_xmpp-server.prosody1.test"),
                ("1.3.6.1.5.5.7.8.7", b"\x16\x1a_xmpp-client.prosody1.test"),
            ],
        )

    def test_xmpp_addr(self) -> None:
        """C{xmpp_addr=True} adds an id-on-xmppAddr UTF8String otherName."""
        paths = devcerts.ensure_domain_cert(
            self.directory, "prosody1.test", self.ca, xmpp_addr=True
        )
        others = [
            (o.type_id.dotted_string, o.value)
            for o in _san(paths).get_values_for_type(x509.OtherName)
        ]
        # UTF8String (tag 0x0c), DER.
        self.assertIn(("1.3.6.1.5.5.7.8.5", b"\x0c\x0dprosody1.test"), others)
        self.assertEqual(len(others), 3)

    def test_long_name_der_length(self) -> None:
        """Names of 128 bytes or more use the DER long length form and still parse."""
        domain = ("a" * 60 + ".") * 2 + "test"  # 126 bytes; SRVNames are 139
        paths = devcerts.ensure_domain_cert(self.directory, domain, self.ca, xmpp_addr=True)
        values = [o.value for o in _san(paths).get_values_for_type(x509.OtherName)]
        self.assertIn(b"\x0c\x7e" + domain.encode(), values)
        self.assertIn(b"\x16\x81\x8b_xmpp-server." + domain.encode(), values)

    def test_extended_key_usage(self) -> None:
        """The certificate may be used as TLS server and as TLS client."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        cert = paths.load_certificate()
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        self.assertEqual(
            set(eku), {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        )
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        self.assertFalse(constraints.ca)

    def test_validity(self) -> None:
        """The certificate is valid now and for about a year."""
        cert = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca).load_certificate()
        now = datetime.datetime.now(datetime.UTC)
        self.assertLess(cert.not_valid_before_utc, now)
        lifetime = cert.not_valid_after_utc - now
        self.assertGreater(lifetime, datetime.timedelta(days=360))
        self.assertLess(lifetime, datetime.timedelta(days=367))

    def test_chain_verifies(self) -> None:
        """The certificate verifies against its CA with pyOpenSSL."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        self.assertTrue(_chain_verifies(paths, self.ca))

    def test_hostname_verifies(self) -> None:
        """service_identity accepts the certificate for its domain only."""
        cert = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca).load_certificate()
        verify_certificate_hostname(cert, "hub.test")
        self.assertRaises(
            (VerificationError, CertificateError),
            verify_certificate_hostname,
            cert,
            "other.test",
        )

    def test_mutual_tls_handshake(self) -> None:
        """Two certificates from the CA complete a mutually verified TLS handshake."""
        server = devcerts.ensure_domain_cert(self.directory, "a.test", self.ca)
        client = devcerts.ensure_domain_cert(self.directory, "b.test", self.ca)
        server_ok, client_ok = _handshake(server, client, self.ca)
        self.assertTrue(server_ok and all(server_ok), server_ok)
        self.assertTrue(client_ok and all(client_ok), client_ok)

    def test_mutual_tls_rejects_rogue_client(self) -> None:
        """The handshake check notices a client certificate from another CA."""
        rogue = devcerts.ensure_ca(self.directory, name="rogue-ca")
        server = devcerts.ensure_domain_cert(self.directory, "a.test", self.ca)
        client = devcerts.ensure_domain_cert(self.directory, "b.test", rogue)
        server_ok, _ = _handshake(server, client, self.ca)
        self.assertIn(False, server_ok)

    def test_untrusted_ca(self) -> None:
        """A certificate from a second CA does not verify against the first."""
        rogue = devcerts.ensure_ca(self.directory, name="rogue-ca")
        paths = devcerts.ensure_domain_cert(
            self.directory, "hub.test", rogue, stem="hub.test-rogue"
        )
        self.assertEqual(paths.cert, self.directory / "hub.test-rogue.crt")
        self.assertTrue(_chain_verifies(paths, rogue))
        self.assertFalse(_chain_verifies(paths, self.ca))

    def test_wrong_identity(self) -> None:
        """C{identity} names another domain in a certificate stored under C{domain}."""
        paths = devcerts.ensure_domain_cert(
            self.directory, "prosody1.test", self.ca, identity="wrong.test"
        )
        self.assertEqual(paths.cert, self.directory / "prosody1.test.crt")
        self.assertEqual(_san(paths).get_values_for_type(x509.DNSName), ["wrong.test"])
        self.assertTrue(_chain_verifies(paths, self.ca))

    def test_ec_default(self) -> None:
        """Keys are EC P-256 by default."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        key = paths.load_private_key()
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self.assertEqual(key.curve.name, "secp256r1")

    def test_rsa(self) -> None:
        """C{key_type="rsa"} makes an RSA 2048 key that still chains to an EC CA."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca, key_type="rsa")
        key = paths.load_private_key()
        assert isinstance(key, rsa.RSAPrivateKey)
        self.assertEqual(key.key_size, 2048)
        self.assertTrue(_chain_verifies(paths, self.ca))

    def test_idempotent(self) -> None:
        """A second call keeps existing certificate and key byte for byte."""
        first = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        before = first.cert.read_bytes(), first.key.read_bytes()
        devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        self.assertEqual((first.cert.read_bytes(), first.key.read_bytes()), before)

    def test_force(self) -> None:
        """C{force=True} regenerates the certificate and key."""
        first = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        before = first.key.read_bytes()
        devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca, force=True)
        self.assertNotEqual(first.key.read_bytes(), before)

    def test_new_ca_regenerates(self) -> None:
        """A certificate signed by a replaced CA is reissued by the new one."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        new_ca = devcerts.ensure_ca(self.directory, force=True)
        self.assertFalse(_chain_verifies(paths, new_ca))
        devcerts.ensure_domain_cert(self.directory, "hub.test", new_ca)
        self.assertTrue(_chain_verifies(paths, new_ca))

    def test_changed_xmpp_addr_regenerates(self) -> None:
        """Asking for the xmppAddr on an existing certificate without one reissues it."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        before = paths.cert.read_bytes()
        devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca, xmpp_addr=True)
        self.assertNotEqual(paths.cert.read_bytes(), before)

    def test_changed_identity_regenerates(self) -> None:
        """Asking for another identity under the same files reissues the certificate."""
        paths = devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca)
        devcerts.ensure_domain_cert(self.directory, "hub.test", self.ca, identity="x.test")
        self.assertEqual(_san(paths).get_values_for_type(x509.DNSName), ["x.test"])

    def test_mismatched_key_regenerates(self) -> None:
        """A key file that does not match the certificate causes a reissue."""
        a = devcerts.ensure_domain_cert(self.directory, "a.test", self.ca)
        b = devcerts.ensure_domain_cert(self.directory, "b.test", self.ca)
        b.key.write_bytes(a.key.read_bytes())
        devcerts.ensure_domain_cert(self.directory, "b.test", self.ca)
        self.assertNotEqual(b.key.read_bytes(), a.key.read_bytes())
        self.assertTrue(_chain_verifies(b, self.ca))


class MainTests(SynchronousTestCase):
    """
    Tests for the L{devcerts.main} command line.
    """

    def run_main(self, *argv: str) -> str:
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(devcerts.main(list(argv)), 0)
        return out.getvalue()

    def test_domains(self) -> None:
        """The CLI writes a CA and one certificate per domain."""
        directory = Path(self.mktemp())
        output = self.run_main("--out", str(directory), "acme.test", "Hub.Test")
        names = sorted(p.name for p in directory.iterdir())
        self.assertEqual(
            names,
            [
                "acme.test.crt",
                "acme.test.key",
                "acme.test.pem",
                "ca.crt",
                "ca.key",
                "hub.test.crt",
                "hub.test.key",
                "hub.test.pem",
            ],
        )
        self.assertIn("hub.test.crt", output)

    def test_identity_and_ca_name(self) -> None:
        """C{--identity}, C{--stem} and C{--ca-name} make a wrong-name cert from another CA."""
        directory = Path(self.mktemp())
        self.run_main(
            "--out",
            str(directory),
            "--ca-name",
            "rogue",
            "--identity",
            "wrong.test",
            "--stem",
            "bad",
            "hub.test",
        )
        paths = devcerts.CertPaths(directory / "bad.crt", directory / "bad.key", None)
        self.assertEqual(_san(paths).get_values_for_type(x509.DNSName), ["wrong.test"])
        self.assertTrue((directory / "rogue.crt").exists())

    def test_identity_needs_one_domain(self) -> None:
        """C{--identity} with several domains is a usage error."""
        with redirect_stderr(io.StringIO()):
            exc = self.assertRaises(
                SystemExit,
                devcerts.main,
                ["--out", self.mktemp(), "--identity", "x.test", "a.test", "b.test"],
            )
        self.assertEqual(exc.code, 2)

    def test_rejects_ip(self) -> None:
        """An IP address is not accepted as a domain."""
        with redirect_stderr(io.StringIO()):
            self.assertRaises(SystemExit, devcerts.main, ["--out", self.mktemp(), "127.0.0.1"])
