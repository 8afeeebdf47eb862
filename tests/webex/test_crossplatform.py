"""
Webex <-> Slack and Webex <-> Teams: a Webex user and a user of the other
platform chat through one hub, each on their own simulator.
"""

from __future__ import annotations

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import Section, TenantConfig
from nextplane.connectors.slack.webhook import ACCEPT_ACTION
from nextplane.connectors.webex.config import parse_config as parse_webex
from nextplane.connectors.webex.connector import build as build_webex
from nextplane.testing.webex_sim import CAPACITY, WebexSimulator, WebhookSender

from ..slack.attach import attach_slack
from ..slack.helpers import ZeroRandom
from ..teams.hub import TeamsHub
from .hub import BOT_TOKEN, HUB, SECRET, SIM_BASE, WebexHub

TEAM = "TSLACK001"


class WebexSlackTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = WebexHub(
            extra_tenants=(TenantConfig("slack.test", "slack", TEAM, "unused.crt", "unused.key"),)
        )
        side = attach_slack(self.hub, HUB, TEAM, "slacky", ("sam", "sam@slack.test", "Sam Slack"))
        self.slack_sim, self.sam, self.slack = side.sim, side.user, side.connector

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.violations, [])
        self.assertEqual(self.slack_sim.violations, [])

    def test_chat_both_ways(self) -> None:
        """john (Webex) invites sam (Slack); sam accepts; messages go both ways."""
        hub, sim, sam = self.hub, self.slack_sim, self.sam
        ws = sim.workspace
        hub.says(hub.john, "invite sam@slack.test")
        dm = ws.im_with(ws.bot_user_id, sam.id)
        card = dm.messages[-1]
        self.assertIn("john@acme.test", card.text)
        hub.settle(sim.user_clicks(sam.id, dm.id, card.ts, ACCEPT_ACTION))
        hub.advance(3)
        self.assertIn("accepted", hub.bot_texts(hub.john)[-1])
        hub.says(hub.john, "hello from Webex")
        hub.advance(3)
        [conversation] = [
            c
            for c in ws.conversations.values()
            if c.is_private and not c.is_im and sam.id in c.members
        ]
        self.assertEqual(conversation.messages[-1].text, "hello from Webex")
        sim.user_posts(sam.id, conversation.id, "hello from *Slack*")
        hub.advance(3)
        self.assertIn("hello from Slack", hub.bot_texts(hub.john)[-1])
        self.assertEqual(hub.posts(hub.john)[-1].markdown, "**sam**: hello from **Slack**")


class WebexTeamsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = hub = TeamsHub(
            extra_tenants=(TenantConfig("acme.test", "webex", "org", "unused.crt", "unused.key"),)
        )
        self.webex_sim = WebexSimulator(
            hub.clock, mode=CAPACITY, sender=WebhookSender(hub.hub_http, hub.clock)
        )
        state = self.webex_sim.state
        self.bot = state.add_person("nextplane@webex.bot", "nextplane", bot=True, token=BOT_TOKEN)
        self.john = state.add_person("john@acme.test", "John Smith", token="john-token")
        webex_http = StubTreq(self.webex_sim.resource())
        hub.http_clients.append(webex_http)
        section = Section(
            {"bot_token": BOT_TOKEN, "webhook_secret": SECRET, "api_base_url": SIM_BASE},
            "connectors.webex",
            {},
        )
        self.webex = build_webex(
            hub.context, parse_webex(section, environ={}), http=webex_http, rng=ZeroRandom()
        )
        hub.router.add_connector(self.webex)
        hub.settle(self.webex.startService())

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.api.violations, [])
        self.assertEqual(self.webex_sim.violations, [])

    def john_says(self, text: str) -> None:
        room = self.webex_sim.world.direct_room(self.bot, self.john.id, None)
        self.webex_sim.world.user_posts(self.john.id, room.id, markdown=text)
        self.hub.advance(3)

    def john_sees(self) -> list[str]:
        room = self.webex_sim.world.direct_room(self.bot, self.john.id, None)
        return [
            m.text or ""
            for m in self.webex_sim.state.room_messages(room.id)
            if m.person_id == self.bot.id
        ]

    def test_chat_both_ways(self) -> None:
        """tom (Teams) invites john (Webex); john accepts by card; messages go both ways."""
        hub = self.hub
        tom = "tom@contoso.test"
        self.john_says("help")  # john has met the bot
        hub.install(hub.tom)
        hub.says(hub.tom, "invite john@acme.test")
        hub.advance(3)
        room = self.webex_sim.world.direct_room(self.bot, self.john.id, None)
        [card] = [m for m in self.webex_sim.state.room_messages(room.id) if m.attachments]
        self.webex_sim.world.user_submits(
            self.john.id, card.id, {"verb": "contact.accept", "request": tom}
        )
        hub.advance(3)
        self.assertIn("accepted your invitation", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "hello from Teams")
        hub.advance(3)
        self.assertIn("hello from Teams", self.john_sees()[-1])
        self.john_says("hello from Webex")
        self.assertIn("hello from Webex", hub.texts(hub.tom)[-1])
