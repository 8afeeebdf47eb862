"""
The Webex endpoint's security and availability: signature first, replays
routed once, 2xx at once even when the destination is slow, the webhooks
re-enabled after Webex disabled them, rate limits waited out.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex.signature import sign
from nextplane.model.events import ContactAccept, TextMessage
from nextplane.model.text import RichText, Text
from nextplane.testing.webex_sim import Fault

from .hub import WebexHub, addr

PETER = addr("peter@widget.test")
JOHN = addr("john@acme.test")


def connected() -> WebexHub:
    hub = WebexHub()
    hub.says(hub.john, f"invite {PETER}")
    hub.xmpp.inject(ContactAccept(sender=PETER, recipient=JOHN))
    hub.advance(1)
    return hub


class SignatureTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = connected()
        # Capture a genuine delivery without letting it reach the hub.
        self.sender = self.hub.sim.world.sender
        self.hub.sim.world.sender = None
        self.message = self.hub.sim.world.user_posts(
            self.hub.john.id, self.hub.direct(self.hub.john), text="secret plan"
        )
        hook = next(
            h
            for h in self.hub.sim.state.webhooks.values()
            if h.resource == "messages" and h.event == "created"
        )
        from nextplane.testing.webex_sim.deliveries import envelope

        data = {
            "id": self.message.id,
            "roomId": self.message.room_id,
            "personId": self.hub.john.id,
            "personEmail": "john@acme.test",
            "roomType": "direct",
        }
        self.body = envelope(hook, self.hub.sim.state.org_id, self.hub.john.id, data)

    def sent(self) -> list[TextMessage]:
        return self.hub.xmpp.of_kind(TextMessage.kind)  # type: ignore[return-value]

    def test_unsigned(self) -> None:
        """
        No signature: 401, nothing routed, nothing fetched.
        """
        raw, _ = self.hub.signed(self.body)
        calls = len(self.hub.sim.calls)
        self.assertEqual(self.hub.post_raw(raw, None), 401)
        self.hub.advance(1)
        self.assertEqual(self.sent(), [])
        self.assertEqual(len(self.hub.sim.calls), calls)

    def test_forged(self) -> None:
        """
        A signature with another secret: 401, nothing routed.
        """
        raw, _ = self.hub.signed(self.body)
        self.assertEqual(self.hub.post_raw(raw, sign("not-the-secret-at-all", raw)), 401)
        self.assertEqual(
            self.hub.post_raw(raw + b" ", sign("webex-hook-secret-0123456789", raw)), 401
        )
        self.hub.advance(1)
        self.assertEqual(self.sent(), [])
        self.assertEqual(self.hub.webex.webhook.refused, {"signature": 2})

    def test_replay_routed_once(self) -> None:
        """
        The same delivery three times: 200 each time, routed once.
        """
        raw, signature = self.hub.signed(self.body)
        for _ in range(3):
            self.assertEqual(self.hub.post_raw(raw, signature), 200)
        self.hub.advance(1)
        self.assertEqual(len(self.sent()), 1)
        self.assertEqual(self.hub.webex.webhook.replays, 2)

    def test_replay_after_restart_routed_once(self) -> None:
        """
        The claim is in the store: a new hub process on the same store
        routes a replay of what the previous one routed not again (nor does
        its catch-up), and the work record was closed as delivered.
        """
        raw, signature = self.hub.signed(self.body)
        self.assertEqual(self.hub.post_raw(raw, signature), 200)
        self.hub.advance(1)
        self.assertEqual(len(self.sent()), 1)
        self.successResultOf(self.hub.webex.stopService())
        self.hub.sim.world.sender = self.sender
        again = WebexHub(store=self.hub.store, sim=self.hub.sim, clock=self.hub.clock)
        self.assertEqual(again.post_raw(raw, signature), 200)
        again.advance(1)
        self.assertEqual(again.xmpp.of_kind(TextMessage.kind), [])
        self.assertEqual(again.webex.webhook.replays, 1)
        self.assertEqual(self.successResultOf(again.webex.caught_up), 0)  # type: ignore[arg-type]
        self.assertEqual(self.successResultOf(self.hub.store.unfinished_work()), [])


class AvailabilityTests(SynchronousTestCase):
    def test_answered_while_destination_slow(self) -> None:
        """
        The destination holds the message: the delivery was still answered
        200 at once.
        """
        hub = connected()
        hub.xmpp.hold = True
        hub.says(hub.john, "slow")
        attempts = [a for a in hub.sim.world.sender.attempts if a.resource == "messages"]  # type: ignore[union-attr]
        self.assertEqual(attempts[-1].status, 200)
        self.assertEqual(len(hub.xmpp.pending), 1)
        hub.xmpp.release()

    def test_unfinished_told_after_restart(self) -> None:
        """
        A message still held by its destination when the hub went away:
        after the restart its sender is told, in a thread on it, that it
        was not delivered (by time, never content), and the record closed.
        """
        hub = connected()
        hub.xmpp.hold = True
        sent = hub.says(hub.john, "held secret")
        again = WebexHub(store=hub.store, sim=hub.sim, clock=hub.clock)
        counts = self.successResultOf(
            again.router.work.recover(
                {"webex": again.webex.tell_not_delivered}, again.router.work.now()
            )
        )
        self.assertEqual(counts, {"told": 1, "failed": 0})
        notice = hub.sim.state.room_messages(hub.direct(hub.john))[-1]
        self.assertEqual((notice.person_id, notice.parent_id), (hub.bot.id, sent.id))
        self.assertIn("was not delivered", notice.text or "")
        self.assertNotIn("held secret", notice.text or "")
        self.assertEqual(self.successResultOf(hub.store.unfinished_work()), [])
        self.assertEqual(hub.sim.violations, [])
        hub.xmpp.release()

    def test_disabled_webhooks_reenabled_at_start(self) -> None:
        """
        While the hub was down Webex disabled its webhooks (100 failures in
        5 minutes); at the next start the hub re-enables them, catches up
        on the message posted in between (listing the direct space), once,
        and new messages are heard again.
        """
        hub = connected()
        first = hub.webex
        hub.advance(1)
        self.successResultOf(first.stopService())
        for hook in hub.sim.state.webhooks.values():
            hook.status = "disabled"
        hub.sim.world.user_posts(hub.john.id, hub.direct(hub.john), text="lost")
        hub.advance(1)
        self.assertEqual(hub.xmpp.of_kind(TextMessage.kind), [])
        # A new hub process on the same store and Webex.
        again = WebexHub(store=hub.store, sim=hub.sim, clock=hub.clock)
        self.assertEqual(len(again.webex.keeper.reenabled), 6)  # type: ignore[union-attr]
        self.assertEqual({h.status for h in hub.sim.state.webhooks.values()}, {"active"})
        self.assertEqual(self.successResultOf(again.webex.caught_up), 1)  # type: ignore[arg-type]
        caught = again.xmpp.of_kind(TextMessage.kind)
        self.assertEqual([m.body.plain_text() for m in caught], ["lost"])  # type: ignore[attr-defined]
        again.says(again.john, "heard again")
        self.assertEqual(len(again.xmpp.of_kind(TextMessage.kind)), 2)
        # A third start catches up on nothing: the claims are in the store.
        self.successResultOf(again.webex.stopService())
        third = WebexHub(store=hub.store, sim=hub.sim, clock=hub.clock)
        self.assertEqual(self.successResultOf(third.webex.caught_up), 0)  # type: ignore[arg-type]
        self.assertEqual(third.xmpp.of_kind(TextMessage.kind), [])
        self.assertEqual(hub.sim.violations, [])


class LimitTests(SynchronousTestCase):
    def test_retry_after(self) -> None:
        """
        A 429 with Retry-After 30 and a 423 without one (15 s): the message
        goes out after both waits.
        """
        hub = connected()
        hub.sim.inject("Create a Message", Fault(429, "30"), Fault(423))
        hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=RichText([Text("later")])))
        hub.advance(40)
        self.assertNotIn("later", " ".join(hub.bot_texts(hub.john)))
        hub.advance(10)
        self.assertIn("later", hub.bot_texts(hub.john)[-1])

    def test_too_long_split(self) -> None:
        """
        A message over 7,439 bytes is split; one that cannot be split is
        refused and the sender told.
        """
        hub = connected()
        words = " ".join(["word"] * 3000)
        hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=RichText([Text(words)])))
        hub.advance(1)
        pieces = [t for t in hub.bot_texts(hub.john) if "word" in t]
        self.assertGreater(len(pieces), 1)
        self.assertTrue(all(len(t.encode()) <= 7439 for t in pieces))
        d = hub.xmpp.inject(
            TextMessage(sender=PETER, recipient=JOHN, body=RichText([Text("x" * 9000)]))
        )
        hub.advance(20)
        outcome = self.successResultOf(d)
        self.assertFalse(outcome.delivered)
        self.assertIn("too long", outcome.reason)
