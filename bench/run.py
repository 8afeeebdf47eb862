#!/usr/bin/env python3
"""
nextplane benchmarks (C{make bench}).

  bench/run.py [--quick] [NAME ...]

Runs each benchmark module (default: all of L{BENCHMARKS}, in order) as its
own process, so each has a fresh reactor and the load side can be pinned to
its core; each prints summary lines (figure, unit, ratio to each baseline
measured in the same run) and writes C{bench/results/<name>.json}. This
script prints every summary line again at the end.

C{--quick} runs each with tiny sizes (seconds, not minutes): a smoke run
that the figures come out, not a measurement.

Run inside C{scripts/in-netns} (C{make bench} does): the real peers
(Prosody, Kamailio) and the hub listen on loopback of a private network
namespace, and no DNS query leaves it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("NEXTPLANE_BENCH_RESULTS") or ROOT / "bench" / "results")

#: Benchmark name -> module under bench/, in the order they run.
BENCHMARKS = {
    "micro": "bench.micro",
    "B1": "bench.b1_xmpp_to_slack",
    "B2": "bench.b2_slack_to_xmpp",
    "B3": "bench.b3_sip_to_slack",
    "B5": "bench.b5_idle_memory",
    "B6": "bench.b6_route_cost",
    "B7": "bench.b7_drain",
    "B8": "bench.b8_teams",
    "B9": "bench.b9_webex",
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    failed = []
    summaries: list[str] = []
    for name in names:
        module = BENCHMARKS[name]
        if not (ROOT / (module.replace(".", "/") + ".py")).exists():
            print(f"== {name}: not written yet")
            continue
        print(f"== {name} ({module}{' --quick' if quick else ''})", flush=True)
        started = time.monotonic()
        result_file = RESULTS / f"{name}.json"
        before = result_file.stat().st_mtime if result_file.exists() else None
        code = subprocess.call(
            [sys.executable, "-m", module, *(["--quick"] if quick else [])], cwd=ROOT, env=env
        )
        took = time.monotonic() - started
        fresh = result_file.exists() and result_file.stat().st_mtime != before
        if code != 0 or not fresh:
            failed.append(name)
            state = "written" if fresh else "missing"
            print(f"== {name}: FAILED (exit {code}, result file {state})")
            continue
        print(f"== {name}: {took:.0f} s")
        summaries.extend(json.loads(result_file.read_text()).get("summary", []))
    print("\nsummary (figure, unit, ratio to each baseline of the same run):")
    for line in summaries:
        print(f"  {line}")
    print(f"results in {RESULTS}")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
