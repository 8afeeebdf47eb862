# -*- test-case-name: tests.admin.test_api -*-
"""
Admin API routes for contacts and revocation: list contacts (filtered,
paginated) and revoke a contact, a user or a remote domain through the
L{RevocationService}.
"""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest

from ..storage.records import ContactState
from .params import (
    QueryParams,
    bad,
    not_found,
    only_keys,
    parse_address,
    parse_domain,
    parse_pattern,
    read_body,
    string_field,
)
from .revocation import RevocationResult
from .routing import ApiContext, app, endpoint
from .sessions import Principal
from .views import Response, contact_json, json_response

__all__ = ["MAX_LIMIT", "ContactRoutes"]

#: Largest page of metadata records or contacts in one response.
MAX_LIMIT = 100_000

# Left out of a domain revocation: every tenant (an explicit null is refused).
_ALL_TENANTS = object()


class ContactRoutes(ApiContext):
    """
    Contacts and revocation.
    """

    @app.route("/api/contacts", methods=["GET"])
    @endpoint()
    async def list_contacts(self, request: IRequest, principal: Principal) -> Response:
        """
        Contacts filtered by owner, external domain and state;
        C{X-Total-Count} gives the total.
        """
        query = QueryParams(request)
        owner = query.address("owner")
        external_domain = query.domain("domain")
        state = query.choice("state", [s.value for s in ContactState])
        limit = query.integer("limit", 1000, 1, MAX_LIMIT)
        offset = query.integer("offset", 0, 0, 10**9)
        query.finish()
        contacts = await self._store.list_contacts(
            owner=owner, external_domain=external_domain, state=state
        )
        visible = [c for c in contacts if principal.can_see(c.owner.domain)]
        response = json_response([contact_json(c) for c in visible[offset : offset + limit]])
        response.headers["X-Total-Count"] = str(len(visible))
        return response

    @app.route("/api/revoke", methods=["POST"])
    @endpoint()
    async def revoke(self, request: IRequest, principal: Principal) -> Response:
        """
        Revoke one contact, every contact of a user (and turn the user's
        federation off), or every contact with a remote domain (and block
        it), then tell the revocation listeners.
        """
        QueryParams(request).finish()
        body = read_body(request)
        scopes = [k for k in ("contact", "user", "domain") if k in body]
        if len(scopes) != 1:
            raise bad('give exactly one of "contact", "user" or "domain"')
        scope = scopes[0]
        only_keys(body, ("domain", "tenant") if scope == "domain" else (scope,))
        if scope == "contact":
            result = await self._revoke_contact(body["contact"], principal)
            target = f"{result.revocation.user} -> {result.revocation.external}"
        elif scope == "user":
            result = await self._revoke_user(body["user"], principal)
            target = str(result.revocation.user)
        else:
            tenant = body["tenant"] if "tenant" in body else _ALL_TENANTS
            result = await self._revoke_domain(body["domain"], tenant, principal)
            target = str(result.revocation.domain)
        for tenant_domain in result.revocation.tenants:
            await self._audit.record(
                principal,
                request,
                f"revoke.{scope}",
                target,
                tenant_domain,
                f"{result.contacts_revoked} contacts",
            )
        return json_response(result.as_json())

    async def _revoke_contact(self, spec: Any, principal: Principal) -> RevocationResult:
        if not isinstance(spec, dict):
            raise bad('contact: must be an object {"owner": address, "external": address}')
        only_keys(spec, ("owner", "external"), "contact")
        owner = parse_address(string_field(spec, "owner", "contact"), "contact.owner")
        external = parse_address(string_field(spec, "external", "contact"), "contact.external")
        contact = await self._store.get_contact(owner, external)
        if contact is None or not principal.can_see(owner.domain):
            raise not_found(f"{owner} has no contact {external}")
        return await self._revocations.revoke_contact(contact)

    async def _revoke_user(self, spec: Any, principal: Principal) -> RevocationResult:
        if not isinstance(spec, str):
            raise bad("user: must be an address string")
        user = parse_address(spec, "user")
        await self._tenant(user.domain, principal)
        return await self._revocations.revoke_user(user)

    async def _revoke_domain(
        self, spec: Any, tenant: Any, principal: Principal
    ) -> RevocationResult:
        if not isinstance(spec, str):
            raise bad("domain: must be a domain or *.domain string")
        pattern = parse_pattern(spec, "domain")
        if tenant is not _ALL_TENANTS:
            if not isinstance(tenant, str):
                raise bad("tenant: must be a domain string")
            tenants = [(await self._tenant(parse_domain(tenant, "tenant"), principal)).domain]
        elif principal.is_global:
            tenants = [t.domain for t in await self._store.list_tenants()]
        else:
            tenants = [(await self._tenant(str(principal.tenant), principal)).domain]
        return await self._revocations.revoke_domain(pattern, tenants)
