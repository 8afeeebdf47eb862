# -*- test-case-name: tests.storage.test_postgres -*-
"""
The PostgreSQL L{IStore}, on txpostgres: psycopg2 in asynchronous mode,
driven by the reactor, so no thread ever waits on the network.

Every operation of L{nextplane.storage.sql.store.SQLStore} runs as one
transaction (C{runInteraction}) on a connection from a small pool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, FirstError, fail, succeed
from txpostgres import txpostgres

from .migrate import migrate
from .sql.runtime import (
    POSTGRESQL,
    Op,
    Query,
    Rows,
    Step,
    StoreNotOpenError,
    drive_async,
    to_pyformat,
)
from .sql.store import SQLStore

__all__ = ["PostgresStore", "StoreNotOpenError"]

T = TypeVar("T")


class _Pool(txpostgres.ConnectionPool):  # type: ignore[misc]
    """
    A txpostgres pool whose connections use the given reactor; the stock
    pool only reads it from a class attribute.
    """

    def __init__(self, reactor: Any, dsn: str, size: int) -> None:
        self.reactor = reactor
        super().__init__(None, dsn, min=size)


async def _execute(cursor: Any, step: Step) -> Rows:
    if isinstance(step, Query):
        await cursor.execute(to_pyformat(step.sql), step.params)
    else:
        # No parameters: psycopg2 sends the script as is, all statements.
        await cursor.execute(step.sql)
    if cursor.description is None:
        return []
    rows: Rows = cursor.fetchall()
    return rows


def _interaction(cursor: Any, op: Op[T]) -> Deferred[T]:
    return Deferred.fromCoroutine(drive_async(op, partial(_execute, cursor)))


class PostgresStore(SQLStore):
    """
    L{IStore} on a PostgreSQL database.

    @ivar dsn: The libpq connection string, used unchanged; to confine the
        store to one schema, give C{options='-csearch_path=name'}.
    """

    backend_name = "postgresql"
    dialect = POSTGRESQL

    def __init__(self, dsn: str, reactor: Any = None, pool_size: int = 4) -> None:
        """
        @param dsn: A libpq connection string, e.g.
            C{"dbname=nextplane host=db user=nextplane"}.
        @param reactor: The reactor the connections run on; the global one
            by default.
        @param pool_size: How many connections to open, hence how many
            operations may run at once.
        """
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.dsn = dsn
        self._reactor = reactor
        self._pool_size = pool_size
        self._pool: Any = None
        # Every connection, including those checked out of the pool.
        self._connections: list[Any] = []

    def open(self) -> Deferred[int]:
        """
        Connect the pool and apply pending migrations.

        @return: A L{Deferred} firing with the schema version in force, or
            failing (with the connections closed again) if the database
            cannot be reached or is newer than this code.
        """
        if self._pool is not None:
            return self.schema_version()
        self._pool = _Pool(self._reactor, self.dsn, self._pool_size)
        self._connections = list(self._pool.connections)
        return Deferred.fromCoroutine(self._open())

    async def _open(self) -> int:
        try:
            try:
                await self._pool.start()
            except FirstError as e:
                # The first connection's own error, e.g. OperationalError.
                e.subFailure.raiseException()
            return await migrate(self._run, self.dialect, self._now)
        except BaseException:
            await self.close()
            raise

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._reactor.seconds(), UTC)

    def close(self) -> Deferred[None]:
        """
        Close every connection. Safe to call more than once.

        @return: A L{Deferred} firing with C{None}.
        """
        connections, self._connections = self._connections, []
        self._pool = None
        for connection in connections:
            # Never connected if the pool failed to start.
            if connection.pollable() is not None:
                connection.close()
        return succeed(None)

    def _run(self, op: Op[T], *, write: bool) -> Deferred[T]:
        if self._pool is None:
            return fail(StoreNotOpenError("PostgreSQL store is not open"))
        d: Deferred[T] = self._pool.runInteraction(_interaction, op)
        return d
