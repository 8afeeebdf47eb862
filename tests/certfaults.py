"""
Faulty certificates for tests of C{nextplane check} and start-up
validation: expired ones, ones without clientAuth, issued by a
L{nextplane.devcerts} CA (which makes only good ones).
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nextplane.devcerts import CertPaths

__all__ = ["issue"]


def issue(
    directory: Path,
    stem: str,
    domain: str,
    ca: CertPaths,
    *,
    days: tuple[int, int] = (-1, 365),
    usages: tuple[x509.ObjectIdentifier, ...] = (
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ),
) -> CertPaths:
    """
    A certificate for C{domain} signed by C{ca}, valid from C{days[0]} to
    C{days[1]} days from now, with extended key usages C{usages}.
    """
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = ca.load_certificate()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(domain), x509.UniformResourceIdentifier(f"sip:{domain}")]
            ),
            critical=False,
        )
        .sign(ca.load_private_key(), hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(directory / f"{stem}.crt", directory / f"{stem}.key", None)
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths
