# -*- test-case-name: tests.xmpp.test_pool -*-
"""
Outbound s2s connections: opening them and pooling them per domain pair.

  - L{StreamOpener} resolves a remote domain (L{ServerResolver}), connects
    to each address in turn through an injected endpoint factory (with a
    connect timeout on an injected clock) and waits until the
    L{OutboundStream} is authenticated.
  - L{ConnectionPool} keeps one outbound stream per (local domain, remote
    domain), reuses it, queues stanzas while it is being opened (bounded by
    C{max_queue}, beyond which sends fail with C{resource-constraint}),
    closes it after C{idle_timeout} seconds without traffic, and answers
    every send with a L{Deferred} that fires once the stanza is written to
    an authenticated stream (and, where the peer does stream management,
    acknowledged by it) or fails with
    L{nextplane.interfaces.DeliveryFailed}:

      - C{remote-server-not-found}: resolution or every connection failed
        (RFC 6120 section 8.3.3.16);
      - C{remote-server-timeout}: connect timeout, negotiation failure or
        timeout, dialback refused (RFC 6120 section 8.3.3.17, XEP-0220
        section 2.5);
      - C{resource-constraint}: the queue for that pair is full;
      - C{remote-server-timeout} also for a stanza the peer had not
        acknowledged when its stream ended (it may or may not have
        arrived: not sent again, the sender is told).

    It also runs dialback verifications (XEP-0220 section 2.1.2): over the
    pair's authenticated stream when there is one, else over a dedicated
    verification stream closed after the answer.

No sockets are opened here directly; tests inject an in-memory endpoint
factory and a fake resolver.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    TimeoutError,
    fail,
)
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.xish import domish

from nextplane.connectors.xmpp.resolve import ResolutionError, ServerResolver
from nextplane.connectors.xmpp.s2s_out import OutboundStream, StreamPurpose
from nextplane.federation_health import HealthRecorder, NullRecorder, peer_cert_expiry
from nextplane.interfaces import DeliveryFailed

__all__ = [
    "ConnectionPool",
    "EndpointFactory",
    "PooledStream",
    "StreamOpener",
]

#: Builds the endpoint for (address, port).
EndpointFactory = Callable[[str, int], IStreamClientEndpoint]
#: Builds an unconnected stream for (local, remote, purpose, direct_tls).
StreamFactory = Callable[[str, str, StreamPurpose, bool], OutboundStream]

_log = Logger(namespace="nextplane.xmpp.pool")


class PooledStream(Protocol):
    """
    What the pool needs of an authenticated outbound stream.
    """

    def send_stanza(self, stanza: domish.Element) -> Deferred[None]:
        """
        Write a stanza; raise L{DeliveryFailed} if the stream is unusable.

        @return: Fires once the peer has it (acknowledged, where the
            stream can tell), or fails with L{DeliveryFailed}.
        """

    def verify(self, stream_id: str, key: str) -> Deferred[bool]:
        """
        Send C{db:verify} and wait for the answer.
        """

    def close(self) -> None:
        """
        Close gracefully.
        """

    def when_lost(self) -> Deferred[None]:
        """
        Fires once the connection is gone.
        """


Opener = Callable[[str, str, StreamPurpose], "Deferred[PooledStream]"]


class _StreamProtocolFactory(Factory):
    # One factory per connection: no "Starting factory" line for each.
    noisy = False

    def __init__(self, stream: OutboundStream) -> None:
        self._stream = stream

    def buildProtocol(self, addr: object) -> OutboundStream:  # type: ignore[override]
        return self._stream


class StreamOpener:
    """
    Opens authenticated outbound streams.
    """

    def __init__(
        self,
        clock: IReactorTime,
        resolver: ServerResolver,
        endpoint_factory: EndpointFactory,
        stream_factory: StreamFactory,
        connect_timeout: float = 20.0,
    ) -> None:
        """
        @param clock: Timers for connect timeouts.
        @param resolver: Finds targets and addresses.
        @param endpoint_factory: Builds a client endpoint for (address, port).
        @param stream_factory: Builds the protocol for one attempt.
        @param connect_timeout: Seconds per TCP connection attempt.
        """
        self._clock = clock
        self._resolver = resolver
        self._endpoint_factory = endpoint_factory
        self._stream_factory = stream_factory
        self._connect_timeout = connect_timeout

    def open(self, local: str, remote: str, purpose: StreamPurpose) -> Deferred[PooledStream]:
        """
        Open a stream from C{local} to C{remote}.

        @return: Fires with the stream once it is ready (see
            L{OutboundStream.when_ready}); fails with L{DeliveryFailed}.
        """
        return Deferred.fromCoroutine(self._open(local, remote, purpose))

    async def _open(self, local: str, remote: str, purpose: StreamPurpose) -> PooledStream:
        try:
            targets = await self._resolver.targets(remote)
        except ResolutionError as e:
            raise DeliveryFailed("remote-server-not-found", str(e)) from None
        timed_out = False
        attempts = 0
        for target in targets:
            addresses = await self._resolver.addresses(target.host)
            for address in addresses:
                attempts += 1
                stream = self._stream_factory(local, remote, purpose, target.direct_tls)
                endpoint = self._endpoint_factory(address, target.port)
                connecting = endpoint.connect(_StreamProtocolFactory(stream))
                connecting.addTimeout(self._connect_timeout, self._clock)
                try:
                    await connecting
                except TimeoutError:
                    timed_out = True
                    _log.info(
                        "Connecting to {remote} at {address}:{port} timed out",
                        remote=remote,
                        address=address,
                        port=target.port,
                    )
                    continue
                except CancelledError:
                    raise
                except Exception as e:
                    _log.info(
                        "Connecting to {remote} at {address}:{port} failed: {error}",
                        remote=remote,
                        address=address,
                        port=target.port,
                        error=e,
                    )
                    continue
                try:
                    return await stream.when_ready()
                except CancelledError:
                    stream.drop_connection()
                    raise
        if timed_out:
            raise DeliveryFailed("remote-server-timeout", f"connecting to {remote} timed out")
        if attempts == 0:
            raise DeliveryFailed("remote-server-not-found", f"no address found for {remote}")
        raise DeliveryFailed("remote-server-not-found", f"could not connect to {remote}")


class _Peer:
    """
    Pool entry for one (local, remote) pair.
    """

    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.stream: PooledStream | None = None
        self.queue: deque[tuple[domish.Element, Deferred[None]]] = deque()
        self.opening: Deferred[PooledStream] | None = None
        self.idle: IDelayedCall | None = None


class ConnectionPool:
    """
    Outbound streams keyed by (local domain, remote domain).
    """

    def __init__(
        self,
        clock: IReactorTime,
        opener: Opener,
        max_queue: int = 1000,
        idle_timeout: float = 600.0,
    ) -> None:
        """
        @param clock: Timers for idle streams.
        @param opener: Opens a ready stream, e.g. L{StreamOpener.open}.
        @param max_queue: Stanzas queued per pair while its stream opens.
        @param idle_timeout: Seconds without sends before a stream is closed.
        """
        self._clock = clock
        self._opener = opener
        self.max_queue = max_queue
        self.idle_timeout = idle_timeout
        self._peers: dict[tuple[str, str], _Peer] = {}
        self._verify_streams: set[PooledStream] = set()
        self._verify_opening: set[Deferred[PooledStream]] = set()
        self._closed = False
        #: Told of each stream opened or failed (the portal's federation page).
        self.recorder: HealthRecorder = NullRecorder()

    def stream_for(self, local: str, remote: str) -> PooledStream | None:
        """
        The ready stream for the pair, if any.
        """
        peer = self._peers.get((local, remote))
        return peer.stream if peer is not None else None

    def pairs(self) -> list[tuple[str, str]]:
        """
        The (local, remote) pairs with a ready stream.
        """
        return [key for key, peer in self._peers.items() if peer.stream is not None]

    def drop(self, local: str, remote: str) -> bool:
        """
        Close the pair's ready stream gracefully and forget it; the next
        send opens a new one.

        @return: Whether there was a stream to close.
        """
        peer = self._peers.get((local, remote))
        if peer is None or peer.stream is None:
            return False
        stream = peer.stream
        self._forget(peer)
        stream.close()
        return True

    def queued(self, local: str, remote: str) -> int:
        """
        How many stanzas wait for the pair's stream.
        """
        peer = self._peers.get((local, remote))
        return len(peer.queue) if peer is not None else 0

    def send(self, local: str, remote: str, stanza: domish.Element) -> Deferred[None]:
        """
        Send C{stanza} from C{local} to C{remote}.

        @return: Fires once written to an authenticated stream; fails with
            L{DeliveryFailed}.
        """
        if self._closed:
            return fail(DeliveryFailed("remote-server-timeout", "s2s service is stopping"))
        key = (local, remote)
        peer = self._peers.get(key)
        if peer is not None and peer.stream is not None:
            try:
                confirmed = peer.stream.send_stanza(stanza)
            except DeliveryFailed:
                self._forget(peer)
                peer = None
            else:
                self._touch(peer)
                return confirmed
        if peer is None:
            peer = self._peers[key] = _Peer(key)
        if len(peer.queue) >= self.max_queue:
            return fail(
                DeliveryFailed("resource-constraint", f"too many stanzas waiting for {remote}")
            )
        entry: tuple[domish.Element, Deferred[None]]

        def cancel(d: Deferred[None]) -> None:
            try:
                peer.queue.remove(entry)
            except ValueError:
                pass

        d: Deferred[None] = Deferred(cancel)
        entry = (stanza, d)
        peer.queue.append(entry)
        if peer.opening is None:
            self._open(peer)
        return d

    def _open(self, peer: _Peer) -> None:
        local, remote = peer.key
        opening = self._opener(local, remote, StreamPurpose.DELIVER)
        peer.opening = opening
        opening.addCallbacks(
            lambda stream: self._opened(peer, stream),
            lambda failure: self._open_failed(peer, failure),
        )

    def _opened(self, peer: _Peer, stream: PooledStream) -> None:
        peer.opening = None
        if self._peers.get(peer.key) is not peer:
            stream.close()
            return
        peer.stream = stream
        self.recorder.link_up(
            "xmpp",
            *peer.key,
            getattr(stream, "authentication", None) or "TLS",
            peer_cert_expiry(getattr(stream, "transport", None)),
        )
        stream.when_lost().addCallback(lambda _: self._lost(peer, stream))
        while peer.queue and peer.stream is stream:
            stanza, d = peer.queue.popleft()
            try:
                confirmed = stream.send_stanza(stanza)
            except DeliveryFailed as e:
                d.errback(e)
            else:
                confirmed.chainDeferred(d)
        self._touch(peer)

    def _open_failed(self, peer: _Peer, failure: Failure) -> None:
        peer.opening = None
        if self._peers.get(peer.key) is peer:
            del self._peers[peer.key]
        error = failure.value
        if failure.check(CancelledError):
            error = DeliveryFailed("remote-server-timeout", "s2s service is stopping")
        elif not isinstance(error, DeliveryFailed):
            _log.failure("Opening s2s stream failed", failure)
            error = DeliveryFailed("remote-server-not-found", failure.getErrorMessage())
        self.recorder.link_failed("xmpp", *peer.key, error.reason)
        queue, peer.queue = peer.queue, deque()
        for _, d in queue:
            d.errback(DeliveryFailed(error.condition, error.reason))

    def _lost(self, peer: _Peer, stream: PooledStream) -> None:
        if peer.stream is stream:
            self._forget(peer)

    def _forget(self, peer: _Peer) -> None:
        if self._peers.get(peer.key) is peer:
            del self._peers[peer.key]
        peer.stream = None
        if peer.idle is not None and peer.idle.active():
            peer.idle.cancel()
        peer.idle = None

    def _touch(self, peer: _Peer) -> None:
        if peer.idle is not None and peer.idle.active():
            peer.idle.reset(self.idle_timeout)
            return
        peer.idle = self._clock.callLater(self.idle_timeout, self._idle, peer)

    def _idle(self, peer: _Peer) -> None:
        peer.idle = None
        stream = peer.stream
        self._forget(peer)
        if stream is not None:
            _log.info(
                "Closing idle s2s stream {local}->{remote}", local=peer.key[0], remote=peer.key[1]
            )
            stream.close()

    def verify(self, local: str, remote: str, stream_id: str, key: str) -> Deferred[bool]:
        """
        Check a dialback key with C{remote}'s authoritative server.

        @param local: Our domain (the target of the peer's C{db:result}).
        @param remote: The domain that claims to be the sender.
        @return: Fires with the verdict; fails with L{DeliveryFailed} if
            the authoritative server cannot be asked.
        """
        if self._closed:
            return fail(DeliveryFailed("remote-server-timeout", "s2s service is stopping"))
        stream = self.stream_for(local, remote)
        if stream is not None:
            return stream.verify(stream_id, key)
        opening = self._opener(local, remote, StreamPurpose.VERIFY)
        self._verify_opening.add(opening)
        return Deferred.fromCoroutine(self._verify_over_new_stream(opening, stream_id, key))

    async def _verify_over_new_stream(
        self, opening: Deferred[PooledStream], stream_id: str, key: str
    ) -> bool:
        try:
            stream = await opening
        finally:
            self._verify_opening.discard(opening)
        self._verify_streams.add(stream)
        stream.when_lost().addCallback(lambda _: self._verify_streams.discard(stream))
        try:
            return await stream.verify(stream_id, key)
        finally:
            stream.close()

    def close(self) -> Deferred[None]:
        """
        Close every stream and fail everything queued.

        @return: Fires once the closed streams' connections are gone.
        """
        self._closed = True
        streams: list[PooledStream] = []
        for peer in list(self._peers.values()):
            if peer.opening is not None:
                peer.opening.cancel()
            if peer.stream is not None:
                streams.append(peer.stream)
            self._forget(peer)
        for opening in list(self._verify_opening):
            opening.cancel()
        streams.extend(self._verify_streams)
        waits = []
        for stream in streams:
            waits.append(stream.when_lost())
            stream.close()
        return DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)
