# -*- test-case-name: tests.teams.test_connector,tests.slack.test_connector -*-
"""
The service every bot-platform connector is: the kit's L{Delivery} and
L{Directory} made from the hub's settings, stopping (queued deliveries
fail and their senders are told, work under way is waited for, the HTTP
pool is closed), admin revocations, and the wiring into the hub
(L{platform_arguments}, L{mount}).
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...interfaces import IEventSink, IStore
from ..base import ConnectorContext
from .delivery import Delivery
from .directory import Directory, ProfileFetch

__all__ = ["PlatformService", "mount", "platform_arguments"]

log = Logger()


class PlatformService(Service):
    """
    A platform connector's service; see the module docstring.

    @ivar delivery: The kit's queues and acknowledgement.
    @ivar directory: The kit's users and contacts' profiles.
    """

    role = "platform"

    def __init__(
        self,
        *,
        platform: str,
        store_name: str,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        delivery_timeout: float,
        queue_ack_seconds: float,
        max_queued: int,
        stop_timeout: float = 15.0,
        profiles: ProfileFetch | None = None,
        http_pool: Any = None,
    ) -> None:
        """
        @param platform: The platform's name as users know it (C{"Slack"}).
        @param store_name: Its name in the store (users' C{platform}).
        @param delivery_timeout: The router's; deliveries are acknowledged
            after at most half of it.
        @param http_pool: The connection pool behind the platform's HTTP
            client, if the connector owns it: closed on stop.
        """
        self.delivery = Delivery(
            platform=platform,
            sink=sink,
            clock=clock,
            ack_after=max(0.1, min(queue_ack_seconds, delivery_timeout / 2)),
            max_queued=max_queued,
            stop_timeout=stop_timeout,
        )
        self.directory = Directory(store, store_name, clock, profiles)
        self._http_pool = http_pool

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
        The platform's web resource (mounted by L{mount}).
        """
        raise NotImplementedError


def platform_arguments(context: ConnectorContext) -> dict[str, Any]:
    """
    What every platform connector takes from the hub, as keyword arguments.
    """
    hub = context.config
    return {
        "sink": context.sink,
        "store": context.store,
        "clock": context.reactor,
        "tenants": hub.tenants,
        "public_url": hub.web.public_url,
        "delivery_timeout": hub.router.delivery_timeout,
        "profiles": context.profiles,
        "contacts": context.contacts,
    }


def mount(context: ConnectorContext, segment: str, connector: PlatformService) -> None:
    """
    Serve C{connector}'s resource at C{/segment/} and have it hear of revocations.
    """
    context.mount(segment, connector.resource())
    context.on_revoke(connector.revoke)
