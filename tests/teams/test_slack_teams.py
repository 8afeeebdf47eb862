"""
Teams <-> Slack: a Teams user of contoso.test and a Slack user of
acme.test chat through one hub, each on their own simulator.
"""

from __future__ import annotations

import json

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import Section, TenantConfig
from nextplane.connectors.slack.connector import SCOPES
from nextplane.connectors.slack.connector import build as build_slack
from nextplane.connectors.slack.connector import parse_config as parse_slack
from nextplane.connectors.slack.webhook import ACCEPT_ACTION
from nextplane.testing.slack_sim import EventSender, SlackCloud, SlackSimulator, Workspace

from ..slack.helpers import ZeroRandom
from .hub import HUB, TeamsHub, text_of

TEAM = "TACME0001"
TOKEN = "xoxb-acme-0000-SECRETTOKENAAAA"
SECRET = "hub-signing-secret-0123456789"


class SlackTeamsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = hub = TeamsHub(
            extra_tenants=(TenantConfig("acme.test", "slack", TEAM, "unused.crt", "unused.key"),)
        )
        workspace = Workspace(
            team_id=TEAM,
            team_name="Acme",
            domain="acme",
            app_id="A0NEXTPLANE",
            bot_id=f"B{TEAM}",
            bot_user_id=f"U{TEAM}",
        )
        self.slack_sim = SlackSimulator(hub.clock, workspace, base_url="https://slack.test")
        self.slack_sim.events = EventSender(hub.hub_http, hub.clock, SECRET, HUB, workspace)
        self.john = workspace.add_user("john", "john@acme.test", "John Smith")
        workspace.add_token(TOKEN, frozenset(SCOPES))
        slack_http = StubTreq(SlackCloud(self.slack_sim))
        hub.extra_http.append(slack_http)
        section = Section(
            {
                "signing_secret": SECRET,
                "api_base_url": "https://slack.test/api/",
                "file_hosts": [],
                "workspaces": {TEAM: {"bot_token": TOKEN}},
            },
            "connectors.slack",
            {},
        )
        self.slack = build_slack(
            hub.context, parse_slack(section), http=slack_http, rng=ZeroRandom()
        )
        hub.router.add_connector(self.slack)
        hub.settle(self.slack.startService())

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.api.violations, [])
        self.assertEqual(self.slack_sim.violations, [])

    def test_chat_both_ways(self) -> None:
        """tom (Teams) invites john (Slack); john accepts; messages go both ways."""
        hub, sim, john = self.hub, self.slack_sim, self.john
        ws = sim.workspace
        hub.install(hub.tom)
        hub.says(hub.tom, "invite john@acme.test")
        dm = ws.im_with(ws.bot_user_id, john.id)
        card = dm.messages[-1]
        self.assertIn("tom@contoso.test", card.text)
        hub.settle(sim.user_clicks(john.id, dm.id, card.ts, ACCEPT_ACTION))
        hub.advance(3)
        self.assertIn("accepted your invitation", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "hello from Teams")
        hub.advance(3)
        [conversation] = [
            c
            for c in ws.conversations.values()
            if c.is_private and not c.is_im and john.id in c.members
        ]
        post = conversation.messages[-1]
        self.assertEqual(post.text, "hello from Teams")
        self.assertIn("tom@contoso.test", post.username or "")
        sim.user_posts(john.id, conversation.id, "hello from *Slack*")
        hub.advance(3)
        shown = hub.texts(hub.tom)[-1]
        self.assertIn("hello from", shown)
        self.assertIn("Slack", shown)
        self.assertIn("john@acme.test", json.dumps(shown))
        self.assertIn("avatars.slack.test", text_of(hub.bot_posts(hub.tom)[-1].body))  # picture
