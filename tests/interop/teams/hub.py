"""
A hub with one Teams tenant (C{hub.test}) inside the interop network
namespace, and that tenant's simulated Teams.

The Teams side is the simulator (L{nextplane.testing.teams_sim}) serving
the token endpoint, OpenID keys and Connector API on the hub's loopback
address; users' activities are signed by the simulated channel and
POSTed to the hub's real web listener (C{/teams/messages}). The hub is
built by L{nextplane.tap.build_hub} with its real treq client and SQLite
store; the federation connectors come from the configuration given.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.connectors.teams import connector as teams
from nextplane.testing.connectors import TEST_CONNECTORS
from nextplane.testing.teams_sim import REAL_LIMITS, SimActivity, TeamsChannel, TeamsSimulator
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.platformhub import PlatformHub

HUB_DOMAIN = "hub.test"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"
APP_SECRET = "interop-teams-secret-0123456789"

#: The test registry: the build's connectors, the recording platform and Teams.
REGISTRY = {**TEST_CONNECTORS, "teams": teams.ENTRY}


class TeamsHub(PlatformHub):
    """
    See the module docstring.

    @ivar tom: The Teams user C{tom@hub.test}.
    @ivar channel: Posts tom's activities to the hub.
    """

    platform = "teams"
    registry = REGISTRY

    def __init__(
        self, env: InteropEnvironment, connectors: dict[str, Any], domain: str = HUB_DOMAIN
    ) -> None:
        """
        @param connectors: The federation connectors' configuration sections.
        @param domain: The tenant's domain (tom is C{tom@<domain>}).
        """
        super().__init__(env, "teams")
        self.domain = domain
        #: The tenant certificate; the environment's by default.
        self.cert: Any = None
        self.connectors = connectors
        self.sim = TeamsSimulator(self.reactor, mode=REAL_LIMITS)
        self.app = self.sim.add_app(APP_ID, APP_SECRET, TENANT)
        self.tom = self.sim.add_user(TENANT, "Tom Jones", email=f"tom@{domain}")

    def config_data(self) -> dict[str, Any]:
        """The hub's configuration, as the TOML file would hold it."""
        return self.hub_config(
            self.domain,
            TENANT,
            self.cert or self.env.cert_for(self.domain),
            {
                **self.connectors,
                "teams": {
                    "app_id": APP_ID,
                    "app_password": APP_SECRET,
                    "tenant_id": TENANT,
                    "authority": self.sim.base_url,
                    "openid_metadata_url": self.sim.metadata_url,
                    "service_url": self.sim.service_url,
                },
            },
        )

    @defer.inlineCallbacks
    def start(self, testcase: TestCase) -> Any:
        """Start the simulator, the hub, and the simulated channel."""
        yield self.start_hub(testcase, self.domain, REGISTRY)
        self.channel = TeamsChannel(
            self.sim, self.app, self.web_client(), f"{self.web_url}/teams/messages"
        )

    def diagnostics(self) -> str:
        """The hub's log lines and the Connector calls, for failure messages."""
        calls = "\n".join(
            f"{c.time:.3f} {c.verb} {c.path} status={c.status}" for c in self.sim.api.calls
        )
        return f"--- hub log (Teams hub) ---\n{''.join(self.log)}\n--- Connector calls ---\n{calls}"

    def posts(self) -> list[SimActivity]:
        """What the app posted in tom's chat, in order."""
        return self.channel.conversation(self.tom).from_bot(self.app.bot_id)

    def posted(self, text: str) -> SimActivity | None:
        """The app's latest post in tom's chat containing C{text}, if any."""
        for activity in reversed(self.posts()):
            if text in repr(activity.body):
                return activity
        return None
