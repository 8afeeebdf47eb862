# -*- test-case-name: tests.webex.test_connector -*-
"""
C{[connectors.webex]}: the bot's token and webhook secret, the REST base
URL and the kit's delivery settings.

The bot token comes from C{bot_token} (which may say C{${NAME}} to read an
environment variable) or, when that is absent, from the environment
variable C{NEXTPLANE_WEBEX_BOT_TOKEN}.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from attrs import field, frozen

from ...config import ConfigError, Section
from .api import BASE_URL

__all__ = ["TOKEN_VARIABLE", "WebexConfig", "parse_config"]

#: Where the bot token is read from when the section has none.
TOKEN_VARIABLE = "NEXTPLANE_WEBEX_BOT_TOKEN"  # noqa: S105 - a variable name, not a secret


@frozen
class WebexConfig:
    """
    C{[connectors.webex]}.

    @ivar bot_token: The bot's access token (developer.webex.com, My Apps).
    @ivar webhook_secret: Signs the webhooks the hub keeps (HMAC-SHA1).
    @ivar api_base_url: The REST API (the simulator's in tests).
    @ivar file_link_ttl: Seconds a file link given to a contact works.
    @ivar queue_ack_seconds: Longest a delivery waits in a conversation's
        queue before it is acknowledged anyway.
    @ivar max_queued: Deliveries that may wait per conversation.
    @ivar request_timeout: Seconds to wait for each REST answer.
    @ivar max_connections: Persistent HTTPS connections kept to Webex.
    """

    bot_token: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    api_base_url: str = BASE_URL
    file_link_ttl: float = 7 * 86400.0
    queue_ack_seconds: float = 10.0
    max_queued: int = 1000
    request_timeout: float = 10.0
    max_connections: int = 32

    def secrets(self) -> tuple[str, ...]:
        """
        Values to keep out of logs.
        """
        return (self.bot_token, self.webhook_secret)


def parse_config(section: Section, environ: Mapping[str, str] | None = None) -> WebexConfig:
    """
    Validate C{[connectors.webex]}.

    @param environ: Where C{NEXTPLANE_WEBEX_BOT_TOKEN} is looked up; by
        default the environment the configuration is read with.
    """
    if environ is None:
        environ = getattr(section, "_environ", None) or os.environ
    token = section.optional_string("bot_token") or environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise ConfigError(
            section.key("bot_token"),
            f"is required (or set the environment variable {TOKEN_VARIABLE})",
        )
    secret = section.string("webhook_secret")
    if len(secret) < 16:
        raise ConfigError(section.key("webhook_secret"), "must be at least 16 characters")
    base = section.string("api_base_url", BASE_URL)
    if not base.startswith(("https://", "http://")):
        raise ConfigError(section.key("api_base_url"), f"must be an http(s) URL, not {base!r}")
    return WebexConfig(
        bot_token=token,
        webhook_secret=secret,
        api_base_url=base.rstrip("/"),
        file_link_ttl=section.number("file_link_ttl", 7 * 86400.0, minimum=60.0),
        queue_ack_seconds=section.number("queue_ack_seconds", 10.0, minimum=0.1),
        max_queued=section.integer("max_queued", 1000, minimum=1, maximum=100_000),
        request_timeout=section.number("request_timeout", 10.0, minimum=1.0),
        max_connections=section.integer("max_connections", 32, minimum=1, maximum=1000),
    )
