"""
A hub in memory with the Teams connector and a simulated Teams.

Tenant contoso.test is Teams tenant CONTOSO (users tom and tess; the
multi-tenant nextplane bot), and fabrikam.test is tenant FABRIKAM (fay),
served by the same bot; widget.test is reached over a recording XMPP
federation connector. Everything runs on one L{Clock}; L{TeamsHub.pump}
moves the in-memory HTTP traffic both ways.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from attrs import evolve
from treq.testing import StubTreq
from twisted.internet.defer import Deferred

from nextplane.config import (
    Section,
    TenantConfig,
)
from nextplane.connectors.teams.config import parse_config
from nextplane.connectors.teams.connector import TeamsConnector, build
from nextplane.interfaces import IStore
from nextplane.model.address import Address
from nextplane.model.events import Event
from nextplane.testing.teams_sim import (
    REAL_LIMITS,
    SimActivity,
    SimUser,
    TeamsChannel,
    TeamsSimulator,
)

from ..platform.hub import MemoryHub
from ..slack.helpers import ZeroRandom
from .helpers import KEY

T = TypeVar("T")

APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"
APP_SECRET = "teams-app-secret-0123456789"
CONTOSO = "72f988bf-86f1-41af-91ab-2d7cd011db47"
FABRIKAM = "0d1c2b3a-4f5e-4d6c-8b7a-9e8f7d6c5b4a"
HUB = "https://hub.test"
ENDPOINT = f"{HUB}/teams/messages"


def addr(text: str) -> Address:
    """Parse an address."""
    return Address.parse(text)


class TeamsHub(MemoryHub):
    """
    See the module docstring.
    """

    rounds = 400
    step = 0.5

    def __init__(
        self,
        mode: str = REAL_LIMITS,
        extra: dict[str, Any] | None = None,
        store: IStore | None = None,
        public_url: str | None = HUB,
        extra_tenants: tuple[TenantConfig, ...] = (),
    ) -> None:
        """
        @param extra_tenants: Tenants of other platforms (their connectors
            are added by the test, on L{context}; their HTTP clients go in
            L{http_clients} to be pumped).
        """
        super().__init__(
            (
                TenantConfig("contoso.test", "teams", CONTOSO, "unused.crt", "unused.key"),
                TenantConfig("fabrikam.test", "teams", FABRIKAM, "unused.crt", "unused.key"),
                *extra_tenants,
            ),
            store,
        )
        self.sim = TeamsSimulator(self.clock, mode=mode, key=KEY)
        self.app = self.sim.add_app(APP_ID, APP_SECRET, CONTOSO, multi_tenant=True)
        self.sim.add_tenant(FABRIKAM)
        self.tom = self.sim.add_user(CONTOSO, "Tom Jones", email="tom@contoso.test")
        self.tess = self.sim.add_user(CONTOSO, "Tess Trueheart", email="tess@contoso.test")
        self.fay = self.sim.add_user(FABRIKAM, "Fay Wray", email="fay@fabrikam.test")
        self.teams_http = StubTreq(self.sim.resource())
        self.http_clients.append(self.teams_http)
        self.channel = TeamsChannel(self.sim, self.app, self.hub_http, ENDPOINT)

        section = Section(
            {
                "app_id": APP_ID,
                "app_password": APP_SECRET,
                "multi_tenant": True,
                "authority": self.sim.base_url,
                "openid_metadata_url": self.sim.metadata_url,
                "service_url": self.sim.service_url,
                **(extra or {}),
            },
            "connectors.teams",
            {},
        )
        self.config = parse_config(section)
        # The hub's work log, as in a running hub: messages are claimed.
        self.context = evolve(
            self.connector_context(public_url, {"teams": self.config}), work=self.router.work
        )
        self.start_teams()

    def start_teams(self) -> None:
        """
        Build and start the Teams connector (again after L{crash}: a
        restarted hub on the same store).
        """
        self.teams: TeamsConnector = build(
            self.context, self.config, http=self.teams_http, rng=ZeroRandom()
        )
        self.router.add_connector(self.teams)
        self.teams.startService()

    def crash(self) -> None:
        """
        The hub dies (kill -9): the connector's timers never fire and its
        endpoints are gone, without a goodbye; the store stays.
        """
        for call in list(self.clock.getDelayedCalls()):
            call.cancel()
        self.web._mounts.pop("teams")

    # -- time and traffic ----------------------------------------------------

    def settle(self, d: Deferred[T], limit: float = 30.0) -> T:
        """Advance time until C{d} fired (at most C{limit} seconds); its result."""
        self.wait(d, limit)
        results: list[Any] = []
        d.addBoth(results.append)
        assert results, "did not fire"
        if hasattr(results[0], "raiseException"):
            results[0].raiseException()
        return results[0]  # type: ignore[no-any-return]

    # -- Teams users acting --------------------------------------------------

    def act(self, d: Deferred[Any]) -> Any:
        """Post an activity and let the hub handle it."""
        delivery = self.settle(d)
        self.advance(1)
        return delivery

    def says(self, user: SimUser, text: str, **kwargs: Any) -> Any:
        """C{user} writes C{text} in their chat with the app."""
        return self.act(self.channel.message(user, text, **kwargs))

    def install(self, user: SimUser) -> None:
        """C{user} installs the app."""
        self.act(self.channel.install(user))

    def bot_posts(self, user: SimUser) -> list[SimActivity]:
        """What the app posted in C{user}'s chat, in order (deleted ones too)."""
        return self.channel.conversation(user).from_bot(self.app.bot_id)

    def texts(self, user: SimUser) -> list[str]:
        """The text (or card text) of each post of the app to C{user}."""
        return [text_of(a.body) for a in self.bot_posts(user)]

    def inject(self, event: Event) -> Any:
        """An event from the XMPP side; traffic is pumped."""
        d = self.xmpp.inject(event)
        result = self.settle(d)
        self.advance(1)
        return result


def text_of(activity: dict[str, Any]) -> str:
    """An activity's text, with its cards' text blocks."""
    parts = [activity.get("text", "")]
    for attachment in activity.get("attachments", []):
        parts.append(json.dumps(attachment.get("content", {}), ensure_ascii=False))
    return "\n".join(p for p in parts if p)
