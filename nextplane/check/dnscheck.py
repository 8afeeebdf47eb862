# -*- test-case-name: tests.check.test_check -*-
"""
Whether a tenant domain's SRV records lead peers to this hub's listeners.

For each federation listener the hub runs (XMPP STARTTLS, XMPP direct TLS,
SIP mutual TLS), the domain's SRV record for that service must exist, name
the listener's port, and name a host whose A/AAAA records exist and - when
the hub's addresses are known (a listener bound to one address, or
C{--address}) - include one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attrs import frozen
from twisted.internet import endpoints
from twisted.internet.interfaces import IResolver
from twisted.internet.testing import MemoryReactor

from ..dns import lookup_addresses, lookup_srv, no_service
from .findings import ERROR, OK, WARNING, Finding

__all__ = ["Listener", "check_domain", "listeners_of"]

_WILDCARD = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - recognising, not binding


@frozen
class Listener:
    """
    One federation service of this hub, as DNS should publish it.

    @ivar service: The SRV prefix, e.g. C{_xmpp-server._tcp}.
    @ivar port: The port it listens on.
    @ivar addresses: Addresses peers should reach it at; empty when unknown.
    @ivar required: Whether a missing record is an error (else a warning).
    """

    service: str
    port: int
    addresses: tuple[str, ...] = ()
    required: bool = True


def _endpoint(description: str) -> tuple[int, str]:
    endpoint = endpoints.serverFromString(MemoryReactor(), description)
    return int(getattr(endpoint, "_port", 0)), str(getattr(endpoint, "_interface", ""))


def listeners_of(connectors: dict[str, object], addresses: Iterable[str] = ()) -> list[Listener]:
    """
    The listeners of the configured federation connectors.

    @param connectors: Connector name to its parsed config (C{xmpp} and
        C{sip} are looked at; their C{listen}, C{direct_tls_listen}).
    @param addresses: This hub's public addresses, when known.
    """
    extra = tuple(addresses)
    services: list[tuple[str, str | None, bool]] = []
    xmpp = connectors.get("xmpp")
    if xmpp is not None:
        services.append(("_xmpp-server._tcp", getattr(xmpp, "listen", None), True))
        services.append(("_xmpps-server._tcp", getattr(xmpp, "direct_tls_listen", None), False))
    sip = connectors.get("sip")
    if sip is not None:
        services.append(("_sipfederationtls._tcp", getattr(sip, "listen", None), True))
    found = []
    for service, listen, required in services:
        if listen is None:
            continue
        port, interface = _endpoint(listen)
        own = () if interface in _WILDCARD else (interface,)
        found.append(Listener(service, port, tuple(dict.fromkeys(own + extra)), required))
    return found


async def _check_target(
    resolver: IResolver, name: str, target: str, port: int, listener: Listener
) -> Finding:
    where = f"{target}:{port}"
    if port != listener.port:
        return Finding(
            ERROR,
            "dns",
            name,
            f"points at {where}, but the hub listens on port {listener.port}",
            f"set the SRV record's port to {listener.port}",
        )
    found = await lookup_addresses(resolver, target)
    if not found:
        return Finding(
            ERROR,
            "dns",
            name,
            f"target {target} has no A or AAAA record",
            f"add an A/AAAA record for {target} with this hub's public address",
        )
    if listener.addresses and not set(found) & set(listener.addresses):
        return Finding(
            ERROR,
            "dns",
            name,
            f"target {target} is {', '.join(found)}, not this hub "
            f"({', '.join(listener.addresses)})",
            f"point {target} (or the SRV record) at this hub",
        )
    return Finding(OK, "dns", name, f"points at {where} ({', '.join(found)})")


async def check_domain(
    resolver: IResolver, domain: str, listeners: Sequence[Listener]
) -> list[Finding]:
    """
    The DNS findings for one tenant domain, one or more per listener.
    """
    findings = []
    for listener in listeners:
        name = f"{listener.service}.{domain}"
        records = await lookup_srv(resolver, name)
        if not records:
            level = ERROR if listener.required else WARNING
            findings.append(
                Finding(
                    level,
                    "dns",
                    name,
                    "no SRV record: peers cannot find this hub for " + domain,
                    f"publish '{name}. SRV 0 5 {listener.port} <hub host>.'",
                )
            )
            continue
        if no_service(records):
            findings.append(
                Finding(
                    ERROR,
                    "dns",
                    name,
                    "the SRV record says the service is not offered ('.')",
                    f"replace it with one pointing at this hub's port {listener.port}",
                )
            )
            continue
        for record in records:
            findings.append(
                await _check_target(resolver, name, record.target, record.port, listener)
            )
    return findings
