# -*- test-case-name: tests.sip.test_guard -*-
"""
Bounds on what one SIP connection may cost the hub: sizes, header count,
deadlines and connections per address (what the XMPP listener has).

  - L{Limits}: the configured bounds.
  - L{ConnectionClock}: the two deadlines of one connection. A message
    that has started must be complete within C{message_timeout} (a
    C{Content-Length} larger than the body, headers sent a byte at a
    time); a connection the peer opened is closed after C{idle_timeout}
    seconds without traffic while no transaction uses it. It is sans-IO
    apart from the injected clock: the connection tells it what happened,
    it calls back when a deadline passes.
  - L{AddressCounter}: live inbound connections per source address.
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen
from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["AddressCounter", "ConnectionClock", "Limits"]


@frozen
class Limits:
    """
    Bounds for received messages and connections.

    @ivar max_header_size: Largest header section (bytes); more is 513.
    @ivar max_body_size: Largest body (bytes); more is 413.
    @ivar max_headers: Most header lines in one message; more is 400 and
        the connection is closed.
    @ivar message_timeout: Seconds a started message may take to arrive
        completely.
    @ivar idle_timeout: Seconds an inbound connection may stay silent (no
        bytes either way) while no transaction uses it.
    @ivar max_connections_per_address: Inbound connections accepted at
        once from one IP address (trusted relays are not counted).
    """

    max_header_size: int = 65536
    max_body_size: int = 1 << 20
    max_headers: int = 256
    message_timeout: float = 30.0
    idle_timeout: float = 120.0
    max_connections_per_address: int = 20


class ConnectionClock:
    """
    The message and idle deadlines of one connection.
    """

    def __init__(
        self,
        clock: IReactorTime,
        limits: Limits,
        *,
        idle: bool,
        busy: Callable[[], bool],
        on_message_late: Callable[[], None],
        on_idle: Callable[[], None],
    ) -> None:
        """
        @param clock: Timers.
        @param limits: The deadlines.
        @param idle: Whether the idle deadline applies (inbound
            connections).
        @param busy: Whether a transaction still uses the connection; an
            idle connection, or a late message, on a busy one is checked
            again later.
        @param on_message_late: Called when a started message missed its
            deadline.
        @param on_idle: Called when the connection is idle.
        """
        self._clock = clock
        self._limits = limits
        self._busy = busy
        self._on_message_late = on_message_late
        self._on_idle = on_idle
        self._watch_idle = idle
        self._message: IDelayedCall | None = None
        self._idle: IDelayedCall | None = None
        self._last_activity = clock.seconds()

    def start(self) -> None:
        """
        The connection is usable: start the idle deadline.
        """
        self._last_activity = self._clock.seconds()
        if self._watch_idle and self._idle is None:
            self._idle = self._clock.callLater(self._limits.idle_timeout, self._check_idle)

    def activity(self, message_pending: bool) -> None:
        """
        Bytes went in or out.

        @param message_pending: Whether a received message is incomplete
            (the parser holds part of it).
        """
        self._last_activity = self._clock.seconds()
        if not message_pending:
            self._cancel_message()
        elif self._message is None:
            self._message = self._clock.callLater(self._limits.message_timeout, self._message_late)

    def stop(self) -> None:
        """
        The connection is gone: cancel every timer.
        """
        self._cancel_message()
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None

    def _cancel_message(self) -> None:
        if self._message is not None and self._message.active():
            self._message.cancel()
        self._message = None

    def _message_late(self) -> None:
        if self._busy():
            # The hub has work of this connection in hand (and may have
            # stopped reading it: backpressure); the rest waits on us.
            self._message = self._clock.callLater(self._limits.message_timeout, self._message_late)
            return
        self._message = None
        self._on_message_late()

    def _check_idle(self) -> None:
        self._idle = None
        quiet = self._clock.seconds() - self._last_activity
        timeout = self._limits.idle_timeout
        if quiet >= timeout and self._message is None and not self._busy():
            self._on_idle()
            return
        wait = timeout - quiet if quiet < timeout else timeout
        self._idle = self._clock.callLater(wait, self._check_idle)


class AddressCounter:
    """
    Live inbound connections per source address, within a limit.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, address: str) -> int:
        """
        Connections from C{address} now.
        """
        return self._counts.get(address, 0)

    def acquire(self, address: str, limit: int) -> bool:
        """
        Count one more connection from C{address}, unless that would pass
        C{limit}.

        @return: Whether it was counted (the connection may proceed).
        """
        current = self._counts.get(address, 0)
        if current >= limit:
            return False
        self._counts[address] = current + 1
        return True

    def release(self, address: str) -> None:
        """
        A counted connection from C{address} closed.
        """
        left = self._counts.get(address, 0) - 1
        if left > 0:
            self._counts[address] = left
        else:
            self._counts.pop(address, None)
