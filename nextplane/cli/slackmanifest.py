# -*- test-case-name: tests.cli.test_main -*-
"""
C{nextplane slack-manifest --config FILE [--tenant DOMAIN] [--format
json|yaml]}: print the Slack app manifest for this hub, ready to paste
into "Create an app - From a manifest".
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO

import yaml

from ..connectors.slack.manifest import manifest
from .appsetup import SetupError, add_common_arguments, load_app_setup

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "slack-manifest"
HELP = "Print the Slack app manifest (scopes, events, command, URLs) for this hub."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config}, C{--tenant}, C{--name}, C{--format}.
    """
    add_common_arguments(parser, "Slack")
    parser.add_argument("--name", help="the app's name (default: nextplane)")
    parser.add_argument("--format", choices=("json", "yaml"), default="json")


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """
    Print the manifest; status 2 with one line when it cannot be made.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        setup = load_app_setup(args, "slack", "Slack")
    except SetupError as e:
        err.write(f"nextplane slack-manifest: {e}\n")
        return 2
    name = args.name or "nextplane"
    if setup.tenant is not None:
        name = args.name or f"nextplane {setup.tenant.display_name or setup.tenant.domain}"
    document = manifest(setup.public_url, name=name, oauth=setup.section.client_id is not None)
    if args.format == "yaml":
        out.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    else:
        out.write(json.dumps(document, indent=2) + "\n")
    return 0
