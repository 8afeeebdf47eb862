"""
A toy bot platform built only from the platform kit
(L{nextplane.connectors.platform}): the proof that the kit serves more than
Slack, and the smallest example of a connector on it.

Like Teams and Webex, the bot cannot post as another identity: each user
has one conversation with the bot (named after the user), every contact
writes there as C{Name: text}, and a user's message goes to the contact
they reply to, else the last one who wrote (L{ReplyTargets}). Users are
C{native id -> e-mail}; what the bot posts is recorded in L{ToyPlatform.posts}.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime

from ..connectors.platform.cards import ContactCard, ContactLine
from ..connectors.platform.commands import (
    CommandAction,
    ContactCommands,
    Style,
    help_text,
    parse_command_text,
)
from ..connectors.platform.conversations import Conversations, ReplyTargets
from ..connectors.platform.delivery import Delivery
from ..connectors.platform.directory import Directory
from ..contacts import ContactBook
from ..interfaces import DeliveryFailed, IEventSink, IStore
from ..model.address import Address, ChatSessionId
from ..model.events import ContactRequest, Event, TextMessage
from ..model.text import RichText, Text
from ..storage.records import UserRecord

__all__ = ["ToyPlatform"]


class ToyPlatform(Service):
    """
    The connector; see the module docstring.

    @ivar posts: Per user (native id): what the bot posted, as
        C{(native message id, text or L{ContactCard})}.
    """

    role = "platform"

    def __init__(
        self,
        name: str,
        domain: str,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        contacts: ContactBook,
    ) -> None:
        self.connector_name = name
        self.domain = domain
        self._store = store
        self._sink = sink
        self.delivery = Delivery(platform=name, sink=sink, clock=clock, ack_after=5.0)
        self.directory = Directory(store, name, clock)
        self.conversations = Conversations(store, clock)
        self.replies = ReplyTargets()
        self.commands = ContactCommands(contacts, self.delivery, clock, Style())
        self.emails: dict[str, str] = {}
        self.posts: dict[str, list[tuple[str, Any]]] = {}

    # -- the platform's side ---------------------------------------------------

    def user_says(self, native: str, text: str, reply_to: str | None = None) -> Deferred[Any]:
        """
        User C{native} writes to the bot: a command, or a message for a contact.
        """
        return Deferred.fromCoroutine(self._said(native, text, reply_to))

    def user_answers(self, native: str, card: ContactCard, accept: bool) -> Deferred[str]:
        """
        User C{native} clicks Accept or Decline on C{card}.
        """

        async def answer() -> str:
            user = await self._user(native)
            text = await self.commands.decide(self, user, card.contact, accept, card.name)
            self._post(native, text)
            return text

        return Deferred.fromCoroutine(answer())

    async def _user(self, native: str) -> UserRecord:
        email = self.emails[native]
        return await self.directory.register(
            domain=self.domain,
            platform_id=native,
            native_id=native,
            email=email,
            handle=None,
            display_name=email.split("@")[0],
        )

    async def _said(self, native: str, text: str, reply_to: str | None) -> None:
        user = await self._user(native)
        if text.startswith("/nextplane"):
            action, address, domain, problem = parse_command_text(text[len("/nextplane") :])
            if action is CommandAction.HELP:
                self._post(native, problem or help_text(self.commands.style))
            else:
                self._post(native, await self.commands.run(self, user, action, address, domain))
            return
        contact = self.replies.target(native, reply_to)
        if contact is None:
            self._post(native, "Nobody to send this to yet.")
            return
        body = RichText([Text(text)])
        await self._sink.route(TextMessage(sender=user.address, recipient=contact, body=body))

    def _post(self, native: str, content: Any) -> str:
        posts = self.posts.setdefault(native, [])
        posts.append((f"{native}-{len(posts)}", content))
        return posts[-1][0]

    # -- the kit's Surface -----------------------------------------------------

    async def conversation_ref(self, user: UserRecord, contact: Address) -> str | None:
        """
        The bot conversation (one per user).
        """
        return user.platform_id

    async def open_conversation(
        self, user: UserRecord, contact: Address, session: ChatSessionId | None, text: str
    ) -> str:
        """
        Post C{text} in the user's bot conversation; replies go to C{contact}.
        """
        self.replies.posted(user.platform_id, self._post(user.platform_id, text), contact)
        return user.platform_id

    async def notify(self, user: UserRecord, text: str, session: ChatSessionId | None) -> None:
        """
        Post C{text} in the user's bot conversation.
        """
        self._post(user.platform_id, text)

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        """
        The user's contacts.
        """
        return [ContactLine(c) for c in await self._store.list_contacts(owner=user.address)]

    # -- IConnector ------------------------------------------------------------

    def deliver(self, event: Event) -> Deferred[None]:
        """
        Show C{event} to its recipient, in order per contact.
        """
        if event.recipient.domain != self.domain:
            return fail(DeliveryFailed("item-not-found", "not served here"))
        key = (event.recipient.key, event.sender.key)
        return self.delivery.submit(key, event, lambda: self._show(event))

    async def _show(self, event: Event) -> None:
        user = await self._store.get_user(event.recipient)
        if user is None:
            raise DeliveryFailed("item-not-found", f"{event.recipient} is not a user here")
        native, contact = user.platform_id, event.sender
        if isinstance(event, ContactRequest):
            self._post(native, ContactCard(contact, event.display_name))
        elif isinstance(event, TextMessage):
            name, _ = await self.directory.shown(contact, user.address)
            posted = self._post(native, f"{name or contact}: {event.body.plain_text()}")
            self.replies.posted(native, posted, contact)
        else:
            self._post(native, f"{event.kind} from {contact}")

    def health(self) -> dict[str, Any]:
        """
        Queued deliveries.
        """
        return {"state": "ok", "queued": len(self.delivery)}

    def fetch_profile(self, requester: Address, address: Address) -> Deferred[Any]:
        """
        No profiles here.
        """
        return succeed(None)
