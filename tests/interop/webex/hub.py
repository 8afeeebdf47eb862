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

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.connectors.webex import connector as webex
from nextplane.testing.connectors import TEST_CONNECTORS
from nextplane.testing.webex_sim import REAL_LIMITS, WebexSimulator, WebhookSender
from nextplane.testing.webex_sim.state import SimMessage
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.platformhub import PlatformHub

HUB_DOMAIN = "hub.test"
BOT_TOKEN = "interop-webex-bot-token"
SECRET = "interop-webex-hook-secret-0123"

#: The test registry: the build's connectors, the recording platform and Webex.
REGISTRY = {**TEST_CONNECTORS, "webex": webex.ENTRY}


class WebexHub(PlatformHub):
    """
    See the module docstring.

    @ivar wendy: The Webex user C{wendy@hub.test}.
    """

    def __init__(
        self, env: InteropEnvironment, connectors: dict[str, Any], domain: str = HUB_DOMAIN
    ) -> None:
        """
        @param connectors: The federation connectors' configuration sections.
        @param domain: The tenant's domain (wendy is C{wendy@<domain>}).
        """
        super().__init__(env, "webex")
        self.domain = domain
        #: The tenant certificate; the environment's by default.
        self.cert: Any = None
        self.connectors = connectors
        self.sender = WebhookSender(self.web_client(), self.reactor)
        self.sim = WebexSimulator(self.reactor, mode=REAL_LIMITS, sender=self.sender)
        self.bot = self.sim.state.add_person(
            "nextplane@webex.bot", "nextplane", bot=True, token=BOT_TOKEN
        )
        self.wendy = self.sim.state.add_person(f"wendy@{domain}", "Wendy Webex", token="wendy")

    def config_data(self) -> dict[str, Any]:
        """The hub's configuration, as the TOML file would hold it."""
        return self.hub_config(
            self.domain,
            str(self.sim.state.org_id),
            self.cert or self.env.cert_for(self.domain),
            {
                **self.connectors,
                "webex": {
                    "bot_token": BOT_TOKEN,
                    "webhook_secret": SECRET,
                    "api_base_url": self.sim.world.base_url,
                },
            },
        )

    @defer.inlineCallbacks
    def start(self, testcase: TestCase) -> Any:
        """Start the simulator and the hub (which keeps its webhooks)."""
        yield self.start_hub(testcase, self.domain, REGISTRY)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop the hub and wait for webhook deliveries under way."""
        yield super().stop()
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
