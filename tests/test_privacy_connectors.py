"""
The privacy marker test for the federation connectors: content carrying a
unique marker flows through the real XMPP and SIP connectors in both
directions (accepted and refused), with every log line captured as text and
JSON at debug level. The marker must reach the other side, and appear in no
log line and no table; so does Teams content through the Teams
connector and its simulator. (The Slack connector has the same test in
tests/slack/test_connector.py; the router, echo connector and storage
backends in tests/test_privacy.py.)
"""

from __future__ import annotations

import io
import secrets

from twisted.internet.defer import Deferred, succeed
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.presence import build_pidf
from nextplane.interfaces import Queued
from nextplane.logs import make_observer
from nextplane.model.events import (
    Availability,
    MessageEdit,
    Presence,
    ReactionAdd,
    TextMessage,
)
from nextplane.model.text import Bold, RichText, Text

from .helpers import addr
from .sip.helpers import HubFixture
from .xmpp import test_connector as xmpp_connector_tests


class CapturedLogs:
    """Every log event, as text and as JSON lines, for one test."""

    def __init__(self, test: SynchronousTestCase) -> None:
        self.outputs = [io.StringIO(), io.StringIO()]
        for out, fmt in zip(self.outputs, ("text", "json")):
            observer = make_observer(fmt, out, level=LogLevel.debug)
            globalLogPublisher.addObserver(observer)
            test.addCleanup(globalLogPublisher.removeObserver, observer)

    def text(self) -> str:
        return "".join(out.getvalue() for out in self.outputs)


class XmppPrivacyTests(SynchronousTestCase):
    setUp = xmpp_connector_tests.ConnectorTests.setUp
    receive = xmpp_connector_tests.ConnectorTests.receive

    def test_marker_in_no_log_or_table(self) -> None:
        """XMPP content in both directions reaches the other side but no log line or table."""
        logs = CapturedLogs(self)
        marker = f"MARKER{secrets.token_hex(6)}"
        self.receive(
            f"<message from='peter@widget.test' to='john@acme.test' type='chat' id='m1'>"
            f"<body>{marker} *{marker}*</body>"
            f"<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>"
            f"<strong>{marker}</strong></body></html></message>"
        )
        self.receive(
            f"<message from='peter@widget.test' to='john@acme.test' type='chat' id='m2'>"
            f"<body>{marker}</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>"
        )
        self.receive(
            f"<message from='peter@widget.test' to='john@acme.test' type='chat' id='r1'>"
            f"<reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>{marker}</reaction></reactions></message>"
        )
        self.receive(
            f"<presence from='peter@widget.test/a' to='john@acme.test'><status>{marker}</status></presence>"
        )
        # Refused: not a contact.
        self.receive(
            f"<message from='stranger@widget.test' to='john@acme.test' type='chat' id='x1'>"
            f"<body>{marker}</body></message>"
        )
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        body = RichText([Bold([Text(marker)])])
        sent = TextMessage(sender=john, recipient=peter, body=body)
        for event in (
            sent,
            MessageEdit(sender=john, recipient=peter, message_id=sent.message_id, body=body),
            ReactionAdd(sender=john, recipient=peter, message_id=sent.message_id, emoji="👍"),
            Presence(sender=john, recipient=peter, availability=Availability.AWAY, status=marker),
            TextMessage(sender=john, recipient=addr("stranger@widget.test"), body=body),
        ):
            self.core.router.route(event)

        self.assertTrue(
            any(
                marker in e.body.plain_text()
                for e in self.core.alpha.delivered
                if isinstance(e, TextMessage)
            )
        )
        self.assertTrue(any(marker in s.toXml() for s in self.s2s.sent))
        self.assertNotIn(marker, logs.text())
        self.assertNotIn(marker, repr(self.successResultOf(self.core.store.dump_tables())))


class SipPrivacyTests(SynchronousTestCase):
    def test_marker_in_no_log_or_table(self) -> None:
        """SIP content in both directions reaches the other side but no log line or table."""
        hub = HubFixture(self)
        peer = hub.peer
        logs = CapturedLogs(self)
        marker = f"MARKER{secrets.token_hex(6)}"
        hub.befriend()
        for body, content_type in (
            (f"{marker} plain", "text/plain;charset=UTF-8"),
            (f"<b>{marker}</b>", "text/html;charset=UTF-8"),
        ):
            response = peer.final(peer.send(peer.request("MESSAGE", body.encode(), content_type)))
            self.assertEqual(response.status, 200)
        outcome = self.successResultOf(
            hub.route(
                TextMessage(
                    sender=addr("john@acme.test"),
                    recipient=addr("alice@sipco.test"),
                    body=RichText([Bold([Text(marker)])]),
                )
            )
        )
        self.assertTrue(outcome.delivered)
        refused = self.successResultOf(
            hub.route(
                TextMessage(
                    sender=addr("mary@acme.test"),
                    recipient=addr("alice@sipco.test"),
                    body=RichText.plain(marker),
                )
            )
        )
        self.assertFalse(refused.delivered)

        delivered = [e for e in hub.delivered("message") if isinstance(e, TextMessage)]
        self.assertTrue(all(marker in e.body.plain_text() for e in delivered))
        self.assertTrue(any(marker.encode() in tx.request.body for tx in peer.of("MESSAGE")))
        self.assertNotIn(marker, logs.text())
        dump = self.successResultOf(hub.core.store.dump_tables())
        self.assertEqual(len(dump["work_records"]), 2)
        self.assertNotIn(marker, repr(dump))

    def test_marker_not_in_work_or_restart_notice(self) -> None:
        """
        A message answered 202 and lost to a kill -9: its work record, the
        recovery's log lines and the MESSAGE telling its sender after the
        restart carry ids and time only, never the content.
        """
        hub = HubFixture(self)
        peer = hub.peer
        logs = CapturedLogs(self)
        marker = f"MARKER{secrets.token_hex(6)}"
        hub.befriend()
        held: Deferred[None] = Deferred()
        hub.alpha.deliver = lambda event: succeed(Queued(held))  # type: ignore[method-assign]
        self.addCleanup(held.callback, None)  # no coroutine left suspended
        request = peer.request("MESSAGE", marker.encode(), "text/plain;charset=UTF-8")
        self.assertEqual(peer.final(peer.send(request)).status, 202)
        hub.crash()
        hub.clock.advance(1)
        hub.start_connector()
        work = hub.router.work
        recovering = work.recover({"sip": hub.connector.tell_not_delivered}, work.now())
        hub.network.flush()
        self.assertEqual(self.successResultOf(recovering), {"told": 1, "failed": 0})
        [notice] = peer.of("MESSAGE")
        self.assertIn(b"not delivered", notice.request.body)
        self.assertNotIn(marker.encode(), notice.request.body)
        self.assertNotIn(marker, logs.text())
        dump = self.successResultOf(hub.core.store.dump_tables())
        self.assertEqual(len(dump["work_records"]), 1)
        self.assertNotIn(marker, repr(dump))

    def test_marker_not_in_stored_subscriptions(self) -> None:
        """
        Presence notes both ways (the peer's NOTIFY to the hub's
        subscription, the hub user's presence to the peer's) reach the
        other side, while the stored subscription rows hold ids only.
        """
        hub = HubFixture(self)
        peer = hub.peer
        logs = CapturedLogs(self)
        marker = f"MARKER{secrets.token_hex(6)}"
        hub.befriend()
        john, alice = addr("john@acme.test"), addr("alice@sipco.test")
        headers = [("Event", "presence"), ("Accept", "application/pidf+xml"), ("Expires", "600")]
        watch = peer.send(peer.request("SUBSCRIBE", headers=headers))
        self.assertEqual(peer.final(watch).status, 200)
        outcome = self.successResultOf(
            hub.route(Presence(sender=john, recipient=alice, availability="away", status=marker))
        )
        self.assertTrue(outcome.delivered)
        self.assertIn(marker.encode(), peer.of("NOTIFY")[-1].request.body)
        peer.answer = lambda tx: tx.reply(200, headers=[("Expires", "600")])
        subscribing = Deferred.fromCoroutine(hub.connector._subscriber.subscribe(john, alice))
        hub.network.flush()
        self.successResultOf(subscribing)
        [subscribe] = peer.of("SUBSCRIBE")
        dialog = peer.uas_dialog(subscribe)
        pidf = build_pidf("sip:alice@sipco.test", Availability.BUSY, marker)
        notify = peer.in_dialog(
            dialog,
            "NOTIFY",
            pidf,
            "application/pidf+xml",
            headers=[("Event", "presence"), ("Subscription-State", "active;expires=600")],
        )
        self.assertEqual(peer.final(notify).status, 200)
        self.assertEqual(hub.delivered("presence")[-1].status, marker)
        dump = self.successResultOf(hub.core.store.dump_tables())
        self.assertEqual(len(dump["sip_subscriptions"]), 2)
        self.assertNotIn(marker, repr(dump))
        self.assertNotIn(marker, logs.text())


class TeamsPrivacyTests(SynchronousTestCase):
    def test_marker_in_no_log_or_table(self) -> None:
        """
        Teams content both ways (messages, an edit, a file name, a reaction
        line, a refused message) reaches the other side but no log line or
        table; neither do the app password nor bot tokens.
        """
        from nextplane.model.events import ContactAccept
        from nextplane.storage.records import DomainAction, DomainPolicy

        from .teams.hub import APP_SECRET, TeamsHub

        logs = CapturedLogs(self)
        marker = f"MARKER{secrets.token_hex(6)}"
        hub = TeamsHub()
        tom, alice = addr("tom@contoso.test"), addr("alice@widget.test")
        hub.install(hub.tom)
        hub.says(hub.tom, "invite alice@widget.test")
        hub.inject(ContactAccept(sender=alice, recipient=tom))
        incoming = TextMessage(sender=alice, recipient=tom, body=RichText.plain(f"in {marker}"))
        hub.inject(incoming)
        theirs = hub.bot_posts(hub.tom)[-1]
        hub.act(hub.channel.react(hub.tom, theirs.id, "like"))
        hub.inject(
            ReactionAdd(sender=alice, recipient=tom, message_id=incoming.message_id, emoji="🎉")
        )
        sent = hub.says(hub.tom, f"out {marker}", html=f"<p><b>{marker}</b></p>")
        hub.act(hub.channel.edit(hub.tom, sent.activity["id"], f"edited {marker}"))
        hub.inject(
            MessageEdit(
                sender=alice,
                recipient=tom,
                message_id=incoming.message_id,
                body=RichText.plain(f"edit {marker}"),
            )
        )
        download = {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": f"{marker}.txt",
            "content": {"downloadUrl": f"{hub.sim.base_url}/drive/x/{marker}.txt"},
        }
        hub.says(hub.tom, "", attachments=[download])
        self.successResultOf(
            hub.store.put_domain_policy(
                DomainPolicy("contoso.test", "widget.test", DomainAction.BLOCK)
            )
        )
        hub.says(hub.tom, f"refused {marker}")
        hub.advance(3)

        messages = [e for e in hub.delivered("message") if isinstance(e, TextMessage)]
        self.assertEqual([marker in e.body.plain_text() for e in messages], [True])
        self.assertIn(marker, repr([a.body for a in hub.bot_posts(hub.tom)]))
        text = logs.text()
        self.assertIn("teams user", text)  # the capture works
        for secret in (marker, APP_SECRET, "sim-bot-token"):
            self.assertNotIn(secret, text)
        dump = self.successResultOf(hub.store.dump_tables())
        self.assertGreaterEqual(len(dump["work_records"]), 4)  # the messages' records
        self.assertNotIn(marker, repr(dump))


class WebexPrivacyTests(SynchronousTestCase):
    def test_marker_in_no_log_or_table(self) -> None:
        """
        Webex content both ways (messages, an edit, a retraction, a file, a
        reaction line, a refused and a too-long message, a card) reaches the
        other side but no log line or table; neither do the bot token nor
        the webhook secret.
        """
        from nextplane.model.events import ContactAccept, ContactRequest
        from nextplane.storage.records import DomainAction, DomainPolicy

        from .webex.hub import BOT_TOKEN, SECRET, WebexHub

        logs = CapturedLogs(self)
        marker = f"MARKER{secrets.token_hex(6)}"
        hub = WebexHub()
        john, alice = addr("john@acme.test"), addr("alice@widget.test")
        hub.says(hub.john, "invite alice@widget.test")
        hub.xmpp.inject(ContactAccept(sender=alice, recipient=john))
        hub.xmpp.inject(
            ContactRequest(sender=addr("bob@widget.test"), recipient=john, display_name=marker)
        )
        incoming = TextMessage(sender=alice, recipient=john, body=RichText.plain(f"in {marker}"))
        hub.xmpp.inject(incoming)
        hub.xmpp.inject(
            MessageEdit(
                sender=alice,
                recipient=john,
                message_id=incoming.message_id,
                body=RichText.plain(f"edit {marker}"),
            )
        )
        hub.xmpp.inject(
            ReactionAdd(sender=alice, recipient=john, message_id=incoming.message_id, emoji="🎉")
        )
        hub.xmpp.inject(
            TextMessage(sender=alice, recipient=john, body=RichText.plain(marker * 2000))
        )
        hub.advance(2)
        sent = hub.says(hub.john, f"out **{marker}**")
        hub.sim.world.user_deletes(hub.john.id, sent.id)
        url = hub.sim.world.upload(f"{marker}.txt", marker.encode())
        hub.sim.world.user_posts(hub.john.id, hub.direct(hub.john), text=marker, files=[url])
        self.successResultOf(
            hub.store.put_domain_policy(
                DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK)
            )
        )
        hub.says(hub.john, f"refused {marker}")
        hub.advance(3)

        messages = [e for e in hub.xmpp.delivered if isinstance(e, TextMessage)]
        self.assertTrue(any(marker in e.body.plain_text() for e in messages))
        self.assertIn(marker, " ".join(hub.bot_texts(hub.john)))
        text = logs.text()
        self.assertIn("webex user", text)  # the capture works
        for secret in (marker, BOT_TOKEN, SECRET):
            self.assertNotIn(secret, text)
        self.assertNotIn(marker, repr(self.successResultOf(hub.store.dump_tables())))
        self.assertEqual(hub.sim.violations, [])
