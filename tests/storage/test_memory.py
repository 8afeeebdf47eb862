# -*- test-case-name: tests.storage.test_memory -*-
"""
The store contract against L{MemoryStore}, the reference semantics, and the
records every store keeps.
"""

from __future__ import annotations

from datetime import datetime

from twisted.trial.unittest import SynchronousTestCase, TestCase

from nextplane.storage.memory import MemoryStore
from nextplane.storage.migrate import discover, latest_version

from .admin_contract import AdminStoreContract
from .contract import BOT_TOKEN, T0, StoreContract, installation


class MemoryStoreTests(StoreContract, AdminStoreContract, TestCase):
    """
    L{MemoryStore} honours the L{IStore} contract.
    """

    async def make_store(self) -> MemoryStore:
        return MemoryStore()

    async def test_reports_latest_schema_version(self) -> None:
        """
        The memory store reports the version the SQL backends migrate to.
        """
        self.assertEqual(self.opened_version, latest_version("sqlite"))
        self.assertEqual(await self.store.schema_version(), latest_version("postgresql"))


class SchemaTests(SynchronousTestCase):
    """
    Both dialects ship the same migrations.
    """

    def test_dialects_agree(self) -> None:
        """
        SQLite and PostgreSQL have the same migrations, by number and name.
        """
        sqlite = [(m.version, m.name) for m in discover("sqlite")]
        postgresql = [(m.version, m.name) for m in discover("postgresql")]
        self.assertEqual(sqlite, postgresql)
        self.assertIn((5, "admin_portal"), sqlite)
        self.assertIn((6, "work_records"), sqlite)
        self.assertIn((7, "message_refs"), sqlite)


class PlatformInstallationTests(SynchronousTestCase):
    """
    L{nextplane.storage.records.PlatformInstallation}.
    """

    def test_credentials_not_in_repr(self) -> None:
        """
        The credentials are no part of the record's C{repr}, or of errors
        showing it.
        """
        record = installation()
        self.assertNotIn(BOT_TOKEN, repr(record))
        self.assertNotIn(BOT_TOKEN, str(record))
        self.assertIn("T0ACME001", repr(record))
        self.assertNotIn(BOT_TOKEN, repr([record, {"k": record}]))

    def test_scopes_tuple(self) -> None:
        """
        Scopes given as any iterable are kept as a tuple, in order.
        """
        record = installation(scopes=["users:read", "chat:write"])
        self.assertEqual(record.scopes, ("users:read", "chat:write"))

    def test_bad_scopes_refused(self) -> None:
        """
        A scope that could not be stored comma-separated is refused.
        """
        for bad in ("", "a,b", " chat:write"):
            self.assertRaises(ValueError, installation, scopes=("chat:write", bad))

    def test_naive_time_refused(self) -> None:
        """
        Installation times must be timezone-aware.
        """
        self.assertRaises(ValueError, installation, when=datetime(2024, 3, 1))
        self.assertEqual(installation(when=T0).installed_at, T0)

    def test_attributes(self) -> None:
        """
        Attributes are text; unknown ones (C{None}) are left out.
        """
        record = installation(bot_id=None, enterprise_id="E1")
        self.assertEqual(record.attributes, {"bot_user_id": "U0BOT0001", "enterprise_id": "E1"})
        self.assertEqual(record.attributes_json, '{"bot_user_id":"U0BOT0001","enterprise_id":"E1"}')
        self.assertRaises(ValueError, installation, bot_id=7)
