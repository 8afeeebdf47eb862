# -*- test-case-name: tests.storage.test_admin -*-
"""
What the admin portal stores: admin accounts, the audit trail and tenant
retirement, and the L{IAdminStore} interface every backend implements.

No message content: an audit record says who did what to which object,
when and from where.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from attrs import frozen
from twisted.internet.defer import Deferred
from zope.interface import Interface

__all__ = [
    "AdminAccount",
    "AdminRole",
    "AuditQuery",
    "AuditRecord",
    "IAdminStore",
    "UsageFacts",
]


class AdminRole(enum.Enum):
    """
    What an admin may see and change: every tenant, or one.
    """

    GLOBAL = "global"
    TENANT = "tenant"


@frozen
class AdminAccount:
    """
    One admin account.

    @ivar name: The login name.
    @ivar password_hash: An argon2id hash (PHC string).
    @ivar role: Global or tenant admin.
    @ivar tenant: For a tenant admin, the tenant's domain.
    @ivar token_hash: SHA-256 (hex) of the account's API token, if issued.
    @ivar disabled: A disabled account cannot log in or use its token.
    """

    name: str
    password_hash: str
    role: AdminRole
    tenant: str | None
    created_at: datetime
    updated_at: datetime
    token_hash: str | None = None
    disabled: bool = False


@frozen
class AuditRecord:
    """
    One admin action: who, when, what, on which object, from where.

    @ivar actor: The account name (or C{"token"} for the configured token).
    @ivar action: e.g. C{domain.block}, C{user.disable}, C{account.create}.
    @ivar target: The object acted on (a domain, an address, an account).
    @ivar tenant: The tenant concerned, if one.
    @ivar source: The client address.
    @ivar detail: A few words more (e.g. the new action); never content.
    """

    timestamp: datetime
    actor: str
    action: str
    target: str
    tenant: str | None
    source: str
    detail: str = ""
    record_id: int | None = None


@frozen
class AuditQuery:
    """
    Which audit records to list, newest first.
    """

    tenant: str | None = None
    actor: str | None = None
    limit: int = 100
    offset: int = 0


@frozen
class UsageFacts:
    """
    The daily usage facts of a period, for aggregations the daily rows
    cannot give (unique users per month, active users).

    @ivar users: (day, tenant, remote domain, platform, user key) rows.
    @ivar messages: (day, tenant, remote domain, platform, count) rows.
    """

    users: tuple[tuple[date, str, str, str, str], ...]
    messages: tuple[tuple[date, str, str, str, int], ...]


class IAdminStore(Interface):
    """
    Storage of admin accounts, the audit trail and tenant retirement.
    """

    def put_account(account: AdminAccount) -> Deferred[None]:
        """
        Insert or replace C{account} by name.
        """

    def get_account(name: str) -> Deferred[AdminAccount | None]:
        """
        The account called C{name}, or C{None}.
        """

    def find_account_by_token(token_hash: str) -> Deferred[AdminAccount | None]:
        """
        The account whose API token hashes to C{token_hash}, or C{None}.
        """

    def list_accounts() -> Deferred[list[AdminAccount]]:
        """
        Every account, by name.
        """

    def append_audit(record: AuditRecord) -> Deferred[int]:
        """
        Append C{record}; fires with its id.
        """

    def query_audit(query: AuditQuery) -> Deferred[tuple[list[AuditRecord], int]]:
        """
        The records C{query} selects, newest first, and how many match in all.
        """

    def set_tenant_retired(domain: str, retired_at: datetime | None) -> Deferred[None]:
        """
        Mark C{domain} retired at C{retired_at}, or active again with C{None}.
        """

    def retired_tenants() -> Deferred[dict[str, datetime]]:
        """
        Retired tenants and when they were retired.
        """

    def usage_facts(since: date, until: date, tenant: str | None) -> Deferred[UsageFacts]:
        """
        The daily usage facts from C{since} (inclusive) to C{until}
        (exclusive), of one tenant or all.
        """
