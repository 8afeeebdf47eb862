# -*- test-case-name: tests.slack.test_simulator -*-
"""
The simulated workspace: users, conversations, members, messages with
C{ts}, reactions, files and tokens, for tests to set up and assert on.

Shapes follow the Web API's objects (U{https://docs.slack.dev/reference/objects/}),
reduced to the fields the hub reads.
"""

from __future__ import annotations

import itertools
from typing import Any

from attrs import define, field

__all__ = ["Conversation", "SimFile", "SimMessage", "SimToken", "SimUser", "Workspace"]


@define
class SimUser:
    """
    A workspace member (or the app's bot user).
    """

    id: str
    name: str
    real_name: str = ""
    email: str | None = None
    is_bot: bool = False
    presence: str = "active"
    image_72: str = "https://avatars.slack.test/72.png"

    def as_json(self, team_id: str) -> dict[str, Any]:
        """
        The C{user} object of C{users.info}.
        """
        profile: dict[str, Any] = {
            "real_name": self.real_name or self.name,
            "display_name": self.name,
            "image_72": self.image_72,
        }
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "real_name": self.real_name or self.name,
            "deleted": False,
            "is_bot": self.is_bot,
            "tz": "Europe/Paris",
            "profile": profile,
        }


@define
class SimMessage:
    """
    A message in a conversation.
    """

    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    username: str | None = None
    icon_url: str | None = None
    icon_emoji: str | None = None
    blocks: list[Any] | None = None
    thread_ts: str | None = None
    edited_ts: str | None = None
    files: list[str] = field(factory=list)
    reactions: dict[str, list[str]] = field(factory=dict)

    def as_json(self) -> dict[str, Any]:
        """
        The message object Slack returns and sends in events.
        """
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.user is not None:
            data["user"] = self.user
        if self.bot_id is not None:
            data["bot_id"] = self.bot_id
            if self.username is not None:
                data["subtype"] = "bot_message"
                data["username"] = self.username
            if self.icon_url or self.icon_emoji:
                data["icons"] = {
                    k: v for k, v in (("image_72", self.icon_url), ("emoji", self.icon_emoji)) if v
                }
        if self.blocks is not None:
            data["blocks"] = self.blocks
        if self.thread_ts is not None:
            data["thread_ts"] = self.thread_ts
        if self.edited_ts is not None:
            data["edited"] = {"user": self.user or self.bot_id, "ts": self.edited_ts}
        if self.reactions:
            data["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in self.reactions.items()
            ]
        return data


@define
class Conversation:
    """
    A channel, private channel, DM (C{is_im}) or group DM (C{is_mpim}).
    """

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    members: set[str] = field(factory=set)
    messages: list[SimMessage] = field(factory=list)
    created: int = 0

    def find(self, ts: str) -> SimMessage | None:
        """
        The message with C{ts}, if any.
        """
        for message in self.messages:
            if message.ts == ts:
                return message
        return None

    @property
    def channel_type(self) -> str:
        """
        The C{channel_type} of message events in this conversation.
        """
        if self.is_im:
            return "im"
        if self.is_mpim:
            return "mpim"
        return "group" if self.is_private else "channel"

    def as_json(self, user: str | None = None) -> dict[str, Any]:
        """
        The conversation object.
        """
        data: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
        }
        if self.is_im:
            others = sorted(self.members - {user} if user else self.members)
            data["user"] = others[0] if others else user
        else:
            data["name"] = self.name
            data["is_channel"] = not self.is_private
            data["is_member"] = user in self.members if user else False
        return data


@define
class SimFile:
    """
    An uploaded file.
    """

    id: str
    name: str
    length: int
    content: bytes | None = None
    title: str | None = None
    alt_txt: str | None = None
    uploaded: bool = False
    completed: bool = False
    channels: list[str] = field(factory=list)
    user: str | None = None
    mimetype: str = "application/octet-stream"


@define
class SimToken:
    """
    An access token the simulator accepts.
    """

    token: str
    scopes: frozenset[str]
    user_id: str
    bot_id: str | None = None
    revoked: bool = False


@define
class Workspace:
    """
    One workspace with the app installed.
    """

    team_id: str = "T0SIM0001"
    team_name: str = "Simulated"
    domain: str = "simulated"
    app_id: str = "A0SIM0001"
    bot_id: str = "B0SIM0001"
    bot_user_id: str = "U0SIMBOT1"
    users: dict[str, SimUser] = field(factory=dict)
    conversations: dict[str, Conversation] = field(factory=dict)
    files: dict[str, SimFile] = field(factory=dict)
    tokens: dict[str, SimToken] = field(factory=dict)
    _ids: Any = field(factory=lambda: itertools.count(1))

    def __attrs_post_init__(self) -> None:
        self.users.setdefault(
            self.bot_user_id, SimUser(self.bot_user_id, "nextplane", "nextplane", is_bot=True)
        )

    def new_id(self, prefix: str) -> str:
        """
        A fresh Slack-looking id (C{C0000000042}).
        """
        return f"{prefix}{next(self._ids):010d}"

    def add_user(
        self, name: str, email: str | None = None, real_name: str = "", user_id: str | None = None
    ) -> SimUser:
        """
        Add a member.
        """
        user = SimUser(user_id or self.new_id("U"), name, real_name or name, email)
        self.users[user.id] = user
        return user

    def add_channel(
        self, name: str, members: set[str] | None = None, is_private: bool = False
    ) -> Conversation:
        """
        Add a channel with C{members} (the bot is not added unless listed).
        """
        conversation = Conversation(
            self.new_id("G" if is_private else "C"),
            name,
            is_private=is_private,
            members=set(members or ()),
        )
        self.conversations[conversation.id] = conversation
        return conversation

    def add_token(
        self, token: str, scopes: set[str] | frozenset[str], user_id: str | None = None
    ) -> SimToken:
        """
        Accept C{token} with C{scopes} (a bot token when C{user_id} is the
        bot's or unset).
        """
        owner = user_id or self.bot_user_id
        record = SimToken(
            token,
            frozenset(scopes),
            owner,
            bot_id=self.bot_id if owner == self.bot_user_id else None,
        )
        self.tokens[token] = record
        return record

    def im_with(self, user: str, other: str) -> Conversation:
        """
        The DM between two users, created when missing.
        """
        members = {user, other}
        for conversation in self.conversations.values():
            if conversation.is_im and conversation.members == members:
                return conversation
        conversation = Conversation(self.new_id("D"), "", is_im=True, members=members)
        self.conversations[conversation.id] = conversation
        return conversation

    def channel_named(self, name: str) -> Conversation | None:
        """
        The channel (not DM) called C{name}, if any.
        """
        for conversation in self.conversations.values():
            if not conversation.is_im and conversation.name == name:
                return conversation
        return None
