# -*- test-case-name: tests.webex.test_simulator -*-
"""
Finding the official API descriptions the simulators check requests
against, and matching their path templates.

The descriptions live in C{shared/specs/} beside the repository (or beside
one of its parent folders), or in C{$NEXTPLANE_SPECS_DIR}; they are read in
place and never copied into the project.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["route_pattern", "spec_path"]


def spec_path(name: Path) -> Path:
    """
    Where the description C{name} (e.g. C{webex/webex-messaging.json}) is:
    below C{$NEXTPLANE_SPECS_DIR}, or below C{shared/specs} beside the
    repository or beside the nearest parent folder that has it.
    """
    base = os.environ.get("NEXTPLANE_SPECS_DIR")
    if base:
        return Path(base) / name
    repository = Path(__file__).resolve().parents[2]
    for folder in repository.parents:
        candidate = folder / "shared" / "specs" / name
        if candidate.exists():
            return candidate
    return repository.parent / "shared" / "specs" / name


def route_pattern(template: str) -> re.Pattern[str]:
    """
    A regular expression for a path template (C{/messages/{messageId}});
    its named groups are the path parameters.
    """
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")
