"""
The privacy marker test: messages whose content holds a unique marker are
routed through test connectors, the echo connector, refusals, failures and
crashes; then every table of the store (memory, SQLite including its raw
database files, PostgreSQL) and every log line, text and JSON, are searched
for the marker. It must appear nowhere.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from twisted.internet.defer import fail
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import TestCase

from nextplane.connectors.echo import EchoConfig, EchoConnector
from nextplane.interfaces import DeliveryFailed, IStore
from nextplane.logs import make_observer
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactRequest,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    ReactionAdd,
    TextMessage,
    Typing,
)
from nextplane.model.text import Bold, Link, RichText, Text
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import MetadataQuery
from nextplane.storage.sqlite import SQLiteStore

from .helpers import CoreFixture, addr


class Crash(Exception):
    """A connector bug."""


class PrivacyContract:
    """
    The marker test, run against each backend by the classes below.
    """

    async def make_store(self) -> IStore:
        raise NotImplementedError

    def raw_files(self) -> list[Path]:
        """Files the backend wrote, to search byte by byte."""
        return []

    def capture_logs(self) -> tuple[io.StringIO, io.StringIO]:
        text, json_lines = io.StringIO(), io.StringIO()
        for out, fmt in ((text, "text"), (json_lines, "json")):
            observer = make_observer(fmt, out, level=LogLevel.debug)
            globalLogPublisher.addObserver(observer)
            self.addCleanup(globalLogPublisher.removeObserver, observer)  # type: ignore[attr-defined]
        return text, json_lines

    async def test_marker_appears_nowhere(self) -> None:
        """Content with a unique marker reaches the recipients but no table, database file or log line."""
        marker = f"MARKER-{secrets.token_hex(8)}"
        text_log, json_log = self.capture_logs()
        store = await self.make_store()
        await store.open()
        self.addCleanup(store.close)  # type: ignore[attr-defined]
        core = CoreFixture(store=store)
        echo = EchoConnector(core.router, core.clock, frozenset({"beta.test"}), EchoConfig(""))
        echo.connector_name = "beta"
        echo.startService()
        core.router.add_connector(echo)

        john, peter, bot = addr("john@acme.test"), addr("peter@widget.test"), addr("bot@beta.test")
        body = RichText([Bold([Text(marker)]), Link(f"https://x.test/{marker}", [Text(marker)])])

        # Contact flow, with content in the request's display name.
        await core.router.route(ContactRequest(sender=peter, recipient=john, display_name=marker))
        await core.router.route(ContactAccept(sender=john, recipient=peter))
        # Every content-bearing event, both directions.
        first = TextMessage(sender=john, recipient=peter, body=body)
        events = [
            first,
            TextMessage(sender=peter, recipient=john, body=body),
            MessageEdit(sender=john, recipient=peter, message_id=first.message_id, body=body),
            ReactionAdd(sender=peter, recipient=john, message_id=first.message_id, emoji=marker),
            MessageRetract(sender=john, recipient=peter, message_id=first.message_id),
            FileShare(sender=john, recipient=peter, name=marker, url=f"https://f.test/{marker}"),
            Presence(sender=peter, recipient=john, availability=Availability.AWAY, status=marker),
            Typing(sender=john, recipient=peter, state="composing"),
            # Refused: not a contact.
            TextMessage(sender=john, recipient=addr("stranger@widget.test"), body=body),
        ]
        for event in events:
            await core.router.route(event)
        # The echo platform: a request, then content echoed back through the router.
        await core.router.route(ContactRequest(sender=john, recipient=bot))
        core.clock.advance(0)
        await echo.drain()
        await core.router.route(TextMessage(sender=john, recipient=bot, body=body))
        core.clock.advance(0)
        await echo.drain()
        # A delivery failure and a connector crash.
        core.xmpp.failure = DeliveryFailed("remote-server-timeout", "widget.test did not answer")
        await core.router.route(TextMessage(sender=john, recipient=peter, body=body))
        core.xmpp.failure = None
        core.xmpp.deliver = lambda event: fail(Crash("connector bug"))  # type: ignore[method-assign]
        await core.router.route(TextMessage(sender=john, recipient=peter, body=body))
        self.flushLoggedErrors(Crash)  # type: ignore[attr-defined]

        # Content did reach the recipients...
        delivered = [e for e in core.xmpp.delivered if isinstance(e, TextMessage)]
        self.assertTrue(any(marker in e.body.plain_text() for e in delivered))  # type: ignore[attr-defined]
        echoed = [e for e in core.alpha.delivered if isinstance(e, TextMessage)]
        self.assertEqual([e.body.plain_text() for e in echoed], [marker * 2, marker * 2])  # type: ignore[attr-defined]
        self.assertEqual(echo.replies, 3)  # type: ignore[attr-defined]
        # ...and every event left a record...
        records = await store.query_metadata(MetadataQuery(limit=10_000))
        self.assertGreaterEqual(len(records), 15)  # type: ignore[attr-defined]
        # ...but the marker is in no table, no database file and no log line.
        tables = await store.dump_tables()
        self.assertTrue(all(isinstance(rows, list) for rows in tables.values()))  # type: ignore[attr-defined]
        self.assertNotIn(marker, repr(tables))  # type: ignore[attr-defined]
        for path in self.raw_files():
            if path.exists():
                self.assertNotIn(marker.encode(), path.read_bytes(), str(path))  # type: ignore[attr-defined]
        for name, out in (("text", text_log), ("json", json_log)):
            self.assertIn("delivered", out.getvalue(), f"{name} log captured nothing")  # type: ignore[attr-defined]
            self.assertNotIn(marker, out.getvalue(), f"marker in the {name} log")  # type: ignore[attr-defined]


class MemoryPrivacyTests(PrivacyContract, TestCase):
    async def make_store(self) -> IStore:
        return MemoryStore()


class SQLitePrivacyTests(PrivacyContract, TestCase):
    async def make_store(self) -> IStore:
        self.path = Path(self.mktemp()) / "hub.sqlite3"
        return SQLiteStore(str(self.path))

    def raw_files(self) -> list[Path]:
        return [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]


class PostgresPrivacyTests(PrivacyContract, TestCase):
    async def make_store(self) -> IStore:
        from nextplane.storage.postgres import PostgresStore

        from .pg import isolated_postgres_dsn

        dsn = await isolated_postgres_dsn(self)
        return PostgresStore(dsn, pool_size=2)
