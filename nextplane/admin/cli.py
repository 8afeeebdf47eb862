# -*- test-case-name: tests.admin.test_cli -*-
"""
C{nextplane admin} (also installed as C{nextplane-admin}): create and reset
admin accounts from the hub's machine, the first one included, against the
store the configuration names.

    nextplane-admin --config etc/nextplane.toml create-account alice --global
    nextplane-admin --config etc/nextplane.toml create-account bob --tenant acme.example
    nextplane-admin --config etc/nextplane.toml reset-password alice
    nextplane-admin --config etc/nextplane.toml issue-token alice
    nextplane-admin --config etc/nextplane.toml disable bob
    nextplane-admin --config etc/nextplane.toml list-accounts

Passwords are asked twice on the terminal, or read from the first line of
standard input with C{--password-stdin}; they never appear on the command
line. Every change is audited (actor C{console}).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import react

from ..config import ConfigError, load_config
from ..connectors.registry import CONNECTORS
from ..interfaces import IStore
from ..storage.admin import admin_store_for
from ..storage.admin_records import AdminRole, AuditRecord, IAdminStore
from .accounts import AccountError, Accounts, thread_runner, utc_now

__all__ = ["HELP", "NAME", "add_arguments", "execute", "main", "run", "run_command"]

#: As a subcommand of C{nextplane}.
NAME = "admin"
HELP = "Create, reset, disable and list admin accounts; issue API tokens."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nextplane-admin", description=HELP)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """
    C{--config} and the account commands.
    """
    parser.add_argument("--config", "-c", default="etc/nextplane.toml", help="the hub's TOML file")
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = commands.add_parser("create-account", help="create an account or reset it")
    create.add_argument("name")
    role = create.add_mutually_exclusive_group(required=True)
    role.add_argument("--global", dest="is_global", action="store_true", help="sees every tenant")
    role.add_argument("--tenant", help="administers only this tenant (its domain)")
    for command in ("reset-password",):
        sub = commands.add_parser(command, help="set a new password (and enable)")
        sub.add_argument("name")
    for sub in (create, commands.choices["reset-password"]):
        sub.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    for command, text in (
        ("issue-token", "a new API token for scripts (shown once)"),
        ("disable", "disable an account"),
        ("enable", "enable an account again"),
    ):
        commands.add_parser(command, help=text).add_argument("name")
    commands.add_parser("list-accounts", help="every account and its role")


def _password(args: argparse.Namespace, stdin: IO[str], ask: Callable[[str], str]) -> str:
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    first = ask("Password: ")
    if ask("Again: ") != first:
        raise AccountError("the passwords differ")
    return first


async def run(
    args: argparse.Namespace,
    admin_store: IAdminStore,
    accounts: Accounts,
    out: IO[str],
    stdin: IO[str],
    ask: Callable[[str], str] = getpass.getpass,
) -> int:
    """
    Carry out one parsed command.

    @return: The exit status.
    """
    now = accounts.now

    async def audit(action: str, target: str, tenant: str | None) -> None:
        await admin_store.append_audit(
            AuditRecord(now(), "console", action, target, tenant, "console")
        )

    try:
        if args.action == "create-account":
            role = AdminRole.GLOBAL if args.is_global else AdminRole.TENANT
            existed = await admin_store.get_account(args.name) is not None
            account = await accounts.set_password(
                args.name, _password(args, stdin, ask), role, args.tenant
            )
            await audit("account.reset" if existed else "account.create", args.name, account.tenant)
            out.write(f"{'reset' if existed else 'created'} {account.name} ({role.value} admin)\n")
        elif args.action == "reset-password":
            current = await admin_store.get_account(args.name)
            if current is None:
                raise AccountError(f"no account {args.name!r}; use create-account")
            await accounts.set_password(
                args.name, _password(args, stdin, ask), current.role, current.tenant
            )
            await audit("account.reset", args.name, current.tenant)
            out.write(f"reset {args.name}\n")
        elif args.action == "issue-token":
            token = await accounts.issue_token(args.name)
            await audit("account.token", args.name, None)
            out.write(f"{token}\n")
        elif args.action in ("disable", "enable"):
            account = await accounts.set_disabled(args.name, args.action == "disable")
            await audit(f"account.{args.action}", args.name, account.tenant)
            out.write(f"{args.action}d {args.name}\n")
        else:
            for account in await admin_store.list_accounts():
                where = account.tenant or "all tenants"
                state = " (disabled)" if account.disabled else ""
                out.write(f"{account.name}\t{account.role.value}\t{where}{state}\n")
    except AccountError as e:
        out.write(f"nextplane-admin: {e}\n")
        return 1
    return 0


async def execute(
    args: argparse.Namespace | Sequence[str],
    reactor: Any,
    out: IO[str],
    stdin: IO[str],
    store: IStore | None = None,
) -> int:
    """
    Open the configured store (or C{store}), run the command (parsed, or
    parsed here from a list of arguments), close the store.

    @return: The exit status.
    """
    if not isinstance(args, argparse.Namespace):
        args = _parser().parse_args(list(args))
    opened = store
    if opened is None:
        from ..tap import make_store

        try:
            config = load_config(args.config, registry=CONNECTORS)
        except ConfigError as e:
            out.write(f"nextplane-admin: configuration error: {e}\n")
            return 2
        opened = make_store(config, reactor)
    await opened.open()
    try:
        admin_store = admin_store_for(opened)
        accounts = Accounts(admin_store, utc_now(reactor), thread_runner(reactor))
        return await run(args, admin_store, accounts, out, stdin)
    finally:
        await opened.close()


def run_command(args: argparse.Namespace) -> int:
    """
    The subcommand's body for C{nextplane admin}: run it on the reactor.
    """
    status = [0]

    async def go(reactor: Any) -> None:
        status[0] = await execute(args, reactor, sys.stdout, sys.stdin)

    try:
        react(lambda reactor: ensureDeferred(go(reactor)))
    except SystemExit as e:
        return status[0] or int(e.code or 0)
    return status[0]


def main(argv: Sequence[str] | None = None) -> int:
    """
    The C{nextplane-admin} console script.
    """
    return run_command(_parser().parse_args(argv))
