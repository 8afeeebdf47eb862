# -*- test-case-name: tests.test_router -*-
"""
The deferred-based router between connectors.

For each event a connector hands it, the router:

  1. finds the hub users taking part (the sides whose domain is a tenant);
     an event with no tenant on either side is refused, so the hub is never
     an open relay;
  2. binds the event to the chat session of its two addresses;
  3. applies policy (L{nextplane.policy.decide}) with facts from the store;
  4. resolves the destination connector: the recipient tenant's platform,
     or the federation protocol of the remote domain
     (L{nextplane.locate.FederationLocator});
  5. records contact-state changes (L{nextplane.contacts.ContactBook})
     before it hands a contact event over, so a fast answer finds the
     request, then delivers, with a timeout; a contact event that is not
     delivered ends its handshake;
  6. writes one metadata record (never content) and so updates the usage
     aggregates; an event the destination holds for a platform's rate
     limit is recorded C{queued}, never C{delivered}, and its final
     record follows when the platform answered (L{Outcome.settled});
  7. on refusal or failure of a message or contact event from a hub user,
     sends that user a L{DeliveryError} (L{nextplane.notices}) with the
     reason, unless the caller answers them itself. Events from remote
     senders get no such event: their connector answers natively (stanza
     error, SIP status) from the returned L{Outcome}.

A message a connector accepted comes with its work record
(L{nextplane.work.WorkLog}); the router moves the record along: delivered,
handed over (queued), or told (the sender was told it was not delivered).

L{Router.route} returns a Deferred that always fires with an L{Outcome}.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from attrs import evolve, field, frozen
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from .config import TenantConfig
from .contacts import ContactBook
from .interfaces import DeliveryFailed, IConnector, IEventSink, IStore, Queued
from .locate import FederationLocator
from .model.address import Address, ChatSessionId
from .model.events import Category, Event, Presence
from .model.profile import Profile
from .notices import delivery_error
from .ordering import KeyedSerializer
from .policy import LocalSide, Refusal, decide, pattern_matches
from .presence import PresenceBook
from .profiles import ProfileLookup
from .storage.records import Decision, MetadataRecord, WorkRecord, WorkState
from .work import WorkLog

__all__ = ["Outcome", "RevocationLike", "Router", "revocation_reason"]

log = Logger()

_SESSION_CACHE_LIMIT = 50_000


@frozen
class Outcome:
    """
    What became of a routed event.

    @ivar condition: For refusals and failures, a machine-readable condition
        (XMPP stanza-error vocabulary); C{None} when delivered.
    @ivar reason: For refusals and failures, why, in words.
    @ivar session: The chat session the event was bound to.
    @ivar settled: For a C{queued} event, fires with its final outcome
        (delivered or failed) once the platform answered; it never fails.
    """

    event: Event
    decision: Decision
    condition: str | None = None
    reason: str = ""
    session: ChatSessionId | None = None
    settled: Deferred[Outcome] | None = field(default=None, eq=False, repr=False)

    @property
    def delivered(self) -> bool:
        """
        Whether the destination accepted the event.
        """
        return self.decision == Decision.DELIVERED

    @property
    def queued(self) -> bool:
        """
        Whether the destination holds the event for a platform that has
        not taken it yet (its final outcome comes in L{settled}).
        """
        return self.decision == Decision.QUEUED


class RevocationLike(Protocol):
    """
    What the router needs of an admin revocation
    (L{nextplane.admin.api.Revocation}).
    """

    @property
    def scope(self) -> str: ...
    @property
    def user(self) -> Address | None: ...
    @property
    def external(self) -> Address | None: ...
    @property
    def domain(self) -> str | None: ...
    @property
    def tenants(self) -> tuple[str, ...]: ...


def revocation_reason(revocation: RevocationLike, event: Event) -> str | None:
    """
    Why C{revocation} covers C{event}, or C{None} if it does not.
    """
    parties = (event.sender, event.recipient)
    if revocation.scope == "contact" and revocation.user and revocation.external:
        if {p.key for p in parties} == {revocation.user.key, revocation.external.key}:
            return f"revoked: an administrator revoked {revocation.external} for {revocation.user}"
    elif revocation.scope == "user" and revocation.user:
        if revocation.user.key in (p.key for p in parties):
            return f"revoked: an administrator turned off federation for {revocation.user}"
    elif revocation.scope == "domain" and revocation.domain:
        for local, other in (parties, parties[::-1]):
            if (not revocation.tenants or local.domain in revocation.tenants) and pattern_matches(
                revocation.domain, other.domain
            ):
                return f"revoked: an administrator revoked {other.domain}"
    return None


@implementer(IEventSink)
class Router:
    """
    Routes events between connectors; see the module docstring.

    @param tenants: The hub's tenants; their domains are local.
    @param clock: For timestamps of records and delivery timeouts.
    @param presence: Where hub users' reported presence is kept (shared with
        connectors that answer presence queries).
    @param contacts: The one writer of contact state (made on C{store}
        when not given).
    @param work: The one writer of work records (made on C{store} when
        not given).
    """

    def __init__(
        self,
        *,
        store: IStore,
        tenants: Sequence[TenantConfig],
        locator: FederationLocator,
        clock: IReactorTime,
        require_accepted_contact: bool = True,
        delivery_timeout: float = 60.0,
        presence: PresenceBook | None = None,
        contacts: ContactBook | None = None,
        work: WorkLog | None = None,
    ) -> None:
        self._store = store
        self._tenants = {t.domain: t for t in tenants}
        self._locator = locator
        self._clock = clock
        self._require_accepted_contact = require_accepted_contact
        self._delivery_timeout = delivery_timeout
        self.presence = presence if presence is not None else PresenceBook()
        self._connectors: dict[str, IConnector] = {}
        self._sessions: dict[tuple[str, str], ChatSessionId] = {}
        # Per (sender, recipient): held from routing until the event is
        # handed to its connector (or settled), so events keep their order.
        self._pairs = KeyedSerializer()
        # Deliveries under way, so a revocation can drop them at once.
        self._in_flight: dict[Deferred[Any], Event] = {}
        self._revoked: dict[Deferred[Any], str] = {}
        self._profiles = ProfileLookup(store, clock, locator, self.tenant_for, self._connectors)
        self.work = work if work is not None else WorkLog(store, clock)
        self.contacts = (
            contacts
            if contacts is not None
            else ContactBook(store, clock, lambda a: self.tenant_for(a) is not None)
        )

    def add_connector(self, connector: IConnector) -> None:
        """
        Make C{connector} a destination, under its C{connector_name}.
        """
        self._connectors[connector.connector_name] = connector

    @property
    def connectors(self) -> dict[str, IConnector]:
        """
        Connectors by name (a copy).
        """
        return dict(self._connectors)

    def tenant_for(self, address: Address) -> TenantConfig | None:
        """
        The tenant serving C{address}, or C{None} for remote addresses.
        """
        return self._tenants.get(address.domain)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def route(
        self, event: Event, *, tell_sender: bool = True, work: WorkRecord | None = None
    ) -> Deferred[Outcome]:
        """
        Route C{event}; see the module docstring.

        @param tell_sender: Whether a hub user whose event is not delivered
            is sent a L{DeliveryError}; C{False} when the caller answers
            them itself (a command's reply, an updated card).
        @param work: The event's work record, claimed by the connector that
            accepted it (L{WorkLog.accept}).
        @return: A Deferred that always fires with an L{Outcome}.
        """
        return Deferred.fromCoroutine(self._route(event, tell_sender, work))

    async def _route(self, event: Event, tell_sender: bool, work: WorkRecord | None) -> Outcome:
        try:
            outcome = await self._route_checked(event)
            if outcome.decision == Decision.QUEUED:
                await self.work.move(work, WorkState.HANDED_OVER)
                assert outcome.settled is not None
                final = self._finish(outcome.settled, work)
                return evolve(outcome, settled=Deferred.fromCoroutine(final))
            await self._conclude(outcome, tell_sender, work)
            return outcome
        except Exception:
            # A bug or a store failure: keep the caller's Deferred alive and
            # say so; never include the event body (it has no repr anyway).
            log.failure(
                "routing {kind} {event_id} failed", kind=event.kind, event_id=event.event_id
            )
            outcome = Outcome(
                event, Decision.FAILED, "internal-server-error", "internal error in the hub"
            )
            return outcome

    async def _finish(self, settled: Deferred[Outcome], work: WorkRecord | None) -> Outcome:
        # A queued event's last word: its own metadata record, the
        # sender's notice when it failed (whoever they are: the native
        # answer was given long ago), its work record closed.
        outcome = await settled
        try:
            await self._record(outcome)
            await self._conclude(outcome, True, work, late=True)
        except Exception:
            log.failure(
                "settling {kind} {event_id} failed",
                kind=outcome.event.kind,
                event_id=outcome.event.event_id,
            )
        return outcome

    async def _conclude(
        self, outcome: Outcome, tell_sender: bool, work: WorkRecord | None, late: bool = False
    ) -> None:
        if outcome.delivered:
            await self.work.move(work, WorkState.DELIVERED)
            return
        # A remote sender is answered natively by its connector (stanza
        # error, SIP status) from this outcome, unless it comes late; a
        # caller that answers the sender itself said so (tell_sender).
        told = not tell_sender or (not late and self.tenant_for(outcome.event.sender) is None)
        if not told:
            told = await self._notify_sender(outcome, remote_too=late)
        await self.work.move(work, WorkState.TOLD if told else WorkState.FAILED)

    async def _route_checked(self, event: Event) -> Outcome:
        sender_tenant = self.tenant_for(event.sender)
        recipient_tenant = self.tenant_for(event.recipient)
        if sender_tenant is None and recipient_tenant is None:
            outcome = Outcome(
                event,
                Decision.REFUSED,
                "not-allowed",
                f"no route: neither {event.sender.domain} nor {event.recipient.domain} "
                "is served by this hub",
            )
            await self._record(outcome)
            return outcome

        if isinstance(event, Presence) and sender_tenant is not None:
            # A fact about the hub user, whatever becomes of this delivery.
            self.presence.record(event)

        # Events between two parties reach the connector in the order they
        # were routed: a later event whose lookups all hit the cache must
        # not overtake an earlier one still waiting for the store.
        hand_over = await self._pairs.acquire((event.sender.key, event.recipient.key))
        try:
            session = event.session or await self._session_for(event.sender, event.recipient)
            bound = event if event.session == session else event.with_session(session)
            refusal = await self._check_policy(bound)
            if refusal is not None:
                outcome = Outcome(
                    bound, Decision.REFUSED, refusal.condition, refusal.reason, session
                )
            else:
                outcome = await self._deliver(bound, session, hand_over)
        finally:
            hand_over()
        await self._record(outcome)
        return outcome

    async def _session_for(self, first: Address, second: Address) -> ChatSessionId:
        key = tuple(sorted((first.key, second.key)))
        cached = self._sessions.get(key)  # type: ignore[arg-type]
        if cached is not None:
            return cached
        record = await self._store.get_or_create_session(first, second, self._now())
        if len(self._sessions) >= _SESSION_CACHE_LIMIT:
            self._sessions.clear()
        self._sessions[key] = record.session_id  # type: ignore[index]
        return record.session_id  # type: ignore[no-any-return]

    async def _local_side(self, user: Address, other: Address, is_sender: bool) -> LocalSide:
        store = self._store
        return LocalSide(
            user=user,
            other=other,
            is_sender=is_sender,
            tenant_policy=await store.get_tenant_policy(user.domain),
            user_policy=await store.get_user_policy(user),
            domain_rules=await store.list_domain_policies(user.domain),
            contact=await self.contacts.get(user, other),
        )

    async def _sides(self, event: Event) -> list[LocalSide]:
        sides = []
        if self.tenant_for(event.sender) is not None:
            sides.append(await self._local_side(event.sender, event.recipient, True))
        if self.tenant_for(event.recipient) is not None:
            sides.append(await self._local_side(event.recipient, event.sender, False))
        return sides

    async def _check_policy(self, event: Event) -> Refusal | None:
        if event.sender.domain == event.recipient.domain and self.tenant_for(event.sender):
            return Refusal(
                "not-allowed",
                f"same tenant: {event.sender.domain} users talk on their own platform",
            )
        sides = await self._sides(event)
        return decide(event, sides, require_accepted_contact=self._require_accepted_contact)

    async def _destination(self, address: Address) -> IConnector:
        tenant = self.tenant_for(address)
        name = tenant.platform if tenant is not None else await self._locator.locate(address.domain)
        connector = self._connectors.get(name)
        if connector is None:
            raise DeliveryFailed(
                "service-unavailable", f"the {name} connector of this hub is not running"
            )
        return connector

    def profile_of(self, requester: Address, address: Address) -> Deferred[Profile | None]:
        """
        What the hub can show of C{address}: a tenant user's stored
        profile, or what the federation connector reaching the address
        fetches (vCard for XMPP). Answers are cached; never fails.

        @param requester: The hub user asking (the XMPP request comes from
            them).
        """
        return self._profiles.profile_of(requester, address)

    def revoke(self, revocation: RevocationLike) -> None:
        """
        Drop every delivery under way that C{revocation} covers; each sender
        is told it was revoked. (Later events are refused by policy, since
        the store already marks the contacts revoked.)
        """
        for delivery, event in list(self._in_flight.items()):
            reason = revocation_reason(revocation, event)
            if reason is not None and delivery not in self._revoked:
                self._revoked[delivery] = reason
                delivery.cancel()

    async def _deliver(
        self, event: Event, session: ChatSessionId, handed_over: Callable[[], None]
    ) -> Outcome:
        # Durable before the destination can answer (a fast acceptance
        # must find the request), and ended if the event does not arrive.
        if event.category != Category.CONTACT:
            return await self._hand_over(event, session, handed_over)
        handshake = await self.contacts.begin(event)
        delivered = False
        try:
            outcome = await self._hand_over(event, session, handed_over)
            delivered = outcome.delivered
            return outcome
        finally:
            if not delivered:  # for any reason, a bug in a connector included
                await self.contacts.end(handshake)

    async def _hand_over(
        self, event: Event, session: ChatSessionId, handed_over: Callable[[], None]
    ) -> Outcome:
        delivery: Deferred[Any] | None = None
        try:
            connector = await self._destination(event.recipient)
            delivery = connector.deliver(event)
            handed_over()
            self._in_flight[delivery] = event
            delivery.addTimeout(self._delivery_timeout, self._clock)
            result = await delivery
            if isinstance(result, Queued):
                settled = Deferred.fromCoroutine(self._settled(event, session, result))
                return Outcome(event, Decision.QUEUED, session=session, settled=settled)
        except DeliveryFailed as e:
            return Outcome(event, Decision.FAILED, e.condition, e.reason, session)
        except CancelledError:
            reason = self._revoked.get(delivery) if delivery is not None else None
            return Outcome(
                event,
                Decision.FAILED,
                "forbidden" if reason else "undefined-condition",
                reason or "the delivery was cancelled",
                session,
            )
        except TimeoutError:
            return Outcome(
                event,
                Decision.FAILED,
                "remote-server-timeout",
                f"{event.recipient.domain} did not accept the {event.kind} within "
                f"{self._delivery_timeout:g} seconds",
                session,
            )
        finally:
            if delivery is not None:
                self._in_flight.pop(delivery, None)
                self._revoked.pop(delivery, None)
        return Outcome(event, Decision.DELIVERED, session=session)

    async def _settled(self, event: Event, session: ChatSessionId, queued: Queued) -> Outcome:
        try:
            await queued.settled
        except DeliveryFailed as e:
            return Outcome(event, Decision.FAILED, e.condition, e.reason, session)
        except Exception:
            return Outcome(
                event,
                Decision.FAILED,
                "internal-server-error",
                "internal error in the hub",
                session,
            )
        return Outcome(event, Decision.DELIVERED, session=session)

    async def _record(self, outcome: Outcome) -> None:
        event = outcome.event
        sender_tenant = self.tenant_for(event.sender)
        tenant = sender_tenant or self.tenant_for(event.recipient)
        assert tenant is not None or outcome.decision == Decision.REFUSED
        remote = event.recipient if sender_tenant is not None else event.sender
        record = MetadataRecord(
            timestamp=event.timestamp,
            sender=str(event.sender),
            receiver=str(event.recipient),
            category=event.category.value,
            kind=event.kind,
            session_id=outcome.session.value if outcome.session else None,
            decision=outcome.decision,
            reason=outcome.reason,
            tenant=tenant.domain if tenant else None,
            remote_domain=remote.domain,
            platform=tenant.platform if tenant else None,
        )
        await self._store.append_metadata(record)
        log.debug(
            "{decision} {kind} {sender} -> {receiver} session={session} {reason}",
            decision=record.decision.value,
            kind=record.kind,
            sender=record.sender,
            receiver=record.receiver,
            session=record.session_id,
            reason=record.reason,
        )

    async def _notify_sender(self, outcome: Outcome, remote_too: bool = False) -> bool:
        # Whether the sender was told; a remote sender only when their
        # connector can no longer answer natively.
        event = outcome.event
        if self.tenant_for(event.sender) is None and not remote_too:
            return False
        error = delivery_error(
            event, outcome.condition, outcome.reason, self._now(), outcome.session
        )
        if error is None:
            return False
        try:
            connector = await self._destination(error.recipient)
            result = await connector.deliver(error)
            # A notice held by the rate limit is as good as told: its
            # failure, if any, has nobody left to tell.
            decision = Decision.DELIVERED
            if isinstance(result, Queued):
                decision = Decision.QUEUED
                result.settled.addErrback(
                    lambda f: log.info(
                        "a notice to {user} failed: {f}",
                        user=str(error.recipient),
                        f=f.getErrorMessage(),
                    )
                )
            condition, reason = None, ""
        except DeliveryFailed as e:
            decision, condition, reason = Decision.FAILED, e.condition, e.reason
        except Exception:
            log.failure(
                "telling {user} about a failed {kind} failed",
                user=str(error.recipient),
                kind=event.kind,
            )
            decision, condition, reason = Decision.FAILED, "internal-server-error", "internal error"
        await self._record(Outcome(error, decision, condition, reason, outcome.session))
        return decision != Decision.FAILED
