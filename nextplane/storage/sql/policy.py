# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Federation rules (L{nextplane.storage.interfaces.IPolicy}) as SQL programs.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from ...model.address import Address
from ..records import DomainPolicy, TenantPolicy, UserPolicy
from .runtime import Op, Query, SQLBase, first_row, parse_address
from .schema import DOMAIN_POLICIES, TENANT_POLICIES, USER_POLICIES

__all__ = ["PolicySQL"]


_PUT_TENANT_POLICY = TENANT_POLICIES.upsert()
_PUT_USER_POLICY = USER_POLICIES.upsert()
_PUT_DOMAIN_POLICY = DOMAIN_POLICIES.upsert()


class PolicySQL(SQLBase):
    """
    L{IPolicy} for the SQL stores.
    """

    # policy

    def put_tenant_policy(self, policy: TenantPolicy) -> Deferred[None]:
        """
        Insert or replace a tenant's policy.
        """

        def op() -> Op[None]:
            p = policy
            params = (p.tenant, p.federation.value, p.files, p.presence, p.channel_invites)
            yield Query(_PUT_TENANT_POLICY, params)

        return self._write(op())

    def get_tenant_policy(self, tenant: str) -> Deferred[TenantPolicy]:
        """
        @return: A L{Deferred} firing with the stored policy, or the
            defaults when none is stored.
        """

        def op() -> Op[TenantPolicy]:
            sql = f"{TENANT_POLICIES.select} WHERE tenant = ?"
            row = first_row((yield Query(sql, (tenant,))))
            if row is None:
                return TenantPolicy(tenant)
            _, federation, files, presence, invites = row
            return TenantPolicy(tenant, federation, bool(files), bool(presence), bool(invites))

        return self._read(op())

    def put_user_policy(self, policy: UserPolicy) -> Deferred[None]:
        """
        Insert or replace a user's policy by case-insensitive address.
        """

        def op() -> Op[None]:
            params = (policy.address.key, str(policy.address), policy.enabled)
            yield Query(_PUT_USER_POLICY, params)

        return self._write(op())

    def get_user_policy(self, address: Address) -> Deferred[UserPolicy | None]:
        """
        @return: A L{Deferred} firing with the user's policy or C{None}.
        """

        def op() -> Op[UserPolicy | None]:
            sql = f"{USER_POLICIES.select} WHERE address_key = ?"
            row = first_row((yield Query(sql, (address.key,))))
            return None if row is None else UserPolicy(parse_address(row[1]), bool(row[2]))

        return self._read(op())

    def put_domain_policy(self, policy: DomainPolicy) -> Deferred[None]:
        """
        Insert or replace a domain rule by (tenant, pattern).
        """

        def op() -> Op[None]:
            params = (policy.tenant, policy.pattern, policy.action.value)
            yield Query(_PUT_DOMAIN_POLICY, params)

        return self._write(op())

    def remove_domain_policy(self, tenant: str, pattern: str) -> Deferred[bool]:
        """
        @return: A L{Deferred} firing with whether a rule was removed.
        """

        def op() -> Op[bool]:
            rows = yield Query(
                "DELETE FROM domain_policies WHERE tenant = ? AND pattern = ? RETURNING pattern",
                (tenant, pattern),
            )
            return bool(rows)

        return self._write(op())

    def list_domain_policies(self, tenant: str) -> Deferred[list[DomainPolicy]]:
        """
        @return: A L{Deferred} firing with a tenant's rules ordered by
            pattern.
        """

        def op() -> Op[list[DomainPolicy]]:
            sql = f"{DOMAIN_POLICIES.select} WHERE tenant = ? ORDER BY pattern"
            return [DomainPolicy(*row) for row in (yield Query(sql, (tenant,)))]

        return self._read(op())
