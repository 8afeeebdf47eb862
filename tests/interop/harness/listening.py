"""
Wait until a process listens on a TCP port, without connecting to it.

Some peers take a probe connection badly: sipp in TCP mode ends its run
when a connection is reset ("remote peer probably closed the socket"). So
readiness is read from the kernel's socket table (C{/proc/net/tcp}, state
C{0A} = LISTEN) instead, polled on the reactor.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from twisted.internet import defer, task

from .process import ManagedProcess, ProcessDied, tail

__all__ = ["is_listening", "wait_for_listen"]

_LISTEN = "0A"


def _local_addresses(table: Path) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN:
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        port = int(port_hex, 16)
        if len(address_hex) == 8:
            address = str(ipaddress.IPv4Address(bytes.fromhex(address_hex)[::-1]))
        else:
            raw = bytes.fromhex(address_hex)
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
            address = str(ipaddress.IPv6Address(words))
        found.add((address, port))
    return found


def is_listening(address: str, port: int) -> bool:
    """
    Whether a socket listens on C{address:port} (or on any address).
    """
    listening = _local_addresses(Path("/proc/net/tcp")) | _local_addresses(Path("/proc/net/tcp6"))
    return bool({(address, port), ("0.0.0.0", port), ("::", port)} & listening)


@defer.inlineCallbacks
def wait_for_listen(
    reactor: Any,
    address: str,
    port: int,
    process: ManagedProcess | None = None,
    timeout: float = 20.0,
    interval: float = 0.05,
) -> Any:
    """
    Poll until C{address:port} listens; fail early if C{process} ends.

    @return: a Deferred firing with L{None}, or failing with
        L{ProcessDied} or L{defer.TimeoutError}.
    """
    deadline = reactor.seconds() + timeout
    while not is_listening(address, port):
        if process is not None and not process.running:
            raise ProcessDied(
                f"{process.name} exited with {process.exit_status} before listening on "
                f"{address}:{port}; output:\n{tail(process.output)}"
            )
        if reactor.seconds() >= deadline:
            raise defer.TimeoutError(f"{address}:{port} not listening after {timeout}s")
        yield task.deferLater(reactor, interval, lambda: None)
    return None
