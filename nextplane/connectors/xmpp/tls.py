# -*- test-case-name: tests.xmpp.test_tls -*-
"""
TLS for XMPP server-to-server streams: contexts, certificate checks.

  - L{ServerTLS}: one listener serving many tenant domains. The context is
    picked by the stream header's C{to} when STARTTLS starts and switched by
    SNI when the client sends a server name (needed for XEP-0368 direct
    TLS). Every context I{requests} a client certificate but accepts any
    (the verify callback always returns true), like Prosody: whether the
    peer may use SASL EXTERNAL (XEP-0178) is decided after the handshake
    with L{TrustStore.check}.
  - L{ClientTLS}: per tenant domain, presents the tenant's certificate as
    client certificate, sends SNI = peer domain and ALPN C{xmpp-server}
    (XEP-0368); the server certificate is judged after the handshake.
  - L{TrustStore} and L{CertificateCheck}: PKIX chain validation against the
    configured CAs (L{nextplane.tls}, shared with SIP) and RFC 6125 / RFC
    6120 section 13.7.1.2 identity matching (C{dNSName}, SRV-ID
    C{_xmpp-server.DOMAIN}, C{id-on-xmppAddr}) through C{service_identity}.

Credentials, context defaults and reading the peer's chain come from
L{nextplane.tls}; the names are re-exported here.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from attrs import frozen
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier
from OpenSSL import SSL
from service_identity.cryptography import extract_patterns
from service_identity.exceptions import CertificateError
from service_identity.hazmat import DNS_ID, SRV_ID
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from twisted.logger import Logger

from nextplane.tls import (
    ChainCheck,
    Credentials,
    TenantTLS,
    accept_any_certificate,
    load_credentials,
    peer_certificates,
    secure_context,
)
from nextplane.tls import TrustStore as SharedTrustStore

from ..federation.tls import (
    ClientCreator,
    ServerCreator,
    client_contexts,
    normalise,
    server_contexts,
)

__all__ = [
    "ID_ON_XMPPADDR",
    "CertificateCheck",
    "ClientTLS",
    "Credentials",
    "ServerTLS",
    "TenantTLS",
    "TrustStore",
    "identity_matches",
    "load_credentials",
    "peer_certificates",
]

#: id-on-xmppAddr (RFC 6120 section 13.7.1.4).
ID_ON_XMPPADDR = ObjectIdentifier("1.3.6.1.5.5.7.8.5")
#: ALPN protocol id for s2s (XEP-0368).
ALPN_XMPP_SERVER = b"xmpp-server"

_log = Logger(namespace="nextplane.xmpp.tls")


def _read_utf8_string(der: bytes) -> str | None:
    """
    Decode a DER UTF8String (the value of an id-on-xmppAddr otherName).
    """
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length = der[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            return None
        length = int.from_bytes(der[2 : 2 + count], "big")
        offset = 2 + count
    if len(der) != offset + length:
        return None
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _xmpp_addrs(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found = []
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == ID_ON_XMPPADDR:
            value = _read_utf8_string(other.value)
            if value is not None:
                found.append(value)
    return found


def identity_matches(certificate: x509.Certificate, domain: str) -> bool:
    """
    Whether C{certificate} names the XMPP server C{domain}.

    Accepts a C{dNSName} (wildcards per RFC 6125), an SRV-ID
    C{_xmpp-server.DOMAIN} or an C{id-on-xmppAddr} equal to the domain (RFC
    6120 section 13.7.1.2, XEP-0178). The subject common name is not used.
    """
    domain = domain.rstrip(".").lower()
    try:
        ids: list[DNS_ID | SRV_ID] = [DNS_ID(domain), SRV_ID("_xmpp-server." + domain)]
    except ValueError:
        return False
    try:
        patterns = extract_patterns(certificate)
    except CertificateError:
        patterns = []
    for pattern in patterns:
        for service_id in ids:
            if service_id.verify(pattern):
                return True
    for address in _xmpp_addrs(certificate):
        try:
            if address.encode("idna").decode("ascii").lower() == domain:
                return True
        except UnicodeError:
            continue
    return False


@frozen
class CertificateCheck(ChainCheck):
    """
    What was learnt about a peer's certificate after a TLS handshake: the
    chain verdict, plus XMPP identity matching for a domain.
    """

    @classmethod
    def of(cls, chain: ChainCheck) -> CertificateCheck:
        """
        The XMPP view of a chain verdict.
        """
        if chain.certificate is None:
            return NO_CERTIFICATE
        return cls(chain.certificate, chain.chain_valid, chain.reason)

    def valid_for(self, domain: str) -> bool:
        """
        Whether the chain is valid I{and} names C{domain}.
        """
        return (
            self.chain_valid
            and self.certificate is not None
            and identity_matches(self.certificate, domain)
        )

    def problem_for(self, domain: str) -> str | None:
        """
        A short explanation of why the certificate is not good for
        C{domain}, or L{None} if it is.
        """
        if self.certificate is None:
            return "no certificate presented"
        if not self.chain_valid:
            return f"certificate not trusted ({self.reason})"
        if not identity_matches(self.certificate, domain):
            return f"certificate is not valid for {domain}"
        return None


NO_CERTIFICATE = CertificateCheck(None, False, "no certificate presented")


class TrustStore(SharedTrustStore):
    """
    L{nextplane.tls.TrustStore} answering with L{CertificateCheck}s, so
    XMPP code can ask whether a peer's certificate is valid for a domain.
    """

    def check(
        self,
        leaf: x509.Certificate | None,
        intermediates: Sequence[x509.Certificate] = (),
        when: datetime.datetime | None = None,
    ) -> CertificateCheck:
        """
        Validate a peer's chain; see L{nextplane.tls.TrustStore.check}.
        """
        return CertificateCheck.of(super().check(leaf, intermediates, when))


class ServerTLS:
    """
    Server-side TLS contexts for every tenant domain, one listener.
    """

    def __init__(self, credentials: Mapping[str, Credentials]) -> None:
        """
        @param credentials: Certificate and key per (normalised) domain.
        """
        if not credentials:
            raise ValueError("ServerTLS needs at least one domain")
        self._contexts = server_contexts(
            credentials,
            SSL.VERIFY_PEER | SSL.VERIFY_CLIENT_ONCE,
            ALPN_XMPP_SERVER,
            self._context_for_server_name,
        )
        self._default = next(iter(self._contexts))

    def _context_for_server_name(self, server_name: bytes | None) -> SSL.Context | None:
        if not server_name:
            return None
        try:
            name = normalise(server_name.decode("ascii"))
        except UnicodeDecodeError:
            return None
        return self._contexts.get(name)

    def domains(self) -> list[str]:
        """
        The domains this listener has certificates for.
        """
        return list(self._contexts)

    def creator(self, domain: str | None) -> IOpenSSLServerConnectionCreator:
        """
        The connection creator for a stream addressed to C{domain} (SNI, if
        sent, takes precedence).
        """
        context = self._contexts.get(normalise(domain or ""), self._contexts[self._default])
        return ServerCreator(context)


class ClientTLS:
    """
    Client-side TLS contexts, one per tenant domain.
    """

    def __init__(self, credentials: Mapping[str, Credentials]) -> None:
        self._contexts = client_contexts(credentials)
        self._anonymous: SSL.Context | None = None

    def has_certificate(self, domain: str) -> bool:
        """
        Whether a client certificate is configured for C{domain}.
        """
        return normalise(domain) in self._contexts

    def creator(self, local: str, remote: str) -> IOpenSSLClientConnectionCreator:
        """
        The connection creator for a stream from C{local} to C{remote}.
        """
        context = self._contexts.get(normalise(local))
        if context is None:
            if self._anonymous is None:
                self._anonymous = secure_context()
                self._anonymous.set_verify(SSL.VERIFY_NONE, accept_any_certificate)
            context = self._anonymous
        return ClientCreator(context, remote, ALPN_XMPP_SERVER)
