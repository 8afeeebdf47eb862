"""
The L{IMessageRefs} part of the store contract: mixed into
L{tests.storage.contract.StoreContract}, so every backend runs it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nextplane.model.address import Address
from nextplane.storage.records import MessageRef

if TYPE_CHECKING:
    from twisted.trial.unittest import TestCase

    _Base = TestCase
else:
    _Base = object

__all__ = ["MessageRefsContract", "message_ref"]

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
ALICE = Address("Alice", "acme.test")
BOB = Address("bob", "remote.example")
CAROL = Address("carol", "other.example")


def message_ref(native_id: str = "N1", **changes: Any) -> MessageRef:
    """
    A ref of a message the hub posted to Alice from Bob; C{changes} replace fields.
    """
    fields: dict[str, Any] = {
        "platform": "webex",
        "conversation": "P-alice",
        "native_id": native_id,
        "hub_id": "h-" + native_id,
        "user": ALICE,
        "contact": BOB,
        "created_at": T0,
    }
    fields.update(changes)
    return MessageRef(**fields)


class MessageRefsContract(_Base):
    """
    L{IMessageRefs} on every backend. C{self.store} is the opened store.
    """

    store: Any

    async def test_message_ref_round_trip(self) -> None:
        """
        A stored ref comes back whole by (platform, conversation, native id),
        flags and thread parent included; other keys find nothing.
        """
        ref = message_ref(from_platform=True, thread_parent="N0", starts_thread=True)
        await self.store.put_message_ref(ref)
        self.assertEqual(await self.store.find_message_ref("webex", "P-alice", "N1"), ref)
        self.assertIsNone(await self.store.find_message_ref("webex", "P-other", "N1"))
        self.assertIsNone(await self.store.find_message_ref("teams", "P-alice", "N1"))

    async def test_message_ref_replaced(self) -> None:
        """
        Putting a ref with the same key replaces the earlier one.
        """
        await self.store.put_message_ref(message_ref(starts_thread=True))
        await self.store.put_message_ref(message_ref(hub_id="h-2"))
        found = await self.store.find_message_ref("webex", "P-alice", "N1")
        self.assertEqual((found.hub_id, found.starts_thread), ("h-2", False))

    async def test_message_ref_by_hub_first_piece(self) -> None:
        """
        By hub id: the oldest ref of that hub message on that platform.
        """
        later = T0 + timedelta(seconds=1)
        await self.store.put_message_ref(message_ref("N2", hub_id="h", created_at=later))
        await self.store.put_message_ref(message_ref("N1", hub_id="h"))
        await self.store.put_message_ref(message_ref("N0", hub_id="h", platform="teams"))
        found = await self.store.message_ref_by_hub("webex", "h")
        self.assertEqual(found.native_id, "N1")
        self.assertIsNone(await self.store.message_ref_by_hub("webex", "nope"))

    async def test_thread_start(self) -> None:
        """
        A contact's thread is the newest ref starting one, for that contact
        in that conversation.
        """
        await self.store.put_message_ref(message_ref("N1", starts_thread=True))
        await self.store.put_message_ref(
            message_ref("N2", created_at=T0 + timedelta(minutes=1), thread_parent="N1")
        )
        await self.store.put_message_ref(
            message_ref("N3", contact=CAROL, starts_thread=True, created_at=T0 + timedelta(hours=1))
        )
        found = await self.store.thread_start("webex", "P-alice", BOB)
        self.assertEqual(found.native_id, "N1")
        await self.store.put_message_ref(
            message_ref("N4", starts_thread=True, created_at=T0 + timedelta(hours=2))
        )
        found = await self.store.thread_start("webex", "P-alice", BOB)
        self.assertEqual(found.native_id, "N4")
        self.assertIsNone(await self.store.thread_start("webex", "P-other", BOB))

    async def test_prune_message_refs(self) -> None:
        """
        Refs created before the cut are deleted, later ones kept.
        """
        await self.store.put_message_ref(message_ref("old"))
        await self.store.put_message_ref(message_ref("new", created_at=T0 + timedelta(hours=2)))
        self.assertEqual(await self.store.prune_message_refs(T0 + timedelta(hours=1)), 1)
        self.assertIsNone(await self.store.find_message_ref("webex", "P-alice", "old"))
        self.assertIsNotNone(await self.store.find_message_ref("webex", "P-alice", "new"))
