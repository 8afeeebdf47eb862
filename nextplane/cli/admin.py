# -*- test-case-name: tests.admin.test_accounts -*-
"""
C{nextplane admin ACTION ...}: admin accounts (see L{nextplane.admin.cli},
also installed as C{nextplane-admin}).
"""

from __future__ import annotations

import argparse

from ..admin import cli

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = cli.NAME
HELP = cli.HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config} and the account actions.
    """
    cli.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """
    Run the action on the reactor; its exit status.
    """
    return cli.run_command(args)
