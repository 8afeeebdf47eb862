# -*- test-case-name: tests.admin.test_portal -*-
"""
Portal pages that steer federation: remote domains (seen, policy, health),
users (federation switch, contacts, revoke) and contacts (filter, revoke).
Changes go through the L{RevocationService} the API uses, and are audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from twisted.web.iweb import IRequest

from ...model.address import Address
from ...storage.records import ContactState, DomainAction, UserPolicy
from ..params import ApiError, parse_address, parse_domain, parse_pattern
from ..queries import tenant_users
from .base import PortalBase, PortalError, page, portal_app

__all__ = ["FederationPages", "UserPages"]


class FederationPages(PortalBase):
    """
    C{/federation}: the remote domains a tenant has talked to or has rules
    for, each with its policy and the health of its links.
    """

    @portal_app.route("/federation", methods=["GET"])
    @page()
    async def federation(self, request: IRequest, session: Any) -> bytes:
        """
        Domains seen in the last year, rules and link health.
        """
        principal = session.principal
        tenant = await self._chosen_tenant(request, principal)
        domains: dict[str, dict[str, Any]] = {}
        if tenant is not None:
            today = self._now().date()
            facts = await self._admin_store.usage_facts(
                today - timedelta(days=365), today + timedelta(days=1), tenant
            )
            for day, _, remote, _, _ in facts.users:
                if remote:
                    entry = domains.setdefault(remote, {"last_seen": day, "rule": None})
                    entry["last_seen"] = max(entry["last_seen"], day)
            for rule in await self._store.list_domain_policies(tenant):
                domains.setdefault(rule.pattern, {"last_seen": None, "rule": None})
                domains[rule.pattern]["rule"] = rule.action.value
            for peer in self._health.peers(tenant):
                domains.setdefault(peer.remote, {"last_seen": None, "rule": None})
                domains[peer.remote]["health"] = peer
        return self._render(
            request,
            session,
            "federation.html",
            tenant=tenant,
            tenants=await self._tenants(principal),
            domains=sorted(domains.items()),
            now=self._now(),
        )

    @portal_app.route("/federation/rule", methods=["POST"])
    @page()
    async def set_rule(self, request: IRequest, session: Any) -> bytes:
        """
        Allow, block or clear the rule for a domain (or C{*.domain}).
        """
        principal = session.principal
        tenant = await self._chosen_tenant(request, principal)
        if tenant is None:
            raise PortalError(404, "No tenant.")
        pattern = parse_pattern(self._form(request, "domain"), "domain")
        action = self._form(request, "action")
        if action in ("allow", "block"):
            await self._revocations.set_domain_rule(tenant, pattern, DomainAction(action))
        elif action == "clear":
            await self._revocations.remove_domain_rule(tenant, pattern)
        else:
            raise PortalError(400, "Choose allow, block or clear.")
        await self._audit.record(principal, request, f"domain.{action}", pattern, tenant)
        return self._redirect(request, "federation", tenant=tenant)


class UserPages(PortalBase):
    """
    C{/users} and C{/contacts}.
    """

    @portal_app.route("/users", methods=["GET"])
    @page()
    async def users(self, request: IRequest, session: Any) -> bytes:
        """
        A tenant's users with their federation switch; one user's contacts
        with C{?user=}.
        """
        principal = session.principal
        tenant = await self._chosen_tenant(request, principal)
        rows = (
            await tenant_users(self._store, self._admin_store, tenant, self._now().date())
            if tenant is not None
            else []
        )
        switches = {}
        for row in rows:
            policy = await self._store.get_user_policy(Address.parse(row.address))
            switches[row.address] = policy.enabled if policy is not None else True
        chosen = self._form(request, "user")
        contacts: list[Any] = []
        if chosen:
            address = parse_address(chosen, "user")
            if not principal.can_see(address.domain):
                raise PortalError(404, f"No user {chosen}.")
            contacts = await self._store.list_contacts(owner=address)
        return self._render_list(
            request,
            session,
            "users.html",
            rows,
            tenant=tenant,
            tenants=await self._tenants(principal),
            switches=switches,
            chosen=chosen,
            user_contacts=contacts,
        )

    @portal_app.route("/users/switch", methods=["POST"])
    @page()
    async def switch(self, request: IRequest, session: Any) -> bytes:
        """
        Turn one user's federation on or off.
        """
        principal = session.principal
        address = parse_address(self._form(request, "user"), "user")
        await self._visible(principal, address.domain)
        enabled = self._form(request, "enabled") == "true"
        await self._store.put_user_policy(UserPolicy(address, enabled))
        action = "user.enable" if enabled else "user.disable"
        await self._audit.record(principal, request, action, str(address), address.domain)
        return self._redirect(request, "users", tenant=address.domain)

    @portal_app.route("/users/revoke", methods=["POST"])
    @page()
    async def revoke_user(self, request: IRequest, session: Any) -> bytes:
        """
        Revoke every contact of a user and turn their federation off.
        """
        principal = session.principal
        address = parse_address(self._form(request, "user"), "user")
        await self._visible(principal, address.domain)
        result = await self._revocations.revoke_user(address)
        await self._audit.record(
            principal,
            request,
            "revoke.user",
            str(address),
            address.domain,
            f"{result.contacts_revoked} contacts",
        )
        return self._redirect(request, "users", tenant=address.domain, user=str(address))

    @portal_app.route("/contacts", methods=["GET"])
    @page()
    async def contacts(self, request: IRequest, session: Any) -> bytes:
        """
        Contacts and requests, filtered by owner, remote domain and state.
        """
        principal = session.principal
        owner_text = self._form(request, "owner")
        domain_text = self._form(request, "domain")
        state = self._form(request, "state")
        states = [s.value for s in ContactState]
        try:
            owner = parse_address(owner_text, "owner") if owner_text else None
            domain = parse_domain(domain_text, "domain") if domain_text else None
        except ApiError as e:
            raise PortalError(400, e.detail) from None
        if state and state not in states:
            raise PortalError(400, f"state: one of {', '.join(states)}")
        found = await self._store.list_contacts(
            owner=owner, external_domain=domain, state=state or None
        )
        visible = [c for c in found if principal.can_see(c.owner.domain)]
        return self._render_list(
            request,
            session,
            "contacts.html",
            visible,
            owner=owner_text,
            domain=domain_text,
            state=state,
            states=states,
        )

    @portal_app.route("/contacts/revoke", methods=["POST"])
    @page()
    async def revoke_contact(self, request: IRequest, session: Any) -> bytes:
        """
        Revoke one contact.
        """
        principal = session.principal
        owner = parse_address(self._form(request, "owner"), "owner")
        external = parse_address(self._form(request, "external"), "external")
        contact = await self._store.get_contact(owner, external)
        if contact is None or not principal.can_see(owner.domain):
            raise PortalError(404, f"{owner} has no contact {external}.")
        await self._revocations.revoke_contact(contact)
        await self._audit.record(
            principal, request, "revoke.contact", f"{owner} -> {external}", owner.domain
        )
        return self._redirect(request, "contacts", owner=str(owner))

    async def _visible(self, principal: Any, tenant: str) -> None:
        if not principal.can_see(tenant) or await self._store.get_tenant(tenant) is None:
            raise PortalError(404, f"No tenant {tenant}.")
