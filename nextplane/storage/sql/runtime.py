# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
""" """

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ...model.address import Address

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Dialect",
    "Op",
    "Query",
    "Row",
    "Rows",
    "SQLBase",
    "Script",
    "SecretWriteError",
    "Step",
    "StoreNotOpenError",
    "T",
    "current_version",
    "drive_async",
    "drive_sync",
    "dump_value",
    "first_row",
    "hide_values",
    "parse_address",
    "to_date",
    "to_datetime",
    "to_pyformat",
    "where_clause",
]


T = TypeVar("T")

Row = tuple[Any, ...]
Rows = list[Row]


class StoreNotOpenError(RuntimeError):
    """
    An operation was asked of a store that is not open.
    """


class SecretWriteError(RuntimeError):
    """
    Writing a record that holds a secret failed. The message names the
    operation, the driver's exception type and SQLSTATE, but not the
    driver's text: PostgreSQL's C{DETAIL} may quote the row or key, secret
    included.
    """


def hide_values(what: str) -> Callable[[Failure], Failure]:
    def hide(failure: Failure) -> Failure:
        if failure.check(StoreNotOpenError):
            return failure
        error = failure.value
        code = getattr(error, "pgcode", None)
        detail = f"{type(error).__name__}" + (f", SQLSTATE {code}" if code else "")
        return Failure(SecretWriteError(f"{what} failed ({detail})"))

    return hide


@frozen
class Query:
    """
    One SQL statement with C{?} placeholders and its parameters. Its result
    rows (empty for statements that return none) are sent back to the
    program.
    """

    sql: str
    params: tuple[Any, ...] = ()


@frozen
class Script:
    """
    Several parameterless SQL statements separated by semicolons, such as a
    migration file, run inside the current transaction. Sends back no rows.
    """

    sql: str


Step = Query | Script

#: A store operation: yields steps, receives their rows, returns a C{T}.
Op = Generator[Step, Rows, T]


def drive_sync(op: Op[T], execute: Callable[[Step], Rows]) -> T:
    """
    Run C{op} to completion, executing each step synchronously.

    @param execute: Runs one step and returns its rows.
    @return: The program's return value.
    """
    try:
        step = next(op)
        while True:
            step = op.send(execute(step))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def drive_async(op: Op[T], execute: Callable[[Step], Awaitable[Rows]]) -> T:
    """
    Run C{op} to completion, awaiting each step.

    @param execute: Runs one step and returns an awaitable of its rows.
    @return: The program's return value.
    """
    try:
        step = next(op)
        while True:
            rows = await execute(step)
            step = op.send(rows)
    except StopIteration as stop:
        result: T = stop.value
        return result


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """
    Translate C{?} placeholders into psycopg2's C{%s}, escaping literal
    percent signs first. The shared SQL never has C{?} inside literals.
    """
    return sql.replace("%", "%%").replace("?", "%s")


def to_datetime(value: Any) -> datetime:
    """
    A stored timestamp (ISO-8601 text or a C{datetime}) as an aware UTC
    C{datetime}.
    """
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def to_date(value: Any) -> date:
    """
    A stored day (ISO-8601 text or a C{date}) as a C{date}.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def dump_value(value: Any) -> str | None:
    # Text for audits; timestamps in one form whichever dialect stored them.
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def parse_address(text: str) -> Address:
    # Not Address.parse: it would strip a local part that looks like a scheme.
    local, _, domain = text.rpartition("@")
    return Address(local, domain)


@frozen
class Dialect:
    """
    The few things the shared SQL cannot say the same way in both dialects.

    @ivar name: C{"sqlite"} or C{"postgresql"}; also the folder of its
        migration files under C{schema/}.
    @ivar external_domain: An expression for a contact's external domain,
        written exactly as in the schema's expression index so it is used.
    @ivar owner_domain: The same for a contact's owner.
    @ivar list_tables: A query for the names of the tables of the store.
    @ivar migration_lock: A statement serialising concurrent migrations
        within a transaction, or C{None} when beginning one already does.
    """

    name: str
    external_domain: str
    owner_domain: str
    list_tables: str
    migration_lock: str | None


SQLITE = Dialect(
    name="sqlite",
    external_domain="substr(external_key, instr(external_key, '@') + 1)",
    owner_domain="substr(owner_key, instr(owner_key, '@') + 1)",
    list_tables=(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name"
    ),
    migration_lock=None,
)

POSTGRESQL = Dialect(
    name="postgresql",
    external_domain="split_part(external_key, '@', 2)",
    owner_domain="split_part(owner_key, '@', 2)",
    list_tables=(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        " ORDER BY table_name"
    ),
    # An arbitrary application-wide key: 'np' 'mi' in ASCII.
    migration_lock="SELECT pg_advisory_xact_lock(1852862825)",
)


def current_version() -> Op[int]:
    """
    The highest applied migration, 0 for none.
    """
    rows = yield Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(rows[0][0])


def first_row(rows: Rows) -> Row | None:
    return rows[0] if rows else None


def where_clause(conditions: Sequence[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """
    A C{WHERE} clause of the conditions whose parameters are not C{None}.

    @param conditions: C{(sql, param, ...)}; a condition applies when its
        first parameter is not C{None}.
    @return: The clause (empty or starting with a space) and its params.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for sql, *values in conditions:
        if values[0] is not None:
            clauses.append(sql)
            params.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


class SQLBase:
    """
    What every role's programs run on: a dialect and one transaction per
    program (L{_run}), which each backend implements.
    """

    backend_name: ClassVar[str]
    dialect: ClassVar[Dialect]

    def open(self) -> Deferred[int]:
        """
        Connect and apply pending migrations.

        @return: A L{Deferred} firing with the schema version in force.
        """
        raise NotImplementedError

    def close(self) -> Deferred[None]:
        """
        Release connections and threads.

        @return: A L{Deferred} firing with C{None}.
        """
        raise NotImplementedError

    def _run(self, op: Op[T], *, write: bool) -> Deferred[T]:
        """
        Run C{op} in one transaction, off the reactor thread or without
        blocking it.

        @param write: Whether C{op} may write; SQLite then takes the write
            lock when the transaction begins rather than upgrading later.
        @return: A L{Deferred} firing with C{op}'s result.
        """
        raise NotImplementedError

    def _read(self, op: Op[T]) -> Deferred[T]:
        return self._run(op, write=False)

    def _write(self, op: Op[T]) -> Deferred[T]:
        return self._run(op, write=True)

    # schema

    def schema_version(self) -> Deferred[int]:
        """
        @return: A L{Deferred} firing with the highest applied migration.
        """
        return self._read(current_version())
