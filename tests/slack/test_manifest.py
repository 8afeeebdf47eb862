"""
Tests for L{nextplane.connectors.slack.manifest}: the generated app
manifest has Slack's manifest shape and names what the connector serves.
"""

from __future__ import annotations

import jsonschema
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.connector import SCOPES
from nextplane.connectors.slack.manifest import manifest

_URL = {"type": "string", "pattern": "^https://"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_BOOL = {"type": "boolean"}

#: The fields of Slack's app manifest reference
#: (https://docs.slack.dev/reference/app-manifest) this hub uses, with
#: Slack's limits; unknown keys are refused so a typo fails here.
MANIFEST_SCHEMA = {
    "type": "object",
    "required": ["display_information"],
    "additionalProperties": False,
    "properties": {
        "_metadata": {
            "type": "object",
            "properties": {
                "major_version": {"type": "integer"},
                "minor_version": {"type": "integer"},
            },
        },
        "display_information": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 35},
                "description": {"type": "string", "maxLength": 140},
                "long_description": {"type": "string", "minLength": 175, "maxLength": 4000},
                "background_color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
            },
        },
        "features": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "app_home": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "home_tab_enabled": _BOOL,
                        "messages_tab_enabled": _BOOL,
                        "messages_tab_read_only_enabled": _BOOL,
                    },
                },
                "bot_user": {
                    "type": "object",
                    "required": ["display_name"],
                    "additionalProperties": False,
                    "properties": {
                        "display_name": {"type": "string", "minLength": 1, "maxLength": 80},
                        "always_online": _BOOL,
                    },
                },
                "slash_commands": {
                    "type": "array",
                    "maxItems": 50,
                    "items": {
                        "type": "object",
                        "required": ["command", "description"],
                        "additionalProperties": False,
                        "properties": {
                            "command": {"type": "string", "pattern": "^/[a-z0-9_-]{1,31}$"},
                            "url": _URL,
                            "description": {"type": "string", "maxLength": 2000},
                            "usage_hint": {"type": "string", "maxLength": 1000},
                            "should_escape": _BOOL,
                        },
                    },
                },
            },
        },
        "oauth_config": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "redirect_urls": {"type": "array", "items": _URL, "maxItems": 1000},
                "scopes": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"bot": _STRINGS, "user": _STRINGS},
                },
            },
        },
        "settings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "event_subscriptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "request_url": _URL,
                        "bot_events": {**_STRINGS, "maxItems": 100},
                        "user_events": {**_STRINGS, "maxItems": 100},
                    },
                },
                "interactivity": {
                    "type": "object",
                    "required": ["is_enabled"],
                    "additionalProperties": False,
                    "properties": {"is_enabled": _BOOL, "request_url": _URL},
                },
                "org_deploy_enabled": _BOOL,
                "socket_mode_enabled": _BOOL,
                "token_rotation_enabled": _BOOL,
            },
        },
    },
}

#: Scopes each bot event needs (Slack's event reference).
EVENT_SCOPES = {
    "message.groups": "groups:history",
    "message.im": "im:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
}


class ManifestTests(SynchronousTestCase):
    def test_shape(self) -> None:
        """The manifest validates against Slack's manifest shape."""
        document = manifest("https://hub.example.com/", name="nextplane acme.test")
        jsonschema.validate(document, MANIFEST_SCHEMA)

    def test_urls_scopes_events(self) -> None:
        """URLs sit under the public URL's /slack/; scopes are the connector's; events have their scopes."""
        document = manifest("https://hub.example.com")
        settings = document["settings"]
        self.assertEqual(
            settings["event_subscriptions"]["request_url"], "https://hub.example.com/slack/events"
        )
        self.assertEqual(
            settings["interactivity"]["request_url"], "https://hub.example.com/slack/interactivity"
        )
        [command] = document["features"]["slash_commands"]
        self.assertEqual(command["url"], "https://hub.example.com/slack/commands")
        self.assertEqual(
            document["oauth_config"]["redirect_urls"],
            ["https://hub.example.com/slack/oauth/callback"],
        )
        self.assertEqual(document["oauth_config"]["scopes"]["bot"], list(SCOPES))
        for event in settings["event_subscriptions"]["bot_events"]:
            if event in EVENT_SCOPES:
                self.assertIn(EVENT_SCOPES[event], SCOPES, event)
        self.assertNotIn("redirect_urls", manifest("https://h.test", oauth=False)["oauth_config"])
