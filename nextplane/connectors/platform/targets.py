# -*- test-case-name: tests.platform.test_targets -*-
"""
The "reply target" model of a bot that cannot post as another identity
(Teams, Webex): every contact of a user writes in the user's one chat with
the bot, so the hub decides which contact a user's message is for:

  1. the contact whose message it replies to (or whose thread it is in);
  2. else the contact picked with C{chat <address>};
  3. else the last contact heard from.

When more than one contact was active lately, each send is confirmed with
a short line naming its target (L{ChatTargets.ambiguous}).
"""

from __future__ import annotations

from collections.abc import Hashable

from cachetools import LRUCache
from twisted.internet.interfaces import IReactorTime

from ...model.address import Address
from .conversations import ReplyTargets

__all__ = ["ChatTargets"]


class ChatTargets(ReplyTargets):
    """
    The kit's L{ReplyTargets}, plus the contact picked per chat, the
    contacts active lately and each contact's thread. Bounded in memory.
    """

    def __init__(self, clock: IReactorTime, window: float = 1800.0, size: int = 100_000) -> None:
        super().__init__(size)
        self._clock = clock
        self._window = window
        self._picked: LRUCache[Hashable, Address] = LRUCache(size)
        self._seen: LRUCache[Hashable, dict[Address, float]] = LRUCache(size)
        self._threads: LRUCache[tuple[Hashable, Address], str] = LRUCache(size)

    def posted(self, conversation: Hashable, native_id: str, contact: Address) -> None:
        """
        As the kit's; C{contact} counts as active now, and the picked
        contact gives way to the one who wrote last.
        """
        super().posted(conversation, native_id, contact)
        self._picked.pop(conversation, None)
        seen = self._seen.get(conversation)
        if seen is None:
            seen = self._seen[conversation] = {}
        now = self._clock.seconds()
        seen[contact] = now
        for old in [c for c, t in seen.items() if t < now - self._window]:
            del seen[old]

    def pick(self, conversation: Hashable, contact: Address) -> None:
        """
        C{chat <address>}: plain messages in C{conversation} go to C{contact}.
        """
        self._picked[conversation] = contact
        self._seen.setdefault(conversation, {})[contact] = self._clock.seconds()

    def target(self, conversation: Hashable, reply_to: str | None = None) -> Address | None:
        """
        The contact a user's message is for; see the module docstring.
        """
        if reply_to is not None:
            found = self._by_message.get((conversation, reply_to))
            if found is not None:
                return found
        picked = self._picked.get(conversation)
        return picked if picked is not None else super().target(conversation)

    def active(self, conversation: Hashable) -> int:
        """
        How many contacts were active in C{conversation} lately.
        """
        now = self._clock.seconds()
        return sum(1 for t in self._seen.get(conversation, {}).values() if t >= now - self._window)

    def ambiguous(self, conversation: Hashable) -> bool:
        """
        Whether more than one contact was active in C{conversation} lately
        (then each send confirms its target).
        """
        return self.active(conversation) > 1

    def thread(self, conversation: Hashable, contact: Address) -> str | None:
        """
        The message that starts C{contact}'s thread in C{conversation}.
        """
        return self._threads.get((conversation, contact))

    def start_thread(self, conversation: Hashable, contact: Address, native_id: str) -> None:
        """
        C{native_id} starts C{contact}'s thread in C{conversation}.
        """
        self._threads[(conversation, contact)] = native_id
        self._by_message[(conversation, native_id)] = contact
