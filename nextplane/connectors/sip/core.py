# -*- test-case-name: tests.sip.test_connector -*-
"""
What every part of the SIP transaction user shares: the transaction
layer, transport, resolver and dialog table; the store and the router;
and the small steps each part takes (send a request and wait for its final
response, answer a request, route an event, run something in the
background that stopping waits for).
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from attrs import define
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from ...interfaces import DeliveryFailed, IEventSink, IStore
from ...model.address import Address, ChatSessionId
from ...model.events import (
    Event,
)
from ...router import Outcome
from ...storage.records import WorkRecord
from ..rules import DomainRuleCache
from .addresses import address_uri, user_part
from .config import SipSettings
from .dialog import Dialog, DialogTable
from .im import (
    Content,
)
from .keeper import SubscriptionKeeper
from .message import REASONS, Headers, Request, Response
from .resolve import SipResolver
from .status import phrase, status_for
from .transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionError,
    TransactionLayer,
    TransactionTimeout,
    new_tag,
)
from .transport import ConnectError, SipConnection, SipTransport
from .uri import SipSyntaxError, SipURI, parse_name_addr, parse_uri, quote_string

__all__ = ["Pair", "SipCore", "cancel", "conn"]

log = Logger(namespace="nextplane.sip.connector")


def conn(tx: ServerTransaction) -> SipConnection:
    """
    The connection a request came in on.
    """
    return cast(SipConnection, tx.flow)


def cancel(call: IDelayedCall | None) -> None:
    """
    Cancel C{call} if it is still pending.
    """
    if call is not None and call.active():
        call.cancel()


@define(eq=False)
class Pair:
    """
    A hub user and a SIP user (a session or subscription between them).
    """

    hub_user: Address
    remote: Address

    @property
    def key(self) -> tuple[str, str]:
        """
        The pair as C{(hub user key, SIP user key)}.
        """
        return (self.hub_user.key, self.remote.key)


class SipCore:
    """
    The shared state and steps of the SIP connector's parts.

    @ivar running: Whether the connector is running.
    @ivar stopping: Set once the connector stops: no new connections.
    """

    def __init__(
        self,
        *,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        tenants: Iterable[str],
        settings: SipSettings,
        is_running: Callable[[], bool],
        on_policy: Callable[[], None],
    ) -> None:
        self.sink = sink
        self.store = store
        self.clock = clock
        self.tenants = frozenset(t.lower() for t in tenants)
        self.settings = settings
        self._is_running = is_running
        self._layer: TransactionLayer | None = None
        self.transport: SipTransport | None = None
        self.resolver: SipResolver | None = None
        self.dialogs = DialogTable()
        self.keeper = SubscriptionKeeper(store)
        self._proven: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        self._busy: set[Deferred[None]] = set()
        self._calls: set[IDelayedCall] = set()
        self.rules = DomainRuleCache(store, self.tenants, clock, on_policy)
        self.stopping = False
        self.requests_in = 0
        self.requests_out = 0

    @property
    def running(self) -> bool:
        """
        Whether the connector is running.
        """
        return self._is_running()

    def attach(
        self, layer: TransactionLayer, transport: SipTransport, resolver: SipResolver
    ) -> None:
        """
        Use C{transport} (whose receiver is C{layer}) for connections.
        """
        self._layer = layer
        self.transport = transport
        self.resolver = resolver

    def cancel_calls(self) -> None:
        """
        Cancel everything L{later} scheduled.
        """
        for call in self._calls:
            cancel(call)
        self._calls.clear()

    @property
    def layer(self) -> TransactionLayer:
        """
        The transaction layer (once attached).
        """
        assert self._layer is not None, "the SIP connector is not attached"
        return self._layer

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        Why C{remote} may not federate with hub domain C{local}, if it may
        not.
        """
        return self.rules.refusal_reason(local, remote)

    def now(self) -> datetime:
        """
        The injected clock's time, as an aware datetime.
        """
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def contact(self, user: Address, flow: SipConnection | None) -> str:
        """
        The Contact value for C{user} on C{flow}'s transport (TLS unless a relay's TCP).
        """
        transport = "tls" if flow is None or flow.tls else "tcp"
        host = self.settings.contact_host
        if host is None:
            return f"<sip:{user_part(user.local)}@{user.domain};transport={transport}>"
        return (
            f"<sip:{user_part(user.local)}@{host}:{self.settings.via_port};transport={transport}>"
        )

    def warning(self, reason: str) -> tuple[str, str]:
        """
        A C{Warning: 399} header carrying C{reason}.
        """
        return ("Warning", f"399 {self.settings.via_host} {quote_string(phrase(reason))}")

    def refuse(
        self,
        tx: ServerTransaction,
        status: int,
        reason: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """
        Answer C{tx} with an error C{status}, the reason as phrase and in a Warning.
        """
        text = phrase(reason) or REASONS.get(status, "Error")
        tx.reply(status, text, headers=[self.warning(text), *headers])

    def answer(
        self,
        tx: ServerTransaction,
        outcome: Outcome,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """
        Answer C{tx} with the router's C{outcome}: 200 once delivered, 202
        while the destination holds it for a platform (RFC 3428: accepted,
        not yet delivered; a later failure comes back as a MESSAGE), or the
        status of its condition.
        """
        if outcome.delivered or outcome.queued:
            tx.reply(200 if outcome.delivered else 202, headers=headers)
            return
        status = status_for(outcome.condition)
        self.refuse(tx, status, outcome.reason or REASONS.get(status, "Error"))

    def new_call_id(self) -> str:
        """
        A fresh Call-ID under the hub's Via host.
        """
        return f"{secrets.token_hex(12)}@{self.settings.via_host}"

    def pager(self, sender: Address, target: str, content: Content) -> Request:
        """
        An out-of-dialog MESSAGE (RFC 3428) from hub user C{sender} to SIP
        URI C{target} carrying C{content}.
        """
        return Request(
            "MESSAGE",
            target,
            Headers(
                [
                    ("From", f"<{address_uri(sender)}>;tag={new_tag()}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", self.new_call_id()),
                    ("CSeq", "1 MESSAGE"),
                    ("Content-Type", content.content_type),
                ]
            ),
            content.body,
        )

    async def chat_session(self, first: Address, second: Address) -> ChatSessionId:
        """
        The chat session of the two addresses (created if new).
        """
        record = await self.store.get_or_create_session(first, second, self.now())
        return record.session_id  # type: ignore[no-any-return]

    async def route(self, event: Event, work: WorkRecord | None = None) -> Outcome:
        """
        Hand an inbound event to the router, with its work record if it
        has one (the router moves it along).
        """
        sink: Any = self.sink  # the router takes the record along (IEventSink does not say)
        routing = sink.route if work is None else partial(sink.route, work=work)
        outcome: Outcome = await routing(event)
        return outcome

    def track(self, d: Deferred[Any], what: str) -> None:
        """
        Keep C{d} until it fires (stopping waits for it); log a failure.
        """
        tracked: Deferred[None] = Deferred()
        self._busy.add(tracked)

        def done(result: object) -> None:
            self._busy.discard(tracked)
            if hasattr(result, "getErrorMessage"):
                log.failure("{what} failed", result, what=what)  # type: ignore[arg-type]
            tracked.callback(None)

        d.addBoth(done)

    def background(self, coroutine: Any, what: str) -> None:
        """
        Run C{coroutine} in the background; stopping waits for it, a failure is logged.
        """
        self.track(Deferred.fromCoroutine(coroutine), what)

    def later(self, delay: float, function: Callable[[], None]) -> None:
        """
        Call C{function} after C{delay} seconds, unless the connector stops
        first.
        """
        holder: list[IDelayedCall] = []

        def fire() -> None:
            self._calls.discard(holder[0])
            function()

        call = self.clock.callLater(delay, fire)
        holder.append(call)
        self._calls.add(call)

    async def drain(self) -> None:
        """
        Wait until nothing runs in the background and no rules load is under way.
        """
        while self._busy or self.rules.in_flight is not None:
            waits: list[Deferred[Any]] = list(self._busy)
            if self.rules.in_flight is not None:
                waits.append(self.rules.in_flight)
            await DeferredList(waits, consumeErrors=True)

    async def authorized(self, flow: Any, domain: str) -> bool:
        """
        Whether the peer on C{flow} may speak for C{domain} (a trusted relay, or its certificate per
        L{SipResolver.peer_serves}).
        """
        if getattr(flow, "trusted_relay", False):
            return True
        proven = self._proven.setdefault(flow, set())
        if domain in proven:
            return True
        if self.resolver is None:
            return False
        identities: frozenset[str] = getattr(flow, "peer_identities", frozenset())
        if await self.resolver.peer_serves(domain, identities):
            proven.add(domain)
            return True
        return False

    async def connect(self, domain: str, tenant: str) -> SipConnection:
        """
        A verified connection on behalf of tenant C{tenant} to C{domain}.

        @raise DeliveryFailed: C{remote-server-not-found} if none can be made.
        """
        assert self.transport is not None
        try:
            return await self.transport.connect(domain, tenant)
        except ConnectError as e:
            raise DeliveryFailed("remote-server-not-found", str(e)) from None

    async def dialog_flow(
        self, dialog: Dialog, hint: SipConnection | None, tenant: str, domain: str
    ) -> SipConnection:
        """
        The connection for an in-dialog request: the dialog's own while it
        lives, else one to its first Route (or remote target) per RFC 3263.
        """
        if hint is not None and not hint.closed and hint.verified:
            return hint
        if self.stopping:
            raise DeliveryFailed("service-unavailable", "the SIP connector is stopping")
        assert self.transport is not None and self.resolver is not None
        try:
            if dialog.route_set:
                target = parse_name_addr(dialog.route_set[0]).uri
            else:
                target = parse_uri(dialog.remote_target)
        except SipSyntaxError:
            target = None
        if not isinstance(target, SipURI):
            raise DeliveryFailed("remote-server-not-found", "the dialog has no SIP target")
        try:
            targets = await self.resolver.targets_for_uri(target)
            return await self.transport.connect(domain, tenant, targets=targets)
        except Exception as e:
            raise DeliveryFailed("remote-server-not-found", str(e)) from None

    def send(
        self, request: Request, flow: SipConnection, on_response: Any = None
    ) -> ClientTransaction:
        """
        Send C{request} on C{flow} as a new client transaction.
        """
        self.requests_out += 1
        return self.layer.send_request(request, flow, on_response)

    async def final(self, tx: ClientTransaction, domain: str) -> Response:
        """
        The final response of C{tx}.

        @raise DeliveryFailed: The peer did not answer, or the transaction failed.
        """
        try:
            return await tx.final
        except TransactionTimeout:
            raise DeliveryFailed(
                "remote-server-timeout", f"{domain} did not answer the {tx.request.method}"
            ) from None
        except TransactionError as e:
            raise DeliveryFailed("remote-server-not-found", f"{domain}: {e}") from None

    async def send_in_dialog(
        self,
        dialog: Dialog,
        hint: SipConnection | None,
        tenant: str,
        domain: str,
        method: str,
        content: Content | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[ClientTransaction, SipConnection]:
        """
        Send a C{method} request inside C{dialog}; return its transaction and the connection used.
        """
        flow = await self.dialog_flow(dialog, hint, tenant, domain)
        request = dialog.create_request(
            method,
            headers=headers,
            body=content.body if content is not None else b"",
            content_type=content.content_type if content is not None else None,
        )
        return self.send(request, flow), flow
