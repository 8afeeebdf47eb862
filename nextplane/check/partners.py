# -*- test-case-name: tests.check.test_check -*-
"""
Probing a configured federation partner: where it is (its route, else its
SRV records), a TCP connection, the TLS handshake (after STARTTLS for
XMPP, at once for SIP), and the certificate it shows: its chain and
whether it names the partner's domain.

The probe speaks just enough XMPP to reach TLS (L{XmppStartTLS}, sans-IO)
and then hangs up; it never authenticates or sends a stanza.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import frozen
from cryptography import x509
from twisted.internet import endpoints
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IResolver,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from ..config import PartnerConfig
from ..dns import is_ip, lookup_addresses, lookup_srv, order_srv
from ..tls import TrustStore, peer_certificates
from .certificates import dns_names
from .findings import ERROR, OK, Finding

__all__ = ["PeerCertificate", "XmppStartTLS", "judge_certificate", "probe_partner"]

#: Where to look a partner up, and the port when there is no SRV record.
SERVICES = {"xmpp": ("_xmpp-server._tcp", 5269), "sip": ("_sipfederationtls._tcp", None)}
_MAX_BUFFER = 65536


class XmppStartTLS:
    """
    The client side of an s2s stream up to C{<proceed/>}, sans-IO: feed it
    what the server sends; it says what to send back and when TLS starts.
    """

    def __init__(self, local: str, remote: str) -> None:
        self.local = local
        self.remote = remote
        self._buffer = b""
        self._asked = False

    def opening(self) -> bytes:
        """
        The stream header to send first.
        """
        return (
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            f"from='{self.local}' to='{self.remote}' version='1.0'>"
        ).encode()

    def received(self, data: bytes) -> tuple[bytes, bool]:
        """
        @return: What to send, and whether to start TLS now.
        @raise ValueError: The server does not offer STARTTLS, or refused.
        """
        self._buffer += data
        if len(self._buffer) > _MAX_BUFFER:
            raise ValueError("no STARTTLS offer in the first 64 KiB")
        if not self._asked and b"</stream:features>" in self._buffer:
            if b"urn:ietf:params:xml:ns:xmpp-tls" not in self._buffer:
                raise ValueError("the server does not offer STARTTLS")
            self._asked = True
            self._buffer = b""
            return b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", False
        if self._asked and b"<proceed" in self._buffer:
            return b"", True
        if self._asked and b"<failure" in self._buffer:
            raise ValueError("the server refused STARTTLS")
        if b"</stream:stream>" in self._buffer or b"<stream:error" in self._buffer:
            raise ValueError(
                "the server closed the stream: " + self._buffer[-200:].decode(errors="replace")
            )
        return b"", False


@frozen
class PeerCertificate:
    """
    What the handshake showed: the peer's certificate and the others sent.
    """

    leaf: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]


@implementer(IHandshakeListener)
class _Probe(Protocol):
    def __init__(self, creator: IOpenSSLClientConnectionCreator, xmpp: XmppStartTLS | None) -> None:
        self._creator = creator
        self._xmpp = xmpp
        self.done: Deferred[PeerCertificate] = Deferred()

    def connectionMade(self) -> None:
        if self._xmpp is None:
            self.transport.startTLS(self._creator)  # type: ignore[union-attr]
        else:
            self.transport.write(self._xmpp.opening())  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if self._xmpp is None or self.done.called:
            return
        try:
            reply, start = self._xmpp.received(data)
        except ValueError as e:
            self._finish(Failure(e))
            return
        if reply:
            self.transport.write(reply)  # type: ignore[union-attr]
        if start:
            self._xmpp = None
            self.transport.startTLS(self._creator)  # type: ignore[union-attr]

    def handshakeCompleted(self) -> None:
        leaf, chain = peer_certificates(self.transport)
        self._finish(PeerCertificate(leaf, tuple(chain)))

    def _finish(self, result: PeerCertificate | Failure) -> None:
        if not self.done.called:
            if isinstance(result, Failure):
                self.done.errback(result)
            else:
                self.done.callback(result)
        self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self.done.called:
            self.done.errback(reason or Failure(ConnectionError("connection closed")))


def judge_certificate(
    peer: PeerCertificate,
    domain: str,
    matches: Callable[[x509.Certificate, str], bool],
    trust: TrustStore,
) -> list[Finding]:
    """
    Findings about a partner's certificate: chain and name.

    @param matches: The protocol's identity rule (XMPP or SIP).
    """
    if peer.leaf is None:
        return [Finding(ERROR, "partner", domain, "presented no certificate", "ask the partner")]
    findings = []
    if matches(peer.leaf, domain):
        findings.append(Finding(OK, "partner", domain, "its certificate names " + domain))
    else:
        names = ", ".join(dns_names(peer.leaf, uris=True)) or "none"
        findings.append(
            Finding(
                ERROR,
                "partner",
                domain,
                f"its certificate does not name {domain} (names: {names})",
                "the partner must present a certificate for its domain",
            )
        )
    check = trust.check(peer.leaf, peer.chain)
    if check.chain_valid:
        findings.append(Finding(OK, "partner", domain, "its certificate chain verifies"))
    else:
        findings.append(
            Finding(
                ERROR,
                "partner",
                domain,
                f"its certificate chain does not verify: {check.reason}",
                "trust its CA in [tls] ca_certificates, or ask it to send its intermediates",
            )
        )
    return findings


async def _targets(resolver: IResolver, partner: PartnerConfig) -> list[tuple[str, int]]:
    service, default_port = SERVICES[partner.protocol]
    if partner.route is not None:
        host, _, port = partner.route.split(";")[0].rpartition(":")
        if host:
            return [(host.strip("[]"), int(port))]
        return [(partner.route.split(";")[0], default_port or 5061)]
    records = order_srv(await lookup_srv(resolver, f"{service}.{partner.domain}"))
    if records:
        return [(r.target, r.port) for r in records if r.target not in ("", ".")]
    return [(partner.domain, default_port)] if default_port else []


async def probe_partner(
    reactor: Any,
    resolver: IResolver,
    partner: PartnerConfig,
    *,
    local: str,
    creator: IOpenSSLClientConnectionCreator,
    matches: Callable[[x509.Certificate, str], bool],
    trust: TrustStore,
    timeout: float = 10.0,
) -> list[Finding]:
    """
    Connect to C{partner} on behalf of tenant C{local} and judge what it
    shows; one or more findings.

    @param creator: The TLS client connection creator (presents the
        tenant's certificate, sends the partner's name as SNI).
    """
    domain = partner.domain
    targets = await _targets(resolver, partner)
    if not targets:
        return [
            Finding(
                ERROR,
                "partner",
                domain,
                f"no route and no {SERVICES[partner.protocol][0]} SRV record",
                "set route in its [[federation.partners]] entry, or ask it to publish SRV",
            )
        ]
    host, port = targets[0]
    addresses = await lookup_addresses(resolver, host)
    if not addresses:
        return [Finding(ERROR, "partner", domain, f"{host} has no address", "check the route")]
    address = addresses[0]
    endpoint_type = endpoints.TCP6ClientEndpoint if ":" in address else endpoints.TCP4ClientEndpoint
    endpoint = endpoint_type(reactor, address, port, timeout=timeout)
    xmpp = XmppStartTLS(local, domain) if partner.protocol == "xmpp" else None
    probe = _Probe(creator, xmpp)
    where = f"{host}:{port}" + ("" if is_ip(host) else f" ({address})")
    try:
        await endpoint.connect(Factory.forProtocol(lambda: probe))
    except Exception as e:
        return [Finding(ERROR, "partner", domain, f"TCP to {where} failed: {e}", "check firewalls")]
    findings = [Finding(OK, "partner", domain, f"TCP to {where} connected")]
    timer = reactor.callLater(timeout, probe.done.cancel)
    try:
        peer = await probe.done
    except Exception as e:
        why = f"no answer within {timeout:g} s" if isinstance(e, CancelledError) else str(e)
        findings.append(
            Finding(ERROR, "partner", domain, f"TLS with {where} failed: {why}", "see its log")
        )
        return findings
    finally:
        if timer.active():
            timer.cancel()
        if probe.transport is not None:
            probe.transport.abortConnection()  # type: ignore[attr-defined]
    findings.append(Finding(OK, "partner", domain, "TLS handshake completed"))
    findings.extend(judge_certificate(peer, domain, matches, trust))
    return findings
