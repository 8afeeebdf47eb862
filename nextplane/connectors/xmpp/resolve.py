# -*- test-case-name: tests.xmpp.test_resolve -*-
"""
Finding a remote XMPP server (RFC 6120 section 3.2, XEP-0368).

Order of attempts for a remote domain:

  1. a static route from configuration (C{{domain: "host:port"}}), if any;
  2. C{_xmpps-server._tcp.DOMAIN} SRV records: direct TLS (XEP-0368);
  3. C{_xmpp-server._tcp.DOMAIN} SRV records: STARTTLS;
  4. if neither SRV name has records: the domain itself on port 5269
     (RFC 6120 section 3.2.2 fallback).

Within each SRV set, records are ordered by priority, then by a weighted
random choice (RFC 2782). A single record with target C{.} means "no
service": for C{_xmpp-server} it stops the search (unless direct TLS
records exist) instead of falling back to the domain.

The ordering (L{order_srv}, L{targets_from_srv}) is pure; L{ServerResolver}
does the lookups through an injected
L{twisted.internet.interfaces.IResolver} (for example a
C{twisted.names.client.Resolver} built by the composition root), including
the A/AAAA lookups of each target, so tests run against a fake resolver and
never touch the host's DNS.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from nextplane.dns import SRVRecord, is_ip, no_service, order_srv

from ..federation.resolve import RoutedResolver

__all__ = [
    "DEFAULT_PORT",
    "ResolutionError",
    "SRVRecord",
    "ServerResolver",
    "Target",
    "order_srv",
    "parse_route",
    "targets_from_srv",
]

#: The s2s port (RFC 6120 section 14.7).
DEFAULT_PORT = 5269

_log = Logger(namespace="nextplane.xmpp.resolve")


class ResolutionError(Exception):
    """
    The remote domain has no usable XMPP server.
    """


@frozen
class Target:
    """
    A host to try.

    @ivar host: Host name or IP literal.
    @ivar port: TCP port.
    @ivar direct_tls: Start TLS immediately (XEP-0368) instead of STARTTLS.
    """

    host: str
    port: int
    direct_tls: bool = False


def targets_from_srv(
    domain: str,
    direct: Sequence[SRVRecord],
    starttls: Sequence[SRVRecord],
    rng: random.Random | None = None,
) -> list[Target]:
    """
    Combine the answers for C{_xmpps-server} and C{_xmpp-server} into the
    list of targets to try, in order.

    @raise ResolutionError: The domain explicitly offers no service.
    """
    targets: list[Target] = []
    if not no_service(direct):
        targets.extend(
            Target(r.target.rstrip("."), r.port, True)
            for r in order_srv(direct, rng)
            if r.target not in ("", ".")
        )
    if no_service(starttls):
        if not targets:
            raise ResolutionError(f"{domain} does not offer XMPP server-to-server service")
        return targets
    targets.extend(
        Target(r.target.rstrip("."), r.port, False)
        for r in order_srv(starttls, rng)
        if r.target not in ("", ".")
    )
    if not direct and not starttls:
        targets.append(Target(domain, DEFAULT_PORT, False))
    return targets


def parse_route(route: str) -> Target:
    """
    Read a static route C{"host:port"}, C{"[v6]:port"} or C{"host"}.

    @raise ValueError: Malformed route.
    """
    route = route.strip()
    if route.startswith("["):
        host, _, rest = route[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif route.count(":") == 1:
        host, _, port_text = route.partition(":")
    else:
        host, port_text = route, ""
    if not host:
        raise ValueError(f"malformed route {route!r}")
    port = int(port_text) if port_text else DEFAULT_PORT
    if not 0 < port < 65536:
        raise ValueError(f"malformed port in route {route!r}")
    return Target(host, port, False)


class ServerResolver(RoutedResolver[Target]):
    """
    Resolves remote domains to connection targets and addresses.
    """

    def read_route(self, route: str) -> Target:
        """
        Read a static route (see L{parse_route}).
        """
        return parse_route(route)

    def targets(self, domain: str) -> Deferred[list[Target]]:
        """
        The hosts to try for C{domain}, in order.

        Fails with L{ResolutionError} if the domain explicitly offers no
        service.
        """
        return Deferred.fromCoroutine(self._targets(domain.lower()))

    async def _targets(self, domain: str) -> list[Target]:
        route = self.route_for(domain)
        if route is not None:
            return [route]
        if is_ip(domain):
            return [Target(domain, DEFAULT_PORT, False)]
        direct = await self._srv(f"_xmpps-server._tcp.{domain}")
        starttls = await self._srv(f"_xmpp-server._tcp.{domain}")
        return targets_from_srv(domain, direct, starttls, self._rng)
