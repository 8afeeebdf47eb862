#!/usr/bin/env python3
"""
Run nextplane's test suites with trial and print one closing line for all:

    all suites: N passed, N failed, N skipped

Suites: unit (everything under tests/ but interop/, system/ and browser/),
system (twistd processes), browser (the admin portal in headless Chromium),
interop (real peers, inside a private network namespace via
scripts/in-netns), interop-xmpp, interop-sip. Exit status is non-zero if
any suite failed or errored. Under CI=true, skips are failures for the
PostgreSQL, browser and interop suites; the tests themselves enforce that.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^(PASSED|FAILED) \((?P<counts>[^)]*)\)\s*$")


def unit_modules() -> list[str]:
    modules = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[1] in ("interop", "system", "browser"):
            continue
        modules.append(".".join(relative.with_suffix("").parts))
    return modules


def suite_command(name: str) -> list[str]:
    trial = [sys.executable, "-m", "twisted.trial", "--temp-directory", f"_trial_temp.{name}"]
    netns = [str(ROOT / "scripts" / "in-netns")]
    if name == "unit":
        jobs = ["-j", "2"] if os.cpu_count() and os.cpu_count() > 1 else []  # type: ignore[operator]
        return [*trial, *jobs, *unit_modules()]
    if name == "system":
        return [*trial, "tests.system"]
    if name == "browser":
        return [*trial, "tests.browser"]
    if name == "interop":
        return [*netns, *trial, "tests.interop"]
    if name in ("interop-xmpp", "interop-sip"):
        return [*netns, *trial, f"tests.interop.{name.split('-')[1]}"]
    raise SystemExit(f"unknown suite {name!r}")


def counts(line: str) -> dict[str, int]:
    match = SUMMARY.match(line)
    found: dict[str, int] = {}
    if match:
        for part in match.group("counts").split(","):
            key, _, value = part.strip().partition("=")
            if value.isdigit():
                found[key] = int(value)
    return found


def run(name: str) -> tuple[int, int, int, int]:
    command = suite_command(name)
    print(f"==> {name}: {' '.join(command[:6])} ...", flush=True)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    last: dict[str, int] = {}
    for line in process.stdout:
        sys.stdout.write(line)
        found = counts(line)
        if found or SUMMARY.match(line):
            last = found
    status = process.wait()
    passed = last.get("successes", 0) + last.get("expectedFailures", 0)
    failed = last.get("failures", 0) + last.get("errors", 0) + last.get("unexpectedSuccesses", 0)
    skipped = last.get("skips", 0)
    if status != 0 and failed == 0:
        failed = 1  # the runner itself failed (import error, crash)
    print(f"{name}: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return passed, failed, skipped, status


def main(argv: list[str]) -> int:
    names = argv or ["unit"]
    totals = [0, 0, 0]
    statuses = []
    for name in names:
        passed, failed, skipped, status = run(name)
        totals[0] += passed
        totals[1] += failed
        totals[2] += skipped
        statuses.append(status)
    print(f"all suites: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 0 if totals[1] == 0 and not any(statuses) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
