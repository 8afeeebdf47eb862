# -*- test-case-name: tests.xmpp.test_connector -*-
"""
The XMPP federation connector: the hub as a native XMPP s2s peer.

It joins three parts:

  - L{nextplane.connectors.xmpp.s2s.S2SService}: streams, TLS, SASL
    EXTERNAL, dialback, resolution, the connection pool;
  - L{nextplane.connectors.xmpp.stanzas}: pure stanza/event translation;
  - the router (L{IEventSink}) and the store.

Inbound stanzas are handled one after another per (sender, recipient)
pair of bare JIDs, so a conversation keeps its order even though store
look-ups are asynchronous; stopping the connector waits for the stanzas
already received. Refreshing the domain rules also ends the streams of
domains they now block. Native stanza ids are chosen by senders and may repeat across
conversations, so they are mapped to hub message ids per chat session
(C{"<session>:<stanza id>"}). A refused or failed inbound message is
answered with a stanza error carrying the router's condition and reason; an
accepted one with a XEP-0184 receipt when asked for.

IQs to hub domains and users are answered here: disco#info, XEP-0199 ping
and XEP-0054 vCard-temp (from the hub user's stored profile).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, fail, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.words.xish.domish import Element
from zope.interface import implementer

from ...config import PartnerConfig, Section, TenantConfig
from ...interfaces import DeliveryFailed, IConnector, IEventSink, IProfileSource, IStore
from ...model.address import Address, ChatSessionId
from ...model.events import (
    Availability,
    Category,
    ContactAccept,
    DeliveryError,
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
    new_event_id,
)
from ...ordering import KeyedSerializer, LaneFull
from ...presence import PresenceBook
from ...sizes import too_long
from ...storage.records import ContactDirection, ContactState, WorkRecord, WorkState
from ...work import WorkLog
from ..base import ConnectorContext, ConnectorEntry
from ..federation.wiring import (
    Listener,
    needs_resolver,
    tenant_certificates,
    trusted_ca_paths,
    wire,
)
from ..rules import DomainRuleCache
from . import inbound_work
from .disco import answer_iq
from .inbound_acks import Intake, intake_of
from .s2s import S2SService, S2SSettings
from .stanzas import (
    NativeRef,
    apply_reaction,
    error_reply,
    event_to_stanzas,
    stanza_to_events,
)
from .stream import StreamLimits
from .vcard import Profile
from .vcard_queries import PROFILE_TIMEOUT, VCardQueries

__all__ = ["ENTRY", "PROFILE_TIMEOUT", "XmppConfig", "XmppConnector", "build", "parse_config"]

log = Logger()

#: The platform name under which XMPP stanza ids are kept in the store.
PLATFORM = "xmpp"
_REACTION_MEMORY = 10_000
#: Stanzas of one sender to one recipient waiting to be handled; beyond
#: this many the next is refused with C{resource-constraint}.
MAX_QUEUED_STANZAS = 1000


@frozen
class XmppConfig:
    """
    C{[connectors.xmpp]}.

    @ivar listen: Endpoint for inbound s2s (STARTTLS), e.g. C{tcp:5269}.
    @ivar direct_tls_listen: Optional endpoint for XEP-0368 direct TLS
        (C{tcp:5270}); the TLS is the hub's own, chosen by SNI.
    @ivar dialback_secret: Secret for dialback keys; share it between hub
        nodes serving the same domains. Random per start when absent.
    @ivar require_certificates: Refuse dialback with every remote domain
        except C{insecure_domains}.
    @ivar secure_domains: Remote domains that must authenticate by
        certificate.
    @ivar insecure_domains: Remote domains allowed dialback even when
        certificates are required, and whose server certificate need not
        validate.
    @ivar max_stanza_bytes: Largest stanza accepted after authentication.
    @ivar max_message_chars: Longest message (or edit) sent to XMPP, in
        characters; a longer one is refused and its sender told (peers
        close streams over their stanza limit, e.g. ejabberd's 256 KiB).
    @ivar idle_timeout: Seconds before an unused outbound stream closes.
    @ivar inbound_idle_timeout: Seconds without data before an inbound
        stream is closed (Prosody sends a keepalive every 840 s).
    @ivar negotiation_timeout: Seconds a connection may take from TCP
        connect to authentication.
    @ivar max_streams_per_address: Inbound connections accepted at once
        from one remote IP address.
    @ivar connect_timeout: Seconds per outbound connection attempt.
    @ivar system_ca: Also trust the system's CA bundle.
    """

    listen: str = "tcp:5269"
    direct_tls_listen: str | None = None
    dialback_secret: str | None = field(default=None, repr=False)
    require_certificates: bool = False
    secure_domains: frozenset[str] = frozenset()
    insecure_domains: frozenset[str] = frozenset()
    max_stanza_bytes: int = 512 * 1024
    max_message_chars: int = 50_000
    idle_timeout: float = 600.0
    inbound_idle_timeout: float = 3600.0
    negotiation_timeout: float = 60.0
    max_streams_per_address: int = 20
    connect_timeout: float = 20.0
    system_ca: bool = True

    def secrets(self) -> tuple[str, ...]:
        """
        Values to keep out of logs.
        """
        return (self.dialback_secret,) if self.dialback_secret else ()


def parse_config(section: Section) -> XmppConfig:
    """
    Validate C{[connectors.xmpp]}.
    """

    def domains(name: str) -> frozenset[str]:
        from ...config import ConfigError
        from ...model.address import InvalidAddress, validate_domain

        found = set()
        for index, value in enumerate(section.strings(name, ())):
            try:
                found.add(validate_domain(value))
            except InvalidAddress as e:
                raise ConfigError(f"{section.key(name)}[{index}]", str(e)) from None
        return frozenset(found)

    secret = section.optional_string("dialback_secret")
    if secret is not None and len(secret) < 16:
        from ...config import ConfigError

        raise ConfigError(section.key("dialback_secret"), "must be at least 16 characters")
    return XmppConfig(
        listen=section.server_endpoint("listen", "tcp:5269"),
        direct_tls_listen=section.server_endpoint("direct_tls_listen")
        if section.has("direct_tls_listen")
        else None,
        dialback_secret=secret,
        require_certificates=section.boolean("require_certificates", False),
        secure_domains=domains("secure_domains"),
        insecure_domains=domains("insecure_domains"),
        max_stanza_bytes=section.integer(
            "max_stanza_bytes", 512 * 1024, minimum=10_000, maximum=16 * 1024 * 1024
        ),
        max_message_chars=section.integer(
            "max_message_chars", 50_000, minimum=1000, maximum=4 * 1024 * 1024
        ),
        idle_timeout=section.number("idle_timeout", 600.0, minimum=1.0),
        inbound_idle_timeout=section.number("inbound_idle_timeout", 3600.0, minimum=10.0),
        negotiation_timeout=section.number("negotiation_timeout", 60.0, minimum=1.0),
        max_streams_per_address=section.integer(
            "max_streams_per_address", 20, minimum=1, maximum=100_000
        ),
        connect_timeout=section.number("connect_timeout", 20.0, minimum=1.0),
        system_ca=section.boolean("system_ca", True),
    )


def native_key(session: ChatSessionId, stanza_id: str) -> str:
    """
    The store key of a stanza id: scoped to its chat session, since ids are
    chosen by senders and repeat across conversations.
    """
    return f"{session.value}:{stanza_id}"


def _stanza_id_of(key: str | None) -> str | None:
    return key.partition(":")[2] if key else None


@implementer(IConnector, IProfileSource)
class XmppConnector(MultiService):
    """
    The hub's XMPP federation; see the module docstring.

    @param tenants: The hub's tenants (their domains are served here).
    @param s2s: Built by L{attach} (or given directly in tests).
    """

    connector_name = "xmpp"
    role = "federation"

    def __init__(
        self,
        *,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        tenants: Iterable[TenantConfig],
        presence: PresenceBook | None = None,
        work: WorkLog | None = None,
        max_message_chars: int = 50_000,
    ) -> None:
        """
        @param max_message_chars: Longest text sent (C{[connectors.xmpp]
            max_message_chars}); a longer one is refused.
        """
        MultiService.__init__(self)
        self._work = work
        self._max_message_chars = max_message_chars
        self._presence = presence if presence is not None else PresenceBook()
        self._sink = sink
        self._store = store
        self._clock = clock
        self._tenants = {t.domain: t for t in tenants}
        self._s2s: S2SService | None = None
        self._lanes = KeyedSerializer(MAX_QUEUED_STANZAS)
        self._reactions: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
        self._sender_jids = inbound_work.SenderJids()
        self._vcards = VCardQueries(clock)
        self._rules = DomainRuleCache(store, self._tenants, clock, self._enforce_policy)
        self.stanzas_in = 0
        self.stanzas_out = 0

    def attach(self, s2s: S2SService) -> None:
        """
        Use C{s2s} for streams (it becomes a child service).
        """
        self._s2s = s2s
        s2s.setServiceParent(self)

    # -- lifecycle --------------------------------------------------------

    def startService(self) -> Deferred[None]:
        """
        Start the s2s service and listeners; fires once all listen, so a
        port in use fails the hub's start-up.
        """
        Service.startService(self)
        self._rules.start()
        return Deferred.fromCoroutine(self._start_children())

    async def _start_children(self) -> None:
        for child in list(self):
            await maybeDeferred(child.startService)

    def stopService(self) -> Deferred[None]:
        """
        Stop the listeners and close every stream, then wait for the
        stanzas already received to be handled, so nothing routes through
        a store that stops after this connector.
        """
        self._rules.stop()
        stopping: Deferred[None] = MultiService.stopService(self)
        return stopping.addCallback(lambda _: Deferred.fromCoroutine(self._drain()))

    async def _drain(self) -> None:
        while len(self._lanes) or self._rules.in_flight is not None:
            waits: list[Deferred[Any]] = [self._lanes.idle()]
            if self._rules.in_flight is not None:
                waits.append(self._rules.in_flight)
            await DeferredList(waits, consumeErrors=True)

    def refresh_policy(self) -> Deferred[None]:
        """
        Reload the tenants' domain rules used to refuse blocked domains at
        stream level (the router refuses their events in any case), and
        close the streams of domains they now refuse.
        """
        return self._rules.refresh()

    def _enforce_policy(self) -> None:
        if self._s2s is not None and self.running:
            # Streams opened before a block must not outlive it.
            self._s2s.enforce_policy()

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        Why C{remote} may not federate with hub domain C{local}, if it may
        not (the s2s policy hook).
        """
        return self._rules.refusal_reason(local, remote)

    def health(self) -> dict[str, Any]:
        """
        State and stream counts.
        """
        s2s = self._s2s
        return {
            "state": "ok" if self.running and s2s is not None and s2s.running else "stopped",
            "inbound_streams": len(s2s.inbound_streams()) if s2s is not None else 0,
            "stanzas_in": self.stanzas_in,
            "stanzas_out": self.stanzas_out,
        }

    # -- outbound ---------------------------------------------------------

    def deliver(self, event: Event) -> Deferred[None]:
        """
        Send C{event} to its remote XMPP recipient.
        """
        if not self.running or self._s2s is None:
            return fail(DeliveryFailed("service-unavailable", "the XMPP connector is stopped"))
        return Deferred.fromCoroutine(self._deliver(event))

    async def _deliver(self, event: Event) -> None:
        assert self._s2s is not None
        if isinstance(event, TextMessage | MessageEdit):
            length = len(event.body.plain_text())
            if length > self._max_message_chars:
                # Not split: XMPP carries rich text a plain cut would break.
                raise too_long("XMPP", length, self._max_message_chars, 1)
        session = event.session or await self._session(event.sender, event.recipient)
        stanza_id = new_event_id()
        target_id: str | None = None
        reply_to_id: str | None = None
        previous: frozenset[str] = frozenset()
        if isinstance(event, TextMessage | FileShare):
            stanza_id = event.message_id
            await self._store.map_message(
                event.message_id, PLATFORM, native_key(session, stanza_id), session
            )
            if isinstance(event, TextMessage) and event.reply_to:
                reply_to_id = _stanza_id_of(
                    await self._store.find_native_id(event.reply_to, PLATFORM)
                )
        elif isinstance(event, MessageEdit | MessageRetract | ReactionAdd | ReactionRemove):
            target_id = _stanza_id_of(await self._store.find_native_id(event.message_id, PLATFORM))
            if target_id is None:
                raise DeliveryFailed(
                    "item-not-found",
                    f"the message this {event.kind.replace('_', ' ')} refers to never reached XMPP",
                )
            if isinstance(event, ReactionAdd | ReactionRemove):
                previous = self._reactions.get((event.sender.key, event.message_id), frozenset())
        elif isinstance(event, DeliveryError) and event.message_id:
            failed = _stanza_id_of(await self._store.find_native_id(event.message_id, PLATFORM))
            stanza_id = failed or stanza_id
        stanzas = event_to_stanzas(
            event,
            stanza_id=stanza_id,
            target_id=target_id,
            reply_to_id=reply_to_id,
            previous_reactions=previous,
        )
        if not stanzas:
            raise DeliveryFailed(
                "feature-not-implemented", f"a {event.kind} cannot be expressed in XMPP"
            )
        self._sender_jids.address(event, stanzas)
        for stanza in stanzas:
            await self._s2s.send(stanza)
            self.stanzas_out += 1
        if isinstance(event, ReactionAdd | ReactionRemove):
            self._remember_reactions(
                (event.sender.key, event.message_id), apply_reaction(previous, event)
            )
        elif isinstance(event, ContactAccept):
            # RFC 6121 3.1.5: a new subscriber gets the current presence.
            self._send_presence(event.sender, event.recipient)

    # -- inbound ----------------------------------------------------------

    def stanza_received(self, element: Element) -> Intake | None:
        """
        Handle a stanza from an authenticated remote stream (the s2s
        C{on_stanza} callback). Stanzas of one sender to one recipient are
        processed in arrival order.

        @return: When the stanza is handled (the s2s service stops reading
            a stream with too many of these in flight) and when that is
            durable (a chat message: once its work record is claimed), or
            C{None} when it was answered at once.
        """
        self.stanzas_in += 1
        if element.name == "iq" and self._vcards.answered(element):
            # An answer to the hub's own request (a vCard) must not queue
            # behind the stanza whose handling is waiting for it.
            return None
        # Bare JIDs: a user's stanzas keep their order whatever resource
        # (or none) they come from, e.g. Prosody's bare 'subscribed'
        # followed at once by the full JID's available presence.
        key = (_bare(element.getAttribute("from")), _bare(element.getAttribute("to")))
        claiming = inbound_work.claim(self._work, element)
        # Before routing waits on the claim: acknowledged before it is sent on.
        durable = None if claiming is None else inbound_work.durable_once_claimed(claiming)
        try:
            handled = self._lanes.submit(key, lambda: self._handle(element, claiming))
        except LaneFull:
            # A peer flooding one pair: refuse rather than queue without end.
            if claiming is not None and self._work is not None:
                work = self._work
                claiming.addCallback(lambda record: work.move(record, WorkState.TOLD))
            reply = error_reply(element, "resource-constraint", "too many stanzas queued")
            if reply is not None:
                self._send_quietly(reply)
            return None
        handled.addErrback(
            lambda f: log.failure("handling a {name} stanza failed", f, name=element.name)
        )
        return intake_of(handled) if durable is None else Intake(handled, durable)

    def fetch_profile(self, requester: Address, address: Address) -> Deferred[Profile | None]:
        """
        Ask C{address}'s server for their vCard (XEP-0054) on behalf of hub
        user C{requester}; C{None} on an error or after
        L{PROFILE_TIMEOUT} seconds. Never fails.
        """
        if self._s2s is None or not self.running:
            return succeed(None)
        return self._vcards.ask(self._s2s.send, requester, address)

    async def _handle(
        self, element: Element, claiming: Deferred[WorkRecord | None] | None = None
    ) -> None:
        if element.name == "iq":
            await self._answer_iq(element)
            return
        await inbound_work.handled_once(
            self._work, claiming, lambda work, routed: self._handle_stanza(element, work, routed)
        )

    async def _handle_stanza(
        self, element: Element, work: WorkRecord | None, routed: list[WorkRecord]
    ) -> None:
        received = stanza_to_events(element, now=self._now())
        if received.error_reply is not None:
            self._send_quietly(received.error_reply)
            return
        sender, recipient = received.sender, received.recipient
        if sender is None or recipient is None:
            return
        if received.probe:
            await self._answer_probe(recipient, sender)
            return
        session = await self._session(sender, recipient)
        resolved: dict[NativeRef, str | None] = {}
        for ref in received.refs:
            key = native_key(session, ref.stanza_id)
            if ref.new:
                hub_id = new_event_id()
                await self._store.map_message(hub_id, PLATFORM, key, session)
                resolved[ref] = hub_id
            else:
                resolved[ref] = await self._store.find_message_id(PLATFORM, key)
        previous: frozenset[str] = frozenset()
        reaction_key: tuple[str, str] | None = None
        if received.reactions is not None:
            message_id = resolved.get(received.reactions.message)
            if message_id is not None:
                reaction_key = (sender.key, message_id)
                previous = self._reactions.get(reaction_key, frozenset())
        request_pending = False
        if received.unsubscribed:
            contact = await self._store.get_contact(recipient, sender)
            request_pending = (
                contact is not None
                and contact.state == ContactState.PENDING
                and contact.direction == ContactDirection.OUTBOUND
            )
        events = received.bind(
            resolved.get, previous_reactions=previous, request_pending=request_pending
        )
        if reaction_key is not None and received.reactions is not None:
            self._remember_reactions(reaction_key, received.reactions.emojis)
        outcomes = []
        for event in events:
            claimed, work = (work, None) if inbound_work.wants_record(event) else (None, work)
            route: Any = self._sink.route
            if claimed is not None:
                routed.append(claimed)
                outcome = await route(event, work=claimed)
            else:
                outcome = await route(event)
            if outcome.delivered or outcome.queued:
                outcomes.append(outcome)
                continue
            if event.category in (Category.IM, Category.CONTACT):
                reply = error_reply(
                    element, outcome.condition or "undefined-condition", outcome.reason
                )
                if reply is not None:
                    self._send_quietly(reply)
            return
        if events:
            receipt = received.receipt_reply(new_event_id())
            self._sender_jids.remember(outcomes, received.sender_jid)
            inbound_work.receipt_when_settled(outcomes, receipt, self._send_quietly)

    def tell_not_delivered(self, record: WorkRecord) -> Deferred[bool]:
        """
        After a restart: tell the sender of an unfinished work record that
        it was not delivered (L{inbound_work.not_delivered}).
        """
        if self._s2s is None:
            return succeed(False)
        self.stanzas_out += 1
        d = self._s2s.send(inbound_work.not_delivered(record))
        return d.addCallbacks(lambda _: True, lambda f: False)

    async def _answer_probe(self, user: Address, watcher: Address) -> None:
        # RFC 6121 4.3.2: only subscribed watchers learn presence.
        contact = await self._store.get_contact(user, watcher)
        if contact is not None and contact.state == ContactState.ACCEPTED:
            self._send_presence(user, watcher)

    def _send_presence(self, user: Address, watcher: Address) -> None:
        """
        Send C{user}'s known presence to C{watcher}; unknown is shown as
        away with a note, never as offline.
        """
        availability, status = self._presence.lookup(user)
        if availability == Availability.UNKNOWN and not status:
            status = "presence not shared by this user's platform"
        event = Presence(sender=user, recipient=watcher, availability=availability, status=status)
        for stanza in event_to_stanzas(event, stanza_id=new_event_id()):
            self._send_quietly(stanza)

    async def _answer_iq(self, element: Element) -> None:
        profile: Profile | None = None
        to = element.getAttribute("to") or ""
        address = None
        if "@" in to:
            try:
                address = Address.parse(to.partition("/")[0])
            except ValueError:
                address = None
        if address is not None and address.domain in self._tenants:
            profile = await self._profile(address)
        answer = answer_iq(element, _Directory(frozenset(self._tenants), address, profile))
        if answer is not None:
            self._send_quietly(answer)

    async def _profile(self, address: Address) -> Profile:
        user = await self._store.get_user(address)
        if user is None:
            # Platforms create users lazily; a name is all we can say yet.
            return Profile(display_name=address.local)
        return Profile(
            display_name=user.display_name or address.local,
            title=user.title,
            avatar_url=user.avatar_url,
        )

    # -- helpers ----------------------------------------------------------

    async def _session(self, first: Address, second: Address) -> ChatSessionId:
        record = await self._store.get_or_create_session(first, second, self._now())
        return record.session_id  # type: ignore[no-any-return]

    def _send_quietly(self, stanza: Element) -> None:
        if self._s2s is None:
            return
        self.stanzas_out += 1
        self._s2s.send(stanza).addErrback(
            lambda f: log.info(
                "could not send a {name} reply: {error}",
                name=stanza.name,
                error=f.getErrorMessage(),
            )
        )

    def _remember_reactions(self, key: tuple[str, str], emojis: frozenset[str]) -> None:
        self._reactions[key] = emojis
        self._reactions.move_to_end(key)
        while len(self._reactions) > _REACTION_MEMORY:
            self._reactions.popitem(last=False)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)


def _bare(jid: str | None) -> str:
    return (jid or "").partition("/")[0].lower()


def _reason(refusal: Any) -> str | None:
    return refusal.reason if refusal is not None else None


@frozen
class _Directory:
    """
    The disco directory for one IQ: the hub's domains and the one user the
    IQ is addressed to, looked up beforehand.
    """

    domains: frozenset[str]
    address: Address | None
    user_profile: Profile | None

    def serves_domain(self, domain: str) -> bool:
        return domain in self.domains

    def profile(self, address: Address) -> Profile | None:
        return self.user_profile if address == self.address else None


def s2s_settings(config: XmppConfig, partners: Iterable[PartnerConfig]) -> S2SSettings:
    """
    The s2s settings from the connector section and the XMPP partners.
    """
    xmpp_partners = [p for p in partners if p.protocol == PLATFORM]
    secret = config.dialback_secret.encode("utf-8") if config.dialback_secret else None
    return S2SSettings(
        dialback_secret=secret,
        require_certificates=config.require_certificates,
        secure_domains=config.secure_domains
        | {p.domain for p in xmpp_partners if p.require_certificates},
        insecure_domains=config.insecure_domains,
        static_routes={p.domain: p.route for p in xmpp_partners if p.route},
        limits=StreamLimits(
            max_stanza_size=config.max_stanza_bytes,
            negotiation_timeout=config.negotiation_timeout,
            idle_timeout=config.inbound_idle_timeout,
        ),
        connect_timeout=config.connect_timeout,
        idle_timeout=config.idle_timeout,
        max_streams_per_address=config.max_streams_per_address,
    )


def build(context: ConnectorContext, config: XmppConfig) -> XmppConnector:
    """
    Build the XMPP connector with its s2s service and listeners.
    """
    hub = context.config
    connector = XmppConnector(
        sink=context.sink,
        store=context.store,
        clock=context.reactor,
        tenants=hub.tenants,
        presence=context.presence,
        work=context.work,
        max_message_chars=config.max_message_chars,
    )
    s2s = S2SService(
        domains=tenant_certificates(hub),
        ca_paths=trusted_ca_paths(hub, config.system_ca),
        resolver=needs_resolver(context, "XMPP"),
        reactor=context.reactor,
        on_stanza=connector.stanza_received,
        policy_hook=connector.refusal_reason,
        settings=s2s_settings(config, hub.partners),
    )
    s2s.pool.recorder = context.federation_health
    connector.attach(s2s)
    wire(
        context,
        connector,
        connector.refresh_policy,
        [
            Listener(
                "xmpp-s2s",
                config.listen,
                s2s.listen_factory(),
                "(XMPP server-to-server, STARTTLS)",
            ),
            Listener(
                "xmpp-s2s-direct-tls",
                config.direct_tls_listen,
                s2s.listen_factory(direct_tls=True),
                "(XMPP server-to-server, direct TLS)",
            ),
        ],
    )
    return connector


ENTRY = ConnectorEntry(
    name="xmpp",
    role="federation",
    parse_config=parse_config,
    build=build,
    summary="XMPP server-to-server federation (STARTTLS, SASL EXTERNAL, dialback).",
)
