# -*- test-case-name: tests.admin.test_queries -*-
"""
Read models shared by the JSON API and the portal's pages: a tenant's
users (known and active), active tenants, and usage by month, all
computed by the server.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from attrs import frozen

from ..interfaces import IStore
from ..storage.admin_records import IAdminStore, UsageFacts
from ..storage.records import TenantRecord, UserRecord

__all__ = [
    "GROUP_FIELDS",
    "MonthRow",
    "UserRow",
    "active_tenants",
    "month_start",
    "monthly_usage",
    "months_back",
    "next_month_start",
    "tenant_users",
]

#: What usage may be grouped by.
GROUP_FIELDS = ("tenant", "remote_domain", "platform")


@frozen
class UserRow:
    """
    A tenant user as the admin sees it: the stored profile, if any, and
    the last day the user was active.
    """

    address: str
    tenant: str
    platform: str | None
    record: UserRecord | None
    last_active: date | None


@frozen
class MonthRow:
    """
    One month of usage for one group: unique users in the month (not the
    sum of daily counts) and messages.
    """

    month: str
    group: tuple[str | None, ...]
    unique_users: int
    messages: int


def month_start(day: date) -> date:
    """
    The first day of C{day}'s month.
    """
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    """
    The first day of the month after C{day}'s.
    """
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_back(today: date, count: int) -> list[date]:
    """
    The first days of the C{count} months up to and including C{today}'s,
    oldest first.
    """
    months = [month_start(today)]
    while len(months) < count:
        months.append(month_start(months[-1] - timedelta(days=1)))
    return list(reversed(months))


def monthly_usage(facts: UsageFacts, group_by: Sequence[str]) -> list[MonthRow]:
    """
    Fold daily usage facts into months, grouped by C{group_by} (a subset of
    L{GROUP_FIELDS}); ordered by month, then group.
    """
    index = [GROUP_FIELDS.index(f) for f in group_by]

    def key(row: tuple[object, ...]) -> tuple[str, tuple[str | None, ...]]:
        month = row[0].isoformat()[:7]  # type: ignore[attr-defined]
        return month, tuple(str(row[1 + i]) for i in index)

    users: dict[tuple[str, tuple[str | None, ...]], set[str]] = defaultdict(set)
    messages: dict[tuple[str, tuple[str | None, ...]], int] = defaultdict(int)
    for row in facts.users:
        users[key(row)].add(row[4])
    for m in facts.messages:
        messages[key(m)] += m[4]
    keys = sorted(set(users) | set(messages))
    return [MonthRow(k[0], k[1], len(users.get(k, ())), messages.get(k, 0)) for k in keys]


async def active_tenants(
    store: IStore, admin_store: IAdminStore | None, include_retired: bool = False
) -> list[tuple[TenantRecord, bool]]:
    """
    Tenants by domain, each with whether it is retired; retired ones only
    when C{include_retired}.
    """
    tenants = await store.list_tenants()
    retired = await admin_store.retired_tenants() if admin_store is not None else {}
    return [(t, t.domain in retired) for t in tenants if include_retired or t.domain not in retired]


async def tenant_users(
    store: IStore, admin_store: IAdminStore | None, tenant: str, today: date
) -> list[UserRow]:
    """
    A tenant's users by address: those with a stored profile and those
    active in the last year (federation connectors see users the platform
    connectors never profiled), each with the last day active.
    """
    known = {str(u.address).lower(): u for u in await store.list_users(tenant)}
    last: dict[str, date] = {}
    platforms: dict[str, str] = {}
    if admin_store is not None:
        facts = await admin_store.usage_facts(
            today - timedelta(days=366), today + timedelta(days=1), tenant
        )
        for day, _, _, platform, user in facts.users:
            if user not in last or day > last[user]:
                last[user] = day
                platforms[user] = platform
    rows = []
    for address in sorted(set(known) | set(last)):
        record = known.get(address)
        rows.append(
            UserRow(
                str(record.address) if record is not None else address,
                tenant,
                record.platform if record is not None else (platforms.get(address) or None),
                record,
                last.get(address),
            )
        )
    return rows
