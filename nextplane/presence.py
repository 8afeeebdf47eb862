# -*- test-case-name: tests.test_presence -*-
"""
What the hub knows of its users' presence, for protocols that ask (XMPP
probes, SIP SUBSCRIBE, platform Home tabs).

Kept in memory only: status texts are user content, which the hub never
writes to disk. A user whose platform has not reported presence is
C{unknown}, never a false C{offline}.
"""

from __future__ import annotations

from collections import OrderedDict

from .model.address import Address
from .model.events import Availability, Presence

__all__ = ["PresenceBook"]


class PresenceBook:
    """
    The latest availability and status reported for each hub user, bounded
    to C{limit} users (least recently updated forgotten first).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = limit
        self._latest: OrderedDict[str, tuple[Availability, str]] = OrderedDict()

    def record(self, event: Presence) -> None:
        """
        Remember C{event.sender}'s availability and status.
        """
        key = event.sender.key
        self._latest[key] = (event.availability, event.status)
        self._latest.move_to_end(key)
        while len(self._latest) > self._limit:
            self._latest.popitem(last=False)

    def lookup(self, address: Address) -> tuple[Availability, str]:
        """
        C{address}'s latest availability and status; C{unknown} and no
        status when nothing was reported.
        """
        return self._latest.get(address.key, (Availability.UNKNOWN, ""))

    def __len__(self) -> int:
        return len(self._latest)
