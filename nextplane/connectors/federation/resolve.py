# -*- test-case-name: tests.federation.test_resolve -*-
"""
The part of a federation resolver every protocol shares: static routes
from configuration, taking precedence over DNS, and the A/AAAA lookups of
a target host, through an injected L{IResolver} (see L{nextplane.dns}).
Each protocol adds its own SRV names and target type.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Generic, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IResolver

from ...dns import SRVRecord, lookup_addresses, lookup_srv

__all__ = ["RoutedResolver"]

TargetT = TypeVar("TargetT")


class RoutedResolver(Generic[TargetT]):
    """
    Static routes and address lookups for one federation protocol.
    """

    def __init__(
        self,
        resolver: IResolver,
        static_routes: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        prefer_ipv6: bool = False,
    ) -> None:
        """
        @param resolver: Where DNS questions go.
        @param static_routes: C{{domain: route}} (see L{read_route}), taking
            precedence over DNS.
        @param rng: Random source for SRV weights.
        @param prefer_ipv6: Try AAAA addresses before A addresses.
        """
        self._resolver = resolver
        self._routes = {
            domain.rstrip(".").lower(): self.read_route(route)
            for domain, route in (static_routes or {}).items()
        }
        self._rng = rng if rng is not None else random.Random()
        self._prefer_ipv6 = prefer_ipv6

    def read_route(self, route: str) -> TargetT:
        """
        Read a configured route into a target.

        @raise ValueError: Malformed route.
        """
        raise NotImplementedError

    def route_for(self, domain: str) -> TargetT | None:
        """
        The configured route of C{domain} (normalised), if any.
        """
        return self._routes.get(domain.rstrip(".").lower())

    async def _srv(self, name: str) -> list[SRVRecord]:
        return await lookup_srv(self._resolver, name)

    def addresses(self, host: str) -> Deferred[list[str]]:
        """
        The IP addresses of C{host} (A then AAAA, or the other way round with
        C{prefer_ipv6}); an IP literal is returned as is. An empty list if
        none resolve.
        """
        return Deferred.fromCoroutine(self._addresses(host))

    async def _addresses(self, host: str) -> list[str]:
        return await lookup_addresses(self._resolver, host, self._prefer_ipv6)
