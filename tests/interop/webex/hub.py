"""
A hub with one Webex tenant (C{hub.test}) inside the interop network
namespace, and a simulated Webex.

The Webex side is the simulator (L{nextplane.testing.webex_sim}) serving
the REST API on the hub's loopback address; its webhook deliveries are
signed and POSTed to the hub's real web listener (C{/webex/events}) over
real HTTP. The hub is built by L{nextplane.tap.build_hub} with its real
treq client and SQLite store; the federation connectors come from the
configuration given.
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from nextplane.config import parse_config
from nextplane.connectors.webex import connector as webex
from nextplane.tap import build_hub
from nextplane.testing.connectors import TEST_CONNECTORS
from nextplane.testing.webex_sim import REAL_LIMITS, WebexSimulator, WebhookSender
from nextplane.testing.webex_sim.state import SimMessage
from tests.interop.harness.env import InteropEnvironment

HUB_DOMAIN = "hub.test"
BOT_TOKEN = "interop-webex-bot-token"
SECRET = "interop-webex-hook-secret-0123"
WEB_PORT = 8080

#: The test registry: the build's connectors, the recording platform and Webex.
REGISTRY = {**TEST_CONNECTORS, "webex": webex.ENTRY}


class WebexHub:
    """
    See the module docstring.

    @ivar wendy: The Webex user C{wendy@hub.test}.
    """

    def __init__(
        self, env: InteropEnvironment, connectors: dict[str, Any], domain: str = HUB_DOMAIN
    ) -> None:
        self.env = env
        self.reactor = env.reactor
        self.domain = domain
        self.address = next(env.addresses)
        self.directory = env.directory / "hub-webex"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.connectors = connectors
        pool = HTTPConnectionPool(self.reactor, persistent=False)
        self.sender = WebhookSender(HTTPClient(Agent(self.reactor, pool=pool)), self.reactor)
        self.sim = WebexSimulator(self.reactor, mode=REAL_LIMITS, sender=self.sender)
        self.bot = self.sim.state.add_person(
            "nextplane@webex.bot", "nextplane", bot=True, token=BOT_TOKEN
        )
        self.wendy = self.sim.state.add_person(f"wendy@{domain}", "Wendy Webex", token="wendy")
        #: The tenant certificate; the environment's by default.
        self.cert: Any = None
        self.service: Any = None
        self.log: list[str] = []

    def _observe(self, event: dict[str, Any]) -> None:
        if str(event.get("log_namespace", "")).startswith("nextplane"):
            text = formatEvent(event)
            failure = event.get("log_failure")
            if failure is not None:
                text += "\n" + failure.getTraceback()
            self.log.append(f"[{event.get('log_namespace')}] {text}\n")

    @property
    def public_url(self) -> str:
        """The hub's public web listener."""
        return f"http://{self.address}:{WEB_PORT}"

    def config_data(self) -> dict[str, Any]:
        """The hub's configuration, as the TOML file would hold it."""
        env = self.env
        cert = self.cert or env.cert_for(self.domain)
        return {
            "hub": {"data_dir": str(self.directory)},
            "storage": {"backend": "sqlite", "sqlite_path": str(self.directory / "hub.sqlite3")},
            "web": {
                "listen": f"tcp:{WEB_PORT}:interface={self.address}",
                "public_url": self.public_url,
            },
            "dns": {"servers": [f"{env.dns_address}:{env.dns_port}"], "timeout": 2},
            "tls": {"ca_certificates": [str(env.ca.cert)]},
            "router": {"delivery_timeout": 30},
            "tenants": [
                {
                    "domain": self.domain,
                    "platform": "webex",
                    "workspace": self.sim.state.org_id,
                    "certificate": str(cert.cert),
                    "private_key": str(cert.key),
                }
            ],
            "connectors": {
                **self.connectors,
                "webex": {
                    "bot_token": BOT_TOKEN,
                    "webhook_secret": SECRET,
                    "api_base_url": self.sim.world.base_url,
                },
            },
        }

    @defer.inlineCallbacks
    def start(self, testcase: TestCase) -> Any:
        """Start the simulator and the hub (which keeps its webhooks)."""
        globalLogPublisher.addObserver(self._observe)
        testcase.addCleanup(globalLogPublisher.removeObserver, self._observe)
        port = self.sim.listen(self.reactor, 0, interface=self.address)
        testcase.addCleanup(port.stopListening)
        config = parse_config(self.config_data(), environ={}, registry=REGISTRY)
        self.env.hubs.append(self)  # type: ignore[arg-type]
        self.env.publish(self.domain, self.address)
        hub = build_hub(config, self.reactor, registry=REGISTRY)
        self.service = hub
        testcase.addCleanup(self.stop)
        hub.startService()
        yield self.env.with_diagnostics(hub.started)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop the hub and wait for webhook deliveries under way."""
        hub, self.service = self.service, None
        if hub is not None:
            yield hub.stopService()
        yield defer.DeferredList(list(self.sim.world.deliveries), consumeErrors=True)

    def diagnostics(self) -> str:
        """The hub's log lines, the REST calls and the deliveries, for failure messages."""
        calls = "\n".join(
            f"{c.time:.3f} {c.verb} {c.operation} status={c.status}" for c in self.sim.calls
        )
        attempts = "\n".join(repr(a) for a in self.sender.attempts)
        return (
            f"--- hub log (Webex hub) ---\n{''.join(self.log)}\n--- REST calls ---\n{calls}\n"
            f"--- webhook deliveries ---\n{attempts}"
        )

    def room(self) -> str:
        """wendy's direct space with the bot."""
        return self.sim.world.direct_room(self.bot, self.wendy.id, None).id

    def says(self, text: str, files: list[str] | None = None) -> SimMessage:
        """wendy writes in her direct space with the bot."""
        return self.sim.world.user_posts(self.wendy.id, self.room(), markdown=text, files=files)

    def posted(self, text: str) -> SimMessage | None:
        """The bot's latest message in wendy's space containing C{text}, if any."""
        for message in reversed(self.sim.state.room_messages(self.room())):
            if message.person_id == self.bot.id and text in (message.text or ""):
                return message
        return None
