# -*- test-case-name: tests.xmpp.test_resolve -*-
"""
DNS helpers shared by the federation connectors: SRV records and their
RFC 2782 ordering, and address look-ups, always through an injected
L{IResolver} (tests pass a fake; the hub builds one from C{[dns]}).

Lookups never raise: a name that does not exist, or a failing server, gives
an empty answer (failures are logged), and the caller decides what no
answer means for its protocol.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import Sequence
from typing import Any, cast

from attrs import frozen
from twisted.internet.interfaces import IResolver
from twisted.logger import Logger
from twisted.names import dns
from twisted.names.error import DNSNameError, DomainError

__all__ = [
    "SRVRecord",
    "is_ip",
    "lookup_addresses",
    "lookup_srv",
    "no_service",
    "order_srv",
]

_log = Logger(namespace="nextplane.dns")


@frozen
class SRVRecord:
    """
    One SRV record (RFC 2782).
    """

    priority: int
    weight: int
    port: int
    target: str


def order_srv(records: Sequence[SRVRecord], rng: random.Random | None = None) -> list[SRVRecord]:
    """
    Order SRV records for connection attempts (RFC 2782).

    Lower priority first; within a priority, records are drawn one by one
    with probability proportional to their weight (zero-weight records
    get a small chance, and come first when all weights are zero, in
    their given order).
    """
    rng = rng if rng is not None else random.Random()
    ordered: list[SRVRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        # RFC 2782: zero-weight records first, then draw by running sum.
        group.sort(key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            if total == 0:
                ordered.extend(group)
                break
            pick = rng.uniform(0, total)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick and record.weight > 0:
                    ordered.append(group.pop(index))
                    break
            else:
                ordered.append(group.pop())
    return ordered


def no_service(records: Sequence[SRVRecord]) -> bool:
    """
    Whether an SRV answer says the service is decidedly not offered (a
    single record with target C{.}, RFC 2782).
    """
    return len(records) == 1 and records[0].target in ("", ".")


def is_ip(host: str) -> bool:
    """
    Whether C{host} is an IPv4 or IPv6 literal.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def lookup_srv(resolver: IResolver, name: str) -> list[SRVRecord]:
    """
    The SRV records of C{name}; empty when it has none or the lookup fails.
    """
    try:
        result = await cast(Any, resolver).lookupService(name)
    except (DNSNameError, DomainError):
        return []
    except Exception as e:
        _log.info("SRV lookup for {name} failed: {error}", name=name, error=e)
        return []
    records = []
    # IResolver lookups fire with (answers, authority, additional).
    for rr in result[0]:
        if rr.type == dns.SRV:
            payload = cast(dns.Record_SRV, rr.payload)
            records.append(
                SRVRecord(
                    payload.priority,
                    payload.weight,
                    payload.port,
                    payload.target.name.decode("ascii"),
                )
            )
    return records


async def _lookup(resolver: IResolver, host: str, ipv6: bool) -> list[str]:
    try:
        if ipv6:
            result = await cast(Any, resolver).lookupIPV6Address(host)
        else:
            result = await cast(Any, resolver).lookupAddress(host)
    except Exception as e:
        _log.debug("Address lookup for {host} failed: {error}", host=host, error=e)
        return []
    found = []
    for rr in result[0]:
        if not ipv6 and rr.type == dns.A:
            found.append(cast(dns.Record_A, rr.payload).dottedQuad())
        elif ipv6 and rr.type == dns.AAAA:
            address = cast(dns.Record_AAAA, rr.payload).address
            found.append(socket.inet_ntop(socket.AF_INET6, address))
    return found


async def lookup_addresses(resolver: IResolver, host: str, prefer_ipv6: bool = False) -> list[str]:
    """
    The IP addresses of C{host}: A then AAAA (the reverse with
    C{prefer_ipv6}); an IP literal as is; empty if none resolve.
    """
    if is_ip(host):
        return [host]
    found: list[str] = []
    for ipv6 in (True, False) if prefer_ipv6 else (False, True):
        found.extend(await _lookup(resolver, host, ipv6))
    return found
