# -*- test-case-name: tests.teams.test_simulator -*-
"""
Serving a simulator's resource on a real port, for benchmarks.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IListeningPort, IReactorTCP
from twisted.web.resource import IResource
from twisted.web.server import Site

__all__ = ["listen_http"]


def listen_http(
    reactor: IReactorTCP, resource: IResource, port: int = 0, interface: str = "127.0.0.1"
) -> tuple[IListeningPort, str]:
    """
    Serve C{resource} over HTTP on C{interface}:C{port} (0: any free port).

    @return: The listening port (stop it with C{stopListening()}) and the
        base URL that reaches it.
    """
    site: Any = Site(resource)
    listening = reactor.listenTCP(port, site, interface=interface)
    address = listening.getHost()
    return listening, f"http://{interface}:{getattr(address, 'port', port)}"
