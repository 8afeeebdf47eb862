# -*- test-case-name: tests.xmpp.test_s2s -*-
"""
The initiating side of server-to-server streams (RFC 6120, XEP-0178,
XEP-0220, XEP-0368).

State machine of one L{OutboundStream} (L{OutboundState})::

    (connect) --> send header ------------------> AWAIT_HEADER
    AWAIT_HEADER --header (version 1.0, id)-----> AWAIT_FEATURES
    AWAIT_FEATURES, no TLS --<starttls>---------> STARTTLS_SENT
    STARTTLS_SENT --<proceed/>--> TLS (SNI, client certificate), restart,
                                  send header --> AWAIT_HEADER
    AWAIT_FEATURES, TLS:
        server certificate must validate for the peer domain (chain +
        dNSName/SRV-ID/xmppAddr) unless the domain is marked insecure
        (verification streams tolerate it, see below);
        purpose VERIFY                           --> READY
        EXTERNAL offered and we have a cert     --> SASL_SENT
        else dialback allowed                   --> DIALBACK_SENT
    SASL_SENT --<success/>--> restart, header --> AWAIT_HEADER --features--> READY
                   (features offering XEP-0198 --<enable/>--> ENABLING_SM
                    --<enabled/> or <failed/>--> READY)
    SASL_SENT --<failure/>--> dialback (as ejabberd does)
    DIALBACK_SENT --<db:result type='valid'>--> READY

With XEP-0368 direct TLS, TLS starts right after the TCP connection.

A stream of purpose L{StreamPurpose.VERIFY} is the "receiving server asks
the authoritative server" connection of XEP-0220 section 2.1.2: it does
STARTTLS and then only carries C{db:verify}. Like classic dialback it
trusts DNS for the peer's identity, so an unverifiable server certificate
does not stop it (the dialback key check is the proof).

Negotiation failures fail L{OutboundStream.when_ready} with
L{nextplane.interfaces.DeliveryFailed} C{remote-server-timeout} (RFC 6120
section 8.3.3.17, XEP-0220 section 2.5).

With stream management enabled (L{nextplane.connectors.xmpp.acks}), a
stanza counts as sent once the peer acknowledged it, and those still
unconfirmed when the stream ends (or after C{ack_timeout} without an
answer, when the stream is dropped) fail with C{remote-server-timeout}.
"""

from __future__ import annotations

import base64
import enum
from typing import Protocol

from cryptography import x509
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IReactorTime
from twisted.python.failure import Failure
from twisted.words.xish import domish

from nextplane.connectors.xmpp import acks, dialback
from nextplane.connectors.xmpp.stream import (
    NS_DIALBACK,
    NS_SASL,
    NS_STREAMS,
    NS_TLS,
    BaseStream,
    StreamError,
    StreamLimits,
    parse_stream_header,
)
from nextplane.connectors.xmpp.tls import CertificateCheck, peer_certificates
from nextplane.interfaces import DeliveryFailed

__all__ = [
    "OutboundHost",
    "OutboundState",
    "OutboundStream",
    "StreamPurpose",
    "encode_external_authzid",
]


class StreamPurpose(enum.Enum):
    """
    Why an outbound stream is opened.
    """

    DELIVER = "deliver"
    VERIFY = "verify"


class OutboundState(enum.Enum):
    """
    Where an L{OutboundStream} is in its negotiation.
    """

    CONNECTING = "connecting"
    AWAIT_HEADER = "await-header"
    AWAIT_FEATURES = "await-features"
    STARTTLS_SENT = "starttls-sent"
    SASL_SENT = "sasl-sent"
    DIALBACK_SENT = "dialback-sent"
    ENABLING_SM = "enabling-sm"
    READY = "ready"
    CLOSED = "closed"


class OutboundHost(Protocol):
    """
    What an L{OutboundStream} needs from the service that owns it.
    """

    clock: IReactorTime
    limits: StreamLimits

    def client_tls(self, local: str, remote: str) -> IOpenSSLClientConnectionCreator:
        """
        The TLS connection creator for a stream from C{local} to C{remote}.
        """

    def check_certificate(
        self, leaf: x509.Certificate | None, chain: list[x509.Certificate]
    ) -> CertificateCheck:
        """
        Validate a peer's certificate chain.
        """

    def requires_certificate(self, remote: str) -> bool:
        """
        Whether certificates are required with C{remote} (no dialback).
        """

    def accepts_unverified_server(self, remote: str) -> bool:
        """
        Whether stanzas may go to C{remote} over TLS whose server
        certificate does not validate.
        """

    def has_client_certificate(self, local: str) -> bool:
        """
        Whether we can present a certificate for C{local}.
        """

    def dialback_keys(self) -> dialback.DialbackKeys:
        """
        The hub's dialback key generator.
        """

    def note_dialback_errors(self, remote: str, supported: bool) -> None:
        """
        Remember whether C{remote} advertised dialback C{<errors/>}.
        """


def encode_external_authzid(domain: str) -> str:
    """
    The SASL EXTERNAL initial response naming C{domain} as authorization
    identity (XEP-0178 section 3).
    """
    return base64.b64encode(domain.encode("utf-8")).decode("ascii")


def _child(element: domish.Element, uri: str, name: str) -> domish.Element | None:
    for child in element.elements(uri, name):
        return child
    return None


class OutboundStream(BaseStream):
    """
    One stream the hub opens to a remote server for one domain pair.

    @ivar local: Our domain (the stream's C{from}).
    @ivar remote: The peer's domain (C{to}).
    @ivar purpose: L{StreamPurpose}.
    @ivar direct_tls: TLS from the first byte (XEP-0368).
    @ivar state: The L{OutboundState}.
    @ivar peer_stream_id: The id from the peer's latest header.
    @ivar certificate: The server certificate check (after TLS).
    @ivar authentication: C{"EXTERNAL"} or C{"dialback"} once authenticated.
    @ivar acks: The stanzas awaiting the peer's acknowledgement, once
        stream management is enabled.
    """

    def __init__(
        self,
        host: OutboundHost,
        local: str,
        remote: str,
        purpose: StreamPurpose = StreamPurpose.DELIVER,
        direct_tls: bool = False,
    ) -> None:
        super().__init__(host.clock, host.limits)
        self.host = host
        self.local = local
        self.remote = remote
        self.purpose = purpose
        self.direct_tls = direct_tls
        self.state = OutboundState.CONNECTING
        self.peer_stream_id: str | None = None
        self.certificate: CertificateCheck | None = None
        self.authentication: str | None = None
        self._header_dialback = False
        self._dialback_offered = False
        self._ready_result: OutboundStream | DeliveryFailed | None = None
        self._ready_waiters: list[Deferred[OutboundStream]] = []
        self._verifies: dict[str, list[Deferred[bool]]] = {}
        self.acks: acks.AckQueue | None = None
        self._stanzas_received = 0

    def __repr__(self) -> str:
        return (
            f"<OutboundStream {self.local}->{self.remote} {self.purpose.value} {self.state.value}>"
        )

    # observers

    def when_ready(self) -> Deferred[OutboundStream]:
        """
        Fires with this stream once it is authenticated (or, for
        verification streams, once TLS is up), or fails with
        L{DeliveryFailed}.
        """
        result = self._ready_result
        if isinstance(result, DeliveryFailed):
            return fail(result)
        if result is not None:
            return succeed(result)
        d: Deferred[OutboundStream] = Deferred()
        self._ready_waiters.append(d)
        return d

    @property
    def is_ready(self) -> bool:
        """
        Whether stanzas (or verifications) can be sent now.
        """
        return self.state is OutboundState.READY and not (self.closing or self.disconnected)

    def _settle(self, result: OutboundStream | DeliveryFailed) -> None:
        if self._ready_result is not None:
            return
        self._ready_result = result
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            if isinstance(result, DeliveryFailed):
                d.errback(result)
            else:
                d.callback(result)

    def _fail(self, condition: str, text: str) -> None:
        if self._ready_result is None:
            self.log.info(
                "s2s {local}->{remote} failed: {text}",
                local=self.local,
                remote=self.remote,
                text=text,
            )
        self._settle(DeliveryFailed(condition, text))

    def _give_up(self, text: str, stream_condition: str | None = None) -> None:
        self._fail("remote-server-timeout", text)
        if stream_condition is not None:
            self.stream_error(StreamError(stream_condition, text))
        else:
            self.close()

    # BaseStream hooks

    def stream_connected(self) -> None:
        self.state = OutboundState.AWAIT_HEADER
        if self.direct_tls:
            self.start_tls(self.host.client_tls(self.local, self.remote))
        self.send_header(self.local, self.remote, None)

    def stream_failed(self, error: StreamError) -> None:
        self._fail("remote-server-timeout", f"stream closed: {error}")

    def negotiation_timed_out(self) -> None:
        if self._ready_result is None:
            self._fail("remote-server-timeout", f"negotiation with {self.remote} timed out")
            super().negotiation_timed_out()

    def stream_lost(self, reason: Failure | None) -> None:
        self.state = OutboundState.CLOSED
        self._fail(
            "remote-server-timeout", f"connection to {self.remote} closed during negotiation"
        )
        if self.acks is not None:
            self.acks.fail(
                DeliveryFailed(
                    "remote-server-timeout",
                    f"the connection to {self.remote} ended before {self.remote} confirmed "
                    "the message; it may not have arrived",
                )
            )
        verifies, self._verifies = self._verifies, {}
        for waiters in verifies.values():
            for d in waiters:
                d.errback(DeliveryFailed("remote-server-timeout", "connection closed"))

    def tls_handshake_done(self) -> None:
        leaf, chain = peer_certificates(self.transport)
        self.certificate = self.host.check_certificate(leaf, chain)

    def header_received(self, root: domish.Element) -> None:
        header = parse_stream_header(root)
        if header.version is None or header.version < (1, 0):
            self._fail("remote-server-timeout", f"{self.remote} does not support XMPP 1.0")
            raise StreamError("unsupported-version", "XMPP 1.0 with STARTTLS is required")
        self.peer_stream_id = header.id
        self._header_dialback = header.dialback
        self.state = OutboundState.AWAIT_FEATURES

    def element_received(self, element: domish.Element) -> None:
        uri, name = element.uri, element.name
        if uri == NS_STREAMS and name == "features":
            self._on_features(element)
        elif uri == NS_STREAMS and name == "error":
            self._on_peer_error(element)
        elif uri == NS_TLS:
            self._on_tls(element)
        elif uri == NS_SASL:
            self._on_sasl(element)
        elif uri == NS_DIALBACK and element.getAttribute("type"):
            answer = dialback.parse_answer(element)
            if name == "result":
                self._on_result_answer(answer)
            else:
                self._on_verify_answer(answer)
        elif uri == acks.NS_SM:
            self._on_sm(element)
        else:
            # Stanzas or requests on a stream we initiated: not without
            # XEP-0288 bidi, which we never negotiate. Ignore (but count
            # them, should the peer ask how many we handled).
            self._stanzas_received += 1
            self.log.debug("Ignoring <{name}/> on outbound stream", name=name)

    def element_while_closing(self, element: domish.Element) -> None:
        # The peer's last acknowledgements still confirm what it handled.
        if element.uri == acks.NS_SM and element.name == "a":
            self._on_sm(element)

    # negotiation

    def _on_features(self, features: domish.Element) -> None:
        if self.state is not OutboundState.AWAIT_FEATURES:
            return
        if not self.tls_active:
            if _child(features, NS_TLS, "starttls") is None:
                self._give_up(f"{self.remote} does not offer STARTTLS", "policy-violation")
                return
            self.send_element(domish.Element((NS_TLS, "starttls")))
            self.state = OutboundState.STARTTLS_SENT
            return
        if self.certificate is None:
            self.tls_handshake_done()
        assert self.certificate is not None
        errors = dialback.feature_errors_support(features)
        self._dialback_offered = errors is not None or self._header_dialback
        if errors is not None:
            self.host.note_dialback_errors(self.remote, errors)
        if self.authentication is not None:
            if self.purpose is StreamPurpose.DELIVER and acks.offered(features):
                self.send_element(acks.enable())
                self.state = OutboundState.ENABLING_SM
                return
            self._become_ready()
            return
        problem = self.certificate.problem_for(self.remote)
        if (
            problem is not None
            and self.purpose is StreamPurpose.DELIVER
            and not self.host.accepts_unverified_server(self.remote)
        ):
            self._give_up(f"{self.remote}: {problem}", "not-authorized")
            return
        if self.purpose is StreamPurpose.VERIFY:
            self._become_ready()
            return
        mechanisms = _child(features, NS_SASL, "mechanisms")
        offered = set()
        if mechanisms is not None:
            offered = {str(m).strip().upper() for m in mechanisms.elements(NS_SASL, "mechanism")}
        if "EXTERNAL" in offered and self.host.has_client_certificate(self.local):
            auth = domish.Element((NS_SASL, "auth"))
            auth["mechanism"] = "EXTERNAL"
            auth.addContent(encode_external_authzid(self.local))
            self.send_element(auth)
            self.state = OutboundState.SASL_SENT
            return
        self._start_dialback()

    def _start_dialback(self) -> None:
        if self.host.requires_certificate(self.remote):
            self._give_up(
                f"certificate authentication with {self.remote} failed and dialback is disabled"
            )
            return
        if not self._dialback_offered:
            self._give_up(f"{self.remote} offers neither SASL EXTERNAL nor dialback")
            return
        if not self.peer_stream_id:
            self._give_up(f"{self.remote} sent no stream id, dialback impossible")
            return
        key = self.host.dialback_keys().key(self.remote, self.local, self.peer_stream_id)
        self.send_element(dialback.build_request("result", self.local, self.remote, key))
        self.state = OutboundState.DIALBACK_SENT

    def _on_tls(self, element: domish.Element) -> None:
        if self.state is not OutboundState.STARTTLS_SENT:
            raise StreamError("unsupported-stanza-type", "unexpected TLS element")
        if element.name != "proceed":
            self._fail("remote-server-timeout", f"{self.remote} refused STARTTLS")
            self.drop_connection()
            return
        self.start_tls(self.host.client_tls(self.local, self.remote))
        self.restart_stream()
        self.send_header(self.local, self.remote, None)
        self.state = OutboundState.AWAIT_HEADER

    def _on_sasl(self, element: domish.Element) -> None:
        if self.state is not OutboundState.SASL_SENT:
            raise StreamError("unsupported-stanza-type", "unexpected SASL element")
        if element.name == "success":
            self.authentication = "EXTERNAL"
            self.log.info(
                "Authenticated {local}->{remote} with SASL EXTERNAL",
                local=self.local,
                remote=self.remote,
            )
            self.restart_stream()
            self.send_header(self.local, self.remote, None)
            self.state = OutboundState.AWAIT_HEADER
        elif element.name == "failure":
            self._start_dialback()
        else:
            raise StreamError("unsupported-stanza-type", f"unexpected SASL <{element.name}/>")

    def _on_result_answer(self, answer: dialback.DialbackAnswer) -> None:
        if (
            self.state is not OutboundState.DIALBACK_SENT
            or answer.sender != self.remote
            or answer.target != self.local
        ):
            return
        if answer.type == "valid":
            self.authentication = "dialback"
            self.log.info(
                "Authenticated {local}->{remote} with dialback",
                local=self.local,
                remote=self.remote,
            )
            self._become_ready()
        elif answer.type == "invalid":
            self._give_up(f"{self.remote} refused our dialback key")
        else:
            self._give_up(f"{self.remote} answered dialback with error {answer.condition}")

    def _on_verify_answer(self, answer: dialback.DialbackAnswer) -> None:
        if answer.stream_id is None or answer.sender != self.remote or answer.target != self.local:
            return
        waiters = self._verifies.get(answer.stream_id)
        if not waiters:
            return
        d = waiters.pop(0)
        if not waiters:
            del self._verifies[answer.stream_id]
            self.cancel_timer(f"verify:{answer.stream_id}")
        if answer.type == "error":
            d.errback(DeliveryFailed(answer.condition or "undefined-condition", "db:verify error"))
        else:
            d.callback(answer.type == "valid")

    def _on_sm(self, element: domish.Element) -> None:
        name = element.name
        if self.state is OutboundState.ENABLING_SM and name in ("enabled", "failed"):
            if name == "enabled":
                self.acks = acks.AckQueue()
            self.log.info(
                "Stream management with {remote}: {result}",
                remote=self.remote,
                result="stanzas are sent once acknowledged" if self.acks else "refused",
            )
            self._become_ready()
        elif name == "a" and self.acks is not None:
            try:
                self.acks.acknowledge(acks.parse_h(element))
            except ValueError as e:
                raise StreamError("undefined-condition", f"stream management: {e}") from None
            self.cancel_timer("ack")
            self._request_ack()
        elif name == "r" and self.acks is not None:
            self.send_element(acks.answer(self._stanzas_received))

    def _request_ack(self) -> None:
        if self.acks is not None and self.acks.request_due():
            self.send_element(acks.request())
            self.set_timer("ack", self.limits.ack_timeout, self._ack_timed_out)

    def _ack_timed_out(self) -> None:
        self.log.info(
            "s2s {local}->{remote}: no acknowledgement within {seconds:g} s; dropping the stream",
            local=self.local,
            remote=self.remote,
            seconds=self.limits.ack_timeout,
        )
        self.drop_connection()

    def _on_peer_error(self, element: domish.Element) -> None:
        error = StreamError.from_element(element)
        self.error = error
        self._fail("remote-server-timeout", f"{self.remote} closed the stream: {error}")
        self.parser.stop()
        self.close()
        self.drop_connection()

    def _become_ready(self) -> None:
        self.state = OutboundState.READY
        self.cancel_timer("negotiation")
        self.parser.max_stanza_size = self.limits.max_stanza_size
        self._settle(self)

    # use

    def send_stanza(self, stanza: domish.Element) -> Deferred[None]:
        """
        Send a stanza over this authenticated stream.

        @return: Fires once the peer acknowledged it (at once without
            stream management); fails with L{DeliveryFailed} when the
            stream ends first.
        @raise DeliveryFailed: The stream is not (or no longer) usable.
        """
        if not self.is_ready or self.purpose is not StreamPurpose.DELIVER:
            raise DeliveryFailed("remote-server-timeout", f"stream to {self.remote} is not usable")
        self.send_element(stanza)
        if self.acks is None:
            return succeed(None)
        confirmed = self.acks.sent()
        self._request_ack()
        return confirmed

    def verify(self, stream_id: str, key: str) -> Deferred[bool]:
        """
        Ask the peer, as authoritative server, whether C{key} is valid for
        C{stream_id} (XEP-0220 section 2.1.2 step 3).

        @return: Fires with the answer, or fails with L{DeliveryFailed}.
        """
        if not self.is_ready:
            return fail(DeliveryFailed("remote-server-timeout", "stream not usable"))
        d: Deferred[bool] = Deferred()
        self._verifies.setdefault(stream_id, []).append(d)
        self.send_element(dialback.build_request("verify", self.local, self.remote, key, stream_id))
        self.set_timer(
            f"verify:{stream_id}",
            self.limits.verify_timeout,
            lambda: self._verify_timed_out(stream_id),
        )
        return d

    def _verify_timed_out(self, stream_id: str) -> None:
        for d in self._verifies.pop(stream_id, []):
            d.errback(DeliveryFailed("remote-server-timeout", "no db:verify answer"))
