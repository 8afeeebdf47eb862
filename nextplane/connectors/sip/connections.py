# -*- test-case-name: tests.sip.test_transport -*-
"""
L{ConnectionTable}: the live SIP connections, for reuse (RFC 5923 aliases
and our own outbound connections).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .transport import SipConnection

__all__ = ["ConnectionTable"]


class ConnectionTable:
    """
    Live connections: outbound per C{(local domain, remote domain)}, and
    RFC 5923 aliases per C{(host, port)}.
    """

    def __init__(self) -> None:
        self._all: list[SipConnection] = []
        self._outbound: dict[tuple[str, str], SipConnection] = {}
        self._aliases: dict[tuple[str, int], SipConnection] = {}

    def __len__(self) -> int:
        return len(self._all)

    def connections(self) -> list[SipConnection]:
        """
        Every usable connection.
        """
        return list(self._all)

    def add(self, connection: SipConnection) -> None:
        """
        Register a connection that became usable.
        """
        self._all.append(connection)
        if connection.outbound and connection.remote_domain and connection.local_domain:
            key = (connection.local_domain.lower(), connection.remote_domain.lower())
            self._outbound[key] = connection

    def remove(self, connection: SipConnection) -> None:
        """
        Forget a connection (it closed).
        """
        if connection in self._all:
            self._all.remove(connection)
        for key in [k for k, c in self._outbound.items() if c is connection]:
            del self._outbound[key]
        for alias in [k for k, c in self._aliases.items() if c is connection]:
            del self._aliases[alias]

    def alias(self, host: str, port: int, connection: SipConnection) -> None:
        """
        Record that requests for C{host:port} may use C{connection} (RFC
        5923).
        """
        self._aliases[(host.lower(), port)] = connection

    def outbound(self, local_domain: str, remote_domain: str) -> SipConnection | None:
        """
        Our live connection from C{local_domain} to C{remote_domain}.
        """
        connection = self._outbound.get((local_domain.lower(), remote_domain.lower()))
        return connection if connection is not None and not connection.closed else None

    def aliased(self, host: str, port: int, local_domain: str) -> SipConnection | None:
        """
        An inbound connection aliased to C{host:port}, on which we present
        C{local_domain}'s certificate.
        """
        connection = self._aliases.get((host.lower(), port))
        if connection is None or connection.closed:
            return None
        if (connection.local_domain or "").lower() != local_domain.lower():
            return None
        return connection
