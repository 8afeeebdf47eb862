# -*- test-case-name: tests.test_locate -*-
"""
Which federation protocol reaches a remote domain.

Configured partners come first, then the static routes federation
connectors configure themselves (C{[connectors.sip.routes]}); otherwise DNS
SRV records, asked through an
injected L{IResolver} (tests give a fake; production builds one from
C{[dns]}): C{_xmpp-server._tcp} / C{_xmpps-server._tcp} mean XMPP,
C{_sipfederationtls._tcp} / C{_sips._tcp} mean SIP. Answers are cached for
a configurable time on the injected clock, failures for a shorter time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.interfaces import IReactorTime, IResolver
from twisted.logger import Logger
from twisted.names import dns
from twisted.names.error import DNSNameError, DomainError
from twisted.python.failure import Failure

from .config import PartnerConfig
from .interfaces import DeliveryFailed

__all__ = ["SRV_NAMES", "FederationLocator", "route_protocols"]

#: SRV owner-name prefixes that show a domain federates over each protocol.
SRV_NAMES: Mapping[str, tuple[str, ...]] = {
    "xmpp": ("_xmpps-server._tcp", "_xmpp-server._tcp"),
    "sip": ("_sipfederationtls._tcp", "_sips._tcp"),
}

_NEGATIVE_CACHE_SECONDS = 30.0

log = Logger()


class FederationLocator:
    """
    Finds the federation protocol of remote domains.

    @param partners: Statically configured partner domains.
    @param protocols: Federation connectors available, in order of
        preference when a domain offers several.
    @param resolver: Where SRV questions go, or C{None} to use partners only.
    @param routes: Remote domain to the federation protocol whose connector
        has a static route to it (see L{route_protocols}); asked after the
        partners, before DNS.
    """

    def __init__(
        self,
        partners: Sequence[PartnerConfig],
        protocols: Sequence[str],
        resolver: IResolver | None,
        clock: IReactorTime,
        cache_seconds: float = 300.0,
        routes: Mapping[str, str] | None = None,
    ) -> None:
        self._partners = {p.domain: p for p in partners}
        self._routes = {domain.lower(): protocol for domain, protocol in (routes or {}).items()}
        self._protocols = tuple(protocols)
        self._resolver = resolver
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}

    def set_partners(self, partners: Sequence[PartnerConfig]) -> None:
        """
        Use C{partners} from now on (a configuration reload); what DNS
        answered for a domain that was or becomes a partner is forgotten.
        """
        new = {p.domain: p for p in partners}
        for domain in self._partners.keys() | new.keys():
            self._cache.pop(domain, None)
        self._partners = new

    def known_protocol(self, domain: str) -> str | None:
        """
        The protocol reaching C{domain} if known without asking DNS (a
        partner, a connector's static route, or a fresh answer), for
        metrics labels.
        """
        partner = self._partners.get(domain)
        if partner is not None:
            return partner.protocol
        routed = self._routes.get(domain.lower())
        if routed is not None:
            return routed
        cached = self._cache.get(domain)
        return cached[1] if cached is not None else None

    def partner(self, domain: str) -> PartnerConfig | None:
        """
        The configured partner entry for C{domain}, if any.
        """
        return self._partners.get(domain)

    def locate(self, domain: str) -> Deferred[str]:
        """
        @return: A Deferred firing with the protocol name (C{"xmpp"} or
            C{"sip"}), or failing with L{DeliveryFailed}
            (C{remote-server-not-found}).
        """
        partner = self._partners.get(domain)
        if partner is not None:
            return succeed(partner.protocol)
        routed = self._routes.get(domain.lower())
        if routed is not None:
            return succeed(routed)
        cached = self._cache.get(domain)
        now = self._clock.seconds()
        if cached is not None and cached[0] > now:
            return self._answer(domain, cached[1])
        if self._resolver is None or not self._protocols:
            return self._answer(domain, None)
        return self._discover(domain)

    def _answer(self, domain: str, protocol: str | None) -> Deferred[str]:
        if protocol is None:
            offered = " or ".join(p.upper() for p in self._protocols) or "any"
            failure = DeliveryFailed(
                "remote-server-not-found",
                f"{domain} is not reachable: it publishes no {offered} federation records",
            )
            return fail(failure)
        return succeed(protocol)

    def _discover(self, domain: str) -> Deferred[str]:
        return Deferred.fromCoroutine(self._discover_protocol(domain)).addCallback(
            lambda protocol: self._answer(domain, protocol)
        )

    async def _discover_protocol(self, domain: str) -> str | None:
        assert self._resolver is not None
        questions = [
            (protocol, f"{prefix}.{domain}")
            for protocol in self._protocols
            for prefix in SRV_NAMES.get(protocol, ())
        ]
        # Ask everything at once; answer by preference order.
        lookups = [self._resolver.lookupService(name, None) for _, name in questions]  # type: ignore[arg-type]
        results = await DeferredList(lookups, consumeErrors=True)
        protocol = None
        for (name, _), (ok, value) in zip(questions, results, strict=True):
            if ok and _has_srv(value):
                protocol = name
                break
            if not ok and not _is_absent(value):  # type: ignore[arg-type]
                log.warn(
                    "SRV lookup for {domain} failed: {error}",
                    domain=domain,
                    error=value.getErrorMessage(),  # type: ignore[attr-defined]
                )
        ttl = self._cache_seconds if protocol else _NEGATIVE_CACHE_SECONDS
        self._cache[domain] = (self._clock.seconds() + ttl, protocol)
        return protocol


def route_protocols(
    static_domains: Mapping[str, Iterable[str]], protocols: Sequence[str]
) -> dict[str, str]:
    """
    The locator's C{routes}: each domain a federation connector reaches by
    a static route, to that connector's protocol. C{static_domains} maps a
    connector name to its domains; where two connectors route the same
    domain, the first in C{protocols} wins.
    """
    routes: dict[str, str] = {}
    for protocol in reversed(tuple(protocols)):
        for domain in static_domains.get(protocol, ()):
            routes[domain.lower()] = protocol
    return routes


def _has_srv(value: object) -> bool:
    answers = value[0] if isinstance(value, tuple) else ()
    for record in answers:
        if record.type == dns.SRV and str(record.payload.target) not in ("", "."):
            return True
    return False


def _is_absent(failure: Failure) -> bool:
    return failure.check(DNSNameError, DomainError) is not None
