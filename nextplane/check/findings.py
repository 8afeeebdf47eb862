# -*- test-case-name: tests.check.test_check -*-
"""
What C{nextplane check} reports: one L{Finding} per thing looked at, with
a hint on how to fix it, rendered as text lines or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Literal

from attrs import asdict, frozen

__all__ = ["ERROR", "OK", "WARNING", "Finding", "exit_status", "render_json", "render_text"]

Level = Literal["ok", "warning", "error"]
OK: Level = "ok"
WARNING: Level = "warning"
ERROR: Level = "error"


@frozen
class Finding:
    """
    One result of a check.

    @ivar level: C{"ok"}, C{"warning"} or C{"error"}.
    @ivar area: What was checked: C{config}, C{certificate}, C{dns},
        C{partner} or C{platform}.
    @ivar subject: What it was checked for: a tenant or partner domain,
        a DNS name, a connector.
    @ivar message: What was found, one line.
    @ivar hint: How to fix it (empty for C{ok}).
    """

    level: Level
    area: str
    subject: str
    message: str
    hint: str = ""


def render_text(findings: Iterable[Finding]) -> str:
    """
    One line per finding: C{LEVEL area subject: message (hint: ...)}.
    """
    lines = []
    for f in findings:
        line = f"{f.level.upper():7} {f.area:11} {f.subject}: {f.message}"
        if f.hint:
            line += f" -- {f.hint}"
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(findings: Sequence[Finding]) -> str:
    """
    A JSON document: C{{"ok": bool, "errors": n, "warnings": n,
    "findings": [...]}}.
    """
    document = {
        "ok": exit_status(findings) == 0,
        "errors": sum(f.level == ERROR for f in findings),
        "warnings": sum(f.level == WARNING for f in findings),
        "findings": [asdict(f) for f in findings],
    }
    return json.dumps(document, indent=2) + "\n"


def exit_status(findings: Iterable[Finding]) -> int:
    """
    1 if any finding is an error, else 0 (warnings do not fail).
    """
    return 1 if any(f.level == ERROR for f in findings) else 0
