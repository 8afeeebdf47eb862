"""
The busiest functions of a py-spy profile (C{--profile RATE} of the
benchmarks): what the system under test spent its CPU on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["top_functions"]


#: Leaf frames of a thread waiting (epoll, an idle pool thread), not working.
_IDLE_LEAVES = ("EPollReactor.doPoll", "untilConcludes", "Condition.wait", "Queue.get")


def top_functions(path: Path, count: int = 30) -> dict[str, Any]:
    """
    The functions with the most busy samples in a py-spy collapsed-stack
    file (samples whose leaf is a wait are dropped): by self time (the leaf
    frame) and by total time (anywhere on the stack), in percent of busy
    samples.
    """
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = busy = 0
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {"error": f"no profile at {path}"}
    for line in lines:
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        n = int(number)
        samples += n
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE_LEAVES):
            continue
        busy += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + n

    def top(counts: dict[str, int]) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:count]
        return [(name, round(100.0 * n / max(1, busy), 1)) for name, n in ranked]

    return {
        "samples": samples,
        "busy_samples": busy,
        "self_percent": top(own),
        "total_percent": top(total),
        "nextplane_total_percent": top(
            {name: n for name, n in total.items() if "nextplane/" in name}
        ),
    }
