# -*- test-case-name: tests.check.test_check -*-
"""
All of C{nextplane check} for one validated configuration: the tenants'
certificates, their DNS, every configured partner, every platform's
credentials. Everything outside comes in: the reactor, the resolver, the
HTTP client and the time.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet.interfaces import IResolver

from ..config import Config, PartnerConfig
from ..connectors.sip.tls import SipClientTLS
from ..connectors.sip.tls import identity_matches as sip_identity
from ..connectors.xmpp.tls import ClientTLS
from ..connectors.xmpp.tls import identity_matches as xmpp_identity
from ..tls import Credentials, TenantTLS, TrustStore
from .certificates import inspect_tenant
from .dnscheck import check_domain, listeners_of
from .findings import ERROR, OK, Finding
from .partners import probe_partner
from .platforms import PLATFORM_CHECKS, PlatformCheckContext

__all__ = ["SYSTEM_CA", "run_checks", "trust_store"]

#: Debian's bundle of the system's trusted CAs.
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


def trust_store(config: Config, system_ca: str = SYSTEM_CA) -> TrustStore:
    """
    The CAs the hub trusts for peers: C{[tls] ca_certificates}, plus the
    system's bundle when a federation connector says C{system_ca = true}.
    """
    paths = list(config.tls.ca_certificates)
    wants_system = any(getattr(c, "system_ca", False) for c in config.connectors.values())
    if wants_system and Path(system_ca).is_file():
        paths.append(system_ca)
    return TrustStore(paths=paths)


def _certificates(
    config: Config, now: datetime.datetime, trust: TrustStore
) -> tuple[list[Finding], dict[str, Credentials]]:
    findings = []
    credentials = {}
    for tenant in config.tenants:
        issues = inspect_tenant(
            tenant.domain, tenant.certificate, tenant.private_key, now=now, trust=trust
        )
        for issue in issues:
            findings.append(
                Finding(issue.level, "certificate", tenant.domain, issue.message, issue.hint)
            )
        if not any(issue.fatal for issue in issues):
            credentials[tenant.domain] = Credentials.load(
                TenantTLS(tenant.certificate, tenant.private_key)
            )
    return findings, credentials


async def _partner(
    reactor: Any,
    resolver: IResolver,
    partner: PartnerConfig,
    credentials: dict[str, Credentials],
    trust: TrustStore,
    timeout: float,
) -> list[Finding]:
    if not credentials:
        return [
            Finding(
                ERROR,
                "partner",
                partner.domain,
                "not probed: no tenant has a usable certificate to present",
                "fix the certificate errors above",
            )
        ]
    local = next(iter(credentials))
    if partner.protocol == "sip":
        creator = SipClientTLS(credentials).creator(local, partner.domain)
        matches = sip_identity
    else:
        creator = ClientTLS(credentials).creator(local, partner.domain)
        matches = xmpp_identity
    return await probe_partner(
        reactor,
        resolver,
        partner,
        local=local,
        creator=creator,
        matches=matches,
        trust=trust,
        timeout=timeout,
    )


async def run_checks(
    config: Config,
    *,
    reactor: Any,
    resolver: IResolver,
    http: Any,
    now: datetime.datetime,
    addresses: Sequence[str] = (),
    timeout: float = 10.0,
    system_ca: str = SYSTEM_CA,
) -> list[Finding]:
    """
    Every finding, in the order: config, certificates, DNS, partners,
    platforms.

    @param addresses: This hub's public addresses, which the tenants' SRV
        targets must resolve to (besides addresses listeners bind to).
    @param timeout: Seconds for each connection or HTTP answer.
    """
    names = ", ".join(config.connectors) or "none"
    findings = [
        Finding(
            OK,
            "config",
            config.path or "configuration",
            f"valid: {len(config.tenants)} tenant(s), {len(config.partners)} partner(s), "
            f"connectors {names}",
        )
    ]
    trust = trust_store(config, system_ca)
    certificate_findings, credentials = _certificates(config, now, trust)
    findings.extend(certificate_findings)
    listeners = listeners_of(dict(config.connectors), addresses)
    for tenant in config.tenants:
        findings.extend(await check_domain(resolver, tenant.domain, listeners))
    for partner in config.partners:
        findings.extend(await _partner(reactor, resolver, partner, credentials, trust, timeout))
    context = PlatformCheckContext(reactor, http, timeout)
    for name, connector_config in config.connectors.items():
        check = PLATFORM_CHECKS.get(name)
        tenants = [t for t in config.tenants if t.platform == name]
        if check is not None and tenants:
            findings.extend(await check(context, connector_config, tenants))
    return findings
