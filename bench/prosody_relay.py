"""
The Prosody baseline of B1: a real XMPP server relaying the load peer's
s2s messages to clients, on the hub's core.

Debian's Prosody (0.12, C{scripts/install-interop-deps.sh}) is configured
by the interop harness (L{tests.interop.harness.prosody}: Debian's modules,
certificate-only s2s against the bench CA) with two changes for a capacity
run: the C{mod_limits} rates raised from Debian's C{30kb/s} (s2s in) and
C{10kb/s} (c2s) to 1 GB/s, and logging at C{error} level instead of the
harness's debug log. It serves the tenant domain (e.g. C{acme.test}); the
load peer (C{widget.test}) opens an s2s stream to it exactly as to the hub
and messages C{user<i>@<domain>}, each of whom is logged in from the load
process by a minimal c2s client (L{C2SClient}: STARTTLS, SASL PLAIN,
resource binding, initial presence) that hands each message body to the
benchmark's sink.

Prosody is pinned to the hub's core after it starts (C{sched_setaffinity}
of each of its threads).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from twisted.internet import ssl
from twisted.internet.defer import Deferred, gatherResults
from twisted.words.protocols.jabber import client, xmlstream
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from bench.common import HUB_CORE, now_ns
from nextplane.devcerts import CertPaths
from tests.interop.harness.prosody import (
    DEBIAN_MODULES,
    ProsodyOptions,
    ProsodyServer,
    start_prosody,
)

__all__ = ["C2SClient", "ProsodyRelay", "pin"]

#: Called with (message body, monotonic ns when the client parsed it).
BodyHook = Callable[[str, int], object]

PASSWORD = "bench-password"

#: Lua lines appended to the global section: later assignments win.
_CAPACITY_SETTINGS = """
limits = {{ c2s = {{ rate = "1000mb/s" }}; s2sin = {{ rate = "1000mb/s" }} }}
log = {{ {{ levels = {{ min = "error" }}; to = "file"; filename = "{log}" }} }}
"""


def pin(pid: int, core: int) -> None:
    """
    Pin every thread of process C{pid} to C{core} (when there are several).
    """
    if (os.cpu_count() or 1) < 2:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {core})
        except (ProcessLookupError, PermissionError):
            pass


class C2SClient:
    """
    One logged-in XMPP client that passes each received message body on.

    @ivar received: Messages with a body received.
    """

    def __init__(
        self, reactor: Any, jid: str, password: str, ca_certificate: Path, on_body: BodyHook
    ) -> None:
        self.reactor = reactor
        self.jid = JID(jid)
        self.on_body = on_body
        self.received = 0
        trust = ssl.Certificate.loadPEM(Path(ca_certificate).read_bytes())
        tls = ssl.optionsForClientTLS(self.jid.host, trustRoot=trust)
        self.factory = client.XMPPClientFactory(self.jid, password, configurationForTLS=tls)
        self.factory.addBootstrap(xmlstream.STREAM_AUTHD_EVENT, self._authenticated)
        self.factory.addBootstrap(xmlstream.INIT_FAILED_EVENT, self._failed)
        self.factory.addBootstrap(xmlstream.STREAM_END_EVENT, self._ended)
        self.ready: Deferred[C2SClient] = Deferred()
        self.stream: xmlstream.XmlStream | None = None
        self._connector: Any = None

    def connect(self, host: str, port: int) -> Deferred[C2SClient]:
        """
        Connect and log in; fires once the initial presence is sent.
        """
        self._connector = self.reactor.connectTCP(host, port, self.factory)
        return self.ready

    def _authenticated(self, stream: xmlstream.XmlStream) -> None:
        self.stream = stream
        stream.addObserver("/message/body", self._message)
        presence = domish.Element((None, "presence"))
        presence.addElement("priority", content="1")
        stream.send(presence)
        if not self.ready.called:
            self.ready.callback(self)

    def _message(self, element: domish.Element) -> None:
        received = now_ns()
        body = next((c for c in element.elements() if c.name == "body"), None)
        if body is not None:
            self.received += 1
            self.on_body(str(body), received)

    def _failed(self, failure: Any) -> None:
        if not self.ready.called:
            self.ready.errback(failure)

    def _ended(self, reason: Any) -> None:
        if not self.ready.called:
            self.ready.errback(RuntimeError(f"{self.jid.full()}: stream ended before login"))

    def close(self) -> None:
        """
        End the stream and stop reconnecting.
        """
        self.factory.stopTrying()  # type: ignore[attr-defined]
        if self.stream is not None and self.stream.transport is not None:
            self.stream.sendFooter()
            self.stream.transport.loseConnection()
        elif self._connector is not None:
            self._connector.disconnect()


class ProsodyRelay:
    """
    Prosody serving C{domain} with C{users} logged-in clients.

    @ivar server: The running L{ProsodyServer}.
    @ivar clients: The logged-in clients, C{user0} first.
    """

    def __init__(self, server: ProsodyServer, clients: list[C2SClient]) -> None:
        self.server = server
        self.clients = clients

    @property
    def pid(self) -> int:
        """
        The Prosody process.
        """
        pid = self.server.process.pid
        assert pid is not None
        return int(pid)

    @classmethod
    async def start(
        cls,
        reactor: Any,
        directory: Path,
        *,
        domain: str,
        certs: CertPaths,
        ca_certificate: Path,
        users: int,
        c2s_port: int,
        s2s_port: int,
        on_body: BodyHook,
        core: int = HUB_CORE,
    ) -> ProsodyRelay:
        """
        Start Prosody (users registered first), pin it to C{core} and log
        every user in.
        """
        directory = directory.absolute()
        options = ProsodyOptions(
            domain=domain,
            address="127.0.0.1",
            cert=certs,
            trusted_ca=Path(ca_certificate),
            users={f"user{i}": PASSWORD for i in range(users)},
            c2s_port=c2s_port,
            s2s_port=s2s_port,
            modules=DEBIAN_MODULES,
            extra_global=_CAPACITY_SETTINGS.format(log=directory / "prosody.log"),
        )
        server = cast(ProsodyServer, await start_prosody(reactor, options, directory))
        try:
            pin(int(server.process.pid or 0), core)
            clients = [
                C2SClient(reactor, f"user{i}@{domain}/bench", PASSWORD, ca_certificate, on_body)
                for i in range(users)
            ]
            await gatherResults(
                [c.connect("127.0.0.1", c2s_port) for c in clients], consumeErrors=True
            )
        except BaseException:
            await server.stop()
            raise
        return cls(server, clients)

    async def stop(self) -> None:
        """
        Log the clients out and stop Prosody.
        """
        for c in self.clients:
            c.close()
        await self.server.stop()
