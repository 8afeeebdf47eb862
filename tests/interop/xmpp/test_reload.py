"""
SIGHUP reload of a real C{twistd nextplane} process federating with two
real Prosody servers: a domain block written to the hub's store (as
another node or an operator's script would) takes effect at the reload,
closing the blocked domain's streams while the other domain's streams stay
up and keep carrying messages.

The hub runs the echo platform for C{hub.test}: a message to
C{bob@hub.test} comes back to its sender, so each conversation opens an
s2s stream in each direction. Stream state is read from the hub's own
C{/metrics} (C{nextplane_federation_connections}).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import treq
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, task
from twisted.internet.protocol import ProcessProtocol
from twisted.trial.unittest import TestCase

from nextplane.storage.records import DomainAction, DomainPolicy
from nextplane.storage.sqlite import SQLiteStore
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import poll

ROOT = Path(__file__).resolve().parents[3]
TWISTD = str(Path(sys.executable).parent / "twistd")
TOKEN = "reload-interop-token-0123456789"
PASSWORD = "pw-reload"
#: The hub's connectors reload domain rules every 15 s on their own
#: (nextplane.connectors.rules); the test acts just after such a reload, so
#: only SIGHUP can explain a closure in the next seconds.
RULES_INTERVAL = 15.0


class TwistdHub(ProcessProtocol):
    """A C{twistd nextplane} child; output kept for failure messages."""

    def __init__(self) -> None:
        self.output = b""
        self.ended: defer.Deferred[None] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)


class ReloadWithProsodyTests(TestCase):
    timeout = 180

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        from twisted.internet import reactor

        self.reactor = reactor
        self.env = yield InteropEnvironment.create(self)
        self.p1 = yield self.env.start_prosody("prosody1.test", users={"alice": PASSWORD})
        self.p2 = yield self.env.start_prosody("prosody2.test", users={"carol": PASSWORD})
        self.address = next(self.env.addresses)
        self.env.publish("hub.test", self.address)
        self.directory = self.env.directory / "twistd-hub"
        self.directory.mkdir()
        self.log = self.directory / "hub.log"
        self.database = self.directory / "hub.sqlite3"
        yield self.spawn_hub()
        self.alice = yield self.env.client("alice@prosody1.test", PASSWORD, self.p1)
        self.carol = yield self.env.client("carol@prosody2.test", PASSWORD, self.p2)

    def write_config(self) -> Path:
        cert = self.env.cert_for("hub.test")
        path = self.directory / "nextplane.toml"
        path.write_text(
            f"""
[hub]
log_format = "json"
log_file = "{self.log}"
[storage]
sqlite_path = "{self.database}"
cache_seconds = 0
[web]
listen = "tcp:8080:interface={self.address}"
admin_listen = "tcp:8081:interface={self.address}"
admin_token = "{TOKEN}"
[dns]
servers = ["{self.env.dns_address}:{self.env.dns_port}"]
timeout = 2
[tls]
ca_certificates = ["{self.env.ca.cert}"]
[router]
require_accepted_contact = false
[[tenants]]
domain = "hub.test"
platform = "echo"
workspace = "interop"
certificate = "{cert.cert}"
private_key = "{cert.key}"
[connectors.echo]
[connectors.xmpp]
listen = "tcp:5269:interface={self.address}"
dialback_secret = "reload-interop-dialback-secret-0123"
system_ca = false
"""
        )
        return path

    @defer.inlineCallbacks
    def spawn_hub(self) -> Any:
        config = self.write_config()
        self.process = TwistdHub()
        self.transport = self.reactor.spawnProcess(
            self.process,
            TWISTD,
            [TWISTD, "--nodaemon", "--pidfile=", "nextplane", "--config", str(config)],
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            path=str(self.directory),
        )

        def stop() -> Any:
            if self.process.ended.called:
                return None
            self.transport.signalProcess("TERM")
            return self.process.ended

        self.addCleanup(stop)
        started = yield self.check(
            poll(self.reactor, lambda: self.event("nextplane started"), 60, "hub start")
        )
        self.started_at = datetime.fromisoformat(started["time"]).timestamp()
        return started

    def events(self) -> list[dict[str, Any]]:
        try:
            lines = self.log.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def event(self, prefix: str) -> dict[str, Any] | None:
        for event in self.events():
            if event["message"].startswith(prefix):
                return event
        return None

    def diagnostics(self) -> str:
        hub_log = "\n".join(e["message"] for e in self.events()[-60:])
        output = self.process.output.decode(errors="replace")[-2000:]
        return f"--- twistd hub log:\n{hub_log}\n--- twistd output:\n{output}\n"

    def check(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        def explain(failure: Any) -> None:
            raise AssertionError(
                f"{failure.getErrorMessage()}\n\n{self.diagnostics()}{self.env.diagnostics()}"
            )

        return d.addErrback(explain)

    @defer.inlineCallbacks
    def links(self) -> Any:
        """
        The hub's federation connections from /metrics:
        C{{(peer_domain, direction): authentication}}.
        """
        response = yield treq.get(
            f"http://{self.address}:8081/metrics",
            headers={"Authorization": f"Bearer {TOKEN}"},
            persistent=False,
        )
        text = yield response.text()
        self.assertEqual(response.code, 200, text)
        found = {}
        for family in text_string_to_metric_families(text):
            if family.name == "nextplane_federation_connections":
                for sample in family.samples:
                    if sample.value > 0 and sample.labels["peer_domain"]:
                        key = (sample.labels["peer_domain"], sample.labels["direction"])
                        found[key] = (sample.labels["authentication"], sample.value)
        return found

    @defer.inlineCallbacks
    def echo(self, client: Any, body: str) -> Any:
        yield client.send_message("bob@hub.test", body, id=body)
        received = yield self.check(
            client.wait_for_message(body=body, sender="bob@hub.test", timeout=30)
        )
        return received

    @defer.inlineCallbacks
    def block(self, domain: str) -> Any:
        # Another writer of the same database, as a second hub node or an
        # operator's script: the running hub learns of it only by reloading.
        store = SQLiteStore(str(self.database), reactor=self.reactor)
        yield store.open()
        try:
            yield store.put_domain_policy(DomainPolicy("hub.test", domain, DomainAction.BLOCK))
        finally:
            yield store.close()

    @defer.inlineCallbacks
    def just_after_periodic_reload(self) -> Any:
        # The connectors' rule reloads run every RULES_INTERVAL seconds from
        # their start, which precedes "nextplane started" by milliseconds.
        elapsed = self.reactor.seconds() - self.started_at
        wait = RULES_INTERVAL - (elapsed % RULES_INTERVAL) + 0.5
        if wait > RULES_INTERVAL - 1:
            wait -= RULES_INTERVAL
        yield task.deferLater(self.reactor, max(wait, 0.0), lambda: None)

    @defer.inlineCallbacks
    def test_sighup_blocks_domain_and_keeps_other_streams(self) -> Any:
        """
        Both Prosody domains chat with the echo user over authenticated
        streams both ways. prosody2.test is blocked in the store and the
        hub gets SIGHUP: its streams with prosody2.test close with
        policy-violation, carol's next message bounces, while the streams
        with prosody1.test stay up and alice still gets her echo.
        """
        yield self.echo(self.alice, "alice before")
        yield self.echo(self.carol, "carol before")
        before = yield self.links()
        for domain in ("prosody1.test", "prosody2.test"):
            for direction in ("inbound", "outbound"):
                self.assertEqual(before.get((domain, direction)), ("EXTERNAL", 1.0), before)

        yield self.just_after_periodic_reload()
        yield self.block("prosody2.test")
        yield task.deferLater(self.reactor, 1.0, lambda: None)
        unchanged = yield self.links()
        self.assertEqual(unchanged, before, "the block took effect before the reload")

        hup_at = self.reactor.seconds()
        self.transport.signalProcess("HUP")
        reloaded = yield self.check(
            poll(self.reactor, lambda: self.event("reloaded "), 5, "reload line")
        )
        self.assertIn("domain rules reloaded by xmpp", reloaded["message"])
        yield self.check(
            self.p2.wait_for_log(
                "Outgoing s2s stream prosody2.test->hub.test closed: policy-violation"
            )
        )
        self.assertLess(self.reactor.seconds() - hup_at, RULES_INTERVAL - 2)

        def prosody2_gone(links: dict[Any, Any]) -> bool:
            return not any(domain == "prosody2.test" for domain, _ in links)

        after = yield self.check(self._poll_links(prosody2_gone))
        self.assertEqual(
            {k: v for k, v in after.items() if k[0] == "prosody1.test"},
            {k: v for k, v in before.items() if k[0] == "prosody1.test"},
        )
        self.assertNotIn(
            "prosody1.test",
            " ".join(e["message"] for e in self.events() if "Closed s2s stream" in e["message"]),
        )

        yield self.echo(self.alice, "alice after")
        yield self.carol.send_message("bob@hub.test", "carol after", id="carol-after")
        bounce = yield self.check(
            self.carol.wait_for_message(lambda m: m.id == "carol-after", type="error", timeout=30)
        )
        self.assertIn("block list", bounce.xml)
        self.assertFalse(self.process.ended.called)

    @defer.inlineCallbacks
    def _poll_links(self, done: Any, timeout: float = 10.0) -> Any:
        deadline = self.reactor.seconds() + timeout
        while True:
            links = yield self.links()
            if done(links):
                return links
            if self.reactor.seconds() > deadline:
                raise AssertionError(f"federation connections still {links}")
            yield task.deferLater(self.reactor, 0.2, lambda: None)
