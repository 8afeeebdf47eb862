"""
Tests for L{nextplane.reload}: what a reload applies, what it says needs a
restart, a refused file, and SIGHUP handling; on fakes, no sockets.
"""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel, capturedLogs, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import Config, ConfigError, parse_config
from nextplane.locate import FederationLocator
from nextplane.logs import HubLogging, ReopenableFile
from nextplane.reload import Reloader, ReloadService, restart_needed
from nextplane.sdnotify import Notifier
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import TenantRecord
from nextplane.testing.connectors import TEST_CONNECTORS


class PolicyConnector:
    """A connector that caches domain rules: counts refreshes."""

    running = True

    def __init__(self) -> None:
        self.refreshed = 0

    def refresh_policy(self) -> Deferred[None]:
        self.refreshed += 1
        return succeed(None)


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__({})
        self.sent: list[str] = []

    def notify(self, state: str) -> bool:
        self.sent.append(state)
        return True


class ReloadTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp()).absolute()
        self.directory.mkdir()
        for name in ("a.crt", "a.key", "b.crt", "b.key"):
            (self.directory / name).write_text("x")
        self.data = {
            "web": {"listen": "tcp:0"},
            "hub": {"log_level": "info"},
            "tenants": [self.tenant("acme.test", "a")],
            "federation": {"partners": [{"domain": "widget.test", "protocol": "xmpp"}]},
            "connectors": {"recording": {}, "xmpp": {"listen": "tcp:0", "system_ca": False}},
        }

    def tenant(self, domain: str, files: str, name: str = "") -> dict[str, Any]:
        return {
            "domain": domain,
            "platform": "recording",
            "workspace": "w",
            "certificate": str(self.directory / f"{files}.crt"),
            "private_key": str(self.directory / f"{files}.key"),
            "display_name": name,
        }

    def config(self, data: dict[str, Any] | None = None) -> Config:
        return parse_config(
            data or self.data,
            environ={},
            registry=TEST_CONNECTORS,
            path=str(self.directory / "hub.toml"),
        )

    def changed(self, **sections: Any) -> dict[str, Any]:
        data = copy.deepcopy(self.data)
        data.update(sections)
        return data


class RestartNeededTests(ReloadTestCase):
    def test_nothing_changed(self) -> None:
        """The same file needs no restart."""
        self.assertEqual(restart_needed(self.config(), self.config()), [])

    def test_listener_changed(self) -> None:
        """A listener change (web, a connector section) needs a restart, named as in the file."""
        new = self.changed(
            web={"listen": "tcp:8081"},
            connectors={"recording": {}, "xmpp": {"listen": "tcp:5270", "system_ca": False}},
        )
        self.assertEqual(
            restart_needed(self.config(), self.config(new)), ["[web]", "[connectors.xmpp]"]
        )

    def test_tenants(self) -> None:
        """
        Adding, removing or re-keying a tenant needs a restart; its display
        name does not.
        """
        old = self.config()
        renamed = self.changed(tenants=[self.tenant("acme.test", "a", "Acme")])
        self.assertEqual(restart_needed(old, self.config(renamed)), [])
        rekeyed = self.changed(tenants=[self.tenant("acme.test", "b")])
        self.assertEqual(
            restart_needed(old, self.config(rekeyed)),
            ["tenants: acme.test (platform, workspace, certificate or key)"],
        )
        swapped = self.changed(tenants=[self.tenant("other.test", "a")])
        self.assertEqual(
            restart_needed(old, self.config(swapped)),
            ["tenants: acme.test removed", "tenants: other.test added"],
        )

    def test_partners(self) -> None:
        """
        A partner that only names its protocol is live (the locator); one
        with a route or a certificate requirement needs the connector
        restarted.
        """
        old = self.config()
        more = {"partners": [{"domain": "other.test", "protocol": "xmpp"}]}
        self.assertEqual(restart_needed(old, self.config(self.changed(federation=more))), [])
        strict = {
            "partners": [
                {"domain": "widget.test", "protocol": "xmpp", "require_certificates": True}
            ]
        }
        self.assertEqual(
            restart_needed(old, self.config(self.changed(federation=strict))),
            ["federation.partners: routes or require_certificates of xmpp"],
        )

    def test_log_level_is_live(self) -> None:
        """The log level is applied live; the log format is not."""
        old = self.config()
        self.assertEqual(
            restart_needed(old, self.config(self.changed(hub={"log_level": "debug"}))), []
        )
        self.assertEqual(
            restart_needed(old, self.config(self.changed(hub={"log_format": "json"}))),
            ["hub.log_format"],
        )


class ReloaderTests(ReloadTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.next: Config | Exception = self.config()
        self.store = MemoryStore()
        self.successResultOf(self.store.open())
        self.locator = FederationLocator(self.config().partners, ["xmpp"], None, Clock())
        self.xmpp = PolicyConnector()
        self.connectors = {"recording": object(), "xmpp": self.xmpp}
        self.log_path = self.directory / "hub.log"
        self.logging = HubLogging("text", ReopenableFile(str(self.log_path)))
        self.addCleanup(globalLogPublisher.removeObserver, self.logging.observer)
        globalLogPublisher.addObserver(self.logging.observer)
        self.notifier = RecordingNotifier()
        self.running = self.config()
        self.reloader = Reloader(
            self.running,
            store=self.store,
            locator=self.locator,
            connectors=self.connectors,
            logging=self.logging,
            notifier=self.notifier,
            load=self.load,
        )

    def load(self, path: str) -> Config:
        self.assertEqual(path, str(self.directory / "hub.toml"))
        if isinstance(self.next, Exception):
            raise self.next
        return self.next

    def test_policy_refreshed_and_nothing_else(self) -> None:
        """
        Reloading an unchanged file reloads the domain rules of every
        connector that caches them (which closes what they now refuse),
        needs no restart, and tells systemd it is reloading, then ready.
        """
        with capturedLogs() as events:
            result = self.successResultOf(self.reloader.reload())
        assert result is not None
        self.assertEqual(result.restart, ())
        self.assertEqual(result.applied, ("log file reopened",))
        self.assertEqual(self.xmpp.refreshed, 1)
        self.assertEqual(self.notifier.sent[0].split("\n")[0], "RELOADING=1")
        self.assertIn("MONOTONIC_USEC=", self.notifier.sent[0])
        self.assertEqual(self.notifier.sent[1:], ["READY=1"])
        [info] = [e for e in events if e["log_level"] == LogLevel.info]
        self.assertIn("domain rules reloaded by xmpp", info["log_format"].format(**info))

    def test_log_level_and_reopen(self) -> None:
        """
        A new log level applies at once, and the log file is reopened: after
        logrotate moved it, lines go to a new file of the same name.
        """
        logger = Logger(namespace="nextplane.test")
        logger.debug("hidden before")
        self.next = self.config(self.changed(hub={"log_level": "debug"}))
        os.rename(self.log_path, self.directory / "hub.log.1")
        result = self.successResultOf(self.reloader.reload())
        assert result is not None
        self.assertIn("hub.log_level debug", result.applied)
        logger.debug("shown after")
        rotated = (self.directory / "hub.log.1").read_text()
        fresh = self.log_path.read_text()
        self.assertNotIn("hidden before", rotated + fresh)
        self.assertIn("shown after", fresh)
        self.assertIn("reloaded", fresh)
        self.assertNotIn("shown after", rotated)

    def test_log_file_moved(self) -> None:
        """
        A new [hub] log_file is opened at the reload; one named on the
        command line (twistd --logfile) is kept whatever the file says.
        """
        moved = self.directory / "moved.log"
        self.next = self.config(self.changed(hub={"log_file": str(moved)}))
        self.successResultOf(self.reloader.reload())
        Logger(namespace="nextplane.test").info("after the move")
        self.assertIn("after the move", moved.read_text())
        self.assertNotIn("after the move", self.log_path.read_text())

    def test_log_file_pinned(self) -> None:
        """twistd's --logfile wins over [hub] log_file at a reload too."""
        reloader = Reloader(
            self.running,
            store=self.store,
            locator=self.locator,
            connectors={},
            logging=self.logging,
            log_path_pinned=True,
            load=self.load,
        )
        moved = self.directory / "moved.log"
        self.next = self.config(self.changed(hub={"log_file": str(moved)}))
        self.successResultOf(reloader.reload())
        Logger(namespace="nextplane.test").info("still here")
        self.assertIn("still here", self.log_path.read_text())
        self.assertFalse(moved.exists())

    def test_invalid_file_refused(self) -> None:
        """
        An invalid file is refused with one error line; the running
        configuration stays, nothing is applied, and systemd hears READY
        again.
        """
        self.next = ConfigError("web.listen", "bad listen endpoint")
        with capturedLogs() as events:
            result = self.successResultOf(self.reloader.reload())
        self.assertIsNone(result)
        errors = [e for e in events if e["log_level"] >= LogLevel.warn]
        self.assertEqual(len(errors), 1)
        text = errors[0]["log_format"].format(**errors[0])
        self.assertEqual(
            text,
            "reload refused: configuration error: web.listen: bad listen endpoint; "
            "the running configuration is kept",
        )
        self.assertEqual(self.xmpp.refreshed, 0)
        self.assertIs(self.reloader.config, self.running)
        self.assertEqual(self.notifier.sent[-1], "READY=1")

    def test_restart_logged(self) -> None:
        """A listener change is logged as taking effect after a restart, and live parts still apply."""
        self.next = self.config(
            self.changed(web={"listen": "tcp:9999"}, tenants=[self.tenant("acme.test", "a", "A")])
        )
        with capturedLogs() as events:
            result = self.successResultOf(self.reloader.reload())
        assert result is not None
        self.assertEqual(result.restart, ("[web]",))
        warnings = [e["log_format"].format(**e) for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(warnings, ["reload: [web] changed; it takes effect after a restart"])
        self.assertIn("tenants: acme.test display name", result.applied)
        tenant = self.successResultOf(self.store.get_tenant("acme.test"))
        self.assertEqual(tenant, TenantRecord("acme.test", "recording", "w", "A"))
        # Still compared with what runs: a second reload says it again.
        result = self.successResultOf(self.reloader.reload())
        assert result is not None
        self.assertEqual(result.restart, ("[web]",))

    def test_partners_live(self) -> None:
        """A new partner's protocol is known to the locator at once."""
        self.assertIsNone(self.locator.partner("other.test"))
        more = {"partners": [{"domain": "other.test", "protocol": "xmpp"}]}
        self.next = self.config(self.changed(federation=more))
        result = self.successResultOf(self.reloader.reload())
        assert result is not None
        self.assertIn("federation.partners", result.applied)
        self.assertEqual(self.locator.known_protocol("other.test"), "xmpp")
        self.assertIsNone(self.locator.partner("widget.test"))

    def test_reloads_one_at_a_time(self) -> None:
        """A reload asked for while one runs waits for it."""
        gate: Deferred[None] = Deferred()
        self.xmpp.refresh_policy = lambda: gate  # type: ignore[method-assign]
        first = self.reloader.reload()
        second = self.reloader.reload()
        self.assertNoResult(first)
        self.assertNoResult(second)
        self.assertEqual(self.reloader.reloads, 0)
        gate.callback(None)
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual(self.reloader.reloads, 2)

    def test_failure_is_logged(self) -> None:
        """A reload that fails half-way (the store) is logged, and the Deferred still fires."""
        self.next = self.config(self.changed(tenants=[self.tenant("acme.test", "a", "A")]))
        self.store.put_tenant = lambda tenant: fail(RuntimeError("store down"))  # type: ignore[method-assign]
        self.assertIsNone(self.successResultOf(self.reloader.reload()))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.notifier.sent[-1], "READY=1")

    def test_needs_a_file(self) -> None:
        """A configuration not read from a file cannot be reloaded."""
        config = parse_config(self.data, environ={}, registry=TEST_CONNECTORS)
        with self.assertRaises(ValueError):
            Reloader(config, store=self.store, locator=self.locator, connectors={})


class FakeReactor:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.calls.append((f, args))

    def run(self) -> None:
        calls, self.calls = self.calls, []
        for f, args in calls:
            f(*args)


class ReloadServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.handlers: dict[int, Any] = {signal.SIGHUP: signal.SIG_DFL}
        self.reloads = 0
        self.reactor = FakeReactor()
        self.ready: Deferred[None] = Deferred()

        class FakeReloader:
            def reload(inner) -> None:  # noqa: N805
                self.reloads += 1

        self.service = ReloadService(
            FakeReloader(),  # type: ignore[arg-type]
            self.reactor,  # type: ignore[arg-type]
            self.ready,
            install=self.install,
        )

    def install(self, signum: int, handler: Any) -> Any:
        previous = self.handlers[signum]
        self.handlers[signum] = handler
        return previous

    def hup(self) -> None:
        self.handlers[signal.SIGHUP](signal.SIGHUP, None)
        self.reactor.run()

    def test_sighup_reloads(self) -> None:
        """
        From the privileged start on, SIGHUP no longer kills: it reloads
        (through the reactor, not inside the signal handler); stopping puts
        the old handler back.
        """
        self.service.privilegedStartService()
        self.service.startService()
        self.ready.callback(None)
        self.handlers[signal.SIGHUP](signal.SIGHUP, None)
        self.assertEqual(self.reloads, 0)
        self.reactor.run()
        self.assertEqual(self.reloads, 1)
        self.service.stopService()
        self.assertIs(self.handlers[signal.SIGHUP], signal.SIG_DFL)

    def test_sighup_during_start(self) -> None:
        """SIGHUPs before the hub started reload once, when it has."""
        self.service.privilegedStartService()
        self.service.startService()
        self.hup()
        self.hup()
        self.assertEqual(self.reloads, 0)
        self.ready.callback(None)
        self.assertEqual(self.reloads, 1)
