# -*- test-case-name: tests.admin.test_accounts -*-
"""
Admin accounts: argon2id password hashes, API tokens for scripts, and the
check a login makes.

Hashing is deliberately slow, so it runs through an injected
C{run_in_thread} (the reactor's thread pool in the hub) and never blocks
the reactor.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from attrs import evolve
from twisted.internet.defer import Deferred, succeed

from ..storage.admin_records import AdminAccount, AdminRole, IAdminStore

__all__ = ["AccountError", "Accounts", "hash_token", "in_caller", "thread_runner", "utc_now"]

T = TypeVar("T")

#: Runs a blocking call off the reactor; returns a Deferred of its result.
ThreadRunner = Callable[..., "Deferred[Any]"]

#: The least a password may be.
MIN_PASSWORD = 12


def in_caller(f: Callable[..., T], *args: Any) -> Deferred[T]:
    """
    A L{ThreadRunner} that runs C{f} at once (tests, the command line).
    """
    return succeed(f(*args))


def hash_token(token: str) -> str:
    """
    How an API token is stored: SHA-256 in hex. Tokens are long random
    strings, so a fast hash is enough and lets the API look them up.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccountError(ValueError):
    """
    An account cannot be created or changed as asked.
    """


class Accounts:
    """
    Creating, resetting and checking admin accounts.

    @param store: Where accounts live.
    @param now: The current time.
    @param run_in_thread: Runs hashing off the reactor thread.
    @param hasher: The argon2id hasher (tests pass cheaper parameters).
    """

    def __init__(
        self,
        store: IAdminStore,
        now: Callable[[], datetime],
        run_in_thread: ThreadRunner = in_caller,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._store = store
        self._now = now
        self._run = run_in_thread
        self._hasher = hasher if hasher is not None else PasswordHasher()
        # Verified against when the name is unknown, so a login takes as
        # long for a wrong name as for a wrong password.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def now(self) -> datetime:
        """
        The current time, as accounts record it.
        """
        return self._now()

    async def set_password(
        self, name: str, password: str, role: AdminRole, tenant: str | None
    ) -> AdminAccount:
        """
        Create the account C{name}, or reset its password, role and tenant
        (enabling it again).

        @raise AccountError: For a short password or a role without tenant.
        """
        if not name or len(name) > 64 or not name.isprintable() or " " in name:
            raise AccountError("an account name is 1 to 64 printable characters, no spaces")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
        if (role == AdminRole.TENANT) != (tenant is not None):
            raise AccountError("a tenant admin needs a tenant; a global admin has none")
        hashed = await self._run(self._hasher.hash, password)
        now = self._now()
        existing = await self._store.get_account(name)
        if existing is None:
            account = AdminAccount(name, hashed, role, tenant, now, now)
        else:
            account = evolve(
                existing,
                password_hash=hashed,
                role=role,
                tenant=tenant,
                updated_at=now,
                disabled=False,
            )
        await self._store.put_account(account)
        return account

    async def issue_token(self, name: str) -> str:
        """
        Give C{name} a new API token (replacing any earlier one).

        @return: The token; only its hash is stored, so show it once.
        @raise AccountError: If there is no such account.
        """
        account = await self._store.get_account(name)
        if account is None:
            raise AccountError(f"no account {name!r}")
        token = "npa_" + secrets.token_urlsafe(32)
        await self._store.put_account(
            evolve(account, token_hash=hash_token(token), updated_at=self._now())
        )
        return token

    async def set_disabled(self, name: str, disabled: bool) -> AdminAccount:
        """
        Disable (or enable again) an account.

        @raise AccountError: If there is no such account.
        """
        account = await self._store.get_account(name)
        if account is None:
            raise AccountError(f"no account {name!r}")
        account = evolve(account, disabled=disabled, updated_at=self._now())
        await self._store.put_account(account)
        return account

    async def check_password(self, name: str, password: str) -> AdminAccount | None:
        """
        The account if C{password} is its password and it is enabled.
        """
        account = await self._store.get_account(name)
        stored = account.password_hash if account is not None else self._decoy
        try:
            ok: bool = await self._run(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or account is None or account.disabled:
            return None
        return account

    async def check_token(self, token: str) -> AdminAccount | None:
        """
        The enabled account whose API token C{token} is, if any.
        """
        account = await self._store.find_account_by_token(hash_token(token))
        if account is None or account.disabled:
            return None
        return account


def thread_runner(reactor: Any) -> ThreadRunner:
    """
    A L{ThreadRunner} on C{reactor}'s thread pool.
    """
    from twisted.internet.threads import deferToThreadPool

    def run(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)

    return run


def utc_now(clock: Any) -> Callable[[], datetime]:
    """
    "Now" from an C{IReactorTime}.
    """
    return lambda: datetime.fromtimestamp(clock.seconds(), UTC)
