# -*- test-case-name: tests.slack.test_connector -*-
"""
The Slack platform connector: tenants' Slack users chat with external
contacts through the nextplane Slack app.

Representation
==============
  - Each external contact appears as itself: the app posts the contact's
    messages with C{chat.postMessage} C{username} = the contact's display
    name and address (C{Peter Smith (peter@widget.test)}) and C{icon_url}
    = their avatar when the hub knows one (scope C{chat:write.customize}).
  - Each (Slack user, external contact) pair has its own private
    conversation, created by the app (C{conversations.create},
    C{is_private}) with the user invited (C{conversations.invite}) when the
    contact is accepted, and named C{ext-<contact>-<user>}. It is stored as
    the chat session's reference under platform C{"slack:<team>"}, so a
    plain message the user posts there goes to that contact, no command
    needed. Only the owner's messages are relayed; anyone else posting
    there is told so.
  - The app's direct message with each user (C{conversations.open})
    carries contact-request cards (Accept / Decline buttons), answers to
    commands typed there, and notices that belong to no conversation.
  - The app's Home tab (C{views.publish}) lists the user's contacts with
    their state, presence (C{unknown} until the contact says otherwise,
    never a false "offline") and conversation, and pending requests with
    buttons.
  - C{/nextplane invite|remove|block|list|help} (or the same words in the
    app's DM) manage contacts; answers are ephemeral. Inviting a blocked
    address unblocks it. Blocking a whole domain is the administrators'
    (domain rules), which the answer says.

Inbound (webhook, L{nextplane.connectors.slack.webhook})
=========================================================
Users are hub users C{<local>@<tenant domain>}, where C{<local>} is the
local part of their Slack e-mail when it is at the tenant's domain, else
their Slack handle (made unique if taken), stored with display name,
avatar and title from C{users.info}. Messages (C{rich_text} blocks
preferred, mrkdwn C{text} as fallback), edits (C{message_changed}, ignoring
unfurl-only changes), deletions, reactions (shortcode to Unicode; custom
emoji are refused with a notice) and shared files become events routed to
the contact. Events of one conversation are handled one after another, in
arrival order. The bot's own events are dropped by the webhook (per
workspace ids from C{auth.test}) and, in any case, only the owner's
messages are relayed.

Files shared by a Slack user reach the contact as a link to the hub
(C{<[web] public_url>/slack/files/<team>/<file>/<expires>/<signature>/<name>},
valid C{file_link_ttl}), never as Slack's C{url_private} (which needs the
bot token); the hub fetches the file with the bot token when the link is
opened and streams it through without storing it. Without a public URL,
files cannot leave Slack and the user is told.

Outbound (L{SlackConnector.deliver})
====================================
Deliveries to one user from one contact run in order
(L{nextplane.ordering}); Slack's one-post-per-second-per-
channel pace is kept by the Web API client. A delivery is acknowledged
when Slack accepted it, or after C{queue_ack_seconds} of waiting in the
queue (so a burst never runs into the router's delivery timeout); a
failure after that is sent back to the sender as a L{DeliveryError}.

  - Text: C{chat.postMessage} with mrkdwn C{text} and a C{rich_text}
    block, impersonating the contact; the C{ts} is mapped to the hub
    message id as C{"<channel>:<ts>"} under C{"slack:<team>"}.
    Replies are posted in the conversation, not in threads.
  - Edits: C{chat.update}; retractions: C{chat.delete}; reactions:
    C{reactions.add}/C{reactions.remove} by the app on the message (Slack
    shows the app as the reactor); an emoji with no Slack shortcode is
    posted as a line of text instead. A target that never reached Slack,
    or lies in another conversation, fails with C{item-not-found}.
  - Files: a message with the link (not re-uploaded: the hub never
    downloads arbitrary URLs into Slack).
  - Typing: nothing (Slack has no typing indicator for apps); presence:
    remembered for the Home tab and the contact list.
  - Contact requests: a card in the app DM; acceptance: the conversation
    is created (or reused) with a notice; declines and removals: notices.
  - Delivery errors: C{Not delivered to <contact>: <reason>} in the
    conversation (or the app DM), except for events whose sender already
    got the reason inline (a command's answer, an updated card).

Installations
=============
A workspace's bot token comes from the configuration
(C{[connectors.slack.workspaces.<team>] bot_token}) or from an OAuth v2
install (C{/slack/install}, then C{/slack/oauth/callback} exchanges the
code with C{oauth.v2.access}). An install is stored in the hub's store
(L{SlackInstallation}: token, bot ids, scopes, time) and the workspace is
served at once; on start the connector loads the stored installations, so
installed workspaces stay served across restarts. When both exist the
configured token wins (logged, naming the team). C{app_uninstalled}, or a
C{tokens_revoked} naming the bot, stops serving the workspace and deletes
its stored installation; so does an C{auth.test} answering
C{token_revoked} or C{account_inactive} for an installed token (the
uninstall happened while the hub was down). An install for a workspace
that is no tenant is refused and not stored.

No token ever reaches a log line, a page, an exception message or a store
dump (C{dump_tables} redacts them). Message content is never logged.
"""

from __future__ import annotations

import hashlib
import html
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from attrs import evolve, field, frozen
from twisted.application.service import Service
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredSemaphore,
    fail,
    succeed,
)
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import HTTPConnectionPool
from zope.interface import implementer

from ...config import ConfigError, Section, TenantConfig
from ...interfaces import DeliveryFailed, IConnector, IEventSink, IStore
from ...model.address import Address, ChatSessionId, InvalidAddress
from ...model.events import (
    Availability,
    Category,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
    Typing,
)
from ...model.profile import Profile
from ...model.text import Link, RichText, Text
from ...ordering import KeyedSerializer, LaneFull, is_cancelled
from ...router import revocation_reason
from ...storage.records import (
    ChatSessionRecord,
    ContactDirection,
    ContactRecord,
    ContactState,
    UserRecord,
)
from ..base import ConnectorContext, ConnectorEntry
from .api import (
    DEFAULT_BASE_URL,
    HTTPClient,
    RetryPolicy,
    SlackApiError,
    SlackOAuthClient,
    SlackWebClient,
)
from .blocks import blocks_to_rich_text, rich_text_block
from .emoji import emoji_table
from .installation import SlackInstallation
from .links import FileLinks, OAuthStates, derive_key
from .mrkdwn import mentioned_user_ids, parse_mrkdwn, to_mrkdwn
from .signature import SignatureVerifier
from .ui import ContactLine, contact_lines_text, decided_card, esc, home_view, request_card, who
from .webhook import (
    CommandAction,
    CommandReply,
    Interaction,
    SlackEvent,
    SlackWebhook,
    SlashCommand,
    WebAnswer,
    help_text,
    parse_command_text,
)
from .workspace import PLATFORM, SlackWorkspace, _Bounded, platform_id, split_platform_id

__all__ = [
    "ENTRY",
    "PLATFORM",
    "SCOPES",
    "SlackConfig",
    "SlackConnector",
    "build",
    "channel_name",
    "parse_config",
]

log = Logger()

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

_GONE = frozenset({"channel_not_found", "is_archived", "not_in_channel"})
_RELAYED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
_TRANSIENT = frozenset({"service-unavailable", "remote-server-timeout", "resource-constraint"})
#: C{auth.test} errors saying a token is gone for good (not C{invalid_auth}:
#: IP allow-lists give it too).
_REVOKED = frozenset({"token_revoked", "account_inactive"})
_PREFIX = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")
_SLUG = re.compile(r"[^a-z0-9_-]+")
_INLINE_TYPES = frozenset({"image", "audio", "video"})
_INLINE_MEDIA = frozenset({"application/pdf", "text/plain"})


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


def _file_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f" ({value:.0f} {unit})" if unit == "bytes" else f" ({value:.1f} {unit})"
        value /= 1024
    return ""


def _page(status: int, title: str, text: str) -> WebAnswer:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>\n"
    )
    return WebAnswer(status, body.encode("utf-8"), "text/html; charset=utf-8")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _scopes(value: Any) -> tuple[str, ...]:
    # oauth.v2.access's "scope": comma-separated, e.g. "chat:write,commands".
    if not isinstance(value, str):
        return ()
    return tuple(s for s in (part.strip() for part in value.split(",")) if s)


async def _wait_all(clock: IReactorTime, waits: Iterable[Deferred[Any]], timeout: float) -> None:
    """
    Wait for every Deferred in C{waits} to fire, at most C{timeout}
    seconds, without cancelling or consuming them.
    """
    observers: list[Deferred[None]] = []
    for d in waits:
        observer: Deferred[None] = Deferred()

        def relay(result: Any, observer: Deferred[None] = observer) -> Any:
            if not observer.called:
                observer.callback(None)
            return result

        d.addBoth(relay)
        observers.append(observer)
    everything = DeferredList(observers)
    everything.addTimeout(timeout, clock)
    try:
        await everything
    except Exception:
        log.info("stopping Slack: some work was still under way after {timeout}s", timeout=timeout)


@implementer(IConnector)
class SlackConnector(Service):
    """
    Serves the tenants whose platform is C{slack}; see the module docstring.

    @ivar webhook: The endpoints to mount at C{/slack/}.
    @ivar ready: Fires once the stored installations were loaded and
        C{auth.test} was tried for every workspace.
    """

    connector_name = PLATFORM
    role = "platform"

    def __init__(
        self,
        *,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        config: SlackConfig,
        tenants: Iterable[TenantConfig],
        http: HTTPClient,
        rng: random.Random | None = None,
        public_url: str | None = None,
        delivery_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        http_pool: Any = None,
        profiles: Callable[[Address, Address], Deferred[Profile | None]] | None = None,
    ) -> None:
        """
        @param http: A treq-like client for the Web API (L{StubTreq} in tests).
        @param http_pool: The connection pool behind C{http}, if the
            connector owns it: its connections are closed on stop.
        @param public_url: C{[web] public_url}, for file links and the
            OAuth redirect.
        @param delivery_timeout: The router's; deliveries are acknowledged
            well before it.
        @param profiles: Fetches an external contact's profile (the
            router's L{nextplane.router.Router.profile_of}); a contact
            without a stored user record is shown with it.
        """
        self._profiles = profiles
        self._sink = sink
        self._store = store
        self._clock = clock
        self._config = config
        self._http = http
        self._http_pool = http_pool
        # Every client shares the connection pool, hence one bound.
        self._gate = DeferredSemaphore(config.max_connections)
        self._rng = rng if rng is not None else random.Random()
        self._stop_timeout = stop_timeout
        self._workspaces: dict[str, SlackWorkspace] = {}
        self._by_domain: dict[str, SlackWorkspace] = {}
        for tenant in tenants:
            if tenant.platform != PLATFORM:
                continue
            if tenant.workspace in self._workspaces:
                other = self._workspaces[tenant.workspace].domain
                raise ValueError(
                    f"tenants {other} and {tenant.domain} both use Slack workspace "
                    f"{tenant.workspace}; each workspace serves one tenant"
                )
            token = config.workspaces.get(tenant.workspace)
            ws = SlackWorkspace(tenant.workspace, tenant.domain, self._client(token))
            ws.installed_by = "config" if token else None
            self._workspaces[ws.team_id] = ws
            self._by_domain[ws.domain] = ws
        for team in sorted(set(config.workspaces) - set(self._workspaces)):
            log.warn("a Slack bot token is configured for {team}, which no tenant uses", team=team)
        self._ack_after = max(0.1, min(config.queue_ack_seconds, delivery_timeout / 2))
        key_source = config.signing_secret
        self._links = FileLinks(
            derive_key(key_source, "file links"), public_url, clock, config.file_link_ttl
        )
        self._states = OAuthStates(derive_key(key_source, "oauth state"), clock)
        self._public_url = public_url.rstrip("/") if public_url else None
        self._oauth: SlackOAuthClient | None = None
        if config.client_id and config.client_secret:
            self._oauth = SlackOAuthClient(
                config.client_id,
                config.client_secret,
                http,
                clock,
                self._rng,
                base_url=config.api_base_url,
                policy=RetryPolicy(timeout=config.request_timeout),
                gate=self._gate,
            )
        self.webhook = SlackWebhook(
            SignatureVerifier(config.signing_secret, clock),
            clock,
            self._on_event,
            self._on_command,
            self._on_interaction,
            on_install=self._install_url if self._oauth is not None else None,
            on_oauth=self._on_oauth if self._oauth is not None else None,
            on_file=self._on_file,
            on_late_reply=self._on_late_reply,
        )
        self._lanes = KeyedSerializer(config.max_queued)
        self._chains: dict[tuple[str, str], Deferred[None]] = {}
        self._background: set[Deferred[Any]] = set()
        self._timers: dict[tuple[str, str], IDelayedCall] = {}
        self._presence: _Bounded[tuple[str, str], Availability] = _Bounded(100_000)
        self._names: _Bounded[str, str] = _Bounded(100_000)
        self._inline: set[str] = set()
        self.ready: Deferred[None] = succeed(None)
        self.events_in = 0
        self.messages_out = 0
        self.late_failures = 0

    def _client(self, token: str | None) -> SlackWebClient | None:
        if not token:
            return None
        return SlackWebClient(
            token,
            self._http,
            self._clock,
            self._rng,
            base_url=self._config.api_base_url,
            policy=RetryPolicy(timeout=self._config.request_timeout),
            file_hosts=self._config.file_hosts,
            gate=self._gate,
        )

    def workspace(self, team_id: str) -> SlackWorkspace | None:
        """
        The workspace C{team_id}, if a tenant uses it.
        """
        return self._workspaces.get(team_id)

    def resource(self) -> Any:
        """
        The webhook resource (mounted at C{/slack/} by L{build}).
        """
        return self.webhook.resource()

    # -- lifecycle ---------------------------------------------------------

    def startService(self) -> Deferred[None]:
        """
        Start serving: load the stored installations, then run C{auth.test}
        for every installed workspace in the background (a Slack outage
        must not hold up the hub), see L{ready}.

        @return: A L{Deferred} firing once the installations are loaded
            (the hub starts the web listener after it), or failing if the
            store cannot list them.
        """
        Service.startService(self)
        ready: Deferred[None] = Deferred()
        self.ready = ready
        loaded = Deferred.fromCoroutine(self._load_installations())

        def authenticate(_: object) -> None:
            checks = [
                Deferred.fromCoroutine(self._authenticate(ws))
                for ws in self._workspaces.values()
                if ws.client is not None
            ]
            DeferredList(checks, consumeErrors=True).addBoth(lambda _: ready.callback(None))

        def failed(failure: Failure) -> Failure:
            ready.callback(None)
            return failure

        loaded.addCallbacks(authenticate, failed)
        return loaded

    async def _load_installations(self) -> None:
        """
        Serve the workspaces installed with OAuth whose token is not
        configured.
        """
        stored = await self._store.list_installations(PLATFORM)
        for installation in map(SlackInstallation.from_stored, stored):
            ws = self._workspaces.get(installation.team_id)
            if ws is None:
                log.warn(
                    "the Slack app is installed in workspace {team}, which no tenant uses; "
                    "it is not served",
                    team=installation.team_id,
                )
            elif ws.installed_by == "config":
                log.info(
                    "Slack workspace {team} ({domain}) has a configured bot_token and a stored "
                    "OAuth installation; the configured token is used",
                    team=ws.team_id,
                    domain=ws.domain,
                )
            else:
                log.info(
                    "Slack workspace {team} ({domain}) uses its stored OAuth installation",
                    team=ws.team_id,
                    domain=ws.domain,
                )
                self._use_installation(ws, installation)

    def _use_installation(self, ws: SlackWorkspace, installation: SlackInstallation) -> None:
        ws.client = self._client(installation.bot_token)
        ws.installed_by = "oauth"
        ws.state = "starting"
        ws.bot_user_id = installation.bot_user_id
        ws.bot_id = installation.bot_id
        # The bot's own events are dropped even before auth.test answers.
        self.webhook.set_identity(ws.team_id, ws.bot_user_id, ws.bot_id)

    def stopService(self) -> Deferred[None]:
        """
        Stop taking deliveries; deliveries still queued fail (their senders
        are told), then wait (boundedly) for work under way.
        """
        Service.stopService(self)
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        dropped = self._lanes.fail_waiting(
            lambda tag: DeliveryFailed(
                "service-unavailable", "the hub stopped before Slack took it"
            )
        )
        if dropped:
            log.info("stopping Slack: {count} queued deliveries failed", count=dropped)
        waits = [self._lanes.idle(), *self._chains.values(), *self._background]
        return Deferred.fromCoroutine(self._stopping(waits))

    async def _stopping(self, waits: list[Deferred[Any]]) -> None:
        await _wait_all(self._clock, waits, self._stop_timeout)
        if self._http_pool is not None:
            await self._http_pool.closeCachedConnections()

    async def _authenticate(self, ws: SlackWorkspace) -> None:
        client = ws.client
        if client is None:
            return
        try:
            answer = await client.auth_test()
        except SlackApiError as e:
            if e.error in _REVOKED and ws.installed_by == "oauth" and ws.client is client:
                # Uninstalled while the hub was not listening.
                await self._uninstalled(ws, e.reason)
                return
            ws.state = f"auth failed: {e.reason}"
            log.error(
                "Slack auth.test failed for {team} ({domain}): {reason}",
                team=ws.team_id,
                domain=ws.domain,
                reason=e.reason,
            )
            if e.condition in _TRANSIENT and self.running:
                self._schedule(("auth", ws.team_id), 60.0, lambda: self._authenticate(ws))
            return
        team = answer.get("team_id")
        if team != ws.team_id:
            ws.state = f"auth failed: the token is for workspace {team}"
            ws.client = None
            log.error(
                "the Slack bot token {source} for {team} belongs to workspace {other}; "
                "{domain} is not served",
                source="installed" if ws.installed_by == "oauth" else "configured",
                team=ws.team_id,
                other=team,
                domain=ws.domain,
            )
            ws.installed_by = None
            return
        ws.bot_user_id = _text(answer.get("user_id"))
        ws.bot_id = _text(answer.get("bot_id"))
        self.webhook.set_identity(ws.team_id, ws.bot_user_id, ws.bot_id)
        ws.state = "ok"
        log.info(
            "Slack workspace {team} serves {domain} (bot user {bot})",
            team=ws.team_id,
            domain=ws.domain,
            bot=ws.bot_user_id,
        )

    def _schedule(self, key: tuple[str, str], delay: float, work: Any) -> None:
        """
        Run coroutine function C{work} after C{delay} (once per C{key}).
        """
        if key in self._timers and self._timers[key].active():
            return

        def run() -> None:
            self._timers.pop(key, None)
            if self.running:
                self._track(Deferred.fromCoroutine(work()), "scheduled Slack work")

        self._timers[key] = self._clock.callLater(delay, run)

    def _track(self, d: Deferred[Any], what: str) -> None:
        self._background.add(d)

        def done(result: Any) -> None:
            self._background.discard(d)
            if isinstance(result, Failure):
                log.failure("{what} failed", result, what=what)

        d.addBoth(done)

    def health(self) -> dict[str, Any]:
        """
        State per workspace, counters and the deliveries waiting.
        """
        states = [ws.state for ws in self._workspaces.values()]
        if not self.running:
            state = "stopped"
        elif all(s == "ok" for s in states):
            state = "ok"
        elif any(s == "starting" for s in states):
            state = "starting"
        else:
            state = "degraded"
        return {
            "state": state,
            "workspaces": {
                ws.team_id: {"domain": ws.domain, "state": ws.state}
                for ws in self._workspaces.values()
            },
            "events_in": self.events_in,
            "messages_out": self.messages_out,
            "queued": len(self._lanes),
            "late_failures": self.late_failures,
        }

    def revoke(self, revocation: Any) -> None:
        """
        Drop queued deliveries an admin revocation covers; their senders
        are told.
        """

        def covered(tag: Any) -> DeliveryFailed | None:
            reason = revocation_reason(revocation, tag) if isinstance(tag, Event) else None
            return DeliveryFailed("forbidden", reason) if reason else None

        dropped = self._lanes.fail_waiting(covered, running=True)
        if dropped:
            log.info("revocation: {count} queued Slack deliveries dropped", count=dropped)

    # -- helpers -----------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def _session(self, first: Address, second: Address) -> ChatSessionId:
        record = await self._store.get_or_create_session(first, second, self._now())
        return record.session_id  # type: ignore[no-any-return]

    async def _route_inline(self, event: Event) -> Any:
        """
        Route an event whose sender is answered by the caller (a command's
        reply, an updated card): the router's L{DeliveryError} for it is
        then not shown again.
        """
        self._inline.add(event.event_id)
        try:
            return await self._sink.route(event)
        finally:
            self._inline.discard(event.event_id)

    async def _route(self, event: Event) -> Any:
        return await self._sink.route(event)

    # -- users -------------------------------------------------------------

    async def _slack_user(self, ws: SlackWorkspace, user_id: Any) -> UserRecord | None:
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
            user = await self._register(ws, info) if isinstance(info, dict) else None
            if user is None:
                return None
        ws.remember(user)
        return user

    async def _register(self, ws: SlackWorkspace, info: Mapping[str, Any]) -> UserRecord | None:
        user_id = _text(info.get("id"))
        if (
            user_id is None
            or info.get("is_bot")
            or info.get("deleted")
            or info.get("is_stranger")
            or user_id == "USLACKBOT"
        ):
            return None
        team = _text(info.get("team_id"))
        if team is not None and team != ws.team_id and not info.get("enterprise_user"):
            return None  # a Slack Connect guest of another organisation
        pid = platform_id(ws.team_id, user_id)
        known = await self._store.find_user(PLATFORM, pid)
        if known is not None:
            return known  # type: ignore[no-any-return]
        profile = info.get("profile") if isinstance(info.get("profile"), Mapping) else {}
        assert isinstance(profile, Mapping)
        email = _text(profile.get("email"))
        local = None
        if email is not None:
            name, _, domain = email.rpartition("@")
            if domain.lower() == ws.domain:
                local = name
        address = _address(local or _text(info.get("name")) or user_id.lower(), ws.domain)
        if address is None:
            address = Address(user_id.lower(), ws.domain)
        taken = await self._store.get_user(address)
        if taken is not None and (taken.platform, taken.platform_id) != (PLATFORM, pid):
            address = Address(f"{address.local}.{user_id.lower()}", ws.domain)
        display = (
            _text(profile.get("display_name"))
            or _text(profile.get("real_name"))
            or _text(info.get("real_name"))
            or address.local
        )
        record = UserRecord(
            address=address,
            tenant=ws.domain,
            platform=PLATFORM,
            platform_id=pid,
            display_name=display,
            avatar_url=_text(profile.get("image_192")) or _text(profile.get("image_72")),
            title=_text(profile.get("title")),
        )
        await self._store.put_user(record)
        log.info(
            "Slack user {team}/{user} is {address}",
            team=ws.team_id,
            user=user_id,
            address=str(address),
        )
        return record

    async def _hub_user(self, ws: SlackWorkspace, address: Address) -> UserRecord:
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
                found = await self._register(ws, info) if isinstance(info, dict) else None
                if found is not None and found.address.key == address.key:
                    ws.remember(found)
                    return found
        raise DeliveryFailed("item-not-found", f"{address} is not a Slack user of {ws.domain}")

    # -- conversations -----------------------------------------------------

    async def _conversation_ref(
        self, ws: SlackWorkspace, session: ChatSessionId | None
    ) -> str | None:
        if session is None:
            return None
        record = await self._store.get_session(session)
        if record is None:
            return None
        return record.refs.get(ws.platform)  # type: ignore[no-any-return]

    async def _conversation(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        *,
        fresh: bool = False,
    ) -> tuple[str, bool]:
        """
        The private conversation of C{owner} with C{contact}, created (with
        the owner invited and the reference stored) when missing or when
        C{fresh} is asked for.

        @return: (channel id, whether it was created now).
        """
        if not fresh:
            ref = await self._conversation_ref(ws, session)
            if ref is not None:
                return ref, False
        client = ws.api()
        answer: dict[str, Any] | None = None
        for attempt in range(1, 7):
            name = channel_name(self._config.channel_prefix, contact, owner.address, attempt)
            try:
                answer = await client.create_conversation(name, is_private=True)
            except SlackApiError as e:
                if e.error == "name_taken":
                    continue
                raise
            break
        channel = answer.get("channel") if answer is not None else None
        channel_id = _text(channel.get("id")) if isinstance(channel, Mapping) else None
        if channel_id is None:
            raise DeliveryFailed("conflict", "no free Slack channel name for the conversation")
        await client.invite_to_conversation(channel_id, [split_platform_id(owner.platform_id)[1]])
        await self._store.set_session_ref(session, ws.platform, channel_id)
        log.info(
            "Slack conversation {channel} of {team} for session {session}",
            channel=channel_id,
            team=ws.team_id,
            session=session.value,
        )
        return channel_id, True

    async def _dm(self, ws: SlackWorkspace, user_id: str) -> str:
        cached = ws.dms.get(user_id)
        if cached is not None:
            return cached
        answer = await ws.api().open_conversation([user_id])
        channel = answer.get("channel")
        channel_id = _text(channel.get("id")) if isinstance(channel, Mapping) else None
        if channel_id is None:
            raise DeliveryFailed("service-unavailable", "Slack gave no direct message channel")
        ws.dms[user_id] = channel_id
        return channel_id

    async def _notify(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        text: str,
        session: ChatSessionId | None = None,
        blocks: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """
        Post a notice from the app in the conversation of C{session} when
        there is one, else in the app's DM with C{owner}.
        """
        client = ws.api()
        channel = await self._conversation_ref(ws, session)
        if channel is not None:
            try:
                await client.post_message(channel, text, blocks=blocks)
                return
            except SlackApiError as e:
                if e.error not in _GONE:
                    raise
        dm = await self._dm(ws, split_platform_id(owner.platform_id)[1])
        await client.post_message(dm, text, blocks=blocks)

    async def _identity(
        self, contact: Address, requester: Address | None = None
    ) -> tuple[str, str | None]:
        """
        How a contact appears in Slack: (username, icon URL), from a hub
        user's stored profile or else the contact's own (e.g. their vCard).
        """
        user = await self._store.get_user(contact)
        name = user.display_name if user is not None else None
        icon = user.avatar_url if user is not None else None
        if user is None and requester is not None and self._profiles is not None:
            profile = await self._profiles(requester, contact)
            if profile is not None:
                name, icon = profile.display_name, profile.avatar_url
        name = name or self._names.get(contact.key)
        shown = f"{name} ({contact})" if name and name != str(contact) else str(contact)
        return shown[:80], icon

    async def _post_as(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[str, str]:
        """
        Post in the contact's conversation as the contact; a conversation
        that was archived or deleted is replaced once.

        @return: (channel, ts).
        """
        username, icon = await self._identity(contact, owner.address)
        client = ws.api()
        for fresh in (False, True):
            channel, created = await self._conversation(ws, owner, contact, session, fresh=fresh)
            if created:
                await client.post_message(channel, self._intro(owner, contact))
            try:
                answer = await client.post_message(
                    channel, text, blocks=blocks, username=username, icon_url=icon
                )
            except SlackApiError as e:
                if e.error in _GONE and not fresh:
                    continue
                raise
            self.messages_out += 1
            return str(answer.get("channel") or channel), str(answer.get("ts"))
        raise AssertionError("unreachable")

    def _intro(self, owner: UserRecord, contact: Address) -> str:
        name = self._names.get(contact.key)
        return (
            f":link: This private conversation is with {who(contact, name)}, "
            f"outside your organisation. What you post here is sent to them, and their "
            f"messages appear here. Type `/nextplane help` for commands."
        )

    async def _target(
        self, ws: SlackWorkspace, message_id: str, session: ChatSessionId, kind: str
    ) -> tuple[str, str]:
        """
        The (channel, ts) of hub message C{message_id} in this session's
        conversation.

        @raise DeliveryFailed: C{item-not-found} when it never reached
            Slack there.
        """
        native = await self._store.find_native_id(message_id, ws.platform)
        conversation = await self._conversation_ref(ws, session)
        channel, _, ts = (native or "").partition(":")
        if not native or not ts or channel != conversation:
            raise DeliveryFailed(
                "item-not-found", f"the message this {kind} refers to is not in Slack"
            )
        return channel, ts

    # -- outbound ----------------------------------------------------------

    def deliver(self, event: Event) -> Deferred[None]:
        """
        Deliver C{event} to its Slack recipient; see the module docstring.
        """
        if not self.running:
            return fail(DeliveryFailed("service-unavailable", "the Slack connector is stopped"))
        ws = self._by_domain.get(event.recipient.domain)
        if ws is None:
            return fail(
                DeliveryFailed(
                    "item-not-found", f"{event.recipient.domain} is not served by Slack here"
                )
            )
        if isinstance(event, Typing):
            return succeed(None)  # Slack has no typing indicator for apps
        if isinstance(event, Presence):
            self._note_presence(ws, event)
            return succeed(None)
        if isinstance(event, DeliveryError) and event.original_event_id in self._inline:
            return succeed(None)  # the sender is being answered inline
        key = (ws.team_id, event.recipient.key, event.sender.key)
        try:
            done = self._lanes.submit(key, lambda: self._deliver_now(ws, event), tag=event)
        except LaneFull:
            return fail(
                DeliveryFailed(
                    "resource-constraint",
                    f"too many messages for {event.recipient} are waiting for Slack's rate "
                    "limit; try again later",
                )
            )
        return self._acknowledge(event, done)

    def _acknowledge(self, event: Event, done: Deferred[Any]) -> Deferred[None]:
        """
        The router's Deferred: fires when Slack took C{event}, or once it
        waited C{queue_ack_seconds}; later failures go back to the sender.
        """
        ack: Deferred[None] = Deferred(lambda _: done.cancel())

        def early() -> None:
            if not ack.called:
                ack.callback(None)

        timer = self._clock.callLater(self._ack_after, early)

        def finished(result: Any) -> None:
            if timer.active():
                timer.cancel()
            if not ack.called:
                if isinstance(result, Failure):
                    ack.errback(result)
                else:
                    ack.callback(None)
            elif isinstance(result, Failure) and not is_cancelled(result):
                self._report_late(event, result)

        done.addBoth(finished)
        return ack

    def _report_late(self, event: Event, failure: Failure) -> None:
        self.late_failures += 1
        error = failure.value
        if not isinstance(error, DeliveryFailed):
            error = DeliveryFailed("internal-server-error", "internal error in the Slack connector")
        log.info(
            "Slack delivery of {kind} {event_id} failed after it was queued: {condition}",
            kind=event.kind,
            event_id=event.event_id,
            condition=error.condition,
        )
        if isinstance(event, DeliveryError) or event.category not in (
            Category.IM,
            Category.CONTACT,
        ):
            return
        notice = DeliveryError(
            sender=event.recipient,
            recipient=event.sender,
            session=event.session,
            timestamp=max(self._now(), event.timestamp),
            condition=error.condition,
            reason=error.reason,
            original_event_id=event.event_id,
            original_kind=event.kind,
            message_id=getattr(event, "message_id", None),
        )
        self._track(self._sink.route(notice), "telling a sender about a failed Slack delivery")

    async def _deliver_now(self, ws: SlackWorkspace, event: Event) -> None:
        try:
            await self._deliver_checked(ws, event)
        except (DeliveryFailed, CancelledError):
            raise
        except Exception:
            log.failure("delivering a {kind} to Slack failed", kind=event.kind)
            raise DeliveryFailed(
                "internal-server-error", "internal error in the Slack connector"
            ) from None

    async def _deliver_checked(self, ws: SlackWorkspace, event: Event) -> None:
        client = ws.api()
        owner = await self._hub_user(ws, event.recipient)
        contact = event.sender
        session = event.session or await self._session(owner.address, contact)
        if isinstance(event, TextMessage):
            text = to_mrkdwn(event.body, ws.user_id_for)
            if not text.strip():
                raise DeliveryFailed("bad-request", "the message is empty")
            blocks = [rich_text_block(event.body, ws.user_id_for)]
            channel, ts = await self._post_as(ws, owner, contact, session, text, blocks)
            await self._store.map_message(event.message_id, ws.platform, f"{channel}:{ts}", session)
        elif isinstance(event, FileShare):
            body = RichText(
                [Text("📎 "), Link(event.url, [Text(event.name)]), Text(_file_size(event.size))]
            )
            channel, ts = await self._post_as(
                ws, owner, contact, session, to_mrkdwn(body), [rich_text_block(body)]
            )
            await self._store.map_message(event.message_id, ws.platform, f"{channel}:{ts}", session)
        elif isinstance(event, MessageEdit):
            channel, ts = await self._target(ws, event.message_id, session, "edit")
            await client.update_message(
                channel,
                ts,
                to_mrkdwn(event.body, ws.user_id_for),
                blocks=[rich_text_block(event.body, ws.user_id_for)],
            )
        elif isinstance(event, MessageRetract):
            channel, ts = await self._target(ws, event.message_id, session, "retraction")
            await client.delete_message(channel, ts)
        elif isinstance(event, ReactionAdd | ReactionRemove):
            await self._react(ws, owner, contact, session, event)
        elif isinstance(event, ContactRequest):
            await self._contact_request(ws, owner, contact, session, event)
        elif isinstance(event, ContactAccept):
            channel, _ = await self._conversation(ws, owner, contact, session)
            await client.post_message(
                channel,
                f":white_check_mark: {who(contact, self._names.get(contact.key))} accepted your "
                "invitation. What you post in this conversation is sent to them.",
            )
        elif isinstance(event, ContactDecline):
            await self._notify(ws, owner, f"{who(contact)} declined your invitation.")
        elif isinstance(event, ContactRemove):
            await self._notify(
                ws,
                owner,
                f"{who(contact)} removed you from their contacts: messages here no longer "
                "reach them.",
                session,
            )
        elif isinstance(event, DeliveryError):
            await self._notify(
                ws,
                owner,
                f":warning: Not delivered to {who(contact)}: {esc(event.reason)}",
                session,
            )
        else:  # pragma: no cover - every event type is handled above
            raise DeliveryFailed("feature-not-implemented", f"Slack cannot show a {event.kind}")

    async def _react(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        event: ReactionAdd | ReactionRemove,
    ) -> None:
        channel, ts = await self._target(ws, event.message_id, session, "reaction")
        code = emoji_table().to_shortcode(event.emoji)
        if code is None:
            # Slack reactions are shortcodes; one Slack lacks is said in words.
            verb = "reacted with" if isinstance(event, ReactionAdd) else "took back the reaction"
            text = RichText([Text(f"({verb} {event.emoji})")])
            await self._post_as(ws, owner, contact, session, to_mrkdwn(text))
            return
        client = ws.api()
        if isinstance(event, ReactionAdd):
            await client.add_reaction(channel, ts, code)
        else:
            await client.remove_reaction(channel, ts, code)

    async def _contact_request(
        self,
        ws: SlackWorkspace,
        owner: UserRecord,
        contact: Address,
        session: ChatSessionId,
        event: ContactRequest,
    ) -> None:
        if event.display_name:
            self._names[contact.key] = event.display_name
        current = await self._store.get_contact(owner.address, contact)
        if (
            current is not None
            and current.state == ContactState.PENDING
            and current.direction == ContactDirection.OUTBOUND
        ):
            # The owner asked first: this request is the answer (mutual
            # consent), as the router records it.
            channel, _ = await self._conversation(ws, owner, contact, session)
            await ws.api().post_message(
                channel,
                f":white_check_mark: {who(contact, event.display_name)} accepted your "
                "invitation. What you post in this conversation is sent to them.",
            )
            return
        fallback, blocks = request_card(contact, event.display_name)
        dm = await self._dm(ws, split_platform_id(owner.platform_id)[1])
        await ws.api().post_message(dm, fallback, blocks=blocks)
        viewer = split_platform_id(owner.platform_id)[1]
        if viewer in ws.home_viewers:
            self._refresh_home(ws, viewer)

    def _note_presence(self, ws: SlackWorkspace, event: Presence) -> None:
        self._presence[(event.recipient.key, event.sender.key)] = event.availability
        viewer = ws.slack_id(event.recipient)
        if viewer is not None and viewer in ws.home_viewers:
            self._refresh_home(ws, viewer)

    def _refresh_home(self, ws: SlackWorkspace, user_id: str, delay: float = 5.0) -> None:
        self._schedule(
            (ws.team_id, f"home:{user_id}"), delay, lambda: self._publish_home(ws, user_id)
        )

    # -- inbound -----------------------------------------------------------

    def _on_event(self, slack_event: SlackEvent) -> None:
        """
        The webhook's event callback: queue the event behind earlier ones of
        its conversation.
        """
        self.events_in += 1
        ws = self._workspaces.get(slack_event.team_id)
        if ws is None:
            log.info("ignored a Slack event of unknown workspace {team}", team=slack_event.team_id)
            return
        event = slack_event.event
        if slack_event.type.startswith("reaction_"):
            item = event.get("item")
            key = str(item.get("channel")) if isinstance(item, Mapping) else ""
        elif slack_event.type == "app_home_opened":
            key = f"home:{event.get('user')}"
        else:
            key = str(event.get("channel", ""))
        self._chain((ws.team_id, key), lambda: self._handle_event(ws, slack_event))

    def _chain(self, key: tuple[str, str], work: Any) -> None:
        previous = self._chains.get(key, succeed(None))
        current: Deferred[None] = Deferred()
        self._chains[key] = current

        def run(_: object) -> Deferred[None]:
            return Deferred.fromCoroutine(work())

        def done(result: object) -> None:
            if self._chains.get(key) is current:
                del self._chains[key]
            current.callback(None)

        previous.addBoth(run).addErrback(
            lambda f: log.failure("handling a Slack event failed", f)
        ).addBoth(done)

    async def _handle_event(self, ws: SlackWorkspace, slack_event: SlackEvent) -> None:
        event = slack_event.event
        kind = event.get("type")
        subtype = event.get("subtype")
        if kind == "message":
            if subtype in _RELAYED_SUBTYPES:
                await self._on_message(ws, event)
            elif subtype == "message_changed":
                await self._on_changed(ws, event)
            elif subtype == "message_deleted":
                await self._on_deleted(ws, event)
        elif kind in ("reaction_added", "reaction_removed"):
            await self._on_reaction(ws, event, kind == "reaction_added")
        elif kind == "app_home_opened" and event.get("tab", "home") == "home":
            user = _text(event.get("user"))
            if user is not None:
                await self._publish_home(ws, user)
        elif kind in ("app_uninstalled", "tokens_revoked"):
            tokens = event.get("tokens")
            if kind == "app_uninstalled" or (isinstance(tokens, Mapping) and tokens.get("bot")):
                await self._uninstalled(ws, kind)

    async def _uninstalled(self, ws: SlackWorkspace, why: str) -> None:
        """
        Stop serving C{ws} and forget its stored installation: its token is
        gone (the app was uninstalled or the bot token revoked).
        """
        if ws.state == "uninstalled" and ws.client is None:
            return  # Slack sends tokens_revoked and app_uninstalled
        configured = ws.installed_by == "config"
        ws.client = None
        ws.installed_by = None
        ws.state = "uninstalled"
        removed = await self._store.remove_installation(PLATFORM, ws.team_id)
        log.warn(
            "the Slack app was uninstalled from {team} ({why}); {domain} is not served until "
            "it is installed again{stored}{configured}",
            team=ws.team_id,
            why=why,
            domain=ws.domain,
            stored="; its stored installation was deleted" if removed else "",
            configured=(
                f"; remove [connectors.slack.workspaces.{ws.team_id}] bot_token"
                if configured
                else ""
            ),
        )

    async def _contact_session(
        self, ws: SlackWorkspace, channel: Any
    ) -> tuple[ChatSessionRecord, Address, Address] | None:
        """
        The chat session whose conversation C{channel} is, with its
        (owner, contact).
        """
        if not isinstance(channel, str) or not channel:
            return None
        record = await self._store.find_session_by_ref(ws.platform, channel)
        if record is None:
            return None
        if record.first.domain == ws.domain:
            return record, record.first, record.second
        if record.second.domain == ws.domain:
            return record, record.second, record.first
        return None

    def _body(self, ws: SlackWorkspace, message: Mapping[str, Any]) -> RichText:
        body = blocks_to_rich_text(message.get("blocks"), ws.mention_for)
        if body is None:
            body = parse_mrkdwn(str(message.get("text") or ""), ws.mention_for)
        return body

    async def _learn_mentions(self, ws: SlackWorkspace, message: Mapping[str, Any]) -> None:
        for user_id in mentioned_user_ids(str(message.get("text") or ""))[:20]:
            await self._slack_user(ws, user_id)

    async def _on_message(self, ws: SlackWorkspace, event: Mapping[str, Any]) -> None:
        channel, user_id, ts = event.get("channel"), event.get("user"), _text(event.get("ts"))
        if not isinstance(channel, str) or not isinstance(user_id, str) or ts is None:
            return
        if event.get("bot_id"):
            return
        if event.get("channel_type") == "im":
            await self._on_direct_message(ws, channel, user_id, str(event.get("text") or ""))
            return
        found = await self._contact_session(ws, channel)
        if found is None:
            return
        record, owner, contact = found
        user = await self._slack_user(ws, user_id)
        if user is None or user.address.key != owner.key:
            owner_id = ws.slack_id(owner)
            whose = f"<@{owner_id}>'s" if owner_id else "its owner's"
            await ws.api().post_message(
                channel, f"Only {whose} messages in this conversation are sent to {who(contact)}."
            )
            return
        session = record.session_id
        now = self._now()
        thread_ts = _text(event.get("thread_ts"))
        reply_to = None
        if thread_ts is not None and thread_ts != ts:
            reply_to = await self._store.find_message_id(ws.platform, f"{channel}:{thread_ts}")
        await self._learn_mentions(ws, event)
        body = self._body(ws, event)
        native = f"{channel}:{ts}"
        outgoing: list[tuple[TextMessage | FileShare, str]] = []
        if body.plain_text().strip():
            message = TextMessage(
                sender=owner,
                recipient=contact,
                session=session,
                timestamp=now,
                body=body,
                reply_to=reply_to,
            )
            outgoing.append((message, native))
        files = event.get("files")
        for file in files if isinstance(files, list) else []:
            share = self._file_share(ws, owner, contact, session, file, now)
            if share is None:
                await ws.api().post_message(
                    channel,
                    ":warning: Files cannot be sent from Slack through this hub (it has no "
                    "public URL); the file stayed here.",
                )
                continue
            outgoing.append((share, native if not outgoing else f"{native}:{file.get('id')}"))
        for hub_event, key in outgoing:
            await self._store.map_message(hub_event.message_id, ws.platform, key, session)
            await self._route(hub_event)

    def _file_share(
        self,
        ws: SlackWorkspace,
        owner: Address,
        contact: Address,
        session: ChatSessionId,
        file: Any,
        now: datetime,
    ) -> FileShare | None:
        if not isinstance(file, Mapping) or not _text(file.get("id")):
            return None
        name = _text(file.get("name")) or _text(file.get("title")) or "file"
        link = self._links.make(ws.team_id, str(file["id"]), name)
        if link is None:
            return None
        size = file.get("size")
        return FileShare(
            sender=owner,
            recipient=contact,
            session=session,
            timestamp=now,
            name=name,
            size=size if isinstance(size, int) and size >= 0 else None,
            media_type=_text(file.get("mimetype")) or "application/octet-stream",
            url=link,
        )

    async def _on_changed(self, ws: SlackWorkspace, event: Mapping[str, Any]) -> None:
        message = event.get("message")
        previous = event.get("previous_message")
        if not isinstance(message, Mapping) or message.get("bot_id"):
            return
        if isinstance(previous, Mapping) and (
            message.get("text") == previous.get("text")
            and message.get("blocks") == previous.get("blocks")
        ):
            return  # an unfurl, a pin or a reply count: not an edit
        found = await self._contact_session(ws, event.get("channel"))
        if found is None:
            return
        record, owner, contact = found
        user = await self._slack_user(ws, message.get("user"))
        if user is None or user.address.key != owner.key:
            return
        hub_id = await self._store.find_message_id(
            ws.platform, f"{event.get('channel')}:{message.get('ts')}"
        )
        if hub_id is None:
            return
        await self._learn_mentions(ws, message)
        body = self._body(ws, message)
        if not body.plain_text().strip():
            return
        await self._route(
            MessageEdit(
                sender=owner,
                recipient=contact,
                session=record.session_id,
                timestamp=self._now(),
                message_id=hub_id,
                body=body,
            )
        )

    async def _on_deleted(self, ws: SlackWorkspace, event: Mapping[str, Any]) -> None:
        previous = event.get("previous_message")
        if not isinstance(previous, Mapping) or previous.get("bot_id"):
            return
        found = await self._contact_session(ws, event.get("channel"))
        if found is None:
            return
        record, owner, contact = found
        user = await self._slack_user(ws, previous.get("user"))
        if user is None or user.address.key != owner.key:
            return
        native = f"{event.get('channel')}:{event.get('deleted_ts') or previous.get('ts')}"
        keys = [native]
        files = previous.get("files")
        for file in files if isinstance(files, list) else []:
            if isinstance(file, Mapping) and file.get("id"):
                keys.append(f"{native}:{file['id']}")
        for key in keys:
            hub_id = await self._store.find_message_id(ws.platform, key)
            if hub_id is not None:
                await self._route(
                    MessageRetract(
                        sender=owner,
                        recipient=contact,
                        session=record.session_id,
                        timestamp=self._now(),
                        message_id=hub_id,
                    )
                )

    async def _on_reaction(self, ws: SlackWorkspace, event: Mapping[str, Any], added: bool) -> None:
        item = event.get("item")
        if not isinstance(item, Mapping) or item.get("type") != "message":
            return
        channel = item.get("channel")
        found = await self._contact_session(ws, channel)
        if found is None:
            return
        record, owner, contact = found
        user = await self._slack_user(ws, event.get("user"))
        if user is None or user.address.key != owner.key:
            return
        hub_id = await self._store.find_message_id(ws.platform, f"{channel}:{item.get('ts')}")
        if hub_id is None:
            return
        name = str(event.get("reaction") or "")
        emoji = emoji_table().parse_shortcode(name)
        if emoji is None:
            if added:
                await ws.api().post_message(
                    str(channel),
                    f":warning: The custom emoji `:{esc(name)}:` cannot be sent to {who(contact)}.",
                )
            return
        kind = ReactionAdd if added else ReactionRemove
        await self._route(
            kind(
                sender=owner,
                recipient=contact,
                session=record.session_id,
                timestamp=self._now(),
                message_id=hub_id,
                emoji=emoji,
            )
        )

    async def _on_direct_message(
        self, ws: SlackWorkspace, channel: str, user_id: str, text: str
    ) -> None:
        """
        A message to the app in its DM: read as a command, answered there.
        """
        ws.dms[user_id] = channel
        action, address, domain, problem = parse_command_text(text)
        if action is CommandAction.HELP:
            reply = help_text()
            if problem:
                reply = f"Sorry, {problem}.\n{reply}"
        else:
            reply = await self._command(ws, user_id, action, address, domain)
        await ws.api().post_message(channel, reply)

    # -- commands ----------------------------------------------------------

    def _on_command(self, command: SlashCommand) -> Deferred[CommandReply]:
        """
        The webhook's slash command callback; the reply is ephemeral.
        """
        return Deferred.fromCoroutine(self._slash(command))

    def _on_late_reply(self, command: SlashCommand, reply: CommandReply) -> Deferred[None]:
        """
        A command's answer that came after Slack's three seconds (an invite
        waiting for a slow federation peer): posted in the app's DM.
        """

        async def post() -> None:
            ws = self._workspaces.get(command.team_id)
            if ws is None or ws.client is None:
                return
            dm = await self._dm(ws, command.user_id)
            await ws.client.post_message(dm, reply.text)

        return Deferred.fromCoroutine(post())

    async def _slash(self, command: SlashCommand) -> CommandReply:
        ws = self._workspaces.get(command.team_id)
        if ws is None:
            return CommandReply(
                "This Slack workspace is not connected to nextplane; ask your administrators."
            )
        text = await self._command(
            ws, command.user_id, command.action, command.address, command.domain, command.command
        )
        return CommandReply(text)

    async def _command(
        self,
        ws: SlackWorkspace,
        user_id: str,
        action: CommandAction,
        address: Address | None,
        domain: str | None,
        command: str = "/nextplane",
    ) -> str:
        user = await self._slack_user(ws, user_id)
        if user is None:
            return (
                "Sorry, nextplane could not identify your Slack account "
                "(apps, guests of other organisations and deactivated accounts cannot use it)."
            )
        if action is CommandAction.LIST:
            return contact_lines_text(await self._contact_lines(user), command)
        if address is None:
            return (
                f"Blocking a whole domain is up to your administrators: ask them to block "
                f"{domain} for {ws.domain}. You can block one person with "
                f"`{command} block someone@{domain}`."
            )
        if address.domain == ws.domain:
            return f"{address} is in your own organisation: message them in Slack directly."
        if action is CommandAction.INVITE:
            return await self._invite(ws, user, address)
        if action is CommandAction.REMOVE:
            return await self._remove(ws, user, address)
        return await self._block(user, address, command)

    async def _invite(self, ws: SlackWorkspace, user: UserRecord, address: Address) -> str:
        contact = await self._store.get_contact(user.address, address)
        note = ""
        if contact is not None and contact.state == ContactState.ACCEPTED:
            session = await self._session(user.address, address)
            channel = await self._conversation_ref(ws, session)
            where = f": chat with them in <#{channel}>." if channel else "."
            return f"{address} is already your contact{where}"
        if contact is not None and contact.state == ContactState.BLOCKED:
            await self._store.put_contact(
                evolve(contact, state=ContactState.REMOVED, updated_at=self._now())
            )
            note = f"You unblocked {address}. "
        request = ContactRequest(
            sender=user.address,
            recipient=address,
            timestamp=self._now(),
            display_name=user.display_name or None,
        )
        outcome = await self._route_inline(request)
        if not outcome.delivered:
            return f"{note}Could not invite {address}: {outcome.reason}"
        after = await self._store.get_contact(user.address, address)
        if after is not None and after.state == ContactState.ACCEPTED:
            channel = await self._open_conversation(
                ws,
                user,
                address,
                outcome.session,
                f":white_check_mark: You and {who(address)} asked each other: you are connected. "
                "What you post in this conversation is sent to them.",
            )
            return f"{note}You and {address} are now connected: chat in <#{channel}>."
        return (
            f"{note}Invitation sent to {address}. You will get a private conversation with "
            "them once they accept."
        )

    async def _open_conversation(
        self,
        ws: SlackWorkspace,
        user: UserRecord,
        contact: Address,
        session: ChatSessionId | None,
        text: str,
    ) -> str:
        """
        Create (or reuse) the conversation in the pair's delivery order and
        post C{text} there. @return: The channel.
        """
        bound = session or await self._session(user.address, contact)

        async def job() -> str:
            channel, _ = await self._conversation(ws, user, contact, bound)
            await ws.api().post_message(channel, text)
            return channel

        key = (ws.team_id, user.address.key, contact.key)
        return await self._lanes.submit(key, job)  # type: ignore[no-any-return]

    async def _remove(self, ws: SlackWorkspace, user: UserRecord, address: Address) -> str:
        contact = await self._store.get_contact(user.address, address)
        if contact is None or contact.state not in (ContactState.PENDING, ContactState.ACCEPTED):
            return f"{address} is not among your contacts."
        outcome = await self._route_inline(
            ContactRemove(sender=user.address, recipient=address, timestamp=self._now())
        )
        told = ""
        if not outcome.delivered:
            await self._store.put_contact(
                evolve(contact, state=ContactState.REMOVED, updated_at=self._now())
            )
            told = f" They could not be told: {outcome.reason}"
        if contact.state == ContactState.ACCEPTED and outcome.session is not None:
            channel = await self._conversation_ref(ws, outcome.session)
            if channel is not None:
                await self._notify(
                    ws,
                    user,
                    f"You removed {who(address)}: messages here are no longer sent.",
                    outcome.session,
                )
        return f"Removed {address}.{told}"

    async def _block(self, user: UserRecord, address: Address, command: str) -> str:
        contact = await self._store.get_contact(user.address, address)
        if contact is not None and contact.state == ContactState.BLOCKED:
            return f"{address} is already blocked."
        if contact is not None and contact.state in (ContactState.PENDING, ContactState.ACCEPTED):
            await self._route_inline(
                ContactRemove(sender=user.address, recipient=address, timestamp=self._now())
            )
        now = self._now()
        await self._store.put_contact(
            ContactRecord(
                user.address,
                address,
                ContactState.BLOCKED,
                contact.direction if contact is not None else ContactDirection.OUTBOUND,
                contact.created_at if contact is not None else now,
                now,
            )
        )
        return (
            f"Blocked {address}: they can no longer send you messages or contact requests. "
            f"`{command} invite {address}` unblocks them."
        )

    async def _contact_lines(self, user: UserRecord) -> list[ContactLine]:
        ws = self._by_domain.get(user.address.domain)
        lines = []
        for contact in await self._store.list_contacts(owner=user.address):
            external = contact.external
            channel = None
            if ws is not None and contact.state == ContactState.ACCEPTED:
                session = await self._session(user.address, external)
                channel = await self._conversation_ref(ws, session)
            known = await self._store.get_user(external)
            name = (known.display_name if known is not None else None) or self._names.get(
                external.key
            )
            lines.append(
                ContactLine(
                    contact,
                    name,
                    self._presence.get((user.address.key, external.key), Availability.UNKNOWN),
                    channel,
                )
            )
        return lines

    # -- interactivity and Home tab -----------------------------------------

    def _on_interaction(self, interaction: Interaction) -> Deferred[None] | None:
        """
        The webhook's interactivity callback: Accept/Decline buttons.
        """
        if interaction.kind != "block_actions":
            return None
        ws = self._workspaces.get(interaction.team_id)
        decisions = [a for a in interaction.actions if a.accept is not None]
        if ws is None or not decisions:
            return None
        return Deferred.fromCoroutine(
            self._decide(ws, interaction, decisions[0].value, bool(decisions[0].accept))
        )

    async def _decide(
        self, ws: SlackWorkspace, interaction: Interaction, value: str | None, accept: bool
    ) -> None:
        try:
            requester = Address.parse(value or "")
        except InvalidAddress:
            return
        user = await self._slack_user(ws, interaction.user_id)
        if user is None:
            return
        kind = ContactAccept if accept else ContactDecline
        outcome = await self._route_inline(
            kind(sender=user.address, recipient=requester, timestamp=self._now())
        )
        name = self._names.get(requester.key)
        if outcome.delivered and accept:
            channel = await self._open_conversation(
                ws,
                user,
                requester,
                outcome.session,
                f":white_check_mark: You accepted {who(requester, name)}. What you post in "
                "this conversation is sent to them.",
            )
            text = f":white_check_mark: You accepted {who(requester, name)}: chat in <#{channel}>."
        elif outcome.delivered:
            text = f"You declined {who(requester, name)}'s request."
        else:
            verb = "accept" if accept else "decline"
            text = (
                f":warning: Could not {verb} {who(requester, name)}'s request: "
                f"{esc(outcome.reason)}"
            )
        container = interaction.payload.get("container")
        in_view = isinstance(container, Mapping) and container.get("type") == "view"
        if interaction.channel_id and interaction.message_ts and not in_view:
            await ws.api().update_message(
                interaction.channel_id, interaction.message_ts, text, blocks=decided_card(text)
            )
        else:
            await self._notify(ws, user, text)
        if interaction.user_id in ws.home_viewers:
            await self._publish_home(ws, interaction.user_id)

    async def _publish_home(self, ws: SlackWorkspace, user_id: str) -> None:
        user = await self._slack_user(ws, user_id)
        if user is None or ws.client is None:
            return
        view = home_view(user.address, await self._contact_lines(user))
        await ws.client.publish_view(user_id, view)
        ws.home_viewers[user_id] = True

    # -- OAuth and files ---------------------------------------------------

    def _redirect_uri(self) -> str | None:
        return f"{self._public_url}/slack/oauth/callback" if self._public_url else None

    def _install_url(self) -> str:
        params = {
            "client_id": self._config.client_id or "",
            "scope": ",".join(SCOPES),
            "state": self._states.make(),
        }
        redirect = self._redirect_uri()
        if redirect is not None:
            params["redirect_uri"] = redirect
        return f"{self._config.authorize_url}?{urlencode(params)}"

    def _on_oauth(
        self, code: str | None, state: str | None, error: str | None
    ) -> Deferred[WebAnswer]:
        return Deferred.fromCoroutine(self._oauth_callback(code, state, error))

    def _on_file(
        self, team: str, file_id: str, expires: str, signature: str
    ) -> Deferred[WebAnswer]:
        return Deferred.fromCoroutine(self._serve_file(team, file_id, expires, signature))

    async def _oauth_callback(
        self, code: str | None, state: str | None, error: str | None
    ) -> WebAnswer:
        title = "nextplane for Slack"
        if error:
            return _page(200, title, f"The installation was cancelled in Slack ({error}).")
        if not self._states.check(state) or not code:
            return _page(
                400, title, "This installation link expired or was already used: start again."
            )
        assert self._oauth is not None
        try:
            answer = await self._oauth.access(code, self._redirect_uri())
        except SlackApiError as e:
            log.warn("Slack OAuth exchange failed: {reason}", reason=e.reason)
            return _page(502, title, f"Slack refused the installation: {e.reason}")
        token = answer.get("access_token")
        team = answer.get("team")
        team_id = _text(team.get("id")) if isinstance(team, Mapping) else None
        if not isinstance(token, str) or not token.startswith("xoxb-") or team_id is None:
            return _page(502, title, "Slack did not return a bot token.")
        enterprise = answer.get("enterprise")
        scope = answer.get("scope")
        ws = self._workspaces.get(team_id)
        if ws is None:
            log.warn(
                "the Slack app was installed in workspace {team}, which is no tenant of this hub",
                team=team_id,
            )
            return _page(
                403,
                title,
                f"This workspace ({team_id}) is not a tenant of this hub. Ask the hub's "
                f'operator to add a tenant with workspace = "{team_id}", then install again.',
            )
        configured = team_id in self._config.workspaces
        ws.client = self._client(token)
        ws.installed_by = "oauth"
        ws.state = "starting"
        ws.bot_user_id = _text(answer.get("bot_user_id"))
        ws.bot_id = None
        ws.forget_users()
        ws.dms.clear()
        await self._authenticate(ws)
        if ws.client is None:
            # auth.test said the token is not this workspace's.
            return _page(502, title, "Slack's new bot token did not work: install again.")
        installation = SlackInstallation(
            team_id,
            token,
            ws.bot_user_id,
            ws.bot_id,
            _scopes(scope),
            self._now(),
            _text(enterprise.get("id")) if isinstance(enterprise, Mapping) else None,
        )
        try:
            await self._store.put_installation(installation.stored())
        except Exception as e:
            # Not the error's text: it could echo the statement's values.
            log.error(
                "the Slack app was installed in workspace {team} for {domain}, but storing the "
                "installation failed ({error}); it is served until the hub restarts",
                team=team_id,
                domain=ws.domain,
                error=type(e).__name__,
            )
            return _page(
                500,
                title,
                f"nextplane serves {ws.domain} now, but could not save the installation: "
                "install again later.",
            )
        log.info(
            "the Slack app was installed in workspace {team} for {domain}; installation stored",
            team=team_id,
            domain=ws.domain,
        )
        if configured:
            log.info(
                "Slack workspace {team} also has a configured bot_token, which is used again "
                "after a restart; remove it to keep the installed one",
                team=team_id,
            )
        return _page(200, title, f"nextplane is installed and serves {ws.domain}.")

    async def _serve_file(self, team: str, file_id: str, expires: str, signature: str) -> WebAnswer:
        problem = self._links.check(team, file_id, expires, signature)
        if problem == "expired":
            return WebAnswer(410, b"This file link has expired.\n")
        ws = self._workspaces.get(team)
        if problem is not None or ws is None:
            return WebAnswer(404, b"not found\n")
        if ws.client is None:
            return WebAnswer(503, b"The file is not available now.\n")
        try:
            info = (await ws.client.file_info(file_id)).get("file")
            if not isinstance(info, Mapping):
                return WebAnswer(404, b"not found\n")
            url = _text(info.get("url_private_download")) or _text(info.get("url_private"))
            if url is None:
                return WebAnswer(404, b"not found\n")
            content = await ws.client.download_file(url)
        except SlackApiError as e:
            log.info(
                "serving Slack file {file} of {team} failed: {reason}",
                file=file_id,
                team=team,
                reason=e.reason,
            )
            if e.condition == "item-not-found" or e.error == "file_not_found":
                return WebAnswer(404, b"not found\n")
            return WebAnswer(502, b"Slack did not hand over the file.\n")
        media = _text(info.get("mimetype")) or "application/octet-stream"
        inline = media.split("/")[0] in _INLINE_TYPES or media in _INLINE_MEDIA
        name = _text(info.get("name")) or "file"
        return WebAnswer(
            200,
            content,
            media if inline else "application/octet-stream",
            {
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
                "Content-Security-Policy": "sandbox",
            },
        )


def _address(local: str, domain: str) -> Address | None:
    try:
        return Address(local, domain)
    except InvalidAddress:
        return None


class _QuietClientFactory(HTTPConnectionPool._factory):  # type: ignore[name-defined,misc,valid-type]
    noisy = False


class _QuietConnectionPool(HTTPConnectionPool):
    """
    A persistent pool whose connections log no "Starting factory" line.
    """

    _factory = _QuietClientFactory


def build(
    context: ConnectorContext,
    config: SlackConfig,
    *,
    http: HTTPClient | None = None,
    rng: random.Random | None = None,
) -> SlackConnector:
    """
    Build the Slack connector for every tenant whose platform is C{slack}
    and mount its endpoints at C{/slack/}.

    @param http: The Web API's HTTP client; by default treq over a
        persistent connection pool on C{context.reactor}.
    """
    hub = context.config
    pool = None
    if http is None:
        from treq.client import HTTPClient as TreqClient
        from twisted.web.client import Agent

        pool = _QuietConnectionPool(context.reactor, persistent=True)
        pool.maxPersistentPerHost = config.max_connections
        agent = Agent(context.reactor, pool=pool, connectTimeout=10)  # type: ignore[arg-type]
        http = TreqClient(agent)  # type: ignore[assignment]
    assert http is not None
    connector = SlackConnector(
        sink=context.sink,
        store=context.store,
        clock=context.reactor,
        config=config,
        tenants=hub.tenants,
        http=http,
        rng=rng,
        public_url=hub.web.public_url,
        delivery_timeout=hub.router.delivery_timeout,
        http_pool=pool,
        profiles=context.profiles,
    )
    context.mount("slack", connector.resource())
    context.on_revoke(connector.revoke)
    return connector


ENTRY = ConnectorEntry(
    name=PLATFORM,
    role="platform",
    parse_config=parse_config,
    build=build,
    summary="Slack workspaces: Events API webhook, slash command, Web API.",
)
