"""
A Slack user of tenant C{hub.test} chats with alice on a real Prosody 0.12
through the hub, inside the interop network namespace.

The Slack side is the simulator (L{nextplane.testing.slack_sim}) serving
the Web API on the hub's loopback address, with signed Events API
deliveries, slash commands and button clicks POSTed to the hub's real web
listener; the hub is built by L{nextplane.tap.build_hub} with its real
treq client, SQLite store, the XMPP connector (SASL EXTERNAL with the test
CA) and the Slack connector. Nothing but loopback is reachable.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.connectors.slack import connector as slack
from nextplane.connectors.slack.connector import SCOPES
from nextplane.connectors.slack.webhook import ACCEPT_ACTION
from nextplane.model.address import Address
from nextplane.storage.records import ContactState
from nextplane.testing.connectors import TEST_CONNECTORS
from nextplane.testing.slack_sim import (
    REAL_LIMITS,
    Conversation,
    EventSender,
    SimMessage,
    SlackSimulator,
    Workspace,
)
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import DIALBACK_SECRET, poll, wait_for_contact_state
from tests.interop.harness.platformhub import PlatformHub

PROSODY = "prosody1.test"
HUB_DOMAIN = "hub.test"
TEAM = "THUB00001"
TOKEN = "xoxb-interop-0000-SECRETTOKEN"
SECRET = "interop-signing-secret-0123456789"
PASSWORD = "pw-interop"

#: The test registry: the build's connectors, the recording platform and Slack.
REGISTRY = {**TEST_CONNECTORS, "slack": slack.ENTRY}


class SlackHub(PlatformHub):
    """
    The hub with one Slack tenant, and that tenant's simulated workspace.

    @ivar sim: the workspace (user C{john}, e-mail C{john@hub.test}).
    @ivar service: the running hub.
    """

    def __init__(self, env: InteropEnvironment) -> None:
        super().__init__(env, "slack")
        workspace = Workspace(
            team_id=TEAM,
            team_name="Hub",
            domain="hub",
            app_id="A0NEXTPLANE",
            bot_id="B0HUBBOT01",
            bot_user_id="U0HUBBOT01",
        )
        self.john = workspace.add_user("john", "john@hub.test", "John Smith")
        workspace.add_token(TOKEN, frozenset(SCOPES))
        self.sim = SlackSimulator(self.reactor, workspace, mode=REAL_LIMITS)

    def config_data(self) -> dict[str, Any]:
        """The hub's configuration, as the TOML file would hold it."""
        return self.hub_config(
            HUB_DOMAIN,
            TEAM,
            self.env.cert_for(HUB_DOMAIN),
            {
                "xmpp": {
                    "listen": f"tcp:5269:interface={self.address}",
                    "dialback_secret": DIALBACK_SECRET,
                    "system_ca": False,
                },
                "slack": {
                    "signing_secret": SECRET,
                    "api_base_url": f"{self.sim.base_url}/api/",
                    "file_hosts": [],
                    "workspaces": {TEAM: {"bot_token": TOKEN}},
                },
            },
        )

    @defer.inlineCallbacks
    def start(self, testcase: TestCase) -> Any:
        """Start the simulator's API, the hub, and the simulator's event sender."""
        yield self.start_hub(testcase, HUB_DOMAIN, REGISTRY)
        yield self.service.connectors["slack"].ready
        self.sim.events = EventSender(
            self.web_client(), self.reactor, SECRET, self.web_url, self.sim.workspace
        )

    def diagnostics(self) -> str:
        """The hub's log lines and the Slack calls, for failure messages."""
        calls = "\n".join(
            f"{c.time:.3f} {c.method} error={c.error} status={c.status}" for c in self.sim.calls
        )
        return f"--- hub log (Slack hub) ---\n{''.join(self.log)}\n--- Slack API calls ---\n{calls}"

    def conversation(self) -> Conversation | None:
        """John's private conversation with the contact, once it exists."""
        for conversation in self.sim.workspace.conversations.values():
            if (
                conversation.is_private
                and not conversation.is_im
                and self.john.id in conversation.members
            ):
                return conversation
        return None

    def dm_texts(self) -> list[str]:
        """What the app said in its DM with john."""
        ws = self.sim.workspace
        return [m.text for m in ws.im_with(ws.bot_user_id, self.john.id).messages]


class SlackProsodyTests(TestCase):
    """
    Slack user john@hub.test and alice@prosody1.test.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_chat_both_ways(self) -> Any:
        """
        John invites alice with the slash command; alice's server asks her
        and she approves; the hub opens john's private conversation with
        alice; messages and a correction go both ways.
        """
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody(PROSODY, users={"alice": PASSWORD})
        hub = SlackHub(env)
        yield hub.start(self)
        alice = yield env.client(f"alice@{PROSODY}", PASSWORD, server)
        reactor = env.reactor
        john_jid = f"john@{HUB_DOMAIN}"

        status, body = yield hub.sim.user_command(
            hub.john.id, "C0GENERAL", f"invite alice@{PROSODY}"
        )
        self.assertEqual(status, 200)
        answer = json.loads(body)["text"]
        self.assertIn(answer.split(" ")[0], ("Invitation", "Working"))
        if answer.startswith("Working"):
            yield poll(
                reactor,
                lambda: any("Invitation sent" in t for t in hub.dm_texts()) or None,
                20,
                "the late answer",
            )

        subscribe = yield env.with_diagnostics(alice.wait_for_presence(john_jid, type="subscribe"))
        self.assertIn("john", subscribe.xml)
        yield alice.send_presence(john_jid, "subscribed")
        conversation = yield env.with_diagnostics(
            poll(reactor, hub.conversation, 20, "john's conversation with alice")
        )
        self.assertEqual(conversation.name, "ext-alice-prosody1-test-john")

        store = hub.service.store
        john, remote = Address.parse(john_jid), Address.parse(f"alice@{PROSODY}")
        yield wait_for_contact_state(reactor, store, john, remote, ContactState.ACCEPTED)
        # The router records the acceptance before it hands it to Slack, so
        # the notice may still be on its way (create, invite, then post).
        yield poll(
            reactor,
            lambda: (
                any("accepted your invitation" in m.text for m in conversation.messages) or None
            ),
            20,
            "the acceptance notice",
        )
        self.assertIn("accepted your invitation", conversation.messages[-1].text)

        # alice -> john: shown as herself in the private conversation.
        yield alice.send_message(john_jid, "hello from Prosody")

        def arrived() -> SimMessage | None:
            for message in conversation.messages:
                if message.text == "hello from Prosody":
                    return message
            return None

        post = yield env.with_diagnostics(poll(reactor, arrived, 20, "alice's message in Slack"))
        self.assertEqual(post.username, f"alice@{PROSODY}")

        # john -> alice: a plain post in the conversation, then a correction.
        mine = hub.sim.user_posts(hub.john.id, conversation.id, "hello from *Slack*")
        received = yield env.with_diagnostics(
            alice.wait_for_message(body="hello from *Slack*", sender=john_jid)
        )
        # Bold travels as XEP-0393 styling in the body and as XHTML-IM.
        self.assertEqual(received.type, "chat")
        self.assertIn("<html:strong>Slack</html:strong>", received.xml)
        hub.sim.user_edits(hub.john.id, conversation.id, mine.ts, "hello again from Slack")
        corrected = yield env.with_diagnostics(
            alice.wait_for_message(body="hello again from Slack", sender=john_jid)
        )
        self.assertIn("urn:xmpp:message-correct:0", corrected.xml)
        self.assertIn(received.id, corrected.xml)
        self.assertEqual(hub.sim.violations, [])
        self.assertEqual(hub.sim.rate_limited, [])

    @defer.inlineCallbacks
    def test_request_from_xmpp(self) -> Any:
        """
        Alice subscribes to john: a card with buttons appears in the app's
        DM; john clicks Accept; alice's server sees 'subscribed'; her
        message appears in the new conversation and john's reaction to it
        reaches her as a XEP-0444 reaction.
        """
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody(PROSODY, users={"alice": PASSWORD})
        hub = SlackHub(env)
        yield hub.start(self)
        alice = yield env.client(f"alice@{PROSODY}", PASSWORD, server)
        reactor = env.reactor
        john_jid = f"john@{HUB_DOMAIN}"
        ws = hub.sim.workspace

        yield alice.send_presence(john_jid, "subscribe")

        def card() -> SimMessage | None:
            dm = ws.im_with(ws.bot_user_id, hub.john.id)
            for message in dm.messages:
                if message.text == f"alice@{PROSODY} wants to chat with you":
                    return message
            return None

        request = yield env.with_diagnostics(poll(reactor, card, 20, "the request card"))
        dm = ws.im_with(ws.bot_user_id, hub.john.id)
        status, _ = yield hub.sim.user_clicks(hub.john.id, dm.id, request.ts, ACCEPT_ACTION)
        self.assertEqual(status, 200)
        yield env.with_diagnostics(alice.wait_for_presence(john_jid, type="subscribed"))
        conversation = yield env.with_diagnostics(
            poll(reactor, hub.conversation, 20, "john's conversation with alice")
        )
        yield env.with_diagnostics(
            poll(reactor, lambda: "You accepted" in request.text or None, 20, "the updated card")
        )

        yield alice.send_message(john_jid, "thanks for accepting", id="alice-1")

        def arrived() -> SimMessage | None:
            for message in conversation.messages:
                if message.text == "thanks for accepting":
                    return message
            return None

        post = yield env.with_diagnostics(poll(reactor, arrived, 20, "alice's message in Slack"))
        hub.sim.user_reacts(hub.john.id, conversation.id, post.ts, "+1")
        reaction = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: "urn:xmpp:reactions:0" in m.xml, sender=john_jid)
        )
        self.assertIn("alice-1", reaction.xml)
        self.assertIn("👍", reaction.xml)
