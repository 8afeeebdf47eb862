"""
An in-memory network for s2s tests, with real TLS.

L{MemoryTransport} supports C{startTLS} by inserting a real
L{TLSMemoryBIOProtocol}, exactly as Twisted's TCP transports do, so the
hub's STARTTLS, client certificates and SNI are exercised with real
OpenSSL handshakes, without sockets. L{Network.flush} moves bytes until
nothing moves. L{FakeResolver} answers DNS questions from a table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet import error
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import (
    IProtocolFactory,
    IReactorTime,
    IResolver,
    IStreamClientEndpoint,
    ITLSTransport,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.names import dns
from twisted.names.error import DNSNameError
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer


@implementer(ITransport)
class _RawView:
    """
    What the TLS layer writes its records to.
    """

    def __init__(self, transport: MemoryTransport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        self._transport._raw_write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self._transport._raw_write(b"".join(data))

    def loseConnection(self) -> None:
        self._transport.disconnecting = True

    def abortConnection(self) -> None:
        self._transport.disconnecting = True

    def pauseProducing(self) -> None:
        self._transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._transport.resumeProducing()

    def getPeer(self) -> IPv4Address:
        return self._transport.getPeer()

    def getHost(self) -> IPv4Address:
        return self._transport.getHost()

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass


@implementer(ITransport, ITLSTransport)
class MemoryTransport:
    """
    One end of an in-memory connection.

    @ivar protocol: What received bytes are given to (the TLS layer once
        TLS started).
    @ivar outbox: Bytes written and not yet delivered.
    """

    def __init__(
        self,
        protocol: Any,
        is_server: bool,
        host: IPv4Address,
        peer: IPv4Address,
        clock: IReactorTime,
    ) -> None:
        self.protocol = protocol
        self.is_server = is_server
        self._host = host
        self._peer = peer
        self._clock = clock
        self.outbox: list[bytes] = []
        self.disconnecting = False
        self.disconnected = False
        self.tls: TLSMemoryBIOProtocol | None = None
        self.aborted = False
        #: Not reading (TCP backpressure): bytes for it wait in the network.
        self.paused = False

    def _raw_write(self, data: bytes) -> None:
        if not self.disconnected:
            self.outbox.append(data)

    def write(self, data: bytes) -> None:
        if self.disconnecting or self.disconnected:
            return
        if self.tls is not None:
            self.tls.write(data)
        else:
            self.outbox.append(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if self.disconnecting:
            return
        if self.tls is not None:
            self.tls.loseConnection()
        else:
            self.disconnecting = True

    def abortConnection(self) -> None:
        self.aborted = True
        self.disconnecting = True

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def startTLS(self, creator: Any, normal: bool = True) -> None:
        client = (not self.is_server) if normal else self.is_server
        factory = TLSMemoryBIOFactory(creator, client, None, clock=self._clock)  # type: ignore[arg-type]
        tls = TLSMemoryBIOProtocol(factory, self.protocol, False)
        self.protocol = tls
        self.tls = tls
        tls.makeConnection(_RawView(self))

    def getHandle(self) -> Any:
        return self.tls.getHandle() if self.tls is not None else None

    def getTcpKeepAlive(self) -> bool:
        return False

    def getTcpNoDelay(self) -> bool:
        return True

    def setTcpKeepAlive(self, enabled: bool) -> None:
        pass

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass

    def loseWriteConnection(self) -> None:
        self.loseConnection()

    def getPeerCertificate(self) -> Any:
        return self.tls.getPeerCertificate() if self.tls is not None else None

    def getPeer(self) -> IPv4Address:
        return self._peer

    def getHost(self) -> IPv4Address:
        return self._host

    def registerProducer(self, producer: object, streaming: bool) -> None:
        pass

    def unregisterProducer(self) -> None:
        pass


class Connection:
    """
    A pair of connected transports.
    """

    def __init__(
        self, client: MemoryTransport, server: MemoryTransport, address: tuple[str, int]
    ) -> None:
        self.client = client
        self.server = server
        self.address = address
        self.closed = False


@implementer(IStreamClientEndpoint)
class MemoryEndpoint:
    """
    Connects to a listener on a L{Network}.
    """

    def __init__(self, network: Network, host: str, port: int) -> None:
        self._network = network
        self._host = host
        self._port = port

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        return self._network._connect(self._host, self._port, factory)


class Network:
    """
    Listeners and connections, pumped by L{flush}.

    @ivar attempts: Every (host, port) connected to, in order.
    @ivar hanging: (host, port) pairs whose connection attempts never
        complete (to test connect timeouts).
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.listeners: dict[tuple[str, int], IProtocolFactory] = {}
        self.connections: list[Connection] = []
        self.attempts: list[tuple[str, int]] = []
        self.hanging: set[tuple[str, int]] = set()
        self._next_port = 40000

    def listen(self, host: str, port: int, factory: IProtocolFactory) -> None:
        self.listeners[(host, port)] = factory

    def endpoint(self, host: str, port: int) -> MemoryEndpoint:
        return MemoryEndpoint(self, host, port)

    def _connect(self, host: str, port: int, factory: IProtocolFactory) -> Deferred[Any]:
        self.attempts.append((host, port))
        if (host, port) in self.hanging:
            return Deferred()
        server_factory = self.listeners.get((host, port))
        if server_factory is None:
            return fail(error.ConnectionRefusedError(f"{host}:{port}"))
        self._next_port += 1
        client_address = IPv4Address("TCP", "192.0.2.1", self._next_port)
        server_address = IPv4Address("TCP", host, port)
        server_protocol = server_factory.buildProtocol(client_address)
        if server_protocol is None:
            return fail(error.ConnectionRefusedError("refused by factory"))
        client_protocol = factory.buildProtocol(server_address)
        assert client_protocol is not None
        server = MemoryTransport(server_protocol, True, server_address, client_address, self.clock)
        client = MemoryTransport(client_protocol, False, client_address, server_address, self.clock)
        self.connections.append(Connection(client, server, (host, port)))
        server_protocol.makeConnection(server)
        client_protocol.makeConnection(client)
        return succeed(client_protocol)

    def open_connections(self) -> list[Connection]:
        return [c for c in self.connections if not c.closed]

    def flush(self, limit: int = 10000) -> None:
        """
        Deliver bytes and disconnections until nothing changes.
        """
        for _ in range(limit):
            moved = False
            for connection in list(self.connections):
                if connection.closed:
                    continue
                for source, sink in (
                    (connection.client, connection.server),
                    (connection.server, connection.client),
                ):
                    if source.outbox and not sink.paused:
                        data = b"".join(source.outbox)
                        source.outbox.clear()
                        if not sink.disconnected:
                            sink.protocol.dataReceived(data)
                        moved = True
                if connection.client.outbox or connection.server.outbox:
                    continue  # waiting for a paused end to read
                if connection.client.disconnecting or connection.server.disconnecting:
                    connection.closed = True
                    for end in (connection.client, connection.server):
                        end.disconnected = True
                        end.protocol.connectionLost(Failure(error.ConnectionDone()))
                    moved = True
            if not moved:
                return
        raise AssertionError("network did not settle")


@implementer(IResolver)
class FakeResolver:
    """
    Answers SRV, A and AAAA questions from a table; everything else is
    NXDOMAIN.

    @ivar queries: (type, name) of every question asked.
    """

    def __init__(self) -> None:
        self.srv: dict[str, list[tuple[int, int, int, str]]] = {}
        self.a: dict[str, list[str]] = {}
        self.aaaa: dict[str, list[str]] = {}
        self.queries: list[tuple[str, str]] = []

    def _answer(self, name: str, records: list[dns.RRHeader]) -> Deferred[Any]:
        if not records:
            return fail(DNSNameError(name))
        return succeed((records, [], []))

    def lookupService(self, name: str, timeout: Any = None) -> Deferred[Any]:
        self.queries.append(("SRV", name))
        records = [
            dns.RRHeader(
                name,
                dns.SRV,
                payload=dns.Record_SRV(priority, weight, port, b"" if target == "." else target),
            )
            for priority, weight, port, target in self.srv.get(name, [])
        ]
        return self._answer(name, records)

    def lookupAddress(self, name: str, timeout: Any = None) -> Deferred[Any]:
        self.queries.append(("A", name))
        records = [dns.RRHeader(name, dns.A, payload=dns.Record_A(a)) for a in self.a.get(name, [])]
        return self._answer(name, records)

    def lookupIPV6Address(self, name: str, timeout: Any = None) -> Deferred[Any]:
        self.queries.append(("AAAA", name))
        records = [
            dns.RRHeader(name, dns.AAAA, payload=dns.Record_AAAA(a))
            for a in self.aaaa.get(name, [])
        ]
        return self._answer(name, records)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("lookup"):
            return lambda *args, **kwargs: fail(DNSNameError(args[0] if args else ""))
        raise AttributeError(name)


class Silent(Protocol):
    """
    A server that accepts connections and never says anything.
    """


def silent_factory() -> Factory:
    """
    A factory of L{Silent} servers.
    """
    return Factory.forProtocol(Silent)
