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

from ..connectors.teams.package import AppPackage, build_package
from .appsetup import SetupError, add_common_arguments, load_app_setup

__all__ = ["HELP", "NAME", "add_arguments", "run"]

NAME = "teams-package"
HELP = "Write the Teams app package (manifest and icons, zipped) for this hub's bot."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config}, C{--tenant}, C{--out}, C{--version}.
    """
    add_common_arguments(parser, "Teams")
    parser.add_argument("--out", default="nextplane-teams.zip", help="where to write the zip")
    parser.add_argument("--version", default="1.0.0", help="the package version (semver)")


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    """
    Write the package; status 2 with one line when it cannot be made.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        setup = load_app_setup(args, "teams", "Teams")
        organization = "nextplane"
        if setup.tenant is not None:
            organization = setup.tenant.display_name or setup.tenant.domain
        package = AppPackage(
            setup.section.app_id,
            urlsplit(setup.public_url).hostname or "",
            organization=organization,
            version=args.version,
        )
    except (SetupError, ValueError) as e:
        err.write(f"nextplane teams-package: {e}\n")
        return 2
    with open(args.out, "wb") as f:
        f.write(build_package(package))
    out.write(f"wrote {args.out}: upload it in Teams (Apps > Manage your apps > Upload an app)\n")
    return 0
