# -*- test-case-name: tests.slack.test_connector -*-
"""
A Slack OAuth v2 installation as the Slack connector reads it, kept in the
store as a generic L{PlatformInstallation} (platform C{slack}, the team id
as workspace, the bot token as credentials, the bot ids and Enterprise
Grid organisation as attributes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from attrs import field, frozen

from ...storage.records import PlatformInstallation
from .workspace import PLATFORM

__all__ = ["SlackInstallation"]


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen
class SlackInstallation:
    """
    The nextplane Slack app installed in one workspace with OAuth v2
    (C{oauth.v2.access}).

    @ivar team_id: The workspace (C{T0123ABCD}); one installation per team.
    @ivar bot_token: The bot token (C{xoxb-...}). A secret: left out of
        C{repr}, never dumped or logged.
    @ivar bot_user_id: The bot's user id (C{U...}), if Slack said.
    @ivar bot_id: The bot's id (C{B...}, from C{auth.test}), if known.
    @ivar scopes: The scopes granted, in Slack's order.
    @ivar installed_at: When the hub received the token.
    @ivar enterprise_id: The Enterprise Grid organisation, if any.
    """

    team_id: str
    bot_token: str = field(repr=False)
    bot_user_id: str | None
    bot_id: str | None
    scopes: tuple[str, ...] = field(converter=_tuple)
    installed_at: datetime
    enterprise_id: str | None = None

    def stored(self) -> PlatformInstallation:
        """
        The record the store keeps (which checks scopes and time).
        """
        return PlatformInstallation(
            PLATFORM,
            self.team_id,
            self.bot_token,
            self.scopes,
            self.installed_at,
            {
                "bot_user_id": self.bot_user_id,
                "bot_id": self.bot_id,
                "enterprise_id": self.enterprise_id,
            },
        )

    @classmethod
    def from_stored(cls, record: PlatformInstallation) -> SlackInstallation:
        """
        The Slack view of a stored installation of platform C{slack}.
        """
        attributes = record.attributes
        return cls(
            record.workspace,
            record.credentials,
            attributes.get("bot_user_id"),
            attributes.get("bot_id"),
            record.scopes,
            record.installed_at,
            attributes.get("enterprise_id"),
        )
