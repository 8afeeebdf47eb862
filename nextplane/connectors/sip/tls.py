# -*- test-case-name: tests.sip.test_tls -*-
"""
TLS for SIP federation: mutual TLS contexts and domain identities (RFC
3261 section 26.2.1; RFC 5922; Microsoft Edge federation as described in
the Skype for Business "TLS and MTLS" planning guide).

  - L{SipServerTLS}: one listener for every tenant domain; the certificate
    is chosen by SNI (a tenant is found by its domain or any SIP identity
    its certificate holds, such as C{sip.acme.test}). A client
    certificate is I{required}: a peer that sends none fails the
    handshake with a C{certificate required} alert. Its chain and
    identities are checked after the handshake (L{check_peer}), and the
    connection is closed with a logged reason if they do not pass.
  - L{SipClientTLS}: per tenant domain, presents the tenant's
    certificate as client certificate and sends SNI; the server
    certificate is checked after the handshake against the names
    expected for the target.
  - L{sip_identities}: the SIP domain identities of a certificate (RFC
    5922 section 7.1): C{URI:sip:DOMAIN} subjectAltNames (no user part),
    C{dNSName} subjectAltNames, and the subject common name only when
    the certificate has no subjectAltName at all. Wildcards are never
    accepted (section 7.2).

Certificate/key loading (L{Credentials}), chain validation
(L{TrustStore}) and reading the peer's chain (L{peer_certificates}) are
shared with the XMPP connector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from attrs import frozen
from cryptography import x509
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)

from ...tls import (
    Credentials,
    TenantTLS,
    TrustStore,
    load_credentials,
    peer_certificates,
)
from ..federation import tls as shared
from .uri import SipSyntaxError, SipURI, parse_uri

__all__ = [
    "Credentials",
    "PeerCheck",
    "SipClientTLS",
    "SipServerTLS",
    "TenantTLS",
    "TrustStore",
    "check_peer",
    "identity_matches",
    "load_credentials",
    "sip_identities",
]


def sip_identities(certificate: x509.Certificate) -> frozenset[str]:
    """
    The SIP domain identities of C{certificate} (RFC 5922 section 7.1),
    lower case, wildcards dropped.
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    except ValueError:
        return frozenset()
    found: set[str] = set()
    if san is not None:
        for value in san.get_values_for_type(x509.UniformResourceIdentifier):
            try:
                uri = parse_uri(value)
            except SipSyntaxError:
                continue
            if isinstance(uri, SipURI) and uri.scheme == "sip" and uri.user is None:
                found.add(shared.normalise(uri.host))
        for name in san.get_values_for_type(x509.DNSName):
            if "*" not in name:
                found.add(shared.normalise(name))
        return frozenset(found)
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        common_name = attribute.value
        if isinstance(common_name, str) and "*" not in common_name:
            found.add(shared.normalise(common_name))
    return frozenset(found)


def identity_matches(certificate: x509.Certificate, domain: str) -> bool:
    """
    Whether C{certificate} names the SIP domain C{domain} (exactly,
    case-insensitively, never by wildcard).
    """
    return shared.normalise(domain) in sip_identities(certificate)


@frozen
class PeerCheck:
    """
    The verdict on a peer's certificate after a TLS handshake.

    @ivar identities: The peer's SIP domain identities (empty if refused).
    @ivar problem: Why the peer is refused, or L{None}.
    """

    identities: frozenset[str]
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """
        Whether the peer passed.
        """
        return self.problem is None


def check_peer(
    trust: TrustStore, transport: object, expected: Iterable[str] | None = None
) -> PeerCheck:
    """
    Check the certificate of the peer on C{transport}: present, chaining
    to a trusted CA, naming at least one SIP domain and, if C{expected}
    is given, one of those names.
    """
    leaf, chain = peer_certificates(transport)
    if leaf is None:
        return PeerCheck(frozenset(), "no certificate presented")
    verdict = trust.check(leaf, chain)
    if not verdict.chain_valid:
        return PeerCheck(frozenset(), f"certificate not trusted ({verdict.reason})")
    identities = sip_identities(leaf)
    if not identities:
        return PeerCheck(frozenset(), "certificate names no SIP domain")
    if expected is not None:
        wanted = {shared.normalise(name) for name in expected}
        if not identities & wanted:
            names = ", ".join(sorted(wanted))
            return PeerCheck(frozenset(), f"certificate is not valid for {names}")
    return PeerCheck(identities)


class SipServerTLS:
    """
    Server contexts for every tenant domain on one listener; see the
    module docstring.
    """

    def __init__(
        self, credentials: Mapping[str, Credentials], require_client_certificate: bool = True
    ) -> None:
        """
        @param credentials: Certificate and key per tenant domain; the first
            is used when the client sends no (known) server name.
        @param require_client_certificate: Fail handshakes without a client
            certificate (federation peers); C{False} only requests one.
        """
        if not credentials:
            raise ValueError("SipServerTLS needs at least one domain")
        mode = SSL.VERIFY_PEER | SSL.VERIFY_CLIENT_ONCE
        if require_client_certificate:
            mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        # OpenSSL only enforces that a certificate is sent; the chain is
        # judged after the handshake. SIP has no ALPN id.
        self._contexts = shared.server_contexts(
            credentials, mode, None, self._context_for_server_name
        )
        self._tenants: dict[str, str] = {domain: domain for domain in self._contexts}
        for domain, creds in credentials.items():
            for name in sip_identities(creds.certificate):
                self._tenants.setdefault(name, shared.normalise(domain))
        self._default = next(iter(self._contexts))

    def tenant_for(self, server_name: str | bytes | None) -> str:
        """
        The tenant domain whose certificate serves C{server_name} (the
        default tenant if unknown or absent).
        """
        name: str | None
        if isinstance(server_name, bytes):
            try:
                name = server_name.decode("ascii")
            except UnicodeDecodeError:
                name = None
        else:
            name = server_name
        if not name:
            return self._default
        return self._tenants.get(shared.normalise(name), self._default)

    def _context_for_server_name(self, server_name: bytes | None) -> SSL.Context | None:
        if not server_name:
            return None
        return self._contexts[self.tenant_for(server_name)]

    def domains(self) -> list[str]:
        """
        The tenant domains served.
        """
        return list(self._contexts)

    def creator(self) -> IOpenSSLServerConnectionCreator:
        """
        A connection creator for one inbound connection.
        """
        return shared.ServerCreator(self._contexts[self._default])


class SipClientTLS:
    """
    Client contexts, one per tenant domain; see the module docstring.
    """

    def __init__(self, credentials: Mapping[str, Credentials]) -> None:
        self._contexts = shared.client_contexts(credentials)

    def has_certificate(self, domain: str) -> bool:
        """
        Whether tenant C{domain} has a client certificate.
        """
        return shared.normalise(domain) in self._contexts

    def creator(self, local_domain: str, server_name: str) -> IOpenSSLClientConnectionCreator:
        """
        The connection creator for a connection on behalf of tenant
        C{local_domain} to the server C{server_name} (sent as SNI).

        @raise KeyError: No certificate for C{local_domain}: mutual TLS
            cannot be done.
        """
        return shared.ClientCreator(self._contexts[shared.normalise(local_domain)], server_name)
