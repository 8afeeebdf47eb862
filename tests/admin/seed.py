"""
Twelve months of usage for portal tests (HTTP and browser): metadata
records as the router would leave them, and the numbers the charts must
show, counted here independently of the server's aggregation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from argon2 import PasswordHasher
from twisted.internet.task import Clock

from nextplane.admin.access import AdminAccess
from nextplane.admin.accounts import Accounts, utc_now
from nextplane.admin.api import AdminAPI
from nextplane.admin.portal.app import Portal
from nextplane.admin.queries import months_back
from nextplane.admin.sessions import LoginThrottle, SessionBook
from nextplane.federation_health import FederationHealthBook
from nextplane.interfaces import IStore
from nextplane.storage.admin import admin_store_for
from nextplane.storage.admin_records import AdminRole, IAdminStore
from nextplane.storage.records import Decision, MetadataRecord, TenantRecord
from nextplane.web.app import HubWebApp

#: Cheap argon2id parameters for tests (the hub uses the library's defaults).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


def _record(
    when: datetime, sender: str, receiver: str, tenant: str, remote: str, platform: str
) -> MetadataRecord:
    return MetadataRecord(
        timestamp=when,
        sender=sender,
        receiver=receiver,
        category="im",
        kind="message",
        session_id="s-1",
        decision=Decision.DELIVERED,
        tenant=tenant,
        remote_domain=remote,
        platform=platform,
    )


def seed_usage(store: IStore, today: date) -> dict[str, Any]:
    """
    Store tenants acme.test (alpha) and beta.test (beta) and a year of
    delivered messages; return the expected monthly numbers.
    """
    store.put_tenant(TenantRecord("acme.test", "alpha", "W1", "Acme"))
    store.put_tenant(TenantRecord("beta.test", "beta", "W2", "Beta"))
    months = months_back(today, 12)
    expected: dict[str, Any] = {
        "labels": [m.isoformat()[:7] for m in months],
        "unique_users": [],
        "messages": [],
        "acme_users": [],
        "acme_messages": [],
        "widget_messages": [],
    }
    for i, month in enumerate(months):
        sent = []
        # john writes to widget.test i+1 times; mary to sipco.test twice;
        # ann once every third month; bob (beta.test) once to widget.test.
        sent += [("john@acme.test", "peter@widget.test", "acme.test", "widget.test", "alpha")] * (
            i + 1
        )
        sent += [("mary@acme.test", "sue@sipco.test", "acme.test", "sipco.test", "alpha")] * 2
        if i % 3 == 0:
            sent.append(("ann@acme.test", "peter@widget.test", "acme.test", "widget.test", "alpha"))
        sent.append(("bob@beta.test", "peter@widget.test", "beta.test", "widget.test", "beta"))
        for n, (sender, receiver, tenant, remote, platform) in enumerate(sent):
            when = datetime(month.year, month.month, 1 + n % 20, 10, 0, tzinfo=UTC)
            store.append_metadata(_record(when, sender, receiver, tenant, remote, platform))
        expected["unique_users"].append(len({s[0] for s in sent}))
        expected["messages"].append(len(sent))
        expected["acme_users"].append(len({s[0] for s in sent if s[2] == "acme.test"}))
        expected["acme_messages"].append(sum(1 for s in sent if s[2] == "acme.test"))
        expected["widget_messages"].append(sum(1 for s in sent if s[3] == "widget.test"))
    return expected


class AdminSite:
    """
    The admin listener's resource over a store: API, portal, accounts
    C{root} (global) and C{acme} (tenant admin of acme.test).
    """

    def __init__(
        self, store: IStore, clock: Any = None, health: FederationHealthBook | None = None
    ) -> None:
        if clock is None:
            clock = Clock()
        self.clock = clock
        self.store = store
        self.admin_store: IAdminStore = admin_store_for(store)
        self.accounts = Accounts(self.admin_store, utc_now(clock), hasher=FAST_HASHER)
        self.sessions = SessionBook(clock, idle=600)
        self.throttle = LoginThrottle(clock, per_account=3, per_address=5)
        self.access = AdminAccess("t" * 24, self.accounts, self.sessions, self.throttle)
        self.api = AdminAPI(
            store, "t" * 24, clock, admin_store=self.admin_store, access=self.access
        )
        self.health = health if health is not None else FederationHealthBook(clock)
        self.portal = Portal(
            store, self.admin_store, clock, self.access, self.api.revocations, self.health
        )
        self.web = HubWebApp({}, "test", home="/portal/")
        self.web.mount("admin", self.api.resource())
        self.web.mount("portal", self.portal.resource())

    def add_accounts(self) -> Any:
        """
        Create C{root} and C{acme}; fires when both exist.
        """
        from twisted.internet.defer import ensureDeferred

        async def create() -> None:
            await self.accounts.set_password("root", PASSWORD, AdminRole.GLOBAL, None)
            await self.accounts.set_password("acme", PASSWORD, AdminRole.TENANT, "acme.test")

        return ensureDeferred(create())
