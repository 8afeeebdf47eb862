# -*- test-case-name: tests.test_interfaces -*-
"""
The contracts between the hub's parts.

  - L{IConnector}: what xmpp, sip, slack, teams and webex each implement.
  - L{IEventSink}: what connectors hand their inbound events to (the router).
  - L{IStore}: persistence, with SQLite and PostgreSQL backends; by role in
    L{nextplane.storage.interfaces}.

All methods that do I/O return L{Deferred}s and never block the reactor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.application.service import IService
from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

from .storage.interfaces import IStore

if TYPE_CHECKING:
    from .model.address import Address
    from .model.events import Event
    from .model.profile import Profile

__all__ = ["DeliveryFailed", "IConnector", "IEventSink", "IProfileSource", "IStore"]


class DeliveryFailed(Exception):
    """
    A connector could not deliver an event.

    @ivar condition: Machine-readable, e.g. C{remote-server-not-found},
        C{service-unavailable}, C{recipient-unavailable}, C{not-allowed}.
    @ivar reason: Human-readable, shown to the sender. Never message content.
    """

    def __init__(self, condition: str, reason: str) -> None:
        super().__init__(condition, reason)
        self.condition = condition
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.condition}: {self.reason}"


class IConnector(IService):
    """
    One protocol or platform attached to the hub.

    A connector turns native traffic into events for its L{IEventSink} and
    delivers events routed to the addresses it serves.
    """

    connector_name = Attribute(
        "Short lower-case name used in configuration and metadata, e.g. 'xmpp'."
    )
    role = Attribute(
        "'platform' if it serves tenant users (slack, teams, webex, echo), "
        "'federation' if it reaches remote domains (xmpp, sip)."
    )

    def deliver(event: Event) -> Deferred[None]:
        """
        Deliver C{event} to C{event.recipient}.

        @param event: A L{nextplane.model.events.Event}.
        @return: A L{Deferred} firing with C{None} once the peer accepted
            the event, or failing with L{DeliveryFailed}.
        """

    def health() -> dict[str, Any]:
        """
        @return: A JSON-able C{dict} with at least C{{"state": str}}; state
            is C{"ok"}, C{"starting"}, C{"degraded"} or C{"stopped"}.
        """


class IProfileSource(Interface):
    """
    Optional for connectors: fetch the profile of an address they reach
    (the XMPP connector asks the remote server for a vCard).
    """

    def fetch_profile(requester: Address, address: Address) -> Deferred[Profile | None]:
        """
        @param requester: The hub user on whose behalf it is asked.
        @param address: Whose profile.
        @return: A Deferred firing with the profile, or C{None} when there
            is none or it could not be had in time; it never fails.
        """


class IEventSink(Interface):
    """
    Where connectors hand the events they receive.
    """

    def route(event: Event) -> Deferred[Any]:
        """
        Route C{event} to its recipient.

        @return: A L{Deferred} that always fires (never fails) with a
            L{nextplane.router.Outcome}.
        """
