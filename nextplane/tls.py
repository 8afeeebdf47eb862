# -*- test-case-name: tests.test_tls -*-
"""
Protocol-neutral TLS pieces shared by the federation connectors (XMPP s2s,
SIP): tenant credentials, context defaults, the trust store that judges a
peer's chain after the handshake, and reading the peer's chain.

Identity rules differ per protocol (XMPP: dNSName, SRV-ID, xmppAddr; SIP:
RFC 5922 C{URI:sip:} and dNSName, no wildcards) and live with each
protocol; this module only says whether a chain is trusted.

Servers I{request} a client certificate but never fail the handshake over
it (L{accept_any_certificate}); the peer is judged afterwards, which gives
clear errors and lets XMPP fall back to dialback.
"""

from __future__ import annotations

import datetime
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from OpenSSL import SSL, crypto
from twisted.internet.ssl import CertificateOptions, TLSVersion
from twisted.logger import Logger

__all__ = [
    "NO_CERTIFICATE",
    "ChainCheck",
    "Credentials",
    "TenantTLS",
    "TrustStore",
    "accept_any_certificate",
    "alpn_selector",
    "load_credentials",
    "load_trusted_certificates",
    "peer_certificates",
    "secure_context",
]


_log = Logger(namespace="nextplane.tls")

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def load_trusted_certificates(data: bytes, source: str = "") -> list[crypto.X509]:
    """
    The CA certificates of a PEM bundle, one by one, quietly.

    System bundles carry a few roots with a serial number of zero (Go Daddy
    and Starfield G2, for one): cryptography warns about each today and will
    refuse them in a future release. OpenSSL, which does the verifying,
    accepts them, so they are read by OpenSSL alone, with one debug line
    each, and trust is kept; a block neither can read is skipped with one
    debug line.

    @param data: The PEM bundle.
    @param source: Where it came from, for the debug lines.
    """
    certificates: list[crypto.X509] = []
    for match in _PEM_CERTIFICATE.finditer(data):
        block = match.group(0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                certificate: x509.Certificate | None = x509.load_pem_x509_certificate(block)
            except ValueError:
                certificate = None
        if certificate is not None and not caught and certificate.serial_number > 0:
            certificates.append(crypto.X509.from_cryptography(certificate))
            continue
        try:
            native = crypto.load_certificate(crypto.FILETYPE_PEM, block)
        except crypto.Error:
            _log.debug("Skipping an unreadable CA certificate in {source}", source=source)
            continue
        _log.debug(
            "CA certificate {subject} in {source} read by OpenSSL only"
            " (its serial number is not positive)",
            subject=certificate.subject.rfc4514_string() if certificate else "?",
            source=source,
        )
        certificates.append(native)
    return certificates


@frozen
class TenantTLS:
    """
    Where one tenant domain's certificate and key live.

    @ivar certificate: Path of a PEM file: the domain's certificate first,
        then any intermediates.
    @ivar private_key: Path of the PEM private key (unencrypted).
    """

    certificate: str
    private_key: str


def secure_context(**kwargs: Any) -> SSL.Context:
    """
    A new context with Twisted's C{CertificateOptions} defaults (TLS 1.2
    minimum, its cipher list).
    """
    return CertificateOptions(raiseMinimumTo=TLSVersion.TLSv1_2, **kwargs).getContext()


@frozen
class Credentials:
    """
    A loaded certificate chain and key.
    """

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes

    @classmethod
    def load(cls, tenant: TenantTLS) -> Credentials:
        """
        Read PEM files.

        @raise ValueError: The files hold no certificate, or the key does not
            match it.
        """
        certificates = x509.load_pem_x509_certificates(Path(tenant.certificate).read_bytes())
        key = serialization.load_pem_private_key(
            Path(tenant.private_key).read_bytes(), password=None
        )
        if not certificates:
            raise ValueError(f"no certificate in {tenant.certificate}")
        if certificates[0].public_key() != key.public_key():  # type: ignore[union-attr]
            raise ValueError(f"{tenant.private_key} does not match {tenant.certificate}")
        return cls(certificates[0], tuple(certificates[1:]), key)

    def context(self, **kwargs: Any) -> SSL.Context:
        """
        A new L{secure_context} presenting these credentials.
        """
        context = secure_context(**kwargs)
        context.use_certificate(self.certificate)
        context.use_privatekey(self.key)  # type: ignore[arg-type]
        for certificate in self.chain:
            context.add_extra_chain_cert(certificate)
        context.check_privatekey()
        return context


def load_credentials(domains: Mapping[str, TenantTLS]) -> dict[str, Credentials]:
    """
    Load every tenant's certificate and key, keyed by lower-case domain.
    """
    return {domain.lower(): Credentials.load(tenant) for domain, tenant in domains.items()}


def accept_any_certificate(
    connection: SSL.Connection, certificate: crypto.X509, errno: int, depth: int, ok: int
) -> bool:
    """
    A verify callback that lets every handshake proceed: request, never
    require; the peer is judged after the handshake with L{TrustStore}.
    """
    return True


def alpn_selector(protocol: bytes | None) -> Callable[[SSL.Connection, list[bytes]], Any]:
    """
    A server ALPN callback agreeing on C{protocol} when the client offers it
    and otherwise carrying on without ALPN.

    Needed with Twisted 26's C{CertificateOptions}: its default callback
    answers C{b""}, which aborts the handshake of any client offering ALPN
    (Prosody does, for instance).
    """

    def select(connection: SSL.Connection, offered: list[bytes]) -> Any:
        if protocol is not None and protocol in offered:
            return protocol
        return SSL.NO_OVERLAPPING_PROTOCOLS

    return select


@frozen
class ChainCheck:
    """
    Whether a peer's certificate chain is trusted.

    @ivar certificate: The peer's end-entity certificate, if it sent one.
    @ivar chain_valid: Whether the chain validates against the trusted CAs.
    @ivar reason: Why not, if not.
    """

    certificate: x509.Certificate | None
    chain_valid: bool
    reason: str | None = None


NO_CERTIFICATE = ChainCheck(None, False, "no certificate presented")


class TrustStore:
    """
    The certificate authorities peers' certificates are checked against.
    """

    def __init__(
        self,
        certificates: Iterable[x509.Certificate] = (),
        paths: Sequence[str] = (),
    ) -> None:
        """
        @param certificates: Trusted CA certificates.
        @param paths: PEM bundle files (all certificates in them are trusted)
            or OpenSSL hashed directories such as C{/etc/ssl/certs}.
        """
        self._certificates = [crypto.X509.from_cryptography(c) for c in certificates]
        self._directories: list[str] = []
        for path in paths:
            if Path(path).is_dir():
                self._directories.append(path)
            else:
                self._certificates.extend(
                    load_trusted_certificates(Path(path).read_bytes(), source=path)
                )
        self._store = self._build()

    def _build(self, when: datetime.datetime | None = None) -> crypto.X509Store:
        store = crypto.X509Store()
        for certificate in self._certificates:
            store.add_cert(certificate)
        for directory in self._directories:
            store.load_locations(None, directory)
        if when is not None:
            store.set_time(when)
        return store

    def check(
        self,
        leaf: x509.Certificate | None,
        intermediates: Sequence[x509.Certificate] = (),
        when: datetime.datetime | None = None,
    ) -> ChainCheck:
        """
        Validate a peer's chain.

        @param leaf: The peer's certificate, or L{None} if it sent none.
        @param intermediates: Further certificates the peer sent.
        @param when: Validate as of this time instead of now.
        """
        if leaf is None:
            return NO_CERTIFICATE
        store = self._store if when is None else self._build(when)
        context = crypto.X509StoreContext(
            store,
            crypto.X509.from_cryptography(leaf),
            [crypto.X509.from_cryptography(c) for c in intermediates],
        )
        try:
            context.verify_certificate()
        except crypto.X509StoreContextError as e:
            return ChainCheck(leaf, False, str(e.args[0]) if e.args else "invalid")
        return ChainCheck(leaf, True)


def peer_certificates(
    transport: object,
) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
    """
    Return the peer's certificate and the other certificates it sent, from
    a transport on which TLS is established.
    """
    get_handle = getattr(transport, "getHandle", None)
    if get_handle is None:
        return None, []
    connection = get_handle()
    if not isinstance(connection, SSL.Connection):
        return None, []
    leaf = connection.get_peer_certificate(as_cryptography=True)
    chain = connection.get_peer_cert_chain(as_cryptography=True) or []
    if leaf is None:
        return None, []
    return leaf, [c for c in chain if c != leaf]
