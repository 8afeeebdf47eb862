"""
What B2 (Slack -> XMPP) and B3 (SIP -> Slack) share: certificates, the
load process's core, baseline processes, rate steps and the knee.

Rate steps (performance.md section 6): each step offers a fixed rate open
loop for a fixed time; a step I{holds} when the achieved rate is at least
99% of the offered one, nothing is lost and the end-to-end p99 stays
under L{P99_LIMIT_MS}. A step that does not hold is run once more
(a single stall on a shared machine breaks a p99); the steps stop at the
first one that fails twice; the I{knee} is the highest step that held.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from bench.common import (
    HUB_CORE,
    LOAD_CORE,
    ROOT,
    OpenLoop,
    SequenceTally,
    cpu_seconds,
    latency_summary,
    now_ns,
    pinned,
    rss_kib,
    summary_line,
)
from nextplane.devcerts import CertPaths, ensure_ca, ensure_domain_cert

__all__ = [
    "P99_LIMIT_MS",
    "TARGETS",
    "BaselineProcess",
    "Step",
    "certificates",
    "free_port",
    "knee",
    "measure_cpu",
    "pin_load_core",
    "profile_summary",
    "ratio",
    "start_profile",
    "wait_arrived",
    "wait_for",
]

#: A step with a higher end-to-end p99 does not hold.
P99_LIMIT_MS = 200.0
#: The issue's targets for B1, applied to B2/B3 for information.
TARGETS = {"sustained_msgs_per_s": 1000, "p99_ms_at_500_per_s": 50}


def pin_load_core() -> None:
    """
    Run this (load) process on the load core, as performance.md asks.
    """
    if (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {LOAD_CORE})


def certificates(directory: Path, *domains: str) -> tuple[CertPaths, dict[str, CertPaths]]:
    """
    A throwaway CA and one certificate per domain, in C{directory}.
    """
    ca = ensure_ca(directory)
    return ca, {domain: ensure_domain_cert(directory, domain, ca) for domain in domains}


def free_port() -> int:
    """
    A TCP port free on 127.0.0.1 right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    reactor: Any, check: Callable[[], bool], timeout: float, interval: float = 0.05
) -> Any:
    """
    A Deferred firing with whether C{check()} became true within C{timeout}.
    """

    async def poll() -> bool:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                return False
            await task.deferLater(reactor, interval)
        return True

    return Deferred.fromCoroutine(poll())


def wait_arrived(
    reactor: Any, arrivals: Mapping[int, int], first: int, last: int, timeout: float
) -> Any:
    """
    A Deferred firing once sequences C{first} to C{last - 1} have all
    arrived, or after C{timeout} seconds (the rest then count as lost).
    """
    total = last - first
    return wait_for(
        reactor, lambda: sum(1 for s in range(first, last) if s in arrivals) >= total, timeout
    )


class BaselineProcess:
    """
    A baseline relay as its own process, pinned to the hub's core, ready
    once it prints C{ready}.
    """

    def __init__(self, module: str, arguments: Sequence[str], log: Path) -> None:
        self.module = module
        self.arguments = list(arguments)
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """
        Start it and wait (blocking) until it says C{ready}.
        """
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        output = open(self.log, "wb")
        self.process = subprocess.Popen(
            pinned([sys.executable, "-u", "-m", self.module, *self.arguments], HUB_CORE),
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
        )
        output.close()
        deadline = time.monotonic() + timeout
        while True:
            text = self.log.read_text(errors="replace")
            if "ready" in text.splitlines():
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.module} did not start: {text[-2000:]}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """
        Terminate it.
        """
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Step:
    """
    One rate step: what was offered, what arrived, what it cost.

    @ivar sent: Sequence numbers sent in this step.
    @ivar ack_ms: Sequence -> acknowledgement latency (webhook 2xx, SIP
        final response) from the scheduled send time.
    """

    rate: float
    duration: float
    sent: list[int] = field(default_factory=list)
    started_ns: int = 0
    ack_ms: dict[int, float] = field(default_factory=dict)
    cpu_percent: float | None = None
    load_cpu_percent: float | None = None

    def report(self, tally: SequenceTally, arrivals_ns: Mapping[int, int]) -> dict[str, Any]:
        """
        The step's figures: offered/achieved rate, end-to-end and ack
        latency, lost and duplicated, and whether it held.
        """
        end_to_end = tally.report(self.sent)
        arrived = [arrivals_ns[s] for s in self.sent if s in arrivals_ns]
        # Delivered per second between the first and the last arrival: a
        # system that keeps up shows the offered rate whatever its latency;
        # one that falls behind stretches the span.
        achieved = 0.0
        if len(arrived) > 1:
            span = (max(arrived) - min(arrived)) / 1e9
            achieved = (len(arrived) - 1) / span if span > 0 else 0.0
        ack = latency_summary(self.ack_ms[s] for s in self.sent if s in self.ack_ms)
        holds = (
            achieved >= 0.99 * self.rate
            and end_to_end["lost"] == 0
            and end_to_end["p99_ms"] <= P99_LIMIT_MS
        )
        return {
            "offered_per_s": self.rate,
            "achieved_per_s": achieved,
            "duration_s": self.duration,
            "end_to_end": end_to_end,
            "ack": ack,
            "hub_cpu_percent": self.cpu_percent,
            "load_cpu_percent": self.load_cpu_percent,
            "holds": holds,
        }


def measure_cpu(pid: int) -> Callable[[], float]:
    """
    Start measuring C{pid}'s CPU use; the returned function gives the
    percentage of one core used since.
    """
    start_cpu, start = cpu_seconds(pid), now_ns()

    def stop() -> float:
        return 100.0 * (cpu_seconds(pid) - start_cpu) / max(1e-9, (now_ns() - start) / 1e9)

    return stop


def knee(steps: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """
    The knee of a series of step reports: the highest offered rate that
    held (0 if none), and the p99s at 500/s when that step ran.
    """
    steps = list(steps)
    held = [s for s in steps if s["holds"]]
    best = max(held, key=lambda s: s["offered_per_s"]) if held else None
    # A step run twice (see the step loop): the attempt that held, else the last.
    at_500 = next((s for s in held if s["offered_per_s"] == 500), None) or next(
        (s for s in reversed(steps) if s["offered_per_s"] == 500), None
    )
    return {
        "knee_per_s": best["offered_per_s"] if best else 0.0,
        "knee_achieved_per_s": best["achieved_per_s"] if best else 0.0,
        "p99_ms_at_500": at_500["end_to_end"]["p99_ms"] if at_500 else None,
        "ack_p99_ms_at_500": at_500["ack"]["p99_ms"] if at_500 else None,
    }


def ratio(value: float | None, baseline: float | None) -> float | None:
    """
    C{value / baseline}, or C{None} when either is missing or zero.
    """
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def start_profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    """
    Sample C{pid} with py-spy for C{seconds} into C{output} (raw collapsed
    stacks), if py-spy is installed next to this Python; it inherits this
    process's core, so the hub's core only runs the hub.
    """
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return None
    command = [str(py_spy), "record", "--pid", str(pid), "-d", str(max(1, int(seconds)))]
    command += ["-r", "250", "-f", "raw", "--nonblocking", "-o", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


#: Leaf frames of a thread with nothing to do.
_IDLE = ("doPoll", "Condition.wait", "Queue.get", "select")


def profile_summary(raw: Path, top: int = 25) -> dict[str, Any]:
    """
    The hot spots in a py-spy raw profile: the share of busy samples (idle
    waits left out) by leaf function (self) and by function anywhere on
    the stack (inclusive), for nextplane, Twisted and the libraries.
    """
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or not count_text.isdigit() or any(i in frames[-1] for i in _IDLE):
            continue
        count = int(count_text)
        busy += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def share(table: Mapping[str, int], keep: Callable[[str], bool]) -> list[tuple[str, float]]:
        ranked = sorted(((f, n) for f, n in table.items() if keep(f)), key=lambda fn: -fn[1])
        return [(f, round(100.0 * n / busy, 1)) for f, n in ranked[:top]]

    def interesting(frame: str) -> bool:
        return "twistd" not in frame and "app.py" not in frame and "base.py" not in frame

    return {
        "busy_samples": busy,
        "self_percent": share(own, lambda f: True) if busy else [],
        "inclusive_percent": share(inclusive, interesting) if busy else [],
    }


async def run_steps(
    reactor: Any,
    plan: Any,
    target: Any,
    pid: int,
    send: Callable[[int, int], None],
    first_sequence: int,
    *,
    ack_label: str,
    at_end: Callable[[], Mapping[str, Any]],
    profile: Path | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """
    The warm-up, then each rate step of C{plan} against the system with
    process id C{pid}: open loop through C{send}, wait for the arrivals
    (C{plan.drain} at most), report and print the step. A step that does
    not hold runs once more before stepping stops (on a shared machine one
    stall of the load or the system is enough to break a p99).

    @param ack_label: What the step's C{ack} latency is, for the printout.
    @param at_end: Figures of the load side added to each step's report.
    @return: (reports of the measured steps, next free sequence number).
    """
    reports: list[dict[str, Any]] = []
    sequence = first_sequence
    steps = [(plan.warmup[0], plan.warmup[1], False)] + [
        (rate, plan.duration, True) for rate in plan.rates
    ]
    retried: set[float] = set()
    while steps:
        rate, duration, measured = steps.pop(0)
        step = Step(rate, duration)
        target.step = step
        total = int(rate * duration)
        loop = OpenLoop(reactor, rate, total, send)
        system_cpu, load_cpu = measure_cpu(pid), measure_cpu(os.getpid())
        profiler = None
        if profile is not None and measured and rate == plan.profile_rate:
            profiler = start_profile(pid, duration, profile)
        step.started_ns = now_ns()
        await loop.run(sequence)
        step.sent = loop.sent
        low, high = sequence, sequence + total
        await wait_arrived(reactor, target.arrivals, low, high, plan.drain)
        step.cpu_percent, step.load_cpu_percent = system_cpu(), load_cpu()
        if profiler is not None:
            await deferToThread(profiler.wait)
        sequence = high
        if not measured:
            continue
        report = step.report(target.tally, target.arrivals)
        report["hub_rss_kib"] = rss_kib(pid)
        report.update(at_end())
        reports.append(report)
        e2e, ack = report["end_to_end"], report["ack"]
        print(
            f"  {target.name:5s} {rate:6.0f}/s achieved {report['achieved_per_s']:7.1f}/s  "
            f"e2e p50 {e2e['p50_ms']:6.1f} p99 {e2e['p99_ms']:7.1f} max {e2e['max_ms']:7.1f} ms  "
            f"{ack_label} p50 {ack['p50_ms']:6.1f} p99 {ack['p99_ms']:7.1f} ms  "
            f"lost {e2e['lost']} dup {e2e['duplicated']}  cpu {step.cpu_percent:.0f}%"
            f"{'' if report['holds'] else '  (does not hold)'}",
            flush=True,
        )
        if not report["holds"]:
            if rate in retried or plan.quick:
                break
            retried.add(rate)
            steps.insert(0, (rate, duration, True))
    return reports, sequence


def _at(steps: list[dict[str, Any]], rate: float) -> dict[str, Any] | None:
    held = [s for s in steps if s["offered_per_s"] == rate]
    return held[-1] if held else (steps[0] if steps else None)


def both_ways(
    name: str,
    hub_steps: Mapping[str, list[dict[str, Any]]],
    bare_steps: Mapping[str, list[dict[str, Any]]],
    labels: Mapping[str, str],
) -> tuple[list[str], dict[str, Any]]:
    """
    The summary of a two-way platform benchmark (B8, B9) against its bare
    relay: per direction (C{in}, C{out}) the knee and the p50/p99 at it,
    each with its ratio to the bare relay at the same offered rate.

    @param labels: Each direction's words, e.g. C{"Teams webhook -> XMPP s2s"}.
    @return: (summary lines, the result's per-direction blocks).
    """
    lines: list[str] = []
    result: dict[str, Any] = {}
    for direction, label in labels.items():
        hub_knee, bare_knee = knee(hub_steps[direction]), knee(bare_steps[direction])
        best = _at(hub_steps[direction], hub_knee["knee_per_s"])
        bare_best = _at(bare_steps[direction], best["offered_per_s"] if best else 0.0)
        lines.append(
            summary_line(
                f"{name}-{direction}",
                hub_knee["knee_per_s"],
                f"msg/s sustained ({label})",
                {"bare-relay": ratio(hub_knee["knee_per_s"], bare_knee["knee_per_s"])},
                f"bare {bare_knee['knee_per_s']:.0f} msg/s",
            )
        )
        at = best["offered_per_s"] if best else 0.0
        for figure in ("p50_ms", "p99_ms"):
            value = best["end_to_end"][figure] if best else float("nan")
            base = bare_best["end_to_end"][figure] if bare_best else None
            lines.append(
                summary_line(
                    f"{name}-{direction}-{figure[:3]}",
                    value,
                    f"ms {figure[:3]} end to end at {at:.0f} msg/s",
                    {"bare-relay": ratio(value, base)},
                )
            )
        result[direction] = {
            "hub": {**hub_knee, "steps": hub_steps[direction]},
            "baseline": {"name": "bare-relay", **bare_knee, "steps": bare_steps[direction]},
        }
    return lines, result
