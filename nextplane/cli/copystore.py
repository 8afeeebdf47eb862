# -*- test-case-name: tests.test_copystore -*-
"""
C{nextplane copy-store --from CONFIG_OR_STORE --to CONFIG_OR_STORE}: copy
the hub's whole state from one store into an empty one, e.g. from SQLite
to PostgreSQL (L{nextplane.copystore}). Stop the hub first.

A store is named by a TOML configuration file (its C{[storage]}), an
SQLite database file (C{*.sqlite3}, C{*.db}, or C{sqlite:PATH}), or a
libpq connection string (C{"dbname=nextplane host=..."} or
C{postgresql://...}).
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from ..config import ConfigError, load_config
from ..connectors.registry import CONNECTORS
from ..copystore import copy_store
from ..interfaces import IStore

__all__ = ["HELP", "NAME", "add_arguments", "open_store", "run"]

NAME = "copy-store"
HELP = "Copy every table from one store into an empty one (SQLite to PostgreSQL)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--from}, C{--to}.
    """
    parser.add_argument("--from", dest="source", required=True, metavar="CONFIG_OR_STORE")
    parser.add_argument("--to", dest="target", required=True, metavar="CONFIG_OR_STORE")


def open_store(name: str, reactor: Any) -> IStore:
    """
    The store C{name} names (not yet opened); see the module docstring.

    @raise ConfigError: A configuration file that is not valid.
    """
    from ..storage.sqlite import SQLiteStore

    if name.endswith(".toml"):
        from ..tap import make_store

        return make_store(load_config(name, registry=CONNECTORS), reactor)
    if name.startswith("sqlite:"):
        return SQLiteStore(name.removeprefix("sqlite:"), reactor=reactor)
    if name.endswith((".sqlite3", ".sqlite", ".db")):
        return SQLiteStore(name, reactor=reactor)
    # Only here: a SQLite-only install has no PostgreSQL driver (the extra).
    from ..storage.postgres import PostgresStore

    return PostgresStore(name, reactor=reactor, pool_size=1)


async def copy(source: IStore, target: IStore) -> dict[str, int]:
    """
    Open both stores, copy, close them.
    """
    await source.open()
    try:
        await target.open()
        try:
            return await copy_store(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


def run(
    args: argparse.Namespace,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    reactor: Any = None,
) -> int:
    """
    The subcommand: one line per table copied, or one line saying why not
    (status 1; 2 for a bad configuration file, found before the reactor
    runs).
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    if reactor is None:
        from twisted.internet import reactor
    try:
        source = open_store(args.source, reactor)
        target = open_store(args.target, reactor)
    except ConfigError as e:
        err.write(f"nextplane copy-store: configuration error: {e}\n")
        return 2
    status = [0]

    async def main(reactor: Any) -> None:
        try:
            counts = await copy(source, target)
        except Exception as e:  # CopyError, or a database that cannot be opened
            err.write(f"nextplane copy-store: {e}\n")
            status[0] = 1
            return
        for table, rows in sorted(counts.items()):
            out.write(f"{table}: {rows} rows\n")

    try:
        react(lambda reactor: Deferred.fromCoroutine(main(reactor)))
    except SystemExit as e:
        return status[0] or int(e.code or 0)
    return status[0]
