"""
Teams <-> Slack: a Teams user of contoso.test and a Slack user of
acme.test chat through one hub, each on their own simulator.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import TenantConfig
from nextplane.connectors.slack.webhook import ACCEPT_ACTION

from ..slack.attach import attach_slack
from .hub import HUB, TeamsHub, text_of

TEAM = "TACME0001"


class SlackTeamsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = TeamsHub(
            extra_tenants=(TenantConfig("acme.test", "slack", TEAM, "unused.crt", "unused.key"),)
        )
        side = attach_slack(self.hub, HUB, TEAM, "acme", ("john", "john@acme.test", "John Smith"))
        self.slack_sim, self.john, self.slack = side.sim, side.user, side.connector

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
