"""
Reload and systemd readiness with a real C{twistd nextplane} process: the
hub tells a notification socket (as systemd's) READY=1 once started; SIGHUP
rereads the configuration, reopens the log file after it was moved away
(logrotate), applies a new log level, and refuses a broken file with one
line while it keeps serving; SIGINT says STOPPING=1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import treq
from twisted.internet import reactor, task
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import TestCase

from nextplane.devcerts import ensure_ca, ensure_domain_cert

from .test_twistd import ROOT, TWISTD, HubProcess, spawn_twistd, write_hub_config


class NotifySocket(DatagramProtocol):
    """Collects what the hub sends to NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.states: list[str] = []

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        self.states.append(data.decode())


async def poll(check: Any, timeout: float, what: str) -> Any:
    deadline = reactor.seconds() + timeout  # type: ignore[attr-defined]
    while True:
        value = check()
        if value:
            return value
        if reactor.seconds() > deadline:  # type: ignore[attr-defined]
            raise AssertionError(f"no {what} within {timeout}s")
        await task.deferLater(reactor, 0.1, lambda: None)


class ReloadProcessTests(TestCase):
    timeout = 90

    def setUp(self) -> None:
        self.directory = Path(self.mktemp()).resolve()
        self.directory.mkdir()
        ca = ensure_ca(self.directory / "certs")
        ensure_domain_cert(self.directory / "certs", "acme.test", ca)
        self.log = self.directory / "hub.log"
        # A Unix socket path must stay under 108 bytes: not in trial's tree.
        short = tempfile.mkdtemp(prefix="np-reload-")
        self.addCleanup(shutil.rmtree, short, True)
        self.notify_path = os.path.join(short, "notify")
        self.notify = NotifySocket()
        port = reactor.listenUNIXDatagram(self.notify_path, self.notify)  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)

    def write_config(self, level: str = "info", extra: str = "") -> str:
        hub = f'log_level = "{level}"\n{extra}'
        return write_hub_config(self.directory, self.directory / "hub.sqlite3", hub=hub)

    def spawn(self, *args: str) -> tuple[HubProcess, Any]:
        process, transport = spawn_twistd(
            self, self.directory, list(args), NOTIFY_SOCKET=self.notify_path
        )
        process.listening.addErrback(lambda _: None)
        return process, transport

    def log_events(self, path: Path | None = None) -> list[dict[str, Any]]:
        try:
            lines = (path or self.log).read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def messages(self, path: Path | None = None) -> list[str]:
        return [e["message"] for e in self.log_events(path)]

    async def healthy(self, port: int) -> None:
        response = await treq.get(f"http://127.0.0.1:{port}/healthz", persistent=False)
        await response.content()
        self.assertEqual(response.code, 200)

    async def test_reload_with_twistd_logfile(self) -> None:
        """
        READY=1 once started; SIGHUP after the log file was moved away
        reopens it (twistd's --logfile, which the hub writes), applies a new
        log level, and says RELOADING=1 then READY=1; a broken file is
        refused with one line and the hub keeps serving; SIGINT says
        STOPPING=1.
        """
        config = self.write_config()
        process, transport = self.spawn("--logfile", str(self.log), "nextplane", "--config", config)
        await poll(lambda: "READY=1" in self.notify.states, 30, "READY=1")
        [port] = [e["port"] for e in self.log_events() if e.get("name") == "web" and "port" in e]
        await self.healthy(port)

        rotated = self.directory / "hub.log.1"
        os.rename(self.log, rotated)
        self.write_config(level="debug")
        transport.signalProcess("HUP")
        reloaded = await poll(
            lambda: [m for m in self.messages() if m.startswith("reloaded ")], 20, "reload line"
        )
        self.assertIn("hub.log_level debug", reloaded[0])
        self.assertIn("log file reopened", reloaded[0])
        # The datagrams may be read after the log line: wait for them.
        await poll(lambda: len(self.notify.states) >= 3, 10, "READY=1 after reload")
        self.assertEqual(self.notify.states[1].split("\n")[0], "RELOADING=1")
        self.assertEqual(self.notify.states[2:], ["READY=1"])
        self.assertNotIn("reloaded", " ".join(self.messages(rotated)))
        await self.healthy(port)

        Path(config).write_text(Path(config).read_text() + "\n[hub2]\n")
        transport.signalProcess("HUP")
        refused = await poll(
            lambda: [m for m in self.messages() if m.startswith("reload refused")],
            20,
            "refusal line",
        )
        self.assertEqual(
            refused,
            [
                "reload refused: configuration error: hub2: unknown key; "
                "the running configuration is kept"
            ],
        )
        await self.healthy(port)
        self.assertFalse(process.ended.called)

        transport.signalProcess(signal.SIGINT)
        await process.ended
        await poll(lambda: self.notify.states[-1] == "STOPPING=1", 10, "STOPPING=1")
        self.assertIn("nextplane stopped", self.messages())

    async def test_reload_with_hub_log_file(self) -> None:
        """
        With [hub] log_file (no --logfile), SIGHUP reopens that file, and
        the process is not killed by the signal.
        """
        config = self.write_config(extra=f'log_file = "{self.log}"')
        process, transport = self.spawn("nextplane", "--config", config)
        await poll(lambda: "READY=1" in self.notify.states, 30, "READY=1")
        os.rename(self.log, self.directory / "hub.log.1")
        transport.signalProcess("HUP")
        reloaded = await poll(
            lambda: [m for m in self.messages() if m.startswith("reloaded ")], 20, "reload line"
        )
        self.assertIn("log file reopened", reloaded[0])
        self.assertFalse(process.ended.called)
        transport.signalProcess(signal.SIGINT)
        await process.ended


class VersionProcessTests(TestCase):
    timeout = 60

    async def test_version(self) -> None:
        """twistd nextplane --version prints nextplane's version."""
        from twisted.internet.utils import getProcessOutputAndValue

        from nextplane import __version__

        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["nextplane", "--version"], env=dict(os.environ, PYTHONPATH=str(ROOT))
        )
        self.assertEqual(code, 0, err)
        self.assertTrue(out.decode().startswith(f"nextplane {__version__} "), out)
