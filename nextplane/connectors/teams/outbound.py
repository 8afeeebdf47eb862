# -*- test-case-name: tests.teams.test_connector -*-
"""
Hub events shown in Teams: the Teams half of C{deliver} (queueing and
acknowledgement are the kit's L{nextplane.connectors.platform.delivery}).

A bot cannot post as another person, so every contact's message is shown
in the user's chat with the app under the contact's picture and name (an
Adaptive Card header, C{message_style = "card"}) or after a bold name line
(C{"text"}); the posted activity is remembered as that contact's
(L{ReplyTargets}), so a plain reply goes back to them.

  - Text: split under Teams' 100 KB when longer; a reply to a message
    Teams knows is sent as a reply to it. The activity id is mapped to the
    hub message id as C{"<conversation>:<activity>"}.
  - Edits: the activity is replaced; retractions delete it.
  - Reactions: bots cannot react in Teams, so a short line says who
    reacted with what.
  - Files: a file consent card (the user accepts it into their OneDrive,
    see L{TeamsOutbound.consented}); declined, too large or failed, a link card.
  - Contact requests: an Adaptive Card with Accept and Decline, updated in
    place when answered. Acceptances, declines, removals and delivery
    errors: notices from the app.
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache
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
from ...model.text import RichText
from ...storage.records import UserRecord
from ..platform.conversations import Conversations
from ..platform.directory import Directory
from . import cards
from .activity import FileConsent
from .api import message_activity
from .files import upload_ranges, uploaded_card
from .format import to_teams_markdown
from .reactions import reaction_line
from .split import split_for_teams
from .style import TEAMS
from .tenant import TeamsTenant

__all__ = ["MAX_CONSENT_FILE", "TeamsOutbound"]

log = Logger()

#: Files up to this size are offered for upload; larger ones as a link.
MAX_CONSENT_FILE = 25 * 1024 * 1024


class TeamsOutbound:
    """
    Shows hub events in Teams; see the module docstring.

    @ivar messages_out: Contacts' messages posted.
    """

    def __init__(
        self,
        *,
        store: IStore,
        directory: Directory,
        conversations: Conversations,
        message_style: str,
    ) -> None:
        self._store = store
        self.directory = directory
        self._conversations = conversations
        self._style = message_style
        self._offers: LRUCache[str, FileShare] = LRUCache(10_000)
        self.messages_out = 0

    async def owner(self, tenant: TeamsTenant, address: Address) -> UserRecord:
        """
        The Teams user C{address} of C{tenant}.

        @raise DeliveryFailed: When there is none.
        """
        user = await self._store.get_user(address)
        if user is None or not user.platform_id.startswith(f"{tenant.tenant_id}/"):
            raise DeliveryFailed("item-not-found", f"{address} is not a Teams user here")
        return user  # type: ignore[no-any-return]

    async def deliver(self, tenant: TeamsTenant, event: Event) -> None:
        """
        Show C{event} to its recipient, a user of C{tenant}.
        """
        owner = await self.owner(tenant, event.recipient)
        contact = event.sender
        session = event.session or await self._conversations.session(owner.address, contact)
        who = TEAMS.who(contact, self.directory.names.get(contact.key))
        if isinstance(event, TextMessage):
            await self._text(tenant, owner, contact, session, event)
        elif isinstance(event, MessageEdit):
            aid = await self._target(tenant, event.message_id, "edit")
            await tenant.update(owner, aid, await self._activity(owner, contact, event.body))
        elif isinstance(event, MessageRetract):
            await tenant.delete(owner, await self._target(tenant, event.message_id, "retraction"))
        elif isinstance(event, ReactionAdd | ReactionRemove):
            name, _ = await self.directory.shown(contact, owner.address)
            line = reaction_line(
                TEAMS.esc(name or str(contact)),
                event.emoji,
                removed=isinstance(event, ReactionRemove),
            )
            conversation, posted = await tenant.say(owner, f"_{line}_")
            tenant.replies.posted(conversation, posted, contact)
        elif isinstance(event, FileShare):
            await self._file(tenant, owner, contact, event)
        elif isinstance(event, ContactRequest):
            if event.display_name:
                self.directory.names[contact.key] = event.display_name
            request = await self._request(owner, contact, cards.RequestState.PENDING)
            await tenant.post(
                owner, message_activity(attachments=[cards.contact_request_card(request)])
            )
        elif isinstance(event, ContactAccept):
            conversation, posted = await tenant.say(
                owner,
                f"✅ {who} accepted your invitation. Write here to chat with them "
                f"(type {TEAMS.code('list')} to see all your contacts).",
            )
            tenant.replies.posted(conversation, posted, contact)
        elif isinstance(event, ContactDecline):
            await tenant.say(owner, f"{who} declined your invitation.")
        elif isinstance(event, ContactRemove):
            await tenant.say(
                owner, f"{who} removed you from their contacts: messages no longer reach them."
            )
        elif isinstance(event, DeliveryError):
            await tenant.say(owner, f"⚠️ Not delivered to {who}: {TEAMS.esc(event.reason)}")
        else:  # pragma: no cover - presence and typing never reach here
            raise DeliveryFailed("feature-not-implemented", f"Teams cannot show a {event.kind}")

    async def _request(
        self, owner: UserRecord, contact: Address, state: cards.RequestState
    ) -> cards.ContactRequest:
        name, picture = await self.directory.shown(contact, owner.address)
        return cards.ContactRequest(
            str(contact),
            "New contact request",
            cards.Person(name or str(contact), str(contact), picture),
            state,
        )

    async def answered_card(
        self, owner: UserRecord, contact: Address, state: cards.RequestState
    ) -> dict[str, Any]:
        """
        The contact request card as it reads once answered (for the invoke response).
        """
        return cards.contact_request_content(await self._request(owner, contact, state))

    async def _activity(
        self, owner: UserRecord, contact: Address, body: RichText
    ) -> dict[str, Any]:
        name, picture = await self.directory.shown(contact, owner.address)
        person = cards.Person(name or str(contact), str(contact), picture)
        text = to_teams_markdown(body)
        if self._style == "card":
            return message_activity(attachments=[cards.message_card(person, text.text)])
        line = cards.name_line(person)
        return message_activity(f"{line}\n\n{text.text}", entities=text.entities)

    async def _text(
        self,
        tenant: TeamsTenant,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        event: TextMessage,
    ) -> None:
        if not event.body.plain_text().strip():
            raise DeliveryFailed("bad-request", "the message is empty")
        reply_to = None
        if event.reply_to is not None:
            native = await self._store.find_native_id(event.reply_to, tenant.platform)
            reply_to = native.rpartition(":")[2] if native else None
        first = None
        for piece in split_for_teams(event.body):
            activity = await self._activity(owner, contact, piece)
            conversation, posted = await tenant.post(owner, activity, reply_to)
            tenant.replies.posted(conversation, posted, contact)
            first = first or f"{conversation}:{posted}"
        self.messages_out += 1
        if first is not None:
            await self._store.map_message(event.message_id, tenant.platform, first, session)

    async def _target(self, tenant: TeamsTenant, message_id: str, what: str) -> str:
        native = await self._store.find_native_id(message_id, tenant.platform)
        if native is None:
            raise DeliveryFailed("item-not-found", f"the message of this {what} is not in Teams")
        return native.rpartition(":")[2]

    # -- files -------------------------------------------------------------

    async def _file(
        self, tenant: TeamsTenant, owner: UserRecord, contact: Address, event: FileShare
    ) -> None:
        name, picture = await self.directory.shown(contact, owner.address)
        person = cards.Person(name or str(contact), str(contact), picture)
        shared = cards.SharedFile(event.message_id, event.name, event.size or 0, event.url)
        if event.size is None or 0 < event.size <= MAX_CONSENT_FILE:
            await tenant.say(owner, f"{cards.name_line(person)} sends a file:")
            self._offers[event.message_id] = event
            card = cards.file_consent_card(shared)
        else:
            card = cards.file_link_card(shared, person)
        conversation, posted = await tenant.post(owner, message_activity(attachments=[card]))
        tenant.replies.posted(conversation, posted, contact)

    async def consented(self, tenant: TeamsTenant, owner: UserRecord, consent: FileConsent) -> None:
        """
        The user answered a file consent card: upload the file to the place
        Teams gave, then show it; declined or failed, post a link card.
        """
        context = consent.context if isinstance(consent.context, dict) else {}
        offer = self._offers.pop(str(context.get("file", "")), None)
        if offer is None:
            await tenant.say(owner, "That file is no longer available.")
            return
        shared = cards.SharedFile(offer.message_id, offer.name, offer.size or 0, offer.url)
        if consent.accepted and consent.upload is not None:
            try:
                await self._upload(tenant, offer, consent)
            except Exception as e:
                log.info("uploading a file to Teams failed: {error}", error=type(e).__name__)
            else:
                await tenant.post(
                    owner, message_activity(attachments=[uploaded_card(consent.upload)])
                )
                return
        await tenant.post(owner, message_activity(attachments=[cards.file_link_card(shared)]))

    async def _upload(self, tenant: TeamsTenant, offer: FileShare, consent: FileConsent) -> None:
        upload = consent.upload
        assert upload is not None
        caller = tenant.rest.caller
        status, _, data = await caller.request("GET", offer.url)
        if status != 200 or not data or len(data) > MAX_CONSENT_FILE:
            raise ValueError(f"download answered {status}")
        for part in upload_ranges(upload, len(data)):
            status, _, _ = await caller.request(
                "PUT", part.url, headers=part.headers, data=data[part.start : part.end + 1]
            )
            if status not in (200, 201, 202):
                raise ValueError(f"upload answered {status}")
