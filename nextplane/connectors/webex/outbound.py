# -*- test-case-name: tests.webex.test_connector -*-
"""
Hub events shown in the user's direct space with the bot.

  - A contact's message: their name in bold, then the text (markdown with
    a plain-text fallback), cut to Webex's 7,439 bytes or refused (the
    sender is told); the first message of a contact starts a thread, later
    ones reply in it (C{parentId}).
  - Edits: C{PUT /messages/{id}}; retractions: C{DELETE /messages/{id}}.
    Which Webex message a hub message became, and each contact's thread,
    are kept in the store (the kit's L{MessageRefs}), so both still work
    after a restart.
  - Files: a link line (the hub's or the contact's link).
  - Contact requests: an Adaptive Card with Accept / Decline.
  - What Webex cannot show is said in a short line, never dropped
    silently: reactions (bots have no reaction API). Typing and presence
    are not shown (Webex gives bots neither; presence reads "unknown").
"""

from __future__ import annotations

from ...interfaces import DeliveryFailed, IStore
from ...model.address import Address
from ...model.events import (
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
)
from ...model.text import RichText
from ...storage.records import UserRecord
from ..platform.directory import Directory
from .api import OutgoingMessage, delete_message, edit_message, get_message, parse_message
from .cards import ContactRequest as RequestCard
from .cards import Person, contact_request_message, with_header
from .format import parse_markdown, to_markdown
from .space import DirectSpaces
from .split import MessageTooLong, split_message

__all__ = ["WebexOutbound"]


class WebexOutbound:
    """
    Shows events; see the module docstring.

    @ivar messages_out: Messages posted.
    """

    def __init__(self, store: IStore, directory: Directory, spaces: DirectSpaces) -> None:
        self._store = store
        self._directory = directory
        self._spaces = spaces
        self.messages_out = 0

    async def _user(self, address: Address) -> UserRecord:
        user = await self._store.get_user(address)
        if user is None:
            raise DeliveryFailed("item-not-found", f"{address} is not a Webex user here")
        return user  # type: ignore[no-any-return]

    async def _name(self, contact: Address, user: UserRecord) -> str:
        name, _ = await self._directory.shown(contact, user.address)
        return name or str(contact)

    async def deliver(self, event: Event) -> None:
        """
        Show C{event} to its recipient.
        """
        user = await self._user(event.recipient)
        contact = event.sender
        if isinstance(event, TextMessage):
            await self._text(user, contact, event.message_id, event.body)
        elif isinstance(event, MessageEdit):
            await self._edit(user, contact, event)
        elif isinstance(event, MessageRetract):
            shown = await self._spaces.refs.shown(event.message_id)
            if shown is not None:
                await self._spaces.rest.call(delete_message(shown.native_id))
        elif isinstance(event, FileShare):
            name = await self._name(contact, user)
            line = f"**{name}** shared a file: [{event.name}]({event.url})"
            await self._post_line(user, contact, line, event.message_id)
        elif isinstance(event, ContactRequest):
            name = event.display_name or await self._name(contact, user)
            card = RequestCard(str(contact), "Contact request", Person(name, str(contact)))
            await self._spaces.post(user, contact_request_message("unused", card))
        elif isinstance(event, ReactionAdd | ReactionRemove):
            name = await self._name(contact, user)
            verb = "reacted" if isinstance(event, ReactionAdd) else "took back a reaction"
            await self._post_line(
                user, contact, f"**{name}** {verb} {event.emoji} (Webex bots cannot show reactions)"
            )
        elif isinstance(event, ContactAccept):
            # Starts the contact's thread: plain messages now go to them.
            await self._post_line(
                user, contact, _contact_line(event, await self._name(contact, user))
            )
        elif isinstance(event, ContactDecline | ContactRemove):
            await self._spaces.say(user, _contact_line(event, await self._name(contact, user)))
        elif isinstance(event, DeliveryError):
            await self._spaces.say(user, f"⚠ Not delivered to {contact}: {event.reason}")

    async def _text(
        self, user: UserRecord, contact: Address, message_id: str, body: RichText
    ) -> None:
        name = await self._name(contact, user)
        try:
            pieces = split_message(with_header(name, body))
        except MessageTooLong as e:
            raise DeliveryFailed("not-acceptable", f"too long for Webex: {e.reason}") from None
        key = self._spaces.space_key(user)
        hub_id = message_id  # edits and deletions go to the first piece
        for markdown, plain in pieces:
            native = await self._post(user, contact, markdown, plain, hub_id)
            hub_id = ""
            self._spaces.targets.posted(key, native, contact)

    async def _post_line(
        self, user: UserRecord, contact: Address, markdown: str, message_id: str | None = None
    ) -> None:
        plain = parse_markdown(markdown).plain_text()
        native = await self._post(user, contact, markdown, plain, message_id or "")
        self._spaces.targets.posted(self._spaces.space_key(user), native, contact)

    async def _post(
        self, user: UserRecord, contact: Address, markdown: str, plain: str, hub_id: str
    ) -> str:
        key = self._spaces.space_key(user)
        parent = await self._spaces.thread(user, contact)
        native = await self._spaces.post(
            user, OutgoingMessage(markdown=markdown, text=plain, parent_id=parent)
        )
        if parent is None:
            self._spaces.targets.start_thread(key, contact, native)
        await self._spaces.refs.posted(
            str(key),
            native,
            hub_id,
            user.address,
            contact,
            parent=parent or "",
            starts_thread=parent is None,
        )
        self.messages_out += 1
        return native

    async def _edit(self, user: UserRecord, contact: Address, event: MessageEdit) -> None:
        shown = await self._spaces.refs.shown(event.message_id)
        if shown is None:
            await self._text(user, contact, event.message_id, event.body)
            return
        room = self._spaces.room_of(user.platform_id)
        if room is None:
            # After a restart the space may not be known yet: the message says.
            room = parse_message(await self._spaces.rest.call(get_message(shown.native_id))).room_id
            if room is None:
                await self._text(user, contact, event.message_id, event.body)
                return
            self._spaces.learn(user.platform_id, room)
        name = await self._name(contact, user)
        text = with_header(name, event.body)
        await self._spaces.rest.call(
            edit_message(shown.native_id, room, markdown=to_markdown(text), text=text.plain_text())
        )


def _contact_line(event: Event, name: str) -> str:
    if isinstance(event, ContactAccept):
        return f"✅ {name} ({event.sender}) accepted: what you write here can go to them."
    if isinstance(event, ContactDecline):
        return f"{name} ({event.sender}) declined your contact request."
    return f"{name} ({event.sender}) removed you from their contacts."
