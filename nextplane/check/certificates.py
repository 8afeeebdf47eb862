# -*- test-case-name: tests.check.test_check -*-
"""
Inspecting a tenant's certificate and key, shared by C{nextplane check}
and start-up validation (L{startup_problem}).

Start-up refuses what can never work: unreadable files, a key that does not
match, a certificate that does not name the tenant domain, one that has
expired or is not valid yet. C{check} reports those and more: the chain to
the trust store, the extended key usages, expiry within 30 days.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID
from service_identity.cryptography import extract_patterns
from service_identity.exceptions import CertificateError
from service_identity.hazmat import DNS_ID

from ..config import Config, ConfigError
from ..tls import TrustStore
from .findings import ERROR, OK, WARNING, Level

__all__ = ["CertificateIssue", "covers", "dns_names", "inspect_tenant", "startup_problem"]

#: Fewer days than this left before expiry is a warning.
WARN_DAYS = 30


@frozen
class CertificateIssue:
    """
    One thing found about a tenant's certificate or key.

    @ivar field: The tenant key it concerns: C{certificate} or C{private_key}.
    @ivar level: L{OK}, L{WARNING} or L{ERROR}.
    @ivar message: What was found.
    @ivar hint: How to fix it.
    @ivar fatal: Whether start-up refuses it.
    """

    field: str
    level: Level
    message: str
    hint: str = ""
    fatal: bool = False


def dns_names(certificate: x509.Certificate, *, uris: bool = False) -> list[str]:
    """
    The certificate's C{dNSName} subject alternative names (and its URIs,
    such as C{sip:example.com}, with C{uris}).
    """
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = list(san.value.get_values_for_type(x509.DNSName))
    if uris:
        names += san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return names


def covers(certificate: x509.Certificate, domain: str) -> bool:
    """
    Whether a C{dNSName} of C{certificate} matches C{domain} (RFC 6125
    wildcards allowed), as both XMPP and SIP peers accept.
    """
    try:
        wanted = DNS_ID(domain.rstrip(".").lower())
        patterns = extract_patterns(certificate)
    except (ValueError, CertificateError):
        return False
    return any(wanted.verify(pattern) for pattern in patterns)


def _usages(certificate: x509.Certificate) -> set[x509.ObjectIdentifier] | None:
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None  # no restriction: every usage allowed
    return set(eku.value)


def _load(
    certificate: str, private_key: str
) -> tuple[list[x509.Certificate], PrivateKeyTypes] | CertificateIssue:
    try:
        chain = x509.load_pem_x509_certificates(Path(certificate).read_bytes())
    except (OSError, ValueError) as e:
        message = f"cannot read a PEM certificate from {certificate}: {e}"
        return CertificateIssue("certificate", ERROR, message, "use a PEM file", fatal=True)
    try:
        key = serialization.load_pem_private_key(Path(private_key).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        message = f"cannot read an unencrypted PEM private key from {private_key}: {e}"
        return CertificateIssue("private_key", ERROR, message, "use a PEM file", fatal=True)
    return chain, key


def _validity(leaf: x509.Certificate, now: datetime.datetime) -> CertificateIssue:
    not_after = leaf.not_valid_after_utc
    if now < leaf.not_valid_before_utc:
        return CertificateIssue(
            "certificate",
            ERROR,
            f"not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            "check the clock of this machine and of the issuer",
            fatal=True,
        )
    if now >= not_after:
        return CertificateIssue(
            "certificate",
            ERROR,
            f"expired on {not_after:%Y-%m-%d}",
            "renew it (ACME: certbot renew) and restart the hub",
            fatal=True,
        )
    days = (not_after - now).days
    if days < WARN_DAYS:
        return CertificateIssue(
            "certificate",
            WARNING,
            f"expires in {days} days ({not_after:%Y-%m-%d})",
            "renew it now; automate renewal (docs/production.md)",
        )
    return CertificateIssue("certificate", OK, f"valid until {not_after:%Y-%m-%d} ({days} days)")


def _usage_issues(leaf: x509.Certificate) -> list[CertificateIssue]:
    usages = _usages(leaf)
    if usages is None:
        return []
    issues = []
    if ExtendedKeyUsageOID.SERVER_AUTH not in usages:
        issues.append(
            CertificateIssue(
                "certificate",
                ERROR,
                "extended key usage lacks serverAuth: peers refuse it on inbound TLS",
                "issue a TLS server certificate (EKU serverAuth)",
            )
        )
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        issues.append(
            CertificateIssue(
                "certificate",
                WARNING,
                "extended key usage lacks clientAuth: SIP mutual TLS and XMPP SASL EXTERNAL "
                "refuse it as a client certificate (XMPP falls back to dialback)",
                "ask the CA for serverAuth and clientAuth (see docs/production.md)",
            )
        )
    return issues


def inspect_tenant(
    domain: str,
    certificate: str,
    private_key: str,
    *,
    now: datetime.datetime,
    trust: TrustStore | None = None,
) -> list[CertificateIssue]:
    """
    Everything found about one tenant's certificate and key.

    @param certificate: PEM path: the domain's certificate, then
        intermediates.
    @param private_key: PEM path of its unencrypted key.
    @param now: The time to judge validity at (timezone-aware).
    @param trust: Check the chain against these CAs; L{None} skips it.
    """
    loaded = _load(certificate, private_key)
    if isinstance(loaded, CertificateIssue):
        return [loaded]
    chain, key = loaded
    if not chain:
        return [
            CertificateIssue(
                "certificate", ERROR, f"no certificate in {certificate}", "use PEM", fatal=True
            )
        ]
    leaf = chain[0]
    issues = []
    if leaf.public_key() != key.public_key():
        issues.append(
            CertificateIssue(
                "private_key",
                ERROR,
                f"{private_key} does not match the certificate in {certificate}",
                "point private_key at the key the certificate was issued for",
                fatal=True,
            )
        )
    if not covers(leaf, domain):
        names = ", ".join(dns_names(leaf)) or "none"
        issues.append(
            CertificateIssue(
                "certificate",
                ERROR,
                f"does not cover {domain} (DNS names: {names})",
                f"get a certificate with {domain} in its subject alternative names",
                fatal=True,
            )
        )
    issues.append(_validity(leaf, now))
    issues.extend(_usage_issues(leaf))
    if trust is not None:
        # Judged within its validity, so an expired one is not reported twice.
        when = min(now, leaf.not_valid_after_utc - datetime.timedelta(seconds=1))
        result = trust.check(leaf, chain[1:], when=max(when, leaf.not_valid_before_utc))
        if not result.chain_valid:
            issues.append(
                CertificateIssue(
                    "certificate",
                    ERROR,
                    f"chain does not verify: {result.reason}",
                    "append the intermediate certificates to the file, or trust the CA "
                    "in [tls] ca_certificates",
                )
            )
        else:
            issues.append(CertificateIssue("certificate", OK, "chain verifies to a trusted CA"))
    return issues


def startup_problem(config: Config, now: datetime.datetime) -> ConfigError | None:
    """
    The first tenant certificate problem start-up refuses, as a
    L{ConfigError} naming the key (C{tenants[0].certificate: ...}).
    """
    for index, tenant in enumerate(config.tenants):
        for issue in inspect_tenant(tenant.domain, tenant.certificate, tenant.private_key, now=now):
            if issue.fatal:
                return ConfigError(f"tenants[{index}].{issue.field}", issue.message)
    return None
