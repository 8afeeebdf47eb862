# -*- test-case-name: tests.slack.test_connector -*-
"""
One Slack workspace installation as the connector knows it: the tenant it
serves, its Web API client, the bot's identity, and small caches.

Native identifiers are only unique within a workspace, so everything the
connector stores is qualified by the team id:

  - users: C{UserRecord(platform="slack", platform_id="<team>:<user>")};
  - conversations and messages: under the store platform name
    C{"slack:<team>"} (L{SlackWorkspace.platform}), so one chat session
    between users of two Slack tenants holds one conversation per
    workspace, and one hub message one C{"<channel>:<ts>"} per workspace.
"""

from __future__ import annotations

from cachetools import LRUCache

from ...interfaces import DeliveryFailed
from ...model.address import Address
from ...model.text import Mention
from ...storage.records import UserRecord
from .api import SlackWebClient

__all__ = ["PLATFORM", "SlackWorkspace", "platform_id", "split_platform_id"]

#: The connector's name, and the platform of its users.
PLATFORM = "slack"


def platform_id(team_id: str, user_id: str) -> str:
    """
    The C{UserRecord.platform_id} of Slack user C{user_id} in C{team_id}.
    """
    return f"{team_id}:{user_id}"


def split_platform_id(value: str) -> tuple[str, str]:
    """
    (team, user) from a L{platform_id}.
    """
    team, _, user = value.partition(":")
    return team, user


class SlackWorkspace:
    """
    The state of one workspace; see the module docstring.

    @ivar state: C{"starting"}, C{"ok"}, C{"not installed"},
        C{"uninstalled"} or C{"auth failed: ..."}.
    @ivar installed_by: Where the client's bot token came from:
        C{"config"}, C{"oauth"} (an OAuth install, stored) or C{None}.
    @ivar home_viewers: Users whose Home tab was published (refreshed on
        presence changes).
    """

    def __init__(self, team_id: str, domain: str, client: SlackWebClient | None) -> None:
        self.team_id = team_id
        self.domain = domain
        self.client = client
        self.installed_by: str | None = None
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self.state = "starting" if client is not None else "not installed"
        self.users: LRUCache[str, UserRecord] = LRUCache(10_000)
        self.ids: LRUCache[str, str] = LRUCache(10_000)
        self.dms: LRUCache[str, str] = LRUCache(10_000)
        self.home_viewers: LRUCache[str, bool] = LRUCache(10_000)

    def __repr__(self) -> str:
        return f"<SlackWorkspace {self.team_id} {self.domain} {self.state}>"

    @property
    def platform(self) -> str:
        """
        The store's platform name for this workspace's conversations and
        messages.
        """
        return f"{PLATFORM}:{self.team_id}"

    def api(self) -> SlackWebClient:
        """
        The Web API client.

        @raise DeliveryFailed: When the app is not installed here.
        """
        if self.client is None:
            raise DeliveryFailed(
                "service-unavailable",
                f"the nextplane Slack app is not installed in {self.domain}'s workspace",
            )
        return self.client

    def remember(self, user: UserRecord) -> None:
        """
        Cache a user of this workspace (both directions).
        """
        _, user_id = split_platform_id(user.platform_id)
        self.users[user_id] = user
        self.ids[user.address.key] = user_id

    def forget_users(self) -> None:
        """
        Drop cached users (after a reinstall).
        """
        self.users.clear()
        self.ids.clear()

    def mention_for(self, user_id: str) -> Mention | None:
        """
        The L{Mention} of a Slack user id, if known (inbound text).
        """
        user = self.users.get(user_id)
        if user is None:
            return None
        return Mention(user.display_name or user.address.local, user.address)

    def user_id_for(self, mention: Mention) -> str | None:
        """
        The Slack user id a mention of a hub user of this workspace becomes
        (outbound text); others stay C{@name} text.
        """
        if mention.address is None:
            return None
        return self.ids.get(mention.address.key)

    def slack_id(self, address: Address) -> str | None:
        """
        The cached Slack id of a hub user of this workspace.
        """
        return self.ids.get(address.key)
