# -*- test-case-name: tests.sip.test_resolve -*-
"""
Finding a remote domain's SIP federation server over TLS (RFC 3263
section 4; Microsoft's C{_sipfederationtls._tcp} SRV name from the Skype
for Business Edge planning documents; RFC 2782 for SRV ordering).

Order of attempts for a remote SIP domain:

  1. a static route from configuration (C{"host"}, C{"host:port"},
     C{"[v6]:port"}, optionally C{";transport=tcp"} for a trusted relay);
  2. an IP literal: itself on port 5061;
  3. C{_sipfederationtls._tcp.DOMAIN} SRV records (Lync/Skype for
     Business federation, Cisco Expressway);
  4. C{_sips._tcp.DOMAIN} SRV records (RFC 3263 / RFC 5630 peers);
  5. if neither name has records: the domain's own A/AAAA records on 5061
     (RFC 3263 section 4.2).

A single SRV record with target C{.} means "no service" (RFC 2782): it is
skipped, and if no other SRV name offers service the domain has none (no
A/AAAA fallback). NAPTR (RFC 3263 section 4.1) is not consulted: the
federation SRV names are what Microsoft and Cisco publish and look up.

L{SipResolver.targets_for_uri} resolves a URI (a Route or remote target)
per RFC 3263 section 4.2: an explicit port or an IP address skips SRV;
C{maddr} overrides the host.

L{expected_identities} names what the server's certificate must show:
the SIP domain itself, or the SRV target host when it lies inside the
domain (Edge certificates name C{sip.contoso.com}, not C{contoso.com}),
plus names configured for the partner.

SRV ordering and lookups are shared with the XMPP connector (L{nextplane.dns}); lookups go
through an injected L{IResolver}, so tests never touch real DNS.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from attrs import frozen
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from ...dns import SRVRecord, is_ip, no_service, order_srv
from ..federation.resolve import RoutedResolver
from .uri import SipSyntaxError, SipURI, parse_host_port, parse_params

__all__ = [
    "DEFAULT_TLS_PORT",
    "SRV_PREFIXES",
    "ResolutionError",
    "SRVRecord",
    "SipResolver",
    "Target",
    "expected_identities",
    "order_srv",
    "parse_route",
    "targets_from_srv",
]

#: SIP over TLS (RFC 3261 section 19.1.2).
DEFAULT_TLS_PORT = 5061
#: The SRV names tried, in order.
SRV_PREFIXES = ("_sipfederationtls._tcp", "_sips._tcp")

_log = Logger(namespace="nextplane.sip.resolve")


class ResolutionError(Exception):
    """
    The remote domain offers no SIP federation service.
    """


@frozen
class Target:
    """
    A server to connect to.

    @ivar host: Host name or IP literal (IPv6 without brackets).
    @ivar port: TCP port.
    @ivar tls: Whether to use TLS (C{False} only for configured relays).
    @ivar source: How it was found: C{"route"}, C{"srv"}, C{"address"}
        or C{"uri"}.
    """

    host: str
    port: int = DEFAULT_TLS_PORT
    tls: bool = True
    source: str = "srv"


def parse_route(route: str) -> Target:
    """
    Read a static route: C{"host"}, C{"host:port"}, C{"[v6]:port"},
    optionally followed by C{";transport=tls"} or C{";transport=tcp"}.

    @raise ValueError: Malformed route.
    """
    text = route.strip()
    hostport, semi, rest = text.partition(";")
    try:
        host, port = parse_host_port(hostport)
        params = parse_params(";" + rest, allow_quoted=False) if semi else None
    except SipSyntaxError as e:
        raise ValueError(f"malformed route {route!r}: {e}") from None
    transport = (params.get("transport") or "tls").lower() if params is not None else "tls"
    if transport not in ("tls", "tcp"):
        raise ValueError(f"unsupported transport in route {route!r}")
    return Target(host, port if port is not None else DEFAULT_TLS_PORT, transport == "tls", "route")


def targets_from_srv(
    domain: str,
    answers: Iterable[list[SRVRecord]],
    rng: random.Random | None = None,
) -> list[Target]:
    """
    Combine the SRV answers for L{SRV_PREFIXES} (in that order) into the
    targets to try.

    @raise ResolutionError: The domain explicitly offers no service.
    """
    targets: list[Target] = []
    explicit_none = False
    any_records = False
    for records in answers:
        if not records:
            continue
        any_records = True
        if no_service(records):
            explicit_none = True
            continue
        for record in order_srv(records, rng):
            target = Target(record.target.rstrip("."), record.port, True, "srv")
            if record.target not in ("", ".") and target not in targets:
                targets.append(target)
    if targets:
        return targets
    if explicit_none or any_records:
        raise ResolutionError(f"{domain} does not offer SIP federation")
    return [Target(domain, DEFAULT_TLS_PORT, True, "address")]


def expected_identities(domain: str, target: Target, extra: Iterable[str] = ()) -> frozenset[str]:
    """
    The certificate identities acceptable for C{target} when it serves
    C{domain}: the domain; the target host if it is the domain or a
    name inside it (C{sip.contoso.com} for C{contoso.com}), or if it
    comes from a configured route; and C{extra} (a partner's configured
    Edge FQDN).
    """
    domain = domain.rstrip(".").lower()
    host = target.host.rstrip(".").lower()
    names = {domain, *(name.rstrip(".").lower() for name in extra)}
    if host == domain or host.endswith("." + domain) or target.source == "route":
        names.add(host)
    return frozenset(names)


class SipResolver(RoutedResolver[Target]):
    """
    Resolves remote SIP domains and URIs to targets and addresses.
    """

    def read_route(self, route: str) -> Target:
        """
        Read a static route (see L{parse_route}).
        """
        return parse_route(route)

    def targets(self, domain: str) -> Deferred[list[Target]]:
        """
        The servers to try for SIP domain C{domain}, in order.

        Fails with L{ResolutionError} if the domain offers no service.
        """
        return Deferred.fromCoroutine(self._targets(domain.rstrip(".").lower()))

    async def _targets(self, domain: str) -> list[Target]:
        route = self.route_for(domain)
        if route is not None:
            return [route]
        if is_ip(domain):
            return [Target(domain, DEFAULT_TLS_PORT, True, "address")]
        answers = []
        for prefix in SRV_PREFIXES:
            records = await self._srv(f"{prefix}.{domain}")
            answers.append(records)
            if records and not no_service(records):
                break  # the first name with service wins
        return targets_from_srv(domain, answers, self._rng)

    def peer_serves(self, domain: str, identities: Iterable[str]) -> Deferred[bool]:
        """
        Whether a peer whose certificate proved C{identities} may speak for
        SIP domain C{domain} (inbound authorization of a From domain).

        True if the certificate names the domain itself (RFC 5922), or
        names a server the domain publishes for federation: a configured
        route's host or an SRV target of L{SRV_PREFIXES}. The latter is how
        Skype for Business federation works (the Edge certificate names
        C{sip.contoso.com}, the SRV record of C{contoso.com} points there)
        and trusts DNS for the link between domain and server, as
        Microsoft's discovered-partner federation does.
        """
        return Deferred.fromCoroutine(self._peer_serves(domain, identities))

    async def _peer_serves(self, domain: str, identities: Iterable[str]) -> bool:
        domain = domain.rstrip(".").lower()
        names = {name.rstrip(".").lower() for name in identities}
        if domain in names:
            return True
        route = self.route_for(domain)
        if route is not None:
            return route.host.lower() in names
        for prefix in SRV_PREFIXES:
            for record in await self._srv(f"{prefix}.{domain}"):
                if record.target.rstrip(".").lower() in names:
                    return True
        return False

    def targets_for_uri(self, uri: SipURI) -> Deferred[list[Target]]:
        """
        The servers for a SIP URI (RFC 3263 section 4.2): C{maddr}
        replaces the host; an explicit port or an IP host is used as is;
        otherwise the host is resolved like a domain (L{targets}).
        """
        host = uri.params.get("maddr") or uri.host
        if host.startswith("["):
            host = host[1:-1]
        tls = uri.transport != "tcp"
        if uri.port is not None or is_ip(host):
            port = uri.port if uri.port is not None else DEFAULT_TLS_PORT
            return succeed([Target(host, port, tls, "uri")])
        return self.targets(host)
