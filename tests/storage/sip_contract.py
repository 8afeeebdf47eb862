"""
The L{ISipSubscriptions} part of the store contract: mixed into
L{tests.storage.contract.StoreContract}, so every backend runs it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from nextplane.model.address import Address
from nextplane.storage.records import SipSubscriptionRecord

if TYPE_CHECKING:
    from twisted.trial.unittest import TestCase

    _Base = TestCase
else:
    _Base = object

__all__ = ["SipSubscriptionsContract", "sip_subscription"]

EXPIRES = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)


def sip_subscription(
    call_id: str = "c1@hub", local_tag: str = "t1", **changes: Any
) -> SipSubscriptionRecord:
    """
    A subscription record; C{changes} replace fields.
    """
    fields: dict[str, Any] = {
        "role": "subscriber",
        "hub_user": Address("Alice", "acme.test"),
        "remote": Address("bob", "remote.example"),
        "call_id": call_id,
        "local_tag": local_tag,
        "remote_tag": "r1",
        "local_uri": "sip:alice@acme.test",
        "remote_uri": "sip:bob@remote.example",
        "remote_target": "sip:bob@192.0.2.9:5061;transport=tls",
        "route_set": ("<sip:proxy.remote.example;lr>", "<sip:edge.remote.example;lr>"),
        "local_seq": 3,
        "remote_seq": None,
        "local_contact": "<sip:alice@sip.acme.test;transport=tls>",
        "secure": False,
        "state": "active",
        "expires_at": EXPIRES,
    }
    fields.update(changes)
    return SipSubscriptionRecord(**fields)


class SipSubscriptionsContract(_Base):
    """
    SIP subscriptions round-trip, are replaced by dialog, listed in key
    order, removed, and dumped as text.
    """

    store: Any

    async def test_sip_subscription_round_trip(self) -> None:
        """
        Every field comes back as stored, the expiry as an aware UTC time.
        """
        record = sip_subscription(
            expires_at=EXPIRES.astimezone(timezone(timedelta(hours=2))), remote_seq=7
        )
        await self.store.put_sip_subscription(record)
        [found] = await self.store.list_sip_subscriptions()
        self.assertEqual(found, record)
        self.assertEqual(found.expires_at.utcoffset(), timedelta(0))
        self.assertEqual(found.route_set, record.route_set)
        self.assertEqual((found.local_seq, found.remote_seq), (3, 7))

    async def test_sip_subscription_replaced_by_dialog(self) -> None:
        """
        A put with the same (call_id, local_tag) replaces the row; others
        are listed in key order.
        """
        await self.store.put_sip_subscription(sip_subscription("c2@hub"))
        await self.store.put_sip_subscription(sip_subscription("c1@hub", role="notifier"))
        await self.store.put_sip_subscription(
            sip_subscription("c1@hub", role="notifier", state="pending", local_seq=None)
        )
        found = await self.store.list_sip_subscriptions()
        self.assertEqual(
            [(r.call_id, r.state) for r in found], [("c1@hub", "pending"), ("c2@hub", "active")]
        )
        self.assertIsNone(found[0].local_seq)

    async def test_remove_sip_subscription(self) -> None:
        """
        Removing says whether there was one.
        """
        await self.store.put_sip_subscription(sip_subscription())
        self.assertTrue(await self.store.remove_sip_subscription("c1@hub", "t1"))
        self.assertFalse(await self.store.remove_sip_subscription("c1@hub", "t1"))
        self.assertEqual(await self.store.list_sip_subscriptions(), [])

    async def test_sip_subscription_dump(self) -> None:
        """
        A dump shows the row as text, in the same form on every backend.
        """
        await self.store.put_sip_subscription(sip_subscription(secure=True))
        dump = await self.store.dump_tables()
        self.assertEqual(
            dump["sip_subscriptions"],
            [
                (
                    "c1@hub",
                    "t1",
                    "subscriber",
                    "Alice@acme.test",
                    "bob@remote.example",
                    "r1",
                    "sip:alice@acme.test",
                    "sip:bob@remote.example",
                    "sip:bob@192.0.2.9:5061;transport=tls",
                    '["<sip:proxy.remote.example;lr>","<sip:edge.remote.example;lr>"]',
                    "3",
                    None,
                    "<sip:alice@sip.acme.test;transport=tls>",
                    "1",
                    "active",
                    "2024-03-01T11:00:00.000000+00:00",
                )
            ],
        )
