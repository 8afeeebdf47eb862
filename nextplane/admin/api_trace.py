# -*- test-case-name: tests.admin.test_api -*-
"""
Admin API routes for what happened: the metadata trace (JSON or CSV),
usage by day and by month (aggregated by the server; JSON or CSV), and the
audit trail of admin actions.
"""

from __future__ import annotations

import re
from datetime import timedelta

from twisted.web.iweb import IRequest
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from ..model.address import ChatSessionId
from ..model.events import Category
from ..storage.admin_records import AuditQuery
from ..storage.records import MetadataQuery
from .api_contacts import MAX_LIMIT
from .csvexport import metadata_csv, rows_csv
from .params import QueryParams, bad
from .queries import GROUP_FIELDS, monthly_usage, months_back, next_month_start
from .routing import ApiContext, app, endpoint
from .sessions import Principal
from .views import Response, audit_json, json_response, metadata_json, month_json, usage_json

__all__ = ["TraceRoutes"]

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _wants_csv(request: IRequest, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = parse_accept_header(
        (request.getHeader(b"accept") or b"").decode("latin-1"), MIMEAccept
    )
    return accept.best_match(["application/json", "text/csv"]) == "text/csv"


def _csv(body: bytes, name: str) -> Response:
    return Response(
        200,
        body,
        "text/csv; charset=utf-8",
        {"Content-Disposition": f'attachment; filename="nextplane-{name}.csv"'},
    )


def _group_by(query: QueryParams) -> list[str]:
    grouping = query.text("group_by")
    group_by: list[str] = []
    if grouping is not None:
        for name in grouping.split(","):
            if name not in GROUP_FIELDS:
                raise bad(
                    f"group_by: cannot group by {name!r}; "
                    f"use a comma-separated list of {', '.join(GROUP_FIELDS)}"
                )
            if name not in group_by:
                group_by.append(name)
    return [f for f in GROUP_FIELDS if f in group_by]


class TraceRoutes(ApiContext):
    """
    The metadata trace, usage and the audit trail.
    """

    @app.route("/api/metadata", methods=["GET"])
    @endpoint()
    async def query_metadata(self, request: IRequest, principal: Principal) -> Response:
        """
        Query the metadata log: a JSON list, or a CSV attachment with
        C{Accept: text/csv} or C{format=csv}.
        """
        query = QueryParams(request)
        session_id = query.text("session_id")
        if session_id is not None:
            try:
                session_id = ChatSessionId(session_id).value
            except ValueError as e:
                raise bad(f"session_id: {e}") from None
        user = query.address("user")
        kind = query.text("kind")
        if kind is not None and not _KIND.match(kind):
            raise bad(f"kind: not a metadata kind: {kind!r} (e.g. message, contact_request)")
        wanted = MetadataQuery(
            session_id=session_id,
            user=user.key if user is not None else None,
            remote_domain=query.domain("remote_domain"),
            tenant=self._scope(principal, query.domain("tenant")),
            category=query.choice("type", [c.value for c in Category]),
            kind=kind,
            since=query.timestamp("since"),
            until=query.timestamp("until"),
            limit=query.integer("limit", 1000, 1, MAX_LIMIT),
            offset=query.integer("offset", 0, 0, 10**9),
        )
        fmt = query.choice("format", ["json", "csv"])
        query.finish()
        if wanted.since is not None and wanted.until is not None and wanted.since > wanted.until:
            raise bad("since: must not be after until")
        records = await self._store.query_metadata(wanted)
        if _wants_csv(request, fmt):
            return _csv(metadata_csv(records), "metadata")
        return json_response([metadata_json(r) for r in records])

    @app.route("/api/usage", methods=["GET"])
    @endpoint()
    async def usage(self, request: IRequest, principal: Principal) -> Response:
        """
        Daily unique users and messages, grouped as asked; by default over
        the 365 days up to and including today.
        """
        query = QueryParams(request)
        ordered = _group_by(query)
        tenant = self._scope(principal, query.domain("tenant"))
        since = query.day("since")
        until = query.day("until")
        query.finish()
        try:
            if until is None:
                # The end is exclusive: tomorrow, so that today counts.
                until = self._now().date() + timedelta(days=1)
            if since is None:
                since = until - timedelta(days=365)
        except OverflowError:
            raise bad("until: out of range") from None
        if since >= until:
            raise bad("since: must be before until")
        rows = await self._store.usage(since, until, ordered, tenant=tenant)
        return json_response(
            {
                "since": since.isoformat(),
                "until": until.isoformat(),
                "group_by": ordered,
                "tenant": tenant,
                "rows": [usage_json(r, ordered) for r in rows],
            }
        )

    @app.route("/api/usage/monthly", methods=["GET"])
    @endpoint()
    async def monthly(self, request: IRequest, principal: Principal) -> Response:
        """
        Unique users and messages per calendar month (unique over the
        month, not summed days), grouped as asked, over the last C{months}
        months (default 12) including this one; JSON, or CSV with
        C{format=csv} or C{Accept: text/csv}.
        """
        query = QueryParams(request)
        ordered = _group_by(query)
        tenant = self._scope(principal, query.domain("tenant"))
        count = query.integer("months", 12, 1, 120)
        fmt = query.choice("format", ["json", "csv"])
        query.finish()
        if self._admin_store is None:
            raise bad("this hub keeps no usage facts")
        today = self._now().date()
        months = months_back(today, count)
        until = next_month_start(today)
        facts = await self._admin_store.usage_facts(months[0], until, tenant)
        rows = monthly_usage(facts, ordered)
        if _wants_csv(request, fmt):
            header = ["month", *ordered, "unique_users", "messages"]
            lines = [
                [r.month, *(g or "" for g in r.group), r.unique_users, r.messages] for r in rows
            ]
            return _csv(rows_csv(header, lines), "usage-monthly")
        return json_response(
            {
                "months": [m.isoformat()[:7] for m in months],
                "group_by": ordered,
                "tenant": tenant,
                "rows": [month_json(r, ordered) for r in rows],
            }
        )

    @app.route("/api/audit", methods=["GET"])
    @endpoint()
    async def audit(self, request: IRequest, principal: Principal) -> Response:
        """
        Admin actions, newest first (a tenant admin sees their tenant's);
        C{X-Total-Count} gives the total.
        """
        query = QueryParams(request)
        tenant = self._scope(principal, query.domain("tenant"))
        actor = query.text("actor")
        if actor is not None and len(actor) > 64:
            raise bad("actor: an account name is at most 64 characters")
        limit = query.integer("limit", 100, 1, 10_000)
        offset = query.integer("offset", 0, 0, 10**9)
        query.finish()
        if self._admin_store is None:
            return json_response([])
        records, total = await self._admin_store.query_audit(
            AuditQuery(tenant=tenant, actor=actor, limit=limit, offset=offset)
        )
        response = json_response([audit_json(r) for r in records])
        response.headers["X-Total-Count"] = str(total)
        return response
