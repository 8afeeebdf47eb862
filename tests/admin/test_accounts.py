"""
Tests for L{nextplane.admin.accounts} and the C{nextplane-admin} command.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import SynchronousTestCase, TestCase

from nextplane.admin import cli
from nextplane.admin.accounts import AccountError, Accounts, hash_token
from nextplane.storage.admin_memory import MemoryAdminStore
from nextplane.storage.admin_records import AdminRole, AuditQuery

from .seed import FAST_HASHER, PASSWORD

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class AccountTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryAdminStore()
        self.accounts = Accounts(self.store, lambda: T0, hasher=FAST_HASHER)

    def run_(self, coroutine: object) -> object:
        return self.successResultOf(ensureDeferred(coroutine))  # type: ignore[arg-type]

    def test_argon2id_hash(self) -> None:
        """Passwords are stored as argon2id hashes, never as given."""
        account = self.run_(self.accounts.set_password("alice", PASSWORD, AdminRole.GLOBAL, None))
        self.assertTrue(account.password_hash.startswith("$argon2id$"))  # type: ignore[attr-defined]
        self.assertNotIn(PASSWORD, account.password_hash)  # type: ignore[attr-defined]

    def test_check_password(self) -> None:
        """The right password finds the account; a wrong one, an unknown name or a disabled account do not."""
        self.run_(self.accounts.set_password("alice", PASSWORD, AdminRole.GLOBAL, None))
        self.assertIsNotNone(self.run_(self.accounts.check_password("alice", PASSWORD)))
        self.assertIsNone(self.run_(self.accounts.check_password("alice", "not the password")))
        self.assertIsNone(self.run_(self.accounts.check_password("bob", PASSWORD)))
        self.run_(self.accounts.set_disabled("alice", True))
        self.assertIsNone(self.run_(self.accounts.check_password("alice", PASSWORD)))

    def test_rules(self) -> None:
        """Short passwords and roles without (or with a needless) tenant are refused."""
        for name, password, role, tenant in (
            ("alice", "short", AdminRole.GLOBAL, None),
            ("alice", PASSWORD, AdminRole.TENANT, None),
            ("alice", PASSWORD, AdminRole.GLOBAL, "acme.test"),
            ("has space", PASSWORD, AdminRole.GLOBAL, None),
        ):
            d = ensureDeferred(self.accounts.set_password(name, password, role, tenant))
            self.failureResultOf(d, AccountError)

    def test_token(self) -> None:
        """An issued token is stored hashed and finds its account."""
        self.run_(self.accounts.set_password("bob", PASSWORD, AdminRole.TENANT, "acme.test"))
        token = self.run_(self.accounts.issue_token("bob"))
        stored = self.successResultOf(self.store.get_account("bob"))
        self.assertEqual(stored.token_hash, hash_token(token))  # type: ignore[arg-type,union-attr]
        self.assertEqual(self.run_(self.accounts.check_token(token)).name, "bob")  # type: ignore[attr-defined]
        self.assertIsNone(self.run_(self.accounts.check_token("npa_wrong")))


class CommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryAdminStore()
        self.accounts = Accounts(self.store, lambda: T0, hasher=FAST_HASHER)

    def command(self, *argv: str, stdin: str = "") -> tuple[int, str]:
        args = cli._parser().parse_args(list(argv))
        out = io.StringIO()
        status = self.successResultOf(
            ensureDeferred(
                cli.run(
                    args, self.store, self.accounts, out, io.StringIO(stdin), ask=lambda _: PASSWORD
                )
            )
        )
        return status, out.getvalue()

    def test_first_account(self) -> None:
        """create-account makes the first global admin, asking the password twice, and audits it."""
        status, out = self.command("create-account", "root", "--global")
        self.assertEqual((status, out), (0, "created root (global admin)\n"))
        self.assertIsNotNone(
            self.successResultOf(ensureDeferred(self.accounts.check_password("root", PASSWORD)))
        )
        records, _ = self.successResultOf(self.store.query_audit(AuditQuery()))
        self.assertEqual(
            [(r.actor, r.action, r.target) for r in records],
            [("console", "account.create", "root")],
        )

    def test_password_from_stdin_and_reset(self) -> None:
        """--password-stdin reads the first line; reset-password keeps the role."""
        self.command("create-account", "bob", "--tenant", "acme.test")
        status, out = self.command(
            "reset-password", "bob", "--password-stdin", stdin="a new long password\n"
        )
        self.assertEqual((status, out), (0, "reset bob\n"))
        account = self.successResultOf(
            ensureDeferred(self.accounts.check_password("bob", "a new long password"))
        )
        self.assertEqual((account.role, account.tenant), (AdminRole.TENANT, "acme.test"))  # type: ignore[union-attr]

    def test_errors(self) -> None:
        """Unknown accounts and bad passwords are one line and status 1."""
        self.assertEqual(self.command("reset-password", "nobody")[0], 1)
        status, out = self.command(
            "create-account", "x", "--global", "--password-stdin", stdin="short\n"
        )
        self.assertEqual(status, 1)
        self.assertIn("at least 12", out)

    def test_list_and_disable(self) -> None:
        """list-accounts shows roles and disabled accounts."""
        self.command("create-account", "root", "--global")
        self.command("create-account", "bob", "--tenant", "acme.test")
        self.command("disable", "bob")
        _, out = self.command("list-accounts")
        self.assertEqual(out, "bob\ttenant\tacme.test (disabled)\nroot\tglobal\tall tenants\n")

    def test_issue_token(self) -> None:
        """issue-token prints a token once."""
        self.command("create-account", "root", "--global")
        status, out = self.command("issue-token", "root")
        self.assertEqual(status, 0)
        self.assertTrue(out.startswith("npa_"))


class ConsoleScriptTests(TestCase):
    async def test_against_sqlite(self) -> None:
        """The command opens the store, creates the account in its database, and closes it."""
        from twisted.internet import reactor

        from nextplane.storage.sqlite import SQLiteStore

        path = self.mktemp()
        out = io.StringIO()
        status = await cli.execute(
            ["create-account", "root", "--global", "--password-stdin"],
            reactor,
            out,
            io.StringIO(PASSWORD + "\n"),
            store=SQLiteStore(path, reactor=reactor),
        )
        self.assertEqual((status, out.getvalue()), (0, "created root (global admin)\n"))
        again = SQLiteStore(path, reactor=reactor)
        await again.open()
        self.addCleanup(again.close)
        account = await again.get_account("root")
        self.assertEqual(account.role, AdminRole.GLOBAL)

    def test_nextplane_admin_subcommand(self) -> None:
        """C{nextplane admin ...} parses to the same actions."""
        from nextplane.cli import parser

        args = parser().parse_args(
            ["admin", "-c", "x.toml", "create-account", "bob", "--tenant", "acme.test"]
        )
        self.assertEqual(
            (args.command, args.action, args.name, args.tenant),
            ("admin", "create-account", "bob", "acme.test"),
        )

    async def test_bad_config(self) -> None:
        """A missing configuration is one line and status 2."""
        from twisted.internet import reactor

        out = io.StringIO()
        status = await cli.execute(
            ["-c", "/nonexistent.toml", "list-accounts"], reactor, out, io.StringIO()
        )
        self.assertEqual(status, 2)
        self.assertIn("configuration error", out.getvalue())
