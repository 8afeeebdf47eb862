# -*- test-case-name: tests.test_metrics -*-
"""
Routing metrics, counted where connectors hand events to the router.

The composition root gives each connector a L{MeteredSink} in place of the
router: it times L{nextplane.router.Router.route} and counts its outcome
by source (the connector), destination (the recipient's platform or
federation protocol), category and decision. The router itself is not
touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from ..interfaces import IEventSink
from ..model.events import Event

__all__ = ["MeteredSink", "RoutingMetrics"]

#: Seconds: a routing decision takes milliseconds, a delivery may wait for
#: a connection or a platform's rate limit.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class RoutingMetrics:
    """
    The routing counters and histograms, registered in C{registry}.

    @param tenants: Tenant domain to its platform connector's name.
    @param remote_protocol: A remote domain's federation protocol if known
        (L{nextplane.locate.FederationLocator.known_protocol}).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        clock: IReactorTime,
        tenants: Mapping[str, str],
        remote_protocol: Callable[[str], str | None],
    ) -> None:
        self._clock = clock
        self._tenants = dict(tenants)
        self._remote_protocol = remote_protocol
        self.routed = Counter(
            "nextplane_events_routed",
            "Events routed, by source and destination platform, category and decision.",
            ["source", "destination", "category", "decision"],
            registry=registry,
        )
        self.routing_seconds = Histogram(
            "nextplane_routing_seconds",
            "Time from an event reaching the router to its outcome.",
            ["source", "decision"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "nextplane_delivery_seconds",
            "Time from an event's timestamp (sent on its platform) to its delivery.",
            ["source", "destination"],
            buckets=_BUCKETS,
            registry=registry,
        )

    def now(self) -> float:
        """
        The clock's time, to pass back to L{observe} as C{started}.
        """
        return self._clock.seconds()

    def destination(self, domain: str) -> str:
        """
        The platform or protocol a recipient at C{domain} is reached by.
        """
        return self._tenants.get(domain) or self._remote_protocol(domain) or "unknown"

    def observe(self, source: str, event: Event, outcome: Any, started: float) -> None:
        """
        Count the C{outcome} of routing C{event} from C{source}, which
        began at C{started} (clock seconds).
        """
        now = self._clock.seconds()
        decision = getattr(getattr(outcome, "decision", None), "value", "unknown")
        destination = self.destination(event.recipient.domain)
        self.routed.labels(source, destination, event.category.value, decision).inc()
        self.routing_seconds.labels(source, decision).observe(max(0.0, now - started))
        if decision == "delivered":
            sent = event.timestamp.timestamp()
            self.delivery_seconds.labels(source, destination).observe(max(0.0, now - sent))


@implementer(IEventSink)
class MeteredSink:
    """
    The router as one connector sees it: routes through C{sink} and
    counts what became of each event.
    """

    def __init__(self, sink: IEventSink, metrics: RoutingMetrics, source: str) -> None:
        self._sink = sink
        self._metrics = metrics
        self._source = source

    def route(self, event: Event, **options: Any) -> Deferred[Any]:
        """
        Route C{event} and count its outcome.

        @param options: Passed on to the router (C{tell_sender=False} from
            a connector that answers the sender itself).
        """
        started = self._metrics.now()

        def counted(outcome: Any) -> Any:
            self._metrics.observe(self._source, event, outcome, started)
            return outcome

        route: Any = self._sink.route
        return route(event, **options).addCallback(counted)  # type: ignore[no-any-return]
