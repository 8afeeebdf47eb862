# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
The admin portal's role (L{nextplane.storage.admin_records.IAdminStore}:
accounts, audit, tenant retirement, usage facts) as SQL programs, on the
tables of the C{admin_portal} migration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ..admin_records import (
    AdminAccount,
    AdminRole,
    AuditQuery,
    AuditRecord,
    IAdminStore,
    UsageFacts,
)
from .runtime import Op, Query, SQLBase, to_date, to_datetime
from .schema import Table

__all__ = ["ADMIN_TABLES", "AdminSQL"]

_ACCOUNTS = Table(
    "admin_accounts",
    (
        "name",
        "password_hash",
        "role",
        "tenant",
        "token_hash",
        "disabled",
        "created_at",
        "updated_at",
    ),
    ("name",),
    secret=("password_hash", "token_hash"),
)
_AUDIT = Table(
    "admin_audit",
    ("id", "ts", "actor", "action", "target", "tenant", "source", "detail"),
    ("id",),
)
_RETIRED = Table("tenant_retirements", ("domain", "retired_at"), ("domain",))

#: The tables of this module, for dumps.
ADMIN_TABLES = (_ACCOUNTS, _AUDIT, _RETIRED)


def _account(row: tuple[Any, ...]) -> AdminAccount:
    return AdminAccount(
        name=row[0],
        password_hash=row[1],
        role=AdminRole(row[2]),
        tenant=row[3],
        token_hash=row[4],
        disabled=bool(row[5]),
        created_at=to_datetime(row[6]),
        updated_at=to_datetime(row[7]),
    )


def _audit(row: tuple[Any, ...]) -> AuditRecord:
    return AuditRecord(
        record_id=int(row[0]),
        timestamp=to_datetime(row[1]),
        actor=row[2],
        action=row[3],
        target=row[4],
        tenant=row[5],
        source=row[6],
        detail=row[7],
    )


@implementer(IAdminStore)
class AdminSQL(SQLBase):
    """
    L{IAdminStore} for the SQL stores.
    """

    def put_account(self, account: AdminAccount) -> Deferred[None]:
        a = account

        def op() -> Op[None]:
            yield Query(
                _ACCOUNTS.upsert(),
                (
                    a.name,
                    a.password_hash,
                    a.role.value,
                    a.tenant,
                    a.token_hash,
                    int(a.disabled),
                    a.created_at,
                    a.updated_at,
                ),
            )

        return self._write(op())

    def get_account(self, name: str) -> Deferred[AdminAccount | None]:
        def op() -> Op[AdminAccount | None]:
            rows = yield Query(f"{_ACCOUNTS.select} WHERE name = ?", (name,))
            return _account(rows[0]) if rows else None

        return self._read(op())

    def find_account_by_token(self, token_hash: str) -> Deferred[AdminAccount | None]:
        def op() -> Op[AdminAccount | None]:
            rows = yield Query(f"{_ACCOUNTS.select} WHERE token_hash = ?", (token_hash,))
            return _account(rows[0]) if rows else None

        return self._read(op())

    def list_accounts(self) -> Deferred[list[AdminAccount]]:
        def op() -> Op[list[AdminAccount]]:
            rows = yield Query(f"{_ACCOUNTS.select} ORDER BY name")
            return [_account(row) for row in rows]

        return self._read(op())

    def append_audit(self, record: AuditRecord) -> Deferred[int]:
        r = record

        def op() -> Op[int]:
            rows = yield Query(
                _AUDIT.insert(_AUDIT.columns[1:], " RETURNING id"),
                (r.timestamp, r.actor, r.action, r.target, r.tenant, r.source, r.detail),
            )
            return int(rows[0][0])

        return self._write(op())

    def query_audit(self, query: AuditQuery) -> Deferred[tuple[list[AuditRecord], int]]:
        conditions = [(c, v) for c, v in (("tenant = ?", query.tenant), ("actor = ?", query.actor))]
        wanted = [(c, v) for c, v in conditions if v is not None]
        where = (" WHERE " + " AND ".join(c for c, _ in wanted)) if wanted else ""
        params = tuple(v for _, v in wanted)

        def op() -> Op[tuple[list[AuditRecord], int]]:
            total = yield Query(f"SELECT COUNT(*) FROM admin_audit{where}", params)
            rows = yield Query(
                f"{_AUDIT.select}{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset),
            )
            return [_audit(row) for row in rows], int(total[0][0])

        return self._read(op())

    def set_tenant_retired(self, domain: str, retired_at: datetime | None) -> Deferred[None]:
        def op() -> Op[None]:
            if retired_at is None:
                yield Query("DELETE FROM tenant_retirements WHERE domain = ?", (domain,))
            else:
                yield Query(_RETIRED.upsert(), (domain, retired_at))

        return self._write(op())

    def retired_tenants(self) -> Deferred[dict[str, datetime]]:
        def op() -> Op[dict[str, datetime]]:
            rows = yield Query(_RETIRED.select)
            return {row[0]: to_datetime(row[1]) for row in rows}

        return self._read(op())

    def usage_facts(self, since: date, until: date, tenant: str | None) -> Deferred[UsageFacts]:
        where = " WHERE day >= ? AND day < ?" + (" AND tenant = ?" if tenant else "")
        params: tuple[Any, ...] = (since, until, *((tenant,) if tenant else ()))
        group = "day, tenant, remote_domain, platform"

        def op() -> Op[UsageFacts]:
            users = yield Query(f"SELECT {group}, user_key FROM usage_users{where}", params)
            messages = yield Query(f"SELECT {group}, messages FROM usage_messages{where}", params)
            return UsageFacts(
                tuple(sorted((to_date(r[0]), r[1], r[2], r[3], str(r[4])) for r in users)),
                tuple(sorted((to_date(r[0]), r[1], r[2], r[3], int(r[4])) for r in messages)),
            )

        return self._read(op())
