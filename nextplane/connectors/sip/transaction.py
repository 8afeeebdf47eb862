# -*- test-case-name: tests.sip.test_transaction -*-
"""
SIP transactions over reliable transports (RFC 3261 section 17, with the
RFC 6026 corrections for 2xx responses to INVITE; CANCEL per section 9).

The hub speaks SIP only over TLS (and TCP from trusted relays), so every
transaction here assumes a reliable transport: requests and responses are
never retransmitted by the transaction layer (Timers A, E and G do not
run) and the "wait for retransmissions" timers D, I, J and K are zero.
What remains:

  - INVITE client (17.1.1): C{CALLING} -1xx-> C{PROCEEDING}; a 300-699
    final is ACKed by the transaction (17.1.1.3) and ends it; a 2xx moves
    it to C{ACCEPTED} (RFC 6026), where further 2xx responses (retransmitted
    by the peer until it sees our ACK, or from forks) are passed to the TU,
    which ACKs each, until Timer M. Timer B (64*T1) runs only in
    C{CALLING}.
  - non-INVITE client (17.1.2): C{TRYING} -1xx-> C{PROCEEDING} -final->
    done; Timer F (64*T1) in both states.
  - INVITE server (17.2.1): C{PROCEEDING} (a 100 Trying goes out after
    200 ms unless the TU answered), a 300-699 final moves to
    C{COMPLETED} until the ACK (Timer H, 64*T1), a 2xx moves to
    C{ACCEPTED} (RFC 6026, Timer L). In C{ACCEPTED} the 2xx is
    retransmitted on T1, 2*T1, ... T2 until the ACK arrives (the UAS core
    duty of section 13.3.1.4, which applies over TLS too); if none arrives
    the TU is told so it can send BYE.
  - non-INVITE server (17.2.2): C{TRYING} -1xx-> C{PROCEEDING} -final->
    done.

Matching (17.1.3, 17.2.3): responses by the top Via C{branch} and the
CSeq method; requests by C{branch}, the top Via sent-by and the method
(an ACK matches the INVITE it acknowledges; a CANCEL has its own
transaction). The pre-RFC 3261 matching rules are not implemented: a
request without a branch is answered C{400}.

CANCEL (section 9): L{TransactionLayer.cancel} sends one only after a
provisional response (9.1); an incoming CANCEL is answered here: C{481}
if it matches no transaction, C{200} otherwise, and an INVITE still
proceeding is answered C{487} and reported to the TU.

The layer talks to connections through L{Flow} and to its user (the
dialog/connector core) through L{TransactionUser}. Time comes from an
injected L{IReactorTime}; nothing here touches the reactor or a socket.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable, Sequence
from typing import Protocol

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from .message import Headers, Message, Request, Response, Via, make_response
from .uri import SipSyntaxError

__all__ = [
    "MAGIC_COOKIE",
    "ClientTransaction",
    "Flow",
    "ServerTransaction",
    "Timers",
    "TransactionError",
    "TransactionLayer",
    "TransactionState",
    "TransactionTimeout",
    "TransactionUser",
    "TransportError",
    "new_branch",
    "new_tag",
]

#: Branch prefix of RFC 3261 transactions (section 8.1.1.7).
MAGIC_COOKIE = "z9hG4bK"

_log = Logger(namespace="nextplane.sip.transaction")


def new_branch() -> str:
    """
    A fresh, unguessable Via branch with the RFC 3261 magic cookie.
    """
    return MAGIC_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    """
    A fresh From/To tag (RFC 3261 section 19.3: at least 32 random bits).
    """
    return secrets.token_hex(8)


class TransactionError(Exception):
    """
    A transaction ended without a final response.
    """


class TransactionTimeout(TransactionError):
    """
    Timer B, F, H or L fired (no response, or no ACK).
    """


class TransportError(TransactionError):
    """
    The connection could not carry a message, or closed.
    """


class TransactionState(enum.Enum):
    """
    Transaction states (RFC 3261 section 17, RFC 6026).
    """

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


@frozen
class Timers:
    """
    Timer values in seconds (RFC 3261 section 17.1.1.1, table 4).

    @ivar t1: RTT estimate, 0.5 s.
    @ivar t2: Maximum retransmit interval for 2xx to INVITE, 4 s.
    @ivar trying_delay: How long an INVITE server transaction waits for the
        TU before sending 100 Trying (17.2.1).
    @ivar invite_server_limit: How long an INVITE may stay unanswered
        before the transaction answers 408 itself (a safety net like a
        proxy's Timer C).
    """

    t1: float = 0.5
    t2: float = 4.0
    trying_delay: float = 0.2
    invite_server_limit: float = 180.0

    @property
    def timeout(self) -> float:
        """
        64*T1: Timers B, F, H, L and M.
        """
        return 64 * self.t1


class Flow(Protocol):
    """
    A connection as the transaction layer sees it (implemented by
    L{nextplane.connectors.sip.transport.SipConnection}).
    """

    def send(self, message: Message) -> None:
        """
        Serialize and write C{message}.

        @raise TransportError: The connection is closed.
        """

    def via(self, branch: str) -> Via:
        """
        The Via this side inserts on requests sent over this connection,
        with C{branch}.
        """


class TransactionUser(Protocol):
    """
    What the transaction layer reports to (RFC 3261's "TU": the dialog
    layer and connector core).
    """

    def request_received(self, transaction: ServerTransaction) -> None:
        """
        A new request (not ACK, not CANCEL) arrived; answer it with
        L{ServerTransaction.reply} or L{ServerTransaction.respond}.
        """

    def ack_received(self, ack: Request, flow: Flow) -> None:
        """
        An ACK for a 2xx arrived (it is not part of any transaction).
        """

    def stray_response(self, response: Response, flow: Flow) -> None:
        """
        A response matched no client transaction (e.g. a 2xx
        retransmitted after Timer M).
        """

    def cancelled(self, transaction: ServerTransaction) -> None:
        """
        The peer cancelled an INVITE; it has been answered 487 already.
        """

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        """
        A server transaction failed: no ACK for a final response to
        INVITE (for a 2xx the TU should now send BYE, 13.3.1.4), a
        transport error, or the TU never answered.
        """


class _Timer:
    """
    One restartable timer on the injected clock.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._call: IDelayedCall | None = None

    def start(self, delay: float, function: Callable[[], None]) -> None:
        self.stop()
        self._call = self._clock.callLater(delay, self._fire, function)

    def _fire(self, function: Callable[[], None]) -> None:
        self._call = None
        function()

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    @property
    def running(self) -> bool:
        return self._call is not None


def build_ack_for_error(request: Request, response: Response) -> Request:
    """
    The ACK an INVITE client transaction sends for a 300-699 response
    (RFC 3261 section 17.1.1.3): Request-URI, Call-ID, From and Route of
    the INVITE, its top Via only, To of the response, CSeq number with
    method ACK.
    """
    headers: list[tuple[str, str]] = []
    via = request.headers.get("Via")
    if via is not None:
        headers.append(("Via", via))
    headers.extend(("Route", r) for r in request.headers.get_all("Route"))
    headers.append(("Max-Forwards", "70"))
    for name, source in (("From", request), ("To", response), ("Call-ID", request)):
        value = source.headers.get(name)
        if value is not None:
            headers.append((name, value))
    headers.append(("CSeq", f"{request.cseq.number} ACK"))
    return Request("ACK", request.uri, Headers(headers))


def build_cancel(request: Request, reason: str | None = None) -> Request:
    """
    The CANCEL for a request (RFC 3261 section 9.1): same Request-URI,
    Call-ID, From, To, Route and top Via (so the same branch), CSeq number
    with method CANCEL.

    @param reason: A C{Reason} header value (RFC 3326), if any.
    """
    headers: list[tuple[str, str]] = []
    via = request.headers.get("Via")
    if via is not None:
        headers.append(("Via", via))
    headers.extend(("Route", r) for r in request.headers.get_all("Route"))
    headers.append(("Max-Forwards", "70"))
    for name in ("From", "To", "Call-ID"):
        value = request.headers.get(name)
        if value is not None:
            headers.append((name, value))
    headers.append(("CSeq", f"{request.cseq.number} CANCEL"))
    if reason is not None:
        headers.append(("Reason", reason))
    return Request("CANCEL", request.uri, Headers(headers))


class ClientTransaction:
    """
    An INVITE or non-INVITE client transaction; see the module docstring.

    @ivar request: The request as sent (with our Via).
    @ivar flow: The connection it went out on.
    @ivar state: The current L{TransactionState}.
    @ivar final: Fires with the first final response, or fails with
        L{TransactionTimeout} or L{TransportError}.
    @ivar on_response: Called with every provisional response and, for
        INVITE, with every further 2xx after the first (each needs an
        ACK from the TU).
    """

    def __init__(
        self,
        layer: TransactionLayer,
        request: Request,
        flow: Flow,
        on_response: Callable[[Response], None] | None,
    ) -> None:
        self.request = request
        self.flow = flow
        self.on_response = on_response
        self.final: Deferred[Response] = Deferred()
        self.is_invite = request.method == "INVITE"
        self.branch = request.top_via.branch or ""
        self.key = (self.branch, request.method)
        self.state = TransactionState.CALLING if self.is_invite else TransactionState.TRYING
        self._layer = layer
        self._timer = _Timer(layer.clock)
        self._cancel_pending: str | None = None
        self.cancel_transaction: ClientTransaction | None = None

    def _start(self) -> None:
        self._timer.start(self._layer.timers.timeout, self._timed_out)
        try:
            self.flow.send(self.request)
        except TransportError as e:
            self._fail(e)

    def _timed_out(self) -> None:
        if self.state in (TransactionState.ACCEPTED,):
            self._terminate()  # Timer M
            return
        self._fail(TransactionTimeout(f"no final response to {self.request.method}"))

    def _fail(self, reason: TransactionError) -> None:
        if self.state is TransactionState.TERMINATED:
            return
        self._terminate()
        if not self.final.called:
            self.final.errback(reason)

    def _terminate(self) -> None:
        self.state = TransactionState.TERMINATED
        self._timer.stop()
        self._layer._forget_client(self)

    def _notify(self, response: Response) -> None:
        if self.on_response is not None:
            self.on_response(response)

    def _receive(self, response: Response) -> None:
        state = self.state
        if state is TransactionState.TERMINATED:
            return
        if response.status < 200:
            if state in (TransactionState.CALLING, TransactionState.TRYING):
                self.state = TransactionState.PROCEEDING
                if self.is_invite:
                    self._timer.stop()  # Timer B runs in Calling only
                    if self._cancel_pending is not None:
                        self._send_cancel(self._cancel_pending)
            if self.state is TransactionState.PROCEEDING:
                self._notify(response)
            return
        if state is TransactionState.ACCEPTED:
            if response.status < 300:
                self._notify(response)
            return
        if state is TransactionState.COMPLETED:
            return
        if self.is_invite and response.status < 300:
            self.state = TransactionState.ACCEPTED
            self._timer.start(self._layer.timers.timeout, self._timed_out)  # Timer M
            self.final.callback(response)
            return
        if self.is_invite:
            # 17.1.1.3: ACK a 300-699 on the same connection; Timer D = 0.
            self.state = TransactionState.COMPLETED
            try:
                self.flow.send(build_ack_for_error(self.request, response))
            except TransportError as e:
                _log.info("Could not send ACK: {error}", error=e)
        self._terminate()  # Timers D and K are zero on reliable transports
        self.final.callback(response)

    def cancel(self, reason: str | None = None) -> bool:
        """
        Cancel this INVITE (RFC 3261 section 9.1): at once if a provisional
        response arrived, otherwise as soon as one does.

        @param reason: A Reason header value for the CANCEL.
        @return: Whether a CANCEL was sent or will be.
        """
        if not self.is_invite or self.cancel_transaction is not None:
            return False
        if self.state is TransactionState.CALLING:
            self._cancel_pending = reason if reason is not None else ""
            return True
        if self.state is TransactionState.PROCEEDING:
            self._send_cancel(reason if reason is not None else "")
            return True
        return False

    def _send_cancel(self, reason: str) -> None:
        self._cancel_pending = None
        cancel = build_cancel(self.request, reason or None)
        self.cancel_transaction = self._layer._start_client(cancel, self.flow, None)
        self.cancel_transaction.final.addErrback(lambda f: None)
        # 9.1: without a final response 64*T1 after the CANCEL, give up.
        self._timer.start(self._layer.timers.timeout, self._timed_out)


class ServerTransaction:
    """
    An INVITE or non-INVITE server transaction; see the module docstring.

    @ivar request: The request that created it.
    @ivar flow: The connection it arrived on (responses go back on it,
        RFC 3261 section 18.2.2).
    @ivar state: The current L{TransactionState}.
    @ivar local_tag: The To tag L{reply} adds (generated once).
    @ivar final_response: The final response sent, if any.
    """

    def __init__(self, layer: TransactionLayer, request: Request, flow: Flow) -> None:
        self.request = request
        self.flow = flow
        self.is_invite = request.method == "INVITE"
        via = request.top_via
        host, port = via.sent_by
        self.key = (via.branch or "", host, port, request.method)
        self.state = TransactionState.PROCEEDING if self.is_invite else TransactionState.TRYING
        self.local_tag = layer.tag_factory()
        self.final_response: Response | None = None
        self._last_provisional: Response | None = None
        self._layer = layer
        self._timer = _Timer(layer.clock)
        self._retransmit = _Timer(layer.clock)
        self._interval = layer.timers.t1
        self._acked = False
        self._ack_key: tuple[str, str, int] | None = None

    def _start(self) -> None:
        timers = self._layer.timers
        if self.is_invite:
            self._retransmit.start(timers.trying_delay, self._send_trying)
            self._timer.start(timers.invite_server_limit, self._unanswered)
        else:
            self._timer.start(timers.timeout, self._unanswered)

    def _send_trying(self) -> None:
        if self.state is TransactionState.PROCEEDING and self._last_provisional is None:
            self.respond(make_response(self.request, 100))

    def _unanswered(self) -> None:
        if self.is_invite and self.state is TransactionState.PROCEEDING:
            self.reply(408)
            self._layer.user.server_failed(self, TransactionTimeout("INVITE not answered"))
            return
        self._terminate()
        self._layer.user.server_failed(self, TransactionTimeout("request not answered"))

    def reply(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        copy_record_route: bool = False,
    ) -> Response:
        """
        Build a response with L{make_response} (To tag L{local_tag}) and
        send it with L{respond}.

        @return: The response built.
        """
        response = make_response(
            self.request,
            status,
            reason,
            to_tag=self.local_tag,
            headers=headers,
            body=body,
            copy_record_route=copy_record_route,
        )
        self.respond(response)
        return response

    def respond(self, response: Response) -> bool:
        """
        Send a response through the state machine.

        @return: Whether it was sent: a response after the final one (other
            than further 2xx to INVITE) is dropped, as is anything once
            the transaction ended (for example after a CANCEL was
            answered 487).
        """
        state = self.state
        status = response.status
        if state is TransactionState.ACCEPTED and 200 <= status < 300:
            self._send(response)
            return True
        if state not in (TransactionState.TRYING, TransactionState.PROCEEDING):
            _log.debug("Dropped {status} in state {state}", status=status, state=state.value)
            return False
        if status < 200:
            self.state = TransactionState.PROCEEDING
            self._last_provisional = response
            self._send(response)
            return True
        self.final_response = response
        self._retransmit.stop()
        if not self.is_invite:
            self.state = TransactionState.COMPLETED
            self._send(response)
            self._terminate()  # Timer J is zero on reliable transports
            return True
        timers = self._layer.timers
        if status < 300:
            self.state = TransactionState.ACCEPTED
            self._timer.start(timers.timeout, self._no_ack)  # Timer L
            self._ack_key = self._layer._await_ack(self)
            self._interval = timers.t1
            self._retransmit.start(self._interval, self._retransmit_2xx)
        else:
            self.state = TransactionState.COMPLETED
            self._timer.start(timers.timeout, self._no_ack)  # Timer H
        self._send(response)
        return True

    def _send(self, response: Response) -> None:
        try:
            self.flow.send(response)
        except TransportError as e:
            if self.state is not TransactionState.TERMINATED:
                self._terminate()
                self._layer.user.server_failed(self, e)

    def _retransmit_2xx(self) -> None:
        if self.state is not TransactionState.ACCEPTED or self._acked:
            return
        assert self.final_response is not None
        self._send(self.final_response)
        self._interval = min(self._interval * 2, self._layer.timers.t2)
        if self.state is TransactionState.ACCEPTED:
            self._retransmit.start(self._interval, self._retransmit_2xx)

    def _no_ack(self) -> None:
        acked = self._acked
        self._terminate()
        if not acked:
            self._layer.user.server_failed(self, TransactionTimeout("no ACK"))

    def _receive_retransmission(self) -> None:
        if self.state is TransactionState.PROCEEDING and self._last_provisional is not None:
            self._send(self._last_provisional)
        elif self.state is TransactionState.COMPLETED and self.final_response is not None:
            self._send(self.final_response)

    def _receive_ack(self) -> None:
        if self.state is TransactionState.COMPLETED:
            self.state = TransactionState.CONFIRMED
            self._acked = True
            self._terminate()  # Timer I is zero on reliable transports
        elif self.state is TransactionState.ACCEPTED:
            self._ack_for_2xx()

    def _ack_for_2xx(self) -> None:
        self._acked = True
        self._retransmit.stop()

    def _terminate(self) -> None:
        self.state = TransactionState.TERMINATED
        self._timer.stop()
        self._retransmit.stop()
        self._layer._forget_server(self)

    def _cancelled(self) -> bool:
        if self.is_invite and self.state is TransactionState.PROCEEDING:
            self.reply(487)
            return True
        return False


class TransactionLayer:
    """
    Creates, matches and times transactions; see the module docstring.

    @ivar clock: The injected clock.
    @ivar user: The L{TransactionUser}.
    @ivar timers: The L{Timers}.
    """

    def __init__(
        self,
        clock: IReactorTime,
        user: TransactionUser,
        timers: Timers | None = None,
        branch_factory: Callable[[], str] = new_branch,
        tag_factory: Callable[[], str] = new_tag,
    ) -> None:
        self.clock = clock
        self.user = user
        self.timers = timers if timers is not None else Timers()
        self.branch_factory = branch_factory
        self.tag_factory = tag_factory
        self._clients: dict[tuple[str, str], ClientTransaction] = {}
        self._servers: dict[tuple[str, str, int | None, str], ServerTransaction] = {}
        self._awaiting_ack: dict[tuple[str, str, int], ServerTransaction] = {}

    @property
    def client_transactions(self) -> list[ClientTransaction]:
        """
        Live client transactions.
        """
        return list(self._clients.values())

    @property
    def server_transactions(self) -> list[ServerTransaction]:
        """
        Live server transactions.
        """
        return list(self._servers.values())

    def _with_via(self, request: Request, flow: Flow) -> Request:
        via = flow.via(self.branch_factory())
        headers = request.headers.prepend("Via", via.format())
        if "Max-Forwards" not in headers:
            headers = headers.add("Max-Forwards", "70")
        return request.with_headers(headers)

    def send_request(
        self,
        request: Request,
        flow: Flow,
        on_response: Callable[[Response], None] | None = None,
    ) -> ClientTransaction:
        """
        Start a client transaction: add our Via (new branch) and
        Max-Forwards if missing, and send C{request} on C{flow}.

        @param on_response: See L{ClientTransaction.on_response}.
        @raise ValueError: For ACK (use L{send_ack}) and CANCEL (use
            L{cancel}).
        """
        if request.method in ("ACK", "CANCEL"):
            raise ValueError(f"{request.method} is not sent in its own transaction here")
        return self._start_client(self._with_via(request, flow), flow, on_response)

    def _start_client(
        self,
        request: Request,
        flow: Flow,
        on_response: Callable[[Response], None] | None,
    ) -> ClientTransaction:
        transaction = ClientTransaction(self, request, flow, on_response)
        self._clients[transaction.key] = transaction
        transaction._start()
        return transaction

    def send_ack(self, ack: Request, flow: Flow) -> Request:
        """
        Send the ACK for a 2xx (RFC 3261 section 13.2.2.4): no transaction,
        a new branch.

        @return: The ACK as sent.
        @raise TransportError: The connection is closed.
        """
        ack = self._with_via(ack, flow)
        flow.send(ack)
        return ack

    def cancel(self, transaction: ClientTransaction, reason: str | None = None) -> bool:
        """
        Cancel an INVITE client transaction; see L{ClientTransaction.cancel}.
        """
        return transaction.cancel(reason)

    def _forget_client(self, transaction: ClientTransaction) -> None:
        if self._clients.get(transaction.key) is transaction:
            del self._clients[transaction.key]

    def _forget_server(self, transaction: ServerTransaction) -> None:
        if self._servers.get(transaction.key) is transaction:
            del self._servers[transaction.key]
        key = transaction._ack_key
        if key is not None and self._awaiting_ack.get(key) is transaction:
            del self._awaiting_ack[key]

    def _await_ack(self, transaction: ServerTransaction) -> tuple[str, str, int]:
        request = transaction.request
        key = (request.call_id, request.from_.tag or "", request.cseq.number)
        self._awaiting_ack[key] = transaction
        return key

    def receive(self, message: Message, flow: Flow) -> None:
        """
        Dispatch a message the transport received (and validated) on
        C{flow}.
        """
        try:
            if isinstance(message, Response):
                self._receive_response(message, flow)
            else:
                self._receive_request(message, flow)
        except SipSyntaxError as e:
            # The parser validated what is read here; be safe anyway.
            _log.info("Dropped unusable message: {error}", error=e)

    def _receive_response(self, response: Response, flow: Flow) -> None:
        key = (response.top_via.branch or "", response.cseq.method)
        transaction = self._clients.get(key)
        if transaction is None:
            self.user.stray_response(response, flow)
            return
        transaction._receive(response)

    def _receive_request(self, request: Request, flow: Flow) -> None:
        via = request.top_via
        branch = via.branch
        if not branch:
            if request.method != "ACK":
                self.send_stateless(make_response(request, 400, "Missing Via branch"), flow)
            return
        host, port = via.sent_by
        if request.method == "ACK":
            transaction = self._servers.get((branch, host, port, "INVITE"))
            if transaction is not None and transaction.state is TransactionState.COMPLETED:
                transaction._receive_ack()
                return
            waiting = self._awaiting_ack.pop(
                (request.call_id, request.from_.tag or "", request.cseq.number), None
            )
            if waiting is not None:
                waiting._ack_for_2xx()
            self.user.ack_received(request, flow)
            return
        existing = self._servers.get((branch, host, port, request.method))
        if existing is not None:
            existing._receive_retransmission()
            return
        transaction = ServerTransaction(self, request, flow)
        self._servers[transaction.key] = transaction
        transaction._start()
        if request.method == "CANCEL":
            self._receive_cancel(transaction, branch, host, port)
            return
        self.user.request_received(transaction)

    def _receive_cancel(
        self, transaction: ServerTransaction, branch: str, host: str, port: int | None
    ) -> None:
        target = self._servers.get((branch, host, port, "INVITE"))
        if target is None:
            others = [
                t
                for key, t in self._servers.items()
                if key[:3] == (branch, host, port) and key[3] != "CANCEL"
            ]
            target = others[0] if others else None
        if target is None:
            transaction.reply(481)
            return
        transaction.reply(200)
        if target._cancelled():
            self.user.cancelled(target)

    def send_stateless(self, response: Response, flow: Flow) -> None:
        """
        Send a response outside any transaction (errors to requests that
        could not create one); transport errors are logged.
        """
        try:
            flow.send(response)
        except TransportError as e:
            _log.info("Could not send {status}: {error}", status=response.status, error=e)

    def busy(self, flow: Flow) -> bool:
        """
        Whether a client or server transaction still uses C{flow}.
        """
        return any(t.flow is flow for t in self._clients.values()) or any(
            t.flow is flow for t in self._servers.values()
        )

    def flow_lost(self, flow: Flow) -> None:
        """
        The connection C{flow} closed: its client transactions fail with
        L{TransportError} (no response can come back on it), its server
        transactions end (their responses have nowhere to go).
        """
        for client in [t for t in self._clients.values() if t.flow is flow]:
            client._fail(TransportError("connection closed"))
        for server in [t for t in self._servers.values() if t.flow is flow]:
            unfinished = server.state in (
                TransactionState.TRYING,
                TransactionState.PROCEEDING,
            ) or (server.state is TransactionState.ACCEPTED and not server._acked)
            server._terminate()
            if unfinished:
                self.user.server_failed(server, TransportError("connection closed"))
