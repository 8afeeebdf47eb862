# -*- test-case-name: tests.webex.test_connector -*-
"""
Each Webex user's direct (1:1) space with the bot, where all their
contacts write: posting there (threads per contact, the kit's
L{ChatTargets}), and the kit's command L{Surface} on it.

Why the direct space and not a group space per contact: in a group space
a Webex bot only hears messages that @mention it, so plain replies there
would never reach the hub. In the direct space it hears everything.
"""

from __future__ import annotations

from collections.abc import Hashable

from cachetools import LRUCache

from ...interfaces import IStore
from ...model.address import Address, ChatSessionId
from ...model.text import RichText, Text
from ...storage.records import UserRecord
from ..platform.cards import ContactLine
from ..platform.httpapi import ApiError
from ..platform.refs import MessageRefs
from ..platform.targets import ChatTargets
from .api import OutgoingMessage, create_message, get_message, parse_message
from .format import to_markdown
from .rest import WebexRest

__all__ = ["DirectSpaces"]


class DirectSpaces:
    """
    The users' direct spaces with the bot; see the module docstring.

    @ivar targets: Who a user's message is for, per space (in memory).
    @ivar refs: What of that survives a restart: posted and passed-on
        message ids, their contacts and each contact's thread.
    @ivar posted_by_hub: Native ids of what the bot posted (bounded).
    """

    domain: str = ""

    def __init__(
        self, rest: WebexRest, store: IStore, targets: ChatTargets, refs: MessageRefs
    ) -> None:
        self.rest = rest
        self._store = store
        self.targets = targets
        self.refs = refs
        self._rooms: LRUCache[str, str] = LRUCache(100_000)
        self.posted_by_hub: LRUCache[str, str] = LRUCache(100_000)

    def learn(self, person_id: str, room_id: str) -> None:
        """
        C{room_id} is C{person_id}'s direct space with the bot.
        """
        self._rooms[person_id] = room_id

    def room_of(self, person_id: str) -> str | None:
        """
        The person's direct space, once known.
        """
        return self._rooms.get(person_id)

    def space_key(self, user: UserRecord) -> Hashable:
        """
        The key of C{user}'s space for the reply targets (their person id:
        known before the space is).
        """
        return user.platform_id

    async def post(self, user: UserRecord, message: OutgoingMessage) -> str:
        """
        Post C{message} (its destination is filled in) in C{user}'s space.

        @return: The posted message's id.
        """
        room = self._rooms.get(user.platform_id)
        if room is None and message.parent_id:
            room = await self._room_of_parent(user, message.parent_id)
        fields = {"room_id": room} if room else {"to_person_id": user.platform_id}
        outgoing = OutgoingMessage(
            **fields,
            markdown=message.markdown,
            text=message.text,
            parent_id=message.parent_id if room else None,
            file_url=message.file_url,
            card=message.card,
        )
        answer = parse_message(await self.rest.call(create_message(outgoing), key=user.platform_id))
        if answer.room_id:
            self._rooms[user.platform_id] = answer.room_id
        self.posted_by_hub[answer.id] = user.platform_id
        return answer.id

    async def thread(self, user: UserRecord, contact: Address) -> str | None:
        """
        The message that starts C{contact}'s thread in C{user}'s space
        (remembered, else from the refs, then remembered).
        """
        key = self.space_key(user)
        native = self.targets.thread(key, contact)
        if native is None:
            native = await self.refs.thread(str(key), contact)
            if native is not None:
                self.targets.start_thread(key, contact, native)
        return native

    async def contact_of(self, user: UserRecord, native_id: str) -> Address | None:
        """
        The contact of message C{native_id} in C{user}'s space (remembered,
        else from the refs), for a reply to it.
        """
        key = self.space_key(user)
        contact = self.targets.replied(key, native_id)
        return contact if contact is not None else await self.refs.contact_of(str(key), native_id)

    async def _room_of_parent(self, user: UserRecord, parent_id: str) -> str | None:
        # A reply needs its space (unknown after a restart): its parent says.
        # Without it (the parent is gone), the message is posted unthreaded.
        try:
            room = parse_message(await self.rest.call(get_message(parent_id))).room_id
        except ApiError:
            return None
        if room:
            self._rooms[user.platform_id] = room
        return room

    async def say(self, user: UserRecord, text: str, parent_id: str | None = None) -> str:
        """
        Post the bot's own C{text} (markdown) in C{user}'s space.
        """
        plain = RichText([Text(text)]).plain_text()
        return await self.post(
            user, OutgoingMessage(markdown=text, text=plain, parent_id=parent_id)
        )

    # -- the kit's Surface ----------------------------------------------------

    async def conversation_ref(self, user: UserRecord, contact: Address) -> str | None:
        """
        The user's direct space (shared by all their contacts).
        """
        return self._rooms.get(user.platform_id)

    async def open_conversation(
        self, user: UserRecord, contact: Address, session: ChatSessionId | None, text: str
    ) -> str:
        """
        Post C{text} in the direct space; plain messages now go to C{contact}.
        """
        key = self.space_key(user)
        native = await self.say(user, to_markdown(RichText([Text(text)])))
        self.targets.pick(key, contact)
        self.targets.start_thread(key, contact, native)
        await self.refs.posted(str(key), native, "", user.address, contact, starts_thread=True)
        return self._rooms.get(user.platform_id) or user.platform_id

    async def notify(self, user: UserRecord, text: str, session: ChatSessionId | None) -> None:
        """
        Tell C{user} C{text} in the direct space.
        """
        await self.say(user, text)

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        """
        The user's contacts.
        """
        return [ContactLine(c) for c in await self._store.list_contacts(owner=user.address)]
