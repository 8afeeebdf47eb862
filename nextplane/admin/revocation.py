# -*- test-case-name: tests.admin.test_api -*-
"""
Revocation: turning contacts, a user's federation or a remote domain off,
for the admin API, the portal and the platform commands alike.

L{RevocationService} changes contacts through the one writer of contact
state (L{nextplane.contacts.ContactBook}) and policies in the store, then
tells the L{RevocationListener}s
(connectors close live sessions and drop queued deliveries); domain rule
changes tell the L{PolicyListener}s. Listeners are waited for with a
timeout; a failing one is logged and counted, never raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from attrs import evolve, frozen
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ..contacts import ContactBook
from ..interfaces import IStore
from ..model.address import Address
from ..storage.records import (
    ContactRecord,
    DomainAction,
    DomainPolicy,
    UserPolicy,
)

__all__ = [
    "PolicyChange",
    "PolicyListener",
    "Revocation",
    "RevocationListener",
    "RevocationResult",
    "RevocationService",
]

log = Logger()


@frozen
class Revocation:
    """
    What one revocation revoked, for L{RevocationListener}s (so connectors
    can close live sessions and drop queued deliveries).

    @ivar scope: C{"contact"}, C{"user"} or C{"domain"}.
    @ivar contacts: The contacts this request changed to C{revoked}, as
        stored now.
    @ivar user: For C{scope="user"}, the hub user whose federation was
        turned off; for C{scope="contact"}, the contact's owner.
    @ivar external: For C{scope="contact"}, the revoked external address.
    @ivar domain: For C{scope="domain"}, the remote domain or pattern
        (C{*.example.com}) now blocked.
    @ivar tenants: The tenants concerned.
    """

    scope: str
    contacts: tuple[ContactRecord, ...] = ()
    user: Address | None = None
    external: Address | None = None
    domain: str | None = None
    tenants: tuple[str, ...] = ()


#: Called with each L{Revocation} once the store reflects it; may return a
#: Deferred, which the service waits for (with a timeout).
RevocationListener: TypeAlias = Callable[[Revocation], "Deferred[Any] | None"]


@frozen
class PolicyChange:
    """
    A tenant's remote-domain rule changed, for L{PolicyListener}s (so
    connectors that cache the rules, e.g. to refuse streams of blocked
    domains, reload them at once).

    @ivar tenant: The tenant whose rules changed.
    @ivar pattern: The remote domain or C{*.domain} pattern.
    @ivar action: The rule's new action, or C{None} when it was removed.
    """

    tenant: str
    pattern: str
    action: DomainAction | None


#: Called with each L{PolicyChange} once the store reflects it; may return
#: a Deferred, which the service waits for (with a timeout).
PolicyListener: TypeAlias = Callable[[PolicyChange], "Deferred[Any] | None"]


@frozen
class RevocationResult:
    """
    What a revocation changed, and how the listeners took it.
    """

    revocation: Revocation
    contacts_revoked: int
    user_policies_set: int
    domain_rules_set: int
    listeners_notified: int = 0
    listeners_failed: int = 0

    def as_json(self) -> dict[str, Any]:
        """
        The counts, as the API answers them.
        """
        return {
            "scope": self.revocation.scope,
            "contacts_revoked": self.contacts_revoked,
            "user_policies_set": self.user_policies_set,
            "domain_rules_set": self.domain_rules_set,
            "listeners_notified": self.listeners_notified,
            "listeners_failed": self.listeners_failed,
        }


class RevocationService:
    """
    Revokes contacts, users and domains in the store and tells listeners.

    @param store: Where policies live.
    @param clock: For listener timeouts (and a default contact book).
    @param listener_timeout: Seconds to wait for a listener's Deferred.
    @param contacts: The hub's contact book (every contact change goes
        through it); by default one over C{store}.
    """

    def __init__(
        self,
        store: IStore,
        clock: IReactorTime,
        on_revoke: Sequence[RevocationListener] = (),
        on_policy_change: Sequence[PolicyListener] = (),
        listener_timeout: float = 30.0,
        contacts: ContactBook | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._contacts = (
            contacts if contacts is not None else ContactBook(store, clock, lambda _: True)
        )
        self._listeners = list(on_revoke)
        self._policy_listeners = list(on_policy_change)
        self._listener_timeout = listener_timeout

    def add_revocation_listener(self, listener: RevocationListener) -> None:
        """
        Call C{listener} after every later revocation too.
        """
        self._listeners.append(listener)

    def add_policy_listener(self, listener: PolicyListener) -> None:
        """
        Call C{listener} after every later change of a domain rule too.
        """
        self._policy_listeners.append(listener)

    async def revoke_contact(self, contact: ContactRecord) -> RevocationResult:
        """
        Revoke one contact (already looked up).
        """
        changed = await self._contacts.revoke(contact.owner, contact.external)
        revocation = Revocation(
            "contact",
            tuple(changed),
            user=contact.owner,
            external=contact.external,
            tenants=(contact.owner.domain,),
        )
        return await self._notified(RevocationResult(revocation, len(changed), 0, 0))

    async def revoke_user(self, user: Address) -> RevocationResult:
        """
        Revoke every contact of C{user} and turn the user's federation off.
        """
        changed = await self._contacts.revoke_user(user)
        previous = await self._store.get_user_policy(user)
        policies = 0
        if previous is None or previous.enabled:
            await self._store.put_user_policy(UserPolicy(user, False))
            policies = 1
        revocation = Revocation("user", tuple(changed), user=user, tenants=(user.domain,))
        return await self._notified(RevocationResult(revocation, len(changed), policies, 0))

    async def revoke_domain(self, pattern: str, tenants: Sequence[str]) -> RevocationResult:
        """
        Revoke every contact of C{tenants} with a domain matching
        C{pattern} and block it for each of them.
        """
        changed = await self._contacts.revoke_domain(pattern, tenants)
        rules = 0
        for tenant_domain in tenants:
            existing = await self._store.list_domain_policies(tenant_domain)
            if any(r.pattern == pattern and r.action == DomainAction.BLOCK for r in existing):
                continue
            await self._store.put_domain_policy(
                DomainPolicy(tenant_domain, pattern, DomainAction.BLOCK)
            )
            rules += 1
        revocation = Revocation("domain", tuple(changed), domain=pattern, tenants=tuple(tenants))
        return await self._notified(RevocationResult(revocation, len(changed), 0, rules))

    async def set_domain_rule(self, tenant: str, pattern: str, action: DomainAction) -> bool:
        """
        Allow or block C{pattern} for C{tenant}, and tell the policy
        listeners.

        @return: Whether the rule is new (rather than replacing one).
        """
        existing = await self._store.list_domain_policies(tenant)
        await self._store.put_domain_policy(DomainPolicy(tenant, pattern, action))
        await self.notify_all(self._policy_listeners, PolicyChange(tenant, pattern, action))
        return not any(r.pattern == pattern for r in existing)

    async def remove_domain_rule(self, tenant: str, pattern: str) -> bool:
        """
        Remove C{tenant}'s rule for C{pattern}, telling the policy listeners.

        @return: Whether there was one.
        """
        removed = await self._store.remove_domain_policy(tenant, pattern)
        if removed:
            await self.notify_all(self._policy_listeners, PolicyChange(tenant, pattern, None))
        return removed

    async def _notified(self, result: RevocationResult) -> RevocationResult:
        notified, failed = await self.notify_all(self._listeners, result.revocation)
        return evolve(result, listeners_notified=notified, listeners_failed=failed)

    async def notify_all(
        self, listeners: Sequence[Callable[[Any], Any]], change: Any
    ) -> tuple[int, int]:
        """
        Call each listener with C{change} and wait for them (each with the
        listener timeout); a failure is logged and counted, never raised.

        @return: How many listeners were called, and how many failed.
        """
        waiting = []
        for listener in listeners:
            d = maybeDeferred(listener, change)
            d.addTimeout(self._listener_timeout, self._clock)
            waiting.append(d)
        if not waiting:
            return 0, 0
        results = await DeferredList(waiting, consumeErrors=True)
        failed = 0
        for ok, value in results:
            if not ok:
                failed += 1
                log.failure(
                    "{what} listener failed",
                    failure=value,  # type: ignore[arg-type]
                    what=type(change).__name__,
                )
        return len(waiting), failed
