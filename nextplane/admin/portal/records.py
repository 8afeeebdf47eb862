# -*- test-case-name: tests.admin.test_portal -*-
"""
Portal pages over records: the metadata trace (with CSV export; refusals
show the rule that refused), tenants (create, edit, retire; paginated with
totals) and the audit of admin actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.web.iweb import IRequest

from ...model.address import ChatSessionId
from ...storage.admin_records import AuditQuery
from ...storage.records import Decision, MetadataQuery, MetadataRecord, TenantRecord
from ..csvexport import metadata_csv
from ..params import ApiError, parse_address, parse_domain, parse_timestamp
from ..queries import active_tenants
from .base import PAGE_SIZE, PortalBase, PortalError, page, portal_app

__all__ = ["AuditPages", "TenantPages", "TracePages"]

#: Most trace rows shown or exported at once.
TRACE_LIMIT = 5000
#: What the hub may have decided.
DECISIONS = tuple(d.value for d in Decision)


class TracePages(PortalBase):
    """
    C{/trace} and C{/trace.csv}.
    """

    def _trace_query(
        self, request: IRequest, principal: Any
    ) -> tuple[MetadataQuery, dict[str, str]]:
        names = ("session_id", "user", "domain", "since", "until", "tenant", "decision")
        fields = {n: self._form(request, n) for n in names}
        if fields["decision"] not in ("", *DECISIONS):
            raise PortalError(400, f"decision: one of {', '.join(DECISIONS)}")
        try:
            session_id = ChatSessionId(fields["session_id"]).value if fields["session_id"] else None
            user = parse_address(fields["user"], "user").key if fields["user"] else None
            domain = parse_domain(fields["domain"], "domain") if fields["domain"] else None
            since: datetime | None = (
                parse_timestamp(fields["since"], "since") if fields["since"] else None
            )
            until: datetime | None = (
                parse_timestamp(fields["until"], "until") if fields["until"] else None
            )
            tenant = parse_domain(fields["tenant"], "tenant") if fields["tenant"] else None
        except ApiError as e:
            raise PortalError(400, e.detail) from None
        except ValueError as e:
            raise PortalError(400, f"session_id: {e}") from None
        if not principal.is_global:
            if tenant not in (None, principal.tenant):
                raise PortalError(404, f"No tenant {tenant}.")
            tenant = principal.tenant
        query = MetadataQuery(
            session_id=session_id,
            user=user,
            remote_domain=domain,
            tenant=tenant,
            since=since,
            until=until,
            limit=TRACE_LIMIT,
        )
        return query, fields

    async def _records(self, query: MetadataQuery, fields: dict[str, str]) -> list[MetadataRecord]:
        records = await self._store.query_metadata(query)
        if fields["decision"]:
            records = [r for r in records if r.decision.value == fields["decision"]]
        return records

    @portal_app.route("/trace", methods=["GET"])
    @page()
    async def trace(self, request: IRequest, session: Any) -> bytes:
        """
        Metadata by chat session, user, domain, time range and decision:
        sender, receiver, type, time, session and decision (with the rule
        that refused). Newest first.
        """
        query, fields = self._trace_query(request, session.principal)
        searched = any(fields.values())
        records = await self._records(query, fields) if searched else []
        records.reverse()
        return self._render_list(
            request,
            session,
            "trace.html",
            records,
            fields=fields,
            decisions=DECISIONS,
            searched=searched,
            limit=TRACE_LIMIT,
        )

    @portal_app.route("/trace.csv", methods=["GET"])
    @page()
    async def trace_csv(self, request: IRequest, session: Any) -> bytes:
        """
        The same search as CSV (metadata only).
        """
        query, fields = self._trace_query(request, session.principal)
        records = await self._records(query, fields)
        request.setHeader(b"content-type", b"text/csv; charset=utf-8")
        request.setHeader(b"content-disposition", b'attachment; filename="nextplane-trace.csv"')
        return metadata_csv(records)


class TenantPages(PortalBase):
    """
    C{/tenants}: list, create, edit, retire.
    """

    @portal_app.route("/tenants", methods=["GET"])
    @page()
    async def tenants(self, request: IRequest, session: Any) -> bytes:
        """
        Tenants (active first; retired ones marked), paginated with totals.
        """
        principal = session.principal
        everything = await active_tenants(self._store, self._admin_store, include_retired=True)
        visible = [(t, gone) for t, gone in everything if principal.can_see(t.domain)]
        visible.sort(key=lambda tg: (tg[1], tg[0].domain))
        return self._render_list(
            request,
            session,
            "tenants.html",
            visible,
            active=sum(1 for _, gone in visible if not gone),
        )

    @portal_app.route("/tenants", methods=["POST"])
    @page()
    async def save_tenant(self, request: IRequest, session: Any) -> bytes:
        """
        Create a tenant (global admins), or edit one's display name and
        workspace, or retire or restore one (global admins).
        """
        principal = session.principal
        try:
            domain = parse_domain(self._form(request, "domain"), "domain")
        except ApiError as e:
            raise PortalError(400, e.detail) from None
        existing = await self._store.get_tenant(domain)
        action = self._form(request, "action")
        if action == "create":
            if not principal.is_global:
                raise PortalError(403, "Only a global admin creates tenants.")
            if existing is not None:
                raise PortalError(409, f"Tenant {domain} exists.")
            platform = self._form(request, "platform")
            workspace = self._form(request, "workspace")
            if not platform or not workspace:
                raise PortalError(400, "A tenant needs a platform and a workspace.")
            record = TenantRecord(domain, platform, workspace, self._form(request, "display_name"))
            await self._store.put_tenant(record)
        elif existing is None or not principal.can_see(domain):
            raise PortalError(404, f"No tenant {domain}.")
        elif action == "edit":
            await self._store.put_tenant(
                TenantRecord(
                    domain,
                    existing.platform,
                    self._form(request, "workspace") or existing.workspace,
                    self._form(request, "display_name"),
                )
            )
        elif action in ("retire", "restore"):
            if not principal.is_global:
                raise PortalError(403, "Only a global admin retires tenants.")
            when = self._now() if action == "retire" else None
            await self._admin_store.set_tenant_retired(domain, when)
        else:
            raise PortalError(400, "Unknown action.")
        await self._audit.record(principal, request, f"tenant.{action}", domain, domain)
        return self._redirect(request, "tenants")


class AuditPages(PortalBase):
    """
    C{/audit}: who did what, when, from where.
    """

    @portal_app.route("/audit", methods=["GET"])
    @page()
    async def audit(self, request: IRequest, session: Any) -> bytes:
        """
        Admin actions, newest first; a tenant admin sees their tenant's.
        """
        principal = session.principal
        tenant = None if principal.is_global else principal.tenant
        _, total = await self._admin_store.query_audit(AuditQuery(tenant=tenant, limit=1))
        shown = self._page_of(request, total)
        records, _ = await self._admin_store.query_audit(
            AuditQuery(tenant=tenant, limit=PAGE_SIZE, offset=shown.offset)
        )
        return self._render(request, session, "audit.html", records=records, page=shown)
