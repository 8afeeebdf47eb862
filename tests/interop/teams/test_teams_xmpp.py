"""
A Teams user of tenant C{hub.test} chats with alice on a real Prosody
through the hub, inside the interop network namespace (see L{hub}).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.storage.records import ContactState
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import DIALBACK_SECRET, poll, wait_for_contact_state

from .hub import HUB_DOMAIN, TeamsHub

PROSODY = "prosody1.test"
PASSWORD = "pw-interop"


class TeamsProsodyTests(TestCase):
    """
    Teams user tom@hub.test and alice@prosody1.test.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_invite_and_chat(self) -> Any:
        """
        Tom installs the app and invites alice; she accepts; messages go
        both ways (a message the channel sends twice reaches her once);
        tom's edit, delete, typing and reaction reach her.
        """
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody(PROSODY, users={"alice": PASSWORD})
        hub = TeamsHub(
            env,
            {
                "xmpp": {
                    "listen": "",
                    "dialback_secret": DIALBACK_SECRET,
                    "system_ca": False,
                }
            },
        )
        hub.connectors["xmpp"]["listen"] = f"tcp:5269:interface={hub.address}"
        yield hub.start(self)
        alice = yield env.client(f"alice@{PROSODY}", PASSWORD, server)
        reactor, channel, tom = env.reactor, hub.channel, hub.tom
        tom_jid = f"tom@{HUB_DOMAIN}"

        delivery = yield channel.install(tom)
        self.assertEqual(delivery.status, 201)
        yield env.with_diagnostics(poll(reactor, lambda: hub.posted("Welcome"), 20, "welcome"))
        yield channel.message(tom, f"invite alice@{PROSODY}")
        subscribe = yield env.with_diagnostics(alice.wait_for_presence(tom_jid, type="subscribe"))
        self.assertIn("tom", subscribe.xml)
        yield alice.send_presence(tom_jid, "subscribed")
        store = hub.service.store
        me, remote = Address.parse(tom_jid), Address.parse(f"alice@{PROSODY}")
        yield wait_for_contact_state(reactor, store, me, remote, ContactState.ACCEPTED)
        yield env.with_diagnostics(
            poll(reactor, lambda: hub.posted("accepted your invitation"), 20, "the acceptance")
        )

        # alice -> tom: a card with her address in tom's chat.
        yield alice.send_message(tom_jid, "hello from Prosody", id="alice-1")
        card = yield env.with_diagnostics(
            poll(reactor, lambda: hub.posted("hello from Prosody"), 20, "alice's message")
        )
        self.assertIn(f"alice@{PROSODY}", repr(card.body))

        # tom -> alice: a plain message goes to her, no command needed.
        sent = yield channel.message(tom, "hello from Teams", html="<p>hello from <b>Teams</b></p>")
        received = yield env.with_diagnostics(
            alice.wait_for_message(body="hello from *Teams*", sender=tom_jid)
        )
        self.assertIn("<html:strong>Teams</html:strong>", received.xml)
        # The channel sends the same activity again: answered, routed once
        # (the work record's claim; the edit behind it comes after it).
        again = yield channel.post(sent.activity)
        self.assertEqual(again.status, 201)
        yield channel.edit(tom, sent.activity["id"], "hello again from Teams")
        corrected = yield env.with_diagnostics(
            alice.wait_for_message(body="hello again from Teams", sender=tom_jid)
        )
        self.assertIn("urn:xmpp:message-correct:0", corrected.xml)
        self.assertEqual([m.body for m in alice.messages].count("hello from *Teams*"), 1)
        self.assertIn(received.id, corrected.xml)

        yield channel.typing(tom)
        yield env.with_diagnostics(
            alice.wait_for_message(
                lambda m: "http://jabber.org/protocol/chatstates" in m.xml, sender=tom_jid
            )
        )
        yield channel.react(tom, card.id, "like")
        reaction = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: "urn:xmpp:reactions:0" in m.xml, sender=tom_jid)
        )
        self.assertIn("alice-1", reaction.xml)
        self.assertIn("👍", reaction.xml)
        yield channel.delete(tom, sent.activity["id"])
        retraction = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: "urn:xmpp:message-retract" in m.xml, sender=tom_jid)
        )
        self.assertIn(received.id, retraction.xml)
        self.assertEqual(hub.sim.api.violations, [])
        self.assertEqual(hub.sim.api.rate_limited, [])
