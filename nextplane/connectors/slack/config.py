# -*- test-case-name: tests.slack.test_connector -*-
"""
C{[connectors.slack]}: the Slack app's settings, the bot scopes it asks
for, and the names of the private conversations it creates.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from attrs import field, frozen

from ...config import ConfigError, Section
from ...model.address import Address
from .api import DEFAULT_BASE_URL

__all__ = ["AUTHORIZE_URL", "SCOPES", "SlackConfig", "channel_name", "parse_config"]

#: Bot scopes the app asks for at install time.
SCOPES: tuple[str, ...] = (
    "chat:write",
    "chat:write.customize",
    "commands",
    "groups:write",
    "groups:history",
    "im:write",
    "im:history",
    "reactions:read",
    "reactions:write",
    "users:read",
    "users:read.email",
    "files:read",
)
#: Slack's consent page.
AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"

_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")
_SLUG = re.compile(r"[^a-z0-9_-]+")


@frozen
class SlackConfig:
    """
    C{[connectors.slack]}.

    @ivar signing_secret: The app's signing secret (Basic Information).
    @ivar api_base_url: The Web API (the simulator's in tests).
    @ivar client_id: OAuth client id; with C{client_secret} it enables
        C{/slack/install}.
    @ivar workspaces: Team id to bot token (C{xoxb-...}), from
        C{[connectors.slack.workspaces.<team>] bot_token}; these win over
        installations stored by OAuth installs.
    @ivar channel_prefix: Start of the private conversations' names.
    @ivar file_hosts: Hosts besides the API's that may receive the bot
        token when the hub fetches a shared file.
    @ivar file_link_ttl: Seconds a file link given to a contact works.
    @ivar queue_ack_seconds: Longest a delivery waits in a conversation's
        queue before it is acknowledged anyway.
    @ivar max_queued: Deliveries that may wait per conversation.
    @ivar request_timeout: Seconds to wait for each Web API answer.
    @ivar max_inbound_queued: Slack events queued or being handled at
        which further events are answered 503 (Slack retries them later).
    @ivar max_message_parts: Slack messages a text longer than Slack's
        40,000 characters is split into; a longer text is refused and its
        sender told.
    @ivar outage_seconds: How long a call Slack refused without acting
        (429, 503, no connection) keeps being retried before its sender is
        told: a Slack outage shorter than this loses nothing.
    @ivar max_connections: Persistent HTTPS connections kept to the Web
        API; with many conversations posting at once, fewer means a new
        connection (and TLS handshake) per post.
    """

    signing_secret: str = field(repr=False)
    api_base_url: str = DEFAULT_BASE_URL
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    authorize_url: str = AUTHORIZE_URL
    workspaces: Mapping[str, str] = field(factory=dict, repr=False, hash=False)
    channel_prefix: str = "ext"
    file_hosts: tuple[str, ...] = ("files.slack.com",)
    file_link_ttl: float = 7 * 86400.0
    queue_ack_seconds: float = 10.0
    max_queued: int = 1000
    request_timeout: float = 10.0
    outage_seconds: float = 180.0
    max_message_parts: int = 4
    max_inbound_queued: int = 5000
    max_connections: int = 64

    def secrets(self) -> tuple[str, ...]:
        """
        Values to keep out of logs: the signing secret, the OAuth client
        secret and every bot token.
        """
        found = [self.signing_secret, self.client_secret, *self.workspaces.values()]
        return tuple(s for s in found if s)


def _url(section: Section, name: str, default: str) -> str:
    value = section.string(name, default)
    if not value.startswith(("https://", "http://")):
        raise ConfigError(section.key(name), f"must be an http(s) URL, not {value!r}")
    return value


def parse_config(section: Section) -> SlackConfig:
    """
    Validate C{[connectors.slack]}.
    """
    secret = section.string("signing_secret")
    if len(secret) < 16:
        raise ConfigError(section.key("signing_secret"), "must be at least 16 characters")
    client_id = section.optional_string("client_id")
    client_secret = section.optional_string("client_secret")
    if (client_id is None) != (client_secret is None):
        missing = "client_secret" if client_secret is None else "client_id"
        raise ConfigError(section.key(missing), "client_id and client_secret go together")
    workspaces: dict[str, str] = {}
    tables = section.section("workspaces")
    for team in tables.table_names():
        if not re.fullmatch(r"[A-Z0-9]{2,32}", team):
            raise ConfigError(tables.key(team), "must be a Slack team id such as T0123ABCD")
        table = tables.section(team)
        token = table.string("bot_token")
        if not token.startswith("xoxb-"):
            raise ConfigError(table.key("bot_token"), "must be a bot token (xoxb-...)")
        workspaces[team] = token
        table.finish()
    tables.finish()
    prefix = section.string("channel_prefix", "ext")
    if not _PREFIX.fullmatch(prefix):
        raise ConfigError(
            section.key("channel_prefix"),
            "must be 1-20 lower-case letters, digits, '-' or '_', starting with a letter or digit",
        )
    return SlackConfig(
        signing_secret=secret,
        api_base_url=_url(section, "api_base_url", DEFAULT_BASE_URL),
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=_url(section, "authorize_url", AUTHORIZE_URL),
        workspaces=workspaces,
        channel_prefix=prefix,
        file_hosts=section.strings("file_hosts", ("files.slack.com",)),
        file_link_ttl=section.number("file_link_ttl", 7 * 86400.0, minimum=60.0),
        queue_ack_seconds=section.number("queue_ack_seconds", 10.0, minimum=0.1),
        max_queued=section.integer("max_queued", 1000, minimum=1, maximum=100_000),
        request_timeout=section.number("request_timeout", 10.0, minimum=1.0),
        outage_seconds=section.number("outage_seconds", 180.0, minimum=0.0),
        max_message_parts=section.integer("max_message_parts", 4, minimum=1, maximum=100),
        max_inbound_queued=section.integer(
            "max_inbound_queued", 5000, minimum=1, maximum=1_000_000
        ),
        max_connections=section.integer("max_connections", 64, minimum=1, maximum=1000),
    )


def channel_name(prefix: str, contact: Address, owner: Address, attempt: int = 1) -> str:
    """
    The name of the private conversation of C{owner} with C{contact}:
    C{ext-peter-widget-test-john}, within Slack's rules (lower case, no
    dots or spaces, at most 80 characters); later attempts add C{-N}.
    """

    def slug(text: str) -> str:
        return _SLUG.sub("-", text.lower()).strip("-_") or "x"

    base = f"{prefix}-{slug(contact.local)}-{slug(contact.domain)}-{slug(owner.local)}"
    if attempt == 1:
        return base[:80].rstrip("-_")
    if attempt <= 3:
        suffix = str(attempt)
    else:
        suffix = hashlib.sha256(f"{owner.key} {contact.key} {attempt}".encode()).hexdigest()[:6]
    return f"{base[: 79 - len(suffix)].rstrip('-_')}-{suffix}"
