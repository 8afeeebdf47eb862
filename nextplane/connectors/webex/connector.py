# -*- test-case-name: tests.webex.test_connector -*-
"""
The Cisco Webex platform connector: tenants' Webex users chat with
external contacts through the nextplane Webex bot.

Representation
==============
A Webex bot cannot post as another identity, and in a group space it
hears only messages that @mention it, so each user talks to the bot in
their direct (1:1) space with it (L{nextplane.connectors.webex.space}):

  - each contact's messages arrive there after the contact's name in
    bold, threaded per contact (the first message starts the thread);
  - a reply in a contact's thread goes to that contact; a plain message
    to the last contact heard from, or the one picked with
    C{chat <address>}; with several contacts active each send is
    confirmed (the kit's L{ChatTargets});
  - contact requests are Adaptive Cards (Accept / Decline, answered
    through C{attachmentActions}); C{invite}, C{remove}, C{block},
    C{list}, C{help} are typed in the space (the kit's commands);
  - files from Webex reach contacts as signed, expiring hub links (the
    bot token stays in the hub); files to Webex arrive as links;
  - what Webex cannot show is said, not dropped: reactions arrive as a
    line; typing is not shown and presence reads "unknown" (Webex gives
    bots neither); edits made in Webex reach no one (Webex has no webhook
    for them).

Parts: L{webhook} (C{POST /webex/events}, signature first; file links),
L{inbound}, L{outbound}, L{space}, L{rest} (the kit's caller, Retry-After),
L{webhooks} (the keeper, run at start and when the public URL changes).
Which Webex message each hub message became, and each contact's thread,
are kept in the store as message refs (the kit's L{MessageRefs}, ids only,
pruned after 30 days), so edits, deletions and thread replies still work
after a restart. Message content is never stored or logged.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredSemaphore, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from ...config import TenantConfig
from ...interfaces import IConnector
from ...model.events import Event, Presence, Typing
from ...storage.records import WorkRecord
from ...work import WorkLog
from ..platform.files import FileLinks, derive_key
from ..platform.httpapi import HTTPClient, RetryPolicy
from ..platform.refs import MessageRefs
from ..platform.service import Hub, PlatformService, platform_builder, platform_entry
from ..platform.targets import ChatTargets
from .api import get_me, parse_person
from .catchup import catch_up, claim, not_delivered
from .config import WebexConfig, parse_config
from .events import Envelope, MessageCreated
from .inbound import WebexInbound
from .outbound import WebexOutbound
from .rest import WebexRest
from .signature import WebhookVerifier
from .space import DirectSpaces
from .style import WEBEX
from .webhook import WebexWebhook
from .webhooks import KeepReport, keep_webhooks

__all__ = ["ENTRY", "PLATFORM", "WebexConnector", "build"]

log = Logger()

#: The connector's configuration name and users' platform in the store.
PLATFORM = "webex"
#: Seconds between prunings of old message refs.
PRUNE_EVERY = 3600.0


@implementer(IConnector)
class WebexConnector(PlatformService):
    """
    Serves the tenants whose platform is C{webex}; see the module docstring.

    @ivar webhook: The endpoints to mount at C{/webex/}.
    @ivar keeper: The last start's webhook changes (C{None} before).
    """

    connector_name = PLATFORM

    def __init__(
        self,
        hub: Hub,
        *,
        config: WebexConfig,
        http: HTTPClient,
        rng: random.Random | None = None,
        http_pool: Any = None,
    ) -> None:
        """
        @param hub: What the connector takes from the hub.
        @param http: A treq-like client for Webex (L{StubTreq} in tests).
        @param http_pool: The pool behind C{http}, closed on stop.
        """
        super().__init__(hub, "Webex", PLATFORM, config, http_pool)
        clock = hub.clock
        self._store = hub.store
        self._config = config
        self._public_url = hub.public_url
        self._by_domain: dict[str, TenantConfig] = {
            t.domain: t for t in hub.tenants if t.platform == PLATFORM
        }
        self.rest = WebexRest(
            http,
            config.bot_token,
            config.api_base_url,
            clock,
            rng if rng is not None else random.Random(),
            RetryPolicy(timeout=config.request_timeout),
            DeferredSemaphore(config.max_connections),
        )
        # The claims are the dedupe, so a connector alone makes its own log.
        self.work = hub.work if hub.work is not None else WorkLog(hub.store, clock)
        self.refs = MessageRefs(hub.store, PLATFORM, clock)
        self.spaces = DirectSpaces(self.rest, hub.store, ChatTargets(clock), self.refs)
        self._pruning = LoopingCall(self._prune_refs)
        self._pruning.clock = clock
        self.links = FileLinks(
            derive_key(config.webhook_secret, "webex file links"),
            hub.public_url,
            clock,
            config.file_link_ttl,
            "webex/files",
        )
        self.inbound = WebexInbound(
            sink=hub.sink,
            directory=self.directory,
            spaces=self.spaces,
            commands=self.contact_commands(hub, WEBEX),
            links=self.links,
            tenants=self._by_domain,
            store=hub.store,
            work=self.work,
        )
        self.outbound = WebexOutbound(hub.store, self.directory, self.spaces)
        self.webhook = WebexWebhook(
            WebhookVerifier([config.webhook_secret]),
            clock,
            self._received,
            self.links,
            self._open_file,
            partial(claim, self.work),
        )
        self.keeper: KeepReport | None = None
        #: Fires with how many messages the last start caught up.
        self.caught_up: Deferred[int] | None = None

    def _received(self, envelope: Envelope, work: WorkRecord) -> None:
        # One user's events in order; different users' in parallel.
        key = envelope.item.room_id if hasattr(envelope.item, "room_id") else None
        self.delivery.receive(key or envelope.data_id, lambda: self.inbound.handle(envelope, work))

    def _missed(self, item: MessageCreated, work: WorkRecord) -> None:
        # A caught-up message, in order with its space's deliveries.
        self.delivery.receive(item.room_id, lambda: self.inbound.message(item, work))

    def _open_file(self, scope: str, file_id: str) -> Deferred[Any]:
        url = self.inbound.files.get(file_id)
        if url is None or scope not in self._by_domain:
            return succeed(None)
        return Deferred.fromCoroutine(self.rest.open_file(url))

    def startService(self) -> Deferred[None]:
        """
        Learn the bot's own id (C{people/me}) and keep the webhooks.
        """
        Service.startService(self)
        self._pruning.start(PRUNE_EVERY, now=True)
        return Deferred.fromCoroutine(self._start())

    def stopService(self) -> Deferred[None]:
        """
        Stop pruning, then as the kit's service.
        """
        if self._pruning.running:
            self._pruning.stop()
        return super().stopService()

    def _prune_refs(self) -> Deferred[None]:
        def done(count: int) -> None:
            if count:
                log.debug("Webex: pruned {count} message refs", count=count)

        d = self.refs.prune().addCallback(done)
        return d.addErrback(lambda f: log.failure("Webex: pruning message refs failed", f))

    async def _start(self) -> None:
        me = parse_person(await self.rest.call(get_me()))
        self.inbound.me = me.id
        await self.public_url_changed(self._public_url)
        if self.keeper is not None:
            # In the background: a start does not wait for every space.
            self.caught_up = Deferred.fromCoroutine(
                catch_up(
                    rest=self.rest,
                    store=self._store,
                    work=self.work,
                    domains=sorted(self._by_domain),
                    platform=PLATFORM,
                    me=me.id,
                    handle=self._missed,
                )
            )
            self.caught_up.addErrback(lambda f: log.failure("Webex: catching up failed", f))

    async def public_url_changed(self, public_url: str | None) -> None:
        """
        Point the webhooks at C{public_url} (at start, and when it changes).
        """
        self._public_url = public_url
        if public_url is None:
            log.warn("Webex: no [web] public_url, so no webhooks: nothing from Webex is heard")
            return
        self.keeper = await keep_webhooks(self.rest.call, public_url, self._config.webhook_secret)

    def tell_not_delivered(self, record: WorkRecord) -> Deferred[bool]:
        """
        After a restart: tell the sender of an unfinished work record, in
        their direct space, that it was not delivered.
        """
        return Deferred.fromCoroutine(not_delivered(self.rest, record))

    def health(self) -> dict[str, Any]:
        """
        Counters and the deliveries waiting.
        """
        return {
            "state": "ok" if self.running and self.inbound.me else "stopped",
            "tenants": sorted(self._by_domain),
            "events_in": self.inbound.events_in,
            "messages_out": self.outbound.messages_out,
            "refused": dict(self.webhook.refused),
            "replays": self.webhook.replays,
            "queued": len(self.delivery),
            "late_failures": self.delivery.late_failures,
        }

    def deliver_to(self, tenant: TenantConfig, event: Event) -> Deferred[None]:
        """
        Show C{event} to its Webex recipient at C{tenant}, in order per contact.
        """
        if isinstance(event, Typing | Presence):
            return succeed(None)  # Webex shows bots' contacts neither
        return self.queue(tenant.domain, event, lambda: self.outbound.deliver(event))


#: Build the Webex connector for every tenant whose platform is C{webex}
#: and mount its endpoints at C{/webex/}; C{http} is the platform's HTTP
#: client, by default treq over a persistent pool on C{context.reactor}.
build = platform_builder(WebexConnector, "webex")

ENTRY = platform_entry(
    PLATFORM,
    parse_config,
    build,
    "Cisco Webex: a bot in each user's direct space; webhooks kept by the hub, REST.",
)
