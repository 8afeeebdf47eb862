"""
PostgreSQL for tests: an isolated schema per test on the server named by
C{NEXTPLANE_TEST_PG_DSN}. Without it, tests skip, except under C{CI=true},
where a missing DSN or an unreachable server fails them.
"""

from __future__ import annotations

import os
import secrets

import psycopg2
from psycopg2.extensions import make_dsn
from twisted.trial.unittest import SkipTest, TestCase
from txpostgres import txpostgres

DSN_VARIABLE = "NEXTPLANE_TEST_PG_DSN"


def unavailable(test: TestCase, reason: str) -> None:
    """
    Skip C{test} for C{reason}, or fail it under CI where PostgreSQL must be
    tested.
    """
    if os.environ.get("CI", "").lower() == "true":
        test.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
    raise SkipTest(reason)


async def run_admin(test: TestCase, dsn: str, sql: str) -> None:
    """
    Run one statement on a connection of its own.
    """
    connection = txpostgres.Connection()
    try:
        await connection.connect(dsn)
    except psycopg2.Error as e:
        unavailable(test, f"cannot connect to PostgreSQL with {DSN_VARIABLE}: {e}")
    try:
        await connection.runOperation(sql)
    finally:
        connection.close()


async def isolated_postgres_dsn(test: TestCase) -> str:
    """
    A DSN whose connections work in a fresh schema, dropped when C{test}
    ends.
    """
    base = os.environ.get(DSN_VARIABLE, "")
    if not base:
        unavailable(test, f"{DSN_VARIABLE} is not set")
    schema = f"np_test_{secrets.token_hex(6)}"
    await run_admin(test, base, f"CREATE SCHEMA {schema}")
    test.addCleanup(run_admin, test, base, f"DROP SCHEMA {schema} CASCADE")
    return make_dsn(base, options=f"-csearch_path={schema}")  # type: ignore[no-any-return]
