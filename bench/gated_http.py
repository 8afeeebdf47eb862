"""
A treq client for the benchmarks' own HTTP legs (the bare relays, the
simulated platform's webhook deliveries) that pays for connections the way
the hub's platform kit does: at most C{size} requests in flight over a
persistent pool of C{size}, each answer read before its slot is freed.

Without the bound an open-loop burst opens a new TCP connection for every
request beyond the pool's idle ones (and closes it after), which B9's
profile showed costing the bare relay about a third of its CPU: the
baseline then measures connection churn, not the relay.
"""

from __future__ import annotations

from typing import Any

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.web.client import Agent, HTTPConnectionPool

__all__ = ["GatedClient"]


class GatedClient:
    """
    C{get} and C{post} as treq's, bounded; see the module docstring. The
    responses come back with their body read (treq buffers it, so
    C{content()} and C{json()} still work).
    """

    def __init__(self, reactor: Any, size: int = 32) -> None:
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = size  # as the hub's kit (max_connections)
        self._http = HTTPClient(Agent(reactor, pool=pool, connectTimeout=10))
        self._gate = DeferredSemaphore(size)

    def _read(self, d: Deferred[Any]) -> Deferred[Any]:
        return d.addCallback(lambda r: r.content().addCallback(lambda _: r))

    def get(self, url: str, **kwargs: Any) -> Deferred[Any]:
        return self._gate.run(lambda: self._read(self._http.get(url, **kwargs)))

    def post(self, url: str, **kwargs: Any) -> Deferred[Any]:
        return self._gate.run(lambda: self._read(self._http.post(url, **kwargs)))
