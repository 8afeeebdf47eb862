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

from ..config import ConfigError, load_config
from ..connectors.registry import CONNECTORS
from ..connectors.slack.manifest import manifest

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "slack-manifest"
HELP = "Print the Slack app manifest (scopes, events, command, URLs) for this hub."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config}, C{--tenant}, C{--name}, C{--format}.
    """
    parser.add_argument("--config", "-c", default="etc/nextplane.toml", help="TOML config file")
    parser.add_argument("--tenant", help="a Slack tenant's domain: names the app after it")
    parser.add_argument("--name", help="the app's name (default: nextplane)")
    parser.add_argument("--format", choices=("json", "yaml"), default="json")


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """
    Print the manifest; status 2 with one line when it cannot be made.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr

    def fail(message: str) -> int:
        err.write(f"nextplane slack-manifest: {message}\n")
        return 2

    try:
        config = load_config(args.config, registry=CONNECTORS)
    except ConfigError as e:
        return fail(f"configuration error: {e}")
    slack = config.connectors.get("slack")
    if slack is None:
        return fail("no [connectors.slack] in the configuration")
    if not config.web.public_url:
        return fail("[web] public_url is not set: Slack needs the hub's public HTTPS URL")
    if not config.web.public_url.startswith("https://"):
        return fail(f"[web] public_url must be https:// for Slack, not {config.web.public_url}")
    name = args.name or "nextplane"
    if args.tenant is not None:
        tenant = config.tenant(args.tenant.lower())
        if tenant is None or tenant.platform != "slack":
            return fail(f"{args.tenant} is not a Slack tenant of this hub")
        name = args.name or f"nextplane {tenant.display_name or tenant.domain}"
    document = manifest(config.web.public_url, name=name, oauth=slack.client_id is not None)
    if args.format == "yaml":
        out.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    else:
        out.write(json.dumps(document, indent=2) + "\n")
    return 0
