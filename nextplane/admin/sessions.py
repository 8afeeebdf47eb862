# -*- test-case-name: tests.admin.test_sessions -*-
"""
Portal sessions and login throttling, in memory.

A session is created only by a successful login, under a new random id,
so a session id planted before login is worthless (no fixation). It ends
at logout, after C{idle} seconds without a request, or C{lifetime} seconds
after login. Each session has its own CSRF token, which every
state-changing request made with the session cookie must carry.

Sessions live in memory: a restart logs everyone out, which is fine.
"""

from __future__ import annotations

import hmac
import secrets

from attrs import define, frozen
from cachetools import TTLCache
from twisted.internet.interfaces import IReactorTime

from ..storage.admin_records import AdminRole

__all__ = ["LoginThrottle", "Principal", "Session", "SessionBook"]


@frozen
class Principal:
    """
    Who is making a request, and what they may see.

    @ivar name: The account name, or C{"token"} for the configured token.
    @ivar role: Global or tenant admin.
    @ivar tenant: A tenant admin's tenant.
    @ivar via: C{"session"} or C{"token"}.
    """

    name: str
    role: AdminRole
    tenant: str | None
    via: str = "session"

    @property
    def is_global(self) -> bool:
        """
        Whether this principal sees every tenant.
        """
        return self.role == AdminRole.GLOBAL

    def can_see(self, tenant: str | None) -> bool:
        """
        Whether this principal may see and change C{tenant}.
        """
        return self.is_global or (tenant is not None and tenant == self.tenant)


@define
class Session:
    """
    One logged-in browser.
    """

    session_id: str
    csrf_token: str
    principal: Principal
    started: float
    last_seen: float
    source: str


class SessionBook:
    """
    The live sessions.

    @param clock: For idle and lifetime expiry.
    @param idle: Seconds without a request after which a session ends.
    @param lifetime: Seconds after login after which a session ends.
    """

    def __init__(self, clock: IReactorTime, idle: float = 1800.0, lifetime: float = 43200.0):
        self._clock = clock
        self._idle = idle
        self._lifetime = lifetime
        self._sessions: dict[str, Session] = {}

    def start(self, principal: Principal, source: str) -> Session:
        """
        A new session for C{principal}, under a fresh id.
        """
        now = self._clock.seconds()
        self._expire(now)
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), principal, now, now, source
        )
        self._sessions[session.session_id] = session
        return session

    def find(self, session_id: str) -> Session | None:
        """
        The live session C{session_id}, its idle timer restarted; C{None}
        if there is none or it expired.
        """
        now = self._clock.seconds()
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now - session.last_seen > self._idle or now - session.started > self._lifetime:
            del self._sessions[session_id]
            return None
        session.last_seen = now
        return session

    def end(self, session_id: str) -> None:
        """
        Log the session out.
        """
        self._sessions.pop(session_id, None)

    def end_all(self, name: str) -> None:
        """
        End every session of account C{name} (its password was reset).
        """
        for key in [k for k, s in self._sessions.items() if s.principal.name == name]:
            del self._sessions[key]

    @staticmethod
    def csrf_ok(session: Session, token: str | None) -> bool:
        """
        Whether C{token} is C{session}'s CSRF token.
        """
        return token is not None and hmac.compare_digest(
            session.csrf_token.encode(), token.encode("utf-8", "replace")
        )

    def _expire(self, now: float) -> None:
        for key in [
            k
            for k, s in self._sessions.items()
            if now - s.last_seen > self._idle or now - s.started > self._lifetime
        ]:
            del self._sessions[key]


class LoginThrottle:
    """
    Counts failed logins per account and per client address in a window,
    and refuses further attempts once either passes its limit.

    @param per_account: Failures allowed per account in the window.
    @param per_address: Failures allowed per address in the window.
    @param window: Seconds a failure counts for.
    """

    def __init__(
        self,
        clock: IReactorTime,
        per_account: int = 5,
        per_address: int = 20,
        window: float = 900.0,
    ) -> None:
        self._per_account = per_account
        self._per_address = per_address
        self._accounts: TTLCache[str, int] = TTLCache(10_000, window, timer=clock.seconds)
        self._addresses: TTLCache[str, int] = TTLCache(10_000, window, timer=clock.seconds)

    def allowed(self, name: str, address: str) -> bool:
        """
        Whether a login for C{name} from C{address} may be tried now.
        """
        return (
            self._accounts.get(name.lower(), 0) < self._per_account
            and self._addresses.get(address, 0) < self._per_address
        )

    def failed(self, name: str, address: str) -> None:
        """
        Count a failed login (the window restarts with each failure).
        """
        key = name.lower()
        self._accounts[key] = self._accounts.get(key, 0) + 1
        self._addresses[address] = self._addresses.get(address, 0) + 1

    def succeeded(self, name: str) -> None:
        """
        Forget the account's failures after a good login.
        """
        self._accounts.pop(name.lower(), None)
