# -*- test-case-name: tests.slack.test_connector -*-
"""
The user's side of the app: C{/nextplane} commands (and the same words in
the app's DM), the Accept/Decline buttons of contact-request cards, and the
Home tab (C{views.publish}) listing contacts with state, presence
(C{unknown} until the contact says otherwise, never a false "offline") and
conversation. The commands' logic and wording are the kit's
(L{nextplane.connectors.platform.commands}); this module reads Slack's
payloads and posts Slack's answers.
"""

from __future__ import annotations

from collections.abc import Mapping

from cachetools import LRUCache
from twisted.internet.defer import Deferred

from ...interfaces import IStore
from ...model.address import Address, InvalidAddress
from ...model.events import Availability, Presence
from ...storage.records import ContactState, UserRecord
from ..platform.cards import ContactLine
from ..platform.commands import CommandAction, ContactCommands, parse_command_text
from ..platform.conversations import Conversations
from ..platform.delivery import Delivery
from ..platform.directory import Directory
from .outbound import SlackOutbound, SlackSurface
from .people import SlackPeople
from .style import help_text
from .ui import decided_card, home_view
from .webhook import CommandReply, Interaction, SlashCommand
from .workspace import SlackWorkspace, split_platform_id

__all__ = ["SlackHome"]


class SlackHome:
    """
    Commands, cards and the Home tab; see the module docstring.
    """

    def __init__(
        self,
        *,
        store: IStore,
        delivery: Delivery,
        directory: Directory,
        conversations: Conversations,
        people: SlackPeople,
        outbound: SlackOutbound,
        commands: ContactCommands,
        workspaces: Mapping[str, SlackWorkspace],
        by_domain: Mapping[str, SlackWorkspace],
    ) -> None:
        self._store = store
        self._delivery = delivery
        self._directory = directory
        self._conversations = conversations
        self._people = people
        self._outbound = outbound
        self._commands = commands
        self._workspaces = workspaces
        self._by_domain = by_domain
        self._presence: LRUCache[tuple[str, str], Availability] = LRUCache(100_000)

    def surface(self, ws: SlackWorkspace) -> SlackSurface:
        """
        C{ws} as the kit's commands see it.
        """
        return SlackSurface(ws, self._outbound, self._conversations, self.contact_lines)

    # -- Home tab --------------------------------------------------------------

    def note_presence(self, ws: SlackWorkspace, event: Presence) -> None:
        """
        Remember a contact's presence (shown on the Home tab and in lists).
        """
        self._presence[(event.recipient.key, event.sender.key)] = event.availability
        viewer = ws.slack_id(event.recipient)
        if viewer is not None and viewer in ws.home_viewers:
            self.refresh(ws, viewer)

    def request_shown(self, ws: SlackWorkspace, owner: UserRecord) -> None:
        """
        A contact-request card was posted to C{owner}: refresh their Home tab.
        """
        viewer = split_platform_id(owner.platform_id)[1]
        if viewer in ws.home_viewers:
            self.refresh(ws, viewer)

    def refresh(self, ws: SlackWorkspace, user_id: str, delay: float = 5.0) -> None:
        """
        Publish C{user_id}'s Home tab again soon (once for several changes).
        """
        self._delivery.schedule(
            (ws.team_id, f"home:{user_id}"),
            delay,
            lambda: self.publish(ws, user_id),
            "publishing a Slack Home tab",
        )

    async def publish(self, ws: SlackWorkspace, user_id: str) -> None:
        """
        Publish C{user_id}'s Home tab.
        """
        user = await self._people.slack_user(ws, user_id)
        if user is None or ws.client is None:
            return
        view = home_view(user.address, await self.contact_lines(user))
        await ws.client.publish_view(user_id, view)
        ws.home_viewers[user_id] = True

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        """
        C{user}'s contacts with name, presence and conversation.
        """
        ws = self._by_domain.get(user.address.domain)
        lines = []
        for contact in await self._store.list_contacts(owner=user.address):
            external = contact.external
            channel = None
            if ws is not None and contact.state == ContactState.ACCEPTED:
                session = await self._conversations.session(user.address, external)
                channel = await self._conversations.ref(ws.platform, session)
            known = await self._store.get_user(external)
            name = (known.display_name if known is not None else None) or self._directory.names.get(
                external.key
            )
            presence = self._presence.get((user.address.key, external.key), Availability.UNKNOWN)
            lines.append(ContactLine(contact, name, presence, channel))
        return lines

    # -- commands --------------------------------------------------------------

    def on_command(self, command: SlashCommand) -> Deferred[CommandReply]:
        """
        The webhook's slash command callback; the reply is ephemeral.
        """
        return Deferred.fromCoroutine(self._slash(command))

    async def _slash(self, command: SlashCommand) -> CommandReply:
        ws = self._workspaces.get(command.team_id)
        if ws is None:
            return CommandReply(
                "This Slack workspace is not connected to nextplane; ask your administrators."
            )
        text = await self.command(
            ws, command.user_id, command.action, command.address, command.domain, command.command
        )
        return CommandReply(text)

    def on_late_reply(self, command: SlashCommand, reply: CommandReply) -> Deferred[None]:
        """
        A command's answer that came after Slack's three seconds (an invite
        waiting for a slow federation peer): posted in the app's DM.
        """

        async def post() -> None:
            ws = self._workspaces.get(command.team_id)
            if ws is None or ws.client is None:
                return
            dm = await self._outbound.dm(ws, command.user_id)
            await ws.client.post_message(dm, reply.text)

        return Deferred.fromCoroutine(post())

    async def command(
        self,
        ws: SlackWorkspace,
        user_id: str,
        action: CommandAction,
        address: Address | None,
        domain: str | None,
        command: str = "/nextplane",
    ) -> str:
        """
        Carry out a command of Slack user C{user_id}. @return: The answer.
        """
        user = await self._people.slack_user(ws, user_id)
        return await self._commands.run(self.surface(ws), user, action, address, domain, command)

    async def on_direct_message(
        self, ws: SlackWorkspace, channel: str, user_id: str, text: str
    ) -> None:
        """
        A message to the app in its DM: read as a command, answered there.
        """
        ws.dms[user_id] = channel
        action, address, domain, problem = parse_command_text(text)
        if action is CommandAction.HELP:
            reply = help_text()
            if problem:
                reply = f"Sorry, {problem}.\n{reply}"
        else:
            reply = await self.command(ws, user_id, action, address, domain)
        await ws.api().post_message(channel, reply)

    # -- cards -----------------------------------------------------------------

    def on_interaction(self, interaction: Interaction) -> Deferred[None] | None:
        """
        The webhook's interactivity callback: Accept/Decline buttons.
        """
        if interaction.kind != "block_actions":
            return None
        ws = self._workspaces.get(interaction.team_id)
        decisions = [a for a in interaction.actions if a.accept is not None]
        if ws is None or not decisions:
            return None
        return Deferred.fromCoroutine(
            self._decide(ws, interaction, decisions[0].value, bool(decisions[0].accept))
        )

    async def _decide(
        self, ws: SlackWorkspace, interaction: Interaction, value: str | None, accept: bool
    ) -> None:
        try:
            requester = Address.parse(value or "")
        except InvalidAddress:
            return
        user = await self._people.slack_user(ws, interaction.user_id)
        if user is None:
            return
        name = self._directory.names.get(requester.key)
        text = await self._commands.decide(self.surface(ws), user, requester, accept, name)
        container = interaction.payload.get("container")
        in_view = isinstance(container, Mapping) and container.get("type") == "view"
        if interaction.channel_id and interaction.message_ts and not in_view:
            await ws.api().update_message(
                interaction.channel_id, interaction.message_ts, text, blocks=decided_card(text)
            )
        else:
            await self._outbound.notify(ws, user, text)
        if interaction.user_id in ws.home_viewers:
            await self.publish(ws, interaction.user_id)
