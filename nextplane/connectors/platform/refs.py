# -*- test-case-name: tests.platform.test_refs -*-
"""
Durable message refs for a platform connector: which platform message a
hub message became (or came from), between whom, and each contact's
thread, kept in the store (L{IMessageRefs}) so that after a restart a
contact's edit and deletion still reach the message they change, and a
user's reply in a thread still finds its contact.

Ids and addresses only, never content; refs older than C{keep} are pruned
(L{MessageRefs.prune}, run by the connector now and then). The connector
keeps the hot answers in memory (the kit's L{ChatTargets}); this is what
survives it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from ...model.address import Address
from ...storage.interfaces import IMessageRefs
from ...storage.records import MessageRef

__all__ = ["REF_KEEP", "MessageRefs"]

#: Seconds a ref is kept: edits and deletions of older messages are posted
#: as new messages or dropped.
REF_KEEP = 30 * 86400.0


class MessageRefs:
    """
    One platform's refs in the store; see the module docstring.
    """

    def __init__(
        self, store: IMessageRefs, platform: str, clock: IReactorTime, keep: float = REF_KEEP
    ) -> None:
        self._store = store
        self._platform = platform
        self._clock = clock
        self.keep = keep

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def posted(
        self,
        conversation: str,
        native_id: str,
        hub_id: str,
        user: Address,
        contact: Address,
        *,
        parent: str = "",
        starts_thread: bool = False,
    ) -> Deferred[None]:
        """
        The hub posted C{native_id} in C{conversation} (from C{contact} to
        C{user}, or the bot's line about C{contact}).

        @param hub_id: The hub message it shows, or C{""}.
        @param parent: The native id it replies to, or C{""}.
        @param starts_thread: It opens C{contact}'s thread.
        """
        return self._put(
            conversation, native_id, hub_id, user, contact, False, parent, starts_thread
        )

    def received(
        self, conversation: str, native_id: str, user: Address, contact: Address, parent: str = ""
    ) -> Deferred[None]:
        """
        C{user} wrote C{native_id} in C{conversation}, passed on to
        C{contact} under the same id.
        """
        return self._put(conversation, native_id, native_id, user, contact, True, parent, False)

    def _put(
        self,
        conversation: str,
        native_id: str,
        hub_id: str,
        user: Address,
        contact: Address,
        from_platform: bool,
        parent: str,
        starts_thread: bool,
    ) -> Deferred[None]:
        ref = MessageRef(
            platform=self._platform,
            conversation=conversation,
            native_id=native_id,
            hub_id=hub_id,
            user=user,
            contact=contact,
            from_platform=from_platform,
            thread_parent=parent,
            starts_thread=starts_thread,
            created_at=self._now(),
        )
        return self._store.put_message_ref(ref)  # type: ignore[no-any-return]

    async def shown(self, hub_id: str) -> MessageRef | None:
        """
        The (first) message the hub posted for hub message C{hub_id}.
        """
        ref = await self._store.message_ref_by_hub(self._platform, hub_id)
        return None if ref is None or ref.from_platform else ref  # type: ignore[no-any-return]

    async def written(self, conversation: str, native_id: str) -> MessageRef | None:
        """
        A message the user wrote in C{conversation} and the hub passed on.
        """
        ref = await self._store.find_message_ref(self._platform, conversation, native_id)
        return ref if ref is not None and ref.from_platform else None  # type: ignore[no-any-return]

    async def contact_of(self, conversation: str, native_id: str) -> Address | None:
        """
        The contact of a message in C{conversation}, either way.
        """
        ref = await self._store.find_message_ref(self._platform, conversation, native_id)
        return None if ref is None else ref.contact  # type: ignore[no-any-return]

    async def thread(self, conversation: str, contact: Address) -> str | None:
        """
        The native id of the message that starts C{contact}'s thread.
        """
        ref = await self._store.thread_start(self._platform, conversation, contact)
        return None if ref is None else ref.native_id  # type: ignore[no-any-return]

    def prune(self) -> Deferred[int]:
        """
        Forget refs older than L{keep}. @return: How many.
        """
        before = self._now() - timedelta(seconds=self.keep)
        return self._store.prune_message_refs(before)  # type: ignore[no-any-return]
