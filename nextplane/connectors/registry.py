# -*- test-case-name: tests.test_registry -*-
"""
The connectors this build offers, by configuration name.

Each entry says whether the connector serves tenant users (C{platform}) or
reaches remote domains (C{federation}), validates its own
C{[connectors.NAME]} section, and builds the connector from a
L{ConnectorContext}. Adding a connector is adding an entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen
from twisted.internet.interfaces import IReactorTime, IResolver

from ..config import Config, Section
from ..interfaces import IConnector, IEventSink, IStore

__all__ = ["CONNECTORS", "ConnectorContext", "ConnectorEntry", "WebMount"]

#: Mounts an IResource under a top-level path segment of the HTTP app.
WebMount = Callable[[str, Any], None]


@frozen
class ConnectorContext:
    """
    Everything a connector may depend on, built by the composition root.

    @ivar sink: Where inbound events go (the router).
    @ivar mount: Mounts the connector's webhook resource on the HTTP app.
    @ivar resolver: The injectable DNS resolver.
    """

    reactor: IReactorTime
    store: IStore
    sink: IEventSink
    config: Config
    resolver: IResolver | None
    mount: WebMount


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


def _echo_entry() -> ConnectorEntry:
    from . import echo

    return ConnectorEntry(
        name="echo",
        role="platform",
        parse_config=echo.parse_config,
        build=echo.build,
        summary=echo.__doc__.strip().splitlines()[0] if echo.__doc__ else "",
    )


CONNECTORS: Mapping[str, ConnectorEntry] = {entry.name: entry for entry in (_echo_entry(),)}
