# -*- test-case-name: tests.storage.test_sqlite -*-
"""
The store contract against L{SQLiteStore}, on a file and in memory, and
what is particular to SQLite: its thread, pragmas and indexes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

from twisted.trial.unittest import TestCase

from nextplane.model.address import ChatSessionId
from nextplane.storage.records import MetadataQuery, TenantRecord
from nextplane.storage.sql.runtime import Op, Query
from nextplane.storage.sqlite import SQLiteStore

from .admin_contract import AdminStoreContract
from .contract import ALICE, BOB, T0, MigrationContract, SQLStoreContract, StoreContract


class SQLiteFileStoreTests(
    StoreContract, AdminStoreContract, SQLStoreContract, MigrationContract, TestCase
):
    """
    L{SQLiteStore} on a database file honours the L{IStore} contract.
    """

    async def make_store(self) -> SQLiteStore:
        # A directory that does not exist yet: the store must create it.
        self.path = os.path.join(self.mktemp(), "state", "nextplane.db")
        return SQLiteStore(self.path)

    def same_database(self) -> SQLiteStore:
        return SQLiteStore(self.path)

    def query_plan(self, sql: str, *params: Any) -> Op[str]:
        return _plan(sql, *params)


class SQLiteMemoryStoreTests(StoreContract, SQLStoreContract, TestCase):
    """
    L{SQLiteStore} on C{":memory:"} honours the L{IStore} contract: one
    connection keeps one database for the store's lifetime.
    """

    async def make_store(self) -> SQLiteStore:
        return SQLiteStore(":memory:")

    def query_plan(self, sql: str, *params: Any) -> Op[str]:
        return _plan(sql, *params)


def _pragma(name: str) -> Op[Any]:
    rows = yield Query(f"PRAGMA {name}")
    return rows[0][0]


def _plan(sql: str, *params: Any) -> Op[str]:
    rows = yield Query(f"EXPLAIN QUERY PLAN {sql}", params)
    return " | ".join(str(row[-1]) for row in rows)


class SQLiteSpecificTests(TestCase):
    """
    Behaviour particular to L{SQLiteStore}.
    """

    async def setUp(self) -> None:
        self.path = os.path.join(self.mktemp(), "nextplane.db")
        self.store = SQLiteStore(self.path)
        await self.store.open()
        self.addCleanup(self.store.close)

    async def test_creates_parent_directory(self) -> None:
        """
        Opening creates the database file and its missing parent directory.
        """
        self.assertTrue(os.path.isfile(self.path))

    async def test_queries_never_run_on_reactor_thread(self) -> None:
        """
        Every statement, whichever method issued it, runs on the store's
        database thread, never on the reactor thread.
        """
        seen: list[tuple[int, str]] = []

        def trace(connection: sqlite3.Connection) -> None:
            connection.set_trace_callback(lambda sql: seen.append((threading.get_ident(), sql)))

        await self.store._with_connection(trace)
        await self.store.put_tenant(TenantRecord("acme.test", "slack", "T1"))
        await self.store.list_tenants()
        session = await self.store.get_or_create_session(ALICE, BOB, T0)
        await self.store.set_session_ref(session.session_id, "slack", "D1")
        await self.store.query_metadata(MetadataQuery(user=str(ALICE)))
        await self.store.dump_tables()
        self.assertGreater(len(seen), 10)
        reactor_thread = threading.get_ident()
        self.assertEqual({ident for ident, _ in seen} & {reactor_thread}, set())
        self.assertEqual(len({ident for ident, _ in seen}), 1)
        self.assertTrue(any("INSERT INTO tenants" in sql for _, sql in seen))

    async def test_queued_operations_share_a_commit(self) -> None:
        """
        Operations issued together run as one transaction (one COMMIT),
        in order, and each fails or succeeds on its own: a refused write
        in the batch loses nothing of the others.
        """
        seen: list[str] = []

        def trace(connection: sqlite3.Connection) -> None:
            connection.set_trace_callback(seen.append)

        await self.store._with_connection(trace)
        del seen[:]
        # Hold the database thread so that everything below queues up.
        release = threading.Event()
        held = self.store._call(release.wait)
        tenants = [TenantRecord(f"t{index}.test", "slack", f"T{index}") for index in range(20)]
        writes = [self.store.put_tenant(tenant) for tenant in tenants[:10]]
        refused = self.store.set_session_ref(ChatSessionId("missing"), "slack", "D1")
        writes += [self.store.put_tenant(tenant) for tenant in tenants[10:]]
        listed = self.store.list_tenants()
        release.set()
        await held
        for write in writes:
            await write
        await self.assertFailure(refused, sqlite3.IntegrityError)
        self.assertEqual(sorted(t.domain for t in await listed), sorted(t.domain for t in tenants))
        self.assertEqual([sql for sql in seen if sql == "COMMIT"], ["COMMIT"])
        await self.store._with_connection(lambda connection: connection.set_trace_callback(None))

    async def test_pragmas(self) -> None:
        """
        File databases run in WAL mode with foreign keys enforced and a busy
        timeout.
        """
        self.assertEqual(await self.store._read(_pragma("journal_mode")), "wal")
        self.assertEqual(await self.store._read(_pragma("foreign_keys")), 1)
        self.assertEqual(await self.store._read(_pragma("busy_timeout")), 5000)

    async def test_foreign_keys_enforced(self) -> None:
        """
        A reference to a session that does not exist is refused.
        """
        await self.assertFailure(
            self.store.set_session_ref(ChatSessionId("missing"), "slack", "D1"),
            sqlite3.IntegrityError,
        )

    async def test_data_survives_reopen(self) -> None:
        """
        What one store wrote, a later store on the same file reads.
        """
        tenant = TenantRecord("acme.test", "slack", "T1")
        await self.store.put_tenant(tenant)
        await self.store.close()
        again = SQLiteStore(self.path)
        await again.open()
        self.addCleanup(again.close)
        self.assertEqual(await again.list_tenants(), [tenant])

    async def test_close_stops_thread(self) -> None:
        """
        Closing the store stops its database thread.
        """

        def names() -> set[str]:
            return {t.name for t in threading.enumerate() if self.path in t.name}

        self.assertEqual(len(names()), 1)
        await self.store.close()
        self.assertEqual(names(), set())
