# -*- test-case-name: tests.test_metrics -*-
"""
Counts of platform API answers that connectors bump in one line each, read
by L{nextplane.metrics.collector.HubCollector}.

A process-wide tally (like C{prometheus_client}'s default registry), so an
API client deep in a connector needs no extra wiring. Labels are platform
names and the platform's own error codes, never addresses or content.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["PLATFORM_CALLS", "PlatformTally"]


class PlatformTally:
    """
    HTTP 429 answers and failed calls per platform.
    """

    def __init__(self) -> None:
        self.rate_limited: Counter[str] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()
        self.ambiguous_failures: Counter[str] = Counter()

    def limited(self, platform: str) -> None:
        """
        The platform answered 429 (rate limited).
        """
        self.rate_limited[platform] += 1

    def ambiguous(self, platform: str) -> None:
        """
        A call failed in a way that leaves open whether the platform acted
        (not repeated; the sender is told).
        """
        self.ambiguous_failures[platform] += 1

    def failed(self, platform: str, error: str) -> None:
        """
        A call to the platform failed with the platform's C{error} code.
        """
        self.errors[(platform, error[:64])] += 1


#: The tally the connectors bump.
PLATFORM_CALLS = PlatformTally()
