# -*- test-case-name: tests.admin.test_api -*-
"""
Admin API routes for tenants, their users and their policies: tenants
(list, create, edit, retire), a tenant's users, federation policy and
remote-domain rules, and one user's federation switch.
"""

from __future__ import annotations

from typing import Any

from twisted.web.iweb import IRequest

from ..storage.records import DomainAction, FederationMode, TenantPolicy, TenantRecord, UserPolicy
from .params import (
    ApiError,
    QueryParams,
    bad,
    boolean_field,
    not_found,
    only_keys,
    parse_address,
    parse_domain,
    parse_pattern,
    read_body,
    string_field,
)
from .queries import active_tenants, tenant_users
from .routing import ApiContext, app, endpoint
from .sessions import Principal
from .views import (
    Response,
    json_response,
    rule_json,
    tenant_json,
    tenant_policy_json,
    user_json,
    user_row_json,
)

__all__ = ["TenantRoutes"]

_TENANT_FIELDS = ("domain", "platform", "workspace", "display_name")


def _page(query: QueryParams) -> tuple[int, int]:
    return query.integer("limit", 1000, 1, 100_000), query.integer("offset", 0, 0, 10**9)


def _paged(items: list[Any], limit: int, offset: int) -> Response:
    response = json_response(items[offset : offset + limit])
    response.headers["X-Total-Count"] = str(len(items))
    return response


class TenantRoutes(ApiContext):
    """
    Tenants, users and policies.
    """

    @app.route("/api/tenants", methods=["GET"])
    @endpoint()
    async def list_tenants(self, request: IRequest, principal: Principal) -> Response:
        """
        The active tenants one may see, ordered by domain (C{retired=true}:
        the retired ones too); C{X-Total-Count} gives the total.
        """
        query = QueryParams(request)
        retired = query.choice("retired", ["true", "false"]) == "true"
        limit, offset = _page(query)
        query.finish()
        tenants = await active_tenants(self._store, self._admin_store, retired)
        shown = [
            dict(tenant_json(t), **({"retired": gone} if retired else {}))
            for t, gone in tenants
            if principal.can_see(t.domain)
        ]
        return _paged(shown, limit, offset)

    @app.route("/api/tenants", methods=["POST"])
    @endpoint()
    async def create_tenant(self, request: IRequest, principal: Principal) -> Response:
        """
        Create a tenant (global admins); 409 if it exists.
        """
        QueryParams(request).finish()
        self._need_global(principal)
        body = read_body(request)
        only_keys(body, _TENANT_FIELDS)
        domain = parse_domain(string_field(body, "domain"), "domain")
        if await self._store.get_tenant(domain) is not None:
            raise ApiError(409, "conflict", f"tenant {domain} exists")
        tenant = TenantRecord(
            domain,
            string_field(body, "platform"),
            string_field(body, "workspace"),
            str(body.get("display_name") or ""),
        )
        await self._store.put_tenant(tenant)
        await self._audit.record(principal, request, "tenant.create", domain, domain)
        return json_response(tenant_json(tenant), 201)

    @app.route("/api/tenants/<domain>", methods=["PUT"])
    @endpoint()
    async def edit_tenant(self, request: IRequest, principal: Principal, domain: str) -> Response:
        """
        Change a tenant's display name or workspace, or retire it
        (C{"retired": true}) or bring it back.
        """
        QueryParams(request).finish()
        tenant = await self._tenant(parse_domain(domain, "domain"), principal)
        body = read_body(request)
        only_keys(body, ("display_name", "workspace", "retired"))
        changed = TenantRecord(
            tenant.domain,
            tenant.platform,
            string_field(body, "workspace") if "workspace" in body else tenant.workspace,
            string_field(body, "display_name") if "display_name" in body else tenant.display_name,
        )
        if changed != tenant:
            await self._store.put_tenant(changed)
            await self._audit.record(
                principal, request, "tenant.edit", tenant.domain, tenant.domain
            )
        retired = False
        if "retired" in body:
            self._need_global(principal)
            retired = boolean_field(body, "retired")
            if self._admin_store is None:
                raise bad("retired: this hub keeps no tenant states")
            await self._admin_store.set_tenant_retired(
                tenant.domain, self._now() if retired else None
            )
            action = "tenant.retire" if retired else "tenant.restore"
            await self._audit.record(principal, request, action, tenant.domain, tenant.domain)
        else:
            states = await self._admin_store.retired_tenants() if self._admin_store else {}
            retired = tenant.domain in states
        return json_response(dict(tenant_json(changed), retired=retired))

    @app.route("/api/tenants/<domain>/users", methods=["GET"])
    @endpoint()
    async def list_tenant_users(
        self, request: IRequest, principal: Principal, domain: str
    ) -> Response:
        """
        A tenant's users (with a profile, or active in the last year),
        ordered by address; C{X-Total-Count} gives the total.
        """
        query = QueryParams(request)
        limit, offset = _page(query)
        query.finish()
        tenant = await self._tenant(parse_domain(domain, "domain"), principal)
        rows = await tenant_users(self._store, self._admin_store, tenant.domain, self._now().date())
        return _paged([user_row_json(r) for r in rows], limit, offset)

    @app.route("/api/tenants/<domain>/policy", methods=["GET"])
    @endpoint()
    async def get_tenant_policy(
        self, request: IRequest, principal: Principal, domain: str
    ) -> Response:
        """
        A tenant's federation policy (defaults when none was set).
        """
        QueryParams(request).finish()
        tenant = await self._tenant(parse_domain(domain, "domain"), principal)
        policy = await self._store.get_tenant_policy(tenant.domain)
        return json_response(tenant_policy_json(policy))

    @app.route("/api/tenants/<domain>/policy", methods=["PUT"])
    @endpoint()
    async def put_tenant_policy(
        self, request: IRequest, principal: Principal, domain: str
    ) -> Response:
        """
        Replace a tenant's federation policy; every field is required.
        """
        QueryParams(request).finish()
        tenant_domain = parse_domain(domain, "domain")
        body = read_body(request)
        fields = ("federation", "files", "presence", "channel_invites")
        only_keys(body, fields)
        federation = string_field(body, "federation")
        modes = [m.value for m in FederationMode]
        if federation not in modes:
            raise bad(f"federation: must be one of {', '.join(modes)}, not {federation!r}")
        policy = TenantPolicy(
            tenant_domain,
            FederationMode(federation),
            files=boolean_field(body, "files"),
            presence=boolean_field(body, "presence"),
            channel_invites=boolean_field(body, "channel_invites"),
        )
        await self._tenant(tenant_domain, principal)
        await self._store.put_tenant_policy(policy)
        await self._audit.record(
            principal, request, "tenant.policy", tenant_domain, tenant_domain, federation
        )
        return json_response(tenant_policy_json(policy))

    @app.route("/api/tenants/<domain>/domains", methods=["GET"])
    @endpoint()
    async def list_domain_rules(
        self, request: IRequest, principal: Principal, domain: str
    ) -> Response:
        """
        A tenant's remote-domain rules, ordered by pattern.
        """
        QueryParams(request).finish()
        tenant = await self._tenant(parse_domain(domain, "domain"), principal)
        rules = await self._store.list_domain_policies(tenant.domain)
        return json_response([rule_json(r) for r in rules])

    @app.route("/api/tenants/<domain>/domains/<pattern>", methods=["PUT"])
    @endpoint()
    async def put_domain_rule(
        self, request: IRequest, principal: Principal, domain: str, pattern: str
    ) -> Response:
        """
        Allow or block a remote domain (or C{*.domain}) for a tenant: 201
        for a new rule, 200 when it replaced one.
        """
        QueryParams(request).finish()
        tenant_domain = parse_domain(domain, "domain")
        rule_pattern = parse_pattern(pattern, "pattern")
        body = read_body(request)
        only_keys(body, ("action",))
        action = string_field(body, "action")
        actions = [a.value for a in DomainAction]
        if action not in actions:
            raise bad(f"action: must be one of {', '.join(actions)}, not {action!r}")
        tenant = await self._tenant(tenant_domain, principal)
        created = await self._revocations.set_domain_rule(
            tenant.domain, rule_pattern, DomainAction(action)
        )
        await self._audit.record(
            principal, request, f"domain.{action}", rule_pattern, tenant.domain
        )
        rule = {"tenant": tenant.domain, "pattern": rule_pattern, "action": action}
        return json_response(rule, 201 if created else 200)

    @app.route("/api/tenants/<domain>/domains/<pattern>", methods=["DELETE"])
    @endpoint()
    async def delete_domain_rule(
        self, request: IRequest, principal: Principal, domain: str, pattern: str
    ) -> Response:
        """
        Remove a tenant's rule for a pattern; 404 when there is none.
        """
        QueryParams(request).finish()
        tenant_domain = parse_domain(domain, "domain")
        rule_pattern = parse_pattern(pattern, "pattern")
        tenant = await self._tenant(tenant_domain, principal)
        if not await self._revocations.remove_domain_rule(tenant.domain, rule_pattern):
            raise not_found(f"{tenant.domain} has no rule for {rule_pattern}")
        await self._audit.record(principal, request, "domain.unset", rule_pattern, tenant.domain)
        return json_response({"tenant": tenant.domain, "pattern": rule_pattern, "removed": True})

    @app.route("/api/users/<address>", methods=["GET"])
    @endpoint()
    async def get_user(self, request: IRequest, principal: Principal, address: str) -> Response:
        """
        A hub user's profile and federation switch; 404 when the hub knows
        neither.
        """
        QueryParams(request).finish()
        user_address = parse_address(address, "address")
        if not principal.can_see(user_address.domain):
            raise not_found(f"no user {user_address}")
        user = await self._store.get_user(user_address)
        policy = await self._store.get_user_policy(user_address)
        if user is None and policy is None:
            raise not_found(f"no user {user_address}")
        return json_response(
            {
                "address": str(user.address if user is not None else user_address),
                "tenant": user.tenant if user is not None else user_address.domain,
                "profile": user_json(user) if user is not None else None,
                "policy": {"enabled": policy.enabled if policy is not None else None},
            }
        )

    @app.route("/api/users/<address>/policy", methods=["PUT"])
    @endpoint()
    async def put_user_policy(
        self, request: IRequest, principal: Principal, address: str
    ) -> Response:
        """
        Turn federation on or off for one user of a tenant (the user need
        not have been seen yet, so allow-lists can be prepared).
        """
        QueryParams(request).finish()
        user_address = parse_address(address, "address")
        body = read_body(request)
        only_keys(body, ("enabled",))
        enabled = boolean_field(body, "enabled")
        await self._tenant(user_address.domain, principal)
        await self._store.put_user_policy(UserPolicy(user_address, enabled))
        await self._audit.record(
            principal,
            request,
            "user.enable" if enabled else "user.disable",
            str(user_address),
            user_address.domain,
        )
        return json_response({"address": str(user_address), "enabled": enabled})
