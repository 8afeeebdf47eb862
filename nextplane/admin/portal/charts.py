# -*- test-case-name: tests.admin.test_portal -*-
"""
The overview's numbers, computed by the server from the daily usage
facts: per month totals, per remote domain, per platform and per tenant,
the top federated domains, and this month against last. Each chart is
described once (L{Chart}) and drawn by the browser from the same numbers
the page shows in its table (the charts' text alternative).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from attrs import frozen

from ...storage.admin_records import UsageFacts
from ..queries import monthly_usage

__all__ = ["Chart", "Comparison", "TopDomain", "build_charts", "compare_months", "top_domains"]

#: Groups drawn separately in a chart; the rest are summed as "other".
MAX_SERIES = 6


@frozen
class Chart:
    """
    One chart: a metric per month for each series, and a table of the
    same numbers.

    @ivar chart_id: The canvas id (and the key in the page's JSON).
    @ivar title: What it shows, in words.
    @ivar metric: C{"unique_users"} or C{"messages"}.
    @ivar months: The month labels (C{YYYY-MM}), oldest first.
    @ivar series: (name, one value per month) in drawing order.
    """

    chart_id: str
    title: str
    metric: str
    months: tuple[str, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]

    def as_json(self) -> dict[str, Any]:
        """
        What the page's script draws.
        """
        return {
            "id": self.chart_id,
            "title": self.title,
            "metric": self.metric,
            "labels": list(self.months),
            "series": [{"name": n, "values": list(v)} for n, v in self.series],
        }


@frozen
class TopDomain:
    """
    A remote domain's share of the period.
    """

    domain: str
    unique_users: int
    messages: int


@frozen
class Comparison:
    """
    This month against last.
    """

    this_month: str
    last_month: str
    users: tuple[int, int]
    messages: tuple[int, int]


def _series(
    facts: UsageFacts, months: Sequence[str], field: str | None, metric: str
) -> tuple[tuple[str, tuple[int, ...]], ...]:
    rows = monthly_usage(facts, [field] if field else [])
    values: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        name = (row.group[0] or "(none)") if field else "all"
        values[name][row.month] = getattr(row, metric)
    totals = sorted(values, key=lambda n: (-sum(values[n].values()), n))
    shown = totals[:MAX_SERIES]
    result = [(n, tuple(values[n].get(m, 0) for m in months)) for n in shown]
    rest = totals[MAX_SERIES:]
    if rest and metric == "messages":
        other = tuple(sum(values[n].get(m, 0) for n in rest) for m in months)
        result.append(("other", other))
    if not result:
        result = [("all", tuple(0 for _ in months))]
    return tuple(result)


def build_charts(facts: UsageFacts, months: Sequence[date], by_tenant: bool) -> list[Chart]:
    """
    The overview's charts over C{months} (first days, oldest first).
    """
    labels = tuple(m.isoformat()[:7] for m in months)
    groupings: list[tuple[str | None, str]] = [(None, "")]
    groupings += [("remote_domain", " by remote domain"), ("platform", " by platform")]
    if by_tenant:
        groupings.append(("tenant", " by tenant"))
    charts = []
    for field, suffix in groupings:
        for metric, title in (("unique_users", "Unique users"), ("messages", "Messages")):
            chart_id = f"chart-{metric.replace('_', '-')}" + (
                f"-by-{field.replace('_', '-')}" if field else ""
            )
            charts.append(
                Chart(
                    chart_id,
                    f"{title}{suffix}",
                    metric,
                    labels,
                    _series(facts, labels, field, metric),
                )
            )
    return charts


def top_domains(facts: UsageFacts, count: int = 10) -> list[TopDomain]:
    """
    The remote domains with the most messages in the period.
    """
    users: dict[str, set[str]] = defaultdict(set)
    messages: dict[str, int] = defaultdict(int)
    for row in facts.users:
        if row[2]:
            users[row[2]].add(row[4])
    for m in facts.messages:
        if m[2]:
            messages[m[2]] += m[4]
    ranked = sorted(set(users) | set(messages), key=lambda d: (-messages[d], -len(users[d]), d))
    return [TopDomain(d, len(users[d]), messages[d]) for d in ranked[:count]]


def compare_months(facts: UsageFacts, months: Sequence[date]) -> Comparison:
    """
    The last two of C{months}, side by side.
    """
    labels = [m.isoformat()[:7] for m in months[-2:]]
    if len(labels) == 1:
        labels.insert(0, "")
    totals = {r.month: r for r in monthly_usage(facts, [])}

    def pick(label: str, metric: str) -> int:
        row = totals.get(label)
        return int(getattr(row, metric)) if row is not None else 0

    return Comparison(
        labels[1],
        labels[0],
        (pick(labels[1], "unique_users"), pick(labels[0], "unique_users")),
        (pick(labels[1], "messages"), pick(labels[0], "messages")),
    )
