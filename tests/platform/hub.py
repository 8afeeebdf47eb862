"""
What the in-memory hubs of the platform connectors' tests share
(L{tests.slack.hub.SlackHub}, L{tests.teams.hub.TeamsHub}): one L{Clock},
a router with a recording XMPP federation connector for widget.test, the
hub's web app over L{StubTreq}, the hub's configuration and connector
context, and pumping the in-memory HTTP traffic until quiet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from nextplane.config import (
    Config,
    DnsConfig,
    HubConfig,
    PartnerConfig,
    RouterConfig,
    StorageConfig,
    TenantConfig,
    TlsConfig,
    WebConfig,
)
from nextplane.connectors.base import ConnectorContext
from nextplane.interfaces import IStore
from nextplane.locate import FederationLocator
from nextplane.model.events import Event
from nextplane.router import Router
from nextplane.storage.memory import MemoryStore
from nextplane.testing.connectors import RecordingConnector
from nextplane.web.app import HubWebApp

__all__ = ["T0", "MemoryHub", "advance_pumping"]

T = TypeVar("T")

#: When the tests' clocks start (November 2023).
T0 = 1_700_000_000


def advance_pumping(clock: Clock, pump: Callable[[], None], seconds: float, step: float) -> None:
    """
    Let C{seconds} pass on C{clock} in steps of C{step}, calling C{pump}
    before and after each.
    """
    pump()
    remaining = seconds
    while remaining > 1e-9:
        move = min(step, remaining)
        clock.advance(move)
        pump()
        remaining -= move


class MemoryHub:
    """
    The hub side; a subclass adds its platform's simulator and connector.

    @ivar http_clients: The in-memory HTTP clients L{pump} moves, the
        hub's first; add a platform's (or another connector's) to it.
    @ivar xmpp: The federation side (widget.test).
    """

    #: Rounds of L{pump} by default.
    rounds = 200
    #: Seconds per step of L{advance} by default.
    step = 1.0

    def __init__(
        self,
        tenants: Sequence[TenantConfig],
        store: IStore | None = None,
        delivery_timeout: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        """
        @param clock: Another hub's clock (to restart on it); by default a
            new one at L{T0}.
        """
        if clock is None:
            clock = Clock()
            clock.advance(T0)
        self.clock = clock
        self.store: IStore = store if store is not None else MemoryStore()
        self.tenants = tuple(tenants)
        self.partners = (PartnerConfig("widget.test", "xmpp"),)
        self.delivery_timeout = delivery_timeout
        self.router = Router(
            store=self.store,
            tenants=self.tenants,
            locator=FederationLocator(self.partners, ["xmpp"], None, self.clock),
            clock=self.clock,
            delivery_timeout=delivery_timeout,
        )
        self.xmpp = RecordingConnector("xmpp", role="federation", sink=self.router)
        self.xmpp.startService()
        self.router.add_connector(self.xmpp)
        self.web = HubWebApp({}, "test")
        self.hub_http = StubTreq(self.web.resource())
        self.http_clients: list[StubTreq] = [self.hub_http]

    def connector_context(
        self,
        public_url: str | None,
        connectors: Mapping[str, Any],
        on_revoke: Callable[[Callable[[Any], Any]], None] = lambda listener: None,
    ) -> ConnectorContext:
        """
        The context a connector is built in, for a hub at C{public_url}
        with C{connectors}' configurations.
        """
        config = Config(
            hub=HubConfig(),
            storage=StorageConfig(),
            web=WebConfig(public_url=public_url),
            dns=DnsConfig(),
            tls=TlsConfig(),
            router=RouterConfig(delivery_timeout=self.delivery_timeout),
            tenants=self.tenants,
            partners=self.partners,
            connectors=dict(connectors),
        )
        return ConnectorContext(
            reactor=self.clock,
            store=self.store,
            sink=self.router,
            config=config,
            resolver=None,
            mount=self.web.mount,
            on_revoke=on_revoke,
            contacts=self.router.contacts,
        )

    # -- time and traffic ----------------------------------------------------

    def pump(self, rounds: int | None = None) -> None:
        """Move HTTP traffic and run what is due now, until quiet."""
        for _ in range(rounds if rounds is not None else self.rounds):
            for http in self.http_clients:
                http.flush()
            due = [c for c in self.clock.getDelayedCalls() if c.getTime() <= self.clock.seconds()]
            busy = any(h._agent._pumps for h in self.http_clients)  # type: ignore[attr-defined]
            if not due and not busy:
                return
            self.clock.advance(0)

    def advance(self, seconds: float, step: float | None = None) -> None:
        """Let C{seconds} pass in steps, pumping after each."""
        advance_pumping(self.clock, self.pump, seconds, step if step is not None else self.step)

    def wait(self, d: Deferred[T], limit: float = 30.0) -> Deferred[T]:
        """Advance time until C{d} fired (at most C{limit} seconds); C{d}."""
        waited = 0.0
        self.pump()
        while not d.called and waited < limit:
            self.advance(0.5)
            waited += 0.5
        return d

    def delivered(self, kind: str) -> list[Event]:
        """What reached the XMPP side, of one kind."""
        return self.xmpp.of_kind(kind)
