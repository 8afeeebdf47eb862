# -*- test-case-name: tests.xmpp.test_s2s -*-
"""
The receiving side of server-to-server streams (RFC 6120, XEP-0178,
XEP-0220, XEP-0344).

State machine of one L{InboundStream} (L{InboundState})::

    AWAIT_HEADER --header--> AWAIT_STARTTLS   features: <starttls><required/>
    AWAIT_STARTTLS --<starttls/>--> <proceed/>, TLS, restart -> AWAIT_HEADER
    AWAIT_HEADER (TLS) --header--> NEGOTIATING
        features: EXTERNAL if the client certificate validates for the
        header's 'from' (XEP-0178), dialback with <errors/> unless that
        domain must use certificates
    NEGOTIATING --<auth EXTERNAL>--> <success/>, restart -> AWAIT_HEADER -> OPEN
    NEGOTIATING/OPEN --<db:result>--> verify with the authoritative server
        (a separate outbound stream, see L{InboundHost.verify_dialback});
        valid -> pair authenticated -> OPEN
    any state after TLS --<db:verify>--> answer valid/invalid (we are the
        authoritative server for our domains)
    OPEN --stanza--> from/to checked against the authenticated pairs ->
        InboundHost.deliver
    OPEN (after SASL EXTERNAL) features: <sm/>; --<enable/>--> <enabled/>,
        stanzas counted and acknowledged (XEP-0198, L{inbound_acks})

Anything the peer does out of order ends the stream with the stream error
RFC 6120 section 4.9.3 names: C{policy-violation} (no STARTTLS or a blocked
domain), C{not-authorized} (stanzas before authentication),
C{host-unknown}, C{improper-addressing}, C{invalid-from},
C{unsupported-stanza-type}, C{invalid-namespace}, and those of
L{nextplane.connectors.xmpp.stream.StreamParser}.

Dialback errors (C{type='error'}) go only to peers known to advertise
C{<errors/>} (learnt from our outbound streams to them); others get
C{type='invalid'} or a stream error.
"""

from __future__ import annotations

import base64
import binascii
import enum
from typing import Protocol

from cryptography import x509
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator, IReactorTime
from twisted.python.failure import Failure
from twisted.words.xish import domish

from nextplane.connectors.xmpp import acks, dialback
from nextplane.connectors.xmpp.inbound_acks import InboundStreamManagement
from nextplane.connectors.xmpp.stream import (
    NS_CLIENT,
    NS_DIALBACK,
    NS_SASL,
    NS_SERVER,
    NS_STREAMS,
    NS_TLS,
    STANZA_NAMES,
    BaseStream,
    StreamError,
    StreamLimits,
    format_stream_header,
    jid_domain,
    new_stream_id,
    parse_stream_header,
)
from nextplane.connectors.xmpp.tls import CertificateCheck, peer_certificates
from nextplane.interfaces import DeliveryFailed

__all__ = [
    "InboundHost",
    "InboundState",
    "InboundStream",
    "StanzaRejected",
    "check_stanza_addressing",
    "decode_external_authzid",
]

#: At most this many dialback verifications in flight per stream.
MAX_PENDING_DIALBACK = 16
#: SASL attempts allowed per stream.
MAX_AUTH_ATTEMPTS = 3


class InboundHost(Protocol):
    """
    What an L{InboundStream} needs from the service that owns it.
    """

    clock: IReactorTime
    limits: StreamLimits

    def serves(self, domain: str) -> bool:
        """
        Whether C{domain} is one of the hub's domains.
        """

    def default_domain(self) -> str:
        """
        The domain to name in a stream header when the peer's C{to} is
        unusable.
        """

    def server_tls(self, domain: str | None) -> IOpenSSLServerConnectionCreator:
        """
        The TLS connection creator for a stream addressed to C{domain}
        (L{None}: chosen by SNI only).
        """

    def check_certificate(
        self, leaf: x509.Certificate | None, chain: list[x509.Certificate]
    ) -> CertificateCheck:
        """
        Validate a peer's certificate chain.
        """

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        L{None} if C{remote} may talk to the hub domain C{local}, else why not.
        """

    def requires_certificate(self, remote: str) -> bool:
        """
        Whether C{remote} must authenticate with a certificate (no dialback).
        """

    def dialback_keys(self) -> dialback.DialbackKeys:
        """
        The hub's dialback key generator.
        """

    def verify_dialback(self, local: str, remote: str, stream_id: str, key: str) -> Deferred[bool]:
        """
        Ask C{remote}'s authoritative server whether C{key} is valid; fails
        with L{DeliveryFailed} if it cannot be reached.
        """

    def supports_dialback_errors(self, remote: str) -> bool:
        """
        Whether C{remote} advertised dialback C{<errors/>}.
        """

    def deliver(self, stanza: domish.Element, stream: InboundStream) -> Deferred[bool] | None:
        """
        Hand over a stanza that passed the checks.

        @return: Fires with C{True} once its handling is durable (C{False}:
            it could not be made so); L{None}: durable already. See
            L{nextplane.connectors.xmpp.inbound_acks.Intake}.
        """

    def bounce(self, stanza: domish.Element, condition: str, text: str, local: str) -> None:
        """
        Answer C{stanza} with a stanza error (over an outbound stream),
        from C{local} if its C{to} is unusable.
        """

    def inbound_lost(self, stream: InboundStream) -> None:
        """
        An inbound stream's connection is gone.
        """


class InboundState(enum.Enum):
    """
    Where an L{InboundStream} is in its negotiation.
    """

    AWAIT_HEADER = "await-header"
    AWAIT_STARTTLS = "await-starttls"
    NEGOTIATING = "negotiating"
    OPEN = "open"
    CLOSED = "closed"


class StanzaRejected(Exception):
    """
    A stanza is refused with a stanza error; the stream stays up.
    """

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(condition, text)
        self.condition = condition
        self.text = text


def check_stanza_addressing(
    stanza: domish.Element, pairs: set[tuple[str, str]], serves: object
) -> tuple[str, str]:
    """
    Check a stanza's C{from} and C{to} against the authenticated domain
    pairs of a stream (RFC 6120 sections 4.9.3, 8.1.1.1, 8.1.2.1).

    @param pairs: Authenticated C{(remote domain, local domain)} pairs.
    @param serves: A callable telling whether a domain is ours.
    @return: C{(remote domain, local domain)}.
    @raise StreamError: C{improper-addressing} (missing C{from}/C{to}),
        C{invalid-from} (malformed or unauthenticated sender domain),
        C{host-unknown} (not our domain), C{not-authorized} (sender
        authenticated, but not towards that local domain).
    @raise StanzaRejected: C{jid-malformed} for a malformed C{to}.
    """
    raw_from = stanza.getAttribute("from")
    raw_to = stanza.getAttribute("to")
    if not raw_from or not raw_to:
        raise StreamError("improper-addressing", "stanzas between servers need 'from' and 'to'")
    try:
        remote = jid_domain(raw_from)
    except ValueError:
        raise StreamError("invalid-from", "malformed 'from' address") from None
    try:
        local = jid_domain(raw_to)
    except ValueError:
        raise StanzaRejected("jid-malformed", "malformed 'to' address") from None
    if not callable(serves) or not serves(local):
        raise StreamError("host-unknown", f"{local} is not served here")
    if (remote, local) in pairs:
        return remote, local
    if any(r == remote for r, _ in pairs):
        raise StreamError("not-authorized", f"{remote} is not authenticated towards {local}")
    raise StreamError("invalid-from", f"{remote} is not authenticated on this stream")


def decode_external_authzid(text: str) -> str | None:
    """
    Decode the initial response of SASL EXTERNAL (RFC 6120 section 6.4.2,
    XEP-0178): empty or C{=} means "no authorization identity".

    @raise ValueError: Not base64 or not UTF-8.
    """
    text = text.strip()
    if text in ("", "="):
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8") or None
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError("incorrect-encoding") from e


def _sasl(name: str, condition: str | None = None) -> domish.Element:
    element = domish.Element((NS_SASL, name))
    if condition:
        element.addElement((NS_SASL, condition))
    return element


class InboundStream(BaseStream):
    """
    One stream a peer opened to the hub.

    @ivar state: The L{InboundState}.
    @ivar local_domain: Our domain the peer addressed.
    @ivar remote_domain: The C{from} of the peer's header, if any.
    @ivar stream_id: The id of our current response header.
    @ivar certificate: The peer's certificate check (after TLS).
    @ivar authenticated_pairs: C{(remote, local)} pairs allowed to send.
    @ivar sasl_domain: The domain authenticated by SASL EXTERNAL.
    @ivar sm: Stream management (XEP-0198) as the receiving side.
    """

    def __init__(
        self, host: InboundHost, direct_tls: bool = False, refusal: StreamError | None = None
    ) -> None:
        """
        @param host: The owning service.
        @param direct_tls: TLS starts with the connection (XEP-0368); the
            certificate is chosen by SNI.
        @param refusal: End the stream with this error as soon as it is
            connected (a connection over a limit).
        """
        super().__init__(host.clock, host.limits)
        self.host = host
        self.direct_tls = direct_tls
        self.state = InboundState.AWAIT_HEADER
        self.local_domain: str | None = None
        self.remote_domain: str | None = None
        self.stream_id: str | None = None
        self.certificate: CertificateCheck | None = None
        self.authenticated_pairs: set[tuple[str, str]] = set()
        self.sasl_domain: str | None = None
        self._offered_external = False
        self._auth_attempts = 0
        self._pending: set[tuple[str, str]] = set()
        self._requested_local: str | None = None
        self._refusal = refusal
        self.sm = InboundStreamManagement(self.send_element, self.stream_error, self.__repr__)

    def __repr__(self) -> str:
        return (
            f"<InboundStream {self.remote_domain or '?'}->{self.local_domain or '?'}"
            f" {self.state.value}>"
        )

    # BaseStream hooks

    def stream_connected(self) -> None:
        if self.direct_tls:
            self.start_tls(self.host.server_tls(None))
        if self._refusal is not None:
            self.stream_error(self._refusal)
            return
        self._schedule_idle_check()

    def _schedule_idle_check(self) -> None:
        self.set_timer("idle", self.limits.idle_timeout, self._idle_check)

    def _idle_check(self) -> None:
        idle = self.clock.seconds() - self.last_activity
        if idle >= self.limits.idle_timeout:
            self.close()
        else:
            self.set_timer("idle", self.limits.idle_timeout - idle, self._idle_check)

    def error_header(self) -> bytes:
        local = self._requested_local
        if local is None or not self.host.serves(local):
            local = self.host.default_domain()
        return format_stream_header(local, self.remote_domain, new_stream_id())

    def stream_lost(self, reason: Failure | None) -> None:
        self.state = InboundState.CLOSED
        self._pending.clear()
        self.sm.lost()
        self.host.inbound_lost(self)

    # A last <a/> before any close: the peer bounces only what is not safe.

    def close(self) -> None:
        self.sm.closing()
        super().close()

    def stream_error(self, error: StreamError) -> None:
        self.sm.closing()
        super().stream_error(error)

    def peer_closed(self) -> None:
        self.sm.closing()

    def negotiation_timed_out(self) -> None:
        if not self.authenticated_pairs:
            super().negotiation_timed_out()

    def tls_handshake_done(self) -> None:
        leaf, chain = peer_certificates(self.transport)
        self.certificate = self.host.check_certificate(leaf, chain)

    def header_received(self, root: domish.Element) -> None:
        self._requested_local = None
        try:
            header = parse_stream_header(root)
        finally:
            raw_to = root.getAttribute("to")
            if raw_to:
                self._requested_local = raw_to.lower()
        if header.to is None:
            raise StreamError("improper-addressing", "the stream header needs a 'to'")
        if not self.host.serves(header.to):
            raise StreamError("host-unknown", f"{header.to} is not served here")
        if self.local_domain is not None and header.to != self.local_domain:
            raise StreamError("host-unknown", "'to' changed on stream restart")
        self.local_domain = header.to
        if header.from_ is not None:
            if self.sasl_domain is not None and header.from_ != self.sasl_domain:
                raise StreamError("invalid-from", "'from' differs from the authenticated domain")
            self.remote_domain = header.from_
            reason = self.host.refusal_reason(header.to, header.from_)
            if reason is not None:
                raise StreamError("policy-violation", reason)
        if header.version is None or header.version < (1, 0):
            raise StreamError("unsupported-version", "XMPP 1.0 with STARTTLS is required")
        self.stream_id = new_stream_id()
        self.send_header(self.local_domain, header.raw_from, self.stream_id)
        if self.tls_active and self.certificate is None:
            self.tls_handshake_done()
        self.send_element(self._features())

    def _features(self) -> domish.Element:
        features = domish.Element((NS_STREAMS, "features"))
        if not self.tls_active:
            starttls = features.addElement((NS_TLS, "starttls"))
            starttls.addElement((NS_TLS, "required"))
            self.state = InboundState.AWAIT_STARTTLS
            return features
        self._offered_external = False
        remote = self.remote_domain
        if self.sasl_domain is None and remote is not None and self.certificate is not None:
            if self.certificate.valid_for(remote):
                mechanisms = features.addElement((NS_SASL, "mechanisms"))
                mechanisms.addElement((NS_SASL, "mechanism"), content="EXTERNAL")
                self._offered_external = True
        if remote is None or not self.host.requires_certificate(remote):
            features.addChild(dialback.dialback_feature(errors=True))
        if self.authenticated_pairs:
            # Only authenticated streams (after SASL EXTERNAL's restart).
            features.addChild(acks.feature())
        self.state = InboundState.OPEN if self.authenticated_pairs else InboundState.NEGOTIATING
        return features

    def element_received(self, element: domish.Element) -> None:
        uri, name = element.uri, element.name
        if uri == NS_STREAMS and name == "error":
            self._on_peer_error(element)
            return
        if uri == NS_TLS and name == "starttls":
            self._on_starttls()
            return
        if not self.tls_active:
            if uri == NS_SERVER and name in STANZA_NAMES:
                raise StreamError("not-authorized", "STARTTLS and authentication first")
            raise StreamError("policy-violation", "STARTTLS is required")
        if uri == NS_SASL:
            self._on_sasl(element)
        elif uri == NS_DIALBACK and name == "result":
            self._on_db_result(element)
        elif uri == NS_DIALBACK and name == "verify":
            self._on_db_verify(element)
        elif uri == NS_SERVER and name in STANZA_NAMES:
            self._on_stanza(element)
        elif uri == acks.NS_SM:
            self.sm.element_received(element, bool(self.authenticated_pairs))
        elif uri == NS_CLIENT:
            raise StreamError("invalid-namespace", "jabber:client on a server stream")
        else:
            raise StreamError("unsupported-stanza-type", f"unexpected <{name}/>")

    def _on_peer_error(self, element: domish.Element) -> None:
        # RFC 6120 section 4.9.1.1: the peer ends the stream (e.g. Prosody's
        # system-shutdown when it stops); close ours, never answer with a
        # stream error of our own.
        error = StreamError.from_element(element)
        self.error = error
        self.log.info(
            "s2s stream {stream} closed by the peer: {error}", stream=self, error=str(error)
        )
        self.parser.stop()
        self.close()
        self.drop_connection()

    # STARTTLS (RFC 6120 section 5)

    def _on_starttls(self) -> None:
        if self.tls_active or self.state is not InboundState.AWAIT_STARTTLS:
            self.send_element(domish.Element((NS_TLS, "failure")))
            self.close()
            return
        assert self.local_domain is not None
        self.send_element(domish.Element((NS_TLS, "proceed")))
        self.start_tls(self.host.server_tls(self.local_domain))
        self.restart_stream()
        self.state = InboundState.AWAIT_HEADER

    # SASL EXTERNAL (RFC 6120 section 6, XEP-0178)

    def _on_sasl(self, element: domish.Element) -> None:
        if element.name == "abort":
            self.send_element(_sasl("failure", "aborted"))
            return
        if element.name != "auth":
            raise StreamError("unsupported-stanza-type", f"unexpected SASL <{element.name}/>")
        self._auth_attempts += 1
        if self._auth_attempts > MAX_AUTH_ATTEMPTS:
            raise StreamError("policy-violation", "too many authentication attempts")
        if (
            not self._offered_external
            or self.state is not InboundState.NEGOTIATING
            or element.getAttribute("mechanism") != "EXTERNAL"
        ):
            self.send_element(_sasl("failure", "invalid-mechanism"))
            return
        identity = self.remote_domain
        assert identity is not None and self.local_domain is not None
        try:
            authzid = decode_external_authzid(str(element))
        except ValueError:
            self.send_element(_sasl("failure", "incorrect-encoding"))
            return
        if authzid is not None and authzid.rstrip(".").lower() != identity:
            self.send_element(_sasl("failure", "invalid-authzid"))
            return
        if self.certificate is None or not self.certificate.valid_for(identity):
            self.send_element(_sasl("failure", "not-authorized"))
            return
        self.log.info(
            "Accepted SASL EXTERNAL from {remote} to {local}",
            remote=identity,
            local=self.local_domain,
        )
        self.send_element(_sasl("success"))
        self.sasl_domain = identity
        self._authenticate(identity, self.local_domain)
        self.restart_stream()
        self.state = InboundState.AWAIT_HEADER

    def _authenticate(self, remote: str, local: str) -> None:
        self.authenticated_pairs.add((remote, local))
        self.parser.max_stanza_size = self.limits.max_stanza_size
        self.cancel_timer("negotiation")
        if self.state is InboundState.NEGOTIATING:
            self.state = InboundState.OPEN

    # Dialback, receiving server role (XEP-0220 section 2.2)

    def _refuse(
        self, request: dialback.DialbackRequest, condition: str, stream_condition: str, text: str
    ) -> None:
        if self.host.supports_dialback_errors(request.sender):
            self.send_element(
                dialback.build_answer(
                    "result", request.raw_target, request.raw_sender, "error", condition=condition
                )
            )
            return
        raise StreamError(stream_condition, text)

    def _on_db_result(self, element: domish.Element) -> None:
        if element.getAttribute("type"):
            # An answer to a db:result we never sent on this stream.
            return
        request = dialback.parse_request(element)
        remote, local = request.sender, request.target
        if not self.host.serves(local):
            self._refuse(request, "item-not-found", "host-unknown", f"{local} is not served here")
            return
        reason = self.host.refusal_reason(local, remote)
        if reason is not None:
            raise StreamError("policy-violation", reason)
        if self.host.requires_certificate(remote) and not (
            self.certificate is not None and self.certificate.valid_for(remote)
        ):
            self._refuse(
                request,
                "not-authorized",
                "not-authorized",
                f"{remote} must authenticate with a trusted certificate",
            )
            return
        pair = (remote, local)
        if pair in self.authenticated_pairs:
            self._send_result(request, "valid")
            return
        if pair in self._pending:
            return
        if self.certificate is not None and self.certificate.valid_for(remote):
            # XEP-0344 section 2.4: the certificate already proves the sender.
            self._accept_dialback(request)
            return
        if len(self._pending) >= MAX_PENDING_DIALBACK:
            self._refuse(request, "resource-constraint", "policy-violation", "too many requests")
            return
        assert self.stream_id is not None
        self._pending.add(pair)
        d = self.host.verify_dialback(local, remote, self.stream_id, request.key)
        d.addCallbacks(
            lambda valid: self._dialback_verified(request, valid),
            lambda failure: self._dialback_failed(request, failure),
        )
        d.addErrback(lambda f: self.log.failure("Dialback completion failed", f))

    def _send_result(self, request: dialback.DialbackRequest, type_: str) -> None:
        self.send_element(
            dialback.build_answer("result", request.raw_target, request.raw_sender, type_)
        )

    def _accept_dialback(self, request: dialback.DialbackRequest) -> None:
        self.log.info(
            "Accepted dialback from {remote} to {local}",
            remote=request.sender,
            local=request.target,
        )
        self._authenticate(request.sender, request.target)
        self._send_result(request, "valid")

    def _dialback_verified(self, request: dialback.DialbackRequest, valid: bool) -> None:
        self._pending.discard((request.sender, request.target))
        if self.closing or self.disconnected:
            return
        if valid:
            self._accept_dialback(request)
            return
        self.log.info(
            "Refused dialback from {remote} to {local}: invalid key",
            remote=request.sender,
            local=request.target,
        )
        self._send_result(request, "invalid")
        # XEP-0220 section 2.2.2: the receiving server MUST close the stream.
        self.close()

    def _dialback_failed(self, request: dialback.DialbackRequest, failure: Failure) -> None:
        self._pending.discard((request.sender, request.target))
        if self.closing or self.disconnected:
            return
        condition = "remote-connection-failed"
        if isinstance(failure.value, DeliveryFailed) and failure.value.condition in (
            "remote-server-not-found",
            "remote-server-timeout",
        ):
            condition = failure.value.condition
        self.log.info(
            "Could not verify dialback from {remote}: {error}",
            remote=request.sender,
            error=failure.getErrorMessage(),
        )
        self._guard(
            self._refuse,
            request,
            condition,
            "remote-connection-failed",
            f"could not verify {request.sender} with its authoritative server",
        )

    # Dialback, authoritative server role (XEP-0220 section 2.3)

    def _on_db_verify(self, element: domish.Element) -> None:
        if element.getAttribute("type"):
            return
        request = dialback.parse_request(element)
        self.send_element(
            dialback.authoritative_answer(
                request,
                self.host.serves(request.target),
                self.host.supports_dialback_errors(request.sender),
                self.host.dialback_keys(),
            )
        )

    # Stanzas (RFC 6120 section 8)

    def _on_stanza(self, stanza: domish.Element) -> None:
        if not self.authenticated_pairs:
            raise StreamError("not-authorized", "the stream is not authenticated")
        try:
            check_stanza_addressing(stanza, self.authenticated_pairs, self.host.serves)
        except StanzaRejected as rejected:
            assert self.local_domain is not None
            self.host.bounce(stanza, rejected.condition, rejected.text, self.local_domain)
            self.sm.track(None)  # answered
            return
        durable = None
        try:
            durable = self.host.deliver(stanza, self)
        except Exception:
            self.log.failure("Stanza handler failed; stream kept open")
        self.sm.track(durable)
