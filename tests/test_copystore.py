"""
Tests for L{nextplane.copystore} and C{nextplane copy-store}: every table
goes from SQLite to PostgreSQL (the test database) through the store API,
session references follow their sessions, and a non-empty target is
refused.
"""

from __future__ import annotations

import io
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from nextplane.cli import copystore as cli
from nextplane.copystore import CopyError, copy_store
from nextplane.interfaces import IStore
from nextplane.model.address import Address
from nextplane.storage import records as r
from nextplane.storage.admin_records import AuditQuery
from nextplane.storage.postgres import PostgresStore
from nextplane.storage.sqlite import SQLiteStore
from tests.storage.admin_contract import fill_admin_tables

from .pg import isolated_postgres_dsn
from .storage.refs_contract import message_ref
from .storage.sip_contract import sip_subscription

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ALICE = Address("alice", "acme.test")
BOB = Address("bob", "widget.test")


async def fill(store: IStore) -> str:
    """Put a row in every table; returns the session id."""
    await store.put_tenant(r.TenantRecord("acme.test", "slack", "T1", "Acme"))
    await store.put_user(r.UserRecord(ALICE, "acme.test", "slack", "U1", "Alice"))
    await store.put_contact(r.ContactRecord(ALICE, BOB, "accepted", "outbound", T0, T0))
    session = await store.get_or_create_session(ALICE, BOB, T0)
    await store.set_session_ref(session.session_id, "slack", "T1:C1")
    await store.map_message("m1", "slack", "C1:1.0", session.session_id)
    await store.put_tenant_policy(r.TenantPolicy("acme.test", files=False))
    await store.put_user_policy(r.UserPolicy(ALICE, False))
    await store.put_domain_policy(r.DomainPolicy("acme.test", "*.bad.test", "block"))
    await store.put_installation(
        r.PlatformInstallation("slack", "T1", "xoxb-secret", ("chat:write",), T0, {"bot_id": "B0"})
    )
    await store.put_sip_subscription(sip_subscription())
    await store.put_message_ref(message_ref("N1", from_platform=True, starts_thread=True))
    await store.append_metadata(
        r.MetadataRecord(
            timestamp=T0,
            sender=str(ALICE),
            receiver=str(BOB),
            category="chat",
            kind="message",
            session_id=session.session_id.value,
            decision=r.Decision.DELIVERED,
            tenant="acme.test",
            remote_domain="widget.test",
            platform="slack",
        )
    )
    await store.claim_work(
        r.WorkRecord(
            source="slack",
            origin="T1:Ev1",
            work_id="Ev1",
            sender="U1",
            recipient=str(BOB),
            conversation="T1:C1",
            native_id="1.0",
            accepted_at=T0,
            updated_at=T0,
        )
    )
    return session.session_id.value


class CopyStoreTests(TestCase):
    async def stores(self) -> tuple[SQLiteStore, PostgresStore]:
        source = SQLiteStore(str(Path(self.mktemp()) / "hub.sqlite3"), reactor=reactor)
        target = PostgresStore(await isolated_postgres_dsn(self), reactor=reactor, pool_size=1)
        for store in (source, target):
            await store.open()
            self.addCleanup(store.close)
        return source, target

    async def test_sqlite_to_postgresql(self) -> None:
        """Every table arrives; the session keeps its refs, message map and log entries."""
        source, target = await self.stores()
        await fill(source)
        await fill_admin_tables(source)
        counts = await copy_store(source, target)
        source_dump = await source.dump_tables()
        self.assertEqual({n: len(r) for n, r in source_dump.items()}, counts)
        # One row in every table but the usage aggregates (rebuilt, empty here).
        self.assertEqual(
            {n for n, rows in counts.items() if rows == 1},
            set(counts) - {"usage_users", "usage_messages"},
        )
        session = await target.find_session_by_ref("slack", "T1:C1")
        assert session is not None
        self.assertEqual({session.first, session.second}, {ALICE, BOB})
        self.assertEqual(session.created_at, T0)
        self.assertEqual(await target.find_message_id("slack", "C1:1.0"), "m1")
        self.assertEqual(await target.find_native_id("m1", "slack"), "C1:1.0")
        self.assertEqual(
            await target.find_message_ref("webex", "P-alice", "N1"),
            message_ref("N1", from_platform=True, starts_thread=True),
        )
        [logged] = await target.query_metadata(r.MetadataQuery())
        self.assertEqual(logged.session_id, session.session_id.value)
        installation = await target.get_installation("slack", "T1")
        assert installation is not None
        self.assertEqual(installation.credentials, "xoxb-secret")
        self.assertEqual(installation.attributes, {"bot_id": "B0"})
        [work] = await target.unfinished_work()
        self.assertEqual((work.origin, work.native_id, work.accepted_at), ("T1:Ev1", "1.0", T0))
        self.assertEqual(await target.list_sip_subscriptions(), [sip_subscription()])
        self.assertFalse((await target.get_tenant_policy("acme.test")).files)
        policy = await target.get_user_policy(ALICE)
        assert policy is not None
        self.assertFalse(policy.enabled)
        # Admin accounts keep their password hashes; the audit and
        # retirements come along.
        self.assertEqual(await target.get_account("alice"), await source.get_account("alice"))
        self.assertEqual((await target.query_audit(AuditQuery()))[1], 1)
        self.assertIn("old.test", await target.retired_tenants())

    async def test_refuses_filled_target(self) -> None:
        """A target that already holds data is refused, untouched."""
        source, target = await self.stores()
        await fill(source)
        await target.put_tenant(r.TenantRecord("other.test", "echo", "w"))
        with self.assertRaisesRegex(CopyError, "not empty"):
            await copy_store(source, target)

    def test_store_names(self) -> None:
        """A .toml is a config, *.sqlite3 or sqlite: SQLite, anything else a libpq DSN."""
        self.assertIsInstance(cli.open_store("sqlite::memory:", reactor), SQLiteStore)
        self.assertIsInstance(cli.open_store("x/hub.sqlite3", reactor), SQLiteStore)
        self.assertIsInstance(cli.open_store("dbname=nextplane", reactor), PostgresStore)
        err = io.StringIO()
        args = type(
            "Args",
            (),
            {"source": str(Path(self.mktemp()) / "nope.toml"), "target": "sqlite::memory:"},
        )
        self.assertEqual(cli.run(args, io.StringIO(), err), 2)  # type: ignore[arg-type]
        self.assertIn("config file not found", err.getvalue())


class CopyStoreCommandTests(TestCase):
    async def test_command(self) -> None:
        """python -m nextplane copy-store copies a SQLite file into PostgreSQL, one line per table."""
        path = Path(self.mktemp()) / "hub.sqlite3"
        source = SQLiteStore(str(path), reactor=reactor)
        await source.open()
        await fill(source)
        await source.close()
        dsn = await isolated_postgres_dsn(self)
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            ["-m", "nextplane", "copy-store", "--from", str(path), "--to", dsn],
            env=dict(os.environ),
        )
        self.assertEqual(code, 0, err)
        self.assertIn(b"metadata_log: 1 rows\n", out)
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            ["-m", "nextplane", "copy-store", "--from", str(path), "--to", dsn],
            env=dict(os.environ),
        )
        self.assertEqual(code, 1)
        self.assertIn(b"the target is not empty", err)
