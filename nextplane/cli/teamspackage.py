# -*- test-case-name: tests.cli.test_main -*-
"""
C{nextplane teams-package --config FILE [--tenant DOMAIN] [--out ZIP]}:
write the Teams app package (C{manifest.json} with C{bots},
C{supportsFiles} and C{validDomains}, and the two icons, zipped) for this
hub's bot, ready to upload in Teams (Apps > Manage your apps > Upload an
app) or in the Teams admin center.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO
from urllib.parse import urlsplit

from ..config import ConfigError, load_config
from ..connectors.registry import CONNECTORS
from ..connectors.teams.package import AppPackage, build_package

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "teams-package"
HELP = "Write the Teams app package (manifest and icons, zipped) for this hub's bot."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config}, C{--tenant}, C{--out}, C{--version}.
    """
    parser.add_argument("--config", "-c", default="etc/nextplane.toml", help="TOML config file")
    parser.add_argument("--tenant", help="a Teams tenant's domain: names the organisation")
    parser.add_argument("--out", default="nextplane-teams.zip", help="where to write the zip")
    parser.add_argument("--version", default="1.0.0", help="the package version (semver)")


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """
    Write the package; status 2 with one line when it cannot be made.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr

    def fail(message: str) -> int:
        err.write(f"nextplane teams-package: {message}\n")
        return 2

    try:
        config = load_config(args.config, registry=CONNECTORS)
    except ConfigError as e:
        return fail(f"configuration error: {e}")
    teams = config.connectors.get("teams")
    if teams is None:
        return fail("no [connectors.teams] in the configuration")
    public = config.web.public_url or ""
    if not public.startswith("https://"):
        return fail("[web] public_url must be the hub's https:// URL: Teams calls it")
    organization = "nextplane"
    if args.tenant is not None:
        tenant = config.tenant(args.tenant.lower())
        if tenant is None or tenant.platform != "teams":
            return fail(f"{args.tenant} is not a Teams tenant of this hub")
        organization = tenant.display_name or tenant.domain
    try:
        package = AppPackage(
            teams.app_id,
            urlsplit(public).hostname or "",
            organization=organization,
            version=args.version,
        )
    except ValueError as e:
        return fail(str(e))
    with open(args.out, "wb") as f:
        f.write(build_package(package))
    out.write(f"wrote {args.out}: upload it in Teams (Apps > Manage your apps > Upload an app)\n")
    return 0
