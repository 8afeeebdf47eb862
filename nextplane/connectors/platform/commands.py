# -*- test-case-name: tests.platform.test_commands -*-
"""
The contact commands every platform offers, with the same words: C{invite},
C{remove}, C{block}, C{list} and C{help} (typed as a slash command or in
the bot's direct conversation), and the answer to a contact-request card.

L{parse_command_text} reads the words; L{ContactCommands} carries them out
and words the answers. A platform supplies a L{Style} (its markup: bold,
code, a contact's name, a link to a conversation) and, per tenant, a
L{Surface} (its conversations).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from twisted.internet.interfaces import IReactorTime

from ...contacts import ContactBook
from ...model.address import Address, ChatSessionId, InvalidAddress, validate_domain
from ...model.events import (
    Availability,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
)
from ...storage.records import ContactState, UserRecord
from .cards import ContactLine, state_text
from .delivery import Delivery

__all__ = [
    "CommandAction",
    "ContactCommands",
    "Style",
    "Surface",
    "help_text",
    "list_text",
    "parse_command_text",
]


class CommandAction(enum.Enum):
    """What a command asks for: the same words on every platform."""

    #: Ask an external contact to chat (unblocks a blocked one).
    INVITE = "invite"
    #: Drop a contact (pending or accepted); they are told.
    REMOVE = "remove"
    #: Refuse a person's messages and requests (a domain: administrators).
    BLOCK = "block"
    #: Show one's contacts.
    LIST = "list"
    #: The usage text.
    HELP = "help"


def parse_command_text(text: str) -> tuple[CommandAction, Address | None, str | None, str | None]:
    """
    Read a command's words (after C{/nextplane}, or a direct message).

    @return: (action, address, domain, problem); C{problem} explains a
        malformed command, whose action is then L{CommandAction.HELP}.
    """
    words = text.split()
    if not words:
        return CommandAction.HELP, None, None, None
    verb = words[0].lower()
    try:
        action = CommandAction(verb)
    except ValueError:
        return CommandAction.HELP, None, None, f"unknown command {words[0]!r}"
    arguments = words[1:]
    if action in (CommandAction.LIST, CommandAction.HELP):
        if arguments:
            return CommandAction.HELP, None, None, f"{verb} takes no argument"
        return action, None, None, None
    if len(arguments) != 1:
        return CommandAction.HELP, None, None, f"{verb} takes one address"
    argument = arguments[0]
    # Clients may autolink addresses: <mailto:a@b|a@b>.
    if argument.startswith("<") and argument.endswith(">"):
        argument = argument[1:-1].split("|")[-1]
    if action is CommandAction.BLOCK and "@" not in argument:
        try:
            return action, None, validate_domain(argument), None
        except InvalidAddress:
            return CommandAction.HELP, None, None, f"not a domain: {argument}"
    try:
        return action, Address.parse(argument), None, None
    except InvalidAddress:
        return CommandAction.HELP, None, None, f"not an address: {argument}"


class Style:
    """
    A platform's markup for answers; plain text by default. Every value
    from outside goes through L{esc}.

    @ivar platform: The platform's name as users know it.
    """

    platform = "chat"

    def esc(self, text: object) -> str:
        """
        C{text} safe to put in a message.
        """
        return str(text)

    def bold(self, text: str) -> str:
        """
        Strong text (already escaped).
        """
        return text

    def code(self, text: str) -> str:
        """
        Something to type (already escaped).
        """
        return f"'{text}'"

    def icon(self, name: str) -> str:
        """
        A small picture: C{"ok"}, C{"warning"}, C{"wave"}, C{"link"}.
        """
        return {"ok": "✅", "warning": "⚠️", "wave": "👋", "link": "🔗"}.get(name, "")

    def place(self, ref: str) -> str:
        """
        A link to conversation C{ref}.
        """
        return ref

    def after_invite(self) -> str:
        """
        What happens once an invited contact accepts, in this platform's
        terms (a bot that cannot post as others shows contacts here).
        """
        return "Once they accept, their messages arrive here and you can answer them."

    def presence(self, availability: Availability) -> str:
        """
        A contact's presence in words.
        """
        if availability is Availability.UNKNOWN:
            return "presence unknown"
        return availability.value.replace("dnd", "do not disturb")

    def who(self, address: Address, name: str | None = None) -> str:
        """
        A contact: C{Name (address)} with the name strong, or the address.
        """
        if name and name.strip() and name != str(address):
            return f"{self.bold(self.esc(name.strip()))} ({self.esc(address)})"
        return self.bold(self.esc(address))

    def line(self, line: ContactLine) -> str:
        """
        One contact in a list: who, state, and for contacts presence and
        conversation.
        """
        text = f"{self.who(line.contact.external, line.name)} - {state_text(line.contact)}"
        if line.contact.state == ContactState.ACCEPTED:
            text += f" - {self.presence(line.presence)}"
            if line.channel:
                text += f" - {self.place(line.channel)}"
        return text


def help_text(style: Style, command: str = "/nextplane") -> str:
    """
    The commands' usage text.
    """
    b, c = style.bold, style.code
    return (
        f"{b(command + ' invite')} {c('user@example.com')} - ask an external contact to chat\n"
        f"{b(command + ' remove')} {c('user@example.com')} - remove a contact\n"
        f"{b(command + ' block')} {c('example.com')} or {c('user@example.com')} - block a "
        "domain or a person\n"
        f"{b(command + ' list')} - show your external contacts\n"
        f"{b(command + ' help')} - this help"
    )


def list_text(style: Style, lines: Sequence[ContactLine], command: str = "/nextplane") -> str:
    """
    The answer to C{list}.
    """
    if not lines:
        return (
            "You have no external contacts yet. "
            f"Invite one with {style.code(command + ' invite user@example.com')}."
        )
    shown = [f"• {style.line(line)}" for line in lines]
    return style.bold("Your external contacts") + "\n" + "\n".join(shown)


class Surface(Protocol):
    """
    One tenant on one platform, as the commands need it.

    @ivar domain: The tenant's domain.
    """

    domain: str

    async def conversation_ref(self, user: UserRecord, contact: Address) -> str | None:
        """
        The platform conversation of C{user} with C{contact}, if one exists.
        """

    async def open_conversation(
        self, user: UserRecord, contact: Address, session: ChatSessionId | None, text: str
    ) -> str:
        """
        Create (or reuse) the conversation, in the pair's delivery order,
        and post C{text} there. @return: Its reference.
        """

    async def notify(self, user: UserRecord, text: str, session: ChatSessionId | None) -> None:
        """
        Tell C{user} C{text} in the session's conversation, else the bot's.
        """

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        """
        C{user}'s contacts as shown to them.
        """


class ContactCommands:
    """
    Carries out commands and card answers; see the module docstring.
    """

    def __init__(
        self, contacts: ContactBook, delivery: Delivery, clock: IReactorTime, style: Style
    ) -> None:
        """
        @param contacts: The one writer of contact state.
        """
        self._contacts = contacts
        self._delivery = delivery
        self._clock = clock
        self.style = style

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def run(
        self,
        surface: Surface,
        user: UserRecord | None,
        action: CommandAction,
        address: Address | None,
        domain: str | None,
        command: str = "/nextplane",
    ) -> str:
        """
        Carry out a parsed command (not C{help}) for C{user}. @return: The answer.
        """
        s = self.style
        if user is None:
            return (
                f"Sorry, nextplane could not identify your {s.platform} account "
                "(apps, guests of other organisations and deactivated accounts cannot use it)."
            )
        if action is CommandAction.LIST:
            return list_text(s, await surface.contact_lines(user), command)
        if address is None:
            return (
                f"Blocking a whole domain is up to your administrators: ask them to block "
                f"{domain} for {surface.domain}. You can block one person with "
                f"{s.code(f'{command} block someone@{domain}')}."
            )
        if address.domain == surface.domain:
            return f"{address} is in your own organisation: message them in {s.platform} directly."
        if action is CommandAction.INVITE:
            return await self._invite(surface, user, address)
        if action is CommandAction.REMOVE:
            return await self._remove(surface, user, address)
        return await self._block(user, address, command)

    async def _invite(self, surface: Surface, user: UserRecord, address: Address) -> str:
        s = self.style
        contact = await self._contacts.get(user.address, address)
        note = ""
        if contact is not None and contact.state == ContactState.ACCEPTED:
            channel = await surface.conversation_ref(user, address)
            where = f": chat with them in {s.place(channel)}." if channel else "."
            return f"{address} is already your contact{where}"
        if contact is not None and contact.state == ContactState.BLOCKED:
            await self._contacts.unblock(user.address, address)
            note = f"You unblocked {address}. "
        request = ContactRequest(
            sender=user.address,
            recipient=address,
            timestamp=self._now(),
            display_name=user.display_name or None,
        )
        outcome = await self._delivery.route_inline(request)
        if not outcome.delivered:
            return f"{note}Could not invite {address}: {outcome.reason}"
        after = await self._contacts.get(user.address, address)
        if after is not None and after.state == ContactState.ACCEPTED:
            channel = await surface.open_conversation(
                user,
                address,
                outcome.session,
                f"{s.icon('ok')} You and {s.who(address)} asked each other: you are connected. "
                "What you post in this conversation is sent to them.",
            )
            return f"{note}You and {address} are now connected: chat in {s.place(channel)}."
        return f"{note}Invitation sent to {address}. {s.after_invite()}"

    async def _remove(self, surface: Surface, user: UserRecord, address: Address) -> str:
        contact = await self._contacts.get(user.address, address)
        if contact is None or contact.state not in (ContactState.PENDING, ContactState.ACCEPTED):
            return f"{address} is not among your contacts."
        outcome = await self._delivery.route_inline(
            ContactRemove(sender=user.address, recipient=address, timestamp=self._now())
        )
        told = ""
        if not outcome.delivered:
            await self._contacts.forget(user.address, address)
            told = f" They could not be told: {outcome.reason}"
        if contact.state == ContactState.ACCEPTED and outcome.session is not None:
            if await surface.conversation_ref(user, address) is not None:
                await surface.notify(
                    user,
                    f"You removed {self.style.who(address)}: messages here are no longer sent.",
                    outcome.session,
                )
        return f"Removed {address}.{told}"

    async def _block(self, user: UserRecord, address: Address, command: str) -> str:
        contact = await self._contacts.get(user.address, address)
        if contact is not None and contact.state == ContactState.BLOCKED:
            return f"{address} is already blocked."
        if contact is not None and contact.state in (ContactState.PENDING, ContactState.ACCEPTED):
            await self._delivery.route_inline(
                ContactRemove(sender=user.address, recipient=address, timestamp=self._now())
            )
        await self._contacts.block(user.address, address)
        return (
            f"Blocked {address}: they can no longer send you messages or contact requests. "
            f"{self.style.code(f'{command} invite {address}')} unblocks them."
        )

    async def decide(
        self,
        surface: Surface,
        user: UserRecord,
        requester: Address,
        accept: bool,
        name: str | None = None,
    ) -> str:
        """
        C{user} answered C{requester}'s card: route the answer, open the
        conversation on acceptance. @return: What the card now says.
        """
        s = self.style
        kind: Any = ContactAccept if accept else ContactDecline
        outcome = await self._delivery.route_inline(
            kind(sender=user.address, recipient=requester, timestamp=self._now())
        )
        if outcome.delivered and accept:
            channel = await surface.open_conversation(
                user,
                requester,
                outcome.session,
                f"{s.icon('ok')} You accepted {s.who(requester, name)}. What you post in "
                "this conversation is sent to them.",
            )
            return (
                f"{s.icon('ok')} You accepted {s.who(requester, name)}: chat in {s.place(channel)}."
            )
        if outcome.delivered:
            return f"You declined {s.who(requester, name)}'s request."
        verb = "accept" if accept else "decline"
        return (
            f"{s.icon('warning')} Could not {verb} {s.who(requester, name)}'s request: "
            f"{s.esc(outcome.reason)}"
        )
