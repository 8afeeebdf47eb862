"""
The contract every L{IAdminStore} meets (memory, SQLite, PostgreSQL):
accounts, the audit trail, tenant retirement and usage facts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from zope.interface.verify import verifyObject

from nextplane.storage.admin import admin_store_for
from nextplane.storage.admin_records import (
    AdminAccount,
    AdminRole,
    AuditQuery,
    AuditRecord,
    IAdminStore,
)
from nextplane.storage.records import Decision, MetadataRecord

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def account(name: str = "alice", **changes: Any) -> AdminAccount:
    values: dict[str, Any] = {
        "name": name,
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "role": AdminRole.GLOBAL,
        "tenant": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return AdminAccount(**values)


def audit(n: int, tenant: str | None = "acme.test", actor: str = "alice") -> AuditRecord:
    return AuditRecord(
        T0 + timedelta(minutes=n), actor, "domain.block", f"d{n}.test", tenant, "10.0.0.1", ""
    )


async def fill_admin_tables(store: Any) -> None:
    """
    One row in each admin table (for dump tests).
    """
    admin = admin_store_for(store)
    await admin.put_account(account(token_hash="ab" * 32))
    await admin.append_audit(audit(1))
    await admin.set_tenant_retired("old.test", T0)


async def dump_with_admin(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    """
    The store's dump, with the admin tables' when another object keeps
    them (the memory store).
    """
    dump = dict(await store.dump_tables())
    admin = admin_store_for(store)
    if admin is not store and hasattr(admin, "dump_tables"):
        dump.update(await admin.dump_tables())
    return dump


class AdminStoreContract:
    """
    Mixed into a store's test case, whose C{self.store} is open.
    """

    store: Any

    @property
    def admin(self) -> IAdminStore:
        return admin_store_for(self.store)

    def test_admin_interface(self) -> None:
        """The admin store provides IAdminStore."""
        self.assertTrue(verifyObject(IAdminStore, self.admin))  # type: ignore[attr-defined]

    async def test_accounts_round_trip(self) -> None:
        """Accounts are stored, replaced by name, found by token and listed by name."""
        await self.admin.put_account(account("bob", role=AdminRole.TENANT, tenant="acme.test"))
        await self.admin.put_account(account("alice"))
        await self.admin.put_account(account("alice", disabled=True, token_hash="cd" * 32))
        self.assertEqual(
            [a.name for a in await self.admin.list_accounts()],
            ["alice", "bob"],  # type: ignore[attr-defined]
        )
        alice = await self.admin.get_account("alice")
        self.assertEqual(alice, account("alice", disabled=True, token_hash="cd" * 32))  # type: ignore[attr-defined]
        bob = await self.admin.get_account("bob")
        self.assertEqual((bob.role, bob.tenant), (AdminRole.TENANT, "acme.test"))  # type: ignore[attr-defined,union-attr]
        self.assertEqual((await self.admin.find_account_by_token("cd" * 32)).name, "alice")  # type: ignore[attr-defined,union-attr]
        self.assertIsNone(await self.admin.find_account_by_token("00" * 32))  # type: ignore[attr-defined]
        self.assertIsNone(await self.admin.get_account("nobody"))  # type: ignore[attr-defined]

    async def test_audit_newest_first_with_totals(self) -> None:
        """Audit records list newest first, filtered by tenant or actor, with the total."""
        for n in range(5):
            await self.admin.append_audit(audit(n, "acme.test" if n % 2 == 0 else "beta.test"))
        await self.admin.append_audit(audit(9, None, actor="console"))
        records, total = await self.admin.query_audit(AuditQuery(tenant="acme.test", limit=2))
        self.assertEqual(total, 3)  # type: ignore[attr-defined]
        self.assertEqual([r.target for r in records], ["d4.test", "d2.test"])  # type: ignore[attr-defined]
        records, total = await self.admin.query_audit(
            AuditQuery(tenant="acme.test", limit=2, offset=2)
        )
        self.assertEqual([r.target for r in records], ["d0.test"])  # type: ignore[attr-defined]
        records, total = await self.admin.query_audit(AuditQuery(actor="console"))
        self.assertEqual(
            (total, records[0].source, records[0].timestamp),
            (1, "10.0.0.1", T0 + timedelta(minutes=9)),
        )  # type: ignore[attr-defined]
        self.assertIsNotNone(records[0].record_id)  # type: ignore[attr-defined]

    async def test_tenant_retirement(self) -> None:
        """Tenants are retired and restored."""
        await self.admin.set_tenant_retired("old.test", T0)
        await self.admin.set_tenant_retired("gone.test", T0)
        await self.admin.set_tenant_retired("gone.test", None)
        self.assertEqual(await self.admin.retired_tenants(), {"old.test": T0})  # type: ignore[attr-defined]

    async def test_usage_facts(self) -> None:
        """Usage facts are the daily (user, group) rows and message counts of a period."""
        for day, sender, remote in (
            (1, "a@acme.test", "w.test"),
            (1, "a@acme.test", "w.test"),
            (2, "b@acme.test", "x.test"),
            (40, "a@acme.test", "w.test"),
        ):
            await self.store.append_metadata(
                MetadataRecord(
                    timestamp=T0 + timedelta(days=day),
                    sender=sender,
                    receiver=f"p@{remote}",
                    category="im",
                    kind="message",
                    session_id=None,
                    decision=Decision.DELIVERED,
                    tenant="acme.test",
                    remote_domain=remote,
                    platform="slack",
                )
            )
        facts = await self.admin.usage_facts(date(2026, 3, 1), date(2026, 4, 1), "acme.test")
        self.assertEqual(  # type: ignore[attr-defined]
            facts.users,
            (
                (date(2026, 3, 2), "acme.test", "w.test", "slack", "a@acme.test"),
                (date(2026, 3, 3), "acme.test", "x.test", "slack", "b@acme.test"),
            ),
        )
        self.assertEqual(  # type: ignore[attr-defined]
            facts.messages,
            (
                (date(2026, 3, 2), "acme.test", "w.test", "slack", 2),
                (date(2026, 3, 3), "acme.test", "x.test", "slack", 1),
            ),
        )
        none = await self.admin.usage_facts(date(2026, 3, 1), date(2026, 4, 1), "beta.test")
        self.assertEqual((none.users, none.messages), ((), ()))  # type: ignore[attr-defined]
