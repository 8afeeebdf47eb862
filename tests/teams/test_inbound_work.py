"""
Tests for L{nextplane.connectors.teams.inbound_work}: a Teams user's
message is answered once its work record is durable, handled once (also
when the channel sends it again after a restart), and after a restart an
unfinished one gets a reply saying it was not delivered, never its content.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.inbound_work import ACK_BUDGET, SOURCE
from nextplane.model.events import ContactAccept
from nextplane.storage.records import WorkRecord, WorkState

from .hub import CONTOSO, TeamsHub, addr, text_of

ALICE = addr("alice@widget.test")
TOM = addr("tom@contoso.test")
MARKER = "MARKER-teamswork-93b0"


class TeamsWorkTests(SynchronousTestCase):
    """
    tom (Teams) writes to alice (XMPP, a recording connector).
    """

    def setUp(self) -> None:
        self.hub = TeamsHub()
        hub = self.hub
        hub.install(hub.tom)
        hub.says(hub.tom, f"invite {ALICE}")
        hub.inject(ContactAccept(sender=ALICE, recipient=TOM))

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.api.violations, [])

    def says(self, text: str = f"see you at noon {MARKER}") -> Any:
        """tom writes to alice; the channel's delivery (status, activity)."""
        return self.hub.says(self.hub.tom, text)

    def again(self, activity: dict[str, Any]) -> Any:
        """The channel sends C{activity} once more."""
        return self.hub.act(self.hub.channel.post(activity))

    def record(self, activity: dict[str, Any]) -> WorkRecord:
        origin = f"{CONTOSO}:{activity['conversation']['id']}:{activity['id']}"
        found = self.hub.settle(self.hub.router.work.find(SOURCE, origin))
        assert found is not None
        return found  # type: ignore[no-any-return]

    def restart(self) -> None:
        self.hub.crash()
        self.hub.clock.advance(1)
        self.hub.start_teams()

    def recover(self) -> dict[str, int]:
        work = self.hub.router.work
        d = work.recover({"teams": self.hub.teams.tell_not_delivered}, work.now())
        return self.hub.settle(d)  # type: ignore[no-any-return]

    def test_claimed_and_delivered(self) -> None:
        """
        A message claims the record of its activity id (ids only) and is
        answered 201; the router moves it to delivered.
        """
        delivery = self.says()
        self.assertEqual(delivery.status, 201)
        record = self.record(delivery.activity)
        self.assertEqual(record.state, WorkState.DELIVERED)
        self.assertEqual(
            (record.sender, record.native_id),
            (self.hub.tom.id, delivery.activity["id"]),
        )
        [message] = self.hub.delivered("message")
        self.assertEqual(message.sender, TOM)
        dump = self.hub.settle(self.hub.store.dump_tables())
        self.assertNotIn(MARKER, repr(dump))

    def test_duplicate_handled_once(self) -> None:
        """
        The same activity sent again is answered 201 and not routed again.
        """
        delivery = self.says()
        self.assertEqual(self.again(delivery.activity).status, 201)
        self.assertEqual(len(self.hub.delivered("message")), 1)

    def test_duplicate_after_restart(self) -> None:
        """
        After a restart (a new connector on the same store) the channel's
        resend of a message is still routed once.
        """
        delivery = self.says()
        self.restart()
        self.assertEqual(self.again(delivery.activity).status, 201)
        self.assertEqual(len(self.hub.delivered("message")), 1)
        self.assertEqual(self.record(delivery.activity).state, WorkState.DELIVERED)

    def test_answered_once_durable(self) -> None:
        """
        The channel is answered only once the claim is in the store; a
        claim that fails is answered 503 (nothing durable: resend), and a
        store slower than the budget is answered 201 after it, the message
        handled once its claim lands.
        """
        store = self.hub.store
        claims: list[Deferred[bool]] = []
        real = store.claim_work

        def slow(record: WorkRecord) -> Deferred[bool]:
            d: Deferred[bool] = Deferred()
            claims.append(d)
            d.addCallback(lambda _: real(record))
            return d

        store.claim_work = slow  # type: ignore[method-assign]
        posting = self.hub.channel.message(self.hub.tom, "first")
        self.hub.pump()
        self.assertNoResult(posting)
        claims[0].callback(True)
        self.assertEqual(self.hub.settle(posting).status, 201)

        store.claim_work = lambda record: fail(OSError("disk full"))  # type: ignore[method-assign]
        self.assertEqual(self.hub.settle(self.hub.channel.message(self.hub.tom, "x")).status, 503)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

        store.claim_work = slow  # type: ignore[method-assign]
        posting = self.hub.channel.message(self.hub.tom, "third")
        self.hub.advance(ACK_BUDGET - 1)
        self.assertNoResult(posting)
        self.hub.advance(1)
        self.assertEqual(self.hub.settle(posting).status, 201)
        self.assertEqual(len(self.hub.delivered("message")), 1)
        claims[1].callback(True)
        self.hub.advance(1)
        self.assertEqual(len(self.hub.delivered("message")), 2)

    def test_nobody_to_send_to_closes_record(self) -> None:
        """
        A message the router never gets (a command) leaves no record open.
        """
        delivery = self.says("help")
        self.assertEqual(self.record(delivery.activity).state, WorkState.DELIVERED)

    def test_restart_tells_in_a_reply(self) -> None:
        """
        A message still on its way at a kill -9 gets, after the restart, a
        reply to it in the chat (replyToId) saying it was not delivered,
        with its time and never its content; the record is told.
        """
        self.hub.xmpp.hold = True
        # Let it go at the end: no coroutine is left for the collector.
        self.addCleanup(self.hub.xmpp.release)
        delivery = self.says()
        self.assertEqual(self.record(delivery.activity).state, WorkState.ACCEPTED)
        self.restart()
        self.assertEqual(self.recover(), {"told": 1, "failed": 0})
        notice = self.hub.bot_posts(self.hub.tom)[-1]
        text = text_of(notice.body)
        accepted = self.record(delivery.activity).accepted_at
        self.assertEqual(notice.reply_to_id, delivery.activity["id"])
        self.assertIn("not delivered", text)
        self.assertIn(accepted.strftime("%H:%M:%S UTC on %Y-%m-%d"), text)
        self.assertNotIn(MARKER, text)
        self.assertNotIn("noon", text)
        self.assertEqual(self.record(delivery.activity).state, WorkState.TOLD)
