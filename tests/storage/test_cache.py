# -*- test-case-name: tests.storage.test_cache -*-
"""
L{CachingStore}: the whole store contract through the cache (over the
memory store and SQLite), and what the cache itself promises: repeated
reads served from memory, the hub's own writes never read stale, a read
that raced a write not kept, entries aged out, and a bounded size.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from nextplane.model.address import Address
from nextplane.storage.cache import CachingStore
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
    FederationMode,
    TenantPolicy,
    UserPolicy,
)
from nextplane.storage.sqlite import SQLiteStore

from .contract import StoreContract

JOHN = Address("john", "acme.test")
PETER = Address("peter", "widget.test")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class CachedMemoryStoreTests(StoreContract, TestCase):
    """
    The cache over L{MemoryStore} honours the L{IStore} contract.
    """

    async def make_store(self) -> CachingStore:
        return CachingStore(MemoryStore(), Clock())


class CachedSQLiteStoreTests(StoreContract, TestCase):
    """
    The cache over L{SQLiteStore} honours the L{IStore} contract.
    """

    async def make_store(self) -> CachingStore:
        return CachingStore(SQLiteStore(":memory:"), Clock())


def _contact(state: ContactState) -> ContactRecord:
    return ContactRecord(
        owner=JOHN,
        external=PETER,
        state=state,
        direction=ContactDirection.OUTBOUND,
        created_at=T0,
        updated_at=T0,
    )


class CountingStore(MemoryStore):
    """
    A memory store that counts reads and can hold them back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.held: list[tuple[Deferred[Any], Any]] = []
        self.hold = False

    def get_contact(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        self.reads += 1
        answer = super().get_contact(owner, external)
        if not self.hold:
            return answer
        held: Deferred[ContactRecord | None] = Deferred()
        answer.addCallback(lambda value: self.held.append((held, value)))
        return held

    def get_tenant_policy(self, tenant: str) -> Deferred[TenantPolicy]:
        self.reads += 1
        return super().get_tenant_policy(tenant)

    def list_domain_policies(self, tenant: str) -> Deferred[list[DomainPolicy]]:
        self.reads += 1
        return super().list_domain_policies(tenant)

    def get_user_policy(self, address: Address) -> Deferred[UserPolicy | None]:
        self.reads += 1
        return super().get_user_policy(address)


class CacheBehaviourTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.backing = CountingStore()
        self.successResultOf(self.backing.open())
        self.store = CachingStore(self.backing, self.clock, ttl=5.0, max_entries=3)

    def contact(self) -> ContactRecord | None:
        return self.successResultOf(self.store.get_contact(JOHN, PETER))  # type: ignore[no-any-return]

    def test_repeated_reads_served_from_memory(self) -> None:
        """
        A second read of the same contact does not reach the store.
        """
        self.successResultOf(self.store.put_contact(_contact(ContactState.ACCEPTED)))
        self.contact()
        self.contact()
        self.assertEqual(self.backing.reads, 1)
        self.assertEqual(self.store.stats()["contact"], {"entries": 1, "hits": 1, "misses": 1})

    def test_own_write_seen_at_once(self) -> None:
        """
        After the hub writes a contact, its next read sees the write.
        """
        self.successResultOf(self.store.put_contact(_contact(ContactState.ACCEPTED)))
        self.assertEqual(self.contact().state, ContactState.ACCEPTED)  # type: ignore[union-attr]
        self.successResultOf(self.store.put_contact(_contact(ContactState.REVOKED)))
        self.assertEqual(self.contact().state, ContactState.REVOKED)  # type: ignore[union-attr]

    def test_policies_invalidated_by_their_writes(self) -> None:
        """
        Tenant policy, user policy and domain rules are re-read after a change.
        """
        store = self.store
        self.assertEqual(
            self.successResultOf(store.get_tenant_policy("acme.test")).federation,
            FederationMode.ALL,
        )
        self.successResultOf(
            store.put_tenant_policy(TenantPolicy("acme.test", FederationMode.ALLOW_LIST))
        )
        self.assertEqual(
            self.successResultOf(store.get_tenant_policy("acme.test")).federation,
            FederationMode.ALLOW_LIST,
        )
        self.assertEqual(self.successResultOf(store.list_domain_policies("acme.test")), [])
        self.successResultOf(
            store.put_domain_policy(DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK))
        )
        rules = self.successResultOf(store.list_domain_policies("acme.test"))
        self.assertEqual([r.pattern for r in rules], ["widget.test"])
        self.successResultOf(store.remove_domain_policy("acme.test", "widget.test"))
        self.assertEqual(self.successResultOf(store.list_domain_policies("acme.test")), [])
        self.assertIsNone(self.successResultOf(store.get_user_policy(JOHN)))
        self.successResultOf(store.put_user_policy(UserPolicy(JOHN, False)))
        self.assertFalse(self.successResultOf(store.get_user_policy(JOHN)).enabled)  # type: ignore[union-attr]

    def test_read_racing_a_write_is_not_kept(self) -> None:
        """
        A read that began before a write and answers after it is passed on
        but not cached: the next read asks the store again.
        """
        self.successResultOf(self.store.put_contact(_contact(ContactState.ACCEPTED)))
        self.backing.hold = True
        racing = self.store.get_contact(JOHN, PETER)
        self.backing.hold = False
        self.successResultOf(self.store.put_contact(_contact(ContactState.REVOKED)))
        held, stale = self.backing.held.pop()
        held.callback(stale)
        self.assertEqual(self.successResultOf(racing).state, ContactState.ACCEPTED)  # type: ignore[union-attr]
        self.assertEqual(self.contact().state, ContactState.REVOKED)  # type: ignore[union-attr]

    def test_entries_age_out(self) -> None:
        """
        After C{ttl} seconds an entry is read from the store again, so
        another process's writes show within that bound.
        """
        self.contact()
        self.contact()
        self.clock.advance(5.0)
        self.contact()
        self.assertEqual(self.backing.reads, 2)

    def test_stable_entries_outlive_ttl(self) -> None:
        """
        A chat session is served from memory long after C{ttl} (it only
        changes through this store), while a contact is read again.
        """
        first = self.successResultOf(self.store.get_or_create_session(JOHN, PETER, T0))
        self.clock.advance(60)
        again = self.successResultOf(self.store.get_or_create_session(PETER, JOHN, T0))
        self.assertIs(again, first)
        self.assertEqual(self.store.stats()["session"]["hits"], 1)

    def test_ttl_zero_disables(self) -> None:
        """
        With C{ttl=0} every read reaches the store.
        """
        store = CachingStore(self.backing, self.clock, ttl=0)
        for _ in range(3):
            self.successResultOf(store.get_contact(JOHN, PETER))
        self.assertEqual(self.backing.reads, 3)

    def test_size_bounded(self) -> None:
        """
        A family never holds more than C{max_entries}.
        """
        for index in range(10):
            self.successResultOf(self.store.get_contact(JOHN, Address(f"p{index}", "widget.test")))
            self.assertLessEqual(self.store.stats()["contact"]["entries"], 3)

    def test_domain_rules_copy(self) -> None:
        """
        Callers get their own list of rules: changing it changes no cache.
        """
        self.successResultOf(
            self.store.put_domain_policy(
                DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK)
            )
        )
        first = self.successResultOf(self.store.list_domain_policies("acme.test"))
        first.clear()
        self.assertEqual(len(self.successResultOf(self.store.list_domain_policies("acme.test"))), 1)
