# -*- test-case-name: tests.teams.test_connector -*-
"""
One tenant's Teams as the connector sees it: its users as hub users, the
personal chat each user has with the app (a conversation reference, with
its C{serviceUrl}), and the kit's L{Surface} the contact commands post to.

A Teams bot cannot post as another identity, so every contact of a user
writes through that one chat; which contact a plain reply is for is
decided with the kit's L{ReplyTargets} (see L{nextplane.connectors.teams.handler}).

References are learnt from the user's activities (install, messages).
After a restart, or for a user who never wrote, the chat is opened
proactively (C{POST /v3/conversations}, which returns the existing 1:1
chat); Teams refuses that for a user without the app, and the contact is
told how to get it installed.
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
from twisted.logger import Logger

from ...interfaces import IStore
from ...model.address import Address, ChatSessionId
from ...storage.records import UserRecord
from ..platform.cards import ContactLine
from ..platform.delivery import Delivery
from ..platform.directory import Directory
from ..platform.targets import ChatTargets
from .activity import ChannelAccount, ConversationReference
from .api import (
    conversation_members,
    create_conversation,
    delete_activity,
    message_activity,
    parse_members,
    reply_to_activity,
    send_to_conversation,
    send_typing,
    update_activity,
)
from .rest import TeamsApiError, TeamsRest

__all__ = ["PLATFORM", "ActiveTargets", "TeamsTenant"]

log = Logger()

#: The store's name of the platform (users' C{platform}).
PLATFORM = "teams"


#: The kit's reply targets, shared with Webex (the same model).
ActiveTargets = ChatTargets


class TeamsTenant:
    """
    One tenant; see the module docstring.

    @ivar platform: The name message ids and session references are stored
        under (C{teams:<tenant id>}).
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        domain: str,
        rest: TeamsRest,
        service_url: str,
        bot_id: str,
        store: IStore,
        directory: Directory,
        delivery: Delivery,
        replies: ActiveTargets,
    ) -> None:
        self.tenant_id = tenant_id
        self.domain = domain
        self.rest = rest
        self.service_url = service_url
        self.bot_id = bot_id
        self.platform = f"{PLATFORM}:{tenant_id}"
        self._store = store
        self._directory = directory
        self._delivery = delivery
        self.replies = replies
        self._refs: LRUCache[str, ConversationReference] = LRUCache(100_000)

    # -- users -------------------------------------------------------------

    def platform_id(self, native: str) -> str:
        """
        The store's id of Teams user C{native} (a C{29:} id).
        """
        return f"{self.tenant_id}/{native}"

    @staticmethod
    def native_of(user: UserRecord) -> str:
        """
        The Teams id of hub user C{user}.
        """
        return user.platform_id.partition("/")[2]

    def remember(self, native: str, reference: ConversationReference) -> None:
        """
        Keep the personal chat of C{native} (from one of their activities).
        """
        if reference.conversation_type in (None, "personal"):
            self._refs[native] = reference

    async def user_of(
        self, account: ChannelAccount, reference: ConversationReference
    ) -> UserRecord:
        """
        The hub user of the Teams user C{account}, registered on first
        sight with the e-mail Teams lists for them.
        """
        known = await self._store.find_user(PLATFORM, self.platform_id(account.id))
        if known is not None:
            return known  # type: ignore[no-any-return]
        email = None
        try:
            _, body = await self.rest.exchange(conversation_members(reference.outbound()))
            email = next(
                (
                    m.email or m.user_principal_name
                    for m in parse_members(body)
                    if m.id == account.id
                ),
                None,
            )
        except TeamsApiError as e:
            log.info("no Teams member list for a new user: {error}", error=e.error)
        return await self._directory.register(
            domain=self.domain,
            platform_id=self.platform_id(account.id),
            native_id=account.aad_object_id or account.id.replace(":", "-"),
            email=email,
            handle=None,
            display_name=account.name,
        )

    async def reference(self, user: UserRecord) -> ConversationReference:
        """
        The personal chat of C{user} with the app, opened when not known.

        @raise TeamsApiError: When Teams refuses (the app is not installed).
        """
        native = self.native_of(user)
        found = self._refs.get(native)
        if found is not None:
            return found
        answer = await self.rest.call(
            create_conversation(self.service_url, self.bot_id, native, self.tenant_id)
        )
        found = ConversationReference(
            self.service_url,
            answer.id or "",
            self.tenant_id,
            "personal",
            ChannelAccount(self.bot_id),
        )
        self._refs[native] = found
        return found

    # -- posting -----------------------------------------------------------

    async def post(
        self, user: UserRecord, activity: dict[str, Any], reply_to: str | None = None
    ) -> tuple[str, str]:
        """
        Post C{activity} in C{user}'s chat. @return: (conversation, activity id).
        """
        ref = (await self.reference(user)).outbound()
        if reply_to is not None:
            request = reply_to_activity(ref, reply_to, activity)
        else:
            request = send_to_conversation(ref, activity)
        answer = await self.rest.call(request)
        return ref.conversation_id, answer.id or ""

    async def say(self, user: UserRecord, text: str) -> tuple[str, str]:
        """
        Post markdown C{text} from the app itself.
        """
        return await self.post(user, message_activity(text))

    async def update(self, user: UserRecord, activity_id: str, activity: dict[str, Any]) -> None:
        """
        Replace the app's activity C{activity_id} in C{user}'s chat.
        """
        ref = (await self.reference(user)).outbound()
        await self.rest.call(update_activity(ref, activity_id, activity))

    async def delete(self, user: UserRecord, activity_id: str) -> None:
        """
        Delete the app's activity C{activity_id} in C{user}'s chat.
        """
        ref = (await self.reference(user)).outbound()
        await self.rest.call(delete_activity(ref, activity_id))

    async def typing(self, user: UserRecord) -> None:
        """
        Show the app as typing in C{user}'s chat.
        """
        ref = (await self.reference(user)).outbound()
        await self.rest.call(send_typing(ref))

    # -- the kit's Surface ---------------------------------------------------

    async def conversation_ref(self, user: UserRecord, contact: Address) -> str | None:
        """
        The user's chat with the app, when known.
        """
        found = self._refs.get(self.native_of(user))
        return found.conversation_id if found is not None else None

    async def open_conversation(
        self, user: UserRecord, contact: Address, session: ChatSessionId | None, text: str
    ) -> str:
        """
        Post C{text} in the user's chat, in the pair's delivery order; a
        plain reply then goes to C{contact}.
        """

        async def job() -> str:
            conversation, posted = await self.say(user, text)
            self.replies.posted(conversation, posted, contact)
            return conversation

        key = (self.tenant_id, user.address.key, contact.key)
        return await self._delivery.in_order(key, job)  # type: ignore[no-any-return]

    async def notify(self, user: UserRecord, text: str, session: ChatSessionId | None) -> None:
        """
        Tell C{user} C{text} in their chat with the app.
        """
        await self.say(user, text)

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        """
        The user's contacts; presence is honestly unknown (Teams shows none).
        """
        lines = []
        for contact in await self._store.list_contacts(owner=user.address):
            name, _ = await self._directory.shown(contact.external, user.address)
            lines.append(ContactLine(contact, name))
        return lines
