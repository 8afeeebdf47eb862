# -*- test-case-name: tests.xmpp.test_s2s -*-
"""
The hub's XMPP server-to-server service: what the XMPP connector uses.

Usage (in the composition root / connector)::

    from twisted.internet import reactor
    from twisted.names.client import createResolver
    from twisted.internet.endpoints import serverFromString

    s2s = S2SService(
        domains={"acme.test": TenantTLS("/etc/nextplane/acme.crt",
                                         "/etc/nextplane/acme.key")},
        ca_paths=["/etc/ssl/certs/ca-certificates.crt"],
        resolver=createResolver(),
        reactor=reactor,
        on_stanza=connector.stanza_received,      # domish.Element -> None
        policy_hook=policy.refusal_reason,        # (local, remote) -> str | None
        settings=S2SSettings(dialback_secret=b"...",
                             secure_domains=frozenset({"bank.test"}),
                             static_routes={"partner.test": "10.0.0.5:5269"}),
    )
    serverFromString(reactor, "tcp:5269").listen(s2s.listen_factory())
    # optional XEP-0368 direct TLS port (plain TCP endpoint; TLS is ours):
    serverFromString(reactor, "tcp:5270").listen(s2s.listen_factory(direct_tls=True))
    d = s2s.send(message_element)   # Deferred[None]
    ...
    s2s.stopService()               # closes all streams (or add it to a MultiService)

L{S2SService.send} takes a stanza (C{message}/C{presence}/C{iq}) whose
C{from} is on a hub domain and whose C{to} is remote, and fires once it is
written to an authenticated stream (acknowledged by the peer, where it
offers stream management, XEP-0198), or fails with
L{nextplane.interfaces.DeliveryFailed} (C{remote-server-not-found},
C{remote-server-timeout}, C{resource-constraint}, or C{not-allowed} when
C{policy_hook} refuses the domain); the connector turns that into a
delivery error event. Stanzas in C{jabber:client} are moved to
C{jabber:server}.

Inbound stanzas reach C{on_stanza} only after their C{from}/C{to} passed
the checks against the stream's authenticated domain pairs; C{to} is
always a hub domain. Exceptions raised by C{on_stanza} are logged and do
not affect the stream. A stanza with a malformed C{to} is answered with a
C{jid-malformed} error by the service itself.

C{ca_paths} should normally include the system bundle: with no trusted CA,
EXTERNAL is never offered and every outbound stream fails the server
certificate check (except to C{insecure_domains}).

Security model, as deployed by Prosody 0.12 and ejabberd 23.01 (see
C{/work/shared/notes/xmpp-s2s.md}):

  - STARTTLS is required on every stream, both directions (RFC 6120
    section 5, RFC 7590); direct TLS (XEP-0368) is used outbound when SRV
    says so.
  - Inbound, a client certificate is requested but never required; SASL
    EXTERNAL (XEP-0178) is offered when it validates for the stream's
    C{from}, dialback (XEP-0220, keys per XEP-0185) otherwise, unless the
    remote domain "requires certificates" (C{secure_domains}, or
    C{require_certificates} minus C{insecure_domains}).
  - Outbound, the server certificate must validate for the remote domain
    unless the domain is in C{insecure_domains}; we present the tenant's
    certificate, use EXTERNAL when offered, else dialback on the same
    stream (unless certificates are required with that domain).
  - C{policy_hook(local_domain, remote_domain)} returning a reason blocks a
    remote domain for that hub domain: inbound
    streams get C{policy-violation} when they name it, outbound sends fail;
    after a policy change, L{S2SService.enforce_policy} ends the streams
    that are already up with a newly blocked domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from attrs import Factory as AttrsFactory
from attrs import frozen
from cryptography import x509
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, fail
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
    IReactorTime,
    IResolver,
)
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.words.xish import domish

from nextplane.backpressure import Backpressure
from nextplane.connectors.xmpp.dialback import DialbackKeys
from nextplane.connectors.xmpp.pool import ConnectionPool, EndpointFactory, StreamOpener
from nextplane.connectors.xmpp.resolve import ServerResolver
from nextplane.connectors.xmpp.s2s_in import InboundStream
from nextplane.connectors.xmpp.s2s_out import OutboundStream, StreamPurpose
from nextplane.connectors.xmpp.stream import (
    NS_CLIENT,
    NS_SERVER,
    STANZA_NAMES,
    BaseStream,
    StreamError,
    StreamLimits,
    jid_domain,
    make_error_reply,
    normalise_domain,
)
from nextplane.connectors.xmpp.tls import (
    CertificateCheck,
    ClientTLS,
    ServerTLS,
    TenantTLS,
    TrustStore,
    load_credentials,
)
from nextplane.interfaces import DeliveryFailed
from nextplane.refusals import RefusalLog

__all__ = ["PolicyHook", "S2SService", "S2SSettings", "StanzaHandler", "TenantTLS"]

#: C{remote_domain -> None} (allowed) or a reason to refuse it.
#: C{(local hub domain, remote domain)} to a refusal reason, or C{None}.
PolicyHook = Callable[[str, str], "str | None"]
#: Receives every accepted inbound stanza.
StanzaHandler = Callable[[domish.Element], object]

_log = Logger(namespace="nextplane.xmpp.s2s")


def _domains(values: frozenset[str] | Sequence[str]) -> frozenset[str]:
    return frozenset(normalise_domain(v) for v in values)


@frozen(kw_only=True)
class S2SSettings:
    """
    Tunables of the s2s service.

    @ivar dialback_secret: Secret for dialback keys (XEP-0185); share it
        between hub instances serving the same domains. Random if L{None}.
    @ivar require_certificates: Require certificate authentication (no
        dialback) with every remote domain except C{insecure_domains}.
    @ivar secure_domains: Remote domains that must use certificates.
    @ivar insecure_domains: Remote domains allowed to use dialback even with
        C{require_certificates}, and whose server certificate need not
        validate when we connect to them.
    @ivar static_routes: C{{domain: "host:port"}} bypassing DNS.
    @ivar limits: Stream size limits and timeouts.
    @ivar connect_timeout: Seconds per TCP connection attempt.
    @ivar idle_timeout: Seconds before an unused outbound stream is closed.
    @ivar max_queue: Stanzas queued per domain pair while connecting.
    @ivar max_inbound_streams: Concurrent inbound connections accepted.
    @ivar max_streams_per_address: Concurrent inbound connections accepted
        from one remote IP address; more are refused with a
        C{policy-violation} stream error.
    @ivar prefer_ipv6: Try AAAA before A addresses.
    @ivar max_in_flight: Stanzas of one inbound stream still being handled
        (routed, queued for a platform) at which the hub stops reading the
        stream, until half of them are done (TCP backpressure instead of
        refusing or losing stanzas).
    """

    dialback_secret: bytes | None = None
    require_certificates: bool = False
    secure_domains: frozenset[str] = frozenset()
    insecure_domains: frozenset[str] = frozenset()
    static_routes: Mapping[str, str] = AttrsFactory(dict)
    limits: StreamLimits = AttrsFactory(StreamLimits)
    connect_timeout: float = 20.0
    idle_timeout: float = 600.0
    max_queue: int = 1000
    max_inbound_streams: int = 10_000
    max_streams_per_address: int = 20
    prefer_ipv6: bool = False
    max_in_flight: int = 1000


class _InboundFactory(ServerFactory):
    noisy = False

    def __init__(self, service: S2SService, direct_tls: bool) -> None:
        self._service = service
        self._direct_tls = direct_tls

    def buildProtocol(self, addr: object) -> InboundStream | None:  # type: ignore[override]
        return self._service._new_inbound(self._direct_tls, _host_of(addr))


class S2SService(Service):
    """
    XMPP server-to-server federation for a set of hub domains.

    Implements the host side of L{InboundStream} and L{OutboundStream}.

    @ivar clock: The injected reactor (used for time).
    @ivar limits: Stream limits.
    @ivar pool: The outbound L{ConnectionPool}.
    @ivar trace: Given to every new stream as L{BaseStream.trace}: a
        debugging hook that sees all traffic, content included; never set
        in production.
    """

    def __init__(
        self,
        domains: Mapping[str, TenantTLS],
        ca_paths: Sequence[str],
        resolver: IResolver,
        reactor: IReactorTime,
        on_stanza: StanzaHandler,
        policy_hook: PolicyHook | None = None,
        settings: S2SSettings | None = None,
        endpoint_factory: EndpointFactory | None = None,
        trust_store: TrustStore | None = None,
    ) -> None:
        """
        @param domains: Hub domain -> where its certificate and key are.
        @param ca_paths: PEM bundles or hashed directories of trusted CAs.
        @param resolver: DNS resolver for SRV/A/AAAA lookups.
        @param reactor: Clock and (for the default endpoint factory) TCP.
        @param on_stanza: Called with each accepted inbound stanza.
        @param policy_hook: Blocks remote domains (see module docstring).
        @param settings: Tunables.
        @param endpoint_factory: C{(address, port) -> IStreamClientEndpoint};
            by default a C{HostnameEndpoint} on C{reactor}.
        @param trust_store: Trusted CAs, instead of C{ca_paths}.
        """
        self.settings = settings if settings is not None else S2SSettings()
        self.clock = reactor
        self.trace: Callable[[BaseStream, str, bytes], object] | None = None
        self.limits = self.settings.limits
        credentials = load_credentials(domains)
        self._domains = frozenset(normalise_domain(d) for d in credentials)
        self._default_domain = sorted(self._domains)[0]
        self._server_tls = ServerTLS(credentials)
        self._client_tls = ClientTLS(credentials)
        self._trust = trust_store if trust_store is not None else TrustStore(paths=ca_paths)
        self._keys = DialbackKeys(self.settings.dialback_secret)
        self._on_stanza = on_stanza
        self.backpressure = Backpressure(self.settings.max_in_flight, what="s2s stream")
        self._policy = policy_hook
        self._secure = _domains(self.settings.secure_domains)
        self._insecure = _domains(self.settings.insecure_domains)
        self._dialback_errors: dict[str, bool] = {}
        self._inbound: set[InboundStream] = set()
        self._per_address: dict[str, int] = {}
        self._stream_address: dict[InboundStream, str] = {}
        self._refusals = RefusalLog(_log, reactor)
        if endpoint_factory is None:
            connect_timeout = self.settings.connect_timeout

            def endpoint_factory(host: str, port: int) -> HostnameEndpoint:
                return HostnameEndpoint(cast(Any, reactor), host, port, timeout=connect_timeout)

        self._resolver = ServerResolver(
            resolver, self.settings.static_routes, prefer_ipv6=self.settings.prefer_ipv6
        )
        self._opener = StreamOpener(
            reactor,
            self._resolver,
            endpoint_factory,
            self._new_outbound,
            self.settings.connect_timeout,
        )
        self.pool = ConnectionPool(
            reactor,
            self._opener.open,
            max_queue=self.settings.max_queue,
            idle_timeout=self.settings.idle_timeout,
        )

    # public API

    @property
    def domains(self) -> frozenset[str]:
        """
        The hub domains served.
        """
        return self._domains

    def listen_factory(self, direct_tls: bool = False) -> ServerFactory:
        """
        The protocol factory to listen with: on a plain TCP endpoint (e.g.
        C{tcp:5269}) for STARTTLS, or, with C{direct_tls}, on a plain TCP
        endpoint where TLS starts at once (XEP-0368, e.g. C{tcp:5270}; the
        certificate is chosen by SNI).
        """
        return _InboundFactory(self, direct_tls)

    def send(self, stanza: domish.Element) -> Deferred[None]:
        """
        Send a stanza to a remote server.

        @return: Fires once the stanza is written to an authenticated
            stream (and acknowledged, with stream management); fails with
            L{DeliveryFailed} or, for a stanza that is
            not addressed from a hub domain to a remote one, L{ValueError}.
        """
        if stanza.name not in STANZA_NAMES:
            return fail(ValueError(f"not a stanza: <{stanza.name}/>"))
        try:
            local = jid_domain(stanza.getAttribute("from") or "")
            remote = jid_domain(stanza.getAttribute("to") or "")
        except ValueError as e:
            return fail(ValueError(f"stanza needs valid 'from' and 'to': {e}"))
        if local not in self._domains:
            return fail(ValueError(f"{local} is not a hub domain"))
        if remote in self._domains:
            return fail(ValueError(f"{remote} is a hub domain; not sent over s2s"))
        reason = self.refusal_reason(local, remote)
        if reason is not None:
            return fail(DeliveryFailed("not-allowed", reason))
        _to_server_namespace(stanza)
        return self.pool.send(local, remote, stanza)

    def enforce_policy(self) -> int:
        """
        Apply the policy hook to the streams already up: an inbound stream
        with a domain pair the hook now refuses ends with a
        C{policy-violation} stream error naming the reason, and an outbound
        one is closed, so a newly blocked domain can neither keep sending
        on an old stream nor be sent to (new streams are refused as
        usual). Call it after the policy changed.

        @return: How many streams were closed.
        """
        closed = 0
        for stream in list(self._inbound):
            if stream.closing or stream.disconnected:
                continue
            pairs = set(stream.authenticated_pairs)
            if stream.remote_domain is not None and stream.local_domain is not None:
                pairs.add((stream.remote_domain, stream.local_domain))
            for remote, local in sorted(pairs):
                reason = self.refusal_reason(local, remote)
                if reason is not None:
                    stream.stream_error(StreamError("policy-violation", reason))
                    closed += 1
                    break
        for local, remote in self.pool.pairs():
            reason = self.refusal_reason(local, remote)
            if reason is not None and self.pool.drop(local, remote):
                _log.info(
                    "Closed s2s stream {local}->{remote}: {reason}",
                    local=local,
                    remote=remote,
                    reason=reason,
                )
                closed += 1
        return closed

    def inbound_streams(self) -> list[InboundStream]:
        """
        The inbound streams currently connected.
        """
        return list(self._inbound)

    def stopService(self) -> Deferred[None]:
        """
        Close every stream; fires once all connections are gone.
        """
        Service.stopService(self)
        waits = [self.pool.close()]
        for stream in list(self._inbound):
            waits.append(stream.when_lost())
            stream.close()
        return DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)

    # construction

    def _new_inbound(
        self, direct_tls: bool = False, address: str | None = None
    ) -> InboundStream | None:
        if len(self._inbound) >= self.settings.max_inbound_streams:
            self._refusals.refused(
                "Refusing inbound s2s connection from {address}: too many streams",
                address=address or "?",
            )
            return None
        refusal = None
        if address is not None:
            if self._per_address.get(address, 0) >= self.settings.max_streams_per_address:
                self._refusals.refused(
                    "Refusing inbound s2s connection from {address}: more than {limit}"
                    " streams from one address",
                    address=address,
                    limit=self.settings.max_streams_per_address,
                )
                refusal = StreamError("policy-violation", "too many connections from your address")
        stream = InboundStream(self, direct_tls, refusal=refusal)
        stream.trace = self.trace
        stream.refusals = self._refusals
        self._inbound.add(stream)
        if address is not None and refusal is None:
            self._per_address[address] = self._per_address.get(address, 0) + 1
            self._stream_address[stream] = address
        return stream

    def _new_outbound(
        self, local: str, remote: str, purpose: StreamPurpose, direct_tls: bool
    ) -> OutboundStream:
        stream = OutboundStream(self, local, remote, purpose, direct_tls)
        stream.trace = self.trace
        return stream

    # host interface shared by both directions

    def serves(self, domain: str) -> bool:
        """
        Whether C{domain} is a hub domain.
        """
        return domain in self._domains

    def default_domain(self) -> str:
        """
        The domain named in headers when the peer's C{to} is unusable.
        """
        return self._default_domain

    def check_certificate(
        self, leaf: x509.Certificate | None, chain: list[x509.Certificate]
    ) -> CertificateCheck:
        """
        Validate a peer's chain against the trusted CAs.
        """
        return self._trust.check(leaf, chain)

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        Ask C{policy_hook} about C{remote} talking to hub domain C{local}; a
        failing hook refuses.
        """
        if self._policy is None:
            return None
        try:
            return self._policy(local, remote)
        except Exception:
            _log.failure("s2s policy hook failed for {remote}", remote=remote)
            return "policy check failed"

    def requires_certificate(self, remote: str) -> bool:
        """
        Whether C{remote} must use certificate authentication.
        """
        if remote in self._secure:
            return True
        return self.settings.require_certificates and remote not in self._insecure

    def dialback_keys(self) -> DialbackKeys:
        """
        The dialback key generator.
        """
        return self._keys

    # inbound host

    def server_tls(self, domain: str | None) -> IOpenSSLServerConnectionCreator:
        """
        TLS for an inbound stream addressed to C{domain}.
        """
        return self._server_tls.creator(domain)

    def verify_dialback(self, local: str, remote: str, stream_id: str, key: str) -> Deferred[bool]:
        """
        Verify a dialback key with C{remote}'s authoritative server.
        """
        return self.pool.verify(local, remote, stream_id, key)

    def supports_dialback_errors(self, remote: str) -> bool:
        """
        Whether C{remote} advertised dialback C{<errors/>} to us.
        """
        return self._dialback_errors.get(remote, False)

    def deliver(self, stanza: domish.Element, stream: InboundStream) -> None:
        """
        Pass an accepted inbound stanza on; a stream with too many stanzas
        still being handled is not read until they drain.
        """
        self.backpressure.track(stream.transport, self._on_stanza(stanza))

    def bounce(self, stanza: domish.Element, condition: str, text: str, local: str) -> None:
        """
        Return a stanza error for C{stanza} to its sender, from C{local} if
        the stanza's C{to} is malformed.
        """
        reply = make_error_reply(stanza, condition, text)
        if reply is None:
            return
        try:
            jid_domain(reply.getAttribute("from") or "")
        except ValueError:
            reply["from"] = local
        self.send(reply).addErrback(
            lambda f: _log.info("Could not bounce stanza: {error}", error=f.getErrorMessage())
        )

    def inbound_lost(self, stream: InboundStream) -> None:
        """
        Forget a closed inbound stream.
        """
        self._inbound.discard(stream)
        if stream.transport is not None:
            self.backpressure.forget(stream.transport)
        address = self._stream_address.pop(stream, None)
        if address is not None:
            left = self._per_address.get(address, 1) - 1
            if left > 0:
                self._per_address[address] = left
            else:
                self._per_address.pop(address, None)

    # outbound host

    def client_tls(self, local: str, remote: str) -> IOpenSSLClientConnectionCreator:
        """
        TLS for an outbound stream.
        """
        return self._client_tls.creator(local, remote)

    def accepts_unverified_server(self, remote: str) -> bool:
        """
        Whether C{remote}'s server certificate may fail validation.
        """
        return remote in self._insecure

    def has_client_certificate(self, local: str) -> bool:
        """
        Whether we have a certificate for C{local}.
        """
        return self._client_tls.has_certificate(local)

    def note_dialback_errors(self, remote: str, supported: bool) -> None:
        """
        Remember whether C{remote} handles dialback errors.
        """
        self._dialback_errors[remote] = supported


def _to_server_namespace(element: domish.Element) -> None:
    if element.uri != NS_CLIENT and element.defaultUri != NS_CLIENT:
        return
    stack = [element]
    while stack:
        current = stack.pop()
        if current.uri == NS_CLIENT:
            current.uri = NS_SERVER
        if current.defaultUri == NS_CLIENT:
            current.defaultUri = NS_SERVER
        stack.extend(current.elements())


def _host_of(addr: object) -> str | None:
    """The IP address of a connecting peer (C{IPv4Address}, C{IPv6Address})."""
    host = getattr(addr, "host", None)
    return host if isinstance(host, str) and host else None
