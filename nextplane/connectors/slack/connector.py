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

Parts
=====
  - L{nextplane.connectors.slack.inbound}: Slack events to hub events.
  - L{nextplane.connectors.slack.outbound}: hub events shown in Slack.
  - L{nextplane.connectors.slack.home}: commands, cards and the Home tab.
  - L{nextplane.connectors.slack.install}: tokens, OAuth installs, uninstalls.
  - L{nextplane.connectors.slack.fileproxy}: files behind signed hub links.
  - The platform kit (L{nextplane.connectors.platform}): queues and
    acknowledgement, the API caller, commands, cards, users, conversations
    and file links, shared with the other bot platforms.

Deliveries to one user from one contact run in order; Slack's
one-post-per-second-per-channel pace is kept by the Web API client. A
delivery is acknowledged when Slack accepted it, or after
C{queue_ack_seconds} of waiting in the queue (so a burst never runs into
the router's delivery timeout); a failure after that is sent back to the
sender as a L{DeliveryError}.

No token ever reaches a log line, a page, an exception message or a store
dump (C{dump_tables} redacts them). Message content is never logged.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ...config import TenantConfig
from ...interfaces import IConnector
from ...model.events import Event, Presence, Typing
from ..platform.conversations import Conversations
from ..platform.files import FileLinks, derive_key
from ..platform.service import Hub, PlatformService, platform_builder, platform_entry
from .api import HTTPClient, RetryPolicy, SlackOAuthClient, SlackWebClient
from .config import SCOPES, SlackConfig, channel_name, parse_config
from .fileproxy import SlackFiles
from .home import SlackHome
from .inbound import SlackInbound
from .install import SlackInstaller
from .links import OAuthStates
from .outbound import SlackOutbound
from .people import SlackPeople
from .signature import SignatureVerifier
from .style import MRKDWN
from .webhook import SlackWebhook
from .workspace import PLATFORM, SlackWorkspace

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


@implementer(IConnector)
class SlackConnector(PlatformService):
    """
    Serves the tenants whose platform is C{slack}; see the module docstring.

    @ivar webhook: The endpoints to mount at C{/slack/}.
    @ivar ready: Fires once the stored installations were loaded and
        C{auth.test} was tried for every workspace.
    @ivar delivery: The kit's queues and acknowledgement.
    @ivar directory: The kit's users and contacts' profiles.
    """

    connector_name = PLATFORM

    def __init__(
        self,
        hub: Hub,
        *,
        config: SlackConfig,
        http: HTTPClient,
        rng: random.Random | None = None,
        http_pool: Any = None,
    ) -> None:
        """
        @param hub: What the connector takes from the hub (a contact
            without a stored user record is shown with C{hub.profiles}).
        @param http: A treq-like client for the Web API (L{StubTreq} in tests).
        @param http_pool: The connection pool behind C{http}, if the
            connector owns it: its connections are closed on stop.
        """
        super().__init__(hub, "Slack", PLATFORM, config, http_pool)
        sink, store, clock, public_url = hub.sink, hub.store, hub.clock, hub.public_url
        self._clock = clock
        self._config = config
        self._http = http
        # Every client shares the connection pool, hence one bound.
        self._gate = DeferredSemaphore(config.max_connections)
        self._rng = rng if rng is not None else random.Random()
        self._workspaces: dict[str, SlackWorkspace] = {}
        self._by_domain: dict[str, SlackWorkspace] = {}
        self._add_workspaces(hub.tenants)
        conversations = Conversations(store, clock)
        people = SlackPeople(store, self.directory)
        self._outbound = SlackOutbound(
            store=store,
            config=config,
            delivery=self.delivery,
            directory=self.directory,
            conversations=conversations,
            people=people,
            on_request=lambda ws, owner: self._home.request_shown(ws, owner),
        )
        self._home = SlackHome(
            store=store,
            delivery=self.delivery,
            directory=self.directory,
            conversations=conversations,
            people=people,
            outbound=self._outbound,
            commands=self.contact_commands(hub, MRKDWN),
            workspaces=self._workspaces,
            by_domain=self._by_domain,
        )
        secret = config.signing_secret
        links = FileLinks(
            derive_key(secret, "slack file links"),
            public_url,
            clock,
            config.file_link_ttl,
            "slack/files",
        )
        oauth = None
        if config.client_id and config.client_secret:
            oauth = SlackOAuthClient(
                config.client_id,
                config.client_secret,
                http,
                clock,
                self._rng,
                base_url=config.api_base_url,
                policy=RetryPolicy(timeout=config.request_timeout),
                gate=self._gate,
            )
        self._installer = SlackInstaller(
            store=store,
            clock=clock,
            config=config,
            delivery=self.delivery,
            workspaces=self._workspaces,
            client=self._client,
            oauth=oauth,
            states=OAuthStates(derive_key(secret, "slack oauth state"), clock),
            public_url=public_url,
            running=lambda: bool(self.running),
        )
        self._inbound = SlackInbound(
            sink=sink,
            store=store,
            clock=clock,
            delivery=self.delivery,
            conversations=conversations,
            people=people,
            home=self._home,
            links=links,
            workspaces=self._workspaces,
            uninstalled=self._installer.uninstalled,
        )
        self.webhook = SlackWebhook(
            SignatureVerifier(secret, clock),
            clock,
            self._inbound.on_event,
            self._home.on_command,
            self._home.on_interaction,
            on_install=self._installer.install_url if oauth is not None else None,
            on_oauth=self._installer.on_oauth if oauth is not None else None,
            on_file=SlackFiles(links, self._workspaces).on_file,
            on_late_reply=self._home.on_late_reply,
            has_room=lambda: self.delivery.receiving < config.max_inbound_queued,
        )
        self._installer.webhook = self.webhook
        self.ready: Deferred[None] = succeed(None)

    def _add_workspaces(self, tenants: Iterable[TenantConfig]) -> None:
        config = self._config
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

    def _client(self, token: str | None) -> SlackWebClient | None:
        if not token:
            return None
        return SlackWebClient(
            token,
            self._http,
            self._clock,
            self._rng,
            base_url=self._config.api_base_url,
            policy=RetryPolicy(
                timeout=self._config.request_timeout,
                outage_deadline=self._config.outage_seconds,
            ),
            file_hosts=self._config.file_hosts,
            gate=self._gate,
        )

    def workspace(self, team_id: str) -> SlackWorkspace | None:
        """
        The workspace C{team_id}, if a tenant uses it.
        """
        return self._workspaces.get(team_id)

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
        loaded = Deferred.fromCoroutine(self._installer.load())

        def authenticate(_: object) -> None:
            checks = [
                Deferred.fromCoroutine(self._installer.authenticate(ws))
                for ws in self._workspaces.values()
                if ws.client is not None
            ]
            DeferredList(checks, consumeErrors=True).addBoth(lambda _: ready.callback(None))

        def failed(failure: Failure) -> Failure:
            ready.callback(None)
            return failure

        loaded.addCallbacks(authenticate, failed)
        return loaded

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
            "events_in": self._inbound.events_in,
            "messages_out": self._outbound.messages_out,
            "queued": len(self.delivery),
            "late_failures": self.delivery.late_failures,
            "receiving": self.delivery.receiving,
            "refused_busy": self.webhook.refused_busy,
        }

    # -- outbound ----------------------------------------------------------

    def deliver_to(self, ws: SlackWorkspace, event: Event) -> Deferred[None]:
        """
        Deliver C{event} to its recipient in C{ws}; see the module docstring.
        """
        if isinstance(event, Typing):
            return succeed(None)  # Slack has no typing indicator for apps
        if isinstance(event, Presence):
            self._home.note_presence(ws, event)
            return succeed(None)
        return self.queue(ws.team_id, event, lambda: self._outbound.deliver(ws, event))


#: Build the Slack connector for every tenant whose platform is C{slack}
#: and mount its endpoints at C{/slack/}; C{http} is the platform's HTTP
#: client, by default treq over a persistent pool on C{context.reactor}.
build = platform_builder(SlackConnector, "slack")

ENTRY = platform_entry(
    PLATFORM,
    parse_config,
    build,
    "Slack workspaces: Events API webhook, slash command, Web API.",
)
