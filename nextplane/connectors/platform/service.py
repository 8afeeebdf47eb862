# -*- test-case-name: tests.teams.test_connector,tests.slack.test_connector -*-
"""
The service every bot-platform connector is: the kit's L{Delivery} and
L{Directory} made from the hub's settings, stopping (queued deliveries
fail and their senders are told, work under way is waited for, the HTTP
pool is closed), admin revocations, and the wiring into the hub
(L{build_platform}).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from attrs import frozen
from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...config import TenantConfig
from ...contacts import ContactBook
from ...interfaces import DeliveryFailed, IEventSink, IStore
from ...model.address import Address
from ...model.events import Event
from ...work import WorkLog
from ..base import ConnectorContext, ConnectorEntry
from .commands import ContactCommands, Style
from .delivery import Delivery
from .directory import Directory, ProfileFetch
from .httpapi import HTTPClient, pooled_client

__all__ = [
    "Hub",
    "PlatformService",
    "build_platform",
    "mount",
    "platform_builder",
    "platform_entry",
]

P = TypeVar("P", bound="PlatformService")

log = Logger()


@frozen
class Hub:
    """
    What a platform connector takes from the hub.

    @ivar tenants: Every tenant (the connector serves those of its platform).
    @ivar public_url: C{[web] public_url}, for file links and redirects.
    @ivar delivery_timeout: The router's; deliveries are acknowledged after
        at most half of it.
    @ivar profiles: Fetches an external contact's profile (the router's
        L{nextplane.router.Router.profile_of}).
    @ivar contacts: The hub's one writer of contact state; without it
        (tests of a connector alone) the connector makes its own.
    @ivar work: The hub's one writer of work records; without it, inbound
        events are deduplicated in memory and acknowledged at once.
    @ivar stop_timeout: Longest a stop waits for work under way.
    """

    sink: IEventSink
    store: IStore
    clock: IReactorTime
    tenants: Sequence[TenantConfig] = ()
    public_url: str | None = None
    delivery_timeout: float = 60.0
    profiles: ProfileFetch | None = None
    contacts: ContactBook | None = None
    work: WorkLog | None = None
    stop_timeout: float = 15.0

    @classmethod
    def of(cls, context: ConnectorContext) -> Hub:
        """
        The hub of a connector built from C{context}.
        """
        config = context.config
        return cls(
            context.sink,
            context.store,
            context.reactor,
            config.tenants,
            config.web.public_url,
            config.router.delivery_timeout,
            context.profiles,
            context.contacts,
            work=context.work,
        )


class PlatformService(Service):
    """
    A platform connector's service; see the module docstring.

    @ivar delivery: The kit's queues and acknowledgement.
    @ivar directory: The kit's users and contacts' profiles.
    """

    role = "platform"
    #: The platform's endpoints, set by the connector.
    webhook: Any

    def __init__(
        self, hub: Hub, platform: str, store_name: str, settings: Any, http_pool: Any = None
    ) -> None:
        """
        @param platform: The platform's name as users know it (C{"Slack"}).
        @param store_name: Its name in the store (users' C{platform}).
        @param settings: Its configuration section: C{queue_ack_seconds}
            (longest a delivery waits before the router is told it was
            taken) and C{max_queued} (deliveries waiting per conversation).
        @param http_pool: The connection pool behind the platform's HTTP
            client, if the connector owns it: closed on stop.
        """
        self.delivery = Delivery(
            platform=platform,
            sink=hub.sink,
            clock=hub.clock,
            ack_after=max(0.1, min(settings.queue_ack_seconds, hub.delivery_timeout / 2)),
            max_queued=settings.max_queued,
            stop_timeout=hub.stop_timeout,
        )
        self.directory = Directory(hub.store, store_name, hub.clock, hub.profiles)
        self._http_pool = http_pool
        #: The served tenants (the platform's own type), by domain.
        self._by_domain: dict[str, Any] = {}

    def serves(self, address: Address) -> bool:
        """
        Whether C{address} is a user of a tenant this connector serves.
        """
        return address.domain in self._by_domain

    def contact_commands(self, hub: Hub, style: Style) -> ContactCommands:
        """
        The kit's commands, writing contact state through the hub's book
        (or one of the connector's own, in tests of a connector alone).
        """
        book = hub.contacts or ContactBook(hub.store, hub.clock, self.serves)
        return ContactCommands(book, self.delivery, hub.clock, style)

    def deliver(self, event: Event) -> Deferred[Any]:
        """
        Deliver C{event} to its recipient's tenant (L{deliver_to}), or
        fail it when the connector is stopped or does not serve them.
        """
        tenant = self._by_domain.get(event.recipient.domain)
        refused = self.refusal(event, tenant is not None)
        if refused is not None or tenant is None:
            return refused or succeed(None)
        return self.deliver_to(tenant, event)

    def deliver_to(self, tenant: Any, event: Event) -> Deferred[Any]:
        """
        Deliver C{event} to its recipient at C{tenant} (one of the
        connector's own, from C{_by_domain}).
        """
        raise NotImplementedError

    def queue(self, tenant_id: str, event: Event, send: Callable[[], Any]) -> Deferred[Any]:
        """
        Queue C{send} in order with the other deliveries from C{event}'s
        sender to its recipient at C{tenant_id}.
        """
        key = (tenant_id, event.recipient.key, event.sender.key)
        return self.delivery.submit(key, event, send)

    def refusal(self, event: Event, served: bool) -> Deferred[None] | None:
        """
        The failure of a delivery the connector cannot take (it is stopped,
        or C{event}'s recipient is not C{served} here), else C{None}.
        """
        platform = self.delivery.platform
        if not self.running:
            reason = f"the {platform} connector is stopped"
            return fail(DeliveryFailed("service-unavailable", reason))
        if not served:
            reason = f"{event.recipient.domain} is not served by {platform} here"
            return fail(DeliveryFailed("item-not-found", reason))
        return None

    def stopService(self) -> Deferred[None]:
        """
        Stop taking deliveries; deliveries still queued fail (their senders
        are told), then wait (boundedly) for work under way.
        """
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stopping())

    async def _stopping(self) -> None:
        if not await self.delivery.stop():
            log.info(
                "stopping {platform}: some work was still under way",
                platform=self.delivery.platform,
            )
        if self._http_pool is not None:
            await self._http_pool.closeCachedConnections()

    def revoke(self, revocation: Any) -> None:
        """
        Drop queued deliveries an admin revocation covers; their senders
        are told.
        """
        dropped = self.delivery.revoke(revocation)
        if dropped:
            log.info(
                "revocation: {count} queued {platform} deliveries dropped",
                count=dropped,
                platform=self.delivery.platform,
            )

    def resource(self) -> Any:
        """
        The platform's web resource (mounted by L{mount}): its C{webhook}'s.
        """
        return self.webhook.resource()

    def fetch_profile(self, requester: Address, address: Address) -> Deferred[Any]:
        """
        The platform's users' profiles are their stored user records (the
        router's); a connector that can fetch more overrides this.
        """
        return succeed(None)


def mount(context: ConnectorContext, segment: str, connector: PlatformService) -> None:
    """
    Serve C{connector}'s resource at C{/segment/} and have it hear of revocations.
    """
    context.mount(segment, connector.resource())
    context.on_revoke(connector.revoke)


def build_platform(
    factory: Callable[..., P],
    context: ConnectorContext,
    config: Any,
    *,
    segment: str,
    max_connections: int,
    http: HTTPClient | None = None,
    rng: random.Random | None = None,
) -> P:
    """
    Build a platform connector from the hub's settings and mount it at
    C{/segment/}.

    @param factory: The connector class (arguments: the L{Hub}, then
        C{config}, C{http}, C{rng}, C{http_pool} by keyword).
    @param http: The platform's HTTP client; by default treq over a
        persistent pool of C{max_connections} on C{context.reactor}, which
        the connector closes on stop.
    """
    pool = None
    if http is None:
        http, pool = pooled_client(context.reactor, max_connections)
    connector = factory(Hub.of(context), config=config, http=http, rng=rng, http_pool=pool)
    mount(context, segment, connector)
    return connector


def platform_builder(factory: Callable[..., P], segment: str) -> Callable[..., P]:
    """
    A platform connector's C{build(context, config, *, http=None,
    rng=None)}: L{build_platform} with C{factory}, mounted at
    C{/segment/}, its pool as large as the section's C{max_connections}.
    """

    def build(
        context: ConnectorContext,
        config: Any,
        *,
        http: HTTPClient | None = None,
        rng: random.Random | None = None,
    ) -> P:
        return build_platform(
            factory,
            context,
            config,
            segment=segment,
            max_connections=config.max_connections,
            http=http,
            rng=rng,
        )

    build.__doc__ = (
        f"Build the connector for every tenant of its platform and mount its "
        f"endpoints at C{{/{segment}/}}."
    )
    return build


def platform_entry(
    name: str, parse_config: Callable[[Any], Any], build: Callable[..., Any], summary: str
) -> ConnectorEntry:
    """
    The registry entry of a platform connector.
    """
    return ConnectorEntry(
        name=name, role="platform", parse_config=parse_config, build=build, summary=summary
    )
