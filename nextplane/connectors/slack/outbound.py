# -*- test-case-name: tests.slack.test_connector -*-
"""
Hub events shown in Slack: the Slack half of C{deliver} (queueing and
acknowledgement are the kit's L{nextplane.connectors.platform.delivery}).

  - Text: C{chat.postMessage} with mrkdwn C{text} and a C{rich_text}
    block, impersonating the contact (C{username}, C{icon_url}); the C{ts}
    is mapped to the hub message id as C{"<channel>:<ts>"}. A text over
    Slack's L{MAX_TEXT} characters is posted in parts (text only, the first
    part's C{ts} mapped), up to C{max_message_parts}; a longer one, or an
    edit over the limit, is refused and its sender told.
  - Edits: C{chat.update}; retractions: C{chat.delete}; reactions:
    C{reactions.add}/C{reactions.remove}; an emoji with no Slack shortcode
    is posted as a line of text. A target that never reached Slack, or lies
    in another conversation, fails with C{item-not-found}.
  - Files: a message with the link. Contact requests: a card in the app
    DM. Acceptances, declines, removals and delivery errors: notices.
  - The private conversation of each (user, contact) pair is created when
    first needed (and once more if it was archived or deleted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.logger import Logger

from ...interfaces import DeliveryFailed, IStore
from ...model.address import Address, ChatSessionId
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
from ...model.text import Link, RichText, Text
from ...sizes import split_text, too_long
from ...storage.records import ContactDirection, ContactState, UserRecord
from ..platform.cards import ContactCard, ContactLine
from ..platform.conversations import Conversations
from ..platform.delivery import Delivery
from ..platform.directory import Directory
from .api import MAX_TEXT, SlackApiError
from .blocks import rich_text_block
from .config import SlackConfig, channel_name
from .emoji import emoji_table
from .mrkdwn import to_mrkdwn
from .people import SlackPeople, text_of
from .ui import esc, request_card, who
from .workspace import SlackWorkspace, split_platform_id

__all__ = ["SlackOutbound", "SlackSurface", "file_size"]

log = Logger()

_GONE = frozenset({"channel_not_found", "is_archived", "not_in_channel"})


async def _post_notice(
    client: Any,
    channel: str,
    text: str,
    blocks: Sequence[Mapping[str, Any]] | None,
    thread_ts: str | None,
) -> None:
    try:
        await client.post_message(channel, text, blocks=blocks, thread_ts=thread_ts)
    except SlackApiError as e:
        if thread_ts is None or e.error != "thread_not_found":
            raise
        # The message was deleted meanwhile: the notice stands alone.
        await client.post_message(channel, text, blocks=blocks)


def file_size(size: int | None) -> str:
    """
    C{" (1.5 MB)"} for a size in bytes; empty when unknown.
    """
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f" ({value:.0f} {unit})" if unit == "bytes" else f" ({value:.1f} {unit})"
        value /= 1024
    return ""


class SlackOutbound:
    """
    Shows hub events in Slack; see the module docstring.

    @ivar messages_out: Posts made as a contact.
    """

    def __init__(
        self,
        *,
        store: IStore,
        config: SlackConfig,
        delivery: Delivery,
        directory: Directory,
        conversations: Conversations,
        people: SlackPeople,
        on_request: Callable[[SlackWorkspace, UserRecord], None],
    ) -> None:
        """
        @param on_request: Called after a contact-request card was posted
            (the Home tab shows pending requests).
        """
        self._store = store
        self._config = config
        self._delivery = delivery
        self._directory = directory
        self._conversations = conversations
        self._people = people
        self._on_request = on_request
        self.messages_out = 0

    async def deliver(self, ws: SlackWorkspace, event: Event) -> None:
        """
        Show C{event} to its recipient, a user of C{ws}.
        """
        client = ws.api()
        owner = await self._people.hub_user(ws, event.recipient)
        contact = event.sender
        session = event.session or await self._conversations.session(owner.address, contact)
        names = self._directory.names
        if isinstance(event, TextMessage | FileShare):
            if isinstance(event, TextMessage):
                text = self._fitting(event.body, ws)
                if not text.strip():
                    raise DeliveryFailed("bad-request", "the message is empty")
                if len(text) > MAX_TEXT:
                    await self._post_parts(ws, owner, contact, session, event, text)
                    return
                blocks = [rich_text_block(event.body, ws.user_id_for)]
            else:
                body = RichText(
                    [Text("📎 "), Link(event.url, [Text(event.name)]), Text(file_size(event.size))]
                )
                text, blocks = to_mrkdwn(body), [rich_text_block(body)]
            channel, ts = await self.post_as(ws, owner, contact, session, text, blocks)
            await self._store.map_message(event.message_id, ws.platform, f"{channel}:{ts}", session)
        elif isinstance(event, MessageEdit):
            text = self._fitting(event.body, ws, parts=1)
            channel, ts = await self._target(ws, event.message_id, session, "edit")
            await client.update_message(
                channel, ts, text, blocks=[rich_text_block(event.body, ws.user_id_for)]
            )
        elif isinstance(event, MessageRetract):
            channel, ts = await self._target(ws, event.message_id, session, "retraction")
            await client.delete_message(channel, ts)
        elif isinstance(event, ReactionAdd | ReactionRemove):
            await self._react(ws, owner, contact, session, event)
        elif isinstance(event, ContactRequest):
            await self._contact_request(ws, owner, contact, session, event)
        elif isinstance(event, ContactAccept):
            await self._accepted(ws, owner, contact, session, names.get(contact.key))
        elif isinstance(event, ContactDecline):
            await self.notify(ws, owner, f"{who(contact)} declined your invitation.")
        elif isinstance(event, ContactRemove):
            await self.notify(
                ws,
                owner,
                f"{who(contact)} removed you from their contacts: messages here no longer "
                "reach them.",
                session,
            )
        elif isinstance(event, DeliveryError):
            # Threaded to the message it is about, so the sender can tell
            # which one of a burst it was (the notice never quotes it).
            about = None
            if event.message_id:
                about = await self._store.find_native_id(event.message_id, ws.platform)
            await self.notify(
                ws,
                owner,
                f":warning: Not delivered to {who(contact)}: {esc(event.reason)}",
                session,
                thread=about,
            )
        else:  # pragma: no cover - every event type is handled above
            raise DeliveryFailed("feature-not-implemented", f"Slack cannot show a {event.kind}")

    def _fitting(self, body: RichText, ws: SlackWorkspace, parts: int | None = None) -> str:
        """
        C{body} as mrkdwn, when it fits in C{parts} messages (default
        C{max_message_parts}). @raise DeliveryFailed: When it does not (the
        sender is told); checked on the plain text first, so a huge body
        is refused without converting it.
        """
        parts = parts if parts is not None else self._config.max_message_parts
        plain = len(body.plain_text())
        if plain > MAX_TEXT * parts:
            raise too_long("Slack", plain, MAX_TEXT, parts)
        text = to_mrkdwn(body, ws.user_id_for)
        if len(text) > MAX_TEXT * parts:
            raise too_long("Slack", len(text), MAX_TEXT, parts)
        return text

    async def _post_parts(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        event: TextMessage,
        text: str,
    ) -> None:
        """
        Post a text over L{MAX_TEXT} as several messages, in order (text
        only: the C{rich_text} block of each part would need its own split).
        """
        max_parts = self._config.max_message_parts
        parts = split_text(text, MAX_TEXT, max_parts)
        if parts is None:
            raise too_long("Slack", len(text), MAX_TEXT, max_parts)
        first: tuple[str, str] | None = None
        for part in parts:
            posted = await self.post_as(ws, owner, contact, session, part)
            first = first or posted
        assert first is not None
        channel, ts = first
        await self._store.map_message(event.message_id, ws.platform, f"{channel}:{ts}", session)

    async def _accepted(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        name: str | None,
    ) -> None:
        channel, _ = await self.conversation(ws, owner, contact, session)
        await ws.api().post_message(
            channel,
            f":white_check_mark: {who(contact, name)} accepted your "
            "invitation. What you post in this conversation is sent to them.",
        )

    async def _react(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        event: ReactionAdd | ReactionRemove,
    ) -> None:
        channel, ts = await self._target(ws, event.message_id, session, "reaction")
        code = emoji_table().to_shortcode(event.emoji)
        if code is None:
            # Slack reactions are shortcodes; one Slack lacks is said in words.
            verb = "reacted with" if isinstance(event, ReactionAdd) else "took back the reaction"
            text = RichText([Text(f"({verb} {event.emoji})")])
            await self.post_as(ws, owner, contact, session, to_mrkdwn(text))
            return
        client = ws.api()
        if isinstance(event, ReactionAdd):
            await client.add_reaction(channel, ts, code)
        else:
            await client.remove_reaction(channel, ts, code)

    async def _contact_request(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        event: ContactRequest,
    ) -> None:
        if event.display_name:
            self._directory.names[contact.key] = event.display_name
        current = await self._store.get_contact(owner.address, contact)
        if (
            current is not None
            and current.state in (ContactState.PENDING, ContactState.ACCEPTED)
            and current.direction == ContactDirection.OUTBOUND
        ):
            # The owner asked first: this request is the answer (mutual
            # consent), which the router recorded (accepted) before this
            # delivery.
            await self._accepted(ws, owner, contact, session, event.display_name)
            return
        fallback, blocks = request_card(ContactCard(contact, event.display_name))
        dm = await self.dm(ws, split_platform_id(owner.platform_id)[1])
        await ws.api().post_message(dm, fallback, blocks=blocks)
        self._on_request(ws, owner)

    async def _target(
        self, ws: SlackWorkspace, message_id: str, session: ChatSessionId, kind: str
    ) -> tuple[str, str]:
        """
        The (channel, ts) of hub message C{message_id} in this session's
        conversation.

        @raise DeliveryFailed: C{item-not-found} when it never reached
            Slack there.
        """
        native = await self._store.find_native_id(message_id, ws.platform)
        conversation = await self._conversations.ref(ws.platform, session)
        channel, _, ts = (native or "").partition(":")
        if not native or not ts or channel != conversation:
            raise DeliveryFailed(
                "item-not-found", f"the message this {kind} refers to is not in Slack"
            )
        return channel, ts

    # -- conversations ---------------------------------------------------------

    async def conversation(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        *,
        fresh: bool = False,
    ) -> tuple[str, bool]:
        """
        The private conversation of C{owner} with C{contact}, created (with
        the owner invited and the reference stored) when missing or when
        C{fresh} is asked for. @return: (channel id, whether it was created now).
        """
        if not fresh:
            ref = await self._conversations.ref(ws.platform, session)
            if ref is not None:
                return ref, False
        client = ws.api()
        answer: dict[str, Any] | None = None
        for attempt in range(1, 7):
            name = channel_name(self._config.channel_prefix, contact, owner.address, attempt)
            try:
                answer = await client.create_conversation(name, is_private=True)
            except SlackApiError as e:
                if e.error == "name_taken":
                    continue
                raise
            break
        channel = answer.get("channel") if answer is not None else None
        channel_id = text_of(channel.get("id")) if isinstance(channel, Mapping) else None
        if channel_id is None:
            raise DeliveryFailed("conflict", "no free Slack channel name for the conversation")
        await client.invite_to_conversation(channel_id, [split_platform_id(owner.platform_id)[1]])
        await self._conversations.bind(session, ws.platform, channel_id)
        log.info(
            "Slack conversation {channel} of {team} for session {session}",
            channel=channel_id,
            team=ws.team_id,
            session=session.value,
        )
        return channel_id, True

    async def dm(self, ws: SlackWorkspace, user_id: str) -> str:
        """
        The app's direct message channel with C{user_id}.
        """
        cached = ws.dms.get(user_id)
        if cached is not None:
            return cached
        answer = await ws.api().open_conversation([user_id])
        channel = answer.get("channel")
        channel_id = text_of(channel.get("id")) if isinstance(channel, Mapping) else None
        if channel_id is None:
            raise DeliveryFailed("service-unavailable", "Slack gave no direct message channel")
        ws.dms[user_id] = channel_id
        return channel_id

    async def notify(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        text: str,
        session: ChatSessionId | None = None,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread: str | None = None,
    ) -> None:
        """
        Post a notice from the app in the conversation of C{session} when
        there is one, else in the app's DM with C{owner}.

        @param thread: C{"<channel>:<ts>"} of the message the notice is
            about: the notice goes in its thread when it is in that
            conversation.
        """
        client = ws.api()
        channel = await self._conversations.ref(ws.platform, session)
        if channel is not None:
            where, _, ts = (thread or "").partition(":")
            thread_ts = ts if where == channel and ts else None
            try:
                await _post_notice(client, channel, text, blocks, thread_ts)
                return
            except SlackApiError as e:
                if e.error not in _GONE:
                    raise
        dm = await self.dm(ws, split_platform_id(owner.platform_id)[1])
        await client.post_message(dm, text, blocks=blocks)

    async def post_as(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[str, str]:
        """
        Post in the contact's conversation as the contact (with the name and
        picture known now: a profile never delays a post); a conversation
        that was archived or deleted is replaced once. @return: (channel, ts).
        """
        name, icon = await self._directory.shown(contact, owner.address)
        username = f"{name} ({contact})" if name and name != str(contact) else str(contact)
        client = ws.api()
        for fresh in (False, True):
            channel, created = await self.conversation(ws, owner, contact, session, fresh=fresh)
            if created:
                intro = (
                    f":link: This private conversation is with "
                    f"{who(contact, self._directory.names.get(contact.key))}, outside your "
                    "organisation. What you post here is sent to them, and their messages "
                    "appear here. Type `/nextplane help` for commands."
                )
                await client.post_message(channel, intro)
            try:
                answer = await client.post_message(
                    channel, text, blocks=blocks, username=username[:80], icon_url=icon
                )
            except SlackApiError as e:
                if e.error in _GONE and not fresh:
                    continue
                raise
            self.messages_out += 1
            return str(answer.get("channel") or channel), str(answer.get("ts"))
        raise AssertionError("unreachable")

    async def open_conversation(
        self,
        ws: SlackWorkspace,
        user: UserRecord,
        contact: Address,
        session: ChatSessionId | None,
        text: str,
    ) -> str:
        """
        Create (or reuse) the conversation in the pair's delivery order and
        post C{text} there. @return: The channel.
        """
        bound = session or await self._conversations.session(user.address, contact)

        async def job() -> str:
            channel, _ = await self.conversation(ws, user, contact, bound)
            await ws.api().post_message(channel, text)
            return channel

        key = (ws.team_id, user.address.key, contact.key)
        return await self._delivery.in_order(key, job)  # type: ignore[no-any-return]


class SlackSurface:
    """
    One workspace as the kit's commands see it
    (L{nextplane.connectors.platform.commands.Surface}).
    """

    def __init__(
        self,
        ws: SlackWorkspace,
        outbound: SlackOutbound,
        conversations: Conversations,
        lines: Callable[[UserRecord], Any],
    ) -> None:
        self._ws = ws
        self._outbound = outbound
        self._conversations = conversations
        self._lines = lines
        self.domain = ws.domain

    async def conversation_ref(self, user: UserRecord, contact: Address) -> str | None:
        """
        The user's private conversation with C{contact}, if any.
        """
        session = await self._conversations.session(user.address, contact)
        return await self._conversations.ref(self._ws.platform, session)

    async def open_conversation(
        self, user: UserRecord, contact: Address, session: ChatSessionId | None, text: str
    ) -> str:
        """
        See L{SlackOutbound.open_conversation}.
        """
        return await self._outbound.open_conversation(self._ws, user, contact, session, text)

    async def notify(self, user: UserRecord, text: str, session: ChatSessionId | None) -> None:
        """
        See L{SlackOutbound.notify}.
        """
        await self._outbound.notify(self._ws, user, text, session)

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        """
        The user's contacts, as the Home tab shows them.
        """
        return await self._lines(user)  # type: ignore[no-any-return]
