# -*- test-case-name: tests.cli.test_main -*-
"""
The C{nextplane} command: operator tools beside C{twistd nextplane}.

Each subcommand is a module with C{NAME}, C{HELP}, C{add_arguments(parser)}
and C{run(args) -> int}; adding one is adding it to L{SUBCOMMANDS}.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from . import admin, check, copystore, slackmanifest, teamspackage

__all__ = ["SUBCOMMANDS", "main"]

#: The subcommands, in the order C{--help} lists them.
SUBCOMMANDS: tuple[ModuleType, ...] = (check, slackmanifest, teamspackage, copystore, admin)


def parser() -> argparse.ArgumentParser:
    """
    The argument parser of every subcommand.
    """
    top = argparse.ArgumentParser(
        prog="nextplane", description="Operator tools for the nextplane hub."
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run one subcommand; its exit status.
    """
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    return int(args.run(args))
