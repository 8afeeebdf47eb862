"""
The hub as operators run it: C{twistd -n nextplane --config ...} in a child
process, on SQLite, answering /healthz over a real socket, stopping cleanly
on SIGINT; and a bad configuration failing with one line and status 2.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from nextplane.devcerts import ensure_ca, ensure_domain_cert

ROOT = Path(__file__).resolve().parent.parent.parent
TWISTD = str(Path(sys.executable).parent / "twistd")
ADMIN_TOKEN = "system-test-token-0123456789"


class HubProcess(ProcessProtocol):
    """Collects output; fires C{listening} with the web port (C{ports} has the admin one too), C{ended} with the exit code."""

    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.signal: int | None = None
        self.ports: dict[str, int] = {}
        self.listening: Deferred[int] = Deferred()
        self.ended: Deferred[int] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data
        for line in self.out.splitlines():
            if b'"name": "' not in line or b'"port"' not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("name") in ("web", "admin") and "port" in event:
                self.ports[event["name"]] = int(event["port"])
            if {"web", "admin"} <= set(self.ports) and not self.listening.called:
                self.listening.callback(self.ports["web"])

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        code = reason.value.exitCode if reason.check(ProcessDone, ProcessTerminated) else -1
        self.signal = getattr(reason.value, "signal", None)
        if not self.listening.called:
            self.listening.errback(
                RuntimeError(f"hub exited ({code}) before listening: {self.err!r}")
            )
        self.ended.callback(code)


def write_hub_config(directory: Path, database: Path, hub: str = "", echo: str = "") -> str:
    """
    Write C{directory/nextplane.toml}: JSON logs, SQLite at C{database},
    an echo tenant C{acme.test} with the certificates under
    C{directory/certs}; C{hub} and C{echo} are more lines of C{[hub]} and
    C{[connectors.echo]}.

    @return: Its path.
    """
    certs = directory / "certs"
    path = directory / "nextplane.toml"
    path.write_text(
        f"""
[hub]
log_format = "json"
{hub}
[storage]
sqlite_path = "{database}"
[web]
listen = "tcp:0:interface=127.0.0.1"
admin_listen = "tcp:0:interface=127.0.0.1"
admin_token = "${{NEXTPLANE_TEST_ADMIN_TOKEN}}"
[tls]
ca_certificates = ["{certs}/ca.crt"]
[[tenants]]
domain = "acme.test"
platform = "echo"
workspace = "demo"
certificate = "{certs}/acme.test.crt"
private_key = "{certs}/acme.test.key"
[connectors.echo]
{echo}
"""
    )
    return str(path)


def spawn_twistd(
    testcase: TestCase, directory: Path, args: list[str], **env: str
) -> tuple[HubProcess, Any]:
    """
    Start C{twistd --nodaemon --pidfile= ARGS} in C{directory} with C{env}
    added to this process's environment; killed at the end of the test.

    @return: The protocol and the process transport.
    """
    process = HubProcess()
    transport = reactor.spawnProcess(  # type: ignore[attr-defined]
        process,
        TWISTD,
        [TWISTD, "--nodaemon", "--pidfile=", *args],
        env=dict(os.environ, PYTHONPATH=str(ROOT), NEXTPLANE_TEST_ADMIN_TOKEN=ADMIN_TOKEN, **env),
        path=str(directory),
    )

    def cleanup() -> Deferred[Any] | None:
        if process.ended.called:
            return None
        transport.signalProcess("KILL")
        return process.ended

    testcase.addCleanup(cleanup)
    return process, transport


class HostileClient(Protocol):
    """Opens an s2s stream and sends malformed XML; C{closed} fires when the hub hangs up."""

    def __init__(self) -> None:
        self.closed: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:server'"
            b" xmlns:stream='http://etherx.jabber.org/streams' to='acme.test'"
            b" version='1.0'><<<>>>"
        )

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed.callback(None)


class TwistdTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.directory = Path(self.mktemp()).resolve()
        self.directory.mkdir()
        ca = ensure_ca(self.directory / "certs")
        ensure_domain_cert(self.directory / "certs", "acme.test", ca)
        self.database = self.directory / "data" / "hub.sqlite3"

    def config(self, extra: str = "") -> str:
        return write_hub_config(self.directory, self.database, echo=extra)

    def spawn(self, *args: str) -> HubProcess:
        process, self.transport = spawn_twistd(self, self.directory, ["nextplane", *args])
        return process

    async def test_starts_serves_and_stops(self) -> None:
        """The hub starts on SQLite, answers /healthz with 200, applies the schema, and exits 0 on SIGINT."""
        process = self.spawn("--config", self.config())
        public_port = await process.listening
        response = await treq.get(f"http://127.0.0.1:{public_port}/healthz", persistent=False)
        self.assertEqual(json.loads(await response.content()), {"status": "ok"})
        port = process.ports["admin"]
        response = await treq.get(f"http://127.0.0.1:{port}/healthz", persistent=False)
        body = json.loads(await response.content())
        self.assertEqual(response.code, 200, body)
        self.assertEqual(body["components"]["storage"]["backend"], "sqlite")
        self.assertEqual(body["components"]["storage"]["state"], "ok")
        admin = f"http://127.0.0.1:{port}/admin/api/tenants"
        refused = await treq.get(admin, persistent=False)
        self.assertEqual(refused.code, 401)
        await refused.content()
        tenants = await treq.get(
            admin, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, persistent=False
        )
        self.assertEqual(tenants.code, 200)
        self.assertIn("acme.test", json.dumps(await tenants.json()))
        document = await treq.get(f"http://127.0.0.1:{port}/admin/openapi.json", persistent=False)
        self.assertEqual((await document.json())["info"]["title"].split()[0].lower(), "nextplane")
        self.transport.signalProcess(signal.SIGINT)
        await process.ended
        # twistd re-raises the signal after a clean shutdown, so the exit
        # status is "killed by SIGINT"; the log shows the orderly stop.
        messages = [
            json.loads(line)["message"] for line in process.out.splitlines() if line.strip()
        ]
        self.assertIn("nextplane stopped", messages)
        self.assertEqual(process.signal, signal.SIGINT)
        with sqlite3.connect(self.database) as db:
            tables = {
                row[0] for row in db.execute("select name from sqlite_master where type='table'")
            }
            tenants = db.execute("select domain from tenants").fetchall()
        self.assertTrue(
            {"metadata_log", "contacts", "chat_sessions", "message_map"} <= tables, tables
        )
        self.assertEqual(tenants, [("acme.test",)])
        # JSON lines only on stdout.
        for line in process.out.splitlines():
            if line.strip():
                json.loads(line)

    async def test_quiet_start(self) -> None:
        """
        With XMPP federation on (system CA bundle included), start-up logs no
        warning and no Twisted port or factory chatter; a hostile
        connection gives one info line.
        """
        extra = (
            '[connectors.xmpp]\nlisten = "tcp:0:interface=127.0.0.1"\n'
            'dialback_secret = "quiet-start-secret-0123"\n'
        )
        process = self.spawn("--config", self.config(extra))
        await process.listening
        events = [json.loads(line) for line in process.out.splitlines() if line.strip()]
        [s2s_port] = [e["port"] for e in events if e.get("name") == "xmpp-s2s" and "port" in e]
        hostile = HostileClient()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", s2s_port), hostile)
        await hostile.closed
        self.transport.signalProcess(signal.SIGINT)
        await process.ended
        output = process.out.decode() + process.err.decode()
        for chatter in ("Warning", "starting on", "Starting factory", "Stopping factory"):
            self.assertNotIn(chatter, output)
        messages = [json.loads(line)["message"] for line in process.out.splitlines() if line]
        self.assertEqual(len([m for m in messages if "Closing s2s stream" in m]), 1, messages)

    async def test_bad_config_one_line(self) -> None:
        """A missing certificate stops start-up with one clear line on stderr and a non-zero status."""
        path = self.config()
        Path(path).write_text(Path(path).read_text().replace("acme.test.crt", "missing.crt"))
        process = self.spawn("--config", path)
        code = await process.ended
        process.listening.addErrback(lambda _: None)
        self.assertNotEqual(code, 0)
        lines = [line for line in process.err.decode().splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, process.err)
        self.assertIn("tenants[0].certificate: file not found", lines[0])

    async def test_unknown_key_one_line(self) -> None:
        """An unknown key stops start-up with one line naming it."""
        process = self.spawn("--config", self.config("colour = 'blue'"))
        code = await process.ended
        process.listening.addErrback(lambda _: None)
        self.assertNotEqual(code, 0)
        self.assertEqual(
            process.err.decode().strip(),
            "nextplane: configuration error: connectors.echo.colour: unknown key",
        )

    async def test_storage_failure_exits_non_zero(self) -> None:
        """A database that cannot be opened is reported and the process exits non-zero."""
        blocker = self.directory / "data"
        blocker.write_text("a file where the data directory should be")
        process = self.spawn("--config", self.config())
        code = await process.ended
        process.listening.addErrback(lambda _: None)
        self.assertEqual(code, 1, process.err)
        self.assertIn("could not start", (process.out + process.err).decode())

    async def _one_line_exit_2(self, path: str) -> str:
        process = self.spawn("--config", path)
        code = await process.ended
        process.listening.addErrback(lambda _: None)
        self.assertEqual(code, 2, process.err)
        lines = [line for line in process.err.decode().splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, process.err)
        return lines[0]

    async def test_wrong_certificate_one_line_exit_2(self) -> None:
        """A certificate that does not name the tenant is one line and exit status 2, not a traceback."""
        ensure_domain_cert(
            self.directory / "certs", "other.test", ensure_ca(self.directory / "certs")
        )
        path = self.config()
        text = Path(path).read_text().replace("acme.test.crt", "other.test.crt")
        Path(path).write_text(text.replace("acme.test.key", "other.test.key"))
        line = await self._one_line_exit_2(path)
        self.assertIn("configuration error: tenants[0].certificate: does not cover acme.test", line)

    async def test_bad_port_one_line_exit_2(self) -> None:
        """A listen port out of range is one line and exit status 2."""
        path = self.config()
        Path(path).write_text(Path(path).read_text().replace("tcp:0:", "tcp:99999:"))
        line = await self._one_line_exit_2(path)
        self.assertIn("configuration error: web.listen: port out of range", line)

    async def test_check_option(self) -> None:
        """twistd nextplane --check prints the findings and exits without starting the hub."""
        process = self.spawn("--config", self.config(), "--check", "--json")
        code = await process.ended
        process.listening.addErrback(lambda _: None)
        self.assertEqual(code, 0, process.out + process.err)
        document = json.loads(process.out)
        self.assertTrue(document["ok"], document)
        self.assertEqual(
            {f["area"] for f in document["findings"]}, {"config", "certificate"}, document
        )
