# -*- test-case-name: tests.test_metrics -*-
"""
The federation connections of the running connectors, read at scrape time
through the connectors' public parts (the XMPP connector's s2s service
child, the SIP connector's transport), so no connector code changes.

Each link is C{(protocol, peer domain, direction, authentication)}. A peer
domain is only named once authenticated (an unauthenticated peer could
name itself anything and blow up the label set); until then it is C{""}.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Link", "federation_links"]

#: (protocol, peer domain, direction, authentication)
Link = tuple[str, str, str, str]


def _s2s_service(connector: Any) -> Any:
    # The XMPP connector attaches its S2SService as a child service.
    for child in connector if hasattr(connector, "__iter__") else ():
        if hasattr(child, "inbound_streams") and hasattr(child, "pool"):
            return child
    return None


def xmpp_links(connector: Any) -> Iterable[Link]:
    """
    The XMPP connector's inbound and pooled outbound s2s streams.
    """
    s2s = _s2s_service(connector)
    if s2s is None:
        return
    for stream in s2s.inbound_streams():
        remotes = sorted({remote for remote, _ in stream.authenticated_pairs})
        if not remotes:
            yield ("xmpp", "", "inbound", "negotiating")
            continue
        auth = "EXTERNAL" if stream.sasl_domain else "dialback"
        for remote in remotes:
            yield ("xmpp", remote, "inbound", auth)
    for local, remote in s2s.pool.pairs():
        stream = s2s.pool.stream_for(local, remote)
        if stream is not None:
            yield ("xmpp", remote, "outbound", stream.authentication or "negotiating")


def sip_links(connector: Any) -> Iterable[Link]:
    """
    The SIP connector's usable (verified) connections.
    """
    transport = getattr(connector, "transport", None)
    if transport is None:
        return
    for connection in transport.table.connections():
        direction = "outbound" if connection.outbound else "inbound"
        if connection.peer_identities:
            auth = "mutual-tls"
        elif connection.trusted_relay:
            auth = "trusted-relay"
        else:
            auth = "tls"
        peer = connection.remote_domain or min(connection.peer_identities, default="")
        yield ("sip", peer.lower(), direction, auth)


_READERS = {"xmpp": xmpp_links, "sip": sip_links}


def federation_links(connectors: Mapping[str, Any]) -> Counter[Link]:
    """
    How many connections of each kind the federation connectors hold.
    """
    counts: Counter[Link] = Counter()
    for name, connector in connectors.items():
        reader = _READERS.get(name)
        if reader is not None:
            counts.update(reader(connector))
    return counts
