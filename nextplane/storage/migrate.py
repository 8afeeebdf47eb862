# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Versioned schema migrations, shared by the SQL backends.

Each dialect has a folder C{schema/<dialect>/} of files named
C{NNN_name.sql}, numbered from C{001} without gaps. A database records what
it has applied in C{schema_migrations(version, name, applied_at)}; on open,
every pending file is applied in order, each in its own transaction
together with its C{schema_migrations} row. A database whose version is
newer than the newest file is refused rather than guessed at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Protocol, TypeVar

from attrs import frozen
from twisted.internet.defer import Deferred

from .sql.runtime import Dialect, Op, Query, Script, current_version

__all__ = [
    "Migration",
    "MigrationError",
    "Runner",
    "SchemaTooNewError",
    "discover",
    "latest_version",
    "migrate",
]

T = TypeVar("T")

_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
_CURRENT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
_RECORD = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"


class MigrationError(Exception):
    """
    The schema cannot be brought up to date.
    """


class SchemaTooNewError(MigrationError):
    """
    The database was migrated by a newer version of nextplane.

    @ivar found: The database's schema version.
    @ivar known: The newest version this code has migrations for.
    """

    def __init__(self, dialect: str, found: int, known: int) -> None:
        super().__init__(
            f"the {dialect} database is at schema version {found}, but this version of"
            f" nextplane only knows versions up to {known}; run a nextplane at least as"
            " new as the one that last opened it, or restore a matching backup"
        )
        self.found = found
        self.known = known


@frozen
class Migration:
    """
    One migration file.

    @ivar version: Its number, from 1.
    @ivar name: The rest of its file name, without C{.sql}.
    @ivar sql: Its statements.
    """

    version: int
    name: str
    sql: str


class Runner(Protocol):
    """
    How a backend runs a program in one transaction: its C{_run} method.
    """

    def __call__(self, op: Op[T], *, write: bool) -> Deferred[T]: ...


@functools.cache
def discover(dialect: str) -> tuple[Migration, ...]:
    """
    The migrations shipped for C{dialect}, in order.

    @raise MigrationError: If the files are misnamed or not numbered 1, 2,
        3, ... without gaps or repeats.
    """
    folder = resources.files(__package__) / "schema" / dialect
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"misnamed migration {dialect}/{entry.name}")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"{dialect} migrations must be numbered 1 to N, found {versions}")
    return tuple(found)


def latest_version(dialect: str) -> int:
    """
    The schema version the code for C{dialect} brings a database to.
    """
    return len(discover(dialect))


def _current(lock: str | None) -> Op[int]:
    if lock is not None:
        yield Query(lock)
    yield Query(_CREATE_TABLE)
    rows = yield Query(_CURRENT_VERSION)
    return int(rows[0][0])


def _apply(migration: Migration, lock: str | None, applied_at: datetime) -> Op[bool]:
    if lock is not None:
        yield Query(lock)
    rows = yield Query(_CURRENT_VERSION)
    if int(rows[0][0]) >= migration.version:
        return False  # another process got there first
    yield Script(migration.sql)
    applied = applied_at.astimezone(UTC).isoformat(timespec="seconds")
    yield Query(_RECORD, (migration.version, migration.name, applied))
    return True


async def migrate(
    run: Runner, dialect: Dialect, now: Callable[[], datetime], target: int | None = None
) -> int:
    """
    Bring a database's schema up to date, or up to C{target}.

    @param run: The backend's transaction runner.
    @param dialect: Chooses the migration files and the locking statement.
    @param now: The clock for C{applied_at}.
    @param target: The version to stop at (default: the newest), for
        building a database as an older nextplane left it. A database
        already past it is left as it is.
    @raise SchemaTooNewError: If the database is newer than the code.
    @raise ValueError: If C{target} is not a version of C{dialect}.
    @return: The schema version now in force.
    """
    migrations = discover(dialect.name)
    known = len(migrations)
    if target is None:
        target = known
    elif not 0 <= target <= known:
        raise ValueError(f"{dialect.name} has schema versions 0 to {known}, not {target}")
    current: int = await run(_current(dialect.migration_lock), write=True)
    if current > known:
        raise SchemaTooNewError(dialect.name, current, known)
    for migration in migrations[current:target]:
        # Skipped inside the transaction if a concurrent opener applied it.
        await run(_apply(migration, dialect.migration_lock, now()), write=True)
    version: int = await run(current_version(), write=False)
    return version
