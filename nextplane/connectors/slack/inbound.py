# -*- test-case-name: tests.slack.test_connector -*-
"""
Slack events as hub events.

Messages (C{rich_text} blocks preferred, mrkdwn C{text} as fallback),
edits (C{message_changed}, ignoring unfurl-only changes), deletions,
reactions (shortcode to Unicode; custom emoji are refused with a notice)
and shared files become events routed to the contact. Events of one
conversation are handled one after another, in arrival order. Only the
owner's messages in a private conversation are relayed; anyone else
posting there is told so. Files reach the contact as a signed link to the
hub (L{nextplane.connectors.platform.files}); without a public URL they
cannot leave Slack and the user is told.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...interfaces import IEventSink, IStore
from ...model.address import Address, ChatSessionId
from ...model.events import (
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
)
from ...model.text import RichText
from ..platform.conversations import Conversations
from ..platform.delivery import Delivery
from ..platform.files import FileLinks
from .api import MAX_TEXT
from .blocks import blocks_to_rich_text
from .emoji import emoji_table
from .home import SlackHome
from .mrkdwn import mentioned_user_ids, parse_mrkdwn
from .people import SlackPeople, text_of
from .ui import esc, who
from .webhook import SlackEvent
from .workspace import SlackWorkspace

__all__ = ["SlackInbound"]

log = Logger()

_RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})


class SlackInbound:
    """
    Reads Slack events; see the module docstring.

    @ivar events_in: Events received.
    """

    def __init__(
        self,
        *,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        delivery: Delivery,
        conversations: Conversations,
        people: SlackPeople,
        home: SlackHome,
        links: FileLinks,
        workspaces: Mapping[str, SlackWorkspace],
        uninstalled: Callable[[SlackWorkspace, str], Awaitable[None]],
    ) -> None:
        self._sink = sink
        self._store = store
        self._clock = clock
        self._delivery = delivery
        self._conversations = conversations
        self._people = people
        self._home = home
        self._links = links
        self._workspaces = workspaces
        self._uninstalled = uninstalled
        self.events_in = 0

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def on_event(self, slack_event: SlackEvent) -> None:
        """
        The webhook's event callback: queue the event behind earlier ones of
        its conversation.
        """
        self.events_in += 1
        ws = self._workspaces.get(slack_event.team_id)
        if ws is None:
            log.info("ignored a Slack event of unknown workspace {team}", team=slack_event.team_id)
            return
        event = slack_event.event
        if slack_event.type.startswith("reaction_"):
            item = event.get("item")
            key = str(item.get("channel")) if isinstance(item, Mapping) else ""
        elif slack_event.type == "app_home_opened":
            key = f"home:{event.get('user')}"
        else:
            key = str(event.get("channel", ""))
        self._delivery.receive((ws.team_id, key), lambda: self._handle(ws, slack_event))

    async def _handle(self, ws: SlackWorkspace, slack_event: SlackEvent) -> None:
        event = slack_event.event
        kind = event.get("type")
        subtype = event.get("subtype")
        if kind == "message":
            if subtype in _RELAYED_SUBTYPES:
                await self._on_message(ws, event)
            elif subtype == "message_changed":
                await self._on_changed(ws, event)
            elif subtype == "message_deleted":
                await self._on_deleted(ws, event)
        elif kind in ("reaction_added", "reaction_removed"):
            await self._on_reaction(ws, event, kind == "reaction_added")
        elif kind == "app_home_opened" and event.get("tab", "home") == "home":
            user = text_of(event.get("user"))
            if user is not None:
                await self._home.publish(ws, user)
        elif kind in ("app_uninstalled", "tokens_revoked"):
            tokens = event.get("tokens")
            if kind == "app_uninstalled" or (isinstance(tokens, Mapping) and tokens.get("bot")):
                await self._uninstalled(ws, kind)

    async def _owned(
        self, ws: SlackWorkspace, channel: Any, user_id: Any
    ) -> tuple[ChatSessionId, Address, Address] | None:
        """
        (session, owner, contact) of conversation C{channel} when C{user_id}
        is its owner.
        """
        found = await self._conversations.pair_of(ws.platform, ws.domain, channel)
        if found is None:
            return None
        record, owner, contact = found
        user = await self._people.slack_user(ws, user_id)
        if user is None or user.address.key != owner.key:
            return None
        return record.session_id, owner, contact

    def _body(self, ws: SlackWorkspace, message: Mapping[str, Any]) -> RichText:
        body = blocks_to_rich_text(message.get("blocks"), ws.mention_for)
        if body is None:
            body = parse_mrkdwn(str(message.get("text") or ""), ws.mention_for)
        return body

    async def _learn_mentions(self, ws: SlackWorkspace, message: Mapping[str, Any]) -> None:
        for user_id in mentioned_user_ids(str(message.get("text") or ""))[:20]:
            await self._people.slack_user(ws, user_id)

    async def _on_message(self, ws: SlackWorkspace, event: Mapping[str, Any]) -> None:
        channel, user_id, ts = event.get("channel"), event.get("user"), text_of(event.get("ts"))
        if not isinstance(channel, str) or not isinstance(user_id, str) or ts is None:
            return
        if event.get("bot_id"):
            return
        if event.get("channel_type") == "im":
            text = str(event.get("text") or "")
            await self._home.on_direct_message(ws, channel, user_id, text)
            return
        found = await self._conversations.pair_of(ws.platform, ws.domain, channel)
        if found is None:
            return
        record, owner, contact = found
        user = await self._people.slack_user(ws, user_id)
        if user is None or user.address.key != owner.key:
            owner_id = ws.slack_id(owner)
            whose = f"<@{owner_id}>'s" if owner_id else "its owner's"
            await ws.api().post_message(
                channel, f"Only {whose} messages in this conversation are sent to {who(contact)}."
            )
            return
        if len(str(event.get("text") or "")) > MAX_TEXT:
            # Slack never sends such a text: refused unparsed, so it cannot
            # hold the reactor.
            await ws.api().post_message(
                channel,
                f":warning: Not sent to {who(contact)}: the message is longer than "
                f"{MAX_TEXT:,} characters.",
            )
            return
        session = record.session_id
        now = self._now()
        thread_ts = text_of(event.get("thread_ts"))
        reply_to = None
        if thread_ts is not None and thread_ts != ts:
            reply_to = await self._store.find_message_id(ws.platform, f"{channel}:{thread_ts}")
        await self._learn_mentions(ws, event)
        body = self._body(ws, event)
        native = f"{channel}:{ts}"
        outgoing: list[tuple[TextMessage | FileShare, str]] = []
        if body.plain_text().strip():
            message = TextMessage(
                sender=owner,
                recipient=contact,
                session=session,
                timestamp=now,
                body=body,
                reply_to=reply_to,
            )
            outgoing.append((message, native))
        files = event.get("files")
        for file in files if isinstance(files, list) else []:
            share = self._file_share(ws, owner, contact, session, file, now)
            if share is None:
                await ws.api().post_message(
                    channel,
                    ":warning: Files cannot be sent from Slack through this hub (it has no "
                    "public URL); the file stayed here.",
                )
                continue
            outgoing.append((share, native if not outgoing else f"{native}:{file.get('id')}"))
        for hub_event, key in outgoing:
            await self._store.map_message(hub_event.message_id, ws.platform, key, session)
            await self._sink.route(hub_event)

    def _file_share(
        self,
        ws: SlackWorkspace,
        owner: Address,
        contact: Address,
        session: ChatSessionId,
        file: Any,
        now: datetime,
    ) -> FileShare | None:
        if not isinstance(file, Mapping) or not text_of(file.get("id")):
            return None
        name = text_of(file.get("name")) or text_of(file.get("title")) or "file"
        link = self._links.make(ws.team_id, str(file["id"]), name)
        if link is None:
            return None
        size = file.get("size")
        return FileShare(
            sender=owner,
            recipient=contact,
            session=session,
            timestamp=now,
            name=name,
            size=size if isinstance(size, int) and size >= 0 else None,
            media_type=text_of(file.get("mimetype")) or "application/octet-stream",
            url=link,
        )

    async def _on_changed(self, ws: SlackWorkspace, event: Mapping[str, Any]) -> None:
        message = event.get("message")
        previous = event.get("previous_message")
        if not isinstance(message, Mapping) or message.get("bot_id"):
            return
        if isinstance(previous, Mapping) and (
            message.get("text") == previous.get("text")
            and message.get("blocks") == previous.get("blocks")
        ):
            return  # an unfurl, a pin or a reply count: not an edit
        owned = await self._owned(ws, event.get("channel"), message.get("user"))
        if owned is None:
            return
        session, owner, contact = owned
        hub_id = await self._store.find_message_id(
            ws.platform, f"{event.get('channel')}:{message.get('ts')}"
        )
        if hub_id is None:
            return
        await self._learn_mentions(ws, message)
        body = self._body(ws, message)
        if not body.plain_text().strip():
            return
        await self._relay(MessageEdit, session, owner, contact, message_id=hub_id, body=body)

    async def _on_deleted(self, ws: SlackWorkspace, event: Mapping[str, Any]) -> None:
        previous = event.get("previous_message")
        if not isinstance(previous, Mapping) or previous.get("bot_id"):
            return
        owned = await self._owned(ws, event.get("channel"), previous.get("user"))
        if owned is None:
            return
        session, owner, contact = owned
        native = f"{event.get('channel')}:{event.get('deleted_ts') or previous.get('ts')}"
        keys = [native]
        files = previous.get("files")
        for file in files if isinstance(files, list) else []:
            if isinstance(file, Mapping) and file.get("id"):
                keys.append(f"{native}:{file['id']}")
        for key in keys:
            hub_id = await self._store.find_message_id(ws.platform, key)
            if hub_id is not None:
                await self._relay(MessageRetract, session, owner, contact, message_id=hub_id)

    async def _on_reaction(self, ws: SlackWorkspace, event: Mapping[str, Any], added: bool) -> None:
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("type") != "message":
            return
        channel = item.get("channel")
        owned = await self._owned(ws, channel, event.get("user"))
        if owned is None:
            return
        session, owner, contact = owned
        hub_id = await self._store.find_message_id(ws.platform, f"{channel}:{item.get('ts')}")
        if hub_id is None:
            return
        name = str(event.get("reaction") or "")
        emoji = emoji_table().parse_shortcode(name)
        if emoji is None:
            if added:
                await ws.api().post_message(
                    str(channel),
                    f":warning: The custom emoji `:{esc(name)}:` cannot be sent to {who(contact)}.",
                )
            return
        kind = ReactionAdd if added else ReactionRemove
        await self._relay(kind, session, owner, contact, message_id=hub_id, emoji=emoji)

    async def _relay(
        self,
        kind: Callable[..., Event],
        session: ChatSessionId,
        owner: Address,
        contact: Address,
        **fields: Any,
    ) -> None:
        """
        Route an event of the owner's to the contact, stamped now.
        """
        event = kind(
            sender=owner, recipient=contact, session=session, timestamp=self._now(), **fields
        )
        await self._sink.route(event)
