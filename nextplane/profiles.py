# -*- test-case-name: tests.test_profiles -*-
"""
Profiles of addresses, as the hub can show them: a tenant user's stored
profile, or what the federation connector reaching a remote address fetches
(a vCard for XMPP). Answers, found or not, are cached for a while.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from .config import TenantConfig
from .interfaces import DeliveryFailed, IConnector, IProfileSource, IStore
from .locate import FederationLocator
from .model.address import Address
from .model.profile import Profile

__all__ = ["ProfileLookup"]

log = Logger()

_CACHE_LIMIT = 50_000
_FOUND_TTL = 3600.0
_MISSING_TTL = 300.0


class ProfileLookup:
    """
    Look up and cache profiles; never fails.

    @param tenant_for: The tenant of a hub address, or C{None} if remote.
    @param connectors: The running connectors, by name (read at each
        lookup).
    """

    def __init__(
        self,
        store: IStore,
        clock: IReactorTime,
        locator: FederationLocator,
        tenant_for: Callable[[Address], TenantConfig | None],
        connectors: Mapping[str, IConnector],
    ) -> None:
        self._store = store
        self._clock = clock
        self._locator = locator
        self._tenant_for = tenant_for
        self._connectors = connectors
        self._cache: dict[str, tuple[float, Profile | None]] = {}

    def profile_of(self, requester: Address, address: Address) -> Deferred[Profile | None]:
        """
        What the hub can show of C{address}.

        @param requester: The hub user asking (the XMPP request comes from
            them).
        """
        return Deferred.fromCoroutine(self._profile_of(requester, address))

    async def _profile_of(self, requester: Address, address: Address) -> Profile | None:
        now = self._clock.seconds()
        cached = self._cache.get(address.key)
        if cached is not None and cached[0] > now:
            return cached[1]
        profile: Profile | None = None
        try:
            if self._tenant_for(address) is not None:
                user = await self._store.get_user(address)
                if user is not None:
                    profile = Profile(user.display_name or None, user.title, user.avatar_url)
            else:
                connector = self._connectors.get(await self._locator.locate(address.domain))
                if connector is not None and IProfileSource.providedBy(connector):
                    profile = await connector.fetch_profile(requester, address)
        except DeliveryFailed:
            profile = None  # unreachable domain: nothing to show
        except Exception:
            log.failure("looking up the profile of {address} failed", address=str(address))
            profile = None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        ttl = _FOUND_TTL if profile is not None else _MISSING_TTL
        self._cache[address.key] = (now + ttl, profile)
        return profile
