# -*- test-case-name: tests.storage -*-
"""
The behaviour every L{IStore} must have, written once.

L{StoreContract} exercises every L{IStore} method against the store a
test module's C{make_store} builds; L{SQLStoreContract} adds what only the
SQL backends have (migrations, transactions, a database catalogue) and
L{MigrationContract} what needs a database that outlives its store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from zope.interface.verify import verifyObject

from nextplane.interfaces import IStore
from nextplane.model.address import Address, ChatSessionId
from nextplane.storage.migrate import SchemaTooNewError, latest_version, migrate
from nextplane.storage.records import (
    ChatSessionRecord,
    ContactChange,
    ContactDirection,
    ContactRecord,
    ContactState,
    Decision,
    DomainAction,
    DomainPolicy,
    FederationMode,
    MetadataQuery,
    MetadataRecord,
    PlatformInstallation,
    TenantPolicy,
    TenantRecord,
    UsageRow,
    UserPolicy,
    UserRecord,
    WorkRecord,
    WorkState,
)
from nextplane.storage.sql.admin import ADMIN_TABLES
from nextplane.storage.sql.runtime import Op, Query, SecretWriteError, StoreNotOpenError
from nextplane.storage.sql.schema import TABLES

from .admin_contract import dump_with_admin, fill_admin_tables
from .refs_contract import MessageRefsContract, message_ref
from .sip_contract import SipSubscriptionsContract, sip_subscription

if TYPE_CHECKING:
    from twisted.trial.unittest import TestCase

    _Base = TestCase
else:
    _Base = object

__all__ = ["MigrationContract", "SQLStoreContract", "StoreContract"]

ALICE = Address("Alice", "acme.test")
BOB = Address("bob", "remote.example")
CAROL = Address("carol", "acme.test")
DAVE = Address("dave", "other.example")
ERIN = Address("erin", "beta.test")

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
D1, D2, D3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)
PLUS_TWO = timezone(timedelta(hours=2))

TABLE_NAMES = {
    "tenants",
    "users",
    "contacts",
    "chat_sessions",
    "work_records",
    "session_refs",
    "message_map",
    "tenant_policies",
    "user_policies",
    "domain_policies",
    "metadata_log",
    "usage_users",
    "usage_messages",
    "platform_installations",
    "sip_subscriptions",
    "message_refs",
    "admin_accounts",
    "admin_audit",
    "tenant_retirements",
}

#: A bot token as Slack issues them; it must never show in a dump.
BOT_TOKEN = "xoxb-1111-2222-CONTRACTSECRETTOKEN"


def installation(
    team_id: str = "T0ACME001",
    token: str = BOT_TOKEN,
    when: datetime = T0,
    scopes: tuple[str, ...] = ("chat:write", "chat:write.customize", "users:read.email"),
    platform: str = "slack",
    **attributes: str | None,
) -> PlatformInstallation:
    """
    The Slack app (or another C{platform}'s) installed in C{team_id} at
    C{when}; C{attributes} change the Slack bot ids.
    """
    facts = {"bot_user_id": "U0BOT0001", "bot_id": "B0BOT0001", **attributes}
    return PlatformInstallation(platform, team_id, token, scopes, when, facts)


def user(address: Address, tenant: str = "acme.test", platform_id: str = "") -> UserRecord:
    """
    A Slack user record for C{address}.
    """
    return UserRecord(
        address,
        tenant,
        "slack",
        platform_id or f"U-{address.key}",
        display_name=address.local.title(),
        avatar_url=f"https://img.test/{address.local}.png",
        title="Engineer",
    )


def contact(
    owner: Address,
    external: Address,
    state: ContactState = ContactState.PENDING,
    when: datetime = T0,
) -> ContactRecord:
    """
    An outbound contact request made at C{when}.
    """
    return ContactRecord(owner, external, state, ContactDirection.OUTBOUND, when, when)


def meta(
    when: datetime,
    sender: str,
    receiver: str,
    *,
    category: str = "im",
    kind: str = "message",
    decision: Decision = Decision.DELIVERED,
    tenant: str | None = "acme.test",
    remote_domain: str | None = "remote.example",
    platform: str | None = "slack",
    session_id: str | None = None,
    reason: str = "",
) -> MetadataRecord:
    """
    A metadata record with sensible defaults for a delivered Slack message.
    """
    return MetadataRecord(
        timestamp=when,
        sender=sender,
        receiver=receiver,
        category=category,
        kind=kind,
        session_id=session_id,
        decision=decision,
        reason=reason,
        tenant=tenant,
        remote_domain=remote_domain,
        platform=platform,
    )


def _utc_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


class StoreContract(SipSubscriptionsContract, MessageRefsContract, _Base):
    """
    Tests of the L{IStore} contract. Mix into a C{TestCase} that defines
    C{make_store}.

    @ivar store: The opened store under test, closed on cleanup.
    @ivar opened_version: What C{store.open()} fired with.
    """

    store: Any
    opened_version: int

    async def make_store(self) -> Any:
        """
        Build a fresh, empty, unopened store; register any clean-up of the
        database it uses.
        """
        raise NotImplementedError

    async def setUp(self) -> None:
        store = await self.make_store()
        self.opened_version = await store.open()
        self.addCleanup(store.close)
        self.store = store

    # lifecycle

    def test_provides_istore(self) -> None:
        """
        The store provides L{IStore} and names its backend.
        """
        self.assertTrue(verifyObject(IStore, self.store))
        self.assertIn(self.store.backend_name, ("memory", "sqlite", "postgresql"))

    async def test_open_reports_schema_version(self) -> None:
        """
        C{open} fires with the schema version that C{schema_version} reports.
        """
        self.assertIsInstance(self.opened_version, int)
        self.assertGreaterEqual(self.opened_version, 1)
        self.assertEqual(await self.store.schema_version(), self.opened_version)

    # tenants

    async def test_tenant_round_trip(self) -> None:
        """
        A stored tenant comes back by domain; an unknown domain gives C{None}.
        """
        tenant = TenantRecord("acme.test", "slack", "T0001", "Acme Inc.")
        await self.store.put_tenant(tenant)
        self.assertEqual(await self.store.get_tenant("acme.test"), tenant)
        self.assertIsNone(await self.store.get_tenant("unknown.test"))

    async def test_tenant_replaced_by_domain(self) -> None:
        """
        Putting a tenant with an existing domain replaces it.
        """
        await self.store.put_tenant(TenantRecord("acme.test", "slack", "T0001"))
        replacement = TenantRecord("acme.test", "teams", "tenant-guid", "Acme")
        await self.store.put_tenant(replacement)
        self.assertEqual(await self.store.list_tenants(), [replacement])

    async def test_list_tenants_ordered_by_domain(self) -> None:
        """
        Tenants are listed in domain order, not insertion order.
        """
        for domain in ("zeta.test", "acme.test", "beta.test", "acme-two.test"):
            await self.store.put_tenant(TenantRecord(domain, "slack", "T"))
        tenants = await self.store.list_tenants()
        self.assertEqual(
            [t.domain for t in tenants], ["acme-two.test", "acme.test", "beta.test", "zeta.test"]
        )

    # users

    async def test_user_round_trip(self) -> None:
        """
        A stored user comes back with every field, including optional ones.
        """
        alice = user(ALICE)
        plain = UserRecord(CAROL, "acme.test", "slack", "U2")
        await self.store.put_user(alice)
        await self.store.put_user(plain)
        self.assertEqual(await self.store.get_user(ALICE), alice)
        stored = await self.store.get_user(CAROL)
        self.assertEqual(stored, plain)
        self.assertIsNone(stored.avatar_url)
        self.assertIsNone(stored.title)
        self.assertIsNone(await self.store.get_user(BOB))

    async def test_user_address_case_insensitive(self) -> None:
        """
        Users are keyed by address without regard to the local part's case,
        and keep the case they were last stored with.
        """
        await self.store.put_user(user(ALICE))
        found = await self.store.get_user(Address("ALICE", "ACME.test"))
        self.assertEqual(found.address.local, "Alice")
        shouting = user(Address("ALICE", "acme.test"))
        await self.store.put_user(shouting)
        self.assertEqual(await self.store.list_users("acme.test"), [shouting])

    async def test_find_user_by_platform_id(self) -> None:
        """
        A user is found by platform and native id, and only by both.
        """
        await self.store.put_user(user(ALICE, platform_id="U1"))
        await self.store.put_user(user(CAROL, platform_id="U2"))
        self.assertEqual(await self.store.find_user("slack", "U2"), user(CAROL, platform_id="U2"))
        self.assertIsNone(await self.store.find_user("teams", "U1"))
        self.assertIsNone(await self.store.find_user("slack", "U3"))

    async def test_list_users_of_tenant_ordered(self) -> None:
        """
        Only a tenant's users are listed, ordered by case-folded address.
        """
        zed, bea = Address("zed", "acme.test"), Address("Bea", "acme.test")
        for address in (zed, ALICE, bea):
            await self.store.put_user(user(address))
        await self.store.put_user(user(ERIN, tenant="beta.test"))
        users = await self.store.list_users("acme.test")
        self.assertEqual([u.address for u in users], [ALICE, bea, zed])
        self.assertEqual(await self.store.list_users("none.test"), [])

    # contacts

    async def test_contact_round_trip(self) -> None:
        """
        A stored contact comes back by (owner, external) in any case, with
        its timestamps as timezone-aware UTC datetimes.
        """
        local_time = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=PLUS_TWO)
        record = contact(ALICE, BOB, when=local_time)
        await self.store.put_contact(record)
        found = await self.store.get_contact(
            Address("alice", "acme.test"), Address("BOB", "remote.example")
        )
        self.assertEqual(found, record)
        self.assertEqual(found.created_at, datetime(2024, 3, 1, 10, 30, 15, 123456, tzinfo=UTC))
        self.assertTrue(_utc_aware(found.created_at))
        self.assertTrue(_utc_aware(found.updated_at))
        self.assertIsNone(await self.store.get_contact(BOB, ALICE))

    async def test_contact_replaced(self) -> None:
        """
        Putting a contact for the same pair replaces its state and times.
        """
        await self.store.put_contact(contact(ALICE, BOB))
        accepted = ContactRecord(
            ALICE,
            BOB,
            ContactState.ACCEPTED,
            ContactDirection.INBOUND,
            T0,
            T0 + timedelta(minutes=5),
        )
        await self.store.put_contact(accepted)
        self.assertEqual(await self.store.list_contacts(), [accepted])

    async def test_list_contacts_filters(self) -> None:
        """
        Contacts are filtered by owner, external domain and state, alone or
        together, and ordered by (owner, external).
        """
        records = [
            contact(CAROL, BOB, ContactState.ACCEPTED),
            contact(ALICE, DAVE, ContactState.ACCEPTED),
            contact(ALICE, BOB, ContactState.PENDING),
            contact(CAROL, DAVE, ContactState.BLOCKED),
            contact(ERIN, Address("fay", "remote.example"), ContactState.ACCEPTED),
        ]
        for record in records:
            await self.store.put_contact(record)
        a_bob, a_dave, c_bob, c_dave = records[2], records[1], records[0], records[3]
        e_fay = records[4]
        self.assertEqual(await self.store.list_contacts(), [a_bob, a_dave, c_bob, c_dave, e_fay])
        self.assertEqual(
            await self.store.list_contacts(owner=Address("ALICE", "acme.test")), [a_bob, a_dave]
        )
        self.assertEqual(
            await self.store.list_contacts(external_domain="remote.example"),
            [a_bob, c_bob, e_fay],
        )
        self.assertEqual(
            await self.store.list_contacts(state=ContactState.ACCEPTED), [a_dave, c_bob, e_fay]
        )
        self.assertEqual(await self.store.list_contacts(state="blocked"), [c_dave])
        self.assertEqual(
            await self.store.list_contacts(
                owner=CAROL, external_domain="other.example", state="blocked"
            ),
            [c_dave],
        )
        self.assertEqual(
            await self.store.list_contacts(owner=ALICE, state=ContactState.BLOCKED), []
        )

    async def _put_contacts(self) -> list[ContactRecord]:
        records = [
            contact(ALICE, BOB, ContactState.ACCEPTED),
            contact(ALICE, Address("gus", "sub.remote.example"), ContactState.PENDING),
            contact(ALICE, Address("hal", "xremote.example"), ContactState.ACCEPTED),
            contact(CAROL, BOB, ContactState.REVOKED),
            contact(ERIN, Address("fay", "a.remote.example"), ContactState.ACCEPTED),
            contact(ERIN, DAVE, ContactState.PENDING, when=T0 + timedelta(days=3)),
        ]
        for record in records:
            await self.store.put_contact(record)
        return records

    async def test_change_contacts_wildcard(self) -> None:
        """
        A change by C{*.domain} covers its subdomains only, skips contacts
        already in the new state, and returns those it changed, as they are
        now, ordered by (owner, external).
        """
        await self._put_contacts()
        later = T0 + timedelta(hours=1)
        changed = await self.store.change_contacts(
            ContactChange(state=ContactState.REVOKED, at=later, external_pattern="*.Remote.example")
        )
        self.assertEqual(
            [(c.owner, c.external.local, c.state, c.updated_at) for c in changed],
            [
                (ALICE, "gus", ContactState.REVOKED, later),
                (ERIN, "fay", ContactState.REVOKED, later),
            ],
        )
        stored = await self.store.get_contact(ALICE, Address("gus", "sub.remote.example"))
        self.assertEqual(stored, changed[0])
        self.assertEqual(
            (await self.store.get_contact(ALICE, BOB)).state,
            ContactState.ACCEPTED,  # type: ignore[union-attr]
        )

    async def test_change_contacts_filters(self) -> None:
        """
        Owner, external, exact domain, owner domains, states and age filter
        together; an empty set of states or tenants changes nothing.
        """
        await self._put_contacts()
        at = T0 + timedelta(days=5)
        removed = ContactState.REMOVED
        by_domain = await self.store.change_contacts(
            ContactChange(
                state=removed, at=at, external_pattern="remote.example", owner_domains=["ACME.test"]
            )
        )
        self.assertEqual([(c.owner, c.external) for c in by_domain], [(ALICE, BOB), (CAROL, BOB)])
        by_user = await self.store.change_contacts(
            ContactChange(state=removed, at=at, owner=ALICE, from_states=[ContactState.ACCEPTED])
        )
        self.assertEqual([c.external.local for c in by_user], ["hal"])
        aged = await self.store.change_contacts(
            ContactChange(
                state=ContactState.EXPIRED,
                at=at,
                from_states=[ContactState.PENDING],
                updated_before=T0 + timedelta(days=1),
            )
        )
        self.assertEqual([c.external.local for c in aged], ["gus"])
        one = await self.store.change_contacts(
            ContactChange(state=removed, at=at, owner=ERIN, external=DAVE)
        )
        self.assertEqual([c.external for c in one], [DAVE])
        for empty in (
            ContactChange(state=removed, at=at, from_states=[]),
            ContactChange(state=removed, at=at, owner_domains=[]),
        ):
            self.assertEqual(await self.store.change_contacts(empty), [])

    # chat sessions

    async def test_session_created_once_in_either_order(self) -> None:
        """
        The session between two addresses is made once and found again from
        either order and any case; the first call's time is kept.
        """
        first = await self.store.get_or_create_session(BOB, ALICE, T0)
        again = await self.store.get_or_create_session(
            Address("alice", "acme.test"), BOB, T0 + timedelta(hours=1)
        )
        self.assertEqual(again, first)
        self.assertEqual(again.created_at, T0)
        self.assertTrue(_utc_aware(again.created_at))
        other = await self.store.get_or_create_session(ALICE, DAVE, T0)
        self.assertNotEqual(other.session_id, first.session_id)

    async def test_session_pair_in_canonical_order(self) -> None:
        """
        A session names its two addresses in key order whatever the call's
        order, keeping their case.
        """
        record = await self.store.get_or_create_session(BOB, ALICE, T0)
        self.assertEqual((record.first, record.second), (ALICE, BOB))
        self.assertEqual(record.refs, {})
        self.assertEqual(await self.store.get_session(record.session_id), record)

    async def test_get_session_unknown(self) -> None:
        """
        An unknown session id gives C{None}.
        """
        self.assertIsNone(await self.store.get_session(ChatSessionId("no-such-session")))

    async def test_session_refs_replaced_per_platform(self) -> None:
        """
        A session keeps one reference per platform; setting another
        replaces it, and the old reference no longer finds the session.
        """
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        sid = session.session_id
        await self.store.set_session_ref(sid, "slack", "D0001")
        await self.store.set_session_ref(sid, "xmpp", "thread-1")
        await self.store.set_session_ref(sid, "slack", "D0002")
        stored = await self.store.get_session(sid)
        self.assertEqual(stored.refs, {"slack": "D0002", "xmpp": "thread-1"})
        self.assertIsNone(await self.store.find_session_by_ref("slack", "D0001"))
        found = await self.store.find_session_by_ref("slack", "D0002")
        self.assertEqual(found.session_id, sid)
        self.assertEqual(found.refs, {"slack": "D0002", "xmpp": "thread-1"})

    async def test_find_session_by_ref(self) -> None:
        """
        A reference finds its own session only, on its own platform only.
        """
        one = await self.store.get_or_create_session(ALICE, BOB, T0)
        two = await self.store.get_or_create_session(CAROL, BOB, T0)
        await self.store.set_session_ref(one.session_id, "slack", "D1")
        await self.store.set_session_ref(two.session_id, "slack", "D2")
        self.assertEqual(
            (await self.store.find_session_by_ref("slack", "D2")).session_id, two.session_id
        )
        self.assertIsNone(await self.store.find_session_by_ref("teams", "D1"))
        self.assertIsNone(await self.store.find_session_by_ref("slack", "D3"))

    async def test_get_or_create_session_returns_refs(self) -> None:
        """
        Finding an existing session through C{get_or_create_session} brings
        its references along.
        """
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        await self.store.set_session_ref(session.session_id, "slack", "D1")
        again = await self.store.get_or_create_session(BOB, ALICE, T0)
        self.assertEqual(again.refs, {"slack": "D1"})

    # message-id maps

    async def test_map_message_both_directions(self) -> None:
        """
        A mapping is found from the native id and from the hub id, per
        platform.
        """
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        await self.store.map_message("m1", "slack", "1700000000.0001", session.session_id)
        await self.store.map_message("m1", "xmpp", "stanza-1", session.session_id)
        self.assertEqual(await self.store.find_message_id("slack", "1700000000.0001"), "m1")
        self.assertEqual(await self.store.find_message_id("xmpp", "stanza-1"), "m1")
        self.assertEqual(await self.store.find_native_id("m1", "slack"), "1700000000.0001")
        self.assertEqual(await self.store.find_native_id("m1", "xmpp"), "stanza-1")
        self.assertIsNone(await self.store.find_message_id("teams", "1700000000.0001"))
        self.assertIsNone(await self.store.find_native_id("m1", "teams"))
        self.assertIsNone(await self.store.find_native_id("m2", "slack"))

    async def test_map_message_idempotent(self) -> None:
        """
        Mapping the same message twice is harmless and keeps one mapping.
        """
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        for _ in range(2):
            await self.store.map_message("m1", "slack", "n1", session.session_id)
        self.assertEqual(await self.store.find_message_id("slack", "n1"), "m1")
        self.assertEqual(await self.store.find_native_id("m1", "slack"), "n1")
        self.assertEqual(len((await self.store.dump_tables())["message_map"]), 1)

    async def test_remap_message_replaces_lookup(self) -> None:
        """
        Mapping a message again on the same platform replaces the earlier
        native id in both directions.
        """
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        await self.store.map_message("m1", "slack", "n1", session.session_id)
        await self.store.map_message("m1", "slack", "n2", session.session_id)
        self.assertEqual(await self.store.find_native_id("m1", "slack"), "n2")
        self.assertEqual(await self.store.find_message_id("slack", "n2"), "m1")
        self.assertIsNone(await self.store.find_message_id("slack", "n1"))

    async def test_platform_id_moves_to_new_address(self) -> None:
        """
        One platform account maps to one address: storing it under a new
        address replaces the old user.
        """
        await self.store.put_user(user(ALICE, platform_id="U1"))
        await self.store.put_user(user(BOB, platform_id="U1"))
        found = await self.store.find_user("slack", "U1")
        self.assertEqual(found.address, BOB)
        self.assertIsNone(await self.store.get_user(ALICE))

    async def test_session_ref_needs_session(self) -> None:
        """
        A reference for a session that does not exist is refused.
        """
        with self.assertRaises(Exception):  # noqa: B017
            await self.store.set_session_ref(ChatSessionId("nope"), "slack", "D1")

    async def test_map_message_without_session(self) -> None:
        """
        A message may be mapped without a chat session.
        """
        await self.store.map_message("m9", "sip", "call-id-9", None)
        self.assertEqual(await self.store.find_message_id("sip", "call-id-9"), "m9")

    # policy

    async def test_tenant_policy_defaults(self) -> None:
        """
        A tenant without a stored policy gets the default policy.
        """
        self.assertEqual(await self.store.get_tenant_policy("acme.test"), TenantPolicy("acme.test"))

    async def test_tenant_policy_round_trip(self) -> None:
        """
        A stored tenant policy comes back, false switches included, and can
        be replaced.
        """
        strict = TenantPolicy("acme.test", FederationMode.ALLOW_LIST, False, False, False)
        await self.store.put_tenant_policy(strict)
        self.assertEqual(await self.store.get_tenant_policy("acme.test"), strict)
        self.assertEqual(await self.store.get_tenant_policy("beta.test"), TenantPolicy("beta.test"))
        relaxed = TenantPolicy("acme.test", FederationMode.ALL, True, False, True)
        await self.store.put_tenant_policy(relaxed)
        self.assertEqual(await self.store.get_tenant_policy("acme.test"), relaxed)

    async def test_user_policy_round_trip(self) -> None:
        """
        User policies are C{None} until stored, keyed case-insensitively and
        replaced on put.
        """
        self.assertIsNone(await self.store.get_user_policy(ALICE))
        await self.store.put_user_policy(UserPolicy(ALICE, True))
        self.assertEqual(
            await self.store.get_user_policy(Address("ALICE", "acme.test")), UserPolicy(ALICE, True)
        )
        await self.store.put_user_policy(UserPolicy(Address("alice", "acme.test"), False))
        found = await self.store.get_user_policy(ALICE)
        self.assertFalse(found.enabled)
        self.assertEqual(found.address.key, ALICE.key)

    async def test_domain_policies(self) -> None:
        """
        Domain rules are replaced by (tenant, pattern), listed per tenant in
        pattern order, and removal reports whether a rule existed.
        """
        await self.store.put_domain_policy(DomainPolicy("acme.test", "remote.example", "allow"))
        await self.store.put_domain_policy(DomainPolicy("acme.test", "*.bad.example", "block"))
        await self.store.put_domain_policy(DomainPolicy("beta.test", "remote.example", "block"))
        await self.store.put_domain_policy(
            DomainPolicy("acme.test", "remote.example", DomainAction.BLOCK)
        )
        self.assertEqual(
            await self.store.list_domain_policies("acme.test"),
            [
                DomainPolicy("acme.test", "*.bad.example", DomainAction.BLOCK),
                DomainPolicy("acme.test", "remote.example", DomainAction.BLOCK),
            ],
        )
        self.assertTrue(await self.store.remove_domain_policy("acme.test", "*.bad.example"))
        self.assertFalse(await self.store.remove_domain_policy("acme.test", "*.bad.example"))
        self.assertFalse(await self.store.remove_domain_policy("gamma.test", "remote.example"))
        self.assertEqual(
            await self.store.list_domain_policies("acme.test"),
            [DomainPolicy("acme.test", "remote.example", "block")],
        )
        self.assertEqual(
            await self.store.list_domain_policies("beta.test"),
            [DomainPolicy("beta.test", "remote.example", "block")],
        )
        self.assertEqual(await self.store.list_domain_policies("gamma.test"), [])

    # platform installations

    async def test_installation_round_trip(self) -> None:
        """
        A stored installation comes back whole by (platform, workspace),
        its time in UTC; an unknown one gives C{None}.
        """
        stored = installation(when=datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=PLUS_TWO))
        await self.store.put_installation(stored)
        found = await self.store.get_installation("slack", "T0ACME001")
        self.assertEqual(found, stored)
        self.assertEqual(found.credentials, BOT_TOKEN)
        self.assertEqual(found.scopes, stored.scopes)
        self.assertEqual(found.attributes, {"bot_user_id": "U0BOT0001", "bot_id": "B0BOT0001"})
        self.assertTrue(_utc_aware(found.installed_at))
        self.assertIsNone(await self.store.get_installation("slack", "T0UNKNOWN"))
        self.assertIsNone(await self.store.get_installation("teams", "T0ACME001"))

    async def test_installation_optional_fields(self) -> None:
        """
        Installations without attributes or scopes round-trip, and so do
        ones with more attributes (an Enterprise Grid one).
        """
        bare = installation("T0BARE001", bot_user_id=None, bot_id=None, scopes=())
        grid = installation("T0GRID001", enterprise_id="E0GRID001")
        self.assertEqual(bare.attributes, {})
        for record in (bare, grid):
            await self.store.put_installation(record)
        self.assertEqual(await self.store.get_installation("slack", "T0BARE001"), bare)
        self.assertEqual(await self.store.get_installation("slack", "T0GRID001"), grid)

    async def test_installation_replaced_by_workspace(self) -> None:
        """
        Installing again in a workspace replaces its installation.
        """
        await self.store.put_installation(installation())
        again = installation(
            token="xoxb-1111-3333-REINSTALLED",
            when=T0 + timedelta(days=1),
            bot_id="B0BOT0002",
            scopes=("chat:write",),
        )
        await self.store.put_installation(again)
        self.assertEqual(await self.store.list_installations(), [again])
        self.assertEqual(await self.store.get_installation("slack", "T0ACME001"), again)

    async def test_list_installations_by_platform(self) -> None:
        """
        Installations list in (platform, workspace) order, whatever the
        order of storing, all or those of one platform; one workspace id
        may be installed on two platforms.
        """
        teams = ["T0ZULU001", "T0ALFA001", "T0MIKE001"]
        for team in teams:
            await self.store.put_installation(installation(team, token=f"xoxb-{team}"))
        tenant = installation("T0MIKE001", token="teams-secret", platform="teams")
        await self.store.put_installation(tenant)
        found = await self.store.list_installations("slack")
        self.assertEqual([i.workspace for i in found], sorted(teams))
        self.assertEqual([i.credentials for i in found], [f"xoxb-{t}" for t in sorted(teams)])
        self.assertEqual(await self.store.list_installations("teams"), [tenant])
        everything = await self.store.list_installations()
        self.assertEqual([i.platform for i in everything], ["slack"] * 3 + ["teams"])
        self.assertEqual(await self.store.list_installations("webex"), [])

    async def test_remove_installation(self) -> None:
        """
        Removing an installation says whether there was one, and only that
        platform's workspace goes.
        """
        await self.store.put_installation(installation("T0ACME001"))
        await self.store.put_installation(installation("T0BETA001"))
        await self.store.put_installation(installation("T0ACME001", platform="webex"))
        self.assertTrue(await self.store.remove_installation("slack", "T0ACME001"))
        self.assertFalse(await self.store.remove_installation("slack", "T0ACME001"))
        self.assertFalse(await self.store.remove_installation("slack", "T0UNKNOWN"))
        self.assertIsNone(await self.store.get_installation("slack", "T0ACME001"))
        self.assertEqual(
            [(i.platform, i.workspace) for i in await self.store.list_installations()],
            [("slack", "T0BETA001"), ("webex", "T0ACME001")],
        )

    async def test_installation_credentials_redacted_in_dump(self) -> None:
        """
        A dump shows every installation fact but the credentials, which
        read C{[redacted]}: dumps go to audits and backups.
        """
        await self.store.put_installation(installation("T0ACME001"))
        await self.store.put_installation(installation("T0BETA001", token="xoxb-OTHERSECRET"))
        dump = await self.store.dump_tables()
        self.assertEqual(
            dump["platform_installations"],
            [
                (
                    "slack",
                    team,
                    "[redacted]",
                    "chat:write,chat:write.customize,users:read.email",
                    "2024-03-01T10:00:00.000000+00:00",
                    '{"bot_id":"B0BOT0001","bot_user_id":"U0BOT0001"}',
                )
                for team in ("T0ACME001", "T0BETA001")
            ],
        )
        for secret in (BOT_TOKEN, "xoxb-OTHERSECRET", "CONTRACTSECRET"):
            self.assertNotIn(secret, repr(dump))
        # The store still has the credentials it needs.
        found = await self.store.get_installation("slack", "T0BETA001")
        self.assertEqual(found.credentials, "xoxb-OTHERSECRET")

    # metadata log

    async def _append(self, *records: MetadataRecord) -> list[int]:
        return [await self.store.append_metadata(record) for record in records]

    async def test_append_metadata_returns_new_ids(self) -> None:
        """
        Each appended record gets a new, increasing id, which queries report.
        """
        ids = await self._append(meta(T0, str(ALICE), str(BOB)), meta(T0, str(BOB), str(ALICE)))
        self.assertLess(ids[0], ids[1])
        found = await self.store.query_metadata(MetadataQuery())
        self.assertEqual([r.record_id for r in found], ids)

    async def test_metadata_round_trip(self) -> None:
        """
        A record comes back with every field, its time in UTC.
        """
        record = meta(
            datetime(2024, 3, 1, 12, 0, 0, 1, tzinfo=PLUS_TWO),
            "Alice@acme.test",
            "bob@remote.example",
            category="im",
            kind="file",
            decision=Decision.REFUSED,
            reason="domain remote.example is blocked",
            session_id="s-1",
        )
        bare = meta(
            T0 + timedelta(minutes=1),
            "x@a.test",
            "y@b.test",
            tenant=None,
            remote_domain=None,
            platform=None,
        )
        await self._append(record, bare)
        found = await self.store.query_metadata(MetadataQuery())
        self.assertEqual(found, [record, bare])
        self.assertEqual(found[0].timestamp, datetime(2024, 3, 1, 10, 0, 0, 1, tzinfo=UTC))
        self.assertTrue(_utc_aware(found[0].timestamp))
        self.assertIsNone(found[1].tenant)
        self.assertIsNone(found[1].session_id)

    async def test_metadata_ordered_by_time_then_id(self) -> None:
        """
        Records are listed by time, and by id when times are equal.
        """
        late = meta(T0 + timedelta(seconds=2), "a@acme.test", "z@remote.example")
        early = meta(T0, "b@acme.test", "z@remote.example")
        tie_one = meta(T0 + timedelta(seconds=1), "c@acme.test", "z@remote.example")
        tie_two = meta(T0 + timedelta(seconds=1), "d@acme.test", "z@remote.example")
        # The same instant written in another zone must sort as that instant.
        earliest = meta(
            datetime(2024, 3, 1, 11, 59, 59, tzinfo=PLUS_TWO), "e@acme.test", "z@remote.example"
        )
        await self._append(late, early, tie_one, tie_two, earliest)
        found = await self.store.query_metadata(MetadataQuery())
        self.assertEqual(found, [earliest, early, tie_one, tie_two, late])

    async def test_query_metadata_filters(self) -> None:
        """
        Each filter of L{MetadataQuery} selects only matching records; the
        user filter matches sender or receiver in any case; C{since} is
        inclusive and C{until} exclusive.
        """
        m1 = meta(T0, "alice@acme.test", "bob@remote.example", session_id="s1")
        m2 = meta(
            T0 + timedelta(minutes=1),
            "Bob@Remote.example",
            "alice@acme.test",
            kind="file",
            session_id="s1",
        )
        m3 = meta(
            T0 + timedelta(minutes=2),
            "carol@acme.test",
            "dave@other.example",
            category="presence",
            kind="available",
            remote_domain="other.example",
            decision=Decision.REFUSED,
            reason="blocked",
        )
        m4 = meta(
            T0 + timedelta(minutes=3),
            "erin@beta.test",
            "bob@remote.example",
            tenant="beta.test",
            platform="teams",
            session_id="s2",
            decision=Decision.FAILED,
        )
        await self._append(m1, m2, m3, m4)

        async def query(**filters: Any) -> list[MetadataRecord]:
            result: list[MetadataRecord] = await self.store.query_metadata(MetadataQuery(**filters))
            return result

        self.assertEqual(await query(session_id="s1"), [m1, m2])
        self.assertEqual(await query(user="BOB@remote.example"), [m1, m2, m4])
        self.assertEqual(await query(user="alice@acme.test"), [m1, m2])
        self.assertEqual(await query(user="nobody@acme.test"), [])
        self.assertEqual(await query(remote_domain="other.example"), [m3])
        self.assertEqual(await query(tenant="beta.test"), [m4])
        self.assertEqual(await query(category="presence"), [m3])
        self.assertEqual(await query(kind="file"), [m2])
        self.assertEqual(await query(since=T0 + timedelta(minutes=1)), [m2, m3, m4])
        self.assertEqual(await query(until=T0 + timedelta(minutes=2)), [m1, m2])
        self.assertEqual(
            await query(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)),
            [m2, m3],
        )
        self.assertEqual(await query(tenant="acme.test", kind="message"), [m1])

    async def test_query_metadata_limit_offset(self) -> None:
        """
        C{limit} and C{offset} page through the ordered records.
        """
        records = [
            meta(T0 + timedelta(seconds=i), f"u{i}@acme.test", "bob@remote.example")
            for i in range(5)
        ]
        await self._append(*reversed(records))
        self.assertEqual(await self.store.query_metadata(MetadataQuery(limit=2)), records[:2])
        self.assertEqual(
            await self.store.query_metadata(MetadataQuery(limit=2, offset=1)), records[1:3]
        )
        self.assertEqual(
            await self.store.query_metadata(MetadataQuery(limit=10, offset=3)), records[3:]
        )
        self.assertEqual(await self.store.query_metadata(MetadataQuery(offset=5)), [])

    # usage

    async def _usage_dataset(self) -> None:
        """
        Delivered IM traffic on 1 and 2 March 2024, plus records that must
        not count: refused, failed, not IM, no tenant, or outside the days.
        """
        await self._append(
            meta(T0, "alice@acme.test", "bob@remote.example"),
            meta(T0 + timedelta(minutes=5), "bob@remote.example", "ALICE@acme.test"),
            meta(
                T0 + timedelta(minutes=10),
                "carol@acme.test",
                "dave@other.example",
                kind="file",
                remote_domain="other.example",
            ),
            meta(
                T0 + timedelta(minutes=15),
                "erin@beta.test",
                "bob@remote.example",
                tenant="beta.test",
                platform="teams",
            ),
            # Counts alice as active on other.example, but is no message.
            meta(
                T0 + timedelta(minutes=20),
                "alice@acme.test",
                "dave@other.example",
                kind="typing",
                remote_domain="other.example",
            ),
            meta(T0, "frank@acme.test", "bob@remote.example", decision=Decision.REFUSED),
            meta(T0, "frank@acme.test", "bob@remote.example", decision=Decision.FAILED),
            meta(T0, "frank@acme.test", "bob@remote.example", category="presence", kind="away"),
            meta(T0, "frank@acme.test", "bob@remote.example", tenant=None),
            # 23:30 at UTC-2 on the 1st is 01:30 UTC on the 2nd.
            meta(
                datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
                "alice@acme.test",
                "bob@remote.example",
            ),
            meta(
                datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
                "alice@acme.test",
                "bob@remote.example",
            ),
            meta(datetime(2024, 3, 3, tzinfo=UTC), "alice@acme.test", "bob@remote.example"),
        )

    async def test_usage_grouped_by_every_subset(self) -> None:
        """
        Unique users and messages per day are grouped by each subset of
        tenant, remote domain and platform; fields not grouped by are
        C{None}.
        """
        await self._usage_dataset()
        acme, beta = "acme.test", "beta.test"
        other, remote = "other.example", "remote.example"
        n = None
        expected: dict[tuple[str, ...], list[tuple[Any, ...]]] = {
            (): [(D1, n, n, n, 3, 4), (D2, n, n, n, 1, 1)],
            ("tenant",): [(D1, acme, n, n, 2, 3), (D1, beta, n, n, 1, 1), (D2, acme, n, n, 1, 1)],
            ("remote_domain",): [
                (D1, n, other, n, 2, 1),
                (D1, n, remote, n, 2, 3),
                (D2, n, remote, n, 1, 1),
            ],
            ("platform",): [
                (D1, n, n, "slack", 2, 3),
                (D1, n, n, "teams", 1, 1),
                (D2, n, n, "slack", 1, 1),
            ],
            ("tenant", "remote_domain"): [
                (D1, acme, other, n, 2, 1),
                (D1, acme, remote, n, 1, 2),
                (D1, beta, remote, n, 1, 1),
                (D2, acme, remote, n, 1, 1),
            ],
            ("tenant", "platform"): [
                (D1, acme, n, "slack", 2, 3),
                (D1, beta, n, "teams", 1, 1),
                (D2, acme, n, "slack", 1, 1),
            ],
            ("remote_domain", "platform"): [
                (D1, n, other, "slack", 2, 1),
                (D1, n, remote, "slack", 1, 2),
                (D1, n, remote, "teams", 1, 1),
                (D2, n, remote, "slack", 1, 1),
            ],
            ("tenant", "remote_domain", "platform"): [
                (D1, acme, other, "slack", 2, 1),
                (D1, acme, remote, "slack", 1, 2),
                (D1, beta, remote, "teams", 1, 1),
                (D2, acme, remote, "slack", 1, 1),
            ],
        }
        for group_by, rows in expected.items():
            # Reversed, to show the order of group_by does not matter.
            found = await self.store.usage(D1, D3, list(reversed(group_by)))
            self.assertEqual(found, [UsageRow(*row) for row in rows], f"group_by={group_by}")

    async def test_usage_refused_and_failed_not_counted(self) -> None:
        """
        Refused and failed events count neither users nor messages.
        """
        await self._append(
            meta(T0, "alice@acme.test", "bob@remote.example", decision=Decision.REFUSED),
            meta(T0, "alice@acme.test", "bob@remote.example", decision=Decision.FAILED),
        )
        self.assertEqual(await self.store.usage(D1, D2, ()), [])
        await self._append(meta(T0, "alice@acme.test", "bob@remote.example"))
        self.assertEqual(await self.store.usage(D1, D2, ()), [UsageRow(D1, None, None, None, 1, 1)])

    async def test_usage_tenant_filter(self) -> None:
        """
        Usage may be limited to one tenant.
        """
        await self._usage_dataset()
        self.assertEqual(
            await self.store.usage(D1, D3, ["platform"], tenant="beta.test"),
            [UsageRow(D1, None, None, "teams", 1, 1)],
        )
        self.assertEqual(await self.store.usage(D1, D3, [], tenant="gamma.test"), [])

    async def test_usage_day_bounds(self) -> None:
        """
        C{since} is inclusive and C{until} exclusive.
        """
        await self._usage_dataset()
        self.assertEqual(await self.store.usage(D2, D3, ()), [UsageRow(D2, None, None, None, 1, 1)])
        self.assertEqual(
            await self.store.usage(date(2024, 2, 29), D1, ()),
            [UsageRow(date(2024, 2, 29), None, None, None, 1, 1)],
        )
        self.assertEqual(await self.store.usage(D1, D1, ()), [])

    async def test_usage_unknown_group_rejected(self) -> None:
        """
        Grouping by an unknown field is a L{ValueError}.
        """
        await self.assertFailure(maybeDeferred(self.store.usage, D1, D2, ["sender"]), ValueError)

    # audit

    async def test_dump_tables_covers_every_table(self) -> None:
        """
        The dump has every table, each row as text, and every stored fact.
        """
        await self.store.put_tenant(TenantRecord("acme.test", "slack", "T1"))
        await self.store.put_user(user(ALICE))
        await self.store.put_contact(contact(ALICE, BOB))
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        await self.store.set_session_ref(session.session_id, "slack", "D1")
        await self.store.map_message("m1", "slack", "n1", session.session_id)
        await self.store.put_tenant_policy(TenantPolicy("acme.test"))
        await self.store.put_user_policy(UserPolicy(ALICE, True))
        await self.store.put_domain_policy(DomainPolicy("acme.test", "remote.example", "allow"))
        await self._append(meta(T0, str(ALICE), str(BOB), session_id=session.session_id.value))
        await self.store.put_installation(installation())
        await self.store.claim_work(work("T1:Ev1"))
        await self.store.put_sip_subscription(sip_subscription())
        await self.store.put_message_ref(message_ref("N1"))
        await fill_admin_tables(self.store)
        dump = await dump_with_admin(self.store)
        self.assertEqual(set(dump), TABLE_NAMES)
        for name, rows in dump.items():
            self.assertEqual(len(rows), 1, name)
            for value in rows[0]:
                self.assertTrue(value is None or isinstance(value, str), (name, value))
        self.assertIn("acme.test", dump["tenants"][0])
        self.assertIn("m1", dump["message_map"][0])
        self.assertIn(str(ALICE), dump["metadata_log"][0])
        self.assertIn("T0ACME001", dump["platform_installations"][0])
        self.assertNotIn(BOT_TOKEN, repr(dump))
        self.assertIn("T1:Ev1", dump["work_records"][0])
        self.assertIn("N1", dump["message_refs"][0])

    # work records

    async def test_claim_work_once(self) -> None:
        """
        A record is claimed once per (source, origin); another source may
        use the same origin.
        """
        self.assertTrue(await self.store.claim_work(work("T1:Ev1")))
        self.assertFalse(await self.store.claim_work(work("T1:Ev1", work_id="other")))
        self.assertTrue(await self.store.claim_work(work("T1:Ev1", source="xmpp")))
        unfinished = await self.store.unfinished_work()
        self.assertEqual(
            [(r.source, r.work_id) for r in unfinished], [("slack", "w1"), ("xmpp", "w1")]
        )
        self.assertEqual(unfinished[0], work("T1:Ev1"))

    async def test_update_work(self) -> None:
        """
        Updates move the state, note the destination id and keep the rest;
        finished records are no longer unfinished.
        """
        await self.store.claim_work(work("a", accepted_at=T0))
        await self.store.claim_work(work("b", accepted_at=T0 + timedelta(seconds=1)))
        later = T0 + timedelta(minutes=1)
        await self.store.update_work("slack", "a", WorkState.HANDED_OVER, later)
        await self.store.update_work("slack", "b", WorkState.DELIVERED, later, "1712.0001")
        unfinished = await self.store.unfinished_work()
        self.assertEqual(
            [(r.origin, r.state, r.updated_at) for r in unfinished],
            [("a", WorkState.HANDED_OVER, later)],
        )
        await self.store.update_work("slack", "a", WorkState.TOLD, later)
        self.assertEqual(await self.store.unfinished_work(), [])
        dump = await self.store.dump_tables()
        self.assertIn("1712.0001", repr(dump["work_records"]))

    async def test_find_work(self) -> None:
        """
        A record is found by (source, origin) as it stands now; an unknown
        one is C{None}.
        """
        await self.store.claim_work(work("T1:Ev1"))
        later = T0 + timedelta(minutes=1)
        await self.store.update_work("slack", "T1:Ev1", WorkState.DELIVERED, later, "1712.0001")
        found = await self.store.find_work("slack", "T1:Ev1")
        assert found is not None
        self.assertEqual(
            (found.state, found.delivered_id, found.updated_at),
            (WorkState.DELIVERED, "1712.0001", later),
        )
        self.assertIsNone(await self.store.find_work("xmpp", "T1:Ev1"))
        self.assertIsNone(await self.store.find_work("slack", "T1:Ev2"))

    async def test_prune_work(self) -> None:
        """
        Only finished records older than the cut are pruned; a pruned
        origin can be claimed again.
        """
        await self.store.claim_work(work("old"))
        await self.store.claim_work(work("open"))
        await self.store.claim_work(work("new"))
        await self.store.update_work("slack", "old", WorkState.DELIVERED, T0)
        await self.store.update_work("slack", "new", WorkState.DELIVERED, T0 + timedelta(hours=2))
        self.assertEqual(await self.store.prune_work(T0 + timedelta(hours=1)), 1)
        self.assertTrue(await self.store.claim_work(work("old")))
        self.assertFalse(await self.store.claim_work(work("new")))
        self.assertFalse(await self.store.claim_work(work("open")))


def work(origin: str, **changes: Any) -> WorkRecord:
    """
    A Slack work record for C{origin}.
    """
    fields: dict[str, Any] = {
        "source": "slack",
        "origin": origin,
        "work_id": "w1",
        "sender": str(ALICE),
        "recipient": str(BOB),
        "conversation": "D1",
        "native_id": "1711.0001",
        "accepted_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return WorkRecord(**fields)


def _insert_version(version: int) -> Op[None]:
    yield Query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        (version, "from_the_future", "2099-01-01T00:00:00+00:00"),
    )


def _select(sql: str) -> Op[list[tuple[Any, ...]]]:
    rows = yield Query(sql)
    return rows


def _as_new_database(dialect: Any) -> Op[None]:
    # Drop every table, bookkeeping included: an empty database again.
    rows = yield Query(dialect.list_tables)
    cascade = " CASCADE" if dialect.name == "postgresql" else ""
    for (name,) in rows:
        yield Query(f"DROP TABLE IF EXISTS {name}{cascade}")


async def at_version_1(store: Any) -> None:
    """
    Turn the (empty) database of the open C{store} into one as nextplane
    left it before Slack installations were stored: migration 1 only, with
    a tenant in it.
    """
    await store._write(_as_new_database(store.dialect))
    version = await migrate(store._run, store.dialect, lambda: T0, target=1)
    assert version == 1, version
    await store.put_tenant(TenantRecord("acme.test", "slack", "T0ACME001", "Acme"))


#: Every migration, by number and name.
MIGRATIONS = [
    (1, "initial"),
    (2, "slack_installations"),
    (3, "platform_installations"),
    (4, "sip_subscriptions"),
    (5, "admin_portal"),
    (6, "work_records"),
    (7, "message_refs"),
]

#: The Slack installations L{at_version_2} stores, as migration 3 keeps them.
VERSION_2_INSTALLATIONS = [
    installation("T0ACME001", enterprise_id="E0GRID001"),
    installation("T0BARE001", token="xoxb-bare", scopes=(), bot_user_id=None, bot_id=None),
]


async def at_version_2(store: Any) -> None:
    """
    Turn the database of the open C{store} into one at version 2 holding
    L{VERSION_2_INSTALLATIONS} in C{slack_installations}.
    """
    await store._write(_as_new_database(store.dialect))
    version = await migrate(store._run, store.dialect, lambda: T0, target=2)
    assert version == 2, version

    def insert() -> Op[None]:
        for i in VERSION_2_INSTALLATIONS:
            a = i.attributes
            yield Query(
                "INSERT INTO slack_installations (team_id, bot_token, bot_user_id, bot_id,"
                " scopes, installed_at, enterprise_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    i.workspace,
                    i.credentials,
                    a.get("bot_user_id"),
                    a.get("bot_id"),
                    ",".join(i.scopes),
                    i.installed_at,
                    a.get("enterprise_id"),
                ),
            )

    await store._write(insert())


async def _migrations(store: Any) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = await store._read(
        _select("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    )
    return rows


class SQLStoreContract(_Base):
    """
    Tests of what the SQL stores add: migrations, transactions and the
    catalogue. Mix in after L{StoreContract}.
    """

    store: Any

    def query_plan(self, sql: str, *params: Any) -> Op[str]:
        """
        The backend's query plan for C{sql}, as text naming the indexes used.
        """
        raise NotImplementedError

    async def test_filters_use_indexes(self) -> None:
        """
        Filtering contacts by external domain and the metadata log by user
        uses the expression indexes rather than scanning.
        """
        contacts = await self.store._read(
            self.query_plan(
                f"SELECT owner FROM contacts WHERE {self.store.dialect.external_domain} = ?",
                "remote.example",
            )
        )
        self.assertIn("contacts_external_domain", contacts)
        metadata = await self.store._read(
            self.query_plan(
                "SELECT id FROM metadata_log"
                " WHERE (lower(sender) = lower(?) OR lower(receiver) = lower(?))",
                "a@b.test",
                "a@b.test",
            )
        )
        self.assertIn("metadata_log_sender", metadata)
        self.assertIn("metadata_log_receiver", metadata)

    async def test_migrations_applied_on_open(self) -> None:
        """
        Opening a new database applies every migration and records each.
        """
        latest = latest_version(self.store.dialect.name)
        self.assertEqual(latest, len(MIGRATIONS))
        self.assertEqual(await self.store.schema_version(), latest)
        rows = await _migrations(self.store)
        self.assertEqual([(v, n) for v, n, _ in rows], MIGRATIONS)

    async def test_version_1_upgraded(self) -> None:
        """
        A database at version 1 (no installations table) is brought to
        the latest version by the migration runner, its data kept, and
        installations can be stored in it afterwards.
        """
        await at_version_1(self.store)
        self.assertEqual(await self.store.schema_version(), 1)
        tables = await self.store._read(_select(self.store.dialect.list_tables))
        self.assertNotIn("slack_installations", {r[0] for r in tables})
        self.assertEqual(
            await migrate(self.store._run, self.store.dialect, lambda: T0), len(MIGRATIONS)
        )
        self.assertEqual(await self.store.schema_version(), len(MIGRATIONS))
        self.assertEqual([(v, n) for v, n, _ in await _migrations(self.store)], MIGRATIONS)
        self.assertEqual(
            await self.store.list_tenants(),
            [TenantRecord("acme.test", "slack", "T0ACME001", "Acme")],
        )
        await self.store.put_installation(installation())
        self.assertEqual(await self.store.list_installations(), [installation()])

    async def test_version_2_installations_carried_over(self) -> None:
        """
        Migration 3 turns every Slack installation of a version 2 database
        into a platform installation (unknown bot ids left out) and drops
        the old table.
        """
        await at_version_2(self.store)
        self.assertEqual(
            await migrate(self.store._run, self.store.dialect, lambda: T0), len(MIGRATIONS)
        )
        tables = {r[0] for r in await self.store._read(_select(self.store.dialect.list_tables))}
        self.assertNotIn("slack_installations", tables)
        self.assertEqual(await self.store.list_installations(), VERSION_2_INSTALLATIONS)

    async def test_migrate_target_checked(self) -> None:
        """
        The runner refuses a target version the dialect does not have.
        """
        for target in (-1, latest_version(self.store.dialect.name) + 1):
            with self.assertRaises(ValueError):
                await migrate(self.store._run, self.store.dialect, lambda: T0, target=target)

    async def test_dump_covers_every_database_table(self) -> None:
        """
        C{dump_tables} names every table of the database but the migration
        bookkeeping, so no table escapes a privacy audit.
        """
        rows = await self.store._read(_select(self.store.dialect.list_tables))
        self.assertEqual({r[0] for r in rows}, TABLE_NAMES | {"schema_migrations"})
        self.assertEqual({t.name for t in (*TABLES, *ADMIN_TABLES)}, TABLE_NAMES)

    async def test_failed_operation_rolls_back(self) -> None:
        """
        An operation that fails part-way leaves no trace: each runs in one
        transaction.
        """

        def op() -> Op[None]:
            yield Query(
                "INSERT INTO tenants (domain, platform, workspace, display_name)"
                " VALUES (?, ?, ?, ?)",
                ("acme.test", "slack", "T1", ""),
            )
            raise RuntimeError("boom")

        await self.assertFailure(self.store._write(op()), RuntimeError)
        self.assertEqual(await self.store.list_tenants(), [])

    async def test_failed_installation_write_hides_values(self) -> None:
        """
        When storing an installation fails, the error names the team and
        the driver's error type but not its text, which may quote the
        token (PostgreSQL's C{Key (bot_token)=(...) already exists}).
        """

        def unique_tokens() -> Op[None]:
            yield Query(
                "CREATE UNIQUE INDEX test_unique_token ON platform_installations (credentials)"
            )

        await self.store._write(unique_tokens())
        await self.store.put_installation(installation("T0ACME001"))
        failure = await self.assertFailure(
            self.store.put_installation(installation("T0BETA001")), SecretWriteError
        )
        message = str(failure)
        self.assertIn("storing the slack installation of T0BETA001 failed (", message)
        self.assertNotIn(BOT_TOKEN, message)
        self.assertNotIn(BOT_TOKEN, repr(failure.args))
        self.assertIsNone(failure.__cause__)
        self.assertEqual(
            [i.workspace for i in await self.store.list_installations()], ["T0ACME001"]
        )

    async def test_concurrent_session_creation(self) -> None:
        """
        Many simultaneous requests for one pair's session agree on a single
        session.
        """
        calls: list[Deferred[ChatSessionRecord]] = [
            self.store.get_or_create_session(*pair, T0)
            for pair in [(ALICE, BOB), (BOB, ALICE)] * 10
        ]
        sessions = await gatherResults(calls)
        self.assertEqual(len({s.session_id for s in sessions}), 1)
        self.assertEqual(len((await self.store.dump_tables())["chat_sessions"]), 1)

    async def test_platform_id_moves_to_new_address(self) -> None:
        """
        Storing a user whose platform id another address holds replaces
        that user, as one platform account maps to one address.
        """
        await self.store.put_user(user(ALICE, platform_id="U1"))
        moved = user(Address("alice.smith", "acme.test"), platform_id="U1")
        await self.store.put_user(moved)
        self.assertEqual(await self.store.find_user("slack", "U1"), moved)
        self.assertIsNone(await self.store.get_user(ALICE))

    async def test_closed_store_refuses_work(self) -> None:
        """
        Operations on a closed store fail instead of hanging; closing twice
        is harmless.
        """
        await self.store.close()
        await self.store.close()
        await self.assertFailure(self.store.list_tenants(), StoreNotOpenError)


class MigrationContract(_Base):
    """
    Tests of opening a database again, for SQL stores whose database
    outlives them (not C{":memory:"}). Mix in after L{SQLStoreContract};
    define C{same_database}.
    """

    store: Any

    def same_database(self) -> Any:
        """
        Another unopened store on the database of C{self.store}.
        """
        raise NotImplementedError

    async def test_reopen_is_noop(self) -> None:
        """
        Opening a database that is up to date changes nothing.
        """
        before = await _migrations(self.store)
        again = self.same_database()
        self.addCleanup(again.close)
        self.assertEqual(await again.open(), before[-1][0])
        self.assertEqual(await _migrations(again), before)

    async def test_version_1_database_upgraded_on_open(self) -> None:
        """
        Opening a database an older nextplane left at version 1 applies
        the later migrations and keeps what was there; installations stored
        then outlive the store.
        """
        await at_version_1(self.store)
        before = await _migrations(self.store)
        await self.store.close()
        upgraded = self.same_database()
        self.addCleanup(upgraded.close)
        self.assertEqual(await upgraded.open(), len(MIGRATIONS))
        self.assertEqual(await upgraded.schema_version(), len(MIGRATIONS))
        rows = await _migrations(upgraded)
        self.assertEqual(rows[:1], before)
        self.assertEqual([(v, n) for v, n, _ in rows[1:]], MIGRATIONS[1:])
        self.assertEqual([t.domain for t in await upgraded.list_tenants()], ["acme.test"])
        await upgraded.put_installation(installation())
        await upgraded.close()
        again = self.same_database()
        self.addCleanup(again.close)
        self.assertEqual(await again.open(), len(MIGRATIONS))
        self.assertEqual(await again.get_installation("slack", "T0ACME001"), installation())

    async def test_too_new_schema_refused(self) -> None:
        """
        A database migrated by newer code is refused with a clear error,
        and the refused store is left closed.
        """
        latest = latest_version(self.store.dialect.name)
        await self.store._write(_insert_version(latest + 1))
        newer = self.same_database()
        self.addCleanup(newer.close)
        failure = await self.assertFailure(newer.open(), SchemaTooNewError)
        self.assertEqual((failure.found, failure.known), (latest + 1, latest))
        self.assertIn(f"schema version {latest + 1}", str(failure))
        self.assertIn(f"up to {latest}", str(failure))
