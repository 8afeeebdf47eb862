"""
Guards for tests that start real peers: only inside C{scripts/in-netns}.

Real servers bind fixed ports (53, 5222, 5269) and resolve names; on the
machine's own network that would clash with other services and could send DNS
queries to the machine's resolver.  So tests that start them first call
L{require_isolation}: outside the namespace they are skipped with a reason,
and under C{CI=true} they fail instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from twisted.internet import defer, task
from twisted.trial.unittest import SkipTest

__all__ = [
    "DNS_ADDRESS",
    "IsolationError",
    "LoopbackAllocator",
    "acquire_namespace_lock",
    "isolation_problems",
    "require_isolation",
]

#: Where C{scripts/in-netns} points C{/etc/resolv.conf}.
DNS_ADDRESS = os.environ.get("NEXTPLANE_NETNS_DNS", "127.0.0.53")

RUN_HINT = "run the interop suite as: scripts/in-netns .venv/bin/trial tests.interop"


class IsolationError(AssertionError):
    """
    Under C{CI=true}, the interop suite could not run its real peers.
    """


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def isolation_problems(programs: Iterable[str] = ()) -> list[str]:
    """
    Why real peers may not be started here; empty if they may.

    @param programs: executables the test needs (looked up on C{PATH}).
    @return: human-readable problems.
    """
    problems = []
    if os.environ.get("NEXTPLANE_NETNS") != "1":
        problems.append(f"not in a private network namespace (NEXTPLANE_NETNS unset); {RUN_HINT}")
    else:
        interfaces = sorted(name for _, name in socket.if_nameindex())
        if interfaces != ["lo"]:
            problems.append(f"NEXTPLANE_NETNS=1 but interfaces {interfaces} exist, not only lo")
        if os.geteuid() != 0:
            problems.append("not root: cannot bind port 53")
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        problems.append(
            f"missing programs {', '.join(missing)}: run scripts/install-interop-deps.sh"
        )
    return problems


def require_isolation(programs: Iterable[str] = ()) -> None:
    """
    Skip (or, under C{CI=true}, fail) unless real peers may be started.

    @param programs: executables the test needs.
    @raise SkipTest: not isolated or programs missing, outside CI.
    @raise IsolationError: the same, under C{CI=true}.
    """
    problems = isolation_problems(programs)
    if not problems:
        return
    message = "; ".join(problems)
    if _in_ci():
        raise IsolationError(f"CI=true and the interop suite cannot run: {message}")
    raise SkipTest(message)


class LoopbackAllocator:
    """
    Hands out distinct loopback addresses, so each server can use the
    standard ports (5222, 5269) on its own address.

    In the namespace all of 127.0.0.0/8 is routed to C{lo}; no address needs
    adding.  The DNS address is never handed out.
    """

    def __init__(self, first: str = "127.0.0.11", reserved: Iterable[str] = (DNS_ADDRESS,)):
        """
        @param first: the first address to hand out.
        @param reserved: addresses to skip.
        """
        self._next = ipaddress.IPv4Address(first)
        self._reserved = {ipaddress.IPv4Address(a) for a in reserved}

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while self._next in self._reserved:
            self._next += 1
        address = self._next
        if address not in ipaddress.IPv4Network("127.0.0.0/8") or address.packed[-1] == 255:
            raise RuntimeError("out of loopback addresses")
        self._next += 1
        return str(address)


def _lock_path() -> str:
    # scripts/in-netns exports a path private to this namespace, so only
    # processes sharing the namespace (e.g. "trial -j" workers) contend.
    return os.environ.get("NEXTPLANE_NETNS_LOCK") or "/tmp/nextplane-interop.lock"


@defer.inlineCallbacks
def acquire_namespace_lock(reactor: Any, timeout: float = 300.0, interval: float = 0.1) -> Any:
    """
    Take the namespace-wide interop lock, waiting without blocking.

    Every interop test binds the same addresses (DNS on 127.0.0.53:53,
    servers from 127.0.0.11 up), so under C{trial -j} the workers must take
    turns; unit tests still run in parallel.  One lock per test: taking it
    twice in one process waits for the timeout.

    @param reactor: an C{IReactorTime} provider.
    @param timeout: seconds before failing with L{defer.TimeoutError}.
    @param interval: polling delay.
    @return: a Deferred firing with a function that releases the lock.
    """
    fd = os.open(_lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
    deadline = reactor.seconds() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if reactor.seconds() >= deadline:
                os.close(fd)
                raise defer.TimeoutError(
                    f"interop lock {_lock_path()} busy for {timeout}s"
                ) from None
            yield task.deferLater(reactor, interval, lambda: None)
            continue
        break

    def release() -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    released: Callable[[], None] = release
    return released
