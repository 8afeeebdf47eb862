# -*- test-case-name: tests.test_router -*-
"""
L{RecordingConnector}: an L{IConnector} that records what it is asked to
deliver, and can be told to fail or to hold deliveries. Interop tests use it
as the hub side of a conversation until a platform connector takes over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from ..connectors.base import ConnectorContext, ConnectorEntry
from ..connectors.registry import CONNECTORS
from ..interfaces import DeliveryFailed, IConnector, IEventSink
from ..model.events import Event

__all__ = ["RECORDING_ENTRY", "TEST_CONNECTORS", "RecordingConnector"]


@implementer(IConnector)
class RecordingConnector(Service):
    """
    Records delivered events in L{delivered}; L{inject} hands an event to
    the sink as if it came from this connector's users.

    @ivar failure: When set, every delivery fails with it.
    @ivar hold: When true, deliveries wait in L{pending} until fired.
    """

    def __init__(self, name: str, role: str = "platform", sink: IEventSink | None = None) -> None:
        self.connector_name = name
        self.role = role
        self.setName(name)
        self.sink = sink
        self.delivered: list[Event] = []
        self.pending: list[tuple[Event, Deferred[None]]] = []
        self.failure: DeliveryFailed | None = None
        self.hold = False

    def deliver(self, event: Event) -> Deferred[None]:
        """
        Record C{event}; succeed, fail, or hold as configured.
        """
        if self.failure is not None:
            return fail(self.failure)
        if self.hold:
            d: Deferred[None] = Deferred()
            self.pending.append((event, d))
            return d
        self.delivered.append(event)
        return succeed(None)

    def release(self) -> None:
        """
        Complete every held delivery successfully.
        """
        pending, self.pending = self.pending, []
        for event, d in pending:
            self.delivered.append(event)
            d.callback(None)

    def inject(self, event: Event) -> Deferred[Any]:
        """
        Hand C{event} to the sink, as an inbound event of this connector.
        """
        assert self.sink is not None, "no sink attached"
        return self.sink.route(event)

    def of_kind(self, kind: str) -> list[Event]:
        """
        The delivered events of one C{kind}.
        """
        return [e for e in self.delivered if e.kind == kind]

    def health(self) -> dict[str, Any]:
        """
        Ok while running.
        """
        return {"state": "ok" if self.running else "stopped", "delivered": len(self.delivered)}


def _build_recording(context: ConnectorContext, config: object) -> RecordingConnector:
    return RecordingConnector("recording", sink=context.sink)


#: A C{[connectors.recording]} platform for tests: tenants bound to it are
#: served by a L{RecordingConnector} wired like any other connector.
RECORDING_ENTRY = ConnectorEntry(
    name="recording",
    role="platform",
    parse_config=lambda section: None,
    build=_build_recording,
    summary="Test platform that records deliveries.",
)

#: The build's connectors plus the recording test platform; pass it as
#: C{registry} to L{nextplane.config.parse_config} and
#: L{nextplane.tap.build_hub}.
TEST_CONNECTORS: Mapping[str, ConnectorEntry] = {**CONNECTORS, "recording": RECORDING_ENTRY}
