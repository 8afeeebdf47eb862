#!/usr/bin/env python3
"""
B6: the cost of one routing decision as contacts grow (issue 7).

  python -m bench.b6_route_cost [--quick]

For each store (SQLite file in a temporary directory; PostgreSQL from
C{NEXTPLANE_TEST_PG_DSN}, in a schema of its own, dropped afterwards) and
each size N (1k, 10k, 100k accepted contacts; C{--quick}: 500 and 2,000),
a fresh database is bulk-loaded with N accepted contacts: 1,000 hub users
of tenant C{acme.test} (fewer when N < 1,000) with N/1,000 contacts each,
spread over D = N/100 remote domains (10, 100, 1,000; at least 10). Then,
in process on the real reactor, one at a time (a single event in flight,
nothing else running):

  route cold     C{Router.route(TextMessage)} for distinct pairs drawn
                 uniformly from the whole population, each pair's first
                 touch (no earlier route of that pair, so no cache
                 holds it; the baseline's random lookups below may
                 have read the same rows from disk); half hub user
                 -> remote (delivered to a recording C{xmpp} federation
                 connector), half remote -> hub user (to the recording
                 C{alpha} platform connector).
  route warm     the same pairs again, shuffled (second touch).
  route zipf     a fresh router (and a fresh cache in the cached
                 variant); destinations drawn from a Zipf law
                 (s = 1.1) over the population in a random rank order,
                 so popular pairs repeat; the share of samples whose pair
                 was already touched in the phase is reported (an upper
                 bound of any cache's hit share there).
  get_contact    the baseline: the bare store lookup the route decision
                 depends on, C{store.get_contact(owner, external)}, for
                 uniform random pairs, one at a time.

What is timed: from calling C{router.route(event)} (the event built
before) to its Deferred firing with a delivered L{Outcome}: chat-session
lookup (C{get_or_create_session}, a write, on the pair's first touch;
the router's in-memory session cache after), the policy facts for each
hub-user side (tenant policy, user policy, domain rules, contact: four
store reads), the policy decision, the destination (recording connector,
answers at once), and the metadata record (a write, with the usage
aggregates). C{time.perf_counter_ns}; the machine is not pinned (in
process, no hub subprocess); the garbage collector stays on.

Each store runs twice, each time on a freshly loaded database: "raw"
(the router reads the store directly) and "cache" (through
L{nextplane.storage.cache.CachingStore} with the hub's default 5 s TTL,
as C{nextplane.tap.build_hub} wires it). For the cached runs the cache's
own counters give the contact hit share of each phase: the cold phase is
all misses by construction (distinct, first-touch pairs), which is what a
cache cannot save. The C{get_contact} baseline always reads the raw store.

PostgreSQL: C{NEXTPLANE_TEST_PG_DSN} (default C{dbname=test
host=127.0.0.1 user=root}); if that does not connect, the same DSN over
the Unix socket in C{/var/run/postgresql}, which also works inside
C{scripts/in-netns} (a private loopback where nothing listens on
127.0.0.1:5432). If neither connects, the JSON and the summary say
"NOT MEASURED" with the errors (and under C{CI=true} the run fails).

Target (issue 7): p99 of "route cold" at 100k contacts <= 1.5 x that at
1k, per store. Results: C{bench/results/B6.json}.
"""

from __future__ import annotations

import bisect
import gc
import io
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import defer, task  # noqa: E402

from bench.common import (  # noqa: E402
    latency_summary,
    postgres_dsn,
    rss_kib,
    summary_line,
    write_result,
)
from nextplane.config import PartnerConfig  # noqa: E402
from nextplane.interfaces import IStore  # noqa: E402
from nextplane.locate import FederationLocator  # noqa: E402
from nextplane.model.address import Address  # noqa: E402
from nextplane.model.events import TextMessage  # noqa: E402
from nextplane.model.text import RichText  # noqa: E402
from nextplane.router import Router  # noqa: E402
from nextplane.storage.cache import CachingStore  # noqa: E402
from nextplane.testing.connectors import RecordingConnector  # noqa: E402
from tests.helpers import tenant  # noqa: E402

TENANT = "acme.test"
BODY = RichText.plain("x" * 100)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ZIPF_S = 1.1
TARGET_RATIO = 1.5
WARMUP_CONTACTS = 100

#: (sizes, samples per phase) for full and quick runs.
FULL = ((1_000, 10_000, 100_000), 2_000)
QUICK = ((500, 2_000), 150)


# -- the population --------------------------------------------------------


class Population:
    """
    N accepted contacts: C{users} hub users with C{per_user} contacts each,
    over C{domains} remote domains; contact I{k} is user C{k // per_user}'s
    C{k % per_user}-th. Plus C{WARMUP_CONTACTS} contacts of a separate
    user, for warming up without touching the measured pairs.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.users = min(1_000, size)
        self.per_user = size // self.users
        self.size = self.users * self.per_user
        self.domains = max(10, min(1_000, size // 100))

    def domain(self, index: int) -> str:
        return f"r{index}.test"

    def pair(self, k: int) -> tuple[Address, Address]:
        user, j = divmod(k, self.per_user)
        owner = Address(f"u{user}", TENANT)
        external = Address(f"c{user}x{j}", self.domain(k % self.domains))
        return owner, external

    def warmup_pair(self, k: int) -> tuple[Address, Address]:
        return Address("warmup", TENANT), Address(f"w{k}", self.domain(k % self.domains))

    def rows(self) -> list[tuple[Address, Address]]:
        pairs = [self.pair(k) for k in range(self.size)]
        pairs.extend(self.warmup_pair(k) for k in range(WARMUP_CONTACTS))
        return pairs

    def user_addresses(self) -> list[Address]:
        return [Address(f"u{u}", TENANT) for u in range(self.users)] + [Address("warmup", TENANT)]


def _contact_row(owner: Address, external: Address, stamp: str) -> tuple[str, ...]:
    return (
        owner.key,
        external.key,
        str(owner),
        str(external),
        "accepted",
        "outbound",
        stamp,
        stamp,
    )


def _user_row(address: Address) -> tuple[Any, ...]:
    return (
        address.key,
        address.local,
        address.domain,
        TENANT,
        "alpha",
        f"W1:{address.local}",
        address.local,
        None,
        None,
    )


_CONTACT_COLUMNS = (
    "owner_key, external_key, owner, external, state, direction, created_at, updated_at"
)
_USER_COLUMNS = (
    "address_key, local, domain, tenant, platform, platform_id, display_name, avatar_url, title"
)


def load_sqlite(path: str, population: Population) -> float:
    """
    Bulk-insert the population with a direct C{sqlite3} connection (the
    store is closed meanwhile); returns the seconds it took.
    """
    started = time.perf_counter()
    stamp = T0.isoformat(timespec="microseconds")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN")
        connection.execute(
            "INSERT OR IGNORE INTO tenants (domain, platform, workspace, display_name) "
            "VALUES (?, 'alpha', 'W1', '')",
            (TENANT,),
        )
        connection.executemany(
            f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_user_row(a) for a in population.user_addresses()],
        )
        connection.executemany(
            f"INSERT INTO contacts ({_CONTACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_contact_row(o, e, stamp) for o, e in population.rows()),
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return time.perf_counter() - started


def _copy_text(rows: Sequence[tuple[Any, ...]]) -> io.StringIO:
    def field(value: Any) -> str:
        if value is None:
            return "\\N"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    return io.StringIO("".join("\t".join(field(v) for v in row) + "\n" for row in rows))


def load_postgres(dsn: str, population: Population) -> float:
    """
    Bulk-load the population with C{COPY} on a synchronous psycopg2
    connection, then C{ANALYZE}; returns the seconds it took.
    """
    import psycopg2

    started = time.perf_counter()
    stamp = T0.isoformat()
    connection = psycopg2.connect(dsn)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tenants (domain, platform, workspace, display_name) "
                "VALUES (%s, 'alpha', 'W1', '') ON CONFLICT DO NOTHING",
                (TENANT,),
            )
            cursor.copy_expert(
                f"COPY users ({_USER_COLUMNS}) FROM STDIN",
                _copy_text([_user_row(a) for a in population.user_addresses()]),
            )
            cursor.copy_expert(
                f"COPY contacts ({_CONTACT_COLUMNS}) FROM STDIN",
                _copy_text([_contact_row(o, e, stamp) for o, e in population.rows()]),
            )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    finally:
        connection.close()
    return time.perf_counter() - started


# -- the router under test -------------------------------------------------


class RouterUnderTest:
    """
    A router on the real reactor with recording connectors: tenant
    C{acme.test} on the C{alpha} platform, every remote domain of the
    population a partner reached over a recording C{xmpp} connector.
    """

    def __init__(self, reactor: Any, store: IStore, population: Population) -> None:
        partners = [PartnerConfig(population.domain(d), "xmpp") for d in range(population.domains)]
        locator = FederationLocator(partners, ["xmpp"], None, reactor)
        self.store = store
        self.router = Router(
            store=store, tenants=[tenant(TENANT, "alpha")], locator=locator, clock=reactor
        )
        self.alpha = RecordingConnector("alpha", sink=self.router)
        self.xmpp = RecordingConnector("xmpp", role="federation", sink=self.router)
        for connector in (self.alpha, self.xmpp):
            connector.startService()
            self.router.add_connector(connector)

    def clear(self) -> None:
        self.alpha.delivered.clear()
        self.xmpp.delivered.clear()


async def time_routes(
    under_test: RouterUnderTest,
    pairs: Sequence[tuple[Address, Address]],
    seen: set[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """
    Route one message per pair, one at a time, alternating directions;
    latency of each C{route()} call until its Deferred fires.
    """
    latencies: list[float] = []
    outbound: list[float] = []
    inbound: list[float] = []
    failed: dict[str, int] = {}
    repeats = 0
    for n, (owner, external) in enumerate(pairs):
        if seen is not None:
            key = (owner.key, external.key)
            if key in seen:
                repeats += 1
            seen.add(key)
        if n % 2 == 0:
            event = TextMessage(sender=owner, recipient=external, body=BODY)
        else:
            event = TextMessage(sender=external, recipient=owner, body=BODY)
        start = time.perf_counter_ns()
        outcome = await under_test.router.route(event)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        latencies.append(elapsed)
        (outbound if n % 2 == 0 else inbound).append(elapsed)
        if not outcome.delivered:
            reason = f"{outcome.condition}: {outcome.reason}"
            failed[reason] = failed.get(reason, 0) + 1
        if n % 500 == 499:
            under_test.clear()
    under_test.clear()
    return {
        **latency_summary(latencies),
        "outbound_p99_ms": latency_summary(outbound)["p99_ms"],
        "inbound_p99_ms": latency_summary(inbound)["p99_ms"],
        "not_delivered": failed,
        "repeat_share": repeats / len(pairs) if pairs and seen is not None else 0.0,
    }


async def time_lookups(store: IStore, pairs: Sequence[tuple[Address, Address]]) -> dict[str, Any]:
    """
    The baseline: C{store.get_contact} per pair, one at a time.
    """
    latencies: list[float] = []
    missing = 0
    for owner, external in pairs:
        start = time.perf_counter_ns()
        contact = await store.get_contact(owner, external)
        latencies.append((time.perf_counter_ns() - start) / 1e6)
        if contact is None:
            missing += 1
    return {**latency_summary(latencies), "missing": missing}


def zipf_sampler(size: int, s: float, rng: random.Random) -> Callable[[], int]:
    """
    Draws contact indexes by a Zipf law over a random rank order.
    """
    order = list(range(size))
    rng.shuffle(order)
    cumulative: list[float] = []
    total = 0.0
    for rank in range(1, size + 1):
        total += rank**-s
        cumulative.append(total)

    def draw() -> int:
        return order[min(size - 1, bisect.bisect_left(cumulative, rng.random() * total))]

    return draw


def _cache_counts(store: IStore) -> dict[str, int]:
    if not isinstance(store, CachingStore):
        return {}
    stats = store.stats()
    return {
        "contact_hits": stats["contact"]["hits"],
        "contact_misses": stats["contact"]["misses"],
        "hits": sum(f["hits"] for f in stats.values()),
        "misses": sum(f["misses"] for f in stats.values()),
    }


def _hit_shares(before: dict[str, int], after: dict[str, int]) -> dict[str, float | None]:
    if not before:
        return {"contact_hit_share": None, "read_hit_share": None}

    def share(hits: str, misses: str) -> float | None:
        h, m = after[hits] - before[hits], after[misses] - before[misses]
        return h / (h + m) if h + m else None

    return {
        "contact_hit_share": share("contact_hits", "contact_misses"),
        "read_hit_share": share("hits", "misses"),
    }


async def measure(
    reactor: Any,
    raw: IStore,
    make_store: Callable[[], IStore],
    population: Population,
    samples: int,
    seed: int,
) -> dict[str, Any]:
    """
    Every phase at one size: C{raw} is the bare store (baseline);
    C{make_store} gives what routers read (the raw store, or a fresh cache
    in front of it): one for warm-up, one for the cold and warm phases,
    one for the Zipf phase.
    """
    rng = random.Random(seed)
    warm_up = RouterUnderTest(reactor, make_store(), population)
    warm_pairs = [population.warmup_pair(k) for k in range(WARMUP_CONTACTS)]
    await time_routes(warm_up, warm_pairs * 2)
    await time_lookups(raw, warm_pairs)

    gc.collect()
    lookups = [population.pair(rng.randrange(population.size)) for _ in range(samples)]
    baseline = await time_lookups(raw, lookups)

    chosen = rng.sample(range(population.size), min(samples, population.size))
    pairs = [population.pair(k) for k in chosen]
    store = make_store()
    under_test = RouterUnderTest(reactor, store, population)
    seen: set[tuple[str, str]] = set()
    phases: dict[str, Any] = {}
    again = list(pairs)
    rng.shuffle(again)
    draw = zipf_sampler(population.size, ZIPF_S, rng)
    zipf_pairs = [population.pair(draw()) for _ in range(samples)]
    zipf_under_test = RouterUnderTest(reactor, make_store(), population)
    plan: list[tuple[str, RouterUnderTest, list[tuple[Address, Address]], set[Any]]] = [
        ("route_cold", under_test, pairs, seen),
        ("route_warm", under_test, again, seen),
        ("route_zipf", zipf_under_test, zipf_pairs, set()),
    ]
    for name, router, phase_pairs, touched in plan:
        before = _cache_counts(router.store)
        figures = await time_routes(router, phase_pairs, touched)
        phases[name] = {**figures, **_hit_shares(before, _cache_counts(router.store))}
    return {
        "contacts": population.size,
        "hub_users": population.users,
        "contacts_per_user": population.per_user,
        "remote_domains": population.domains,
        "get_contact": baseline,
        **phases,
        "rss_kib": rss_kib(os.getpid()),
    }


# -- the stores ------------------------------------------------------------


VARIANTS = ("raw", "cache")


def _variant(reactor: Any, raw: IStore, variant: str) -> Callable[[], IStore]:
    if variant == "cache":
        return lambda: CachingStore(raw, reactor)
    return lambda: raw


async def run_sqlite(reactor: Any, sizes: Sequence[int], samples: int) -> dict[str, Any]:
    from nextplane.storage.sqlite import SQLiteStore

    results: dict[str, Any] = {variant: {"sizes": {}} for variant in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="nextplane-b6-") as directory:
        for size in sizes:
            population = Population(size)
            for variant in VARIANTS:
                path = os.path.join(directory, f"b6-{size}-{variant}.sqlite3")
                schema = SQLiteStore(path, reactor=reactor)
                await schema.open()
                await schema.close()
                load_seconds = load_sqlite(path, population)
                raw = SQLiteStore(path, reactor=reactor)
                await raw.open()
                try:
                    stores = _variant(reactor, raw, variant)
                    figures = await measure(reactor, raw, stores, population, samples, seed=size)
                finally:
                    await raw.close()
                figures["load_seconds"] = load_seconds
                figures["database_bytes"] = os.path.getsize(path)
                results[variant]["sizes"][str(population.size)] = figures
                _progress(f"sqlite/{variant}", figures)
                os.remove(path)
    return results


async def run_postgres(
    reactor: Any, dsn: str, sizes: Sequence[int], samples: int
) -> dict[str, Any]:
    import psycopg2
    from psycopg2.extensions import make_dsn

    from nextplane.storage.postgres import PostgresStore

    def admin(sql: str) -> None:
        connection = psycopg2.connect(dsn)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    results: dict[str, Any] = {variant: {"dsn": dsn, "sizes": {}} for variant in VARIANTS}
    for size in sizes:
        population = Population(size)
        for variant in VARIANTS:
            schema = f"np_bench_b6_{os.getpid()}_{size}_{variant}"
            admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
            try:
                scoped = make_dsn(dsn, options=f"-csearch_path={schema}")
                raw = PostgresStore(scoped, reactor=reactor)
                await raw.open()
                try:
                    load_seconds = load_postgres(scoped, population)
                    stores = _variant(reactor, raw, variant)
                    figures = await measure(reactor, raw, stores, population, samples, seed=size)
                finally:
                    await raw.close()
                figures["load_seconds"] = load_seconds
                results[variant]["sizes"][str(population.size)] = figures
                _progress(f"postgresql/{variant}", figures)
            finally:
                admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return results


def _progress(store: str, figures: dict[str, Any]) -> None:
    cold, warm, zipf = figures["route_cold"], figures["route_warm"], figures["route_zipf"]
    hits = zipf.get("contact_hit_share")
    print(
        f"  {store:18s} N={figures['contacts']:>7,}  route cold p50 {cold['p50_ms']:.2f} "
        f"p99 {cold['p99_ms']:.2f} ms  warm p99 {warm['p99_ms']:.2f}  zipf p99 "
        f"{zipf['p99_ms']:.2f}{'' if hits is None else f' (contact hits {hits:.0%})'}  "
        f"get_contact p99 {figures['get_contact']['p99_ms']:.2f} ms  "
        f"(load {figures['load_seconds']:.1f} s)",
        flush=True,
    )


# -- report ----------------------------------------------------------------


def _label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def report(name: str, result: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """
    Summary lines and the target for one store variant's results.
    """
    sizes = sorted(int(s) for s in result["sizes"])
    lines = []
    smallest = result["sizes"][str(sizes[0])]
    for size in sizes:
        figures = result["sizes"][str(size)]
        cold, warm, zipf = figures["route_cold"], figures["route_warm"], figures["route_zipf"]
        lines.append(
            summary_line(
                f"B6-{name}-{_label(size)}",
                cold["p99_ms"],
                "ms p99 route cold",
                {
                    f"vs {_label(sizes[0])}": cold["p99_ms"] / smallest["route_cold"]["p99_ms"],
                    "vs get_contact": cold["p99_ms"] / figures["get_contact"]["p99_ms"],
                },
                f"p50 {cold['p50_ms']:.2f}  warm p50/p99 {warm['p50_ms']:.2f}/"
                f"{warm['p99_ms']:.2f} (hits {_share(warm['contact_hit_share'])})  "
                f"zipf p50/p99 {zipf['p50_ms']:.2f}/{zipf['p99_ms']:.2f} "
                f"(repeats {zipf['repeat_share']:.0%}, hits {_share(zipf['contact_hit_share'])})  "
                f"get_contact p50/p99 {figures['get_contact']['p50_ms']:.2f}/"
                f"{figures['get_contact']['p99_ms']:.2f} ms",
            )
        )
    largest = result["sizes"][str(sizes[-1])]

    def ratio(phase: str) -> float:
        return float(largest[phase]["p99_ms"] / smallest[phase]["p99_ms"])

    figure = ratio("route_cold")
    target = {
        "what": f"p99 route cold at {_label(sizes[-1])} <= {TARGET_RATIO} x at {_label(sizes[0])}",
        "figure": figure,
        "limit": TARGET_RATIO,
        "met": figure <= TARGET_RATIO,
        "p99_small_ms": smallest["route_cold"]["p99_ms"],
        "p99_large_ms": largest["route_cold"]["p99_ms"],
        "warm_ratio": ratio("route_warm"),
        "zipf_ratio": ratio("route_zipf"),
        "get_contact_ratio": ratio("get_contact"),
    }
    lines.append(
        f"B6-{name}  p99 route cold {_label(sizes[-1])}/{_label(sizes[0])} = {figure:.2f}  "
        f"target <= {TARGET_RATIO}: {'met' if target['met'] else 'MISSED'}  "
        f"(warm {target['warm_ratio']:.2f}, zipf {target['zipf_ratio']:.2f}, "
        f"get_contact {target['get_contact_ratio']:.2f})"
    )
    return lines, target


def main(reactor: Any, *argv: str) -> defer.Deferred[None]:
    quick = "--quick" in argv
    sizes, samples = QUICK if quick else FULL

    async def run() -> None:
        started = time.monotonic()
        print(f"B6: sizes {list(sizes)}, {samples} samples per phase", flush=True)
        stores: dict[str, Any] = {}
        for variant, result in (await run_sqlite(reactor, sizes, samples)).items():
            stores[f"sqlite-{variant}"] = result
        dsn, errors = postgres_dsn()
        if dsn is not None:
            for variant, result in (await run_postgres(reactor, dsn, sizes, samples)).items():
                stores[f"postgresql-{variant}"] = {**result, "connect_errors": errors}
        else:
            print(f"B6: PostgreSQL unreachable: {'; '.join(errors)}", flush=True)
        lines: list[str] = []
        targets: dict[str, Any] = {}
        for name, result in stores.items():
            store_lines, target = report(name, result)
            lines.extend(store_lines)
            targets[f"{name}_p99_ratio"] = target
        if dsn is None:
            lines.append(f"B6-postgresql  NOT MEASURED: unreachable ({'; '.join(errors)})")
            for variant in VARIANTS:
                targets[f"postgresql-{variant}_p99_ratio"] = {
                    "what": "PostgreSQL unreachable: not measured",
                    "figure": None,
                    "met": None,
                    "connect_errors": errors,
                }
        for line in lines:
            print(line)
        write_result(
            "B6",
            {
                "quick": quick,
                "summary": lines,
                "targets": targets,
                "method": {
                    "timed": "router.route(TextMessage) until its Deferred fires (delivered): "
                    "session lookup (insert on first touch), 4 policy reads per hub-user side, "
                    "policy decision, recording connector, metadata write; "
                    "baseline: raw store.get_contact",
                    "concurrency": "one at a time (a single event in flight)",
                    "directions": "alternating hub user -> remote and remote -> hub user",
                    "phases": "cold: distinct uniform pairs, first touch; warm: same pairs "
                    "again, shuffled; zipf: s=1.1 over a random rank order, fresh router",
                    "variants": "raw store; CachingStore (ttl 5 s, as build_hub wires it); "
                    "a freshly loaded database for each",
                    "samples_per_phase": samples,
                    "pinned": False,
                    "gc": "enabled",
                    "postgresql_dsn": dsn,
                    "postgresql_connect_errors": errors,
                },
                "stores": stores,
                "seconds": time.monotonic() - started,
            },
        )
        if dsn is None and os.environ.get("CI", "") == "true":
            raise SystemExit("B6: PostgreSQL unreachable under CI=true")

    return defer.Deferred.fromCoroutine(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
