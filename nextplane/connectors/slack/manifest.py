# -*- test-case-name: tests.slack.test_manifest -*-
"""
The Slack app manifest for this hub
(U{https://docs.slack.dev/reference/app-manifest}), so creating the app
is a copy-paste: the bot scopes the connector asks for, the events it
handles, the C{/nextplane} command, interactivity, and the URLs under the
hub's public URL (C{[web] public_url}) where its webhook is mounted.
"""

from __future__ import annotations

from typing import Any

from .config import SCOPES

__all__ = ["BOT_EVENTS", "COMMAND", "manifest"]

#: Events the connector acts on (the webhook's C{/events}).
BOT_EVENTS: tuple[str, ...] = (
    "app_home_opened",
    "app_uninstalled",
    "message.groups",
    "message.im",
    "reaction_added",
    "reaction_removed",
    "tokens_revoked",
)
#: The slash command the webhook's C{/commands} answers.
COMMAND = "/nextplane"


def manifest(
    public_url: str,
    *,
    name: str = "nextplane",
    description: str = "Chat with contacts on other platforms: XMPP, SIP, Teams, Webex.",
    oauth: bool = True,
) -> dict[str, Any]:
    """
    The manifest as a JSON-ready dict.

    @param public_url: The hub's public base URL (C{https://hub.example.com}).
    @param name: The app's name and its bot's display name (Slack allows 35
        characters).
    @param oauth: Whether the hub's OAuth install is configured: adds its
        redirect URL.
    """
    base = public_url.rstrip("/") + "/slack"
    oauth_config: dict[str, Any] = {"scopes": {"bot": list(SCOPES)}}
    if oauth:
        oauth_config["redirect_urls"] = [f"{base}/oauth/callback"]
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": name[:35], "description": description[:140]},
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name[:80], "always_online": True},
            "slash_commands": [
                {
                    "command": COMMAND,
                    "url": f"{base}/commands",
                    "description": "Invite, remove, block or list external contacts",
                    "usage_hint": "invite ADDRESS | remove ADDRESS | block DOMAIN | list | help",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": oauth_config,
        "settings": {
            "event_subscriptions": {
                "request_url": f"{base}/events",
                "bot_events": list(BOT_EVENTS),
            },
            "interactivity": {"is_enabled": True, "request_url": f"{base}/interactivity"},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
