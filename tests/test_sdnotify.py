"""
Tests for L{nextplane.sdnotify}: datagrams on a real Unix socket, as
systemd's notification socket receives them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from nextplane.sdnotify import Notifier, reloading_state


class NotifierTests(SynchronousTestCase):
    def listen(self, address: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(address)
        sock.settimeout(5)
        return sock

    def test_ready(self) -> None:
        """READY=1 arrives as one datagram on the path in NOTIFY_SOCKET."""
        # Short path: a Unix socket address is at most 107 bytes.
        directory = tempfile.mkdtemp(prefix="np-notify-")
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "notify")
        sock = self.listen(path)
        notifier = Notifier({"NOTIFY_SOCKET": path})
        self.assertTrue(notifier.enabled)
        self.assertTrue(notifier.notify("READY=1"))
        self.assertEqual(sock.recv(4096), b"READY=1")

    def test_abstract_socket(self) -> None:
        """An address starting with '@' is an abstract socket."""
        name = f"nextplane-test-{os.getpid()}"
        sock = self.listen("\0" + name)
        self.assertTrue(Notifier({"NOTIFY_SOCKET": "@" + name}).notify("STOPPING=1"))
        self.assertEqual(sock.recv(4096), b"STOPPING=1")

    def test_not_under_systemd(self) -> None:
        """Without NOTIFY_SOCKET nothing is sent."""
        notifier = Notifier({})
        self.assertFalse(notifier.enabled)
        self.assertFalse(notifier.notify("READY=1"))

    def test_gone_socket_never_fails(self) -> None:
        """A socket that went away is logged, not raised."""
        self.assertFalse(Notifier({"NOTIFY_SOCKET": "/nonexistent/notify"}).notify("READY=1"))

    def test_reloading_state(self) -> None:
        """RELOADING=1 carries the monotonic clock in microseconds."""
        self.assertEqual(
            reloading_state(lambda: 12_345_678_000), "RELOADING=1\nMONOTONIC_USEC=12345678"
        )
