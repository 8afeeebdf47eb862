# -*- test-case-name: tests.sip.test_connector -*-
"""
The SIP/SIMPLE federation connector: the hub as a SIP domain for every
tenant, towards Skype for Business / Lync Edges, Cisco IM&P (through
Expressway) and RFC 3261 peers (Kamailio, baresip), over mutual TLS.

It is the transaction user (RFC 3261's "TU") of one
L{TransactionLayer} over one L{SipTransport} (see the package docstring)
and translates between SIP and the hub's events:

Instant messages, both ways:

  - pager mode (RFC 3428): an out-of-dialog MESSAGE per message, answered
    200 (or an error from the router's outcome);
  - session mode as Skype for Business does it (MS-OCSPROT): INVITE with
    an C{m=message} SDP whose C{ms-text-format} header may carry the
    first message (answered with C{Supported: ms-text-format} once it is
    taken), 200/ACK, MESSAGE inside the dialog, BYE; sessions end after
    C{session_idle_timeout} seconds without traffic (BYE). Towards the
    domains in C{session_domains} (and towards a user who has a session
    open with the hub user) the hub sends messages in a session, opening
    one with the first message in C{ms-text-format}; elsewhere it sends
    pager MESSAGEs, and a peer answering those with 405/501 is switched
    to session mode. An in-dialog MESSAGE answered 408/480/481 ends the
    session, and the message is sent again in a new one.
  - bodies: C{text/plain}, C{text/html}, C{multipart/alternative} (see
    L{nextplane.connectors.sip.im}); others get 415.
  - typing: RFC 3994 C{isComposing} MESSAGEs and Microsoft's
    C{KeyboardActivity} INFO, both ways (INFO inside Microsoft sessions,
    isComposing otherwise).

Presence (RFC 6665 SUBSCRIBE/NOTIFY, RFC 3856 event package C{presence},
PIDF documents per L{nextplane.connectors.sip.presence}):

  - as notifier: a SUBSCRIBE to a hub user from a SIP user who is an
    accepted contact is answered 200 and a NOTIFY C{active} with the hub
    user's last known presence; from anyone else it is a
    L{ContactRequest} to the hub user (a refusal by the router is the
    SUBSCRIBE's error status), answered 200 and NOTIFY C{pending}; the
    hub user's L{ContactAccept} makes it C{active}, a L{ContactDecline}
    or L{ContactRemove} ends it (C{terminated;reason=rejected}). Refreshes
    re-send the state; subscriptions end at their expiry
    (C{terminated;reason=timeout}). Other event packages get 489.
  - as subscriber: a hub user's L{ContactRequest} to a SIP user is a
    SUBSCRIBE (delivered once the peer answers 2xx); the first NOTIFY
    C{active} is the SIP user's L{ContactAccept}, each NOTIFY with a body
    a L{Presence}; C{terminated;reason=rejected} is a L{ContactDecline}
    (or L{ContactRemove} for an accepted contact), other terminations
    re-subscribe. Subscriptions are refreshed before they expire; one that
    cannot be renewed reports the SIP user's presence as C{unknown}.
    Accepting a SIP user's request also subscribes to their presence, so
    presence flows both ways.

Inbound requests are checked before anything is routed: the peer's
certificate (or a trusted relay) must speak for the From domain
(L{SipResolver.peer_serves}), the request must be for a tenant user,
C{Require} must be met (420), the URI must be SIP (416), unknown methods
get 501 and known ones the hub does not serve 405. Requests of one SIP
user to one hub user are handled in arrival order. A refusal by the
router is answered with the status of its condition (C{not-allowed},
C{forbidden}: 403; see L{status_for}) with the router's reason as reason
phrase and in a C{Warning: 399} header. The tenants' domain rules are
also applied directly to INVITEs without a first message and to NOTIFYs,
and a refresh of the rules ends the sessions and subscriptions of domains
they now block.

Message ids: SIP has none, so each message is mapped in the store to
C{"<chat session>:<Call-ID>:<CSeq>"} of the request that carried it.

Work records (L{nextplane.connectors.sip.inbound_work}): each text
received claims a record of its transaction identity before it is routed,
so a duplicate is never routed twice; a message answered 202 (held for a
platform) that a restart or a later failure left undelivered is told to
its sender in an out-of-dialog MESSAGE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from zope.interface import implementer

from ...interfaces import DeliveryFailed, IConnector, IEventSink, IStore
from ...model import events as ev
from ...model.address import Address
from ...model.text import Link, RichText, Text
from ...notices import not_delivered_text
from ...presence import PresenceBook
from ...storage.records import WorkRecord
from ...work import WorkLog
from ..base import ConnectorContext, ConnectorEntry
from ..federation.wiring import (
    Listener,
    needs_resolver,
    tenant_certificates,
    trusted_ca_paths,
    wire,
)
from .addresses import address_of, address_uri, user_part
from .config import PLATFORM, SipConfig, SipSettings, parse_config, settings_for, static_routes
from .core import SipCore
from .dispatch import RequestDispatcher
from .inbound_work import InboundWork, not_delivered
from .keeper import restore_dialog
from .message import Request, Response
from .messages import ImMessages
from .notifier import PresenceNotifier
from .resolve import SipResolver
from .sessions import ALLOW, ImSessions
from .status import condition_for, phrase, status_for
from .subscriber import PresenceSubscriber
from .tls import SipClientTLS, SipServerTLS, TrustStore, load_credentials
from .transaction import ServerTransaction, TransactionError, TransactionLayer
from .transport import Limits, SipTransport
from .uri import SipSyntaxError

__all__ = [
    "ALLOW",
    "ENTRY",
    "PLATFORM",
    "SipConfig",
    "SipConnector",
    "SipSettings",
    "address_of",
    "address_uri",
    "build",
    "condition_for",
    "parse_config",
    "settings_for",
    "static_routes",
    "status_for",
    "user_part",
]

log = Logger(namespace="nextplane.sip.connector")

#: Events SIP has no way to carry.
_NOT_CARRIED = (ev.MessageRetract, ev.ReactionAdd, ev.ReactionRemove)


@implementer(IConnector)
class SipConnector(MultiService):
    """
    The hub's SIP federation; see the module docstring.

    It wires its parts around one L{SipCore}: the L{RequestDispatcher}
    (the transaction user's inbound side), L{ImSessions} and L{ImMessages}
    (instant messages), L{PresenceNotifier} and L{PresenceSubscriber}
    (presence and contact requests).
    """

    connector_name = "sip"
    role = "federation"

    def __init__(
        self,
        *,
        settings: SipSettings,
        tenants: Iterable[str],
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        presence: PresenceBook | None = None,
        work: WorkLog | None = None,
    ) -> None:
        """
        @param work: The hub's work log: inbound texts claim records
            (L{inbound_work}); without it they are routed without.
        """
        MultiService.__init__(self)
        self.settings = settings
        self._core = SipCore(
            sink=sink,
            store=store,
            clock=clock,
            tenants=tenants,
            settings=settings,
            is_running=lambda: bool(self.running),
            on_policy=self._policy_loaded,
        )
        self._ims = ImSessions(self._core)
        self._messages = ImMessages(self._core, self._ims, InboundWork(work))
        self._notifier = PresenceNotifier(
            self._core, presence if presence is not None else PresenceBook()
        )
        self._subscriber = PresenceSubscriber(self._core)
        self._dispatcher = RequestDispatcher(
            self._core, self._ims, self._messages, self._notifier, self._subscriber
        )

    def attach(
        self, layer: TransactionLayer, transport: SipTransport, resolver: SipResolver
    ) -> None:
        """
        Use C{transport} (whose receiver is C{layer}, whose user is this
        connector) for connections.
        """
        self._core.attach(layer, transport, resolver)

    @property
    def transport(self) -> SipTransport | None:
        """
        The transport, once attached.
        """
        return self._core.transport

    @property
    def _resolver(self) -> SipResolver | None:
        return self._core.resolver

    # -- lifecycle --------------------------------------------------------

    def startService(self) -> Deferred[None]:
        """
        Start the listeners; fires once all listen, so a port in use fails
        the hub's start-up.
        """
        Service.startService(self)
        self._core.stopping = False
        self._core.rules.start()
        return Deferred.fromCoroutine(self._start_children())

    async def _start_children(self) -> None:
        for child in list(self):
            await maybeDeferred(child.startService)
        await self._restore_subscriptions()

    async def _restore_subscriptions(self) -> None:
        """
        Take back the presence subscriptions stored before a restart
        (issue 16); expired ones and those of former tenants are dropped.
        """
        keeper = self._core.keeper
        now = self._core.now()
        for record in await keeper.load():
            if record.expires_at <= now or record.hub_user.domain not in self._core.tenants:
                await keeper.forget(restore_dialog(record))
            elif record.role == "notifier":
                self._notifier.restore(record)
            else:
                self._subscriber.restore(record)

    def stopService(self) -> Deferred[None]:
        """
        Stop listening, end sessions and subscriptions (BYE, NOTIFY
        terminated), close every connection after what is written, and wait
        for requests under way.
        """
        self._core.rules.stop()
        self._core.stopping = True
        for session in self._ims.all():
            self._ims.end(session, bye=True)
        for watcher in self._notifier.all():
            self._notifier.end(watcher, "deactivated")
        self._subscriber.stop()
        self._core.cancel_calls()
        stopping: Deferred[None] = MultiService.stopService(self)

        def close(_: object) -> Deferred[None]:
            if self._core.transport is not None:
                self._core.transport.close_all()
            return Deferred.fromCoroutine(self._core.drain())

        return stopping.addCallback(close)

    def refresh_policy(self) -> Deferred[None]:
        """
        Reload the tenants' domain rules, and end the sessions and
        subscriptions of domains they now block.
        """
        return self._core.rules.refresh()

    def _policy_loaded(self) -> None:
        if self.running:
            self._enforce_policy()

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        Why C{remote} may not federate with hub domain C{local}, if it may
        not.
        """
        return self._core.refusal_reason(local, remote)

    def _enforce_policy(self) -> None:
        for session in self._ims.all():
            if self.refusal_reason(session.hub_user.domain, session.remote.domain):
                self._ims.end(session, bye=True)
        for watcher in self._notifier.all():
            if self.refusal_reason(watcher.hub_user.domain, watcher.remote.domain):
                self._notifier.end(watcher, "rejected")
        for subscription in self._subscriber.all():
            if self.refusal_reason(subscription.hub_user.domain, subscription.remote.domain):
                self._subscriber.unsubscribe(subscription)

    def health(self) -> dict[str, Any]:
        """
        State and counts.
        """
        transport = self._core.transport
        return {
            "state": "ok" if self.running and transport is not None else "stopped",
            "connections": len(transport.table) if transport is not None else 0,
            "sessions": len(self._ims),
            "watchers": len(self._notifier),
            "subscriptions": len(self._subscriber),
            "requests_in": self._core.requests_in,
            "requests_out": self._core.requests_out,
        }

    # -- the transaction user ---------------------------------------------

    def request_received(self, transaction: ServerTransaction) -> None:
        """
        A request arrived (see L{TransactionUser}).
        """
        self._dispatcher.request_received(transaction)

    def ack_received(self, ack: Request, flow: Any) -> None:
        """
        The ACK for our 2xx to an INVITE.
        """
        self._dispatcher.ack_received(ack, flow)

    def stray_response(self, response: Response, flow: Any) -> None:
        """
        A response no transaction waits for.
        """
        self._dispatcher.stray_response(response, flow)

    def cancelled(self, transaction: ServerTransaction) -> None:
        """
        An INVITE was cancelled (answered 487 already); nothing was set up.
        """

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        """
        A server transaction failed (e.g. no ACK for our 2xx to an INVITE).
        """
        self._dispatcher.server_failed(transaction, reason)

    # -- outbound -----------------------------------------------------------

    def deliver(self, event: ev.Event) -> Deferred[None]:
        """
        Send C{event} to its remote SIP recipient.
        """
        if not self._core.running or self._core.transport is None:
            return fail(DeliveryFailed("service-unavailable", "the SIP connector is stopped"))
        if event.sender.domain not in self._core.tenants:
            return fail(DeliveryFailed("not-allowed", f"{event.sender.domain} is not a tenant"))
        return Deferred.fromCoroutine(self._deliver_checked(event))

    async def _deliver_checked(self, event: ev.Event) -> None:
        try:
            await self._deliver(event)
        except SipSyntaxError as e:
            # A peer's answer we cannot use (e.g. a 2xx without To tag).
            raise DeliveryFailed(
                "service-unavailable", f"{event.recipient.domain} answered malformed SIP: {e}"
            ) from None

    async def _deliver(self, event: ev.Event) -> None:
        if isinstance(event, ev.TextMessage):
            await self._messages.send_text(
                event.sender, event.recipient, event.body, event.message_id
            )
        elif isinstance(event, ev.MessageEdit):
            native = await self._core.store.find_native_id(event.message_id, PLATFORM)
            if native is None:
                raise DeliveryFailed(
                    "item-not-found", "the message this edit refers to never reached SIP"
                )
            body = RichText((Text("Correction: "), *event.body.nodes))
            await self._messages.send_text(event.sender, event.recipient, body, None)
        elif isinstance(event, ev.FileShare):
            label = event.name if event.size is None else f"{event.name} ({event.size} bytes)"
            body = RichText((Link(event.url, (Text(label),)),))
            await self._messages.send_text(event.sender, event.recipient, body, event.message_id)
        elif isinstance(event, ev.Typing):
            await self._messages.send_typing(event)
        elif isinstance(event, ev.Presence):
            await self._notifier.send_presence(event)
        elif isinstance(event, ev.ContactRequest):
            await self._contact_request(event.sender, event.recipient)
        elif isinstance(event, ev.ContactAccept):
            await self._contact_accept(event.sender, event.recipient)
        elif isinstance(event, ev.ContactDecline | ev.ContactRemove):
            self._contact_end(event.sender, event.recipient)
        elif isinstance(event, ev.DeliveryError):
            # A message the hub answered 202 failed later: tell its sender in words.
            text = not_delivered_text(recipient=str(event.sender), reason=event.reason)
            await self._messages.send_text(
                event.sender, event.recipient, RichText.plain(text), None
            )
        elif isinstance(event, _NOT_CARRIED):
            raise DeliveryFailed(
                "feature-not-implemented",
                f"a {event.kind.replace('_', ' ')} cannot be sent over SIP",
            )

    def tell_not_delivered(self, record: WorkRecord) -> Deferred[bool]:
        """
        After a restart: tell the sender of an unfinished work record what
        it is owed (L{inbound_work.not_delivered}).
        """
        return Deferred.fromCoroutine(not_delivered(self._core, record))

    # -- contacts -------------------------------------------------------------

    async def _contact_request(self, hub_user: Address, remote: Address) -> None:
        await self._subscriber.subscribe(hub_user, remote, requested=True)
        # Both asked each other: the SIP user's pending subscription is
        # now authorised too.
        self._notifier.activate(hub_user, remote)

    async def _contact_accept(self, hub_user: Address, remote: Address) -> None:
        """
        Tell C{remote} that C{hub_user} accepted them: a NOTIFY C{active}
        on their subscriptions, and a SUBSCRIBE back so presence flows both
        ways. When neither reaches them the delivery fails, so the router
        does not leave the contact pending for ever (issue 14).
        """
        told = await self._notifier.accept(hub_user, remote)
        if self._subscriber.live(hub_user, remote) is not None:
            return
        if told:
            self._core.background(
                self._subscriber.subscribe_quietly(hub_user, remote), "subscribing back"
            )
            return
        # No subscription of theirs took the news: our SUBSCRIBE is the
        # only sign of the acceptance, so its failure is the accept's.
        try:
            await self._subscriber.subscribe(hub_user, remote)
        except DeliveryFailed as e:
            raise DeliveryFailed(
                e.condition, phrase(f"the acceptance did not reach {remote}: {e.reason}")
            ) from None

    def _contact_end(self, hub_user: Address, remote: Address) -> None:
        self._notifier.reject(hub_user, remote)
        self._subscriber.end(hub_user, remote)


# -- building ------------------------------------------------------------------


def _endpoint_factory(reactor: Any, timeout: float) -> Callable[[str, int], IStreamClientEndpoint]:
    def make(host: str, port: int) -> IStreamClientEndpoint:
        if ":" in host:
            return endpoints.TCP6ClientEndpoint(reactor, host, port, timeout=timeout)
        return endpoints.TCP4ClientEndpoint(reactor, host, port, timeout=timeout)

    return make


def _listeners(
    config: SipConfig, transport: SipTransport, credentials: Mapping[str, object]
) -> list[Listener]:
    """
    The mutual-TLS listener (when a tenant has a certificate) and the
    trusted relays' plain TCP listener (when configured).
    """
    secure = config.listen if credentials else None
    return [
        Listener("sip-tls", secure, transport.server_factory(tls=True), "(SIP, mutual TLS)"),
        Listener(
            "sip-tcp-relay",
            config.relay_listen,
            transport.server_factory(tls=False),
            "(SIP from trusted relays, plain TCP)",
        ),
    ]


def build(context: ConnectorContext, config: SipConfig) -> SipConnector:
    """
    Build the SIP connector with its transaction layer, transport and
    listeners.
    """
    hub = context.config
    dns = needs_resolver(context, "SIP")
    settings = settings_for(config, hub.tenants)
    connector = SipConnector(
        sink=context.sink,
        store=context.store,
        clock=context.reactor,
        tenants=[t.domain for t in hub.tenants],
        settings=settings,
        presence=context.presence,
        work=context.work,
    )
    credentials = load_credentials(tenant_certificates(hub))
    resolver = SipResolver(dns, static_routes=static_routes(config, hub.partners))
    layer = TransactionLayer(context.reactor, connector)
    transport = SipTransport(
        context.reactor,
        layer,
        via_host=settings.via_host,
        via_port=config.via_port,
        trust=TrustStore(paths=trusted_ca_paths(hub, config.system_ca)),
        server_tls=SipServerTLS(credentials) if credentials else None,
        client_tls=SipClientTLS(credentials),
        resolver=resolver,
        endpoint_factory=_endpoint_factory(context.reactor, config.connect_timeout),
        trusted_relays=config.trusted_relays,
        advertise_alias=config.advertise_alias,
        limits=Limits(
            max_body_size=config.max_message_bytes,
            max_headers=config.max_headers,
            message_timeout=config.message_timeout,
            idle_timeout=config.idle_timeout,
            max_connections_per_address=config.max_connections_per_address,
        ),
        handshake_timeout=config.connect_timeout,
        connect_timeout=config.connect_timeout,
    )
    transport.recorder = context.federation_health
    connector.attach(layer, transport, resolver)
    wire(context, connector, connector.refresh_policy, _listeners(config, transport, credentials))
    return connector


ENTRY = ConnectorEntry(
    name="sip",
    role="federation",
    summary="SIP/SIMPLE federation over mutual TLS (Skype for Business, Cisco IM&P, RFC 3428).",
    parse_config=parse_config,
    build=build,
    static_domains=lambda config: config.routes.keys(),
)
