# -*- test-case-name: tests.admin.test_portal -*-
"""
The admin portal: a Klein class app the composition root mounts at
C{/portal/} on the admin listener, apart from the JSON API.

Pages: login and logout, the overview (12-month charts drawn from numbers
the server aggregates, with tables as their text alternative), federation,
users, contacts, trace, tenants and audit. Every page needs a session
(L{nextplane.admin.access}); every form that changes something carries the
session's CSRF token; a tenant admin sees only their tenant.
"""

from __future__ import annotations

import json
from importlib import resources

from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.static import File

from ...federation_health import FederationHealthBook
from ...interfaces import IStore
from ...storage.admin_records import IAdminStore
from ..access import AdminAccess, AuditLog
from ..queries import months_back, next_month_start
from ..revocation import RevocationService
from ..sessions import Session
from .base import PortalBase, page, portal_app
from .charts import build_charts, compare_months, top_domains
from .manage import FederationPages, UserPages
from .records import AuditPages, TenantPages, TracePages

__all__ = ["Portal"]


class Portal(FederationPages, UserPages, TracePages, TenantPages, AuditPages, PortalBase):
    """
    The portal's pages.

    @param base: Where the composition root mounts L{resource} (C{/portal}).
    """

    app = portal_app

    def __init__(
        self,
        store: IStore,
        admin_store: IAdminStore,
        clock: IReactorTime,
        access: AdminAccess,
        revocations: RevocationService,
        health: FederationHealthBook | None = None,
        base: str = "/portal",
    ) -> None:
        self._store = store
        self._admin_store = admin_store
        self._clock = clock
        self._access = access
        self._revocations = revocations
        self._health = health if health is not None else FederationHealthBook(clock)
        self._audit = AuditLog(admin_store, self._now)
        self._init_base(base)
        self._static = File(str(resources.files(__package__) / "static"))

    def resource(self) -> IResource:
        """
        The resource to mount, e.g. C{admin_web.mount("portal", p.resource())}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    @portal_app.route("/static/", branch=True, methods=["GET", "HEAD"])
    def static(self, request: IRequest) -> IResource:
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return self._static

    @portal_app.route("/login", methods=["GET"])
    @page(public=True)
    async def login_form(self, request: IRequest, session: Session | None) -> bytes:
        """
        The login form.
        """
        return self._render(request, None, "login.html", error=None, name="")

    @portal_app.route("/login", methods=["POST"])
    @page(public=True)
    async def login(self, request: IRequest, session: Session | None) -> bytes:
        """
        Check the name and password; on success a new session (never the
        one the browser came with) and the overview.
        """
        name = self._form(request, "name")
        password = self._form(request, "password")
        result = await self._access.login(request, name, password)
        if isinstance(result, str):
            request.setResponseCode(401 if "wrong" in result else 429)
            return self._render(request, None, "login.html", error=result, name=name)
        await self._audit.record(
            result.principal, request, "account.login", name, result.principal.tenant
        )
        return self._redirect(request, "")

    @portal_app.route("/logout", methods=["POST"])
    @page()
    async def logout(self, request: IRequest, session: Session | None) -> bytes:
        """
        End the session.
        """
        assert session is not None
        await self._audit.record(
            session.principal,
            request,
            "account.logout",
            session.principal.name,
            session.principal.tenant,
        )
        self._access.logout(request)
        return self._redirect(request, "login")

    @portal_app.route("/", methods=["GET"])
    @page()
    async def overview(self, request: IRequest, session: Session | None) -> bytes:
        """
        Twelve months of usage: charts and their tables, the top federated
        domains, this month against last.
        """
        assert session is not None
        principal = session.principal
        tenant = None if principal.is_global else principal.tenant
        today = self._now().date()
        months = months_back(today, 12)
        facts = await self._admin_store.usage_facts(months[0], next_month_start(today), tenant)
        charts = build_charts(facts, months, by_tenant=principal.is_global)
        return self._render(
            request,
            session,
            "overview.html",
            charts=charts,
            # In a <script type="application/json">: no "<" may end it early.
            chart_json=json.dumps([c.as_json() for c in charts]).replace("<", "\\u003c"),
            top=top_domains(facts),
            comparison=compare_months(facts, months),
            tenant=tenant,
        )
