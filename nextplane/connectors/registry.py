# -*- test-case-name: tests.test_interfaces -*-
"""
The connectors this build offers, by configuration name.

Each entry says whether the connector serves tenant users (C{platform}) or
reaches remote domains (C{federation}), validates its own
C{[connectors.NAME]} section, and builds the connector from a
L{ConnectorContext}. Each connector module declares its C{ENTRY}; adding
a connector is adding its entry here.
"""

from __future__ import annotations

from collections.abc import Mapping

from .base import ConnectorContext, ConnectorEntry

__all__ = ["CONNECTORS", "ConnectorContext", "ConnectorEntry"]


from . import echo
from .sip import connector as sip
from .slack import connector as slack
from .teams import connector as teams
from .webex import connector as webex
from .xmpp import connector as xmpp

#: Every connector of this build, by configuration name.
CONNECTORS: Mapping[str, ConnectorEntry] = {
    entry.name: entry
    for entry in (echo.ENTRY, sip.ENTRY, slack.ENTRY, teams.ENTRY, webex.ENTRY, xmpp.ENTRY)
}
