# -*- test-case-name: tests.teams.test_simulator -*-
"""
What the simulated Teams knows, per tenant: users, whether they installed
the bot or blocked it, 1:1 conversations and their activities. Tests read
it to assert what the hub did.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field

__all__ = ["BotApp", "SimActivity", "SimConversation", "SimUser", "Tenant"]


@define
class BotApp:
    """
    An app registration the token endpoint knows.
    """

    app_id: str
    secret: str = field(repr=False)
    tenant_id: str
    multi_tenant: bool = False

    @property
    def bot_id(self) -> str:
        """
        The bot's channel account id.
        """
        return f"28:{self.app_id}"


@define
class SimUser:
    """
    A Teams user.
    """

    id: str
    aad_object_id: str
    name: str
    tenant_id: str
    installed: bool = False
    blocked: bool = False
    email: str | None = None


@define
class SimActivity:
    """
    An activity in a conversation, from a user or from the bot.

    @ivar edits: Earlier versions, oldest first (full activities).
    """

    id: str
    conversation_id: str
    type: str
    from_id: str
    body: dict[str, Any] = field(repr=False)
    reply_to_id: str | None = None
    deleted: bool = False
    edits: list[dict[str, Any]] = field(factory=list, repr=False)

    @property
    def text(self) -> str | None:
        """
        The current text.
        """
        text = self.body.get("text")
        return text if isinstance(text, str) else None


@define
class SimConversation:
    """
    A personal (1:1) conversation between a user and the bot.
    """

    id: str
    tenant_id: str
    user_id: str
    activities: dict[str, SimActivity] = field(factory=dict, repr=False)

    def from_bot(self, bot_id: str) -> list[SimActivity]:
        """
        The activities the bot sent, in order (deleted ones included).
        """
        return [a for a in self.activities.values() if a.from_id == bot_id]


@define
class Tenant:
    """
    One organisation's Teams.
    """

    id: str
    users: dict[str, SimUser] = field(factory=dict)
    conversations: dict[str, SimConversation] = field(factory=dict)

    def conversation_with(self, user_id: str) -> SimConversation | None:
        """
        The 1:1 conversation with C{user_id}, if one exists.
        """
        for conversation in self.conversations.values():
            if conversation.user_id == user_id:
                return conversation
        return None
