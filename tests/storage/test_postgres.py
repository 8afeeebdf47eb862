# -*- test-case-name: tests.storage.test_postgres -*-
"""
The store contract against L{PostgresStore}.

Needs a server: set C{NEXTPLANE_TEST_PG_DSN}, e.g.
C{dbname=test host=127.0.0.1 user=root}. Without it the tests are skipped,
except under C{CI=true}, where a missing DSN or an unreachable server fails
them. Each test works in a schema of its own, dropped afterwards, so runs
in parallel or repeated never see each other's data.
"""

from __future__ import annotations

from typing import Any

import psycopg2
from twisted.trial.unittest import TestCase

from nextplane.storage.postgres import PostgresStore
from nextplane.storage.sql.runtime import Op, Query

from ..pg import isolated_postgres_dsn
from .admin_contract import AdminStoreContract
from .contract import MigrationContract, SQLStoreContract, StoreContract


class PostgresStoreTests(
    StoreContract, AdminStoreContract, SQLStoreContract, MigrationContract, TestCase
):
    """
    L{PostgresStore} honours the L{IStore} contract.
    """

    async def make_store(self) -> PostgresStore:
        # The store takes the DSN as is; the schema rides in its options.
        self.dsn = await isolated_postgres_dsn(self)
        self.schema = self.dsn.rpartition("search_path=")[2].strip("'")
        return PostgresStore(self.dsn, pool_size=3)

    def same_database(self) -> PostgresStore:
        return PostgresStore(self.dsn, pool_size=2)

    def query_plan(self, sql: str, *params: Any) -> Op[str]:
        return _plan(sql, *params)

    async def test_tables_in_own_schema(self) -> None:
        """
        The store creates its tables in the schema its DSN selects.
        """
        rows = await self.store._read(_schema_tables(self.schema))
        self.assertIn("metadata_log", {name for (name,) in rows})


def _plan(sql: str, *params: Any) -> Op[str]:
    # Tiny tables are cheaper to scan; forbid that to see the index chosen.
    yield Query("SET LOCAL enable_seqscan = off")
    rows = yield Query(f"EXPLAIN {sql}", params)
    return "\n".join(row[0] for row in rows)


def _schema_tables(schema: str) -> Op[list[tuple[Any, ...]]]:
    rows = yield Query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", (schema,)
    )
    return rows


class PostgresConnectionTests(TestCase):
    """
    L{PostgresStore} when the server cannot be reached.
    """

    async def test_unreachable_server(self) -> None:
        """
        Opening a store whose server refuses connections fails and leaves
        nothing behind on the reactor.
        """
        store = PostgresStore("host=127.0.0.1 port=1 dbname=none connect_timeout=5", pool_size=2)
        await self.assertFailure(store.open(), psycopg2.OperationalError)
        await store.close()

    def test_pool_size_validated(self) -> None:
        """
        A pool needs at least one connection.
        """
        self.assertRaises(ValueError, PostgresStore, "dbname=x", pool_size=0)
