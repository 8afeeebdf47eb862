# -*- test-case-name: tests.teams.test_config -*-
"""
C{[connectors.teams]}: the bot's app registration and where Teams is.

    [connectors.teams]
    app_id = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"   # the Azure Bot's Microsoft app id
    app_password = "${TEAMS_APP_PASSWORD}"             # its client secret
    tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47" # single-tenant (the default)
    # multi_tenant = true                              # older multi-tenant bots instead
    # authority = "https://login.microsoftonline.com"
    # openid_metadata_url = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    # message_style = "card"                           # or "text": a bold name line
    # file_link_ttl = 604800
    # service_url = "https://smba.trafficmanager.net/teams/"  # to open chats proactively
    # requests_per_second = 30                         # the app's pace per tenant

The authority and metadata URL are there for tests and benchmarks, which
point them at the Teams simulator. Secrets are kept out of C{repr} and
listed by L{TeamsConfig.secrets} so logs redact them.
"""

from __future__ import annotations

import re

from attrs import field, frozen

from ...config import ConfigError, Section
from .auth import DEFAULT_METADATA_URL
from .token import DEFAULT_AUTHORITY, BotCredentials

__all__ = ["MESSAGE_STYLES", "TeamsConfig", "parse_config"]

#: How a contact's message is shown: an Adaptive Card with their picture
#: and name, or text starting with their bold name.
MESSAGE_STYLES = ("card", "text")
#: The Connector endpoint Teams gives bots everywhere.
DEFAULT_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@frozen
class TeamsConfig:
    """
    C{[connectors.teams]}.

    @ivar app_id: The bot's Microsoft app id (the token audience).
    @ivar app_password: The app registration's client secret.
    @ivar tenant_id: The tenant the bot is registered in (single-tenant).
    @ivar multi_tenant: An older multi-tenant registration.
    @ivar authority: The Entra ID login host for bot tokens.
    @ivar openid_metadata_url: Where the channel's signing keys are published.
    @ivar message_style: One of L{MESSAGE_STYLES}.
    @ivar file_link_ttl: Seconds a file link given to a contact works.
    @ivar request_timeout: Seconds to wait for each Connector answer.
    @ivar service_url: Where chats are opened with users the hub has not
        heard from since it started (Teams' global Connector endpoint).
    @ivar requests_per_second: Connector calls per second per tenant
        (Teams allows an app at least 30).
    @ivar queue_ack_seconds: Longest a delivery waits in a chat's queue
        before the router is told it was taken.
    @ivar max_queued: Deliveries that may wait per (user, contact).
    @ivar max_connections: HTTPS connections kept to Teams.
    """

    app_id: str
    app_password: str = field(repr=False)
    tenant_id: str | None = None
    multi_tenant: bool = False
    authority: str = DEFAULT_AUTHORITY
    openid_metadata_url: str = DEFAULT_METADATA_URL
    message_style: str = "card"
    file_link_ttl: float = 7 * 86400.0
    request_timeout: float = 15.0
    service_url: str = DEFAULT_SERVICE_URL
    requests_per_second: int = 30
    queue_ack_seconds: float = 10.0
    max_queued: int = 1000
    max_connections: int = 32

    def credentials(self) -> BotCredentials:
        """
        The credentials for the outbound token.
        """
        return BotCredentials(
            self.app_id, self.app_password, self.tenant_id, self.multi_tenant, self.authority
        )

    def secrets(self) -> tuple[str, ...]:
        """
        Values to keep out of logs: the app password.
        """
        return (self.app_password,)


def _https(section: Section, name: str, default: str) -> str:
    value = section.string(name, default)
    if not value.startswith(("https://", "http://")):
        raise ConfigError(section.key(name), f"must be an http(s) URL, not {value!r}")
    return value


def parse_config(section: Section) -> TeamsConfig:
    """
    Validate C{[connectors.teams]}.
    """
    app_id = section.string("app_id")
    if not _GUID.fullmatch(app_id):
        raise ConfigError(section.key("app_id"), "must be the bot's Microsoft app id (a GUID)")
    password = section.string("app_password")
    multi_tenant = section.boolean("multi_tenant", False)
    tenant_id = section.optional_string("tenant_id")
    if multi_tenant and tenant_id is not None:
        raise ConfigError(section.key("tenant_id"), "a multi-tenant bot has no tenant_id")
    if not multi_tenant and tenant_id is None:
        raise ConfigError(
            section.key("tenant_id"),
            "required for a single-tenant bot (set multi_tenant = true for an older bot)",
        )
    config = TeamsConfig(
        app_id=app_id,
        app_password=password,
        tenant_id=tenant_id,
        multi_tenant=multi_tenant,
        authority=_https(section, "authority", DEFAULT_AUTHORITY).rstrip("/"),
        openid_metadata_url=_https(section, "openid_metadata_url", DEFAULT_METADATA_URL),
        message_style=section.choice("message_style", MESSAGE_STYLES, "card"),
        file_link_ttl=section.number("file_link_ttl", 7 * 86400.0, minimum=60.0),
        request_timeout=section.number("request_timeout", 15.0, minimum=1.0),
        service_url=_https(section, "service_url", DEFAULT_SERVICE_URL),
        requests_per_second=section.integer("requests_per_second", 30, minimum=1, maximum=1000),
        queue_ack_seconds=section.number("queue_ack_seconds", 10.0, minimum=0.1),
        max_queued=section.integer("max_queued", 1000, minimum=1, maximum=100_000),
        max_connections=section.integer("max_connections", 32, minimum=1, maximum=1000),
    )
    section.finish()
    return config
