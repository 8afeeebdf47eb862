# -*- test-case-name: tests.test_metrics -*-
"""
Metrics read from the running hub at each scrape: component health, queue
depths, federation connections, platform API answers and certificate
expiry. Nothing is counted twice in connector code: this reads what the
parts already report (their C{health()}) or hold.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cryptography import x509
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ..config import TenantConfig
from .links import federation_links
from .tally import PLATFORM_CALLS, PlatformTally

__all__ = ["HubCollector", "certificate_not_after"]

log = Logger()

#: health() keys that are queue depths.
_QUEUE_KEYS = ("queued", "queue", "pending")

HealthSources = Mapping[str, Callable[[], Mapping[str, Any]]]


_NOT_AFTER: dict[tuple[str, float], float] = {}


def certificate_not_after(path: str) -> float | None:
    """
    When the first certificate in PEM file C{path} expires (POSIX
    seconds), or C{None} if it cannot be read. Cached per file version.
    """
    try:
        key = (path, os.stat(path).st_mtime)
    except OSError:
        return None
    if key not in _NOT_AFTER:
        try:
            with open(path, "rb") as f:
                certificate = x509.load_pem_x509_certificate(f.read())
        except (OSError, ValueError):
            return None
        _NOT_AFTER[key] = certificate.not_valid_after_utc.timestamp()
    return _NOT_AFTER[key]


class HubCollector(Collector):
    """
    Collects the hub's scrape-time metrics.

    @param health: The components' health sources (as on /healthz).
    @param connectors: The running connectors by name.
    @param tenants: The tenants, for certificate expiry.
    @param clock: For certificate expiry.
    """

    def __init__(
        self,
        health: HealthSources,
        connectors: Mapping[str, Any],
        tenants: Sequence[TenantConfig],
        clock: IReactorTime,
        tally: PlatformTally = PLATFORM_CALLS,
    ) -> None:
        self._health = health
        self._connectors = connectors
        self._tenants = tuple(tenants)
        self._clock = clock
        self._tally = tally

    def collect(self) -> Iterator[Any]:
        yield from self._components()
        yield self._links()
        yield from self._platform_calls()
        yield self._certificates()

    def _components(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "nextplane_component_up", "1 when the component's state is ok.", labels=["component"]
        )
        queued = GaugeMetricFamily(
            "nextplane_queue_depth",
            "Events waiting in a component's delivery queues.",
            labels=["component"],
        )
        for name, source in self._health.items():
            try:
                health = source()
            except Exception:
                log.failure("health of {name} failed", name=name)
                health = {"state": "error"}
            up.add_metric([name], 1.0 if health.get("state") == "ok" else 0.0)
            for key in _QUEUE_KEYS:
                value = health.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    queued.add_metric([name], float(value))
                    break
        yield up
        yield queued

    def _links(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "nextplane_federation_connections",
            "Open s2s streams and SIP connections, by peer domain and authentication.",
            labels=["protocol", "peer_domain", "direction", "authentication"],
        )
        for link, count in sorted(federation_links(self._connectors).items()):
            family.add_metric(list(link), float(count))
        return family

    def _platform_calls(self) -> Iterator[Any]:
        limited = CounterMetricFamily(
            "nextplane_platform_rate_limited",
            "Platform API answers of HTTP 429 (rate limited).",
            labels=["platform"],
        )
        for platform, count in sorted(self._tally.rate_limited.items()):
            limited.add_metric([platform], float(count))
        errors = CounterMetricFamily(
            "nextplane_platform_errors",
            "Platform API calls that failed, by the platform's error code.",
            labels=["platform", "error"],
        )
        for (platform, error), count in sorted(self._tally.errors.items()):
            errors.add_metric([platform, error], float(count))
        ambiguous = CounterMetricFamily(
            "nextplane_platform_ambiguous_failures",
            "Platform API calls that failed without saying whether the platform acted "
            "(not repeated; the sender was told).",
            labels=["platform"],
        )
        for platform, count in sorted(self._tally.ambiguous_failures.items()):
            ambiguous.add_metric([platform], float(count))
        yield limited
        yield errors
        yield ambiguous

    def _certificates(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "nextplane_certificate_expiry_seconds",
            "Seconds until the tenant's certificate expires (negative: expired).",
            labels=["tenant"],
        )
        now = self._clock.seconds()
        for tenant in self._tenants:
            not_after = certificate_not_after(tenant.certificate)
            if not_after is not None:
                family.add_metric([tenant.domain], not_after - now)
        return family
