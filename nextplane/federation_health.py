# -*- test-case-name: tests.test_federation_health -*-
"""
Federation health: what the XMPP and SIP connectors saw of each remote
domain, for the portal's federation page.

Connectors report through the small L{HealthRecorder} protocol, one line
at each point of interest (a link authenticated, a link failed); the
L{FederationHealthBook} keeps, per (local, remote) pair, the last
successful connection, the authentication used, the peer certificate's
expiry and the most recent errors with their reasons. In memory: it
describes the running hub, not history.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Protocol

from attrs import define, field, frozen
from twisted.internet.interfaces import IReactorTime

__all__ = ["FederationHealthBook", "HealthRecorder", "LinkError", "NullRecorder", "PeerHealth"]

#: How many recent errors are kept per remote domain.
RECENT_ERRORS = 5


def peer_cert_expiry(transport: object) -> datetime | None:
    """
    When the certificate the peer presented on a TLS C{transport} expires,
    if it presented one.
    """
    get = getattr(transport, "getPeerCertificate", None)
    try:
        certificate = get() if get is not None else None
        if certificate is None:
            return None
        return certificate.to_cryptography().not_valid_after_utc  # type: ignore[no-any-return]
    except Exception:
        return None


class HealthRecorder(Protocol):
    """
    What a federation connector reports.
    """

    def link_up(
        self,
        protocol: str,
        local: str,
        remote: str,
        auth: str,
        peer_cert_expiry: datetime | None = None,
    ) -> None:
        """
        A link with C{remote} authenticated (C{auth}: e.g. C{EXTERNAL},
        C{dialback}, C{mutual TLS}).
        """
        return None

    def link_failed(self, protocol: str, local: str, remote: str, reason: str) -> None:
        """
        A link with C{remote} failed, for C{reason} (words, no content).
        """
        return None


class NullRecorder(HealthRecorder):
    """
    A recorder that keeps nothing (tests, connectors built without one).
    """


@frozen
class LinkError:
    """
    One failure: when, over which protocol, why.
    """

    when: datetime
    protocol: str
    reason: str


@define
class PeerHealth:
    """
    What the hub knows of one remote domain's links from one local domain.
    """

    local: str
    remote: str
    last_success: datetime | None = None
    protocol: str | None = None
    auth: str | None = None
    peer_cert_expiry: datetime | None = None
    errors: deque[LinkError] = field(factory=lambda: deque(maxlen=RECENT_ERRORS))


class FederationHealthBook:
    """
    The L{HealthRecorder} the composition root hands the connectors.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._peers: dict[tuple[str, str], PeerHealth] = {}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def _peer(self, local: str, remote: str) -> PeerHealth:
        key = (local.lower(), remote.lower())
        if key not in self._peers:
            self._peers[key] = PeerHealth(*key)
        return self._peers[key]

    def link_up(
        self,
        protocol: str,
        local: str,
        remote: str,
        auth: str,
        peer_cert_expiry: datetime | None = None,
    ) -> None:
        """
        See L{HealthRecorder.link_up}.
        """
        peer = self._peer(local, remote)
        peer.last_success = self._now()
        peer.protocol = protocol
        peer.auth = auth
        if peer_cert_expiry is not None:
            peer.peer_cert_expiry = peer_cert_expiry

    def link_failed(self, protocol: str, local: str, remote: str, reason: str) -> None:
        """
        See L{HealthRecorder.link_failed}.
        """
        self._peer(local, remote).errors.appendleft(LinkError(self._now(), protocol, reason))

    def peers(self, local: str | None = None) -> list[PeerHealth]:
        """
        What is known, by remote domain; of one local domain or all.
        """
        return [
            p
            for _, p in sorted(self._peers.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            if local is None or p.local == local.lower()
        ]
