"""
A Webex user of tenant C{hub.test} chats with alice on a real Prosody
through the hub, inside the interop network namespace (see L{hub}).
"""

from __future__ import annotations

from typing import Any

import treq
from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.storage.records import ContactState
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import DIALBACK_SECRET, poll, wait_for_contact_state

from .hub import HUB_DOMAIN, WebexHub

PROSODY = "prosody1.test"
PASSWORD = "pw-interop"


class WebexProsodyTests(TestCase):
    """
    Webex user wendy@hub.test and alice@prosody1.test.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_invite_and_chat(self) -> Any:
        """
        wendy invites alice; she accepts; messages go both ways; alice's
        edit reaches Webex as an edit, wendy's delete reaches alice as a
        retraction, wendy's file reaches alice as a hub link that serves it.
        """
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody(PROSODY, users={"alice": PASSWORD})
        hub = WebexHub(
            env,
            {"xmpp": {"listen": "", "dialback_secret": DIALBACK_SECRET, "system_ca": False}},
        )
        hub.connectors["xmpp"]["listen"] = f"tcp:5269:interface={hub.address}"
        yield hub.start(self)
        self.addCleanup(lambda: self.assertEqual(hub.sim.violations, []))
        alice = yield env.client(f"alice@{PROSODY}", PASSWORD, server)
        reactor = env.reactor
        wendy_jid = f"wendy@{HUB_DOMAIN}"
        alice_jid = f"alice@{PROSODY}"

        def explain() -> str:
            return hub.diagnostics()

        hub.says(f"invite {alice_jid}")
        subscribe = yield env.with_diagnostics(alice.wait_for_presence(wendy_jid, type="subscribe"))
        self.assertIn("wendy", subscribe.xml)
        yield alice.send_presence(wendy_jid, "subscribed")
        store = hub.service.store
        me, remote = Address.parse(wendy_jid), Address.parse(alice_jid)
        yield wait_for_contact_state(reactor, store, me, remote, ContactState.ACCEPTED)
        yield poll(reactor, lambda: hub.posted("accepted"), 20, "the acceptance", explain=explain)

        # alice -> wendy, then her correction: a PUT of the same Webex message.
        yield alice.send_message(wendy_jid, "hello from Prosody", id="alice-1")
        shown = yield poll(
            reactor,
            lambda: hub.posted("hello from Prosody"),
            20,
            "alice's message",
            explain=explain,
        )
        self.assertIn("**", shown.markdown or "")
        yield alice.send_raw(
            f"<message to='{wendy_jid}' type='chat' id='alice-2'><body>hello again from Prosody</body>"
            "<replace xmlns='urn:xmpp:message-correct:0' id='alice-1'/></message>"
        )
        edited = yield poll(
            reactor, lambda: hub.posted("hello again from Prosody"), 20, "the edit", explain=explain
        )
        self.assertEqual(edited.id, shown.id)

        # wendy -> alice: a plain message goes to her, formatting kept.
        sent = hub.says("hello from **Webex**")
        received = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: "hello from" in (m.body or ""), sender=wendy_jid)
        )
        self.assertIn("Webex", received.body or "")
        # wendy deletes it: alice gets a retraction.
        hub.sim.world.user_deletes(hub.wendy.id, sent.id)
        retraction = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: "urn:xmpp:message-retract" in m.xml, sender=wendy_jid)
        )
        self.assertIn(received.id, retraction.xml)

        # wendy shares a file: alice gets a hub link that serves it.
        url = hub.sim.world.upload("notes.txt", b"interop file body", "text/plain")
        hub.says("the notes", files=[url])
        shared = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: "/webex/files/" in m.xml, sender=wendy_jid)
        )
        link = next(
            w
            for w in shared.xml.replace("<", " ").replace(">", " ").split()
            if "/webex/files/" in w
        )
        link = link.split("'")[0].split('"')[0]
        self.assertTrue(link.startswith(hub.web_url), link)
        response = yield treq.get(link, reactor=reactor, persistent=False)
        self.assertEqual(response.code, 200)
        body = yield response.content()
        self.assertEqual(body, b"interop file body")
        self.assertNotIn(b"interop-webex-bot-token", shared.xml.encode())
