# -*- test-case-name: tests.storage.test_sqlite -*-
"""
The embedded L{IStore}: the standard library's C{sqlite3}, on one database
thread so the reactor never waits on disk.

Every operation of L{nextplane.storage.sql.store.SQLStore} runs on that thread,
on the one connection it opened; C{":memory:"} therefore keeps one database
for the store's lifetime. File databases use WAL mode, so readers in other
processes do not block the hub's writes.

Group commit: operations queued while the thread is busy run together,
one transaction per batch with a savepoint per operation, so each still
succeeds or fails on its own while the batch pays for one thread hop and
one commit. Under load that is what lets many routed messages share the
cost of their metadata writes; a lone operation runs at once, as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from .migrate import migrate
from .sql.runtime import SQLITE, Op, Query, Rows, Step, StoreNotOpenError, drive_sync
from .sql.store import SQLStore

__all__ = ["SQLiteStore", "StoreNotOpenError"]

T = TypeVar("T")

#: How long a statement waits for another process's lock before failing.
_BUSY_TIMEOUT_MS = 5000
#: C{RETURNING} and C{ON CONFLICT ... DO UPDATE} appeared in 3.35.
_MINIMUM_SQLITE = (3, 35, 0)
#: Operations per transaction at most, so one batch cannot hold the
#: write lock (and the first operation's caller) for long.
_MAX_BATCH = 200

#: An operation waiting for the database thread.
_Queued = tuple[Op[Any], bool, Deferred[Any]]


def _encode(value: Any) -> Any:
    # Fixed-width UTC text keeps text order equal to time order.
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _split(script: str) -> list[str]:
    """
    The statements of C{script}, so a migration can run inside the current
    transaction (C{executescript} would commit it first).
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if pending.strip():
        # Trailing comments run as a no-op; a truncated statement fails.
        statements.append(pending)
    return statements


def _execute(connection: sqlite3.Connection, step: Step) -> Rows:
    if isinstance(step, Query):
        cursor = connection.execute(step.sql, tuple(_encode(v) for v in step.params))
        return cursor.fetchall()
    for statement in _split(step.sql):
        connection.execute(statement)
    return []


class SQLiteStore(SQLStore):
    """
    L{IStore} on an SQLite database file, or C{":memory:"} for tests.

    @ivar path: The database file.
    """

    backend_name = "sqlite"
    dialect = SQLITE

    def __init__(self, path: str, reactor: Any = None) -> None:
        """
        @param path: The database file, created with its parent directory
            if missing; or C{":memory:"} for a private in-memory database.
        @param reactor: The reactor to report results on; the global one
            by default.
        """
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.path = path
        self._reactor = reactor
        self._pool: ThreadPool | None = None
        self._shutdown_trigger: Any = None
        # Only ever touched on the pool's single thread.
        self._connection: sqlite3.Connection | None = None
        # Operations waiting for the thread; shared by both threads.
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._draining = False

    def open(self) -> Deferred[int]:
        """
        Start the database thread, connect and apply pending migrations.

        @return: A L{Deferred} firing with the schema version in force, or
            failing (with the store closed again) if the database cannot be
            opened or is newer than this code.
        """
        if self._pool is not None:
            return self.schema_version()
        self._pool = ThreadPool(minthreads=1, maxthreads=1, name=f"nextplane-sqlite {self.path}")
        self._pool.start()
        # If the reactor stops without close(), still let the process exit.
        self._shutdown_trigger = self._reactor.addSystemEventTrigger(
            "during", "shutdown", self._stop_pool
        )
        return Deferred.fromCoroutine(self._open())

    async def _open(self) -> int:
        try:
            await self._call(self._connect)
            return await migrate(self._run, self.dialect, self._now)
        except BaseException:
            await self.close()
            raise

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._reactor.seconds(), UTC)

    def close(self) -> Deferred[None]:
        """
        Close the connection and stop the database thread. Safe to call
        more than once.

        @return: A L{Deferred} firing when the thread has stopped.
        """
        if self._pool is None:
            return succeed(None)
        d = self._call(self._disconnect)

        def stopped(result: object) -> object:
            if self._shutdown_trigger is not None:
                self._reactor.removeSystemEventTrigger(self._shutdown_trigger)
                self._shutdown_trigger = None
            self._stop_pool()
            return result

        return d.addBoth(stopped)

    def _stop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()

    def _call(self, function: Any, *args: Any) -> Deferred[Any]:
        if self._pool is None:
            return fail(StoreNotOpenError(f"SQLite store {self.path!r} is not open"))
        return deferToThreadPool(self._reactor, self._pool, function, *args)

    def _run(self, op: Op[T], *, write: bool) -> Deferred[T]:
        pool = self._pool
        if pool is None:
            return fail(StoreNotOpenError(f"SQLite store {self.path!r} is not open"))
        result: Deferred[T] = Deferred()
        with self._lock:
            self._queue.append((op, write, result))
            start, self._draining = not self._draining, True
        if start:
            pool.callInThread(self._drain)
        return result

    def _deliver(self, outcomes: list[tuple[Deferred[Any], Any]]) -> None:
        for result, outcome in outcomes:
            if isinstance(outcome, Failure):
                result.errback(outcome)
            else:
                result.callback(outcome)

    # The methods below run on the database thread only.

    def _connect(self) -> None:
        if sqlite3.sqlite_version_info < _MINIMUM_SQLITE:
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} is too old; nextplane needs"
                f" {'.'.join(map(str, _MINIMUM_SQLITE))} or newer"
            )
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        # isolation_level=None: transactions are begun and ended explicitly.
        connection = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA journal_mode = WAL")
            # Safe from corruption in WAL mode; at worst loses the last commits.
            connection.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch = self._queue[:_MAX_BATCH]
                del self._queue[:_MAX_BATCH]
                if not batch:
                    self._draining = False
                    return
            try:
                outcomes = self._batch(batch)
            except BaseException:
                failure = Failure()
                outcomes = [(result, failure) for _, _, result in batch]
            self._reactor.callFromThread(self._deliver, outcomes)

    def _batch(self, batch: list[_Queued]) -> list[tuple[Deferred[Any], Any]]:
        if len(batch) == 1:
            op, write, result = batch[0]
            try:
                return [(result, self._transaction(op, write))]
            except BaseException:
                return [(result, Failure())]
        connection = self._connection
        if connection is None:
            raise StoreNotOpenError(f"SQLite store {self.path!r} is not connected")
        execute = partial(_execute, connection)
        outcomes: list[tuple[Deferred[Any], Any]] = []
        connection.execute("BEGIN IMMEDIATE" if any(w for _, w, _ in batch) else "BEGIN")
        try:
            for op, _, result in batch:
                connection.execute("SAVEPOINT operation")
                try:
                    value = drive_sync(op, execute)
                except Exception:
                    outcomes.append((result, Failure()))
                    connection.execute("ROLLBACK TO operation")
                else:
                    outcomes.append((result, value))
                connection.execute("RELEASE operation")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return outcomes

    def _transaction(self, op: Op[T], write: bool) -> T:
        connection = self._connection
        if connection is None:
            raise StoreNotOpenError(f"SQLite store {self.path!r} is not connected")
        # IMMEDIATE takes the write lock up front (waiting up to the busy
        # timeout) instead of failing when a read later upgrades to a write.
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = drive_sync(op, partial(_execute, connection))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    def _with_connection(self, function: Any) -> Deferred[Any]:
        """
        Call C{function(connection)} on the database thread; for tests.
        """
        return self._call(lambda: function(self._connection))
