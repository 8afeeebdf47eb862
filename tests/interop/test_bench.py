"""
The benchmarks still run: C{bench/run.py --quick} inside the interop
network namespace, with tiny sizes, its results in a scratch directory.

Not a timed test: no figure is compared with a target here (that is what
C{make bench} reports). It asserts what must hold at any speed: every
benchmark writes its result file with summary lines and the machine it ran
on, and no message sent by a load generator was lost or duplicated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twisted.internet import threads
from twisted.trial.unittest import TestCase

from tests.interop.harness.netns import acquire_namespace_lock, require_isolation
from tests.interop.harness.prosody import PROSODY

ROOT = Path(__file__).resolve().parent.parent.parent


def _counts(document: Any, path: str = "") -> Iterator[tuple[str, str, int]]:
    """
    Every (path, key, value) of a C{lost} or C{duplicated} count in a result.
    """
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else key
            if key in ("lost", "duplicated") and isinstance(value, int):
                yield where, key, value
            else:
                yield from _counts(value, where)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _counts(value, f"{path}[{index}]")


class QuickBenchTests(TestCase):
    timeout = 900

    async def test_every_benchmark_runs(self) -> None:
        """
        C{bench/run.py --quick} exits 0; each benchmark wrote
        C{<name>.json} with summary lines, the machine and the commit; no
        load generator lost or duplicated a message, B1's hub step at
        twice its knee included (its messages arrived in time, late, or
        were told, none lost).
        """
        from twisted.internet import reactor

        require_isolation([PROSODY, "kamailio"])
        release = await acquire_namespace_lock(reactor)
        self.addCleanup(release)
        results = Path(self.mktemp()).absolute()
        results.mkdir(parents=True)
        env = dict(os.environ, NEXTPLANE_BENCH_RESULTS=str(results), PYTHONPATH=str(ROOT))
        finished = await threads.deferToThread(
            subprocess.run,
            [sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=840,
        )
        output = finished.stdout + finished.stderr
        (results / "run.log").write_text(output)
        self.assertEqual(finished.returncode, 0, output[-6000:])
        from bench.run import BENCHMARKS

        for name in BENCHMARKS:
            document = json.loads((results / f"{name}.json").read_text())
            self.assertTrue(document["summary"], f"{name}: no summary lines")
            self.assertTrue(document["quick"], f"{name}: not a quick run")
            self.assertIn("git_commit", document["machine"])
            self.assertGreaterEqual(document["machine"]["cpus"], 1)
            for where, key, value in _counts(document):
                self.assertEqual(value, 0, f"{name}: {where} = {value} {key}")
        # B1 at twice its knee: late is allowed, lost is not (issue 16).
        b1 = json.loads((results / "B1.json").read_text())
        overload = b1["systems"]["hub"]["overload"]
        self.assertEqual(overload["offered_per_s"], 2 * overload["knee_per_s"], overload)
        self.assertEqual(
            overload["arrived_in_time"] + overload["arrived_late"] + overload["told"],
            overload["sent"],
            overload,
        )
        self.assertTrue(b1["targets"]["zero lost at 2x knee"]["met"], overload)
