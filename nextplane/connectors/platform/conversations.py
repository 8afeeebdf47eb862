# -*- test-case-name: tests.platform.test_conversations -*-
"""
Contact pairs and platform conversations.

  - L{Conversations}: each (hub user, external contact) pair has a chat
    session; its platform conversation is stored as the session's
    reference under the platform's store name (e.g. C{"slack:<team>"}), so
    a message posted there goes to that contact.
  - L{ReplyTargets}: where one platform conversation carries several
    contacts (a Teams or Webex bot cannot post as another identity, so
    every contact writes through the one bot conversation), a user's
    message goes to the contact whose message they reply to, else to the
    last contact who wrote there.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime

from cachetools import LRUCache
from twisted.internet.interfaces import IReactorTime

from ...model.address import Address, ChatSessionId
from ...storage.interfaces import ISessions
from ...storage.records import ChatSessionRecord

__all__ = ["Conversations", "ReplyTargets"]


class Conversations:
    """
    The store's sessions and their platform references.
    """

    def __init__(self, store: ISessions, clock: IReactorTime) -> None:
        self._store = store
        self._clock = clock

    async def session(self, first: Address, second: Address) -> ChatSessionId:
        """
        The chat session of a pair, created when missing.
        """
        now = datetime.fromtimestamp(self._clock.seconds(), UTC)
        record = await self._store.get_or_create_session(first, second, now)
        return record.session_id  # type: ignore[no-any-return]

    async def ref(self, platform: str, session: ChatSessionId | None) -> str | None:
        """
        The platform conversation of C{session}, if there is one.
        """
        if session is None:
            return None
        record = await self._store.get_session(session)
        if record is None:
            return None
        return record.refs.get(platform)  # type: ignore[no-any-return]

    async def bind(self, session: ChatSessionId, platform: str, ref: str) -> None:
        """
        Make C{ref} the platform conversation of C{session}.
        """
        await self._store.set_session_ref(session, platform, ref)

    async def pair_of(
        self, platform: str, domain: str, ref: object
    ) -> tuple[ChatSessionRecord, Address, Address] | None:
        """
        The session whose conversation C{ref} is, with its (owner, contact):
        the owner is the party of tenant C{domain}.
        """
        if not isinstance(ref, str) or not ref:
            return None
        record = await self._store.find_session_by_ref(platform, ref)
        if record is None:
            return None
        if record.first.domain == domain:
            return record, record.first, record.second
        if record.second.domain == domain:
            return record, record.second, record.first
        return None


class ReplyTargets:
    """
    The contact a user's message in a shared conversation is for; see the
    module docstring. Bounded: the oldest messages are forgotten first.
    """

    def __init__(self, size: int = 100_000) -> None:
        self._by_message: LRUCache[tuple[Hashable, str], Address] = LRUCache(size)
        self._last: LRUCache[Hashable, Address] = LRUCache(size)

    def posted(self, conversation: Hashable, native_id: str, contact: Address) -> None:
        """
        A message of C{contact} was posted in C{conversation} as C{native_id}.
        """
        self._by_message[(conversation, native_id)] = contact
        self._last[conversation] = contact

    def replied(self, conversation: Hashable, native_id: str) -> Address | None:
        """
        The contact of message C{native_id} in C{conversation}, if known here.
        """
        return self._by_message.get((conversation, native_id))

    def target(self, conversation: Hashable, reply_to: str | None = None) -> Address | None:
        """
        The contact a message in C{conversation} (replying to C{reply_to},
        if it does) is for, or C{None} when no contact wrote there yet.
        """
        if reply_to is not None:
            found = self._by_message.get((conversation, reply_to))
            if found is not None:
                return found
        return self._last.get(conversation)
