"""
Test PKI for the s2s tests: CAs and domain certificates made in-process.

Keys are EC P-256 (fast). Files are written once per test run to a
temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import datetime
import shutil
import tempfile
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from nextplane.connectors.xmpp.tls import TenantTLS

ID_ON_XMPPADDR = ObjectIdentifier("1.3.6.1.5.5.7.8.5")
ID_ON_DNSSRV = ObjectIdentifier("1.3.6.1.5.5.7.8.7")

_NOW = datetime.datetime.now(datetime.UTC)


def _der_string(tag: int, value: str) -> bytes:
    data = value.encode("utf-8")
    assert len(data) < 128
    return bytes([tag, len(data)]) + data


class CA:
    """
    A certificate authority.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - datetime.timedelta(days=1))
            .not_valid_after(_NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    def issue(
        self,
        common_name: str,
        dns_names: list[str] | None = None,
        xmpp_addrs: list[str] | None = None,
        srv_names: list[str] | None = None,
        not_after: datetime.datetime | None = None,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """
        Issue an end-entity certificate (EKU serverAuth + clientAuth).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names or []]
        names += [x509.OtherName(ID_ON_XMPPADDR, _der_string(0x0C, a)) for a in xmpp_addrs or []]
        names += [x509.OtherName(ID_ON_DNSSRV, _der_string(0x16, s)) for s in srv_names or []]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - datetime.timedelta(days=1))
            .not_valid_after(not_after or (_NOW + datetime.timedelta(days=10)))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key


def write_tenant(
    directory: Path,
    name: str,
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
) -> TenantTLS:
    """
    Write a certificate and key as PEM files; return their L{TenantTLS}.
    """
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TenantTLS(str(cert_path), str(key_path))


class PKI:
    """
    Everything the s2s tests need.

    @ivar ca_path: PEM of the trusted CA.
    @ivar hub: C{hub.test}, trusted.
    @ivar other: C{other.test} (the hub's second domain), trusted.
    @ivar peer: C{peer.test}, trusted.
    @ivar peer_untrusted: C{peer.test}, issued by an untrusted CA.
    @ivar peer_wrong_name: names C{wrong.test}, trusted CA.
    @ivar peer_xmppaddr: C{peer.test} only as id-on-xmppAddr.
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="nextplane-s2s-certs-"))
        atexit.register(shutil.rmtree, self.directory, True)
        self.ca = CA("Test XMPP CA")
        self.rogue_ca = CA("Untrusted CA")
        self.ca_path = str(self.directory / "ca.pem")
        Path(self.ca_path).write_bytes(self.ca.certificate.public_bytes(serialization.Encoding.PEM))
        self.hub = self._tenant("hub", self.ca, "hub.test", ["hub.test"])
        self.other = self._tenant("other", self.ca, "other.test", ["other.test"])
        self.peer = self._tenant("peer", self.ca, "peer.test", ["peer.test"])
        self.peer_untrusted = self._tenant(
            "peer-untrusted", self.rogue_ca, "peer.test", ["peer.test"]
        )
        self.peer_wrong_name = self._tenant("peer-wrong", self.ca, "wrong.test", ["wrong.test"])
        self.peer_xmppaddr = self._tenant(
            "peer-xmppaddr", self.ca, "peer.test", [], xmpp_addrs=["peer.test"]
        )

    def _tenant(
        self,
        name: str,
        ca: CA,
        common_name: str,
        dns_names: list[str],
        xmpp_addrs: list[str] | None = None,
    ) -> TenantTLS:
        certificate, key = ca.issue(common_name, dns_names, xmpp_addrs)
        return write_tenant(self.directory, name, certificate, key)


@cache
def pki() -> PKI:
    """
    The shared test PKI (built on first use).
    """
    return PKI()
