# -*- test-case-name: tests.test_devcerts -*-
"""
Development certificates: a throwaway CA and per-domain certificates.

One certificate per domain serves every federation protocol the hub speaks:

  - XMPP s2s and c2s (RFC 6120 section 13.7, RFC 7590): C{dNSName} and
    C{id-on-dnsSRV} (SRVName, RFC 4985) otherNames for
    C{_xmpp-server.DOMAIN} and C{_xmpp-client.DOMAIN}; an C{id-on-xmppAddr}
    otherName only on request (C{xmpp_addr=True}, see below);
  - SIP (RFC 5922): C{dNSName} and C{URI:sip:DOMAIN}.

Why no xmppAddr by default: ejabberd 23.01 (C{erlang-p1-xmpp} 1.6.1; the
same code is in a 2025 C{processone/xmpp} revision) crashes its inbound s2s process when
a peer doing SASL EXTERNAL presents a certificate with a bare-domain
xmppAddr (C{xmpp_stream_pkix:get_domains_from_san/1} returns a binary
instead of a list inside C{lists:flatmap}: C{badarg} in C{++}), so the peer
can never authenticate to ejabberd by certificate.  dNSName and SRVName are
what Prosody and ejabberd match on (xmppAddr is optional in RFC 6120).

Both C{serverAuth} and C{clientAuth} extended key usages are set because an
s2s/SIP peer presents the same certificate as TLS server and as TLS client.
Keys are EC P-256 by default (accepted by Prosody/LuaSec, ejabberd/fast_tls,
Kamailio, baresip and slixmpp); RSA 2048 on request.

Files are idempotent: an existing certificate is kept while it is still valid
for more than L{RENEW_BEFORE}, matches its key, is signed by the given CA and
names the requested identity; otherwise (or with C{force}) it is rebuilt.

For negative tests, L{ensure_ca} can make a second, unrelated CA (C{name}),
and L{ensure_domain_cert} can issue a certificate for a name other than the
domain whose files it writes (C{identity}).

Command line::

    python -m nextplane.devcerts --out var/certs acme.test hub.test
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = [
    "ID_ON_DNSSRV",
    "ID_ON_XMPPADDR",
    "RENEW_BEFORE",
    "CertPaths",
    "KeyType",
    "ensure_ca",
    "ensure_domain_cert",
    "main",
]

#: id-on-xmppAddr (RFC 6120 section 13.7.1.4), value a UTF8String.
ID_ON_XMPPADDR = ObjectIdentifier("1.3.6.1.5.5.7.8.5")
#: id-on-dnsSRV, the SRVName of RFC 4985, value an IA5String.
ID_ON_DNSSRV = ObjectIdentifier("1.3.6.1.5.5.7.8.7")

#: Certificates closer than this to expiry are regenerated.
RENEW_BEFORE = datetime.timedelta(days=30)

CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=365)
# Backdate notBefore so peers with a slightly slow clock accept new certs.
BACKDATE = datetime.timedelta(hours=1)

KeyType = Literal["ec", "rsa"]
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertPaths:
    """
    Where one certificate and its key live.

    @ivar cert: PEM certificate (leaf only).
    @ivar key: PEM private key (PKCS#8, unencrypted, mode 0600).
    @ivar combined: PEM with certificate then key, the form ejabberd
        (C{certfiles}) and baresip (C{sip_certificate}) want; C{None} for a
        CA, so that no file that looks like a CA bundle holds its key.
    """

    cert: Path
    key: Path
    combined: Path | None

    def load_certificate(self) -> x509.Certificate:
        """
        Read and parse the certificate.

        @return: the certificate.
        """
        return x509.load_pem_x509_certificate(self.cert.read_bytes())

    def load_private_key(self) -> _PrivateKey:
        """
        Read and parse the private key.

        @return: the EC or RSA private key.
        @raise ValueError: the file holds another kind of key.
        """
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{self.key}: unsupported key type {type(key).__name__}")
        return key


def _paths(directory: Path, stem: str, *, combined: bool) -> CertPaths:
    return CertPaths(
        cert=directory / f"{stem}.crt",
        key=directory / f"{stem}.key",
        combined=directory / f"{stem}.pem" if combined else None,
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key(key_type: KeyType) -> _PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der_string(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(value)) + value


def _utf8_string(text: str) -> bytes:
    """DER UTF8String (tag 12)."""
    return _der_string(0x0C, text.encode("utf-8"))


def _ia5_string(text: str) -> bytes:
    """DER IA5String (tag 22); raises for non-ASCII as IA5 is 7-bit."""
    return _der_string(0x16, text.encode("ascii"))


def _subject_alt_names(identity: str, xmpp_addr: bool) -> list[x509.GeneralName]:
    """
    The SAN entries for one domain: DNS, (xmppAddr,) SRVNames, sip URI.
    """
    names: list[x509.GeneralName] = [x509.DNSName(identity)]
    if xmpp_addr:
        names.append(x509.OtherName(ID_ON_XMPPADDR, _utf8_string(identity)))
    names += [
        x509.OtherName(ID_ON_DNSSRV, _ia5_string(f"_xmpp-server.{identity}")),
        x509.OtherName(ID_ON_DNSSRV, _ia5_string(f"_xmpp-client.{identity}")),
        x509.UniformResourceIdentifier(f"sip:{identity}"),
    ]
    return names


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _write(paths: CertPaths, cert: x509.Certificate, key: _PrivateKey) -> None:
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _atomic_write(paths.key, key_pem, 0o600)
    _atomic_write(paths.cert, cert_pem)
    if paths.combined is not None:
        _atomic_write(paths.combined, cert_pem + key_pem, 0o600)


def _public_bytes(key: _PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _usable(paths: CertPaths) -> tuple[x509.Certificate, _PrivateKey] | None:
    """
    Load a certificate and key if both exist, match and stay valid long enough.
    """
    if not (paths.cert.exists() and paths.key.exists()):
        return None
    if paths.combined is not None and not paths.combined.exists():
        return None
    try:
        cert = paths.load_certificate()
        key = paths.load_private_key()
    except ValueError:
        return None
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != _public_bytes(key):
        return None
    now = _now()
    if cert.not_valid_before_utc > now or cert.not_valid_after_utc - now < RENEW_BEFORE:
        return None
    return cert, key


def _signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _key_matches_type(key: _PrivateKey, key_type: KeyType) -> bool:
    return isinstance(key, rsa.RSAPrivateKey) == (key_type == "rsa")


def _names_match(cert: x509.Certificate, identity: str, xmpp_addr: bool) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return list(san) == _subject_alt_names(identity, xmpp_addr)


def ensure_ca(
    directory: Path | str,
    *,
    name: str = "ca",
    common_name: str | None = None,
    key_type: KeyType = "ec",
    force: bool = False,
) -> CertPaths:
    """
    Create a self-signed development CA in C{directory}, or reuse it.

    @param directory: where C{NAME.crt} and C{NAME.key} go; created if
        missing.
    @param name: file stem; use another one (e.g. C{"rogue-ca"}) for a second,
        untrusted CA in the same directory.
    @param common_name: subject CN; defaults to C{"nextplane dev CA (NAME)"}.
    @param key_type: C{"ec"} (P-256) or C{"rsa"} (2048 bits).
    @param force: regenerate even if a usable CA exists.  Certificates
        signed by the old CA are then rebuilt by L{ensure_domain_cert}.
    @return: the CA's paths.
    """
    paths = _paths(Path(directory), name, combined=False)
    cn = common_name or f"nextplane dev CA ({name})"
    existing = None if force else _usable(paths)
    if existing is not None:
        cert, key = existing
        subject_cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        if (
            is_ca
            and subject_cn
            and subject_cn[0].value == cn
            and _key_matches_type(key, key_type)
            and _signed_by(cert, cert)
        ):
            return paths

    key = _new_key(key_type)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nextplane development"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write(paths, cert, key)
    return paths


def ensure_domain_cert(
    directory: Path | str,
    domain: str,
    ca: CertPaths,
    *,
    identity: str | None = None,
    stem: str | None = None,
    key_type: KeyType = "ec",
    xmpp_addr: bool = False,
    force: bool = False,
) -> CertPaths:
    """
    Create (or reuse) a certificate for C{domain} signed by C{ca}.

    The certificate has subject CN C{identity}, SAN C{DNS:identity},
    SRVNames C{_xmpp-server.identity} and C{_xmpp-client.identity},
    C{URI:sip:identity} (and C{xmppAddr} C{identity} if asked), EKU
    serverAuth and clientAuth, and is valid for about a year.

    @param directory: where C{STEM.crt}, C{STEM.key} and C{STEM.pem} go.
    @param domain: the domain the files are for.
    @param ca: the issuing CA, from L{ensure_ca}; use a second CA for
        "untrusted CA" tests.
    @param identity: the name written into the certificate; defaults to
        C{domain}.  Pass another name for "wrong name" tests.
    @param stem: file stem; defaults to C{domain}.
    @param key_type: C{"ec"} (P-256) or C{"rsa"} (2048 bits).
    @param xmpp_addr: add an C{id-on-xmppAddr} otherName; off by default
        because it breaks SASL EXTERNAL into ejabberd (module docstring).
    @param force: regenerate even if a usable certificate exists.
    @return: the certificate's paths.
    """
    name = (identity or domain).lower()
    paths = _paths(Path(directory), stem or domain, combined=True)
    ca_cert = ca.load_certificate()
    existing = None if force else _usable(paths)
    if existing is not None:
        cert, key = existing
        if (
            _signed_by(cert, ca_cert)
            and _names_match(cert, name, xmpp_addr)
            and _key_matches_type(key, key_type)
        ):
            return paths

    ca_key = ca.load_private_key()
    key = _new_key(key_type)
    now = _now()
    not_after = min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc)
    # RSA keys may encipher the premaster secret; EC keys only sign (ECDHE).
    is_rsa = key_type == "rsa"
    cert = (
        x509.CertificateBuilder()
        .subject_name(_leaf_subject(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(_subject_alt_names(name, xmpp_addr)), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths, cert, key)
    return paths


def _leaf_subject(name: str) -> x509.Name:
    """Subject CN = the name, unless longer than X.520's 64 characters (SAN suffices)."""
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nextplane development")]
    if len(name) <= 64:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, name))
    return x509.Name(attributes)


def _check_domain(domain: str) -> str:
    """argparse type: a DNS name (not an IP literal), lower-cased."""
    try:
        ipaddress.ip_address(domain)
    except ValueError:
        pass
    else:
        raise argparse.ArgumentTypeError(f"{domain!r} is an IP address, not a domain")
    labels = domain.rstrip(".").split(".")
    if not domain or any(not label or len(label) > 63 for label in labels):
        raise argparse.ArgumentTypeError(f"{domain!r} is not a domain name")
    return domain.rstrip(".").lower()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nextplane.devcerts",
        description=(
            "Create a development CA and per-domain certificates usable for "
            "XMPP s2s/c2s and SIP over TLS. Existing valid files are kept."
        ),
    )
    parser.add_argument("domains", nargs="+", type=_check_domain, metavar="DOMAIN")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    parser.add_argument("--force", action="store_true", help="regenerate CA and certificates")
    parser.add_argument(
        "--ca-name",
        default="ca",
        metavar="STEM",
        help="CA file stem (default: ca); another stem makes a separate, untrusted CA",
    )
    parser.add_argument(
        "--identity",
        type=_check_domain,
        metavar="NAME",
        help="put NAME in the certificate instead of DOMAIN (wrong-name tests; one DOMAIN only)",
    )
    parser.add_argument(
        "--stem",
        metavar="STEM",
        help="file stem for the certificate instead of DOMAIN (one DOMAIN only)",
    )
    parser.add_argument("--rsa", action="store_true", help="RSA 2048 keys instead of EC P-256")
    parser.add_argument(
        "--xmpp-addr",
        action="store_true",
        help="also add an xmppAddr otherName (breaks SASL EXTERNAL into ejabberd 23.01)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point.

    @param argv: arguments without the program name; defaults to
        C{sys.argv[1:]}.
    @return: the process exit status.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.identity or args.stem) and len(args.domains) != 1:
        parser.error("--identity and --stem need exactly one DOMAIN")
    key_type: KeyType = "rsa" if args.rsa else "ec"
    ca = ensure_ca(args.out, name=args.ca_name, key_type=key_type, force=args.force)
    print(f"CA      {ca.cert}")
    for domain in args.domains:
        paths = ensure_domain_cert(
            args.out,
            domain,
            ca,
            identity=args.identity,
            stem=args.stem,
            key_type=key_type,
            xmpp_addr=args.xmpp_addr,
            force=args.force,
        )
        print(f"{domain:<7} {paths.cert}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
