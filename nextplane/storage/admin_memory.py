# -*- test-case-name: tests.storage.test_memory -*-
"""
L{IAdminStore} in memory, beside a L{MemoryStore} (whose usage facts it
reads), for tests and for hubs without a database.
"""

from __future__ import annotations

from datetime import date, datetime

from attrs import evolve
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ..logs import REDACTED
from .admin_records import AdminAccount, AuditQuery, AuditRecord, IAdminStore, UsageFacts
from .memory import MemoryStore

__all__ = ["MemoryAdminStore"]


@implementer(IAdminStore)
class MemoryAdminStore:
    """
    Admin accounts, audit and tenant retirement in dicts.

    @param store: The memory store whose usage facts L{usage_facts} reads.
    """

    def __init__(self, store: MemoryStore | None = None) -> None:
        self._store = store
        self._accounts: dict[str, AdminAccount] = {}
        self._audit: list[AuditRecord] = []
        self._retired: dict[str, datetime] = {}

    def put_account(self, account: AdminAccount) -> Deferred[None]:
        self._accounts[account.name] = account
        return succeed(None)

    def get_account(self, name: str) -> Deferred[AdminAccount | None]:
        return succeed(self._accounts.get(name))

    def find_account_by_token(self, token_hash: str) -> Deferred[AdminAccount | None]:
        found = [a for a in self._accounts.values() if a.token_hash == token_hash]
        return succeed(found[0] if found else None)

    def list_accounts(self) -> Deferred[list[AdminAccount]]:
        return succeed([self._accounts[k] for k in sorted(self._accounts)])

    def append_audit(self, record: AuditRecord) -> Deferred[int]:
        record_id = len(self._audit) + 1
        self._audit.append(evolve(record, record_id=record_id))
        return succeed(record_id)

    def query_audit(self, query: AuditQuery) -> Deferred[tuple[list[AuditRecord], int]]:
        found = [
            r
            for r in reversed(self._audit)
            if query.tenant in (None, r.tenant) and query.actor in (None, r.actor)
        ]
        return succeed((found[query.offset : query.offset + query.limit], len(found)))

    def set_tenant_retired(self, domain: str, retired_at: datetime | None) -> Deferred[None]:
        if retired_at is None:
            self._retired.pop(domain, None)
        else:
            self._retired[domain] = retired_at
        return succeed(None)

    def retired_tenants(self) -> Deferred[dict[str, datetime]]:
        return succeed(dict(self._retired))

    def dump_tables(self) -> Deferred[dict[str, list[tuple[str | None, ...]]]]:
        """
        The admin tables as text, like L{MemoryStore.dump_tables}; the
        password and token hashes read C{"[redacted]"}.
        """

        def text(value: object) -> str | None:
            if value is None:
                return None
            if isinstance(value, datetime):
                return value.isoformat(timespec="microseconds")
            return str(value)

        return succeed(
            {
                "admin_accounts": [
                    (
                        a.name,
                        REDACTED,
                        a.role.value,
                        a.tenant,
                        REDACTED if a.token_hash else None,
                        str(int(a.disabled)),
                        text(a.created_at),
                        text(a.updated_at),
                    )
                    for a in self._accounts.values()
                ],
                "admin_audit": [
                    tuple(
                        text(v)
                        for v in (
                            r.record_id,
                            r.timestamp,
                            r.actor,
                            r.action,
                            r.target,
                            r.tenant,
                            r.source,
                            r.detail,
                        )
                    )
                    for r in self._audit
                ],
                "tenant_retirements": [(d, text(t)) for d, t in sorted(self._retired.items())],
            }
        )

    def usage_facts(self, since: date, until: date, tenant: str | None) -> Deferred[UsageFacts]:
        if self._store is None:
            return succeed(UsageFacts((), ()))
        # The memory store's own aggregates: the same facts the SQL tables hold.
        users = self._store._usage_users
        messages = self._store._usage_messages
        return succeed(
            UsageFacts(
                tuple(sorted(r for r in users if since <= r[0] < until and tenant in (None, r[1]))),
                tuple(
                    sorted(
                        (*k, n)
                        for k, n in messages.items()
                        if since <= k[0] < until and tenant in (None, k[1])
                    )
                ),
            )
        )
