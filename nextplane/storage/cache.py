# -*- test-case-name: tests.storage.test_cache -*-
"""
A read cache in front of any L{IStore}, for the lookups every routed event
repeats: tenant and user policies, domain rules, contacts, users, chat
sessions and message-id mappings.

Writes go through to the store and then drop the entries they touch, so
one hub process never reads its own writes stale. A read that was under
way while a write of the same kind happened does not fill the cache (its
answer may predate the write). Entries that decide policy (tenant and user
policies, domain rules, contacts) live at most C{ttl} seconds, which bounds
how stale a write made by I{another} process (another node on the same
PostgreSQL database, an operator's SQL) can look here; C{ttl = 0} turns the
cache off. Entries that only ever grow or are rewritten by the hub itself
(chat sessions and their platform references, message-id mappings, users)
live L{STABLE_TTL} seconds, so a conversation that is quiet for longer than
C{ttl} does not cost store reads on every message.

Content never passes through here (the store holds none), so the cache
holds no more than the store does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import date, datetime
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from ..interfaces import IStore
from ..model.address import Address, ChatSessionId
from .records import (
    ChatSessionRecord,
    ContactChange,
    ContactRecord,
    DomainPolicy,
    MessageRef,
    MetadataQuery,
    MetadataRecord,
    PlatformInstallation,
    SipSubscriptionRecord,
    TenantPolicy,
    TenantRecord,
    UsageRow,
    UserPolicy,
    UserRecord,
    WorkRecord,
    WorkState,
)

__all__ = ["STABLE_TTL", "CacheStats", "CachingStore"]

#: Seconds entries of the stable families are kept (see the module docstring).
STABLE_TTL = 3600.0

T = TypeVar("T")

#: Families whose entries may be kept L{STABLE_TTL} seconds.
_STABLE = frozenset({"user", "session", "message"})

#: Families of cached reads; a write drops entries of its family.
_FAMILIES = (
    "tenant_policy",
    "user_policy",
    "domain_rules",
    "contact",
    "user",
    "session",
    "message",
)


class _Family:
    """
    One kind of cached read: entries, a write generation, and counters.
    """

    __slots__ = ("entries", "generation", "hits", "misses", "ttl")

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.entries: dict[Hashable, tuple[float, Any]] = {}
        self.generation = 0
        self.hits = 0
        self.misses = 0


class CacheStats(dict[str, dict[str, int]]):
    """
    Per family: entries, hits, misses (for /healthz and benchmarks).
    """


@implementer(IStore)
class CachingStore:
    """
    L{IStore} that answers repeated reads from memory; see the module
    docstring.

    @param store: The store that holds the data.
    @param clock: Ages the entries.
    @param ttl: Seconds an entry may be served; 0 disables caching.
    @param max_entries: Per family; a full family is emptied (cheaper than
        LRU bookkeeping on every hit, and refilled by the next reads).
    """

    def __init__(
        self, store: IStore, clock: IReactorTime, ttl: float = 5.0, max_entries: int = 100_000
    ) -> None:
        self.store = store
        self._clock = clock
        self._ttl = ttl
        self._max_entries = max_entries
        self._families = {
            name: _Family(max(ttl, STABLE_TTL) if name in _STABLE else ttl) for name in _FAMILIES
        }

    @property
    def backend_name(self) -> str:
        """
        The wrapped store's backend name.
        """
        return self.store.backend_name  # type: ignore[no-any-return]

    def stats(self) -> CacheStats:
        """
        Entries, hits and misses per family.
        """
        return CacheStats(
            {
                name: {"entries": len(f.entries), "hits": f.hits, "misses": f.misses}
                for name, f in self._families.items()
            }
        )

    # -- the cache ----------------------------------------------------------

    def _cached(self, family: str, key: Hashable, load: Callable[[], Deferred[T]]) -> Deferred[T]:
        if self._ttl <= 0:
            return load()
        cache = self._families[family]
        now = self._clock.seconds()
        entry = cache.entries.get(key)
        if entry is not None and entry[0] > now:
            cache.hits += 1
            return succeed(entry[1])
        cache.misses += 1
        generation = cache.generation

        def fill(value: T) -> T:
            # A write of this family since the read began may have changed
            # the answer: serve it, but do not keep it.
            if cache.generation == generation:
                if len(cache.entries) >= self._max_entries:
                    cache.entries.clear()
                cache.entries[key] = (now + cache.ttl, value)
            return value

        return load().addCallback(fill)

    def _drop(self, family: str, *keys: Hashable) -> None:
        cache = self._families[family]
        cache.generation += 1
        if keys:
            for key in keys:
                cache.entries.pop(key, None)
        else:
            cache.entries.clear()

    def _write(self, write: Deferred[T], family: str, *keys: Hashable) -> Deferred[T]:
        # Drop now (reads from here on wait for the store) and again when
        # the write lands (a read that began in between must not be kept).
        self._drop(family, *keys)

        def landed(result: T) -> T:
            self._drop(family, *keys)
            return result

        return write.addBoth(landed)

    # -- lifecycle ------------------------------------------------------------

    def open(self) -> Deferred[int]:
        return self.store.open()  # type: ignore[no-any-return]

    def close(self) -> Deferred[None]:
        for name in _FAMILIES:
            self._drop(name)
        return self.store.close()  # type: ignore[no-any-return]

    def schema_version(self) -> Deferred[int]:
        return self.store.schema_version()  # type: ignore[no-any-return]

    # -- tenants and users ----------------------------------------------------

    def put_tenant(self, tenant: TenantRecord) -> Deferred[None]:
        return self.store.put_tenant(tenant)  # type: ignore[no-any-return]

    def get_tenant(self, domain: str) -> Deferred[TenantRecord | None]:
        return self.store.get_tenant(domain)  # type: ignore[no-any-return]

    def list_tenants(self) -> Deferred[list[TenantRecord]]:
        return self.store.list_tenants()  # type: ignore[no-any-return]

    def put_user(self, user: UserRecord) -> Deferred[None]:
        # A user may move to another address: drop every user entry.
        return self._write(self.store.put_user(user), "user")

    def get_user(self, address: Address) -> Deferred[UserRecord | None]:
        return self._cached("user", ("address", address.key), lambda: self.store.get_user(address))

    def find_user(self, platform: str, platform_id: str) -> Deferred[UserRecord | None]:
        return self._cached(
            "user",
            ("platform", platform, platform_id),
            lambda: self.store.find_user(platform, platform_id),
        )

    def list_users(self, tenant: str) -> Deferred[list[UserRecord]]:
        return self.store.list_users(tenant)  # type: ignore[no-any-return]

    # -- contacts -------------------------------------------------------------

    def put_contact(self, contact: ContactRecord) -> Deferred[None]:
        return self._write(
            self.store.put_contact(contact), "contact", (contact.owner.key, contact.external.key)
        )

    def get_contact(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        return self._cached(
            "contact", (owner.key, external.key), lambda: self.store.get_contact(owner, external)
        )

    def change_contacts(self, change: ContactChange) -> Deferred[list[ContactRecord]]:
        # Any number of contacts may change: drop them all.
        return self._write(self.store.change_contacts(change), "contact")

    def list_contacts(
        self,
        owner: Address | None = None,
        external_domain: str | None = None,
        state: str | None = None,
    ) -> Deferred[list[ContactRecord]]:
        return self.store.list_contacts(owner, external_domain, state)  # type: ignore[no-any-return]

    # -- sessions and message ids ---------------------------------------------

    def get_or_create_session(
        self, first: Address, second: Address, now: datetime
    ) -> Deferred[ChatSessionRecord]:
        pair = tuple(sorted((first.key, second.key)))
        return self._cached(
            "session", ("pair", pair), lambda: self.store.get_or_create_session(first, second, now)
        )

    def get_session(self, session_id: ChatSessionId) -> Deferred[ChatSessionRecord | None]:
        return self._cached(
            "session", ("id", session_id.value), lambda: self.store.get_session(session_id)
        )

    def set_session_ref(self, session_id: ChatSessionId, platform: str, ref: str) -> Deferred[None]:
        # Records by pair and by ref carry the refs too: drop the family.
        return self._write(self.store.set_session_ref(session_id, platform, ref), "session")

    def find_session_by_ref(self, platform: str, ref: str) -> Deferred[ChatSessionRecord | None]:
        return self._cached(
            "session", ("ref", platform, ref), lambda: self.store.find_session_by_ref(platform, ref)
        )

    def map_message(
        self, message_id: str, platform: str, native_id: str, session_id: ChatSessionId | None
    ) -> Deferred[None]:
        return self._write(
            self.store.map_message(message_id, platform, native_id, session_id),
            "message",
            ("hub", platform, native_id),
            ("native", message_id, platform),
        )

    def find_message_id(self, platform: str, native_id: str) -> Deferred[str | None]:
        return self._cached(
            "message",
            ("hub", platform, native_id),
            lambda: self.store.find_message_id(platform, native_id),
        )

    def find_native_id(self, message_id: str, platform: str) -> Deferred[str | None]:
        return self._cached(
            "message",
            ("native", message_id, platform),
            lambda: self.store.find_native_id(message_id, platform),
        )

    # -- policies -------------------------------------------------------------

    def put_tenant_policy(self, policy: TenantPolicy) -> Deferred[None]:
        return self._write(self.store.put_tenant_policy(policy), "tenant_policy", policy.tenant)

    def get_tenant_policy(self, tenant: str) -> Deferred[TenantPolicy]:
        return self._cached("tenant_policy", tenant, lambda: self.store.get_tenant_policy(tenant))

    def put_user_policy(self, policy: UserPolicy) -> Deferred[None]:
        return self._write(self.store.put_user_policy(policy), "user_policy", policy.address.key)

    def get_user_policy(self, address: Address) -> Deferred[UserPolicy | None]:
        return self._cached("user_policy", address.key, lambda: self.store.get_user_policy(address))

    def put_domain_policy(self, policy: DomainPolicy) -> Deferred[None]:
        return self._write(self.store.put_domain_policy(policy), "domain_rules", policy.tenant)

    def remove_domain_policy(self, tenant: str, pattern: str) -> Deferred[bool]:
        return self._write(self.store.remove_domain_policy(tenant, pattern), "domain_rules", tenant)

    def list_domain_policies(self, tenant: str) -> Deferred[list[DomainPolicy]]:
        # A fresh list each time: callers may sort or extend theirs.
        return self._cached(
            "domain_rules", tenant, lambda: self.store.list_domain_policies(tenant)
        ).addCallback(list)

    # -- SIP subscriptions ---------------------------------------------------

    def put_sip_subscription(self, record: SipSubscriptionRecord) -> Deferred[None]:
        return self.store.put_sip_subscription(record)  # type: ignore[no-any-return]

    def remove_sip_subscription(self, call_id: str, local_tag: str) -> Deferred[bool]:
        return self.store.remove_sip_subscription(call_id, local_tag)  # type: ignore[no-any-return]

    def list_sip_subscriptions(self) -> Deferred[list[SipSubscriptionRecord]]:
        return self.store.list_sip_subscriptions()  # type: ignore[no-any-return]

    # -- platform installations -----------------------------------------------

    def put_installation(self, installation: PlatformInstallation) -> Deferred[None]:
        return self.store.put_installation(installation)  # type: ignore[no-any-return]

    def get_installation(
        self, platform: str, workspace: str
    ) -> Deferred[PlatformInstallation | None]:
        return self.store.get_installation(platform, workspace)  # type: ignore[no-any-return]

    def list_installations(
        self, platform: str | None = None
    ) -> Deferred[list[PlatformInstallation]]:
        return self.store.list_installations(platform)  # type: ignore[no-any-return]

    def remove_installation(self, platform: str, workspace: str) -> Deferred[bool]:
        return self.store.remove_installation(platform, workspace)  # type: ignore[no-any-return]

    # -- metadata -------------------------------------------------------------

    def append_metadata(self, record: MetadataRecord) -> Deferred[int]:
        return self.store.append_metadata(record)  # type: ignore[no-any-return]

    def query_metadata(self, query: MetadataQuery) -> Deferred[list[MetadataRecord]]:
        return self.store.query_metadata(query)  # type: ignore[no-any-return]

    def usage(
        self, since: date, until: date, group_by: Iterable[str], tenant: str | None = None
    ) -> Deferred[list[UsageRow]]:
        return self.store.usage(since, until, group_by, tenant)  # type: ignore[no-any-return]

    # -- message refs: never cached (the connectors keep the hot ones) --------

    def put_message_ref(self, ref: MessageRef) -> Deferred[None]:
        return self.store.put_message_ref(ref)  # type: ignore[no-any-return]

    def find_message_ref(
        self, platform: str, conversation: str, native_id: str
    ) -> Deferred[MessageRef | None]:
        return self.store.find_message_ref(platform, conversation, native_id)  # type: ignore[no-any-return]

    def message_ref_by_hub(self, platform: str, hub_id: str) -> Deferred[MessageRef | None]:
        return self.store.message_ref_by_hub(platform, hub_id)  # type: ignore[no-any-return]

    def thread_start(
        self, platform: str, conversation: str, contact: Address
    ) -> Deferred[MessageRef | None]:
        return self.store.thread_start(platform, conversation, contact)  # type: ignore[no-any-return]

    def prune_message_refs(self, before: datetime) -> Deferred[int]:
        return self.store.prune_message_refs(before)  # type: ignore[no-any-return]

    # -- work records: never cached, each write must reach the store ----------

    def claim_work(self, record: WorkRecord) -> Deferred[bool]:
        return self.store.claim_work(record)  # type: ignore[no-any-return]

    def update_work(
        self, source: str, origin: str, state: WorkState, now: datetime, delivered_id: str = ""
    ) -> Deferred[None]:
        return self.store.update_work(source, origin, state, now, delivered_id)  # type: ignore[no-any-return]

    def unfinished_work(self) -> Deferred[list[WorkRecord]]:
        return self.store.unfinished_work()  # type: ignore[no-any-return]

    def find_work(self, source: str, origin: str) -> Deferred[WorkRecord | None]:
        return self.store.find_work(source, origin)  # type: ignore[no-any-return]

    def prune_work(self, before: datetime) -> Deferred[int]:
        return self.store.prune_work(before)  # type: ignore[no-any-return]

    def dump_tables(self) -> Deferred[dict[str, list[tuple[Any, ...]]]]:
        return self.store.dump_tables()  # type: ignore[no-any-return]
