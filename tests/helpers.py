"""
Shared test helpers: a hub's core wired in memory, without sockets.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from twisted.internet.task import Clock

from nextplane.config import PartnerConfig, TenantConfig
from nextplane.interfaces import IStore
from nextplane.locate import FederationLocator
from nextplane.model.address import Address
from nextplane.router import Router
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import ContactDirection, ContactRecord, ContactState
from nextplane.testing.connectors import RecordingConnector

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def addr(text: str) -> Address:
    """Parse an address."""
    return Address.parse(text)


def tenant(domain: str, platform: str) -> TenantConfig:
    """A tenant config without certificate files (not needed in memory)."""
    return TenantConfig(domain, platform, "W1", "unused.crt", "unused.key")


class CoreFixture:
    """
    A router with recording connectors: tenants acme.test (platform 'alpha')
    and beta.test (platform 'beta'); remote domains reached over a
    recording 'xmpp' federation connector (widget.test and other partners).
    """

    def __init__(self, store: IStore | None = None, **router_options: Any) -> None:
        self.clock = Clock()
        # Events made in tests carry the real time; keep the router's clock
        # in step so records sort as they happened.
        self.clock.advance(time.time())
        self.store = store if store is not None else MemoryStore()
        self.tenants = [tenant("acme.test", "alpha"), tenant("beta.test", "beta")]
        partners = [
            PartnerConfig("widget.test", "xmpp"),
            PartnerConfig("sipco.test", "sip"),
        ]
        self.locator = FederationLocator(partners, ["xmpp", "sip"], None, self.clock)
        self.router = Router(
            store=self.store,
            tenants=self.tenants,
            locator=self.locator,
            clock=self.clock,
            **router_options,
        )
        self.alpha = RecordingConnector("alpha", sink=self.router)
        self.beta = RecordingConnector("beta", sink=self.router)
        self.xmpp = RecordingConnector("xmpp", role="federation", sink=self.router)
        for connector in (self.alpha, self.beta, self.xmpp):
            connector.startService()
            self.router.add_connector(connector)

    def befriend(self, owner: str, external: str, state: str = "accepted") -> Any:
        """Store a contact in a given state."""
        return self.store.put_contact(
            ContactRecord(
                addr(owner), addr(external), ContactState(state), ContactDirection.OUTBOUND, T0, T0
            )
        )

    def befriend_all(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Accepted contacts for each (owner, external) pair."""
        for owner, external in pairs:
            self.befriend(owner, external)
