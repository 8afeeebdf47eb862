# -*- test-case-name: tests.teams.test_connector -*-
"""
The Microsoft Teams platform connector: tenants' Teams users chat with
external contacts through the nextplane Teams app (a Bot Framework bot).

Representation
==============
A Teams bot cannot post under another person's name or picture, and
each user has one personal chat with the app, so:

  - every contact's message arrives in that chat under the contact's
    picture and name (an Adaptive Card header) or after a bold name line
    (C{message_style = "text"});
  - a plain reply goes to the contact whose message it replies to, else
    to the last contact heard from, or the one picked with
    C{chat <address>}; when more than one contact is active, each send is
    confirmed with a short line naming its target;
  - contact requests arrive as Adaptive Cards (Accept / Decline), updated
    in place once answered; C{invite}, C{remove}, C{block}, C{list},
    C{help} are typed in the chat (the kit's commands);
  - reactions from Teams reach the contact; bots cannot react, so a
    contact's reaction arrives as a short line;
  - files from Teams reach the contact as a hub file link; files to Teams
    come as a file consent card (uploaded to the user's OneDrive on
    accept), else a link card;
  - presence is honestly "unknown" (Teams gives bots none).

Parts
=====
  - L{nextplane.connectors.teams.webhook}: C{POST /teams/messages} (JWT
    verified first), file links.
  - L{nextplane.connectors.teams.handler}: activities to hub events, commands, cards.
  - L{nextplane.connectors.teams.outbound}: hub events shown in Teams.
  - L{nextplane.connectors.teams.tenant}: users, chats, the kit's Surface.
  - L{nextplane.connectors.teams.rest}: Connector REST through the kit's
    caller, with Teams' rate windows and retries.

Deliveries to one user from one contact run in order; a delivery is
acknowledged when Teams took it, or after C{queue_ack_seconds} in the
queue; a later failure is sent back to the sender. Message content is never logged.

A Teams user's message is answered once its work record is durable, and
handled once (L{nextplane.connectors.teams.inbound_work}); after a restart,
one left unfinished gets a reply saying it was not delivered.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.defer import Deferred, DeferredSemaphore, succeed
from twisted.logger import Logger
from zope.interface import implementer

from ...interfaces import IConnector
from ...model.events import Event, Presence, Typing, TypingState
from ...storage.records import WorkRecord
from ..platform.conversations import Conversations
from ..platform.files import FileLinks, derive_key
from ..platform.httpapi import HTTPClient, RetryPolicy
from ..platform.service import Hub, PlatformService, platform_builder, platform_entry
from .auth import BotFrameworkAuthenticator, OpenIdKeys
from .config import TeamsConfig, parse_config
from .handler import TeamsHandler
from .inbound_work import not_delivered
from .outbound import TeamsOutbound
from .rest import TeamsRest
from .style import TEAMS
from .tenant import PLATFORM, ActiveTargets, TeamsTenant
from .token import BotTokenProvider
from .webhook import TeamsWebhook

__all__ = ["ENTRY", "PLATFORM", "TeamsConnector", "build"]

log = Logger()

#: Seconds between two typing notices shown in one chat.
TYPING_EVERY = 3.0


@implementer(IConnector)
class TeamsConnector(PlatformService):
    """
    Serves the tenants whose platform is C{teams}; see the module docstring.

    @ivar webhook: The endpoints to mount at C{/teams/}.
    @ivar tenants: Each served tenant, by Teams tenant id.
    """

    connector_name = PLATFORM

    def __init__(
        self,
        hub: Hub,
        *,
        config: TeamsConfig,
        http: HTTPClient,
        rng: random.Random | None = None,
        http_pool: Any = None,
    ) -> None:
        """
        @param hub: What the connector takes from the hub.
        @param http: A treq-like client for Teams (L{StubTreq} in tests).
        @param http_pool: The pool behind C{http}, closed on stop.
        """
        super().__init__(hub, "Teams", PLATFORM, config, http_pool)
        sink, store, clock = hub.sink, hub.store, hub.clock
        self._clock = clock
        conversations = Conversations(store, clock)
        tokens = BotTokenProvider(config.credentials(), http, clock)
        gate = DeferredSemaphore(config.max_connections)
        rng = rng if rng is not None else random.Random()
        self.tenants: dict[str, TeamsTenant] = {}
        self._by_domain: dict[str, TeamsTenant] = {}
        for tenant in hub.tenants:
            if tenant.platform != PLATFORM:
                continue
            served = TeamsTenant(
                tenant_id=tenant.workspace,
                domain=tenant.domain,
                rest=TeamsRest(
                    http,
                    clock,
                    rng,
                    tokens,
                    RetryPolicy(timeout=config.request_timeout),
                    gate,
                    config.requests_per_second,
                ),
                service_url=config.service_url,
                bot_id=f"28:{config.app_id}",
                store=store,
                directory=self.directory,
                delivery=self.delivery,
                replies=ActiveTargets(clock),
            )
            self.tenants[served.tenant_id] = self._by_domain[served.domain] = served
        self.outbound = TeamsOutbound(
            store=store,
            directory=self.directory,
            conversations=conversations,
            message_style=config.message_style,
        )
        links = FileLinks(
            derive_key(config.app_password, "teams file links"),
            hub.public_url,
            clock,
            config.file_link_ttl,
            "teams/files",
        )
        self.handler = TeamsHandler(
            sink=sink,
            store=store,
            clock=clock,
            delivery=self.delivery,
            conversations=conversations,
            commands=self.contact_commands(hub, TEAMS),
            outbound=self.outbound,
            tenants=self.tenants,
            links=links,
            work=hub.work,
        )
        keys = OpenIdKeys(http, clock, config.openid_metadata_url)
        self.webhook = TeamsWebhook(
            BotFrameworkAuthenticator(config.app_id, keys, clock),
            self.handler.on_activity,
            links,
            self._open_file,
        )
        self._typing: dict[tuple[str, str], float] = {}

    def _open_file(self, scope: str, file_id: str) -> Deferred[Any]:
        url = self.handler.downloads.get((scope, file_id))
        tenant = self.tenants.get(scope)
        if url is None or tenant is None:
            return succeed(None)
        return Deferred.fromCoroutine(tenant.rest.caller.open("GET", url))

    def health(self) -> dict[str, Any]:
        """
        Counters and the deliveries waiting.
        """
        return {
            "state": "ok" if self.running else "stopped",
            "tenants": {t.tenant_id: {"domain": t.domain} for t in self.tenants.values()},
            "events_in": self.handler.events_in,
            "messages_out": self.outbound.messages_out,
            "refused": dict(self.webhook.refused),
            "queued": len(self.delivery),
            "late_failures": self.delivery.late_failures,
        }

    # -- outbound ----------------------------------------------------------

    def tell_not_delivered(self, record: WorkRecord) -> Deferred[bool]:
        """
        After a restart: tell the sender of an unfinished work record, in
        a reply to their message, that it was not delivered.
        """
        return Deferred.fromCoroutine(not_delivered(self.tenants, record))

    def deliver_to(self, tenant: TeamsTenant, event: Event) -> Deferred[Any]:
        """
        Deliver C{event} to its recipient in C{tenant}; see the module docstring.
        """
        if isinstance(event, Presence):
            return succeed(None)  # Teams shows bots' contacts no presence
        if isinstance(event, Typing):
            self._type(tenant, event)
            return succeed(None)
        return self.queue(tenant.tenant_id, event, lambda: self.outbound.deliver(tenant, event))

    def _type(self, tenant: TeamsTenant, event: Typing) -> None:
        # At most one typing notice per chat every few seconds, outside the
        # queues: it must never hold up a message.
        slot = (tenant.tenant_id, event.recipient.key)
        now = self._clock.seconds()
        if (
            event.state != TypingState.COMPOSING
            or self._typing.get(slot, -1e9) > now - TYPING_EVERY
        ):
            return
        self._typing[slot] = now

        async def show() -> None:
            owner = await self.outbound.owner(tenant, event.recipient)
            await tenant.typing(owner)

        d = Deferred.fromCoroutine(show())
        d.addErrback(lambda f: None)  # a lost typing notice is harmless
        self.delivery.track(d, "a Teams typing notice")


#: Build the Teams connector for every tenant whose platform is C{teams}
#: and mount its endpoints at C{/teams/}; C{http} is the platform's HTTP
#: client, by default treq over a persistent pool on C{context.reactor}.
build = platform_builder(TeamsConnector, "teams")

ENTRY = platform_entry(
    PLATFORM,
    parse_config,
    build,
    "Microsoft Teams tenants: Bot Framework messaging endpoint, Connector REST.",
)
