"""
What every benchmark shares: the machine description, result files and
summary lines, latency statistics, an open-loop sender schedule and the hub
as operators run it (C{twistd nextplane} in a child process, pinned to one
core).

Method (../shared/notes/performance.md section 6): open loop on a fixed
schedule, latency measured at the sink from the I{scheduled} send time
(both sides read C{time.monotonic_ns()}, one clock for every process on
the host), lost and duplicated counted by sequence number.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Where result files go; the smoke test points it at a scratch directory.
RESULTS = Path(os.environ.get("NEXTPLANE_BENCH_RESULTS") or ROOT / "bench" / "results")
TWISTD = str(Path(sys.executable).parent / "twistd")

#: The cores of a 2-core machine: the system under test, and the load
#: (generator and sink). See performance.md section 6, step 5.
HUB_CORE = 0
LOAD_CORE = 1


def now_ns() -> int:
    """
    The host-wide monotonic clock every bench process stamps with.
    """
    return time.monotonic_ns()


def machine() -> dict[str, Any]:
    """
    What ran the benchmark: cores, Python, platform and git commit.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    """
    Write C{bench/results/<name>.json}: C{result} plus the machine and time.

    @return: The file written.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": "--quick" in sys.argv,
        "machine": machine(),
        **result,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def summary_line(
    name: str, figure: float, unit: str, ratios: Mapping[str, float | None], extra: str = ""
) -> str:
    """
    One line per benchmark: the figure, its unit, and its ratio to each
    baseline measured in the same run (C{None}: that baseline could not run).
    """
    parts = [f"{name:8s} {figure:10.1f} {unit}"]
    for baseline, ratio in ratios.items():
        parts.append(f"{baseline} {'n/a' if ratio is None else f'{ratio:.2f}'}")
    if extra:
        parts.append(extra)
    return "  ".join(parts)


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """
    The nearest-rank percentile of an already sorted sequence.
    """
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float]:
    """
    p50/p90/p99/p99.9/max (milliseconds) and the sample count.
    """
    ordered = sorted(latencies_ms)
    return {
        "count": len(ordered),
        "p50_ms": percentile(ordered, 0.50),
        "p90_ms": percentile(ordered, 0.90),
        "p99_ms": percentile(ordered, 0.99),
        "p999_ms": percentile(ordered, 0.999),
        "max_ms": ordered[-1] if ordered else float("nan"),
    }


@dataclass
class SequenceTally:
    """
    What a sink saw of numbered messages: first arrival latencies,
    duplicates, and (against what was sent) the lost ones.
    """

    latencies_ms: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0

    def arrived(self, sequence: int, scheduled_ns: int, received_ns: int | None = None) -> None:
        """
        Count message C{sequence}, scheduled to be sent at C{scheduled_ns}.
        """
        if sequence in self.latencies_ms:
            self.duplicates += 1
            return
        received = now_ns() if received_ns is None else received_ns
        self.latencies_ms[sequence] = (received - scheduled_ns) / 1e6

    def report(self, sent: Iterable[int]) -> dict[str, Any]:
        """
        Latency summary, lost and duplicated counts for the sequences C{sent}.
        """
        sent_set = set(sent)
        seen = [v for k, v in self.latencies_ms.items() if k in sent_set]
        return {
            "sent": len(sent_set),
            "received": len(seen),
            "lost": len(sent_set - self.latencies_ms.keys()),
            "duplicated": self.duplicates,
            **latency_summary(seen),
        }


class OpenLoop:
    """
    Send message I{i} at C{start + i / rate}, whatever the responses: each
    tick sends every message now due, so a slow system under test meets the
    full offered load (no coordinated omission).

    @param send: Called with (sequence, scheduled send time in ns).
    """

    def __init__(
        self, reactor: Any, rate: float, count: int, send: Callable[[int, int], None]
    ) -> None:
        self._reactor = reactor
        self._interval_ns = int(1e9 / rate)
        self._count = count
        self._send = send
        self._next = 0
        self._start_ns = 0
        self.sent: list[int] = []
        self.finished_ns = 0

    def run(self, first_sequence: int = 0) -> Any:
        """
        Start sending; the returned Deferred fires when all are sent.
        """
        from twisted.internet.defer import Deferred

        self._first = first_sequence
        self._start_ns = now_ns()
        self._done: Deferred[None] = Deferred()
        self._tick()
        return self._done

    def _tick(self) -> None:
        now = now_ns()
        while self._next < self._count:
            scheduled = self._start_ns + self._next * self._interval_ns
            if scheduled > now:
                break
            sequence = self._first + self._next
            self._send(sequence, scheduled)
            self.sent.append(sequence)
            self._next += 1
        if self._next >= self._count:
            self.finished_ns = now_ns()
            self._done.callback(None)
            return
        due = self._start_ns + self._next * self._interval_ns
        self._reactor.callLater(max(0.0, (due - now_ns()) / 1e9), self._tick)


def toml_value(value: Any) -> str:
    """
    A TOML literal for a str, bool, int, float or list of them.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_dumps(data: Mapping[str, Any], prefix: str = "") -> str:
    """
    The TOML text of a nested dict (tables, arrays of tables, scalars),
    enough for the hub's configuration.
    """
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, list[Mapping[str, Any]]]] = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            tables.append((name, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((name, value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        text += f"\n[{name}]\n" + toml_dumps(table, name)
    for name, items in arrays:
        for item in items:
            text += f"\n[[{name}]]\n" + toml_dumps(item, name)
    return text


#: PostgreSQL when C{NEXTPLANE_TEST_PG_DSN} is unset (as in the Makefile).
DEFAULT_DSN = "dbname=test host=127.0.0.1 user=root"
#: The server's Unix socket: reachable inside C{scripts/in-netns} too.
SOCKET_DIRECTORY = "/var/run/postgresql"


def postgres_dsn() -> tuple[str | None, list[str]]:
    """
    A DSN that connects: C{NEXTPLANE_TEST_PG_DSN} (or the default), else
    the same over the local Unix socket (which works inside
    C{scripts/in-netns}, where 127.0.0.1:5432 is a private, empty
    loopback). Returns the DSN (or C{None}) and the attempts' errors.
    """
    import psycopg2
    from psycopg2.extensions import make_dsn, parse_dsn

    base = os.environ.get("NEXTPLANE_TEST_PG_DSN") or DEFAULT_DSN
    candidates = [base]
    if parse_dsn(base).get("host") != SOCKET_DIRECTORY and os.path.isdir(SOCKET_DIRECTORY):
        candidates.append(make_dsn(base, host=SOCKET_DIRECTORY))
    errors = []
    for dsn in candidates:
        try:
            psycopg2.connect(dsn, connect_timeout=3).close()
        except psycopg2.Error as e:
            errors.append(f"{dsn}: {str(e).strip().splitlines()[0] if str(e).strip() else e}")
            continue
        return dsn, errors
    return None, errors


def rss_kib(pid: int) -> int:
    """
    The resident set size of process C{pid}, in KiB.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """
    User + system CPU time process C{pid} has used, in seconds.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def pinned(command: Sequence[str], core: int) -> list[str]:
    """
    C{command} run on one core (C{taskset}) when the machine has more than one.
    """
    if (os.cpu_count() or 1) > 1 and _has_taskset():
        return ["taskset", "-c", str(core), *command]
    return list(command)


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


class HubProcess:
    """
    The hub as operators run it: C{twistd --nodaemon nextplane --config
    <directory>/hub.toml}, on its own core, JSON log lines to
    C{<directory>/hub.log}.

    @param config: The configuration, as the TOML file holds it; the web
        listener must be C{tcp:<port>:interface=<host>} with a fixed port.
    """

    def __init__(self, directory: Path, config: Mapping[str, Any], core: int = HUB_CORE) -> None:
        self.directory = directory
        self.config = config
        self.core = core
        self.process: subprocess.Popen[bytes] | None = None
        listen = str(config["web"]["listen"])
        parts = dict(p.split("=", 1) for p in listen.split(":")[2:] if "=" in p)
        self.web_url = f"http://{parts.get('interface', '127.0.0.1')}:{listen.split(':')[1]}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        """
        Write the configuration, start the hub and wait (blocking: call
        before the bench's reactor runs, or from a thread) until
        C{/healthz} answers 200.
        """
        import urllib.request

        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "hub.toml"
        path.write_text(toml_dumps(self.config))
        log = open(self.directory / "hub.log", "wb")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            pinned(
                [TWISTD, "--nodaemon", "--pidfile=", "nextplane", "--config", str(path)],
                self.core,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited ({self.process.returncode}): {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.web_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"hub not healthy after {timeout}s: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, lines: int = 30) -> str:
        """
        The last lines of the hub's log, for error messages.
        """
        try:
            text = (self.directory / "hub.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """
        SIGKILL (kill -9) and reap: the crash the hub must survive.
        """
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """
        SIGINT and wait; SIGKILL if it does not stop in time.
        """
        import signal

        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
