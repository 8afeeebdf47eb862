"""
Tests for L{nextplane.connectors.xmpp.connector}: stanzas in, events out;
events in, stanzas out; with a recording s2s stand-in, the real router and
an in-memory store.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish
from twisted.words.xish.domish import Element

from nextplane.config import ConfigError, PartnerConfig, Section
from nextplane.connectors.xmpp.connector import (
    MAX_QUEUED_STANZAS,
    PROFILE_TIMEOUT,
    XmppConfig,
    XmppConnector,
    native_key,
    parse_config,
    s2s_settings,
)
from nextplane.interfaces import DeliveryFailed
from nextplane.model.events import (
    ContactAccept,
    MessageEdit,
    Presence,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
)
from nextplane.model.text import RichText
from nextplane.storage.records import DomainAction, DomainPolicy

from ..helpers import CoreFixture, addr


def parse(xml: str) -> Element:
    """Parse one stanza written as text."""
    found: list[Element] = []
    stream = domish.elementStream()
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = found.append
    stream.DocumentEndEvent = lambda: None
    stream.parse(b"<stream xmlns='jabber:server'>" + xml.encode() + b"</stream>")
    [element] = found
    return element


class RecordingS2S(Service):
    """Stands in for S2SService: records what is sent."""

    def __init__(self) -> None:
        self.sent: list[Element] = []
        self.enforced = 0

    def enforce_policy(self) -> int:
        self.enforced += 1
        return 0

    def send(self, stanza: Element) -> Deferred[None]:
        self.sent.append(stanza)
        return succeed(None)

    def inbound_streams(self) -> list[Any]:
        return []


class ConnectorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.core = CoreFixture()
        # The recording 'xmpp' connector of the fixture is replaced by the real one.
        self.connector = XmppConnector(
            sink=self.core.router,
            store=self.core.store,
            clock=self.core.clock,
            tenants=self.core.tenants,
            presence=self.core.router.presence,
        )
        self.s2s = RecordingS2S()
        self.connector.attach(self.s2s)
        self.successResultOf(self.connector.startService())
        self.core.router.add_connector(self.connector)
        self.core.befriend("john@acme.test", "peter@widget.test")

    def receive(self, xml: str) -> None:
        self.connector.stanza_received(parse(xml))

    def sent(self, name: str | None = None) -> list[Element]:
        return [s for s in self.s2s.sent if name is None or s.name == name]

    def test_inbound_message_routed_with_receipt(self) -> None:
        """A chat message becomes a TextMessage for the platform, and the asked-for receipt is sent back."""
        self.receive(
            "<message from='peter@widget.test/phone' to='john@acme.test' type='chat' id='m1'>"
            "<body>hello *there*</body><request xmlns='urn:xmpp:receipts'/></message>"
        )
        [event] = self.core.alpha.delivered
        assert isinstance(event, TextMessage)
        self.assertEqual(event.body.plain_text(), "hello there")
        self.assertEqual(event.sender, addr("peter@widget.test"))
        [receipt] = self.sent("message")
        self.assertEqual(receipt["to"], "peter@widget.test/phone")
        self.assertEqual(receipt.firstChildElement().name, "received")
        self.assertEqual(receipt.firstChildElement()["id"], "m1")

    def test_refused_message_answered_with_stanza_error(self) -> None:
        """A message the router refuses is answered with a stanza error carrying the reason."""
        self.receive(
            "<message from='stranger@widget.test' to='john@acme.test' type='chat' id='x1'>"
            "<body>hi</body></message>"
        )
        self.assertEqual(self.core.alpha.delivered, [])
        [error] = self.sent("message")
        self.assertEqual(error["type"], "error")
        self.assertEqual(error["id"], "x1")
        text = "".join(str(t) for e in error.elements() for t in e.elements() if t.name == "text")
        self.assertIn("not an accepted contact", text)

    def test_blocked_domain(self) -> None:
        """A blocked domain is refused at stream level by the policy hook and its messages get not-allowed."""
        self.successResultOf(
            self.core.store.put_domain_policy(
                DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK)
            )
        )
        enforced = self.s2s.enforced
        self.successResultOf(self.connector.refresh_policy())
        # Streams already up with the domain are ended by the s2s layer.
        self.assertEqual(self.s2s.enforced, enforced + 1)
        self.assertIn("block list", self.connector.refusal_reason("acme.test", "widget.test") or "")
        self.assertIsNone(self.connector.refusal_reason("beta.test", "widget.test"))
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='b1'><body>x</body></message>"
        )
        [error] = self.sent("message")
        conditions = [c.name for e in error.elements() for c in e.elements()]
        self.assertIn("not-allowed", conditions)

    def test_inbound_edit_finds_original(self) -> None:
        """A XEP-0308 correction is mapped to the hub id of the message it corrects."""
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='m1'><body>teh</body></message>"
        )
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='m2'><body>the</body>"
            "<replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>"
        )
        original, edit = self.core.alpha.delivered
        assert isinstance(original, TextMessage) and isinstance(edit, MessageEdit)
        self.assertEqual(edit.message_id, original.message_id)

    def test_ids_scoped_per_conversation(self) -> None:
        """The same stanza id in two conversations maps to two different hub messages."""
        self.core.befriend("mary@acme.test", "peter@widget.test")
        for to in ("john@acme.test", "mary@acme.test"):
            self.receive(
                f"<message from='peter@widget.test' to='{to}' type='chat' id='1'><body>x</body></message>"
            )
        first, second = self.core.alpha.delivered
        self.assertNotEqual(first.message_id, second.message_id)  # type: ignore[union-attr]

    def test_inbound_reactions_are_diffed(self) -> None:
        """XEP-0444 full reaction sets become add and remove events."""
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='m1'><body>x</body></message>"
        )
        reactions = "<reactions xmlns='urn:xmpp:reactions:0' id='m1'>{}</reactions>"
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='r1'>"
            + reactions.format("<reaction>👍</reaction>")
            + "</message>"
        )
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='r2'>"
            + reactions.format("<reaction>🎉</reaction>")
            + "</message>"
        )
        kinds = [
            (type(e).__name__, getattr(e, "emoji", None)) for e in self.core.alpha.delivered[1:]
        ]
        self.assertEqual(
            kinds, [("ReactionAdd", "👍"), ("ReactionAdd", "🎉"), ("ReactionRemove", "👍")]
        )

    def test_outbound_message_and_edit(self) -> None:
        """A hub message goes out with its id as stanza id; a later edit refers to that id."""
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        message = TextMessage(sender=john, recipient=peter, body=RichText.plain("hi"))
        self.assertTrue(self.successResultOf(self.core.router.route(message)).delivered)
        edit = MessageEdit(
            sender=john, recipient=peter, message_id=message.message_id, body=RichText.plain("hey")
        )
        self.assertTrue(self.successResultOf(self.core.router.route(edit)).delivered)
        first, second = self.sent("message")
        self.assertEqual(first["id"], message.message_id)
        self.assertEqual((first["from"], first["to"]), ("john@acme.test", "peter@widget.test"))
        replace = [c for c in second.elements() if c.name == "replace"]
        self.assertEqual(replace[0]["id"], message.message_id)

    def test_outbound_size_limit(self) -> None:
        """
        A message or edit over C{max_message_chars} is refused, nothing is
        sent, and the sender is told how long it was (never what).
        """
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        fits = TextMessage(sender=john, recipient=peter, body=RichText.plain("x" * 50_000))
        self.assertTrue(self.successResultOf(self.core.router.route(fits)).delivered)
        for event in (
            TextMessage(sender=john, recipient=peter, body=RichText.plain("x" * 50_001)),
            MessageEdit(
                sender=john,
                recipient=peter,
                message_id=fits.message_id,
                body=RichText.plain("y" * 60_000),
            ),
        ):
            outcome = self.successResultOf(self.core.router.route(event))
            self.assertEqual(outcome.condition, "policy-violation")
            self.assertIn("too long for XMPP", outcome.reason)
        self.assertEqual(len(self.sent("message")), 1)

    def test_outbound_reactions_send_full_sets(self) -> None:
        """Outbound reaction events are sent as complete XEP-0444 sets."""
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        message = TextMessage(sender=john, recipient=peter, body=RichText.plain("hi"))
        self.successResultOf(self.core.router.route(message))
        for event in (
            ReactionAdd(sender=john, recipient=peter, message_id=message.message_id, emoji="👍"),
            ReactionAdd(sender=john, recipient=peter, message_id=message.message_id, emoji="🎉"),
            ReactionRemove(sender=john, recipient=peter, message_id=message.message_id, emoji="👍"),
        ):
            self.assertTrue(self.successResultOf(self.core.router.route(event)).delivered)
        sets = [
            sorted(str(r) for c in s.elements() if c.name == "reactions" for r in c.elements())
            for s in self.sent("message")[1:]
        ]
        self.assertEqual(sets, [["👍"], ["🎉", "👍"], ["🎉"]])

    def test_edit_of_unknown_message_fails_clearly(self) -> None:
        """Editing a message XMPP never saw fails with item-not-found, told to the sender."""
        edit = MessageEdit(
            sender=addr("john@acme.test"),
            recipient=addr("peter@widget.test"),
            message_id="never-sent",
            body=RichText.plain("x"),
        )
        outcome = self.successResultOf(self.core.router.route(edit))
        self.assertEqual(outcome.condition, "item-not-found")
        self.assertIn("never reached XMPP", outcome.reason)

    def test_send_failure_is_delivery_failure(self) -> None:
        """When s2s cannot reach the peer, the router gets the s2s condition."""
        self.s2s.send = lambda stanza: Deferred.fromCoroutine(
            _raise(DeliveryFailed("remote-server-not-found", "no route"))
        )  # type: ignore[method-assign]
        message = TextMessage(
            sender=addr("john@acme.test"),
            recipient=addr("peter@widget.test"),
            body=RichText.plain("x"),
        )
        outcome = self.successResultOf(self.core.router.route(message))
        self.assertEqual(outcome.condition, "remote-server-not-found")

    def test_iq_vcard_disco_ping(self) -> None:
        """vCard, disco#info and ping IQs to hub users and domains are answered."""
        self.receive(
            "<iq from='peter@widget.test/a' to='john@acme.test' type='get' id='v1'>"
            "<vCard xmlns='vcard-temp'/></iq>"
        )
        self.receive(
            "<iq from='widget.test' to='acme.test' type='get' id='d1'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        )
        self.receive(
            "<iq from='widget.test' to='acme.test' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
        answers = {s["id"]: s for s in self.sent("iq")}
        self.assertEqual({a["type"] for a in answers.values()}, {"result"})
        self.assertIn("john", answers["v1"].toXml())
        self.assertIn("urn:xmpp:ping", answers["d1"].toXml())

    def test_order_kept_per_conversation(self) -> None:
        """Stanzas of one conversation are routed in arrival order even when the store is slow."""
        held: list[Deferred[Any]] = []
        original = self.core.store.get_or_create_session

        def slow(*args: Any) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            held.append(d)
            d.addCallback(lambda _: original(*args))
            return d

        self.core.store.get_or_create_session = slow  # type: ignore[method-assign]
        for n in range(3):
            self.receive(
                f"<message from='peter@widget.test' to='john@acme.test' type='chat' id='o{n}'>"
                f"<body>{n}</body></message>"
            )
        while held:
            held.pop(0).callback(None)
        bodies = [e.body.plain_text() for e in self.core.alpha.delivered]  # type: ignore[union-attr]
        self.assertEqual(bodies, ["0", "1", "2"])

    def slow_sessions(self) -> list[Deferred[Any]]:
        """Make session look-ups wait until the test fires them, in any order."""
        held: list[Deferred[Any]] = []
        original = self.core.store.get_or_create_session

        def slow(*args: Any) -> Deferred[Any]:
            d: Deferred[Any] = Deferred()
            held.append(d)
            d.addCallback(lambda _: original(*args))
            return d

        self.core.store.get_or_create_session = slow  # type: ignore[method-assign]
        return held

    def test_order_kept_across_resources(self) -> None:
        """
        A user's stanzas keep their order whether they come from the bare or
        a full JID: Prosody sends 'subscribed' from the bare JID and at once
        the user's presence from a full one, which the router only lets
        through once the contact is accepted.
        """
        self.successResultOf(self.core.befriend("john@acme.test", "peter@widget.test", "pending"))
        held = self.slow_sessions()
        self.receive("<presence from='peter@widget.test' to='john@acme.test' type='subscribed'/>")
        self.receive("<presence from='peter@widget.test/phone' to='john@acme.test'/>")
        while held:
            held.pop().callback(None)  # the latest first: only order can save us
        self.assertEqual(
            [e.kind for e in self.core.alpha.delivered], ["contact_accept", "presence"]
        )

    def test_stop_waits_for_stanzas_in_hand(self) -> None:
        """
        Stopping the connector waits until the stanzas already received are
        routed, so they never reach a store that stopped after it.
        """
        held = self.slow_sessions()
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='s1'>"
            "<body>last words</body></message>"
        )
        stopped = self.connector.stopService()
        self.assertNoResult(stopped)
        while held:
            held.pop(0).callback(None)
        self.successResultOf(stopped)
        self.assertEqual([e.kind for e in self.core.alpha.delivered], ["message"])

    def test_flood_of_one_pair_refused(self) -> None:
        """
        Beyond L{MAX_QUEUED_STANZAS} waiting stanzas of one pair, the next is
        answered with C{resource-constraint} instead of queued.
        """
        busy: Deferred[None] = Deferred()
        self.connector._lanes.submit(("peter@widget.test", "john@acme.test"), lambda: busy)
        for index in range(MAX_QUEUED_STANZAS - 1):
            self.receive(
                f"<message from='peter@widget.test' to='john@acme.test' type='chat' id='f{index}'>"
                "<body>hi</body></message>"
            )
        self.assertEqual(self.sent("message"), [])
        self.receive(
            "<message from='peter@widget.test' to='john@acme.test' type='chat' id='over'>"
            "<body>hi</body></message>"
        )
        [error] = self.sent("message")
        self.assertEqual((error["type"], error["id"]), ("error", "over"))
        self.assertEqual(error.firstChildElement().firstChildElement().name, "resource-constraint")
        busy.callback(None)


class PresenceTests(SynchronousTestCase):
    setUp = ConnectorTests.setUp
    receive = ConnectorTests.receive
    sent = ConnectorTests.sent

    def presences(self) -> list[Element]:
        return self.sent("presence")

    def test_probe_answered_for_contacts(self) -> None:
        """A probe from an accepted contact gets the hub user's latest presence."""
        self.core.router.presence.record(
            Presence(
                sender=addr("john@acme.test"),
                recipient=addr("x@w.test"),
                availability="dnd",
                status="deep work",
            )
        )
        self.receive("<presence from='peter@widget.test' to='john@acme.test' type='probe'/>")
        [presence] = self.presences()
        self.assertEqual(presence["to"], "peter@widget.test")
        self.assertIn("<show>dnd</show>", presence.toXml())
        self.assertIn("deep work", presence.toXml())

    def test_unknown_presence_is_not_offline(self) -> None:
        """With nothing reported, the answer is away with a note, never unavailable."""
        self.receive("<presence from='peter@widget.test' to='john@acme.test' type='probe'/>")
        [presence] = self.presences()
        self.assertNotEqual(presence.getAttribute("type"), "unavailable")
        self.assertIn("not shared", presence.toXml())

    def test_probe_from_stranger_ignored(self) -> None:
        """A probe from someone who is not an accepted contact learns nothing."""
        self.receive("<presence from='stranger@widget.test' to='john@acme.test' type='probe'/>")
        self.assertEqual(self.presences(), [])

    def test_presence_follows_acceptance(self) -> None:
        """Accepting a subscription sends subscribed, then the current presence."""
        self.receive("<presence from='ann@widget.test' to='john@acme.test' type='subscribe'/>")
        accept = ContactAccept(sender=addr("john@acme.test"), recipient=addr("ann@widget.test"))
        self.assertTrue(self.successResultOf(self.core.router.route(accept)).delivered)
        types = [p.getAttribute("type") for p in self.presences()]
        self.assertEqual(types, ["subscribed", None])


class ProfileFetchTests(SynchronousTestCase):
    setUp = ConnectorTests.setUp
    receive = ConnectorTests.receive
    sent = ConnectorTests.sent

    def fetch(self) -> Deferred[Any]:
        d = self.connector.fetch_profile(addr("john@acme.test"), addr("peter@widget.test"))
        [iq] = self.sent("iq")
        self.assertEqual(
            (iq["type"], iq["from"], iq["to"]), ("get", "john@acme.test", "peter@widget.test")
        )
        self.iq_id = iq["id"]
        return d

    def test_vcard_result(self) -> None:
        """A vCard-temp result becomes the contact's profile."""
        d = self.fetch()
        self.assertNoResult(d)
        self.receive(
            f"<iq from='peter@widget.test' to='john@acme.test' type='result' id='{self.iq_id}'>"
            "<vCard xmlns='vcard-temp'><FN>Peter Smith</FN><TITLE>Engineer</TITLE>"
            "<PHOTO><EXTVAL>https://img.test/p.png</EXTVAL></PHOTO></vCard></iq>"
        )
        profile = self.successResultOf(d)
        self.assertEqual(
            (profile.display_name, profile.title, profile.avatar_url),
            ("Peter Smith", "Engineer", "https://img.test/p.png"),
        )
        self.assertEqual([s for s in self.sent("iq") if s.getAttribute("type") == "error"], [])

    def test_answer_not_queued_behind_waiting_stanza(self) -> None:
        """
        The vCard answer is taken at once even while a stanza from the same
        contact to the same user is still being handled (e.g. the first
        message, whose delivery is waiting for this very profile).
        """
        d = self.fetch()
        busy: Deferred[None] = Deferred()
        self.connector._lanes.submit(("peter@widget.test", "john@acme.test"), lambda: busy)
        self.receive(
            f"<iq from='peter@widget.test' to='john@acme.test' type='result' id='{self.iq_id}'>"
            "<vCard xmlns='vcard-temp'><FN>Peter Smith</FN></vCard></iq>"
        )
        self.assertEqual(self.successResultOf(d).display_name, "Peter Smith")
        busy.callback(None)

    def test_error_and_timeout(self) -> None:
        """An IQ error or no answer within the timeout gives no profile."""
        d = self.fetch()
        self.receive(
            f"<iq from='peter@widget.test' to='john@acme.test' type='error' id='{self.iq_id}'>"
            "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "</error></iq>"
        )
        self.assertIsNone(self.successResultOf(d))
        self.s2s.sent.clear()
        late = self.fetch()
        self.core.clock.advance(PROFILE_TIMEOUT)
        self.assertIsNone(self.successResultOf(late))


async def _raise(error: Exception) -> None:
    raise error


class SettingsTests(SynchronousTestCase):
    def test_partners_feed_settings(self) -> None:
        """XMPP partners give static routes and certificate requirements."""
        settings = s2s_settings(
            XmppConfig(dialback_secret="s" * 20),
            [
                PartnerConfig("bank.test", "xmpp", "10.0.0.1:5269", True),
                PartnerConfig("sip.test", "sip", "10.0.0.2:5061", True),
            ],
        )
        self.assertEqual(dict(settings.static_routes), {"bank.test": "10.0.0.1:5269"})
        self.assertEqual(settings.secure_domains, frozenset({"bank.test"}))
        self.assertEqual(settings.dialback_secret, b"s" * 20)

    def test_native_key(self) -> None:
        """Native ids are scoped by chat session."""
        from nextplane.model.address import ChatSessionId

        self.assertEqual(native_key(ChatSessionId("abc"), "m1"), "abc:m1")


class ConfigTests(SynchronousTestCase):
    """
    C{[connectors.xmpp]} limits.
    """

    def parse(self, **data: object) -> XmppConfig:
        return parse_config(Section(data, "connectors.xmpp", {}))

    def test_message_size(self) -> None:
        """C{max_message_chars}: 50,000 by default, configurable."""
        self.assertEqual(self.parse().max_message_chars, 50_000)
        self.assertEqual(self.parse(max_message_chars=2000).max_message_chars, 2000)

    def test_limit_defaults(self) -> None:
        """Without settings: 60 s negotiation, 3600 s inbound idle, 20 streams per address."""
        config = self.parse()
        self.assertEqual(
            (config.negotiation_timeout, config.inbound_idle_timeout),
            (60.0, 3600.0),
        )
        settings = s2s_settings(config, [])
        self.assertEqual(settings.limits.negotiation_timeout, 60.0)
        self.assertEqual(settings.limits.idle_timeout, 3600.0)
        self.assertEqual(settings.max_streams_per_address, 20)

    def test_limits_reach_the_streams(self) -> None:
        """The settings become the s2s service's stream limits."""
        config = self.parse(
            negotiation_timeout=30, inbound_idle_timeout=900, max_streams_per_address=4
        )
        settings = s2s_settings(config, [])
        self.assertEqual(
            (
                settings.limits.negotiation_timeout,
                settings.limits.idle_timeout,
                settings.max_streams_per_address,
            ),
            (30.0, 900.0, 4),
        )

    def test_bad_limits_are_one_line_errors(self) -> None:
        """Out-of-range values name the key."""
        for key, value in (
            ("negotiation_timeout", 0),
            ("inbound_idle_timeout", 1),
            ("max_streams_per_address", 0),
            ("max_streams_per_address", "many"),
        ):
            with self.assertRaises(ConfigError) as caught:
                self.parse(**{key: value})
            self.assertIn(f"connectors.xmpp.{key}", str(caught.exception))
            self.assertNotIn("\n", str(caught.exception))
