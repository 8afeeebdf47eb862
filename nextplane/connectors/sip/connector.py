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
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote, unquote

from attrs import define, field, frozen
from twisted.application.service import MultiService, Service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred, DeferredList, fail, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ...config import ConfigError, PartnerConfig, Section, TenantConfig
from ...interfaces import DeliveryFailed, IConnector, IEventSink, IStore
from ...model.address import Address, ChatSessionId, InvalidAddress, validate_domain
from ...model.events import (
    Availability,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
    Typing,
    TypingState,
)
from ...model.text import Link, RichText, Text
from ...ordering import KeyedSerializer
from ...presence import PresenceBook
from ...router import Outcome
from ...service import EndpointService
from ...storage.records import ContactDirection, ContactState
from ..base import ConnectorContext, ConnectorEntry
from ..rules import DomainRuleCache
from .dialog import Dialog, DialogId, DialogTable
from .im import (
    ACCEPT,
    FORMATS,
    ISCOMPOSING,
    BodyError,
    Content,
    build_is_composing,
    build_keyboard_activity,
    decode_ms_text_format,
    decode_text,
    encode_ms_text_format,
    encode_text,
    media_type,
    parse_is_composing,
    parse_keyboard_activity,
)
from .message import REASONS, Headers, Request, Response
from .presence import PIDF, PresenceDocument, accepts_pidf, build_pidf, parse_pidf
from .resolve import SipResolver, parse_route
from .tls import SipClientTLS, SipServerTLS, TenantTLS, TrustStore, load_credentials
from .transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionError,
    TransactionLayer,
    TransactionTimeout,
    new_tag,
)
from .transport import ConnectError, Limits, SipConnection, SipTransport
from .uri import SipSyntaxError, SipURI, parse_name_addr, parse_uri, quote_string

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

#: The platform name under which SIP message ids are kept in the store.
PLATFORM = "sip"
#: Where Debian keeps the system's trusted CAs.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: Methods the hub answers (ACK and CANCEL are handled by the transaction
#: layer).
ALLOW = "INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, OPTIONS"
_HANDLED = frozenset({"INVITE", "BYE", "MESSAGE", "INFO", "SUBSCRIBE", "NOTIFY", "OPTIONS"})
#: Methods the hub knows but does not serve: 405 (others: 501).
_NOT_ALLOWED = frozenset(
    {"REGISTER", "PUBLISH", "REFER", "UPDATE", "PRACK", "BENOTIFY", "SERVICE", "NEGOTIATE"}
)
#: Option tags a C{Require} header may name (RFC 3261 section 8.2.2.3).
_SUPPORTED: frozenset[str] = frozenset()
_EVENT = "presence"
_MAX_RESUBSCRIBE_DELAY = 3600.0
_ANNOUNCE_DELAY = 0.05
_ANNOUNCE_ATTEMPTS = 8
_MICROSOFT_AGENTS = ("uccapi", "lync", "skype", "ocs", "communicator")
#: Characters kept as they are in the user part of a SIP URI (RFC 3261
#: C{unreserved} and C{user-unreserved}).
_USER_SAFE = "-_.!~*'()&=+$,;?/"

_STATUS_FOR_CONDITION: Mapping[str, int] = {
    "not-allowed": 403,
    "forbidden": 403,
    "policy-violation": 403,
    "not-authorized": 403,
    "subscription-required": 403,
    "item-not-found": 404,
    "remote-server-not-found": 404,
    "recipient-unavailable": 480,
    "service-unavailable": 480,
    "remote-server-timeout": 408,
    "feature-not-implemented": 488,
    "not-acceptable": 488,
    "bad-request": 400,
    "resource-constraint": 503,
    "internal-server-error": 500,
    "undefined-condition": 500,
}


def status_for(condition: str | None) -> int:
    """
    The SIP status answering an inbound request the router refused or
    could not deliver, for its condition (XMPP stanza-error vocabulary).
    """
    return _STATUS_FOR_CONDITION.get(condition or "", 500)


def condition_for(status: int) -> str:
    """
    The delivery condition for a SIP error status our request got.
    """
    if status in (401, 407):
        return "not-authorized"
    if status in (403, 603):
        return "forbidden"
    if status in (404, 410, 484, 604):
        return "item-not-found"
    if status in (480, 486, 600):
        return "recipient-unavailable"
    if status in (408, 504):
        return "remote-server-timeout"
    if status in (405, 415, 420, 488, 489, 501, 606):
        return "feature-not-implemented"
    return "service-unavailable"


# -- configuration -------------------------------------------------------------


@frozen
class SipConfig:
    """
    C{[connectors.sip]}.

    @ivar listen: Endpoint of the mutual-TLS listener (plain TCP endpoint;
        the TLS is the connector's own, certificate by SNI), e.g.
        C{tcp:5061}.
    @ivar relay_listen: Optional plain TCP listener for trusted relays.
    @ivar trusted_relays: IP addresses allowed on C{relay_listen}; their
        requests may carry any remote From domain.
    @ivar via_host: The hub's SIP host name, for Via and Contact (must
        resolve to the hub); absent: the tenant's own domain in Contact
        (found through its SRV records) and the first tenant in Via.
    @ivar via_port: The port in Via and Contact when C{via_host} is set.
    @ivar routes: Remote domain to a fixed C{host[:port][;transport=tcp]}
        instead of DNS (C{[[federation.partners]]} routes of protocol
        C{sip} are added).
    @ivar session_domains: Remote domains reached with INVITE sessions
        (Skype for Business / Lync); others get pager MESSAGEs.
    @ivar message_format: C{auto}, C{plain}, C{html} or C{alternative}
        (see L{nextplane.connectors.sip.im.encode_text}).
    @ivar session_idle_timeout: Seconds an IM session may stay unused.
    @ivar subscription_expires: Seconds asked for and granted (at most)
        for presence subscriptions.
    @ivar min_expires: Shortest subscription accepted (423 below).
    @ivar max_message_bytes: Largest body accepted (413 above).
    @ivar connect_timeout: Seconds per outbound connection attempt.
    @ivar advertise_alias: Put C{;alias} in our Via (RFC 5923).
    @ivar system_ca: Also trust the system's CA bundle.
    """

    listen: str = "tcp:5061"
    relay_listen: str | None = None
    trusted_relays: frozenset[str] = frozenset()
    via_host: str | None = None
    via_port: int = 5061
    routes: Mapping[str, str] = field(factory=dict)
    session_domains: frozenset[str] = frozenset()
    message_format: str = "auto"
    session_idle_timeout: float = 600.0
    subscription_expires: int = 3600
    min_expires: int = 60
    max_message_bytes: int = 256 * 1024
    connect_timeout: float = 20.0
    advertise_alias: bool = False
    system_ca: bool = True


def parse_config(section: Section) -> SipConfig:
    """
    Validate C{[connectors.sip]}.
    """

    def domain(key: str, value: str) -> str:
        try:
            return validate_domain(value)
        except InvalidAddress as e:
            raise ConfigError(key, str(e)) from None

    routes: dict[str, str] = {}
    if section.has("routes"):
        table = section.section("routes")
        for name in table.table_names():
            value = table.string(name)
            try:
                parse_route(value)
            except ValueError as e:
                raise ConfigError(table.key(name), str(e)) from None
            routes[domain(table.key(name), name)] = value
        table.finish()
    session_domains = frozenset(
        domain(f"{section.key('session_domains')}[{i}]", value)
        for i, value in enumerate(section.strings("session_domains", ()))
    )
    relays = section.strings("trusted_relays", ())
    for index, value in enumerate(relays):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError(
                f"{section.key('trusted_relays')}[{index}]", f"not an IP address: {value!r}"
            ) from None
    via_host = section.optional_string("via_host")
    if via_host is not None:
        try:
            parse_uri(f"sip:{via_host}")
        except SipSyntaxError:
            raise ConfigError(section.key("via_host"), f"not a host name: {via_host!r}") from None
    min_expires = section.integer("min_expires", 60, minimum=1, maximum=3600)
    return SipConfig(
        listen=section.server_endpoint("listen", "tcp:5061"),
        relay_listen=section.server_endpoint("relay_listen")
        if section.has("relay_listen")
        else None,
        trusted_relays=frozenset(relays),
        via_host=via_host,
        via_port=section.integer("via_port", 5061, minimum=1, maximum=65535),
        routes=routes,
        session_domains=session_domains,
        message_format=section.choice("message_format", FORMATS, "auto"),
        session_idle_timeout=section.number("session_idle_timeout", 600.0, minimum=1.0),
        subscription_expires=section.integer(
            "subscription_expires", 3600, minimum=min_expires, maximum=86400 * 7
        ),
        min_expires=min_expires,
        max_message_bytes=section.integer(
            "max_message_bytes", 256 * 1024, minimum=1024, maximum=16 * 1024 * 1024
        ),
        connect_timeout=section.number("connect_timeout", 20.0, minimum=1.0),
        advertise_alias=section.boolean("advertise_alias", False),
        system_ca=section.boolean("system_ca", True),
    )


@frozen
class SipSettings:
    """
    What the connector core needs of the configuration.
    """

    via_host: str
    via_port: int = 5061
    contact_host: str | None = None
    session_domains: frozenset[str] = frozenset()
    message_format: str = "auto"
    session_idle_timeout: float = 600.0
    subscription_expires: int = 3600
    min_expires: int = 60


# -- addresses -----------------------------------------------------------------


def user_part(local: str) -> str:
    """
    A hub local part as the user part of a SIP URI (escaped).
    """
    return quote(local, safe=_USER_SAFE)


def address_uri(address: Address) -> str:
    """
    C{sip:local@domain}.
    """
    return f"sip:{user_part(address.local)}@{address.domain}"


def address_of(uri: object) -> Address:
    """
    The hub address of a SIP URI with a user part.

    @raise InvalidAddress: Not a SIP URI with user, or not a valid address.
    """
    if not isinstance(uri, SipURI) or not uri.user:
        raise InvalidAddress("not a SIP address of record")
    return Address(unquote(uri.user), uri.host)


def _phrase(text: str, limit: int = 200) -> str:
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned[:limit]


def _event_type(value: str | None) -> str | None:
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()


def _state_params(value: str) -> tuple[str, dict[str, str]]:
    pieces = value.split(";")
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, _, raw = piece.partition("=")
        params[name.strip().lower()] = raw.strip()
    return pieces[0].strip().lower(), params


def _int_or(value: str | None, default: int) -> int:
    if value is None:
        return default
    value = value.strip()
    return int(value) if value.isdigit() and value.isascii() and len(value) < 11 else default


def _offers_im(sdp: bytes) -> bool:
    for line in sdp.decode("utf-8", "replace").splitlines():
        line = line.strip().lower()
        if line.startswith(("m=message", "m=x-ms-message")):
            return True
    return False


def _microsoft(request: Request) -> bool:
    if request.headers.get("ms-text-format") or request.headers.get("Ms-Conversation-ID"):
        return True
    agent = (request.headers.get("User-Agent") or "").lower()
    return any(name in agent for name in _MICROSOFT_AGENTS)


def _supported(message: Request | Response) -> set[str]:
    return {tag.strip().lower() for tag in message.headers.get_all("Supported")}


# -- state -------------------------------------------------------------------------


@define(eq=False)
class ImSession:
    """
    An INVITE session between a hub user and a SIP user.

    @ivar opening: While our INVITE is under way, fires with whether the
        peer took the first message from C{ms-text-format}.
    """

    hub_user: Address
    remote: Address
    outbound: bool
    dialog: Dialog | None = None
    flow: SipConnection | None = None
    confirmed: bool = False
    microsoft: bool = True
    opening: Deferred[bool] | None = None
    invite: Request | None = None
    idle_call: IDelayedCall | None = None
    ended: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.hub_user.key, self.remote.key)


@define(eq=False)
class Watcher:
    """
    A SIP user's subscription to a hub user's presence (we notify).
    """

    hub_user: Address
    watcher: Address
    dialog: Dialog
    flow: SipConnection | None
    state: str = "pending"
    expires_at: float = 0.0
    timer: IDelayedCall | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.hub_user.key, self.watcher.key)


@define(eq=False)
class Subscription:
    """
    A hub user's subscription to a SIP user's presence (we subscribe).
    """

    hub_user: Address
    remote: Address
    call_id: str
    local_tag: str
    contact: str = ""
    request: Request | None = None
    dialog: Dialog | None = None
    flow: SipConnection | None = None
    state: str = "subscribing"
    timer: IDelayedCall | None = None
    announced: bool = False
    requested: bool = False
    document: PresenceDocument | None = None
    ended: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.hub_user.key, self.remote.key)


def _conn(tx: ServerTransaction) -> SipConnection:
    """
    The connection a request came in on.
    """
    return cast(SipConnection, tx.flow)


def _cancel(call: IDelayedCall | None) -> None:
    if call is not None and call.active():
        call.cancel()


# -- the connector ---------------------------------------------------------------


@implementer(IConnector)
class SipConnector(MultiService):
    """
    The hub's SIP federation; see the module docstring.
    """

    connector_name = "sip"
    role = "federation"

    def __init__(
        self,
        *,
        sink: IEventSink,
        store: IStore,
        clock: IReactorTime,
        tenants: Iterable[str],
        settings: SipSettings,
        presence: PresenceBook | None = None,
    ) -> None:
        MultiService.__init__(self)
        self._sink = sink
        self._store = store
        self._clock = clock
        self._tenants = frozenset(t.lower() for t in tenants)
        self.settings = settings
        self._layer: TransactionLayer | None = None
        self._transport: SipTransport | None = None
        self._resolver: SipResolver | None = None
        self._dialogs = DialogTable()
        self._sessions: dict[tuple[str, str], ImSession] = {}
        self._session_dialogs: dict[DialogId, ImSession] = {}
        self._watchers: dict[DialogId, Watcher] = {}
        self._subscriptions: dict[tuple[str, str], Subscription] = {}
        self._subscription_tags: dict[tuple[str, str], Subscription] = {}
        self._subscription_dialogs: dict[DialogId, Subscription] = {}
        self._ending: dict[DialogId, Dialog] = {}
        self._retries: dict[tuple[str, str], tuple[IDelayedCall, float]] = {}
        self._book = presence if presence is not None else PresenceBook()
        self._session_mode: set[str] = set(settings.session_domains)
        self._no_typing: set[str] = set()
        self._proven: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        self._inbound = KeyedSerializer()
        self._outbound = KeyedSerializer()
        self._notifying = KeyedSerializer()
        self._busy: set[Deferred[None]] = set()
        self._rules = DomainRuleCache(store, self._tenants, clock, self._policy_loaded)
        self._stopping = False
        self._calls: set[IDelayedCall] = set()
        self.requests_in = 0
        self.requests_out = 0

    def attach(
        self, layer: TransactionLayer, transport: SipTransport, resolver: SipResolver
    ) -> None:
        """
        Use C{transport} (whose receiver is C{layer}, whose user is this
        connector) for connections.
        """
        self._layer = layer
        self._transport = transport
        self._resolver = resolver

    @property
    def transport(self) -> SipTransport | None:
        """
        The transport, once attached.
        """
        return self._transport

    # -- lifecycle --------------------------------------------------------

    def startService(self) -> Deferred[None]:
        """
        Start the listeners; fires once all listen, so a port in use fails
        the hub's start-up.
        """
        Service.startService(self)
        self._stopping = False
        self._rules.start()
        return Deferred.fromCoroutine(self._start_children())

    async def _start_children(self) -> None:
        for child in list(self):
            await maybeDeferred(child.startService)

    def stopService(self) -> Deferred[None]:
        """
        Stop listening, end sessions and subscriptions (BYE, NOTIFY
        terminated), close every connection after what is written, and wait
        for requests under way.
        """
        self._rules.stop()
        self._stopping = True
        for session in list(self._sessions.values()):
            self._end_session(session, bye=True)
        for watcher in list(self._watchers.values()):
            self._end_watcher(watcher, "deactivated")
        for subscription in list(self._subscriptions.values()):
            self._forget_subscription(subscription)
        for call, _ in self._retries.values():
            _cancel(call)
        self._retries.clear()
        for call in self._calls:
            _cancel(call)
        self._calls.clear()
        self._ending.clear()
        stopping: Deferred[None] = MultiService.stopService(self)

        def close(_: object) -> Deferred[None]:
            if self._transport is not None:
                self._transport.close_all()
            return Deferred.fromCoroutine(self._drain())

        return stopping.addCallback(close)

    async def _drain(self) -> None:
        while self._busy or self._rules.in_flight is not None:
            waits: list[Deferred[Any]] = list(self._busy)
            if self._rules.in_flight is not None:
                waits.append(self._rules.in_flight)
            await DeferredList(waits, consumeErrors=True)

    def refresh_policy(self) -> Deferred[None]:
        """
        Reload the tenants' domain rules, and end the sessions and
        subscriptions of domains they now block.
        """
        return self._rules.refresh()

    def _policy_loaded(self) -> None:
        if self.running:
            self._enforce_policy()

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        Why C{remote} may not federate with hub domain C{local}, if it may
        not.
        """
        return self._rules.refusal_reason(local, remote)

    def _enforce_policy(self) -> None:
        for session in list(self._sessions.values()):
            if self.refusal_reason(session.hub_user.domain, session.remote.domain):
                self._end_session(session, bye=True)
        for watcher in list(self._watchers.values()):
            if self.refusal_reason(watcher.hub_user.domain, watcher.watcher.domain):
                self._end_watcher(watcher, "rejected")
        for subscription in list(self._subscriptions.values()):
            if self.refusal_reason(subscription.hub_user.domain, subscription.remote.domain):
                self._unsubscribe(subscription)

    def health(self) -> dict[str, Any]:
        """
        State and counts.
        """
        transport = self._transport
        return {
            "state": "ok" if self.running and transport is not None else "stopped",
            "connections": len(transport.table) if transport is not None else 0,
            "sessions": len(self._sessions),
            "watchers": len(self._watchers),
            "subscriptions": len(self._subscriptions),
            "requests_in": self.requests_in,
            "requests_out": self.requests_out,
        }

    # -- small helpers ----------------------------------------------------

    @property
    def layer(self) -> TransactionLayer:
        assert self._layer is not None, "the SIP connector is not attached"
        return self._layer

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def _contact(self, user: Address, flow: SipConnection | None) -> str:
        transport = "tls" if flow is None or flow.tls else "tcp"
        host = self.settings.contact_host
        if host is None:
            return f"<sip:{user_part(user.local)}@{user.domain};transport={transport}>"
        return (
            f"<sip:{user_part(user.local)}@{host}:{self.settings.via_port};transport={transport}>"
        )

    def _warning(self, reason: str) -> tuple[str, str]:
        return ("Warning", f"399 {self.settings.via_host} {quote_string(_phrase(reason))}")

    def _refuse(
        self,
        tx: ServerTransaction,
        status: int,
        reason: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        phrase = _phrase(reason) or REASONS.get(status, "Error")
        tx.reply(status, phrase, headers=[self._warning(phrase), *headers])

    def _answer(
        self,
        tx: ServerTransaction,
        outcome: Outcome,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        if outcome.delivered:
            tx.reply(200, headers=headers)
            return
        status = status_for(outcome.condition)
        self._refuse(tx, status, outcome.reason or REASONS.get(status, "Error"))

    def _new_call_id(self) -> str:
        return f"{secrets.token_hex(12)}@{self.settings.via_host}"

    async def _chat_session(self, first: Address, second: Address) -> ChatSessionId:
        record = await self._store.get_or_create_session(first, second, self._now())
        return record.session_id  # type: ignore[no-any-return]

    async def _route(self, event: Event) -> Outcome:
        outcome: Outcome = await self._sink.route(event)
        return outcome

    def _track(self, d: Deferred[Any], what: str) -> None:
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

    def _background(self, coroutine: Any, what: str) -> None:
        self._track(Deferred.fromCoroutine(coroutine), what)

    def _later(self, delay: float, function: Callable[[], None]) -> None:
        """
        Call C{function} after C{delay} seconds, unless the connector stops
        first.
        """
        holder: list[IDelayedCall] = []

        def fire() -> None:
            self._calls.discard(holder[0])
            function()

        call = self._clock.callLater(delay, fire)
        holder.append(call)
        self._calls.add(call)

    # -- the transaction user: inbound --------------------------------------

    def request_received(self, transaction: ServerTransaction) -> None:
        """
        A request arrived (see L{TransactionUser}).
        """
        self.requests_in += 1
        try:
            self._dispatch(transaction)
        except Exception:
            log.failure("handling a {method} failed", method=transaction.request.method)
            if transaction.final_response is None:
                transaction.reply(500)

    def _dispatch(self, tx: ServerTransaction) -> None:
        request = tx.request
        method = request.method
        if method not in _HANDLED:
            tx.reply(405 if method in _NOT_ALLOWED else 501, headers=[("Allow", ALLOW)])
            return
        if not self.running or self._transport is None:
            tx.reply(503, headers=[("Retry-After", "30")])
            return
        try:
            uri = parse_uri(request.uri)
        except SipSyntaxError:
            tx.reply(400, "Malformed Request-URI")
            return
        if not isinstance(uri, SipURI):
            tx.reply(416)
            return
        required = [tag for tag in request.headers.get_all("Require") if tag]
        unsupported = [tag for tag in required if tag.lower() not in _SUPPORTED]
        if unsupported:
            tx.reply(420, headers=[("Unsupported", ", ".join(unsupported))])
            return
        if request.headers.get("Max-Forwards") == "0" and method != "OPTIONS":
            tx.reply(483)
            return
        if method == "OPTIONS":
            self._options(tx)
            return
        if request.to.tag is not None:
            self._dispatch_in_dialog(tx)
        else:
            self._dispatch_out_of_dialog(tx, uri)

    def _options(self, tx: ServerTransaction) -> None:
        tx.reply(
            200,
            headers=[
                ("Allow", ALLOW),
                ("Accept", f"{ACCEPT}, application/sdp, {PIDF}"),
                ("Allow-Events", _EVENT),
            ],
        )

    def _local_user(self, uri: SipURI, request: Request) -> Address | None:
        candidates: list[object] = [uri]
        try:
            candidates.append(request.to.uri)
        except SipSyntaxError:
            pass
        for candidate in candidates:
            if isinstance(candidate, SipURI) and candidate.host.lower() in self._tenants:
                try:
                    return address_of(candidate)
                except (InvalidAddress, ValueError):
                    continue
        return None

    def _dispatch_out_of_dialog(self, tx: ServerTransaction, uri: SipURI) -> None:
        request = tx.request
        method = request.method
        if method in ("BYE", "INFO", "NOTIFY"):
            tx.reply(481)
            return
        hub_user = self._local_user(uri, request)
        if hub_user is None:
            tx.reply(404, "Not a user of this hub")
            return
        try:
            remote = address_of(request.from_.uri)
        except (InvalidAddress, ValueError):
            tx.reply(400, "Malformed From address")
            return
        if remote.domain in self._tenants:
            self._refuse(tx, 403, f"{remote.domain} is served by this hub")
            return
        if method in ("INVITE", "SUBSCRIBE") and not request.contacts:
            tx.reply(400, "Missing Contact header")
            return
        handler: Callable[[], Any]
        if method == "MESSAGE":
            handler = lambda: self._message(tx, hub_user, remote)  # noqa: E731
        elif method == "INVITE":
            handler = lambda: self._invite(tx, hub_user, remote)  # noqa: E731
        else:
            handler = lambda: self._subscribe_in(tx, hub_user, remote)  # noqa: E731
        self._enqueue((remote.key, hub_user.key), tx, remote, handler)

    def _dispatch_in_dialog(self, tx: ServerTransaction) -> None:
        request = tx.request
        if request.method == "NOTIFY":
            self._early_notify(request)
        result = self._dialogs.dispatch(request)
        if isinstance(result, Response):
            tx.respond(result)
            return
        if result is None:
            tx.reply(481)
            return
        dialog = result
        try:
            hub_user = address_of(dialog.local_party.uri)
            remote = address_of(dialog.remote_party.uri)
        except (InvalidAddress, ValueError):
            tx.reply(481)
            return
        self._enqueue(
            (remote.key, hub_user.key),
            tx,
            remote,
            lambda: self._in_dialog(tx, dialog, hub_user, remote),
        )

    def _enqueue(
        self,
        key: tuple[str, str],
        tx: ServerTransaction,
        remote: Address,
        handler: Callable[[], Any],
    ) -> None:
        async def run() -> None:
            release = await self._inbound.acquire(key)
            try:
                if not await self._authorized(_conn(tx), remote.domain):
                    self._refuse(
                        tx, 403, f"the peer's certificate does not speak for {remote.domain}"
                    )
                    return
                await handler()
            except BodyError as e:
                if tx.final_response is None:
                    headers = [("Accept", ACCEPT)] if e.status == 415 else []
                    tx.reply(e.status, e.reason, headers=headers)
            except Exception:
                log.failure("handling a {method} failed", method=tx.request.method)
                if tx.final_response is None:
                    tx.reply(500)
            finally:
                release()

        self._background(run(), f"handling a {tx.request.method}")

    async def _authorized(self, flow: Any, domain: str) -> bool:
        if getattr(flow, "trusted_relay", False):
            return True
        proven = self._proven.setdefault(flow, set())
        if domain in proven:
            return True
        if self._resolver is None:
            return False
        identities: frozenset[str] = getattr(flow, "peer_identities", frozenset())
        if await self._resolver.peer_serves(domain, identities):
            proven.add(domain)
            return True
        return False

    async def _in_dialog(
        self, tx: ServerTransaction, dialog: Dialog, hub_user: Address, remote: Address
    ) -> None:
        method = tx.request.method
        session = self._session_dialogs.get(dialog.id)
        if session is not None:
            self._touch(session)
        if method == "MESSAGE":
            await self._message(tx, hub_user, remote)
        elif method == "INFO":
            await self._info(tx, hub_user, remote)
        elif method == "BYE":
            tx.reply(200)
            if session is not None:
                self._end_session(session, bye=False)
            else:
                self._dialogs.remove(dialog)
        elif method == "INVITE":
            if session is None:
                tx.reply(405, headers=[("Allow", ALLOW)])
                return
            contact = dialog.local_contact or self._contact(hub_user, _conn(tx))
            tx.reply(
                200,
                headers=[("Contact", contact), ("Content-Type", "application/sdp")],
                body=self._sdp(hub_user, _conn(tx), answer=True),
            )
        elif method == "SUBSCRIBE":
            await self._refresh_in(tx, dialog)
        elif method == "NOTIFY":
            await self._notify_in(tx, dialog)
        else:  # pragma: no cover - filtered by _dispatch
            tx.reply(405, headers=[("Allow", ALLOW)])

    # -- inbound instant messages -----------------------------------------

    def _event_for(self, content: Content, sender: Address, recipient: Address) -> Event:
        if content.media_type == ISCOMPOSING:
            return Typing(
                sender=sender,
                recipient=recipient,
                state=parse_is_composing(content.body),
                timestamp=self._now(),
            )
        if not content.body.strip():
            raise BodyError(400, "Empty message body")
        return TextMessage(
            sender=sender,
            recipient=recipient,
            body=decode_text(content.content_type or None, content.body),
            timestamp=self._now(),
        )

    async def _route_content(
        self, request: Request, content: Content, sender: Address, recipient: Address
    ) -> Outcome:
        event = self._event_for(content, sender, recipient)
        if isinstance(event, TextMessage):
            session = await self._chat_session(sender, recipient)
            native = f"{session.value}:{request.call_id}:{request.cseq.number}"
            await self._store.map_message(event.message_id, PLATFORM, native, session)
            return await self._route(event.with_session(session))
        return await self._route(event)

    async def _message(self, tx: ServerTransaction, hub_user: Address, remote: Address) -> None:
        request = tx.request
        content = Content(request.headers.get("Content-Type") or "", request.body)
        outcome = await self._route_content(request, content, remote, hub_user)
        self._answer(tx, outcome)

    async def _info(self, tx: ServerTransaction, hub_user: Address, remote: Address) -> None:
        request = tx.request
        state: TypingState | None = None
        if request.body and media_type(request.headers.get("Content-Type"))[0].endswith("xml"):
            state = parse_keyboard_activity(request.body)
        if state is None:
            tx.reply(200)  # other INFO packages carry nothing for the hub
            return
        outcome = await self._route(
            Typing(sender=remote, recipient=hub_user, state=state, timestamp=self._now())
        )
        self._answer(tx, outcome)

    async def _invite(self, tx: ServerTransaction, hub_user: Address, remote: Address) -> None:
        request = tx.request
        if request.body:
            if request.content_type != "application/sdp":
                tx.reply(415, headers=[("Accept", "application/sdp")])
                return
            if not _offers_im(request.body):
                tx.reply(
                    488,
                    headers=[("Warning", f'304 {self.settings.via_host} "Only IM sessions"')],
                )
                return
        refusal = self.refusal_reason(hub_user.domain, remote.domain)
        if refusal is not None:
            self._refuse(tx, 403, refusal)
            return
        first: Content | None = None
        header = request.headers.get("ms-text-format")
        if header:
            first = decode_ms_text_format(header)
        headers = [("Allow", ALLOW)]
        if first is not None:
            outcome = await self._route_content(request, first, remote, hub_user)
            if not outcome.delivered:
                self._answer(tx, outcome)
                return
            headers.append(("Supported", "ms-text-format"))
        contact = self._contact(hub_user, _conn(tx))
        response = tx.reply(
            200,
            headers=[("Contact", contact), *headers, ("Content-Type", "application/sdp")],
            body=self._sdp(hub_user, _conn(tx), answer=True),
            copy_record_route=True,
        )
        if tx.final_response is not response:
            return  # cancelled meanwhile
        dialog = Dialog.as_uas(request, response, local_contact=contact, over_tls=_conn(tx).tls)
        self._dialogs.add(dialog)
        old = self._sessions.get((hub_user.key, remote.key))
        if old is not None:
            self._end_session(old, bye=True)
        session = ImSession(
            hub_user=hub_user,
            remote=remote,
            outbound=False,
            dialog=dialog,
            flow=_conn(tx),
            microsoft=_microsoft(request),
        )
        self._sessions[session.key] = session
        self._session_dialogs[dialog.id] = session
        self._touch(session)

    def _sdp(self, user: Address, flow: Any, answer: bool) -> bytes:
        host = "0.0.0.0"  # noqa: S104 - an address in a session description, nothing binds it
        transport = getattr(flow, "transport", None)
        if transport is not None:
            found = getattr(transport.getHost(), "host", None)
            if isinstance(found, str) and found:
                host = found
        kind = "IP6" if ":" in host else "IP4"
        target = address_uri(user) if answer else "null"
        return (
            f"v=0\r\no=- 0 0 IN {kind} {host}\r\ns=session\r\nc=IN {kind} {host}\r\nt=0 0\r\n"
            f"m=message {self.settings.via_port} sip {target}\r\n"
            f"a=accept-types:text/plain text/html multipart/alternative {ISCOMPOSING}\r\n"
        ).encode()

    # -- the transaction user: the rest -----------------------------------

    def ack_received(self, ack: Request, flow: Any) -> None:
        """
        The ACK for our 2xx to an INVITE.
        """
        dialog = self._dialogs.for_request(ack)
        if dialog is None:
            return
        session = self._session_dialogs.get(dialog.id)
        if session is not None:
            session.confirmed = True
            self._touch(session)

    def stray_response(self, response: Response, flow: Any) -> None:
        """
        A response no transaction waits for: a late 2xx to our INVITE is
        acknowledged again.
        """
        try:
            is_invite_ok = response.cseq.method == "INVITE" and 200 <= response.status < 300
        except SipSyntaxError:
            return
        if not is_invite_ok:
            return
        dialog = self._dialogs.for_response(response)
        if dialog is not None:
            try:
                self.layer.send_ack(dialog.create_ack(response.cseq.number), flow)
            except Exception as e:
                log.info("Could not acknowledge a late 2xx: {error}", error=e)

    def cancelled(self, transaction: ServerTransaction) -> None:
        """
        An INVITE was cancelled (answered 487 already); nothing was set up.
        """

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        """
        No ACK for our 2xx to an INVITE: end that session with a BYE.
        """
        response = transaction.final_response
        if transaction.request.method != "INVITE" or response is None:
            log.debug(
                "{method} transaction failed: {reason}",
                method=transaction.request.method,
                reason=reason,
            )
            return
        if 200 <= response.status < 300 and isinstance(reason, TransactionTimeout):
            try:
                dialog_id = DialogId(
                    response.call_id, response.to.tag or "", transaction.request.from_.tag or ""
                )
            except SipSyntaxError:
                return
            session = self._session_dialogs.get(dialog_id)
            if session is not None and not session.confirmed:
                self._end_session(session, bye=True)

    # -- outbound -----------------------------------------------------------

    def deliver(self, event: Event) -> Deferred[None]:
        """
        Send C{event} to its remote SIP recipient.
        """
        if not self.running or self._transport is None:
            return fail(DeliveryFailed("service-unavailable", "the SIP connector is stopped"))
        if event.sender.domain not in self._tenants:
            return fail(DeliveryFailed("not-allowed", f"{event.sender.domain} is not a tenant"))
        return Deferred.fromCoroutine(self._deliver_checked(event))

    async def _deliver_checked(self, event: Event) -> None:
        try:
            await self._deliver(event)
        except SipSyntaxError as e:
            # A peer's answer we cannot use (e.g. a 2xx without To tag).
            raise DeliveryFailed(
                "service-unavailable", f"{event.recipient.domain} answered malformed SIP: {e}"
            ) from None

    async def _deliver(self, event: Event) -> None:
        if isinstance(event, TextMessage):
            await self._send_text(event.sender, event.recipient, event.body, event.message_id)
        elif isinstance(event, MessageEdit):
            native = await self._store.find_native_id(event.message_id, PLATFORM)
            if native is None:
                raise DeliveryFailed(
                    "item-not-found", "the message this edit refers to never reached SIP"
                )
            body = RichText((Text("Correction: "), *event.body.nodes))
            await self._send_text(event.sender, event.recipient, body, None)
        elif isinstance(event, FileShare):
            label = event.name if event.size is None else f"{event.name} ({event.size} bytes)"
            body = RichText((Link(event.url, (Text(label),)),))
            await self._send_text(event.sender, event.recipient, body, event.message_id)
        elif isinstance(event, Typing):
            await self._send_typing(event)
        elif isinstance(event, Presence):
            await self._send_presence(event)
        elif isinstance(event, ContactRequest):
            await self._contact_request(event.sender, event.recipient)
        elif isinstance(event, ContactAccept):
            self._contact_accept(event.sender, event.recipient)
        elif isinstance(event, ContactDecline | ContactRemove):
            self._contact_end(event.sender, event.recipient)
        elif isinstance(event, MessageRetract | ReactionAdd | ReactionRemove | DeliveryError):
            raise DeliveryFailed(
                "feature-not-implemented",
                f"a {event.kind.replace('_', ' ')} cannot be sent over SIP",
            )

    async def _connect(self, domain: str, tenant: str) -> SipConnection:
        assert self._transport is not None
        try:
            return await self._transport.connect(domain, tenant)
        except ConnectError as e:
            raise DeliveryFailed("remote-server-not-found", str(e)) from None

    async def _dialog_flow(
        self, dialog: Dialog, hint: SipConnection | None, tenant: str, domain: str
    ) -> SipConnection:
        """
        The connection for an in-dialog request: the dialog's own while it
        lives, else one to its first Route (or remote target) per RFC 3263.
        """
        if hint is not None and not hint.closed and hint.verified:
            return hint
        if self._stopping:
            raise DeliveryFailed("service-unavailable", "the SIP connector is stopping")
        assert self._transport is not None and self._resolver is not None
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
            targets = await self._resolver.targets_for_uri(target)
            return await self._transport.connect(domain, tenant, targets=targets)
        except Exception as e:
            raise DeliveryFailed("remote-server-not-found", str(e)) from None

    def _send(
        self, request: Request, flow: SipConnection, on_response: Any = None
    ) -> ClientTransaction:
        self.requests_out += 1
        return self.layer.send_request(request, flow, on_response)

    async def _final(self, tx: ClientTransaction, domain: str) -> Response:
        try:
            return await tx.final
        except TransactionTimeout:
            raise DeliveryFailed(
                "remote-server-timeout", f"{domain} did not answer the {tx.request.method}"
            ) from None
        except TransactionError as e:
            raise DeliveryFailed("remote-server-not-found", f"{domain}: {e}") from None

    def _failed(self, response: Response, domain: str) -> DeliveryFailed:
        detail = response.reason
        for warning in response.headers.get_all("Warning"):
            _, _, text = warning.partition('"')
            if text:
                detail = text.rstrip('"')
                break
        return DeliveryFailed(
            condition_for(response.status),
            _phrase(f"{domain} refused it: {response.status} {detail}"),
        )

    async def _send_in_dialog(
        self,
        dialog: Dialog,
        hint: SipConnection | None,
        tenant: str,
        domain: str,
        method: str,
        content: Content | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> tuple[ClientTransaction, SipConnection]:
        flow = await self._dialog_flow(dialog, hint, tenant, domain)
        request = dialog.create_request(
            method,
            headers=headers,
            body=content.body if content is not None else b"",
            content_type=content.content_type if content is not None else None,
        )
        return self._send(request, flow), flow

    # -- outbound instant messages ------------------------------------------

    def _usable_session(self, key: tuple[str, str]) -> ImSession | None:
        session = self._sessions.get(key)
        if session is None or session.ended:
            return None
        return session

    async def _send_text(
        self, sender: Address, recipient: Address, body: RichText, message_id: str | None
    ) -> None:
        content = encode_text(body, self.settings.message_format)
        for attempt in range(2):
            try:
                request = await self._send_content(sender, recipient, content, retry=attempt == 0)
            except _SessionGone:
                continue
            if request is not None and message_id is not None:
                session = await self._chat_session(sender, recipient)
                native = f"{session.value}:{request.call_id}:{request.cseq.number}"
                await self._store.map_message(message_id, PLATFORM, native, session)
            return
        raise DeliveryFailed("recipient-unavailable", f"no IM session with {recipient}")

    async def _send_content(
        self, sender: Address, recipient: Address, content: Content, retry: bool
    ) -> Request | None:
        """
        Send one message (or typing notification); return the request that
        carried it.

        @raise _SessionGone: The session died under it (retry once).
        """
        key = (sender.key, recipient.key)
        release = await self._outbound.acquire(key)
        session: ImSession | None = None
        try:
            session = self._usable_session(key)
            if session is None and recipient.domain in self._session_mode:
                session = self._open_session(sender, recipient, content)
                assert session.opening is not None
                taken = await session.opening
                if taken:
                    return session.invite  # the INVITE carried it
            if session is not None:
                if session.opening is not None and not session.confirmed:
                    await session.opening
                assert session.dialog is not None
                tx, flow = await self._send_in_dialog(
                    session.dialog,
                    session.flow,
                    sender.domain,
                    recipient.domain,
                    "MESSAGE",
                    content,
                )
                session.flow = flow
                self._touch(session)
            else:
                flow = await self._connect(recipient.domain, sender.domain)
                tx = self._send(self._pager(sender, recipient, content), flow)
        finally:
            release()
        response = await self._final(tx, recipient.domain)
        if 200 <= response.status < 300:
            return tx.request
        if session is not None and response.status in (408, 480, 481):
            self._end_session(session, bye=response.status != 481)
            if retry:
                raise _SessionGone()
        if (
            session is None
            and response.status in (405, 501)
            and recipient.domain not in self._session_mode
        ):
            # A Skype for Business style peer: no pager mode, use sessions.
            log.info("{domain} refuses pager MESSAGE; using IM sessions", domain=recipient.domain)
            self._session_mode.add(recipient.domain)
            if retry:
                raise _SessionGone()
        raise self._failed(response, recipient.domain)

    def _pager(self, sender: Address, recipient: Address, content: Content) -> Request:
        target = address_uri(recipient)
        return Request(
            "MESSAGE",
            target,
            Headers(
                [
                    ("From", f"<{address_uri(sender)}>;tag={new_tag()}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", self._new_call_id()),
                    ("CSeq", "1 MESSAGE"),
                    ("Content-Type", content.content_type),
                ]
            ),
            content.body,
        )

    def _open_session(self, sender: Address, recipient: Address, first: Content) -> ImSession:
        session = ImSession(hub_user=sender, remote=recipient, outbound=True)
        session.opening = Deferred()
        self._sessions[session.key] = session
        opening = session.opening

        def done(result: Any) -> None:
            if isinstance(result, Failure):
                self._end_session(session, bye=False)
                opening.errback(result)
            else:
                opening.callback(result)

        Deferred.fromCoroutine(self._invite_out(session, first)).addBoth(done)
        return session

    async def _invite_out(self, session: ImSession, first: Content) -> bool:
        sender, recipient = session.hub_user, session.remote
        flow = await self._connect(recipient.domain, sender.domain)
        contact = self._contact(sender, flow)
        target = address_uri(recipient)
        invite = Request(
            "INVITE",
            target,
            Headers(
                [
                    ("From", f"<{address_uri(sender)}>;tag={new_tag()}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", self._new_call_id()),
                    ("CSeq", "1 INVITE"),
                    ("Contact", contact),
                    ("Allow", ALLOW),
                    ("Supported", "ms-sender"),
                    ("Ms-Conversation-ID", secrets.token_urlsafe(16)),
                    ("ms-text-format", encode_ms_text_format(first)),
                    ("Content-Type", "application/sdp"),
                ]
            ),
            self._sdp(sender, flow, answer=False),
        )
        holder: list[ClientTransaction] = []

        def on_response(response: Response) -> None:
            # A further 2xx (the peer did not see our ACK yet): ACK again.
            if 200 <= response.status < 300 and session.dialog is not None and holder:
                try:
                    self.layer.send_ack(
                        session.dialog.create_ack(holder[0].request.cseq.number), flow
                    )
                except Exception as e:
                    log.info("Could not send ACK: {error}", error=e)

        tx = self._send(invite, flow, on_response)
        holder.append(tx)
        session.invite = tx.request
        response = await self._final(tx, recipient.domain)
        if not 200 <= response.status < 300:
            raise self._failed(response, recipient.domain)
        dialog = Dialog.as_uac(tx.request, response, local_contact=contact)
        self._dialogs.add(dialog)
        session.dialog = dialog
        session.flow = flow
        session.confirmed = True
        self._session_dialogs[dialog.id] = session
        self.layer.send_ack(dialog.create_ack(tx.request.cseq.number), flow)
        self._touch(session)
        return "ms-text-format" in _supported(response)

    def _touch(self, session: ImSession) -> None:
        _cancel(session.idle_call)
        if session.ended:
            return
        session.idle_call = self._clock.callLater(
            self.settings.session_idle_timeout, self._end_session, session, True
        )

    def _end_session(self, session: ImSession, bye: bool) -> None:
        if session.ended:
            return
        session.ended = True
        _cancel(session.idle_call)
        session.idle_call = None
        if self._sessions.get(session.key) is session:
            del self._sessions[session.key]
        dialog = session.dialog
        if dialog is None:
            return
        self._session_dialogs.pop(dialog.id, None)
        self._dialogs.remove(dialog)
        if bye:
            self._background(self._bye(session, dialog), "sending BYE")
        dialog.terminate()

    async def _bye(self, session: ImSession, dialog: Dialog) -> None:
        try:
            tx, _ = await self._send_in_dialog(
                dialog, session.flow, session.hub_user.domain, session.remote.domain, "BYE"
            )
            await tx.final
        except (DeliveryFailed, TransactionError) as e:
            log.info("BYE to {remote} failed: {error}", remote=str(session.remote), error=e)

    async def _send_typing(self, event: Typing) -> None:
        key = (event.sender.key, event.recipient.key)
        session = self._usable_session(key)
        if session is not None and session.confirmed and session.dialog is not None:
            if session.microsoft:
                content = build_keyboard_activity(event.state)
                tx, flow = await self._send_in_dialog(
                    session.dialog,
                    session.flow,
                    event.sender.domain,
                    event.recipient.domain,
                    "INFO",
                    content,
                )
                session.flow = flow
                response = await self._final(tx, event.recipient.domain)
                if not 200 <= response.status < 300:
                    raise self._failed(response, event.recipient.domain)
                return
        elif event.recipient.domain in self._session_mode:
            return  # no session is opened for typing alone
        if event.recipient.domain in self._no_typing:
            return
        try:
            await self._send_content(
                event.sender, event.recipient, build_is_composing(event.state), retry=False
            )
        except DeliveryFailed as e:
            if e.condition == "feature-not-implemented":
                # RFC 3994 is optional: a peer refusing it (415) gets no more.
                self._no_typing.add(event.recipient.domain)
            raise

    # -- presence: the hub as notifier --------------------------------------

    def _presence_body(self, hub_user: Address) -> bytes:
        availability, status = self._book.lookup(hub_user)
        return build_pidf(address_uri(hub_user), availability, status)

    def _watchers_of(self, hub_user: Address, remote: Address) -> list[Watcher]:
        key = (hub_user.key, remote.key)
        return [w for w in self._watchers.values() if w.key == key]

    async def _send_presence(self, event: Presence) -> None:
        # The router records hub users' presence in the shared book; record
        # here too for a connector used without one.
        self._book.record(event)
        sends = [
            self._notify(watcher)
            for watcher in self._watchers_of(event.sender, event.recipient)
            if watcher.state == "active"
        ]
        # Without a subscription there is nothing to send on: the presence
        # is kept for the first NOTIFY once the SIP user subscribes.
        for send in sends:
            await send

    async def _subscribe_in(
        self, tx: ServerTransaction, hub_user: Address, remote: Address
    ) -> None:
        request = tx.request
        event_type = _event_type(request.headers.get("Event"))
        if event_type != _EVENT:
            tx.reply(489, headers=[("Allow-Events", _EVENT)])
            return
        if not accepts_pidf(request.headers.get_all("Accept")):
            tx.reply(406, headers=[("Accept", PIDF)])
            return
        expires = _int_or(request.headers.get("Expires"), self.settings.subscription_expires)
        if 0 < expires < self.settings.min_expires:
            tx.reply(423, headers=[("Min-Expires", str(self.settings.min_expires))])
            return
        expires = min(expires, self.settings.subscription_expires)
        contact_record = await self._store.get_contact(hub_user, remote)
        state = contact_record.state if contact_record is not None else None
        direction = contact_record.direction if contact_record is not None else None
        if state == ContactState.ACCEPTED:
            granted = "active"
        elif state == ContactState.PENDING and direction == ContactDirection.INBOUND:
            granted = "pending"
        elif expires == 0:
            granted = "terminated"
        else:
            outcome = await self._route(
                ContactRequest(
                    sender=remote,
                    recipient=hub_user,
                    display_name=request.from_.display_name,
                    timestamp=self._now(),
                )
            )
            if not outcome.delivered:
                self._answer(tx, outcome)
                return
            updated = await self._store.get_contact(hub_user, remote)
            accepted = updated is not None and updated.state == ContactState.ACCEPTED
            granted = "active" if accepted else "pending"
        contact = self._contact(hub_user, _conn(tx))
        response = tx.reply(
            200,
            headers=[("Contact", contact), ("Expires", str(expires))],
            copy_record_route=True,
        )
        if tx.final_response is not response:
            return
        dialog = Dialog.as_uas(request, response, local_contact=contact, over_tls=_conn(tx).tls)
        watcher = Watcher(
            hub_user=hub_user,
            watcher=remote,
            dialog=dialog,
            flow=_conn(tx),
            state=granted,
            expires_at=self._clock.seconds() + expires,
        )
        if expires == 0:
            # A fetch (RFC 6665 4.4.3): one NOTIFY that ends it at once.
            self._background(
                self._notify(watcher, "timeout", with_body=granted == "active"), "sending NOTIFY"
            )
            return
        self._dialogs.add(dialog)
        self._watchers[dialog.id] = watcher
        self._expire_later(watcher)
        self._background(self._notify(watcher), "sending NOTIFY")

    def _expire_later(self, watcher: Watcher) -> None:
        _cancel(watcher.timer)
        delay = max(0.0, watcher.expires_at - self._clock.seconds())
        watcher.timer = self._clock.callLater(delay, self._end_watcher, watcher, "timeout")

    async def _refresh_in(self, tx: ServerTransaction, dialog: Dialog) -> None:
        request = tx.request
        watcher = self._watchers.get(dialog.id)
        if watcher is None:
            tx.reply(481)
            return
        if _event_type(request.headers.get("Event")) != _EVENT:
            tx.reply(489, headers=[("Allow-Events", _EVENT)])
            return
        expires = _int_or(request.headers.get("Expires"), self.settings.subscription_expires)
        if 0 < expires < self.settings.min_expires:
            tx.reply(423, headers=[("Min-Expires", str(self.settings.min_expires))])
            return
        expires = min(expires, self.settings.subscription_expires)
        tx.reply(200, headers=[("Contact", dialog.local_contact or ""), ("Expires", str(expires))])
        watcher.flow = _conn(tx)
        if expires == 0:
            self._end_watcher(watcher, "timeout")
            return
        watcher.expires_at = self._clock.seconds() + expires
        self._expire_later(watcher)
        self._background(self._notify(watcher), "sending NOTIFY")

    def _end_watcher(self, watcher: Watcher, reason: str) -> None:
        if self._watchers.pop(watcher.dialog.id, None) is None:
            return
        _cancel(watcher.timer)
        watcher.timer = None
        self._dialogs.remove(watcher.dialog)
        watcher.state = "terminated"
        self._background(self._notify(watcher, reason), "sending NOTIFY")

    async def _notify(
        self, watcher: Watcher, reason: str | None = None, with_body: bool | None = None
    ) -> None:
        """
        Send the watcher its subscription's state (and the hub user's
        presence when active); C{reason} ends the subscription.
        """
        remaining = max(0, int(watcher.expires_at - self._clock.seconds()))
        if reason is not None or watcher.state == "terminated":
            state = f"terminated;reason={reason or 'timeout'}"
        elif watcher.state == "active":
            state = f"active;expires={remaining}"
        else:
            state = f"pending;expires={remaining}"
        if with_body is None:
            with_body = state.startswith("active")
        content: Content | None = None
        if with_body:
            content = Content(PIDF, self._presence_body(watcher.hub_user))
        # One NOTIFY at a time per subscription: the next waits for the
        # previous one's final response (subscribers such as sipp, and
        # RFC 6665's ordering, expect no overlap).
        release = await self._notifying.acquire(watcher.dialog.id)
        try:
            await self._send_notify(watcher, state, content)
        finally:
            release()

    async def _send_notify(self, watcher: Watcher, state: str, content: Content | None) -> None:
        try:
            tx, flow = await self._send_in_dialog(
                watcher.dialog,
                watcher.flow,
                watcher.hub_user.domain,
                watcher.watcher.domain,
                "NOTIFY",
                content,
                headers=[("Event", _EVENT), ("Subscription-State", state)],
            )
            watcher.flow = flow
            response = await tx.final
        except (DeliveryFailed, TransactionError) as e:
            log.info("NOTIFY to {watcher} failed: {error}", watcher=str(watcher.watcher), error=e)
            return
        if response.status == 481 and watcher.dialog.id in self._watchers:
            # RFC 6665 4.2.2: the subscriber has forgotten the subscription.
            self._watchers.pop(watcher.dialog.id, None)
            _cancel(watcher.timer)
            self._dialogs.remove(watcher.dialog)

    # -- contacts -------------------------------------------------------------

    async def _contact_request(self, hub_user: Address, remote: Address) -> None:
        await self._subscribe(hub_user, remote, requested=True)
        # Both asked each other: the SIP user's pending subscription is
        # now authorised too.
        self._activate_watchers(hub_user, remote)

    def _contact_accept(self, hub_user: Address, remote: Address) -> None:
        self._activate_watchers(hub_user, remote)
        subscription = self._subscriptions.get((hub_user.key, remote.key))
        if subscription is None or subscription.ended:
            self._background(self._subscribe_quietly(hub_user, remote), "subscribing back")

    def _activate_watchers(self, hub_user: Address, remote: Address) -> None:
        for watcher in self._watchers_of(hub_user, remote):
            if watcher.state == "pending":
                watcher.state = "active"
                self._background(self._notify(watcher), "sending NOTIFY")

    def _contact_end(self, hub_user: Address, remote: Address) -> None:
        for watcher in self._watchers_of(hub_user, remote):
            self._end_watcher(watcher, "rejected")
        subscription = self._subscriptions.get((hub_user.key, remote.key))
        if subscription is not None:
            self._unsubscribe(subscription)
        self._cancel_retry((hub_user.key, remote.key))

    # -- presence: the hub as subscriber ------------------------------------

    async def _subscribe_quietly(self, hub_user: Address, remote: Address) -> None:
        try:
            await self._subscribe(hub_user, remote)
        except DeliveryFailed as e:
            log.info(
                "Subscribing {user} to {remote} failed: {error}",
                user=str(hub_user),
                remote=str(remote),
                error=e,
            )
            if e.condition != "feature-not-implemented":
                # A peer without presence (489, 405, 501) is not asked again.
                self._retry_later(hub_user, remote)

    async def _subscribe(self, hub_user: Address, remote: Address, requested: bool = False) -> None:
        key = (hub_user.key, remote.key)
        existing = self._subscriptions.get(key)
        if existing is not None and not existing.ended:
            existing.requested = existing.requested or requested
            return
        self._cancel_retry(key)
        subscription = Subscription(
            hub_user=hub_user,
            remote=remote,
            call_id=self._new_call_id(),
            local_tag=new_tag(),
            requested=requested,
        )
        self._subscriptions[key] = subscription
        self._subscription_tags[(subscription.call_id, subscription.local_tag)] = subscription
        try:
            await self._send_subscribe(subscription, self.settings.subscription_expires)
        except BaseException:
            self._forget_subscription(subscription)
            raise

    async def _send_subscribe(self, subscription: Subscription, expires: int) -> None:
        hub_user, remote = subscription.hub_user, subscription.remote
        flow = await self._connect(remote.domain, hub_user.domain)
        subscription.flow = flow
        subscription.contact = self._contact(hub_user, flow)
        target = address_uri(remote)
        request = Request(
            "SUBSCRIBE",
            target,
            Headers(
                [
                    ("From", f"<{address_uri(hub_user)}>;tag={subscription.local_tag}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", subscription.call_id),
                    ("CSeq", "1 SUBSCRIBE"),
                    ("Contact", subscription.contact),
                    ("Event", _EVENT),
                    ("Accept", PIDF),
                    ("Expires", str(expires)),
                ]
            ),
        )
        tx = self._send(request, flow)
        subscription.request = tx.request
        response = await self._final(tx, remote.domain)
        if subscription.ended:
            return
        if response.status == 423:
            minimum = _int_or(response.headers.get("Min-Expires"), 0)
            if expires < minimum <= 86400 * 7:
                subscription.call_id = self._new_call_id()
                self._subscription_tags[(subscription.call_id, subscription.local_tag)] = (
                    subscription
                )
                await self._send_subscribe(subscription, minimum)
                return
        if not 200 <= response.status < 300:
            raise self._failed(response, remote.domain)
        if subscription.dialog is None:
            dialog = Dialog.as_uac(tx.request, response, local_contact=subscription.contact)
            self._dialogs.add(dialog)
            subscription.dialog = dialog
            self._subscription_dialogs[dialog.id] = subscription
        else:
            subscription.dialog.receive_response(tx.request, response)
        if subscription.state == "subscribing":
            subscription.state = "pending"
        self._refresh_later(subscription, _int_or(response.headers.get("Expires"), expires))

    def _early_notify(self, notify: Request) -> None:
        """
        A NOTIFY for our SUBSCRIBE that arrived before its 2xx creates the
        dialog (RFC 6665 section 4.1.2.4).
        """
        try:
            key = (notify.call_id, notify.to.tag or "")
        except SipSyntaxError:
            return
        subscription = self._subscription_tags.get(key)
        if subscription is None or subscription.dialog is not None or subscription.request is None:
            return
        try:
            dialog = Dialog.from_notify(
                subscription.request, notify, local_contact=subscription.contact
            )
        except SipSyntaxError:
            return
        # The NOTIFY's CSeq is checked (and recorded) by the dispatch.
        dialog.remote_seq = None
        self._dialogs.add(dialog)
        subscription.dialog = dialog
        self._subscription_dialogs[dialog.id] = subscription

    def _refresh_later(self, subscription: Subscription, expires: int) -> None:
        _cancel(subscription.timer)
        if expires <= 0:
            return
        delay = max(1.0, min(expires * 0.8, expires - 5.0))
        subscription.timer = self._clock.callLater(
            delay,
            lambda: self._background(self._refresh_out(subscription), "refreshing a subscription"),
        )

    async def _refresh_out(self, subscription: Subscription) -> None:
        subscription.timer = None
        if subscription.ended or subscription.dialog is None:
            return
        expires = self.settings.subscription_expires
        try:
            tx, flow = await self._send_in_dialog(
                subscription.dialog,
                subscription.flow,
                subscription.hub_user.domain,
                subscription.remote.domain,
                "SUBSCRIBE",
                headers=[("Event", _EVENT), ("Accept", PIDF), ("Expires", str(expires))],
            )
            subscription.flow = flow
            response = await self._final(tx, subscription.remote.domain)
        except DeliveryFailed as e:
            log.info("Refreshing a subscription failed: {error}", error=e)
            response = None
        if subscription.ended:
            return
        if response is not None and 200 <= response.status < 300:
            self._refresh_later(subscription, _int_or(response.headers.get("Expires"), expires))
            return
        await self._lost(subscription)

    async def _lost(self, subscription: Subscription, retry: bool = True) -> None:
        """
        The subscription is gone: say the SIP user's presence is unknown,
        and subscribe again if the hub user still wants it.
        """
        self._forget_subscription(subscription)
        hub_user, remote = subscription.hub_user, subscription.remote
        await self._route(
            Presence(
                sender=remote,
                recipient=hub_user,
                availability=Availability.UNKNOWN,
                timestamp=self._now(),
            )
        )
        if retry and await self._still_wanted(hub_user, remote):
            # Not awaited: the new subscription's NOTIFY may need this lane.
            self._background(self._subscribe_quietly(hub_user, remote), "subscribing again")

    async def _still_wanted(self, hub_user: Address, remote: Address) -> bool:
        record = await self._store.get_contact(hub_user, remote)
        if record is None:
            return False
        return record.state == ContactState.ACCEPTED or (
            record.state == ContactState.PENDING and record.direction == ContactDirection.OUTBOUND
        )

    def _retry_later(self, hub_user: Address, remote: Address) -> None:
        key = (hub_user.key, remote.key)
        if not self.running:
            return
        previous = self._retries.get(key)
        delay = min(previous[1] * 2 if previous else 60.0, _MAX_RESUBSCRIBE_DELAY)
        if previous:
            _cancel(previous[0])

        def again() -> None:
            self._retries.pop(key, None)

            async def attempt() -> None:
                if await self._still_wanted(hub_user, remote):
                    await self._subscribe_quietly(hub_user, remote)
                    if key in self._retries:
                        call, _ = self._retries[key]
                        self._retries[key] = (call, delay)

            self._background(attempt(), "subscribing again")

        self._retries[key] = (self._clock.callLater(delay, again), delay)

    def _cancel_retry(self, key: tuple[str, str]) -> None:
        previous = self._retries.pop(key, None)
        if previous is not None:
            _cancel(previous[0])

    def _forget_subscription(self, subscription: Subscription, keep_dialog: bool = False) -> None:
        subscription.ended = True
        _cancel(subscription.timer)
        subscription.timer = None
        if self._subscriptions.get(subscription.key) is subscription:
            del self._subscriptions[subscription.key]
        for key, value in list(self._subscription_tags.items()):
            if value is subscription:
                del self._subscription_tags[key]
        if subscription.dialog is not None:
            self._subscription_dialogs.pop(subscription.dialog.id, None)
            if not keep_dialog:
                self._dialogs.remove(subscription.dialog)

    def _unsubscribe(self, subscription: Subscription) -> None:
        dialog = subscription.dialog
        self._forget_subscription(subscription, keep_dialog=True)
        if dialog is None:
            return
        # RFC 6665 4.1.2.3: the notifier answers with a last NOTIFY
        # (terminated), which still gets its 200; the dialog is kept until
        # then, or Timer F.
        self._ending[dialog.id] = dialog
        self._later(self.layer.timers.timeout, lambda: self._ended(dialog))

        async def send() -> None:
            assert subscription.dialog is not None
            try:
                tx, _ = await self._send_in_dialog(
                    subscription.dialog,
                    subscription.flow,
                    subscription.hub_user.domain,
                    subscription.remote.domain,
                    "SUBSCRIBE",
                    headers=[("Event", _EVENT), ("Accept", PIDF), ("Expires", "0")],
                )
                await tx.final
            except (DeliveryFailed, TransactionError) as e:
                log.info("Unsubscribing failed: {error}", error=e)

        self._background(send(), "unsubscribing")

    def _ended(self, dialog: Dialog) -> None:
        if self._ending.pop(dialog.id, None) is not None:
            self._dialogs.remove(dialog)

    async def _notify_in(self, tx: ServerTransaction, dialog: Dialog) -> None:
        request = tx.request
        subscription = self._subscription_dialogs.get(dialog.id)
        if subscription is None and dialog.id in self._ending:
            tx.reply(200)
            state = _state_params(request.headers.get("Subscription-State") or "")[0]
            if state == "terminated":
                self._ended(dialog)
            return
        if subscription is None or subscription.ended:
            tx.reply(481)
            return
        if _event_type(request.headers.get("Event")) != _EVENT:
            tx.reply(489, headers=[("Allow-Events", _EVENT)])
            return
        state_header = request.headers.get("Subscription-State")
        if state_header is None:
            tx.reply(400, "Missing Subscription-State header")
            return
        hub_user, remote = subscription.hub_user, subscription.remote
        refusal = self.refusal_reason(hub_user.domain, remote.domain)
        if refusal is not None:
            self._refuse(tx, 403, refusal)
            self._unsubscribe(subscription)
            return
        document = None
        if request.body.strip():
            if request.content_type != PIDF:
                tx.reply(415, headers=[("Accept", PIDF)])
                return
            document = parse_pidf(request.body)
        tx.reply(200)
        subscription.flow = _conn(tx)
        state, params = _state_params(state_header)
        if state == "terminated":
            reason = params.get("reason", "")
            if reason in ("rejected", "noresource", "invariant"):
                self._forget_subscription(subscription)
                await self._rejected(subscription, reason)
            elif reason in ("probation", "giveup"):
                self._forget_subscription(subscription)
                self._retry_later(hub_user, remote)
            else:
                await self._lost(subscription)
            return
        if state == "active":
            expires = _int_or(params.get("expires"), 0)
            if expires:
                self._refresh_later(subscription, expires)
            subscription.state = "active"
            if document is not None:
                subscription.document = document
            if not subscription.announced:
                await self._announce(subscription, 0)
            elif document is not None:
                await self._route_document(subscription)

    async def _announce(self, subscription: Subscription, attempt: int) -> None:
        """
        The first NOTIFY active: the SIP user accepted the hub user's
        request (if one is pending). The router records the hub user's
        request only once its delivery (our SUBSCRIBE's 2xx) is done; a
        NOTIFY may come first, so look again a little later.
        """
        if subscription.ended or subscription.announced:
            return
        hub_user, remote = subscription.hub_user, subscription.remote
        record = await self._store.get_contact(hub_user, remote)
        state = record.state if record is not None else None
        if state is None and subscription.requested and attempt < _ANNOUNCE_ATTEMPTS:
            self._later(
                _ANNOUNCE_DELAY * 2**attempt,
                lambda: self._background(
                    self._announce(subscription, attempt + 1), "announcing acceptance"
                ),
            )
            return
        subscription.announced = True
        if state == ContactState.PENDING:
            await self._route(
                ContactAccept(sender=remote, recipient=hub_user, timestamp=self._now())
            )
        await self._route_document(subscription)

    async def _route_document(self, subscription: Subscription) -> None:
        document = subscription.document
        if document is None:
            return
        await self._route(
            Presence(
                sender=subscription.remote,
                recipient=subscription.hub_user,
                availability=document.availability,
                status=document.note,
                timestamp=self._now(),
            )
        )

    async def _rejected(self, subscription: Subscription, reason: str) -> None:
        hub_user, remote = subscription.hub_user, subscription.remote
        record = await self._store.get_contact(hub_user, remote)
        if reason == "rejected" and record is not None:
            if record.state == ContactState.PENDING:
                await self._route(
                    ContactDecline(sender=remote, recipient=hub_user, timestamp=self._now())
                )
                return
            if record.state == ContactState.ACCEPTED:
                await self._route(
                    ContactRemove(sender=remote, recipient=hub_user, timestamp=self._now())
                )
                return
        await self._route(
            Presence(
                sender=remote,
                recipient=hub_user,
                availability=Availability.UNKNOWN,
                timestamp=self._now(),
            )
        )


class _SessionGone(Exception):
    """
    The session a message was sent in is gone; send it again.
    """


# -- building ------------------------------------------------------------------


def _endpoint_factory(reactor: Any, timeout: float) -> Callable[[str, int], IStreamClientEndpoint]:
    def make(host: str, port: int) -> IStreamClientEndpoint:
        if ":" in host:
            return endpoints.TCP6ClientEndpoint(reactor, host, port, timeout=timeout)
        return endpoints.TCP4ClientEndpoint(reactor, host, port, timeout=timeout)

    return make


def static_routes(config: SipConfig, partners: Iterable[PartnerConfig]) -> dict[str, str]:
    """
    The configured routes plus those of C{[[federation.partners]]} of
    protocol C{sip}.
    """
    routes = {p.domain: p.route for p in partners if p.protocol == PLATFORM and p.route}
    routes.update(config.routes)
    return routes


def settings_for(config: SipConfig, tenants: Sequence[TenantConfig]) -> SipSettings:
    """
    The connector settings from its section and the tenants.
    """
    via_host = config.via_host or (tenants[0].domain if tenants else "localhost")
    return SipSettings(
        via_host=via_host,
        via_port=config.via_port,
        contact_host=config.via_host,
        session_domains=config.session_domains,
        message_format=config.message_format,
        session_idle_timeout=config.session_idle_timeout,
        subscription_expires=config.subscription_expires,
        min_expires=config.min_expires,
    )


def build(context: ConnectorContext, config: SipConfig) -> SipConnector:
    """
    Build the SIP connector with its transaction layer, transport and
    listeners.
    """
    hub = context.config
    if context.resolver is None:
        raise ValueError("the SIP connector needs a DNS resolver")
    settings = settings_for(config, hub.tenants)
    connector = SipConnector(
        sink=context.sink,
        store=context.store,
        clock=context.reactor,
        tenants=[t.domain for t in hub.tenants],
        settings=settings,
        presence=context.presence,
    )
    ca_paths = list(hub.tls.ca_certificates)
    if config.system_ca and os.path.exists(SYSTEM_CA_BUNDLE):
        ca_paths.append(SYSTEM_CA_BUNDLE)
    credentials = load_credentials(
        {t.domain: TenantTLS(t.certificate, t.private_key) for t in hub.tenants}
    )
    resolver = SipResolver(context.resolver, static_routes=static_routes(config, hub.partners))
    layer = TransactionLayer(context.reactor, connector)
    transport = SipTransport(
        context.reactor,
        layer,
        via_host=settings.via_host,
        via_port=config.via_port,
        trust=TrustStore(paths=ca_paths),
        server_tls=SipServerTLS(credentials) if credentials else None,
        client_tls=SipClientTLS(credentials),
        resolver=resolver,
        endpoint_factory=_endpoint_factory(context.reactor, config.connect_timeout),
        trusted_relays=config.trusted_relays,
        advertise_alias=config.advertise_alias,
        limits=Limits(max_body_size=config.max_message_bytes),
        handshake_timeout=config.connect_timeout,
        connect_timeout=config.connect_timeout,
    )
    transport.recorder = context.federation_health
    connector.attach(layer, transport, resolver)
    if credentials:
        EndpointService(
            "sip-tls",
            endpoints.serverFromString(context.reactor, config.listen),
            transport.server_factory(tls=True),
            "(SIP federation, mutual TLS)",
        ).setServiceParent(connector)
    if config.relay_listen:
        EndpointService(
            "sip-tcp-relay",
            endpoints.serverFromString(context.reactor, config.relay_listen),
            transport.server_factory(tls=False),
            "(SIP from trusted relays, plain TCP)",
        ).setServiceParent(connector)
    context.on_revoke(lambda revocation: connector.refresh_policy())
    context.on_policy_change(lambda change: connector.refresh_policy())
    return connector


ENTRY = ConnectorEntry(
    name="sip",
    role="federation",
    parse_config=parse_config,
    build=build,
    summary="SIP/SIMPLE federation over mutual TLS (Skype for Business, Cisco IM&P, RFC 3428).",
)
