"""
A hub in memory with the Slack connector and two simulated workspaces.

Tenants acme.test (Slack workspace TACME0001: john, ann) and beta.test
(workspace TBETA0001: mary), both served by one Slack app through one API
(L{SlackCloud}); widget.test is reached over a recording XMPP federation
connector. Everything runs on one L{Clock}; L{SlackHub.pump} moves the
in-memory HTTP traffic both ways.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from treq.testing import StubTreq
from twisted.internet.defer import Deferred

from nextplane.config import (
    Section,
    TenantConfig,
)
from nextplane.connectors.slack.connector import SCOPES, SlackConnector, build, parse_config
from nextplane.interfaces import IStore
from nextplane.model.address import Address
from nextplane.model.events import Event
from nextplane.testing.slack_sim import (
    REAL_LIMITS,
    Conversation,
    EventSender,
    SimMessage,
    SimUser,
    SlackCloud,
    SlackSimulator,
    Workspace,
)

from ..platform.hub import MemoryHub
from .helpers import ZeroRandom

T = TypeVar("T")

SECRET = "hub-signing-secret-0123456789"
TOKEN_A = "xoxb-acme-0000-SECRETTOKENAAAA"
TOKEN_B = "xoxb-beta-0000-SECRETTOKENBBBB"
TEAM_A = "TACME0001"
TEAM_B = "TBETA0001"
HUB = "https://hub.test"
API = "https://slack.test/api/"


def addr(text: str) -> Address:
    """Parse an address."""
    return Address.parse(text)


class SlackHub(MemoryHub):
    """
    See the module docstring.

    @ivar sim_a: acme.test's workspace; C{john}, C{ann}.
    @ivar sim_b: beta.test's workspace; C{mary}.
    @ivar xmpp: The federation side (widget.test).
    """

    def __init__(
        self,
        mode: str = REAL_LIMITS,
        public_url: str | None = HUB,
        tokens: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        delivery_timeout: float = 60.0,
        store: IStore | None = None,
        start: bool = True,
    ) -> None:
        """
        @param tokens: The configured bot tokens (default: both teams').
        @param store: The hub's store (default: a new L{MemoryStore}); pass
            another hub's to start a connector where it stopped.
        @param start: Whether to start the connector now; else see
            L{start}.
        """
        super().__init__(
            (
                TenantConfig("acme.test", "slack", TEAM_A, "unused.crt", "unused.key"),
                TenantConfig("beta.test", "slack", TEAM_B, "unused.crt", "unused.key"),
            ),
            store,
            delivery_timeout,
        )
        self.sim_a = self._simulator(TEAM_A, "acme", mode)
        self.sim_b = self._simulator(TEAM_B, "beta", mode)
        self.john = self.sim_a.workspace.add_user("john", "john@acme.test", "John Smith")
        self.ann = self.sim_a.workspace.add_user("ann", "ann@acme.test", "Ann Other")
        self.mary = self.sim_b.workspace.add_user("mary", "mary@beta.test", "Mary Major")
        self.sim_a.workspace.add_token(TOKEN_A, frozenset(SCOPES))
        self.sim_b.workspace.add_token(TOKEN_B, frozenset(SCOPES))
        self.cloud = SlackCloud(self.sim_a, self.sim_b)
        self.slack_http = StubTreq(self.cloud)
        self.http_clients.append(self.slack_http)

        if tokens is None:
            tokens = {TEAM_A: TOKEN_A, TEAM_B: TOKEN_B}
        data: dict[str, Any] = {
            "signing_secret": SECRET,
            "api_base_url": API,
            "file_hosts": [],
            "workspaces": {team: {"bot_token": token} for team, token in tokens.items()},
            **(extra or {}),
        }
        section = Section(data, "connectors.slack", {})
        self.config = parse_config(section)
        section.finish()
        self.revocation_listeners: list[Any] = []
        context = self.connector_context(
            public_url, {"slack": self.config}, self.revocation_listeners.append
        )
        self.hub_config = context.config
        self.slack: SlackConnector = build(
            context, self.config, http=self.slack_http, rng=ZeroRandom()
        )
        self.router.add_connector(self.slack)
        self.started: Deferred[None] | None = None
        if start:
            self.start()

    def start(self) -> Deferred[None]:
        """Start the connector (it loads the stored installations) and pump."""
        self.started = self.slack.startService()
        self.pump()
        return self.started

    def _simulator(self, team: str, name: str, mode: str) -> SlackSimulator:
        workspace = Workspace(
            team_id=team,
            team_name=name.title(),
            domain=name,
            app_id="A0NEXTPLANE",
            bot_id=f"B{team}",
            bot_user_id=f"U{team}",
        )
        sim = SlackSimulator(self.clock, workspace, mode=mode, base_url="https://slack.test")
        sim.events = EventSender(self.hub_http, self.clock, SECRET, HUB, workspace)
        return sim

    # -- time and traffic ----------------------------------------------------

    settle = MemoryHub.wait

    # -- Slack users acting --------------------------------------------------

    def command(self, sim: SlackSimulator, user: SimUser, text: str) -> str:
        """C{user} types C{/nextplane text}; the ephemeral answer's text."""
        d = sim.user_command(user.id, "C0GENERAL", text)
        self.settle(d)
        assert d.called, "no answer to the command"
        results: list[Any] = []
        d.addCallback(results.append)
        status, body = results[0]
        assert status == 200, status
        answer = json.loads(body)
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    def dm(self, sim: SlackSimulator, user: SimUser) -> Conversation:
        """The app's DM with C{user}."""
        ws = sim.workspace
        return ws.im_with(ws.bot_user_id, user.id)

    def conversations(self, sim: SlackSimulator, user: SimUser) -> list[Conversation]:
        """The app's private conversations C{user} is in."""
        return [
            c
            for c in sim.workspace.conversations.values()
            if c.is_private and not c.is_im and not c.is_mpim and user.id in c.members
        ]

    def conversation(self, sim: SlackSimulator, user: SimUser) -> Conversation:
        """The one private conversation of C{user}."""
        [found] = self.conversations(sim, user)
        return found

    def click(self, sim: SlackSimulator, user: SimUser, message: SimMessage, action: str) -> None:
        """C{user} clicks a button of the app's C{message} in their DM."""
        d = sim.user_clicks(user.id, self.dm(sim, user).id, message.ts, action)
        self.settle(d)
        self.advance(3)

    def posts(self, conversation: Conversation) -> list[SimMessage]:
        """Messages posted by the app as someone else (impersonated)."""
        return [m for m in conversation.messages if m.username is not None]

    def inject(self, event: Event) -> Deferred[Any]:
        """An event from the XMPP side; traffic is pumped."""
        d = self.xmpp.inject(event)
        self.pump()
        return d
