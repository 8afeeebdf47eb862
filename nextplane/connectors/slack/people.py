# -*- test-case-name: tests.slack.test_connector -*-
"""
Slack users as hub users: who Slack says a user is (C{users.info},
C{users.lookupByEmail}) and which accounts may use the app; registration
itself is the kit's L{nextplane.connectors.platform.directory.Directory}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.logger import Logger

from ...interfaces import DeliveryFailed
from ...model.address import Address
from ...storage.interfaces import IDirectory
from ...storage.records import UserRecord
from ..platform.directory import Directory
from .api import SlackApiError
from .workspace import PLATFORM, SlackWorkspace, platform_id, split_platform_id

__all__ = ["SlackPeople", "text_of"]

log = Logger()


def text_of(value: Any) -> str | None:
    """
    C{value} when it is a non-empty string, else C{None}.
    """
    return value if isinstance(value, str) and value else None


class SlackPeople:
    """
    Finds and registers the Slack users of each workspace.
    """

    def __init__(self, store: IDirectory, directory: Directory) -> None:
        self._store = store
        self._directory = directory

    async def slack_user(self, ws: SlackWorkspace, user_id: Any) -> UserRecord | None:
        """
        The hub user of Slack user C{user_id}, registered on first sight.
        """
        if not isinstance(user_id, str) or not user_id:
            return None
        cached = ws.users.get(user_id)
        if cached is not None:
            return cached
        user = await self._store.find_user(PLATFORM, platform_id(ws.team_id, user_id))
        if user is None:
            if ws.client is None:
                return None
            try:
                answer = await ws.client.user_info(user_id)
            except SlackApiError as e:
                log.info(
                    "Slack users.info for {team}/{user} failed: {reason}",
                    team=ws.team_id,
                    user=user_id,
                    reason=e.reason,
                )
                return None
            info = answer.get("user")
            user = await self.register(ws, info) if isinstance(info, dict) else None
            if user is None:
                return None
        ws.remember(user)
        return user  # type: ignore[no-any-return]

    async def register(self, ws: SlackWorkspace, info: Mapping[str, Any]) -> UserRecord | None:
        """
        Register the user C{users.info} describes, unless it may not use
        the app (bots, deleted accounts, Slack Connect guests).
        """
        user_id = text_of(info.get("id"))
        if (
            user_id is None
            or info.get("is_bot")
            or info.get("deleted")
            or info.get("is_stranger")
            or user_id == "USLACKBOT"
        ):
            return None
        team = text_of(info.get("team_id"))
        if team is not None and team != ws.team_id and not info.get("enterprise_user"):
            return None  # a Slack Connect guest of another organisation
        profile = info.get("profile") if isinstance(info.get("profile"), Mapping) else {}
        assert isinstance(profile, Mapping)
        return await self._directory.register(
            domain=ws.domain,
            platform_id=platform_id(ws.team_id, user_id),
            native_id=user_id,
            email=text_of(profile.get("email")),
            handle=text_of(info.get("name")),
            display_name=(
                text_of(profile.get("display_name"))
                or text_of(profile.get("real_name"))
                or text_of(info.get("real_name"))
            ),
            avatar_url=text_of(profile.get("image_192")) or text_of(profile.get("image_72")),
            title=text_of(profile.get("title")),
        )

    async def hub_user(self, ws: SlackWorkspace, address: Address) -> UserRecord:
        """
        The Slack account behind hub user C{address} (a delivery's
        recipient), looked up by e-mail when the hub has not met it yet.

        @raise DeliveryFailed: C{item-not-found} when there is none.
        """
        user = await self._store.get_user(address)
        if (
            user is not None
            and user.platform == PLATFORM
            and split_platform_id(user.platform_id)[0] == ws.team_id
        ):
            ws.remember(user)
            return user  # type: ignore[no-any-return]
        if ws.client is not None and user is None:
            try:
                answer = await ws.client.lookup_user_by_email(str(address))
            except SlackApiError as e:
                if e.error != "users_not_found":
                    raise
            else:
                info = answer.get("user")
                found = await self.register(ws, info) if isinstance(info, dict) else None
                if found is not None and found.address.key == address.key:
                    ws.remember(found)
                    return found
        raise DeliveryFailed("item-not-found", f"{address} is not a Slack user of {ws.domain}")
