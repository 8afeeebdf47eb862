# -*- test-case-name: tests.cli.test_main,tests.cli.test_teamspackage -*-
"""
What the commands that make a platform's app set-up (C{slack-manifest},
C{teams-package}) share: the C{--config} and C{--tenant} options, and
loading the configuration with the checks every platform app needs (its
connector section, an C{https://} public URL, the tenant's platform).
"""

from __future__ import annotations

import argparse
from typing import Any

from attrs import frozen

from ..config import Config, ConfigError, TenantConfig, load_config
from ..connectors.registry import CONNECTORS

__all__ = ["AppSetup", "SetupError", "add_common_arguments", "load_app_setup"]


class SetupError(Exception):
    """
    The set-up cannot be made; C{str()} is one line saying why.
    """


@frozen
class AppSetup:
    """
    A loaded configuration for one platform's app.

    @ivar section: The platform's C{[connectors.<platform>]} settings.
    @ivar public_url: The hub's C{https://} public URL.
    @ivar tenant: The tenant named with C{--tenant}, if any.
    """

    config: Config
    section: Any
    public_url: str
    tenant: TenantConfig | None


def add_common_arguments(parser: argparse.ArgumentParser, label: str) -> None:
    """
    C{--config} and C{--tenant} (a C{label} tenant's domain).
    """
    parser.add_argument("--config", "-c", default="etc/nextplane.toml", help="TOML config file")
    parser.add_argument("--tenant", help=f"a {label} tenant's domain: names the app after it")


def load_app_setup(args: argparse.Namespace, platform: str, label: str) -> AppSetup:
    """
    Load C{args.config} for C{platform}'s app (C{label} as users know it).

    @raise SetupError: The configuration is unusable or lacks what the
        app needs, or C{args.tenant} is not a C{platform} tenant.
    """
    try:
        config = load_config(args.config, registry=CONNECTORS)
    except ConfigError as e:
        raise SetupError(f"configuration error: {e}") from None
    section = config.connectors.get(platform)
    if section is None:
        raise SetupError(f"no [connectors.{platform}] in the configuration")
    public = config.web.public_url
    if not public:
        raise SetupError(f"[web] public_url is not set: {label} needs the hub's public HTTPS URL")
    if not public.startswith("https://"):
        raise SetupError(f"[web] public_url must be https:// for {label}, not {public}")
    tenant = None
    if args.tenant is not None:
        tenant = config.tenant(args.tenant.lower())
        if tenant is None or tenant.platform != platform:
            raise SetupError(f"{args.tenant} is not a {label} tenant of this hub")
    return AppSetup(config, section, public, tenant)
