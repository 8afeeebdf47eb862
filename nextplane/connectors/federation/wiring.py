# -*- test-case-name: tests.federation.test_wiring -*-
"""
The tail every federation connector's C{build()} shares: the CA paths it
trusts, the tenants' certificates, the listeners it adds as child
services, and refreshing its domain rules on each admin revocation or
policy change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from attrs import frozen
from twisted.application.service import MultiService
from twisted.internet import endpoints
from twisted.internet.interfaces import IProtocolFactory, IResolver

from ...config import Config
from ...service import EndpointService
from ...tls import TenantTLS
from ..base import ConnectorContext

__all__ = [
    "SYSTEM_CA_BUNDLE",
    "Listener",
    "needs_resolver",
    "tenant_certificates",
    "trusted_ca_paths",
    "wire",
]

#: Where Debian keeps the system's trusted CAs.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def trusted_ca_paths(hub: Config, system_ca: bool, bundle: str = SYSTEM_CA_BUNDLE) -> list[str]:
    """
    The configured CA certificates, plus the system's bundle if
    C{system_ca} and it exists.
    """
    paths = list(hub.tls.ca_certificates)
    if system_ca and os.path.exists(bundle):
        paths.append(bundle)
    return paths


def tenant_certificates(hub: Config) -> dict[str, TenantTLS]:
    """
    Each tenant domain's certificate and key paths.
    """
    return {t.domain: TenantTLS(t.certificate, t.private_key) for t in hub.tenants}


def needs_resolver(context: ConnectorContext, connector: str) -> IResolver:
    """
    The context's DNS resolver.

    @raise ValueError: There is none; C{connector} names who needs it.
    """
    if context.resolver is None:
        raise ValueError(f"the {connector} connector needs a DNS resolver")
    return context.resolver


@frozen
class Listener:
    """
    A listener a federation connector adds (when C{endpoint} is set).

    @ivar name: The child service's name.
    @ivar endpoint: A server endpoint description, or L{None} for none.
    @ivar factory: Makes the protocol of each accepted connection.
    @ivar description: Logged with the address once listening.
    """

    name: str
    endpoint: str | None
    factory: IProtocolFactory
    description: str


def wire(
    context: ConnectorContext,
    connector: MultiService,
    refresh_policy: Callable[[], object],
    listeners: Iterable[Listener],
) -> None:
    """
    Add each listener with an endpoint as a child service of C{connector}
    (started and stopped with it), and call C{refresh_policy} on each admin
    revocation or change of a tenant's domain rules.
    """
    for listener in listeners:
        if listener.endpoint:
            EndpointService(
                listener.name,
                endpoints.serverFromString(context.reactor, listener.endpoint),
                listener.factory,
                listener.description,
            ).setServiceParent(connector)
    context.on_revoke(lambda revocation: refresh_policy())
    context.on_policy_change(lambda change: refresh_policy())
