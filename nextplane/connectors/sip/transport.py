# -*- test-case-name: tests.sip.test_transport -*-
"""
SIP over TLS (and TCP from trusted relays): connections, mutual TLS,
connection reuse (RFC 3261 section 18; RFC 5922; RFC 5923; RFC 5626
section 3.5.1; RFC 3581).

L{SipConnection} is a thin Twisted protocol over one TCP connection:

  - TLS is started by the protocol itself (C{ITLSTransport.startTLS}), so
    listeners and dialers use plain TCP endpoints. Inbound connections
    require a client certificate (the handshake fails without one);
    after the handshake the peer's chain is checked against the
    configured CAs and its SIP domain identities are read (RFC 5922:
    C{URI:sip:} SAN, then C{dNSName}, no wildcards). A peer that fails is
    logged with the reason and disconnected. Outbound connections check
    the server's certificate against the names expected for the target
    (see L{nextplane.connectors.sip.resolve.expected_identities}).
  - Bytes go through L{StreamParser}. Messages go to the receiver (the
    L{TransactionLayer}) with the connection as their flow. Malformed
    requests are answered C{400} with the parser's reason (C{413}/C{513}
    for oversized ones, C{505} for another SIP version) and the
    connection stays open when the framing is still known; otherwise it
    is closed.
  - Bounds (L{nextplane.connectors.sip.guard}): a started message must
    complete within a deadline (else C{400} if it can be answered, and
    close); a connection the peer opened closes when idle with no
    transaction; too many headers is C{400} and close; bytes that cannot
    start a SIP message close the connection at once; each address may
    hold a limited number of inbound connections. Closings go through a
    L{RefusalLog}, so a flood of them is not a flood of log lines.
  - CRLF CRLF keep-alive pings are answered with CRLF on connections the
    peer opened (we are the "server" of RFC 5626 there); on our own
    connections we only ever receive pongs.
  - The top Via of each request gets C{received} (if its sent-by is not
    the source address) and C{rport} filled in (RFC 3261 section 18.2.1,
    RFC 3581).
  - Requests sent carry C{Via: SIP/2.0/TLS <via_host>:<via_port>} and,
    if configured, C{;alias} (RFC 5923) so the peer may reuse our
    connection.

L{ConnectionTable} remembers live connections: our outbound connections
per C{(tenant domain, remote domain)}, and inbound TLS connections whose
requests carried C{alias} for a sent-by the peer's certificate names.
L{SipTransport.connect} reuses either before resolving (RFC 3263) and
dialling; concurrent requests for the same peer share one attempt.
Responses always go back on the connection the request came in on
(section 18.2.2).

Everything is injected: the clock, the resolver and the endpoint factory,
so tests run over an in-memory network with real TLS handshakes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, cast

from twisted.internet import defer
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    IReactorTime,
    IStreamClientEndpoint,
    ITLSTransport,
)
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from typing_extensions import override
from zope.interface import implementer

from ...federation_health import HealthRecorder, NullRecorder, peer_cert_expiry
from ...refusals import RefusalLog
from .connections import ConnectionTable
from .guard import AddressCounter, ConnectionClock, Limits
from .message import (
    KeepAlive,
    Message,
    ParseError,
    ParseResult,
    Request,
    Via,
    make_response,
    parse_via,
    serialize,
)
from .parser import StreamParser
from .resolve import DEFAULT_TLS_PORT, SipResolver, Target, expected_identities
from .tls import SipClientTLS, SipServerTLS, TrustStore, check_peer
from .transaction import TransportError
from .uri import Params, SipSyntaxError

__all__ = [
    "ConnectError",
    "ConnectionTable",
    "Limits",
    "Receiver",
    "SipConnection",
    "SipTransport",
]

_log = Logger(namespace="nextplane.sip.transport")

#: Headers a request needs for an error response to be well-formed.
_RESPONSE_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")


class ConnectError(Exception):
    """
    No connection to a remote domain could be made.

    @ivar domain: The remote domain.
    @ivar attempts: One line per target or address tried.
    """

    def __init__(self, domain: str, attempts: Iterable[str]) -> None:
        self.domain = domain
        self.attempts = list(attempts)
        detail = "; ".join(self.attempts) or "no targets"
        super().__init__(f"cannot reach {domain}: {detail}")


class Receiver(Protocol):
    """
    Where a connection hands what it receives (the L{TransactionLayer}).
    """

    def receive(self, message: Message, flow: Any) -> None:
        """
        A valid message arrived on C{flow} (a L{SipConnection}).
        """

    def flow_lost(self, flow: Any) -> None:
        """
        The connection C{flow} closed.
        """

    def busy(self, flow: Any) -> bool:
        """
        Whether a transaction still uses C{flow} (it is not idle).
        """


def _host_port(address: IAddress | None) -> tuple[str, int]:
    host = getattr(address, "host", "")
    port = getattr(address, "port", 0)
    return str(host), int(port)


def stamp_via(request: Request, host: str, port: int) -> Request:
    """
    Add C{received} and C{rport} to the top Via of a received request
    (RFC 3261 section 18.2.1, RFC 3581 section 4).
    """
    value = request.headers.get("Via")
    if value is None:
        return request
    try:
        via = parse_via(value)
    except SipSyntaxError:
        return request
    params = via.params
    changed = False
    if via.host.lower() != host.lower():
        params = params.set("received", host)
        changed = True
    if "rport" in params and params.get("rport") is None:
        params = params.set("rport", str(port))
        changed = True
    if not changed:
        return request
    stamped = Via(via.host, via.port, via.transport, params, via.protocol).format()
    headers = request.headers.remove_first("Via").prepend("Via", stamped)
    return request.with_headers(headers)


@implementer(IHandshakeListener)
class SipConnection(TwistedProtocol):
    """
    One SIP connection; see the module docstring. It is the L{Flow} the
    transaction layer sends on.

    @ivar outbound: Whether we opened it.
    @ivar tls: Whether it runs TLS.
    @ivar local_domain: The tenant domain we present (outbound: the one
        we dialled for; inbound: chosen by SNI), if known.
    @ivar remote_domain: The domain we dialled (outbound only).
    @ivar peer_identities: The peer's verified SIP domain identities
        (empty on plain TCP).
    @ivar trusted_relay: Plain TCP from or to a configured relay.
    @ivar ready: Fires with this connection once usable (TLS verified);
        for outbound connections, fails with L{ConnectError} if it closes
        first.
    @ivar closed: Whether the connection is gone or going.
    """

    def __init__(
        self,
        manager: SipTransport,
        *,
        outbound: bool,
        tls: bool,
        local_domain: str | None = None,
        remote_domain: str | None = None,
        server_creator: IOpenSSLServerConnectionCreator | None = None,
        client_creator: IOpenSSLClientConnectionCreator | None = None,
        expected: frozenset[str] | None = None,
    ) -> None:
        self.manager = manager
        self.outbound = outbound
        self.tls = tls
        self.local_domain = local_domain
        self.remote_domain = remote_domain
        self.peer_identities: frozenset[str] = frozenset()
        self.trusted_relay = False
        self.closed = False
        self.verified = False
        self.peer_host = ""
        self.peer_port = 0
        self.ready: Deferred[SipConnection] = Deferred(self._cancel_ready)
        self._server_creator = server_creator
        self._client_creator = client_creator
        self._expected = expected
        self._parser = StreamParser(
            max_header_size=manager.limits.max_header_size,
            max_body_size=manager.limits.max_body_size,
            max_headers=manager.limits.max_headers,
        )
        self.counted_address: str | None = None
        self._deadlines = ConnectionClock(
            manager.clock,
            manager.limits,
            idle=not outbound,
            busy=lambda: manager.receiver.busy(self),
            on_message_late=self._message_late,
            on_idle=self._idle,
        )
        self._handshake_timer: IDelayedCall | None = None
        self._close_reason: str | None = None

    def __repr__(self) -> str:
        direction = "to" if self.outbound else "from"
        return f"<SipConnection {direction} {self.peer_host}:{self.peer_port}>"

    @override
    def connectionMade(self) -> None:
        self.peer_host, self.peer_port = _host_port(self.transport.getPeer())  # type: ignore[union-attr]
        if not self.tls:
            self.trusted_relay = True
            self._become_ready(frozenset())
            return
        creator: Any = self._client_creator if self.outbound else self._server_creator
        cast(ITLSTransport, self.transport).startTLS(creator)
        self._handshake_timer = self.manager.clock.callLater(
            self.manager.handshake_timeout, self._handshake_timed_out
        )

    def _handshake_timed_out(self) -> None:
        self._handshake_timer = None
        self._refuse("TLS handshake timed out", abort=True)

    def handshakeCompleted(self) -> None:
        if self._handshake_timer is not None and self._handshake_timer.active():
            self._handshake_timer.cancel()
        self._handshake_timer = None
        if self.closed:
            return
        check = check_peer(
            self.manager.trust, self.transport, self._expected if self.outbound else None
        )
        if not check.ok:
            self._refuse(check.problem or "certificate refused")
            return
        if not self.outbound and self.manager.server_tls is not None:
            handle = cast(Any, self.transport).getHandle()
            name = handle.get_servername() if handle is not None else None
            self.local_domain = self.manager.server_tls.tenant_for(name)
        self._become_ready(check.identities)

    def _become_ready(self, identities: frozenset[str]) -> None:
        self.peer_identities = identities
        self.verified = True
        self.manager.table.add(self)
        self._deadlines.start()
        _log.info(
            "SIP connection {direction} {host}:{port} ready ({identities})",
            direction="to" if self.outbound else "from",
            host=self.peer_host,
            port=self.peer_port,
            identities=", ".join(sorted(identities)) or "trusted relay",
        )
        if not self.ready.called:
            self.ready.callback(self)

    def _refuse(self, reason: str, abort: bool = False, routine: bool = False) -> None:
        # Deadlines and limits are routine on a public listener: rate-limit
        # those lines; a certificate problem is worth a warning each time.
        fields = {
            "direction": "to" if self.outbound else "from",
            "host": self.peer_host,
            "port": self.peer_port,
            "reason": reason,
        }
        line = "Closing SIP connection {direction} {host}:{port}: {reason}"
        if routine:
            self.manager.refusals.refused(line, **fields)
        else:
            _log.warn(line.replace("Closing", "Refusing"), **fields)
        self._close_reason = reason
        self.closed = True
        if abort:
            self.transport.abortConnection()  # type: ignore[union-attr]
        else:
            self.transport.loseConnection()  # type: ignore[union-attr]

    def _cancel_ready(self, deferred: Deferred[SipConnection]) -> None:
        self._close_reason = "cancelled"
        self.closed = True
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    @override
    def dataReceived(self, data: bytes) -> None:
        if self.closed or not self.verified:
            return
        if self.manager.trace is not None:
            self.manager.trace(self, "in", data)
        for result in self._parser.feed(data):
            self._handle(result)
            if self.closed:
                return
        self._deadlines.activity(not self._parser.idle)

    def _message_late(self) -> None:
        pending = self._parser.pending
        if isinstance(pending, Request) and pending.method != "ACK":
            self._answer(pending, 400, "Message not completed in time")
        self._refuse("message not completed in time", routine=True)

    def _idle(self) -> None:
        self._refuse("idle", routine=True)

    def _handle(self, result: ParseResult) -> None:
        if isinstance(result, KeepAlive):
            if not self.outbound:
                self.transport.write(b"\r\n")  # type: ignore[union-attr]
            return
        if isinstance(result, ParseError):
            self._bad_message(result)
            return
        if isinstance(result, Request):
            result = stamp_via(result, self.peer_host, self.peer_port)
            self._note_alias(result)
        try:
            self.manager.receiver.receive(result, self)
        except Exception:
            # A bug above must not take the peer's connection down.
            _log.failure(
                "Handling a SIP message from {host}:{port} failed",
                host=self.peer_host,
                port=self.peer_port,
            )

    def _bad_message(self, error: ParseError) -> None:
        message = error.message
        self.manager.refusals.refused(
            "Bad SIP message from {host}:{port}: {reason}",
            host=self.peer_host,
            port=self.peer_port,
            reason=error.reason,
        )
        if isinstance(message, Request) and message.method != "ACK":
            self._answer(message, error.status, error.reason)
        if error.fatal:
            self.closed = True
            self._close_reason = error.reason
            self.transport.loseConnection()  # type: ignore[union-attr]

    def _answer(self, request: Request, status: int, reason: str) -> None:
        # Without these headers a response cannot be matched by the peer.
        if all(name in request.headers for name in _RESPONSE_HEADERS):
            try:
                self._write(make_response(request, status, reason))
            except ValueError:
                pass

    def _note_alias(self, request: Request) -> None:
        # RFC 5923: reuse this connection for requests to the sent-by,
        # only over TLS and only for a name the certificate proves.
        if not self.tls:
            return
        try:
            via = request.top_via
        except SipSyntaxError:
            return
        if "alias" not in via.params or via.host.lower() not in self.peer_identities:
            return
        self.manager.table.alias(via.host, via.port or DEFAULT_TLS_PORT, self)

    def _write(self, message: Message) -> None:
        data = serialize(message)
        if self.manager.trace is not None:
            self.manager.trace(self, "out", data)
        self.transport.write(data)  # type: ignore[union-attr]
        self._deadlines.activity(not self._parser.idle)

    def send(self, message: Message) -> None:
        """
        Write C{message}.

        @raise TransportError: The connection is closed or not verified.
        @raise ValueError: The message cannot be serialized.
        """
        if self.closed or not self.verified or self.transport is None:
            raise TransportError(f"connection to {self.peer_host}:{self.peer_port} is closed")
        self._write(message)

    def via(self, branch: str) -> Via:
        """
        Our Via for a request sent on this connection.
        """
        params = Params.of(("branch", branch))
        if self.manager.advertise_alias and self.tls:
            params = params.set("alias")
        return Via(
            self.manager.via_host,
            self.manager.via_port,
            "TLS" if self.tls else "TCP",
            params,
        )

    def close(self) -> None:
        """
        Close the connection after pending writes.
        """
        if not self.closed:
            self.closed = True
            self._close_reason = "closed locally"
            if self.transport is not None:
                self.transport.loseConnection()

    @override
    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        was_verified = self.verified
        self.closed = True
        self.verified = False
        if self._handshake_timer is not None and self._handshake_timer.active():
            self._handshake_timer.cancel()
        self._handshake_timer = None
        self._deadlines.stop()
        if self.counted_address is not None:
            self.manager.addresses.release(self.counted_address)
            self.counted_address = None
        self.manager.table.remove(self)
        if not self.ready.called:
            why = self._close_reason or str(reason.value) or "connection lost"
            if self._close_reason is None:
                # Typically a TLS handshake failure, e.g. no client
                # certificate ("certificate required" alert).
                _log.warn(
                    "SIP connection {direction} {host}:{port} closed before it was "
                    "verified: {reason}",
                    direction="to" if self.outbound else "from",
                    host=self.peer_host,
                    port=self.peer_port,
                    reason=why,
                )
            if self.outbound:
                self.ready.errback(ConnectError(self.remote_domain or self.peer_host, [why]))
        if was_verified:
            self.manager.receiver.flow_lost(self)


class _OutboundFactory(Factory):
    noisy = False  # no "Starting factory" line per connection

    def __init__(self, build: Callable[[], SipConnection]) -> None:
        self._build = build

    @override
    def buildProtocol(self, addr: IAddress | None) -> SipConnection:
        return self._build()


class _InboundFactory(Factory):
    noisy = False

    def __init__(self, manager: SipTransport, tls: bool) -> None:
        self._manager = manager
        self._tls = tls

    @override
    def buildProtocol(self, addr: IAddress | None) -> SipConnection | None:
        manager = self._manager
        host, port = _host_port(addr)
        if self._tls:
            assert manager.server_tls is not None  # checked by server_factory()
            limit = manager.limits.max_connections_per_address
            if host not in manager.trusted_relays and not manager.addresses.acquire(host, limit):
                manager.refusals.refused(
                    "Refusing SIP connection from {host}:{port}: {limit} connections "
                    "from that address already",
                    host=host,
                    port=port,
                    limit=limit,
                )
                return None
            connection = SipConnection(
                manager, outbound=False, tls=True, server_creator=manager.server_tls.creator()
            )
            if host not in manager.trusted_relays:
                connection.counted_address = host
            return connection
        if host not in manager.trusted_relays:
            manager.refusals.refused(
                "Refusing plain TCP SIP connection from {host}:{port}", host=host, port=port
            )
            return None
        return SipConnection(manager, outbound=False, tls=False)


class SipTransport:
    """
    Listeners and dialling for SIP connections; see the module docstring.

    @ivar table: The L{ConnectionTable}.
    """

    def __init__(
        self,
        clock: IReactorTime,
        receiver: Receiver,
        *,
        via_host: str,
        via_port: int = DEFAULT_TLS_PORT,
        trust: TrustStore | None = None,
        server_tls: SipServerTLS | None = None,
        client_tls: SipClientTLS | None = None,
        resolver: SipResolver | None = None,
        endpoint_factory: Callable[[str, int], IStreamClientEndpoint] | None = None,
        trusted_relays: Iterable[str] = (),
        advertise_alias: bool = False,
        limits: Limits | None = None,
        handshake_timeout: float = 30.0,
        connect_timeout: float = 30.0,
    ) -> None:
        """
        @param clock: For timeouts.
        @param receiver: Gets messages and lost connections.
        @param via_host: Sent-by host of our Via (the hub's SIP FQDN).
        @param via_port: Sent-by port of our Via.
        @param trust: CAs peers' certificates must chain to.
        @param server_tls: Contexts for inbound TLS.
        @param client_tls: Contexts for outbound TLS.
        @param resolver: Finds remote domains' servers.
        @param endpoint_factory: Makes a TCP client endpoint for
            C{(ip, port)}.
        @param trusted_relays: IP addresses allowed to connect over plain
            TCP.
        @param advertise_alias: Put C{;alias} in our Via (RFC 5923).
        @param limits: Message sizes, deadlines and connection limits.
        @param handshake_timeout: Seconds a TLS handshake may take.
        @param connect_timeout: Seconds one connection attempt (TCP and
            TLS) may take.
        """
        self.clock = clock
        self.receiver = receiver
        self.via_host = via_host
        self.via_port = via_port
        self.trust = trust if trust is not None else TrustStore()
        #: Told of each outbound link made or failed (the portal's federation page).
        self.recorder: HealthRecorder = NullRecorder()
        self.server_tls = server_tls
        self.client_tls = client_tls
        self.resolver = resolver
        self.endpoint_factory = endpoint_factory
        self.trusted_relays = frozenset(trusted_relays)
        self.advertise_alias = advertise_alias
        self.limits = limits if limits is not None else Limits()
        self.handshake_timeout = handshake_timeout
        self.connect_timeout = connect_timeout
        self.table = ConnectionTable()
        self.refusals = RefusalLog(_log, clock)
        self.addresses = AddressCounter()
        #: Called with (connection, "in" or "out", bytes) for every message
        #: sent and every chunk received (diagnostics; never logs by itself).
        self.trace: Callable[[SipConnection, str, bytes], None] | None = None
        self._pending: dict[tuple[str, str], list[Deferred[SipConnection]]] = {}

    def server_factory(self, tls: bool = True) -> Factory:
        """
        A factory for a listening TCP endpoint: mutual TLS (C{tls=True}) or
        plain TCP from L{trusted_relays}.

        @raise ValueError: TLS without server contexts.
        """
        if tls and self.server_tls is None:
            raise ValueError("a TLS listener needs server_tls")
        return _InboundFactory(self, tls)

    def connect(
        self,
        domain: str,
        local_domain: str,
        *,
        targets: Sequence[Target] | None = None,
        extra_identities: Iterable[str] = (),
    ) -> Deferred[SipConnection]:
        """
        A usable connection from tenant C{local_domain} to SIP domain
        C{domain}: a live or aliased one, or a new one to the first target
        that answers and proves its identity.

        @param targets: Try these instead of resolving C{domain} (a
            configured route, or L{SipResolver.targets_for_uri} of the
            first Route of an in-dialog request).
        @param extra_identities: More certificate names to accept (a
            partner's configured Edge FQDN).
        @return: Fails with L{ConnectError}.
        """
        key = (local_domain.lower(), domain.rstrip(".").lower())
        existing = self.table.outbound(*key)
        if existing is not None:
            return succeed(existing)
        waiting = self._pending.get(key)
        if waiting is not None:
            deferred: Deferred[SipConnection] = Deferred()
            waiting.append(deferred)
            return deferred
        needs_tls = targets is None or any(t.tls for t in targets)
        if needs_tls and (
            self.client_tls is None or not self.client_tls.has_certificate(local_domain)
        ):
            return fail(ConnectError(domain, [f"no certificate for {local_domain}"]))
        self._pending[key] = []
        result = Deferred.fromCoroutine(
            self._dial(key[1], key[0], targets, frozenset(extra_identities))
        )

        def done(outcome: Any) -> Any:
            if isinstance(outcome, Failure):
                self.recorder.link_failed("sip", *key, str(outcome.value))
            else:
                expiry = peer_cert_expiry(outcome.transport)
                self.recorder.link_up("sip", *key, "mutual TLS", expiry)
            for other in self._pending.pop(key, []):
                if isinstance(outcome, Failure):
                    other.errback(outcome)
                else:
                    other.callback(outcome)
            return outcome

        result.addBoth(done)
        return result

    async def _dial(
        self,
        domain: str,
        local_domain: str,
        given: Sequence[Target] | None,
        extra: frozenset[str],
    ) -> SipConnection:
        if given is not None:
            targets = list(given)
        elif self.resolver is None:
            raise ConnectError(domain, ["no resolver"])
        else:
            try:
                targets = await self.resolver.targets(domain)
            except Exception as e:
                raise ConnectError(domain, [str(e)]) from e
        attempts: list[str] = []
        for target in targets:
            aliased = self.table.aliased(target.host, target.port, local_domain)
            if aliased is not None:
                return aliased
            if self.resolver is not None:
                addresses = await self.resolver.addresses(target.host)
            else:
                addresses = [target.host]
            if not addresses:
                attempts.append(f"{target.host}: no address")
            for address in addresses:
                try:
                    return await self._attempt(domain, local_domain, target, address, extra)
                except Exception as e:
                    attempts.append(f"{target.host}:{target.port} ({address}): {_describe(e)}")
        raise ConnectError(domain, attempts)

    def _attempt(
        self,
        domain: str,
        local_domain: str,
        target: Target,
        address: str,
        extra: frozenset[str],
    ) -> Deferred[SipConnection]:
        if self.endpoint_factory is None:
            return fail(ConnectError(domain, ["no endpoint factory"]))
        endpoint = self.endpoint_factory(address, target.port)
        if target.tls:
            assert self.client_tls is not None  # checked by connect()
            creator = self.client_tls.creator(local_domain, target.host)
            expected = expected_identities(domain, target, extra)

            def build() -> SipConnection:
                return SipConnection(
                    self,
                    outbound=True,
                    tls=True,
                    local_domain=local_domain,
                    remote_domain=domain,
                    client_creator=creator,
                    expected=expected,
                )

        else:

            def build() -> SipConnection:
                return SipConnection(
                    self,
                    outbound=True,
                    tls=False,
                    local_domain=local_domain,
                    remote_domain=domain,
                )

        connecting = endpoint.connect(_OutboundFactory(build))
        connecting.addCallback(lambda protocol: cast(SipConnection, protocol).ready)
        connecting.addTimeout(self.connect_timeout, self.clock)
        return cast("Deferred[SipConnection]", connecting)

    def close_all(self) -> None:
        """
        Close every connection.
        """
        for connection in self.table.connections():
            connection.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectError):
        return "; ".join(error.attempts)
    if isinstance(error, (CancelledError, TimeoutError, defer.TimeoutError)):
        return "timed out"
    return str(error) or type(error).__name__
