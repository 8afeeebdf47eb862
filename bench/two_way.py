"""
What the two-way platform benchmarks (B8 Teams, B9 Webex) share: the run's
sizes, the per-direction arrival tally, and seeding the hub's database with
a tenant whose users each have one accepted XMPP contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import SequenceTally, now_ns
from bench.slack_side import parse_marker
from nextplane.model.address import Address
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    TenantRecord,
    UserRecord,
)

__all__ = ["Plan", "Target", "seed"]


class Plan:
    """
    Sizes of a full or a quick run.
    """

    def __init__(self, quick: bool, users: int) -> None:
        """
        @param users: Platform users in a full run (a quick run has 20).
        """
        self.quick = quick
        self.users = 20 if quick else users
        self.warmup = (20.0, 1.0) if quick else (100.0, 3.0)
        self.rates = [40.0] if quick else [100.0, 250.0, 500.0, 1000.0]
        self.duration = 2.0 if quick else 8.0
        self.drain = 3.0 if quick else 5.0
        self.profile_rate = self.rates[0]


class Target:
    """
    What one system, in one direction, delivered.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.tally = SequenceTally()
        self.arrivals: dict[int, int] = {}
        self.step: Any = None

    def on_text(self, text: str, arrived_ns: int) -> None:
        found = parse_marker(text)
        if found is None:
            return
        sequence, scheduled = found
        self.tally.arrived(sequence, scheduled, arrived_ns)
        self.arrivals.setdefault(sequence, arrived_ns)

    def on_ack(self, sequence: int, scheduled_ns: int) -> None:
        if self.step is not None:
            self.step.ack_ms[sequence] = (now_ns() - scheduled_ns) / 1e6


async def seed(
    reactor: Any,
    database: Path,
    tenant: TenantRecord,
    users: Sequence[tuple[str, str]],
    remote: str,
) -> None:
    """
    C{tenant}, its users C{user<i>} (platform id, name) and their accepted
    contacts C{peter<i>@remote}, in the hub's SQLite database.
    """
    from nextplane.storage.sqlite import SQLiteStore

    store = SQLiteStore(str(database), reactor=reactor)
    await store.open()
    when = datetime.now(UTC)
    try:
        await store.put_tenant(tenant)
        for i, (platform_id, name) in enumerate(users):
            owner = Address(f"user{i}", tenant.domain)
            await store.put_user(
                UserRecord(owner, tenant.domain, tenant.platform, platform_id, name)
            )
            await store.put_contact(
                ContactRecord(
                    owner,
                    Address(f"peter{i}", remote),
                    ContactState.ACCEPTED,
                    ContactDirection.OUTBOUND,
                    when,
                    when,
                )
            )
    finally:
        await store.close()
