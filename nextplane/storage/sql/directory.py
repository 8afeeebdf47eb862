# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Tenants and hub users (L{nextplane.storage.interfaces.IDirectory}) as SQL
programs.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from ...model.address import Address
from ..records import TenantRecord, UserRecord
from .runtime import Op, Query, Row, SQLBase, first_row
from .schema import TENANTS, USERS

__all__ = ["DirectorySQL"]


_PUT_TENANT = TENANTS.upsert()
_PUT_USER = USERS.upsert()


def _tenant(row: Row) -> TenantRecord:
    return TenantRecord(*row)


def _user(row: Row) -> UserRecord:
    _, local, domain, tenant, platform, platform_id, display_name, avatar_url, title = row
    return UserRecord(
        Address(local, domain), tenant, platform, platform_id, display_name, avatar_url, title
    )


class DirectorySQL(SQLBase):
    """
    L{IDirectory} for the SQL stores.
    """

    # tenants

    def put_tenant(self, tenant: TenantRecord) -> Deferred[None]:
        """
        Insert or replace C{tenant} by domain.
        """

        def op() -> Op[None]:
            t = tenant
            yield Query(_PUT_TENANT, (t.domain, t.platform, t.workspace, t.display_name))

        return self._write(op())

    def get_tenant(self, domain: str) -> Deferred[TenantRecord | None]:
        """
        @return: A L{Deferred} firing with the tenant of C{domain} or C{None}.
        """

        def op() -> Op[TenantRecord | None]:
            row = first_row((yield Query(f"{TENANTS.select} WHERE domain = ?", (domain,))))
            return None if row is None else _tenant(row)

        return self._read(op())

    def list_tenants(self) -> Deferred[list[TenantRecord]]:
        """
        @return: A L{Deferred} firing with every tenant, ordered by domain.
        """

        def op() -> Op[list[TenantRecord]]:
            rows = yield Query(f"{TENANTS.select} ORDER BY domain")
            return [_tenant(row) for row in rows]

        return self._read(op())

    # users

    def put_user(self, user: UserRecord) -> Deferred[None]:
        """
        Insert or replace C{user} by its case-insensitive address. Another
        user holding the same platform id is replaced too, since one
        platform account maps to one address.
        """

        def op() -> Op[None]:
            u, key = user, user.address.key
            yield Query(
                "DELETE FROM users WHERE platform = ? AND platform_id = ? AND address_key <> ?",
                (u.platform, u.platform_id, key),
            )
            yield Query(
                _PUT_USER,
                (
                    key,
                    u.address.local,
                    u.address.domain,
                    u.tenant,
                    u.platform,
                    u.platform_id,
                    u.display_name,
                    u.avatar_url,
                    u.title,
                ),
            )

        return self._write(op())

    def get_user(self, address: Address) -> Deferred[UserRecord | None]:
        """
        @return: A L{Deferred} firing with the user of C{address} (in any
            case) or C{None}.
        """

        def op() -> Op[UserRecord | None]:
            sql = f"{USERS.select} WHERE address_key = ?"
            row = first_row((yield Query(sql, (address.key,))))
            return None if row is None else _user(row)

        return self._read(op())

    def find_user(self, platform: str, platform_id: str) -> Deferred[UserRecord | None]:
        """
        @return: A L{Deferred} firing with the user with native id
            C{platform_id} on C{platform}, or C{None}.
        """

        def op() -> Op[UserRecord | None]:
            sql = f"{USERS.select} WHERE platform = ? AND platform_id = ?"
            row = first_row((yield Query(sql, (platform, platform_id))))
            return None if row is None else _user(row)

        return self._read(op())

    def list_users(self, tenant: str) -> Deferred[list[UserRecord]]:
        """
        @return: A L{Deferred} firing with the users of C{tenant}, ordered
            by address.
        """

        def op() -> Op[list[UserRecord]]:
            sql = f"{USERS.select} WHERE tenant = ? ORDER BY address_key"
            return [_user(row) for row in (yield Query(sql, (tenant,)))]

        return self._read(op())
