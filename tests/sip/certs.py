"""
Test PKI for the SIP tests: certificates with RFC 5922 identities
(C{URI:sip:DOMAIN} and C{dNSName} subjectAltNames), made in-process with
the CAs of L{tests.xmpp.certs}.
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
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nextplane.connectors.sip.tls import TenantTLS
from tests.xmpp.certs import CA, write_tenant

_NOW = datetime.datetime.now(datetime.UTC)


def issue(
    ca: CA,
    common_name: str,
    dns_names: tuple[str, ...] = (),
    sip_uris: tuple[str, ...] = (),
    with_san: bool = True,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """
    Issue an end-entity certificate (EKU serverAuth + clientAuth) with
    C{dNSName} and C{URI} subjectAltNames; C{with_san=False} leaves the
    extension out (identity from the common name only).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(days=1))
        .not_valid_after(_NOW + datetime.timedelta(days=10))
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    names += [x509.UniformResourceIdentifier(u) for u in sip_uris]
    if with_san and names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


class SipPKI:
    """
    Everything the SIP transport tests need.

    @ivar ca_path: PEM of the trusted CA.
    @ivar hub: Tenant C{hub.test}: C{URI:sip:hub.test}, C{DNS:sip.hub.test}.
    @ivar other: Tenant C{other.test}: C{DNS:other.test}, C{DNS:sip.other.test}.
    @ivar peer: C{peer.test}: C{URI:sip:peer.test}, C{DNS:sip.peer.test}.
    @ivar peer_edge: A Microsoft-style Edge: only C{DNS:sip.peer.test}.
    @ivar peer_wildcard: Only C{DNS:*.peer.test}.
    @ivar peer_untrusted: C{peer.test} from an untrusted CA.
    @ivar peer_wrong: Names C{wrong.test}.
    """

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="nextplane-sip-certs-"))
        atexit.register(shutil.rmtree, self.directory, True)
        self.ca = CA("Test SIP CA")
        self.rogue_ca = CA("Untrusted SIP CA")
        self.ca_path = str(self.directory / "ca.pem")
        Path(self.ca_path).write_bytes(self.ca.certificate.public_bytes(serialization.Encoding.PEM))
        self.hub = self._tenant("hub", "sip.hub.test", ("sip.hub.test",), ("sip:hub.test",))
        self.other = self._tenant("other", "other.test", ("other.test", "sip.other.test"))
        self.peer = self._tenant("peer", "sip.peer.test", ("sip.peer.test",), ("sip:peer.test",))
        self.peer_edge = self._tenant("peer-edge", "sip.peer.test", ("sip.peer.test",))
        self.peer_wildcard = self._tenant("peer-wildcard", "*.peer.test", ("*.peer.test",))
        self.peer_untrusted = self._tenant(
            "peer-untrusted", "peer.test", ("sip.peer.test",), ("sip:peer.test",), ca=self.rogue_ca
        )
        self.peer_wrong = self._tenant("peer-wrong", "wrong.test", ("wrong.test",))

    def _tenant(
        self,
        name: str,
        common_name: str,
        dns_names: tuple[str, ...] = (),
        sip_uris: tuple[str, ...] = (),
        ca: CA | None = None,
    ) -> TenantTLS:
        certificate, key = issue(ca or self.ca, common_name, dns_names, sip_uris)
        return write_tenant(self.directory, name, certificate, key)


@cache
def sip_pki() -> SipPKI:
    """
    The shared SIP test PKI (built on first use).
    """
    return SipPKI()
