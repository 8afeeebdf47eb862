#!/usr/bin/env python3
"""
nextplane benchmarks (make bench).

Each benchmark prints its result as a ratio to a baseline measured in the
same run, on the same machine, and all results go to
bench/results/bench-<UTC time>.json. Bounded in count and time; loopback and
in-process only.

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

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import defer, task  # noqa: E402

from nextplane.interfaces import IStore  # noqa: E402
from nextplane.model.address import Address  # noqa: E402
from nextplane.model.events import TextMessage  # noqa: E402
from nextplane.model.text import RichText  # noqa: E402
from tests.helpers import CoreFixture  # noqa: E402

RESULTS = ROOT / "bench" / "results"
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


def routing_hop_memory() -> dict[str, Any]:
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
    baseline = best_rate(direct, 20_000)
    measured = best_rate(routed, 5_000)
    return {
        "unit": "events/s",
        "baseline": baseline,
        "measured": measured,
        "ratio": measured["median"] / baseline["median"],
    }


async def _routing_real(reactor: Any, store: IStore, ping: Callable[[], Any]) -> dict[str, Any]:
    await store.open()
    try:
        core = CoreFixture(store=store)
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
        for _ in range(3):
            base_rate, _ = await drive(2000, ping)
            rate, latencies = await drive(2000, route)
            core.xmpp.delivered.clear()
            latencies.sort()
            runs.append((base_rate, rate, latencies))
        base = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        latencies = runs[len(runs) // 2][2]
        return {
            "unit": "messages/s",
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


def routing_sqlite(reactor: Any) -> defer.Deferred[dict[str, Any]]:
    from nextplane.storage.sqlite import SQLiteStore

    directory = tempfile.mkdtemp(prefix="nextplane-bench-")
    store = SQLiteStore(os.path.join(directory, "bench.sqlite3"), reactor=reactor)
    return defer.Deferred.fromCoroutine(_routing_real(reactor, store, store.schema_version))


def routing_postgresql(reactor: Any) -> defer.Deferred[dict[str, Any]] | None:
    dsn = os.environ.get("NEXTPLANE_TEST_PG_DSN")
    if not dsn:
        return None
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
            return await _routing_real(reactor, store, store.schema_version)
        finally:
            await admin.runOperation(f"DROP SCHEMA {schema} CASCADE")
            admin.close()

    return defer.Deferred.fromCoroutine(run())


def main(reactor: Any) -> defer.Deferred[None]:
    async def run() -> None:
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(),
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "benchmarks": {},
        }
        benches = results["benchmarks"]
        benches["routing-hop-memory"] = routing_hop_memory()
        benches["routing-sqlite"] = await routing_sqlite(reactor)
        postgres = routing_postgresql(reactor)
        if postgres is not None:
            benches["routing-postgresql"] = await postgres
        for name, result in benches.items():
            measured = result["measured"]["median"]
            base = result["baseline"]["median"]
            extra = ""
            if "p99_ms" in result["measured"]:
                latency = result["measured"]
                extra = f"  p50 {latency['p50_ms']:.2f} ms  p99 {latency['p99_ms']:.2f} ms"
            print(
                f"{name:22s} {measured:10.0f} {result['unit']:11s} baseline {base:10.0f}"
                f"  ratio {result['ratio']:.3f}{extra}"
            )
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"bench-{stamp}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results: {path.relative_to(ROOT)}")

    return defer.Deferred.fromCoroutine(run())


if __name__ == "__main__":
    task.react(main)
