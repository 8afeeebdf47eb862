# -*- test-case-name: tests.test_interfaces -*-
"""
What connectors are built from: the L{ConnectorContext} the composition
root hands them and the L{ConnectorEntry} each connector module offers to
the registry. Connector modules import this, never the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from attrs import Factory, frozen
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime, IResolver

from ..config import Config, Section
from ..contacts import ContactBook
from ..federation_health import HealthRecorder, NullRecorder
from ..interfaces import IConnector, IEventSink, IStore
from ..model.address import Address
from ..model.profile import Profile
from ..presence import PresenceBook

__all__ = ["ConnectorContext", "ConnectorEntry", "WebMount"]

#: Mounts an IResource under a top-level path segment of the HTTP app.
WebMount = Callable[[str, Any], None]


@frozen
class ConnectorContext:
    """
    Everything a connector may depend on, built by the composition root.

    @ivar sink: Where inbound events go (the router).
    @ivar mount: Mounts the connector's webhook resource on the HTTP app.
    @ivar resolver: The injectable DNS resolver.
    @ivar on_revoke: Registers a listener called with each admin
        revocation, so a connector can close live sessions and drop queued
        deliveries of the revoked party.
    @ivar on_policy_change: Registers a listener called with each admin
        change of a tenant's remote-domain rules (a
        L{nextplane.admin.api.PolicyChange}), so a connector that caches
        the rules reloads them at once.
    @ivar presence: Hub users' latest reported presence (in memory).
    @ivar profiles: C{(requester, address)} to the address's profile
        (L{nextplane.router.Router.profile_of}).
    @ivar federation_health: Where federation connectors report links
        that came up or failed (the portal's federation page).
    @ivar contacts: The one writer of contact state
        (L{nextplane.contacts.ContactBook}); C{None} only in tests that
        need none.
    """

    reactor: IReactorTime
    store: IStore
    sink: IEventSink
    config: Config
    resolver: IResolver | None
    mount: WebMount
    on_revoke: Callable[[Callable[[Any], Any]], None] = lambda listener: None
    on_policy_change: Callable[[Callable[[Any], Any]], None] = lambda listener: None
    presence: PresenceBook = Factory(PresenceBook)
    profiles: Callable[[Address, Address], Deferred[Profile | None]] = lambda requester, address: (
        succeed(None)
    )
    federation_health: HealthRecorder = Factory(NullRecorder)
    contacts: ContactBook | None = None


@frozen
class ConnectorEntry:
    """
    How to configure and build one kind of connector.
    """

    name: str
    role: str
    parse_config: Callable[[Section], Any]
    build: Callable[[ConnectorContext, Any], IConnector]
    summary: str = ""
    #: A federation connector's parsed config to the remote domains it
    #: reaches by a static route (no DNS); the locator sends them to it.
    static_domains: Callable[[Any], Iterable[str]] = lambda config: ()
