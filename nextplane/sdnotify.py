# -*- test-case-name: tests.test_sdnotify -*-
"""
systemd readiness notification (C{sd_notify(3)}) without libsystemd.

Under C{Type=notify} systemd passes a datagram socket in C{NOTIFY_SOCKET};
the hub sends C{READY=1} once every service started, C{RELOADING=1} and
C{READY=1} around a reload, and C{STOPPING=1} on shutdown. Outside systemd
(no C{NOTIFY_SOCKET}) nothing is sent.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

from twisted.logger import Logger

__all__ = ["Notifier", "reloading_state"]

log = Logger()


def reloading_state(monotonic_ns: Callable[[], int] = time.monotonic_ns) -> str:
    """
    The C{RELOADING=1} message with the C{MONOTONIC_USEC} systemd asks for.
    """
    return f"RELOADING=1\nMONOTONIC_USEC={monotonic_ns() // 1000}"


class Notifier:
    """
    Sends state changes to systemd's notification socket, if there is one.

    @param environ: Where C{NOTIFY_SOCKET} is read (the process's).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: a leading NUL byte on the wire.
        self._address = "\0" + path[1:] if path.startswith("@") else path

    @property
    def enabled(self) -> bool:
        """
        Whether systemd is listening.
        """
        return bool(self._address)

    def notify(self, state: str) -> bool:
        """
        Send C{state} (e.g. C{"READY=1"}); never blocks and never fails.

        @return: Whether it was sent.
        """
        if not self._address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.sendto(state.encode("utf-8"), self._address)
        except OSError as e:
            log.warn("could not notify systemd ({state}): {error}", state=state, error=e)
            return False
        return True
