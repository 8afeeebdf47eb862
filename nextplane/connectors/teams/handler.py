# -*- test-case-name: tests.teams.test_connector -*-
"""
Verified Teams activities turned into hub events and answers.

What a Teams user writes in their chat with the app is either a command
(C{invite}, C{remove}, C{block}, C{list}, C{help} - the kit's words - and
C{chat <address>}, which picks whom plain messages go to) or a message
for a contact. A message goes to the contact whose message it replies to,
else to the last contact heard from or picked with C{chat}; whenever more
than one contact is active in the chat, the app confirms each send's
target in a short line (a reply to that line goes to the same contact).

  - Edits and deletions of a relayed message reach its contact.
  - Reactions to a contact's message reach that contact.
  - Typing reaches the contact a message would go to.
  - Files (file download info) go to the contact as a hub file link.
  - Installs remember the chat and greet the user with the help text.
  - Contact-request buttons (C{adaptiveCard/action}) are answered within
    the channel's budget with the card updated in place.
  - File consent answers start the upload (L{TeamsOutbound.consented}).
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...interfaces import IEventSink, IStore
from ...model.address import Address, InvalidAddress
from ...model.events import (
    FileShare,
    MessageEdit,
    MessageRetract,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
    Typing,
)
from ...storage.records import ContactState, UserRecord, WorkRecord, WorkState
from ...work import WorkLog
from ..platform.claims import acknowledged, within
from ..platform.commands import CommandAction, ContactCommands, help_text, parse_command_text
from ..platform.conversations import Conversations
from ..platform.delivery import Delivery
from ..platform.files import FileLinks
from . import activity as a
from . import inbound_work
from .api import message_activity
from .cards import ACCEPT_VERB, DECLINE_VERB, RequestState, card_attachment, card_invoke_response
from .format import parse_teams_html
from .inbound import ACCEPTED, Verified, invoke_answer
from .inbound_work import ACK_BUDGET
from .outbound import TeamsOutbound
from .reactions import reaction_emoji
from .style import TEAMS
from .tenant import TeamsTenant

__all__ = ["INVOKE_BUDGET", "TeamsHandler", "command_text"]

log = Logger()

#: Seconds an invoke may take before it is answered with a plain "OK"
#: (the channel gives 15 s; the rest continues and posts its answer).
INVOKE_BUDGET = 10.0
_WORDS = frozenset({"invite", "remove", "block", "list", "help", "chat"})


def command_text(text: str) -> str | None:
    """
    The command in a message (C{invite bob@example.org}, optionally after
    C{/} or C{nextplane}), or C{None} when it reads as a message.
    """
    words = text.strip().lstrip("/").split()
    if words and words[0].lower() == "nextplane":
        words = words[1:]
    if not words or words[0].lower() not in _WORDS:
        return None
    if words[0].lower() == "chat":
        return " ".join(words) if len(words) == 2 else None
    _, _, _, problem = parse_command_text(" ".join(words))
    if problem is not None and words[0].lower() != "help":
        return None  # "list of things" is a message, not a malformed command
    return " ".join(words)


def usage() -> str:
    """
    The help text of the Teams app.
    """
    return (
        help_text(TEAMS, "")
        + f"\n{TEAMS.bold('chat')} {TEAMS.code('user@example.com')} - write to this contact from "
        "now on\n\nA contact's messages arrive here under their name. To answer, just write: "
        "your message goes to the contact whose message you reply to, else to the last one who "
        "wrote (or the one you picked with chat)."
    )


class TeamsHandler:
    """
    Handles activities for the connector; see the module docstring.

    @ivar events_in: Activities handled.
    """

    def __init__(
        self,
        *,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        delivery: Delivery,
        conversations: Conversations,
        commands: ContactCommands,
        outbound: TeamsOutbound,
        tenants: dict[str, TeamsTenant],
        links: FileLinks,
        work: WorkLog | None = None,
    ) -> None:
        """
        @param work: The hub's work log: messages are answered once their
            record is durable and handled once (L{inbound_work}); without
            it they are answered at once.
        """
        self._sink = sink
        self._work = work
        self._store = store
        self._clock = clock
        self._delivery = delivery
        self._conversations = conversations
        self._commands = commands
        self._outbound = outbound
        self._tenants = tenants
        self._links = links
        #: Teams download URLs behind hub file links, by (tenant, file id).
        self.downloads: LRUCache[tuple[str, str], str] = LRUCache(100_000)
        #: The contact of each of the users' own messages and of each
        #: confirmation line (which do not change whom plain messages go to).
        self._own: LRUCache[tuple[str, str], Address] = LRUCache(100_000)
        self.events_in = 0

    def on_activity(self, verified: Verified) -> Deferred[tuple[int, bytes]]:
        """
        Answer the channel: invokes after handling (within L{INVOKE_BUDGET}),
        everything else at once, handled after, in order per conversation.
        """
        activity = verified.activity
        reference = getattr(activity, "conversation", None)
        tenant = self._tenants.get(reference.tenant_id or "") if reference is not None else None
        if tenant is None or reference is None or isinstance(activity, a.Ignored | a.UnknownInvoke):
            return Deferred.fromCoroutine(_answer(activity))
        self.events_in += 1
        if isinstance(activity, a.CardAction):
            return Deferred.fromCoroutine(self._card(tenant, activity))
        if isinstance(activity, a.FileConsent):
            self._delivery.track(
                Deferred.fromCoroutine(self._consent(tenant, activity)), "a Teams file upload"
            )
            return Deferred.fromCoroutine(_answer(activity))
        key = (tenant.tenant_id, reference.conversation_id)
        if isinstance(activity, a.Message) and self._work is not None:
            return self._claimed(key, tenant, activity, self._work)
        self._delivery.receive(key, lambda: self._handle(tenant, activity))
        return Deferred.fromCoroutine(_answer(activity))

    def _claimed(
        self, key: tuple[str, str], tenant: TeamsTenant, message: a.Message, work: WorkLog
    ) -> Deferred[tuple[int, bytes]]:
        # Answered once the record is durable: a crash then loses nothing
        # the channel stops resending; a duplicate is answered, not handled.
        def take(record: WorkRecord) -> None:
            self._delivery.receive(key, lambda: self._handle(tenant, message, record))

        def answer(durable: bool) -> tuple[int, bytes]:
            return (ACCEPTED, b"") if durable else (503, b"")

        claiming = inbound_work.claim(work, tenant.tenant_id, message)
        acking = acknowledged(claiming, self._clock, ACK_BUDGET, take, "a Teams message")
        return acking.addCallback(answer)

    async def _handle(
        self, tenant: TeamsTenant, activity: Any, work: WorkRecord | None = None
    ) -> None:
        # A message's work record goes to the router with its first event;
        # one the router never got is closed here: nothing is owed.
        held = [work] if work is not None else []
        try:
            await self._handle_activity(tenant, activity, held)
        except BaseException:
            for record in held:
                await self._move(record, WorkState.FAILED)
            raise
        for record in held:
            await self._move(record, WorkState.DELIVERED)

    async def _move(self, record: WorkRecord, state: WorkState) -> None:
        if self._work is not None:
            await self._work.move(record, state)

    async def _route(self, event: Any, held: list[WorkRecord]) -> None:
        if held:
            await self._sink.route(event, work=held.pop())  # type: ignore[call-arg]
        else:
            await self._sink.route(event)

    async def _handle_activity(
        self, tenant: TeamsTenant, activity: Any, held: list[WorkRecord]
    ) -> None:
        reference: a.ConversationReference = activity.conversation
        sender = getattr(activity, "sender", None)
        if sender is None or not sender.id.startswith("29:"):
            if isinstance(activity, a.MembersChanged):
                for member in activity.added:
                    if member.id.startswith("29:"):
                        tenant.remember(member.id, reference)
            return
        tenant.remember(sender.id, reference)
        user = await tenant.user_of(sender, reference)
        if isinstance(activity, a.Message):
            await self._message(tenant, user, activity, held)
        elif isinstance(activity, a.MessageEdited | a.MessageDeleted):
            await self._changed(tenant, user, activity)
        elif isinstance(activity, a.ReactionsChanged):
            await self._reactions(tenant, user, activity)
        elif isinstance(activity, a.Typing):
            contact = tenant.replies.target(reference.conversation_id)
            if contact is not None:
                await self._sink.route(
                    Typing(sender=user.address, recipient=contact, state="composing")
                )
        elif isinstance(activity, a.InstallationChanged) and activity.installed:
            await tenant.say(
                user, f"👋 Welcome to nextplane, {TEAMS.esc(user.address)}.\n\n{usage()}"
            )

    # -- messages ----------------------------------------------------------

    async def _message(
        self, tenant: TeamsTenant, user: UserRecord, message: a.Message, held: list[WorkRecord]
    ) -> None:
        if message.value is not None and not message.text:
            return  # an Action.Submit press; the app's cards use Action.Execute
        conversation = message.conversation.conversation_id
        command = command_text(_without_mentions(message.text, message.mentions))
        if command is not None:
            await self._command(tenant, user, conversation, command)
            return
        contact = self._target(tenant, conversation, message.reply_to_id)
        if contact is None:
            await tenant.say(
                user,
                "Nobody to send this to yet. Invite a contact with "
                f"{TEAMS.code('invite user@example.com')}, or pick one with "
                f"{TEAMS.code('chat user@example.com')}.",
            )
            return
        session = await self._conversations.session(user.address, contact)
        native = f"{conversation}:{message.id}"
        self._own[(conversation, message.id)] = contact
        if message.text.strip() or message.html:
            reply_to = None
            if message.reply_to_id is not None:
                reply_to = await self._store.find_message_id(
                    tenant.platform, f"{conversation}:{message.reply_to_id}"
                )
            body = parse_teams_html(message.html or message.text, message.mentions)
            event = TextMessage(
                sender=user.address,
                recipient=contact,
                session=session,
                body=body,
                reply_to=reply_to,
            )
            await self._store.map_message(event.message_id, tenant.platform, native, session)
            await self._route(event, held)
        for index, shared in enumerate(message.files):
            file_id = shared.unique_id or f"{message.id}-{index}"
            link = self._links.make(tenant.tenant_id, file_id, shared.name)
            if link is None:
                await tenant.say(user, "Files cannot be shared: the hub has no public address.")
                continue
            self.downloads[(tenant.tenant_id, file_id)] = shared.download_url
            await self._route(
                FileShare(
                    sender=user.address,
                    recipient=contact,
                    session=session,
                    name=shared.name,
                    url=link,
                ),
                held,
            )
        await self._confirm(tenant, user, conversation, contact)

    async def _confirm(
        self, tenant: TeamsTenant, user: UserRecord, conversation: str, contact: Address
    ) -> None:
        replies = tenant.replies
        if replies.active(conversation) < 2:
            return
        name, _ = await self._outbound.directory.shown(contact, user.address)
        posted_in, posted = await tenant.say(user, f"↪ sent to {TEAMS.who(contact, name)}")
        self._own[(posted_in, posted)] = contact

    def _target(
        self, tenant: TeamsTenant, conversation: str, reply_to: str | None
    ) -> Address | None:
        if reply_to is not None:
            own = self._own.get((conversation, reply_to))
            if own is not None:
                return own
        return tenant.replies.target(conversation, reply_to)

    async def _changed(
        self, tenant: TeamsTenant, user: UserRecord, change: a.MessageEdited | a.MessageDeleted
    ) -> None:
        conversation = change.conversation.conversation_id
        hub_id = await self._store.find_message_id(tenant.platform, f"{conversation}:{change.id}")
        contact = self._own.get((conversation, change.id))
        if hub_id is None or contact is None:
            return
        if isinstance(change, a.MessageDeleted):
            await self._sink.route(
                MessageRetract(sender=user.address, recipient=contact, message_id=hub_id)
            )
            return
        body = parse_teams_html(change.html or change.text)
        await self._sink.route(
            MessageEdit(sender=user.address, recipient=contact, message_id=hub_id, body=body)
        )

    async def _reactions(
        self, tenant: TeamsTenant, user: UserRecord, change: a.ReactionsChanged
    ) -> None:
        conversation = change.conversation.conversation_id
        if change.reply_to_id is None:
            return
        hub_id = await self._store.find_message_id(
            tenant.platform, f"{conversation}:{change.reply_to_id}"
        )
        contact = tenant.replies.target(conversation, change.reply_to_id)
        if hub_id is None or contact is None:
            return
        for kind, types in ((ReactionAdd, change.added), (ReactionRemove, change.removed)):
            for reaction in types:
                emoji = reaction_emoji(reaction)
                if emoji is not None:
                    await self._sink.route(
                        kind(sender=user.address, recipient=contact, message_id=hub_id, emoji=emoji)
                    )

    # -- commands and cards ------------------------------------------------

    async def _command(
        self, tenant: TeamsTenant, user: UserRecord, conversation: str, text: str
    ) -> None:
        if text.split()[0].lower() == "chat":
            await tenant.say(user, await self._chat(tenant, user, conversation, text.split()[1]))
            return
        action, address, domain, problem = parse_command_text(text)
        if action is CommandAction.HELP:
            answer = (f"{TEAMS.esc(problem)}\n\n" if problem else "") + usage()
        else:
            answer = await self._commands.run(tenant, user, action, address, domain, command="")
        await tenant.say(user, answer)

    async def _chat(
        self, tenant: TeamsTenant, user: UserRecord, conversation: str, word: str
    ) -> str:
        try:
            contact = Address.parse(word)
        except InvalidAddress:
            return f"Not an address: {TEAMS.esc(word)}"
        record = await self._store.get_contact(user.address, contact)
        if record is None or record.state != ContactState.ACCEPTED:
            return (
                f"{TEAMS.esc(contact)} is not your contact yet: {TEAMS.code(f'invite {contact}')}"
            )
        tenant.replies.posted(conversation, f"chat:{self._clock.seconds()}", contact)
        return f"Your messages now go to {TEAMS.who(contact)}."

    async def _card(self, tenant: TeamsTenant, action: a.CardAction) -> tuple[int, bytes]:
        if action.verb not in (ACCEPT_VERB, DECLINE_VERB):
            return invoke_answer(200, card_invoke_response())
        try:
            contact = Address.parse(str(action.data.get("request", "")))
        except InvalidAddress:
            return invoke_answer(200, card_invoke_response())
        tenant.remember(action.sender.id, action.conversation)
        accept = action.verb == ACCEPT_VERB

        late: list[bool] = []

        async def decide() -> dict[str, Any]:
            user = await tenant.user_of(action.sender, action.conversation)
            name = self._outbound.directory.names.get(contact.key)
            text = await self._commands.decide(tenant, user, contact, accept, name)
            state = RequestState.ACCEPTED if accept else RequestState.DECLINED
            card = await self._outbound.answered_card(user, contact, state)
            card["body"].append({"type": "TextBlock", "text": text, "wrap": True})
            if late and action.reply_to_id is not None:
                # Answered "OK" already: update the card in place now.
                activity = message_activity(attachments=[card_attachment(card)])
                await tenant.update(user, action.reply_to_id, activity)
            return card

        work = Deferred.fromCoroutine(decide())
        answered = await within(work, INVOKE_BUDGET, self._clock)
        if answered is None:
            late.append(True)
            self._delivery.track(work, "answering a Teams contact card")
            return invoke_answer(200, card_invoke_response())
        return invoke_answer(200, card_invoke_response(answered))

    async def _consent(self, tenant: TeamsTenant, consent: a.FileConsent) -> None:
        user = await tenant.user_of(consent.sender, consent.conversation)
        await self._outbound.consented(tenant, user, consent)


def _without_mentions(text: str, mentions: tuple[a.MentionEntity, ...]) -> str:
    for mention in mentions:
        text = text.replace(mention.text, "")
    return text


async def _answer(activity: Any) -> tuple[int, bytes]:
    if isinstance(activity, a.CardAction | a.FileConsent | a.UnknownInvoke):
        return invoke_answer(200)
    return ACCEPTED, b""
