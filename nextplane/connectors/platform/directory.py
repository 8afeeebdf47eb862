# -*- test-case-name: tests.platform.test_directory -*-
"""
Platform users as hub users, and how external contacts are shown.

  - L{Directory.register}: a platform user becomes hub user
    C{<local>@<tenant domain>}, where C{<local>} is the local part of their
    platform e-mail when it is at the tenant's domain, else their handle;
    an address already taken by someone else gets C{.<native id>} added.
  - L{Directory.shown}: a contact's display name and picture, from a hub
    user's stored profile, else a profile fetched from the contact's side
    (e.g. an XMPP vCard), else the name their contact request carried. A
    profile never delays a message: what is known is used now, and a
    missing profile is fetched beside the message for the next one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cachetools import LRUCache, TTLCache
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...model.address import Address, InvalidAddress
from ...model.profile import Profile
from ...storage.interfaces import IDirectory
from ...storage.records import UserRecord

__all__ = ["Directory", "ProfileFetch", "address_for"]

log = Logger()

#: Fetches an external contact's profile (requester, contact).
ProfileFetch = Callable[[Address, Address], Deferred[Profile | None]]


def address_for(domain: str, email: str | None, *handles: str | None) -> Address | None:
    """
    The hub address of a platform user of tenant C{domain}: the e-mail's
    local part when the e-mail is at C{domain}, else the first handle
    given; C{None} when that makes no valid address.
    """
    local = None
    if email is not None:
        name, _, at = email.rpartition("@")
        if at.lower() == domain:
            local = name
    local = local or next((h for h in handles if h), None)
    if not local:
        return None
    try:
        return Address(local, domain)
    except InvalidAddress:
        return None


class Directory:
    """
    Registering platform users and showing contacts; see the module
    docstring.

    @ivar fetch_profile: Fetches an external contact's profile, if the hub
        can (the router's L{nextplane.router.Router.profile_of}).
    @ivar names: Display names contacts gave in their requests.
    """

    def __init__(
        self,
        store: IDirectory,
        platform: str,
        clock: IReactorTime,
        fetch_profile: ProfileFetch | None = None,
        profile_ttl: float = 3600.0,
    ) -> None:
        self._store = store
        self.platform = platform
        self.fetch_profile = fetch_profile
        self.names: LRUCache[str, str] = LRUCache(100_000)
        self._profiles: TTLCache[str, Profile | None] = TTLCache(
            10_000, profile_ttl, timer=clock.seconds
        )
        self._fetching: dict[str, Deferred[Any]] = {}

    async def register(
        self,
        *,
        domain: str,
        platform_id: str,
        native_id: str,
        email: str | None,
        handle: str | None,
        display_name: str | None,
        avatar_url: str | None = None,
        title: str | None = None,
    ) -> UserRecord:
        """
        The hub user of a platform user, stored on first sight.

        @param platform_id: The store's id (qualified by workspace or tenant).
        @param native_id: The platform's own user id (an address of last
            resort, and the collision suffix).
        """
        known = await self._store.find_user(self.platform, platform_id)
        if known is not None:
            return known  # type: ignore[no-any-return]
        fallback = native_id.lower()
        address = address_for(domain, email, handle, fallback) or Address(fallback, domain)
        taken = await self._store.get_user(address)
        if taken is not None and (taken.platform, taken.platform_id) != (
            self.platform,
            platform_id,
        ):
            address = Address(f"{address.local}.{fallback}", domain)
        record = UserRecord(
            address=address,
            tenant=domain,
            platform=self.platform,
            platform_id=platform_id,
            display_name=display_name or address.local,
            avatar_url=avatar_url,
            title=title,
        )
        await self._store.put_user(record)
        log.info(
            "{platform} user {user} is {address}",
            platform=self.platform,
            user=platform_id,
            address=str(address),
        )
        return record

    async def shown(self, contact: Address, requester: Address) -> tuple[str | None, str | None]:
        """
        (display name, picture URL) of C{contact} as far as known now; see
        the module docstring.
        """
        user = await self._store.get_user(contact)
        name: str | None
        if user is not None:
            name, icon = user.display_name, user.avatar_url
        else:
            profile = self._profile(requester, contact)
            name = profile.display_name if profile is not None else None
            icon = profile.avatar_url if profile is not None else None
        return name or self.names.get(contact.key), icon

    def _profile(self, requester: Address, contact: Address) -> Profile | None:
        key = contact.key
        if key in self._profiles:
            return self._profiles[key]
        if self.fetch_profile is not None and key not in self._fetching:
            d = self.fetch_profile(requester, contact)
            self._fetching[key] = d

            def keep(result: Any) -> None:
                self._fetching.pop(key, None)
                if isinstance(result, Failure):
                    log.info("no profile of {contact}: {error}", contact=key, error=result.value)
                    result = None
                self._profiles[key] = result

            d.addBoth(keep)
        # A fetch that answered at once (a cache on the other side) is used now.
        return self._profiles.get(key)

    def pending(self) -> list[Deferred[Any]]:
        """
        Profile fetches under way (stopping waits for them).
        """
        return list(self._fetching.values())
