#!/usr/bin/env python3
"""
Micro-benchmarks of one routing hop, in process (part of C{make bench}).

Each prints its result as a ratio to a baseline measured in the same run,
on the same machine, and the results go to bench/results/micro.json.
Bounded in count and time; loopback and in-process only.

  routing-hop-memory    one routing hop (policy, session, delivery, metadata)
                        on the in-memory store, in process;
                        baseline: building the event and calling the
                        connector directly (the unavoidable work).
  routing-sqlite        messages routed through the real reactor with the
                        SQLite store (thread pool, WAL), 32 in flight;
                        baseline: bare SQLite round trips through the same
                        store's thread pool (the storage path's limit).
  routing-postgresql    the same on PostgreSQL when NEXTPLANE_TEST_PG_DSN is
                        set; baseline: SELECT 1 through txpostgres.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import defer, task  # noqa: E402

from bench.common import postgres_dsn, summary_line, write_result  # noqa: E402
from nextplane.interfaces import IStore  # noqa: E402
from nextplane.model.address import Address  # noqa: E402
from nextplane.model.events import TextMessage  # noqa: E402
from nextplane.model.text import RichText  # noqa: E402
from nextplane.storage.cache import CachingStore  # noqa: E402
from tests.helpers import CoreFixture  # noqa: E402

JOHN, PETER = Address("john", "acme.test"), Address("peter", "widget.test")
BODY = RichText.plain("x" * 100)


def best_rate(run: Callable[[int], None], count: int, repeats: int = 5) -> dict[str, float]:
    """Operations per second over several timed runs: median and spread."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(count)
        rates.append(count / (time.perf_counter() - start))
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def routing_hop_memory(quick: bool = False) -> dict[str, Any]:
    core = CoreFixture()
    core.befriend("john@acme.test", "peter@widget.test")
    connector = core.xmpp

    def direct(count: int) -> None:
        for _ in range(count):
            connector.deliver(TextMessage(sender=JOHN, recipient=PETER, body=BODY))
        connector.delivered.clear()

    def routed(count: int) -> None:
        for _ in range(count):
            core.router.route(TextMessage(sender=JOHN, recipient=PETER, body=BODY))
        connector.delivered.clear()

    direct(1000)
    routed(1000)  # warm up
    scale = 10 if quick else 1
    baseline = best_rate(direct, 20_000 // scale)
    measured = best_rate(routed, 5_000 // scale)
    return {
        "unit": "events/s",
        "baseline_name": "direct-call",
        "baseline": baseline,
        "measured": measured,
        "ratio": measured["median"] / baseline["median"],
    }


async def _routing_real(
    reactor: Any, store: IStore, ping: Callable[[], Any], quick: bool
) -> dict[str, Any]:
    await store.open()
    try:
        # As the hub runs it: reads through the cache (nextplane.tap).
        core = CoreFixture(store=CachingStore(store, reactor))
        core.router._clock = reactor  # the real clock for timeouts
        await core.befriend("john@acme.test", "peter@widget.test")
        in_flight = 32

        async def drive(count: int, one: Callable[[], Any]) -> tuple[float, list[float]]:
            latencies: list[float] = []
            semaphore = defer.DeferredSemaphore(in_flight)

            async def timed() -> None:
                start = time.perf_counter()
                await one()
                latencies.append(time.perf_counter() - start)

            started = time.perf_counter()
            await defer.gatherResults(
                [semaphore.run(lambda: defer.Deferred.fromCoroutine(timed())) for _ in range(count)]
            )
            return count / (time.perf_counter() - started), latencies

        def route() -> Any:
            return core.router.route(TextMessage(sender=JOHN, recipient=PETER, body=BODY))

        await drive(300, ping)
        await drive(300, route)
        runs = []
        count = 200 if quick else 2000
        for _ in range(3):
            base_rate, _ = await drive(count, ping)
            rate, latencies = await drive(count, route)
            core.xmpp.delivered.clear()
            latencies.sort()
            runs.append((base_rate, rate, latencies))
        base = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        latencies = runs[len(runs) // 2][2]
        return {
            "unit": "messages/s",
            "baseline_name": "store-round-trip",
            "in_flight": in_flight,
            "baseline": {"median": base, "what": "bare store round trips"},
            "measured": {
                "median": rate,
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
            },
            "ratio": rate / base,
        }
    finally:
        await store.close()


def routing_sqlite(reactor: Any, quick: bool = False) -> defer.Deferred[dict[str, Any]]:
    from nextplane.storage.sqlite import SQLiteStore

    directory = tempfile.mkdtemp(prefix="nextplane-bench-")
    store = SQLiteStore(os.path.join(directory, "bench.sqlite3"), reactor=reactor)
    return defer.Deferred.fromCoroutine(_routing_real(reactor, store, store.schema_version, quick))


def routing_postgresql(reactor: Any, quick: bool = False) -> defer.Deferred[dict[str, Any]]:
    dsn, errors = postgres_dsn()
    if dsn is None:
        raise RuntimeError(f"PostgreSQL unreachable: {'; '.join(errors)}")
    from nextplane.storage.postgres import PostgresStore

    async def run() -> dict[str, Any]:
        from psycopg2.extensions import make_dsn
        from txpostgres import txpostgres

        schema = f"np_bench_{os.getpid()}"
        admin = txpostgres.Connection()
        await admin.connect(dsn)
        await admin.runOperation(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        try:
            store = PostgresStore(make_dsn(dsn, options=f"-csearch_path={schema}"), reactor=reactor)
            return await _routing_real(reactor, store, store.schema_version, quick)
        finally:
            await admin.runOperation(f"DROP SCHEMA {schema} CASCADE")
            admin.close()

    return defer.Deferred.fromCoroutine(run())


def main(reactor: Any, *argv: str) -> defer.Deferred[None]:
    quick = "--quick" in argv

    async def run() -> None:
        benches: dict[str, Any] = {}
        benches["routing-hop-memory"] = routing_hop_memory(quick)
        benches["routing-sqlite"] = await routing_sqlite(reactor, quick)
        benches["routing-postgresql"] = await routing_postgresql(reactor, quick)
        lines = []
        for name, result in benches.items():
            extra = ""
            if "p99_ms" in result["measured"]:
                latency = result["measured"]
                extra = f"p50 {latency['p50_ms']:.2f} ms  p99 {latency['p99_ms']:.2f} ms"
            lines.append(
                summary_line(
                    name,
                    result["measured"]["median"],
                    result["unit"],
                    {result["baseline_name"]: result["ratio"]},
                    extra,
                )
            )
        for line in lines:
            print(line)
        write_result("micro", {"quick": quick, "summary": lines, "benchmarks": benches})

    return defer.Deferred.fromCoroutine(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
