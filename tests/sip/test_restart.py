"""
Presence subscriptions survive a restart (issue 16): two connector
instances, one after the other, on one store; the first dies without a
word (no NOTIFY, no unsubscribe).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.keeper import CSEQ_GAP
from nextplane.connectors.sip.message import Response
from nextplane.connectors.sip.presence import build_pidf, parse_pidf
from nextplane.model.events import Availability, Presence

from ..helpers import addr
from .helpers import HubFixture

JOHN = addr("john@acme.test")
ALICE = addr("alice@sipco.test")
MARKER = "MARKER-restart-7f3a"


class RestartTests(SynchronousTestCase):
    """
    A hub with presence subscriptions both ways, restarted.
    """

    def setUp(self) -> None:
        self.hub = HubFixture(self)
        self.peer = self.hub.peer
        self.hub.befriend()

    def peer_subscribes(self) -> tuple[Any, Any]:
        """
        alice subscribes to john's presence; return her dialog and the
        transaction.
        """
        headers = [("Event", "presence"), ("Accept", "application/pidf+xml"), ("Expires", "600")]
        tx = self.peer.send(self.peer.request("SUBSCRIBE", headers=headers))
        response = self.peer.final(tx)
        self.assertEqual(response.status, 200)
        return self.peer.dialog(tx, response), tx

    def hub_subscribes(self) -> Any:
        """
        john subscribes to alice's presence (the peer answers and notifies
        active); return the peer's server transaction of that SUBSCRIBE.
        """
        self.peer.answer = lambda tx: tx.reply(200, headers=[("Expires", "600")])
        subscribing = Deferred.fromCoroutine(self.hub.connector._subscriber.subscribe(JOHN, ALICE))
        self.hub.network.flush()
        self.successResultOf(subscribing)
        [subscribe] = self.peer.of("SUBSCRIBE")
        return subscribe

    def notify(self, subscribe: Any, state: str, body: bytes = b"", cseq: int = 1) -> Response:
        return self.peer.notify(subscribe, state, body, cseq)

    def stored(self) -> list[Any]:
        return self.successResultOf(self.hub.store.list_sip_subscriptions())

    def test_peer_refresh_answered_after_restart(self) -> None:
        """
        The peer's subscription is stored; after a crash and a new
        connector, its refresh is answered 200 (not 481) and presence goes
        to it as NOTIFY in its dialog, with a CSeq past any sent before.
        """
        dialog, _ = self.peer_subscribes()
        [record] = self.stored()
        self.assertEqual((record.role, record.state), ("notifier", "active"))
        before = [tx.request.cseq.number for tx in self.peer.of("NOTIFY")]
        self.hub.crash()
        self.hub.start_connector()
        refresh = self.peer.in_dialog(
            dialog,
            "SUBSCRIBE",
            headers=[("Event", "presence"), ("Expires", "600")],
        )
        self.assertEqual(self.peer.final(refresh).status, 200)
        outcome = self.successResultOf(
            self.hub.route(Presence(sender=JOHN, recipient=ALICE, availability="dnd"))
        )
        self.assertTrue(outcome.delivered)
        last = self.peer.of("NOTIFY")[-1].request
        self.assertEqual(last.call_id, dialog.call_id)
        self.assertEqual(last.from_.tag, dialog.remote_tag)
        self.assertGreater(last.cseq.number, max(before) + CSEQ_GAP - 1)
        self.assertEqual(parse_pidf(last.body).availability, Availability.DND)

    def test_peer_unsubscribe_after_restart(self) -> None:
        """
        The peer ends its subscription after the restart: 200, NOTIFY
        terminated, and the record is gone.
        """
        dialog, _ = self.peer_subscribes()
        self.hub.crash()
        self.hub.start_connector()
        end = self.peer.in_dialog(
            dialog, "SUBSCRIBE", headers=[("Event", "presence"), ("Expires", "0")]
        )
        self.assertEqual(self.peer.final(end).status, 200)
        self.assertTrue(
            self.peer.of("NOTIFY")[-1]
            .request.headers.get("Subscription-State", "")
            .startswith("terminated")
        )
        self.assertEqual(self.stored(), [])

    def test_own_subscription_renewed_after_restart(self) -> None:
        """
        The hub's subscription is stored without its presence document;
        the restarted hub refreshes it at once, in its dialog, and later
        NOTIFYs reach the hub user.
        """
        subscribe = self.hub_subscribes()
        pidf = build_pidf("sip:alice@sipco.test", Availability.BUSY, MARKER)
        self.assertEqual(self.notify(subscribe, "active;expires=600", pidf, 1).status, 200)
        [record] = self.stored()
        self.assertEqual((record.role, record.state), ("subscriber", "active"))
        self.assertNotIn(MARKER, repr(self.successResultOf(self.hub.store.dump_tables())))
        self.hub.crash()
        self.hub.start_connector()
        self.hub.network.flush()
        first, refresh = self.peer.of("SUBSCRIBE")
        self.assertEqual(refresh.request.call_id, first.request.call_id)
        self.assertEqual(refresh.request.to.tag, subscribe.local_tag)
        self.assertGreater(refresh.request.cseq.number, first.request.cseq.number)
        self.assertEqual(self.notify(subscribe, "active;expires=600", pidf, 2).status, 200)
        self.assertEqual(self.hub.delivered("presence")[-1].availability, Availability.BUSY)

    def test_own_subscription_forgotten_by_peer(self) -> None:
        """
        A notifier that forgot the subscription (481 to the refresh) gets
        a new SUBSCRIBE: the contact is still wanted.
        """
        self.hub_subscribes()
        self.hub.crash()
        self.peer.answer = lambda tx: tx.reply(
            481 if tx.request.to.tag else 200, headers=[("Expires", "600")]
        )
        self.hub.start_connector()
        self.hub.advance(1)
        _, refresh, again = self.peer.of("SUBSCRIBE")
        self.assertIsNotNone(refresh.request.to.tag)
        self.assertIsNone(again.request.to.tag)
        [record] = self.stored()
        self.assertEqual(record.call_id, again.request.call_id)

    def test_expired_dropped(self) -> None:
        """
        A subscription that expired while the hub was down is dropped.
        """
        self.peer_subscribes()
        self.hub.crash()
        self.hub.clock.advance(601)
        self.hub.start_connector()
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.hub.connector.health()["watchers"], 0)
