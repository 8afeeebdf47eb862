# -*- test-case-name: tests.cli.test_main -*-
"""
C{nextplane check --config FILE [--json] [--address IP]...}: diagnose a
configuration against the world (L{nextplane.check.runner}), one line per
finding with a hint; exit status 1 when anything is an error, 2 when the
configuration itself is invalid.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import IO, Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from ..check.findings import ERROR, Finding, exit_status, render_json, render_text
from ..check.runner import run_checks
from ..config import Config, ConfigError, load_config
from ..connectors.registry import CONNECTORS

__all__ = ["HELP", "NAME", "add_arguments", "check", "run"]

NAME = "check"
HELP = "Check a configuration: certificates, DNS, partners and platform credentials."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config}, C{--json}, C{--address}, C{--timeout}.
    """
    parser.add_argument("--config", "-c", default="etc/nextplane.toml", help="TOML config file")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="IP",
        help="this hub's public address (repeatable): SRV targets must resolve to one",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per probe")


def _print(findings: list[Finding], as_json: bool, out: IO[str]) -> None:
    out.write(render_json(findings) if as_json else render_text(findings))
    out.flush()


async def check(
    config: Config,
    reactor: Any,
    *,
    resolver: Any = None,
    http: Any = None,
    addresses: tuple[str, ...] = (),
    timeout: float = 10.0,
) -> list[Finding]:
    """
    Run every check with the hub's own resolver and an HTTP client,
    unless given.
    """
    if resolver is None:
        from ..tap import make_resolver

        resolver = make_resolver(config, reactor)
    if http is None:
        from treq.client import HTTPClient
        from twisted.web.client import Agent

        http = HTTPClient(Agent(reactor, connectTimeout=timeout))  # type: ignore[arg-type]
    return await run_checks(
        config,
        reactor=reactor,
        resolver=resolver,
        http=http,
        now=datetime.datetime.fromtimestamp(reactor.seconds(), datetime.UTC),
        addresses=addresses,
        timeout=timeout,
    )


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """
    The subcommand: load the config, run the checks on the reactor, print.
    """
    out = out if out is not None else sys.stdout
    try:
        config = load_config(args.config, registry=CONNECTORS)
    except ConfigError as e:
        _print(
            [Finding(ERROR, "config", args.config, str(e), "fix the configuration")], args.json, out
        )
        return 2

    async def main(reactor: Any) -> None:
        findings = await check(config, reactor, addresses=tuple(args.address), timeout=args.timeout)
        _print(findings, args.json, out)
        raise SystemExit(exit_status(findings))

    try:
        react(lambda reactor: Deferred.fromCoroutine(main(reactor)))
    except SystemExit as e:
        return int(e.code or 0)
    return 0
