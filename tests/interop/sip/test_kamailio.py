"""
The hub federating with Kamailio 5.6 over mutual TLS, sipp behind it.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.connectors.sip.presence import build_pidf
from nextplane.model.address import Address
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactRemove,
    ContactRequest,
    Presence,
    TextMessage,
    TypingState,
)
from nextplane.model.text import RichText
from nextplane.storage.records import ContactState
from tests.interop.harness import sipp

from .world import HUB_USER, REMOTE_USER, SipWorld


class KamailioMessageTests(TestCase):
    """
    Pager MESSAGE both ways through Kamailio.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_message_to_hub(self) -> Any:
        """
        sipp sends a MESSAGE over TCP to Kamailio, which relays it over
        mutual TLS to the hub; the hub user gets it, sipp gets 200.
        """
        world = yield SipWorld.create(self)
        hub = world.hub_()
        run = yield world.sipp_uac("to-hub", sipp.message_uac("Grüße von sipp ✓ marker-1"))
        yield world.finished(run)
        event = yield world.check(hub.wait_for_event(kind="message"))
        assert isinstance(event, TextMessage)
        self.assertEqual(event.body.plain_text(), "Grüße von sipp ✓ marker-1")
        self.assertEqual(event.sender, Address.parse(REMOTE_USER))
        self.assertEqual(event.recipient, hub.address(HUB_USER))

    @defer.inlineCallbacks
    def test_message_from_hub(self) -> Any:
        """
        The hub user's message goes to Kamailio (found through SRV) over
        mutual TLS with the tenant's certificate, and on to sipp.
        """
        world = yield SipWorld.create(self)
        yield self.send_to_sipp(world, "from-hub", "Hallo von nextplane ✓ marker-2", "marker-2")
        self.assertTrue(world.env.dns.asked("_sipfederationtls._tcp.b.test", "SRV"))

    @defer.inlineCallbacks
    def send_to_sipp(self, world: SipWorld, name: str, text: str, marker: str) -> Any:
        """
        The hub user sends C{text} to the sipp UAS behind Kamailio, which
        expects C{marker}; the delivery must succeed.
        """
        hub = world.hub_()
        run = yield world.sipp_uas(name, sipp.message_uas([marker]))
        outcome = yield world.check(
            hub.inject(
                TextMessage(
                    sender=hub.address(HUB_USER),
                    recipient=Address.parse(REMOTE_USER),
                    body=RichText.plain(text),
                )
            )
        )
        self.assertTrue(outcome.delivered, outcome.reason)
        yield world.finished(run)

    @defer.inlineCallbacks
    def test_message_by_static_route(self) -> Any:
        """
        With C{b.test} in C{[connectors.sip.routes]} and no SRV record for
        it, the hub user's message is located as SIP without DNS and goes
        along the route to Kamailio (issue 14).
        """
        world = yield SipWorld.create(self, sip={"routes": {"b.test": "sip.b.test:5061"}})
        world.env.zone.remove("_sipfederationtls._tcp.b.test")
        yield self.send_to_sipp(world, "by-route", "along the route marker-r", "marker-r")
        self.assertFalse(world.env.dns.asked("_sipfederationtls._tcp.b.test", "SRV"))


class KamailioPolicyTests(TestCase):
    """
    The tenant's domain rules, answered over the wire.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_blocked_domain(self) -> Any:
        """
        A blocked domain's MESSAGE gets 403 with the rule in the reason
        phrase, relayed back by Kamailio; nothing reaches the hub user.
        """
        world = yield SipWorld.create(self)
        hub = world.hub_()
        yield hub.block("b.test")
        run = yield world.sipp_uac(
            "blocked",
            sipp.message_uac("blocked marker-3", status=403, response_patterns=["block list"]),
        )
        yield world.finished(run)
        self.assertEqual(hub.delivered(), [])


class KamailioPresenceTests(TestCase):
    """
    SUBSCRIBE/NOTIFY for presence both ways through Kamailio.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_watcher_asks_and_both_see_presence(self) -> Any:
        """
        A SIP user who is not a contact subscribes to the hub user: a
        ContactRequest for the hub user, NOTIFY pending. The hub user
        accepts: NOTIFY active, then their presence as NOTIFY; and the hub
        subscribes back, so the SIP user's presence reaches the hub user.
        Both subscriptions end with NOTIFY terminated.
        """
        world = yield SipWorld.create(self, befriend=False)
        hub = world.hub_()
        bob, alice = hub.address(HUB_USER), Address.parse(REMOTE_USER)
        notifier = yield world.sipp_uas(
            "notifier", sipp.notify_uas(sipp_pidf("busy", "In a meeting"))
        )
        watcher = yield world.sipp_uac(
            "watcher",
            sipp.subscribe_uac(
                [
                    ["Subscription-State: pending"],
                    ["Subscription-State: active", "<status/>"],
                    ["Subscription-State: active", "<basic>open</basic>", "rpid:away", "Back at 3"],
                ]
            ),
        )
        request = yield world.check(hub.wait_for_event(kind="contact_request"))
        self.assertEqual(request.sender, alice)
        outcome = yield hub.inject(ContactAccept(sender=bob, recipient=alice))
        self.assertTrue(outcome.delivered, outcome.reason)
        outcome = yield hub.inject(
            Presence(sender=bob, recipient=alice, availability="away", status="Back at 3")
        )
        self.assertTrue(outcome.delivered, outcome.reason)
        yield world.finished(watcher)
        presence = yield world.check(hub.wait_for_event(kind="presence"))
        self.assertEqual((presence.sender, presence.availability), (alice, Availability.BUSY))
        self.assertEqual(presence.status, "In a meeting")
        state = yield hub.contact_state(HUB_USER, REMOTE_USER)
        self.assertEqual(state, ContactState.ACCEPTED)
        outcome = yield hub.inject(ContactRemove(sender=bob, recipient=alice))
        self.assertTrue(outcome.delivered, outcome.reason)
        yield world.finished(notifier)

    @defer.inlineCallbacks
    def test_hub_user_asks(self) -> Any:
        """
        The hub user's contact request is a SUBSCRIBE; the SIP side's NOTIFY
        active is the acceptance and its PIDF document the presence.
        """
        world = yield SipWorld.create(self, befriend=False)
        hub = world.hub_()
        bob, alice = hub.address(HUB_USER), Address.parse(REMOTE_USER)
        notifier = yield world.sipp_uas(
            "notifier",
            sipp.notify_uas(
                sipp_pidf("dnd", "Focusing"),
                subscribe_patterns=["Event: presence", "Accept: application/pidf\\+xml"],
            ),
        )
        outcome = yield world.check(hub.inject(ContactRequest(sender=bob, recipient=alice)))
        self.assertTrue(outcome.delivered, outcome.reason)
        accept = yield world.check(hub.wait_for_event(kind="contact_accept"))
        self.assertEqual(accept.sender, alice)
        presence = yield world.check(hub.wait_for_event(kind="presence"))
        self.assertEqual((presence.availability, presence.status), (Availability.DND, "Focusing"))
        state = yield hub.contact_state(HUB_USER, REMOTE_USER)
        self.assertEqual(state, ContactState.ACCEPTED)
        outcome = yield hub.inject(ContactRemove(sender=bob, recipient=alice))
        yield world.finished(notifier)

    @defer.inlineCallbacks
    def test_hub_subscription_renewed_after_restart(self) -> Any:
        """
        Issue 16: the hub's subscription survives a restart. The restarted
        hub refreshes it in its dialog through Kamailio (no 481, no new
        SUBSCRIBE), and the unsubscribe at the hub user's removal still
        reaches the notifier.
        """
        world = yield SipWorld.create(self, befriend=False)
        hub = world.hub_()
        bob, alice = hub.address(HUB_USER), Address.parse(REMOTE_USER)
        notifier = yield world.sipp_uas(
            "notifier", sipp.notify_uas(sipp_pidf("dnd", "Focusing"), refreshes=1)
        )
        outcome = yield world.check(hub.inject(ContactRequest(sender=bob, recipient=alice)))
        self.assertTrue(outcome.delivered, outcome.reason)
        yield world.check(hub.wait_for_event(kind="presence"))
        yield hub.stop()
        yield world.check(hub.start())
        yield world.check(hub.wait_for_log("Renewed the presence subscription of bob@a.test"))
        state = yield hub.contact_state(HUB_USER, REMOTE_USER)
        self.assertEqual(state, ContactState.ACCEPTED)
        outcome = yield world.check(hub.inject(ContactRemove(sender=bob, recipient=alice)))
        self.assertTrue(outcome.delivered, outcome.reason)
        yield world.finished(notifier)


class KamailioSessionTests(TestCase):
    """
    A Skype for Business style IM session through Kamailio.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_invite_session(self) -> Any:
        """
        INVITE with the first message in ms-text-format (the hub answers
        Supported: ms-text-format), ACK, MESSAGE and KeyboardActivity INFO
        in the dialog, BYE.
        """
        world = yield SipWorld.create(self)
        hub = world.hub_()
        run = yield world.sipp_uac(
            "session", sipp.invite_uac("Erste Nachricht ✓", "Zweite Nachricht")
        )
        yield world.finished(run)
        texts = [e.body.plain_text() for e in hub.delivered("message")]  # type: ignore[attr-defined]
        self.assertEqual(texts, ["Erste Nachricht ✓", "Zweite Nachricht"])
        [typing] = hub.delivered("typing")
        self.assertEqual(typing.state, TypingState.COMPOSING)  # type: ignore[attr-defined]
        self.assertEqual(hub.sip.health()["sessions"], 0)


def sipp_pidf(availability: str, note: str) -> str:
    """
    A PIDF document for alice@b.test (what sipp sends as notifier).
    """
    return build_pidf("sip:alice@b.test", Availability(availability), note).decode()
