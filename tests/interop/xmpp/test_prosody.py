"""
The hub federating with a real Prosody 0.12 (Debian defaults:
C{s2s_secure_auth = true}, encryption required).

  - L{ProsodyExternalTests}: Prosody trusts the test CA, so both directions
    authenticate with SASL EXTERNAL; the whole conversation, a hub restart
    and a blocked domain.
  - L{ProsodyDialbackTests}: Prosody does not trust the test CA and lists
    the hub in C{s2s_insecure_domains}; its own s2s certificate is from a CA
    the hub does not trust (the hub lists it in C{insecure_domains}), so
    both directions use dialback over TLS.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase
from twisted.words.xish import domish

from nextplane.interfaces import DeliveryFailed
from nextplane.model.events import MessageEdit, TextMessage
from nextplane.model.text import RichText
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
)
from tests.interop.harness.hub import poll

from .conversation import ConversationTests
from .scenario import NS_CORRECT, PASSWORD, Scenario, prosody_scenario

PROSODY = "prosody1.test"
NOW = datetime.now(UTC)


class ProsodyExternalTests(ConversationTests, TestCase):
    """
    Prosody with the test CA trusted: SASL EXTERNAL both ways.
    """

    def scenario(self, befriend: bool = True) -> defer.Deferred[Scenario]:
        return prosody_scenario(self, PROSODY, befriend=befriend)

    @defer.inlineCallbacks
    def test_sasl_external_both_ways(self) -> Any:
        """
        Prosody reaches the hub through SRV, and the hub reaches Prosody;
        both authenticate with SASL EXTERNAL (Prosody's log and the hub's
        stream state agree), and DNS was only asked about the test domains.
        """
        s = yield self.scenario()
        yield s.client_says("over EXTERNAL", id="ext-1")
        yield s.hub_says("over EXTERNAL too")

        # Prosody -> hub: the hub accepted EXTERNAL on its inbound stream.
        [inbound] = s.hub.inbound_streams(PROSODY)
        self.assertEqual(inbound.sasl_domain, PROSODY)
        self.assertIn((PROSODY, s.hub.domain), inbound.authenticated_pairs)
        yield s.check(s.hub.wait_for_log(f"Accepted SASL EXTERNAL from {PROSODY} to hub.test"))
        # hub -> Prosody: Prosody accepted our certificate identity.
        outbound = s.hub.outbound_stream(PROSODY)
        self.assertIsNotNone(outbound)
        self.assertEqual(outbound.authentication, "EXTERNAL")
        yield s.check(s.server.wait_for_log("Accepting SASL EXTERNAL identity from hub.test"))
        # Prosody's own view of its outgoing stream.
        yield s.check(s.server.wait_for_log("SASL EXTERNAL with hub.test succeeded"))
        self.assertNotIn("sent dialback key", s.server.log_text())
        self.assertNotIn("if key", s.server.log_text())

        self.assertTrue(s.env.dns.asked("_xmpp-server._tcp.hub.test", "SRV"))
        self.assertTrue(s.env.dns.asked(f"_xmpp-server._tcp.{PROSODY}", "SRV"))
        s.dns_stayed_inside(PROSODY)

    @defer.inlineCallbacks
    def test_hub_restart(self) -> Any:
        """
        The hub is stopped in the middle of a conversation and a new hub is
        built on the same SQLite file. While it is down Prosody bounces the
        client's message; once it is back Prosody reconnects on its own,
        the next messages get through both ways, and state survived
        (contacts, and the message ids a correction refers to).
        """
        s = yield self.scenario()
        before = yield s.client_says("before the restart", id="restart-1")
        sent, received = yield s.hub_says("hub before the restart")

        yield s.hub.stop()
        # While the hub is down, Prosody cannot connect and says so.
        yield s.client.send_message(s.hub_jid, "while the hub is down", id="restart-down")
        bounce = yield s.check(
            s.client.wait_for_message(lambda m: m.id == "restart-down", type="error", timeout=30)
        )
        self.assertEqual(bounce.error_condition, "remote-server-not-found")
        yield s.hub.start()
        self.assertEqual(s.hub.delivered(), [])

        yield s.client_says("after the restart", id="restart-2")
        yield s.hub_says("hub after the restart")

        # The message-id map is in SQLite: corrections of pre-restart
        # messages find their targets in both directions.
        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='restart-3'><body>before the restart!</body>"
            f"<replace xmlns='{NS_CORRECT}' id='restart-1'/></message>"
        )
        edit = yield s.check(s.hub.wait_for_event(kind="edit"))
        self.assertEqual(edit.message_id, before.message_id)
        yield s.hub_sends(
            MessageEdit(
                sender=s.hub_user,
                recipient=s.remote,
                message_id=sent.message_id,
                body=RichText.plain("hub before the restart!"),
            )
        )
        corrected = yield s.client_gets(lambda m: m.body == "hub before the restart!")
        replace = corrected.child(NS_CORRECT, "replace")
        assert replace is not None
        self.assertEqual(replace.get("id"), received.id)
        self.assertEqual(s.hub.starts, 2)

    @defer.inlineCallbacks
    def test_prosody_restart(self) -> Any:
        """
        Prosody restarts under the hub: the hub notices its streams end,
        and reconnects on its own for the next message; Prosody's next
        message opens a new stream to the hub.
        """
        s = yield self.scenario()
        yield s.client_says("before Prosody restarts", id="pr-1")
        yield s.hub_says("hub before Prosody restarts")

        yield s.server.restart()
        yield s.check(
            poll(
                s.env.reactor,
                lambda: (
                    True
                    if not s.hub.inbound_streams(PROSODY) and s.hub.outbound_stream(PROSODY) is None
                    else None
                ),
                10,
                "end of the hub's streams with the old Prosody",
            )
        )
        # Prosody said system-shutdown; the hub closed without answering
        # with a stream error of its own.
        yield s.check(s.hub.wait_for_log("closed by the peer: system-shutdown"))
        self.assertNotIn("unsupported-stanza-type", s.hub.log_text())
        s.client = yield s.env.client(s.remote_jid, PASSWORD, s.server)
        yield s.hub_says("hub after Prosody restarted")
        yield s.client_says("after Prosody restarted", id="pr-2")

    @defer.inlineCallbacks
    def test_blocked_domain(self) -> Any:
        """
        Once hub.test blocks Prosody's domain, a message from the client is
        answered with an error and never reaches the hub user, and the hub
        user cannot send there.
        """
        s = yield self.scenario()
        yield s.client_says("before the block", id="block-0")
        yield s.hub_says("hub before the block")

        yield s.hub.store.put_domain_policy(DomainPolicy(s.hub.domain, PROSODY, DomainAction.BLOCK))
        yield s.hub.xmpp.refresh_policy()
        # The hub ends the streams that are up; once Prosody has seen that
        # (a stanza it writes before would be lost with the old stream),
        # its next stanza needs a new stream, which the hub refuses.
        yield s.check(
            s.server.wait_for_log(
                f"Outgoing s2s stream {PROSODY}->hub.test closed: policy-violation"
                r" \(blocked: prosody1\.test is on hub\.test's block list"
            )
        )

        yield s.client.send_message(s.hub_jid, "after the block", id="block-1")
        bounce = yield s.check(
            s.client.wait_for_message(lambda m: m.id == "block-1", type="error", timeout=30)
        )
        self.assertIsNotNone(bounce.error_condition)
        self.assertIn("block list", bounce.xml)
        self.assertEqual(
            [e for e in s.hub.delivered("message") if e.body.plain_text() == "after the block"], []
        )

        outcome = yield s.hub.inject(
            TextMessage(sender=s.hub_user, recipient=s.remote, body=RichText.plain("blocked"))
        )
        self.assertFalse(outcome.delivered)
        self.assertEqual(outcome.condition, "not-allowed")
        self.assertIn("block list", outcome.reason)
        # Below the router too: the s2s layer refuses to open a stream.
        stanza = domish.Element(("jabber:server", "message"))
        stanza["from"], stanza["to"] = s.hub_jid, s.remote_jid
        failure = yield self.assertFailure(s.hub.s2s.send(stanza), DeliveryFailed)
        self.assertEqual(failure.condition, "not-allowed")
        self.assertIsNone(s.hub.outbound_stream(PROSODY))
        self.assertEqual(s.hub.inbound_streams(PROSODY), [])


class ProsodyDialbackTests(ConversationTests, TestCase):
    """
    Prosody without trust in the test CA, the hub in its
    C{s2s_insecure_domains}, and an s2s certificate the hub does not trust:
    dialback over TLS in both directions.
    """

    def scenario(self, befriend: bool = True) -> defer.Deferred[Scenario]:
        return prosody_scenario(
            self,
            PROSODY,
            befriend=befriend,
            prosody=lambda env: {
                "trusted": False,
                "s2s_insecure_domains": ["hub.test"],
                "s2s_cert": env.cert_for(PROSODY, ca=env.rogue_ca),
            },
            hub={"insecure_domains": [PROSODY]},
        )

    @defer.inlineCallbacks
    def test_dialback_both_ways(self) -> Any:
        """
        Both directions authenticate with dialback after STARTTLS; nobody
        uses SASL EXTERNAL.
        """
        s = yield self.scenario()
        yield s.client_says("over dialback", id="db-1")
        yield s.hub_says("over dialback too")

        [inbound] = s.hub.inbound_streams(PROSODY)
        self.assertIsNone(inbound.sasl_domain)
        self.assertTrue(inbound.tls_active)
        outbound = s.hub.outbound_stream(PROSODY)
        self.assertEqual(outbound.authentication, "dialback")
        self.assertTrue(outbound.tls_active)
        yield s.check(s.hub.wait_for_log(f"Accepted dialback from {PROSODY} to hub.test"))
        # Prosody's view: it sent its key to the hub, and asked the hub to
        # confirm the key the hub sent.
        yield s.check(s.server.wait_for_log("sent dialback key on outgoing s2s stream"))
        yield s.check(s.server.wait_for_log("asking hub.test if key [0-9a-f]+ belongs to them"))
        self.assertNotIn("Accepting SASL EXTERNAL", s.server.log_text())
        self.assertNotIn("Initiating SASL EXTERNAL", s.server.log_text())
        self.assertNotIn("Accepted SASL EXTERNAL", s.hub.log_text())
        s.dns_stayed_inside(PROSODY)


class ProsodyMultiTenantTests(TestCase):
    """
    One hub serving two tenant domains on one listener, both federating
    with the same Prosody.
    """

    timeout = 180

    @defer.inlineCallbacks
    def test_two_tenants(self) -> Any:
        """
        Prosody opens one authenticated stream per hub domain (the hub
        presents each domain's certificate, chosen by the stream's 'to' and
        SNI), the hub one per local domain; messages cross both ways for
        both tenants, each with its own identity.
        """
        s = yield prosody_scenario(self, PROSODY, hub={"more_domains": ("second.test",)})
        carol = s.hub.address("carol", "second.test")
        yield s.hub.store.put_contact(
            ContactRecord(
                carol, s.remote, ContactState.ACCEPTED, ContactDirection.OUTBOUND, NOW, NOW
            )
        )
        yield s.client_says("to the first tenant", id="mt-1")
        yield s.client.send_message(str(carol), "to the second tenant", id="mt-2")
        event = yield s.check(s.hub.wait_for_event(lambda e: e.recipient == carol, kind="message"))
        self.assertEqual(event.body.plain_text(), "to the second tenant")

        yield s.hub_says("from the first tenant")
        yield s.hub_sends(
            TextMessage(sender=carol, recipient=s.remote, body=RichText.plain("from the second"))
        )
        got = yield s.check(s.client.wait_for_message(body="from the second"))
        self.assertEqual(got.sender.split("/")[0], str(carol))

        inbound = s.hub.inbound_streams(PROSODY)
        self.assertEqual(
            sorted(local for stream in inbound for _, local in stream.authenticated_pairs),
            ["hub.test", "second.test"],
        )
        self.assertTrue(all(stream.sasl_domain == PROSODY for stream in inbound))
        for local in ("hub.test", "second.test"):
            stream = s.hub.s2s.pool.stream_for(local, PROSODY)
            self.assertEqual(stream.authentication, "EXTERNAL")
        yield s.check(s.server.wait_for_log("Accepting SASL EXTERNAL identity from second.test"))
