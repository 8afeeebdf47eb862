# -*- test-case-name: tests.webex.test_connector -*-
"""
Verified, claimed webhook events to hub events.

Each event comes with its work record (L{nextplane.work.WorkLog}, claimed
before it got here, so a replay never arrives): a relayed message hands
it to the router, which moves it along; any other event closes it here.

Webhooks carry ids only: a message is fetched (C{GET /messages/{id}}), a
card answer too (C{GET /attachment/actions/{id}}); neither is written
down. The bot's own events are dropped (its id from C{people/me}). Only
direct spaces are served (see L{nextplane.connectors.webex.space}).

In a direct space a user's message is a command (C{invite}, C{remove},
C{block}, C{list}, C{help}, C{chat <address>}) or a message for a contact,
chosen by the kit's L{ChatTargets}; when several contacts are active the
bot confirms where it went. A migrated space (C{rooms} C{migrated}) is
followed: its members' direct space is the new id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cachetools import LRUCache
from twisted.logger import Logger

from ...config import TenantConfig
from ...interfaces import IEventSink, IStore
from ...model.address import Address, InvalidAddress
from ...model.events import Event, FileShare, MessageRetract, TextMessage
from ...storage.records import ContactState, UserRecord, WorkRecord, WorkState
from ...work import WorkLog
from ..platform.commands import CommandAction, ContactCommands, help_text, parse_command_text
from ..platform.directory import Directory
from ..platform.files import FileLinks
from .api import (
    get_attachment_action,
    get_message,
    get_person,
    list_memberships,
    parse_attachment_action,
    parse_memberships,
    parse_message,
    parse_person,
)
from .cards import parse_card_answer
from .events import (
    CardActionCreated,
    Envelope,
    MessageCreated,
    MessageDeleted,
    RoomMigrated,
)
from .format import parse_html, parse_markdown
from .space import DirectSpaces

__all__ = ["WebexInbound"]

log = Logger()

_COMMANDS = frozenset(action.value for action in CommandAction)

#: What the kit's help does not say: the direct-space model and Webex's limits.
_HELP_MORE = (
    "\n\n`chat <address>` picks who plain messages go to; a reply in a contact's"
    " thread goes to that contact. Webex does not tell bots about edits, typing"
    " or presence, so your edits here are not passed on and contacts' presence"
    " shows as unknown; reactions cannot be shown, so they arrive as a line."
)


class WebexInbound:
    """
    Handles events; see the module docstring.

    @ivar me: The bot's person id (set at start).
    @ivar files: Hub file id -> Webex content URL, for the file links.
    """

    def __init__(
        self,
        *,
        sink: IEventSink,
        directory: Directory,
        spaces: DirectSpaces,
        commands: ContactCommands,
        links: FileLinks,
        tenants: Mapping[str, TenantConfig],
        store: IStore,
        work: WorkLog,
    ) -> None:
        self._store = store
        self._work = work
        self._sink = sink
        self._directory = directory
        self._spaces = spaces
        self._commands = commands
        self._links = links
        self._tenants = tenants
        self.me: str | None = None
        self.events_in = 0
        self.files: LRUCache[str, str] = LRUCache(100_000)

    async def handle(self, envelope: Envelope, work: WorkRecord | None = None) -> None:
        """
        Handle one delivery (already verified and claimed as C{work}).
        """
        item = envelope.item
        own = envelope.actor_id is not None and envelope.actor_id == self.me
        if own and not isinstance(item, RoomMigrated):
            await self._work.move(work, WorkState.DELIVERED)
            return  # the bot's own doing (loop prevention); a migration is Webex's
        if isinstance(item, MessageCreated):
            await self.message(item, work)
            return
        try:
            await self._other(item)
        finally:
            await self._work.move(work, WorkState.DELIVERED)

    async def message(self, item: MessageCreated, work: WorkRecord | None) -> None:
        """
        Handle a posted message claimed as C{work} (from a webhook or the
        catch-up); C{work} goes to the router with it, or is closed here.
        """
        held = [work] if work is not None else []
        try:
            await self._message(item, held)
        finally:
            for record in held:  # the router never got it: nothing is owed
                await self._work.move(record, WorkState.DELIVERED)

    async def _route(self, event: Event, held: list[WorkRecord]) -> None:
        # The first routed event of a message carries its work record.
        route: Any = self._sink.route
        if held:
            await route(event, work=held.pop())
        else:
            await route(event)

    async def _other(self, item: object) -> None:
        if isinstance(item, MessageDeleted):
            await self._deleted(item)
        elif isinstance(item, CardActionCreated):
            await self._card(item)
        elif isinstance(item, RoomMigrated):
            await self._migrated(item)

    async def _migrated(self, item: RoomMigrated) -> None:
        # A space got a new id: its members' direct space is the new one.
        answer = await self._spaces.rest.call(list_memberships(item.room_id))
        for membership in parse_memberships(answer):
            if membership.person_id and membership.person_id != self.me:
                self._spaces.learn(membership.person_id, item.room_id)

    async def _user(self, person_id: str) -> UserRecord | None:
        known = await self._store.find_user(self._directory.platform, person_id)
        if known is not None:
            return known  # type: ignore[no-any-return]
        # First sight: the person's e-mail says the tenant, their name is shown.
        person = parse_person(await self._spaces.rest.call(get_person(person_id)))
        email = person.emails[0] if person.emails else None
        domain = (email or "").rpartition("@")[2].lower()
        if domain not in self._tenants:
            return None
        return await self._directory.register(
            domain=domain,
            platform_id=person_id,
            native_id=person_id,
            email=email,
            handle=None,
            display_name=person.display_name,
        )

    async def _message(self, item: MessageCreated, held: list[WorkRecord]) -> None:
        if item.person_id == self.me or item.room_type == "group" or item.person_id is None:
            return  # group spaces are not served: the bot hears only @mentions there
        message = parse_message(await self._spaces.rest.call(get_message(item.message_id)))
        if message.person_id == self.me or message.room_type == "group":
            return
        user = await self._user(item.person_id)
        if user is None:
            log.info("Webex message from a person of no served tenant dropped")
            return
        self.events_in += 1
        self._spaces.learn(user.platform_id, item.room_id)
        source = message.markdown or message.text or ""
        if await self._command(user, source.strip()):
            return
        key = self._spaces.space_key(user)
        contact = None
        if message.parent_id:
            contact = await self._spaces.contact_of(user, message.parent_id)
        if contact is None:
            contact = self._spaces.targets.target(key)
        if contact is None:
            contact = await self._only_contact(user)
            if contact is not None:
                self._spaces.targets.pick(key, contact)
        if contact is None:
            await self._spaces.say(
                user,
                "Nobody to send this to yet: `invite <address>` adds a contact, `help` says more.",
            )
            return
        body = parse_html(message.html) if message.html else parse_markdown(source)
        if body.plain_text().strip():
            await self._spaces.refs.received(
                str(key), message.id, user.address, contact, message.parent_id or ""
            )
            await self._route(
                TextMessage(
                    sender=user.address, recipient=contact, body=body, message_id=message.id
                ),
                held,
            )
        for index, url in enumerate(message.files):
            await self._file(user, contact, f"{message.id}-{index}", url, held)
        if self._spaces.targets.ambiguous(key):
            await self._spaces.say(user, f"→ sent to {contact}", parent_id=message.parent_id)

    async def _only_contact(self, user: UserRecord) -> Address | None:
        # After a restart the reply targets are empty: a user with exactly one
        # accepted contact means that one.
        accepted = [
            c.external
            for c in await self._store.list_contacts(owner=user.address)
            if c.state == ContactState.ACCEPTED
        ]
        return accepted[0] if len(accepted) == 1 else None

    async def _file(
        self, user: UserRecord, contact: Address, file_id: str, url: str, held: list[WorkRecord]
    ) -> None:
        name = url.rstrip("/").rpartition("/")[2] or "file"
        link = self._links.make(user.tenant, file_id, name)
        if link is None:
            await self._spaces.say(user, "Files cannot be passed on: the hub has no public URL.")
            return
        self.files[file_id] = url
        await self._route(
            FileShare(sender=user.address, recipient=contact, name=name, url=link), held
        )

    async def _command(self, user: UserRecord, text: str) -> bool:
        words = text.split()
        verb = words[0].lower() if words else ""
        if verb == "chat" and len(words) == 2:
            try:
                contact = Address.parse(words[1])
            except InvalidAddress:
                await self._spaces.say(user, f"Not an address: {words[1]}")
                return True
            self._spaces.targets.pick(self._spaces.space_key(user), contact)
            await self._spaces.say(user, f"Plain messages now go to {contact}.")
            return True
        if verb not in _COMMANDS:
            return False
        action, address, domain, problem = parse_command_text(text)
        if problem is not None and verb != "help":
            return False  # reads like a sentence, not a command: it is a message
        style = self._commands.style
        if action is CommandAction.HELP:
            answer = help_text(style, command="") + _HELP_MORE
        else:
            answer = await self._commands.run(
                self._spaces, user, action, address, domain, command=""
            )
        await self._spaces.say(user, answer)
        return True

    async def _deleted(self, item: MessageDeleted) -> None:
        written = await self._spaces.refs.written(item.person_id or "", item.message_id)
        if written is None:
            return
        await self._sink.route(
            MessageRetract(
                sender=written.user, recipient=written.contact, message_id=item.message_id
            )
        )

    async def _card(self, item: CardActionCreated) -> None:
        action = parse_attachment_action(
            await self._spaces.rest.call(get_attachment_action(item.action_id))
        )
        answer = parse_card_answer(action)
        if answer is None or answer.person_id is None:
            return
        user = await self._user(answer.person_id)
        if user is None:
            return
        if action.room_id:
            self._spaces.learn(user.platform_id, action.room_id)
        try:
            requester = Address.parse(answer.request_id)
        except InvalidAddress:
            return
        text = await self._commands.decide(self._spaces, user, requester, answer.accepted)
        await self._spaces.say(user, text)
