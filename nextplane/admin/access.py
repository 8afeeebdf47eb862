# -*- test-case-name: tests.admin.test_access -*-
"""
Who is asking: the bearer token of scripts or the session cookie of the
portal, turned into a L{Principal}, with the CSRF check for state changes
made with a cookie; and the audit trail of what admins did.

Scripts send C{Authorization: Bearer <token>}: the configured
C{[web] admin_token} is a global admin, an account's API token carries the
account's role. Browsers send the session cookie (HttpOnly,
SameSite=Strict, Secure over TLS) and, for every C{POST}, C{PUT} or
C{DELETE}, the session's CSRF token in C{X-CSRF-Token} or a C{csrf_token}
form field.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

from twisted.logger import Logger
from twisted.web.iweb import IRequest

from ..storage.admin_records import AdminRole, AuditRecord, IAdminStore
from .accounts import Accounts
from .params import ApiError
from .sessions import LoginThrottle, Principal, Session, SessionBook

__all__ = ["SESSION_COOKIE", "AdminAccess", "AuditLog", "client_address"]

log = Logger()

#: The name of the portal's session cookie.
SESSION_COOKIE = b"nextplane_admin"
_CHALLENGE = 'Bearer realm="nextplane admin"'
_SAFE_METHODS = (b"GET", b"HEAD", b"OPTIONS")


def client_address(request: IRequest) -> str:
    """
    The client's address as the audit and the throttle see it.
    """
    peer = request.getClientAddress()
    return str(getattr(peer, "host", None) or "unknown")


def _unauthorized(detail: str, error: str | None = None) -> ApiError:
    challenge = _CHALLENGE + (f', error="{error}"' if error else "")
    return ApiError(401, "unauthorized", detail, {"WWW-Authenticate": challenge})


def _set_cookie(request: IRequest, value: bytes, max_age: int | None = None) -> None:
    # HttpOnly: no script reads it; SameSite=Strict: no other site's page
    # sends it; Secure whenever the admin listener speaks TLS.
    add: Any = request.addCookie  # IRequest's stub lacks the keyword arguments
    add(
        SESSION_COOKIE,
        value,
        path=b"/",
        httpOnly=True,
        secure=request.isSecure(),
        sameSite="strict",
        **({"max_age": str(max_age).encode("ascii")} if max_age is not None else {}),
    )


class AdminAccess:
    """
    Authenticates admin requests and keeps the portal's sessions.

    @param token: The configured bearer token of a global admin, if any.
    @param accounts: Admin accounts (passwords, API tokens), if any.
    @param sessions: The live portal sessions.
    @param throttle: Counts failed logins.
    """

    def __init__(
        self,
        token: str | None,
        accounts: Accounts | None,
        sessions: SessionBook,
        throttle: LoginThrottle,
    ) -> None:
        self._token = token.encode("utf-8") if token else None
        self.accounts = accounts
        self.sessions = sessions
        self.throttle = throttle

    async def authenticate(self, request: IRequest) -> Principal:
        """
        The principal making C{request}.

        @raise ApiError: 401 without valid credentials, 403 for a state
            change made with the session cookie but without its CSRF token.
        """
        header = request.getHeader(b"authorization")
        if header is not None:
            return await self._bearer(header)
        session = self.session_of(request)
        if session is None:
            if self._token is None and self.accounts is None:
                raise _unauthorized("the admin API is disabled: no admin token is configured")
            raise _unauthorized("send Authorization: Bearer <admin token>, or log in")
        if request.method not in _SAFE_METHODS:
            header = request.getHeader(b"x-csrf-token")
            if header is None:
                header = ((request.args or {}).get(b"csrf_token") or [b""])[0]
            sent = header.decode("utf-8", "replace") if isinstance(header, bytes) else header
            if not self.sessions.csrf_ok(session, sent):
                raise ApiError(403, "forbidden", "a state change needs the session's CSRF token")
        return session.principal

    async def _bearer(self, header: str | bytes) -> Principal:
        if self._token is None and self.accounts is None:
            raise _unauthorized("the admin API is disabled: no admin token is configured")
        raw = header if isinstance(header, bytes) else header.encode("utf-8")
        scheme, _, credentials = raw.strip().partition(b" ")
        credentials = credentials.strip()
        if scheme.lower() == b"bearer":
            if self._token is not None and hmac.compare_digest(credentials, self._token):
                return Principal("token", AdminRole.GLOBAL, None, "token")
            if self.accounts is not None and credentials.startswith(b"npa_"):
                account = await self.accounts.check_token(credentials.decode("ascii", "replace"))
                if account is not None:
                    return Principal(account.name, account.role, account.tenant, "token")
        raise _unauthorized("the bearer token is wrong", "invalid_token")

    def session_of(self, request: IRequest) -> Session | None:
        """
        The live session whose cookie C{request} carries, if any.
        """
        cookie = request.getCookie(SESSION_COOKIE)
        if not cookie:
            return None
        return self.sessions.find(cookie.decode("ascii", "replace"))

    async def login(self, request: IRequest, name: str, password: str) -> Session | str:
        """
        Check C{name} and C{password}; on success end any session the
        request came with and start a new one (its cookie set on the
        response).

        @return: The new session, or why the login failed, in words.
        """
        source = client_address(request)
        if self.accounts is None:
            return "no admin accounts are configured"
        if not self.throttle.allowed(name, source):
            return "too many failed logins; wait 15 minutes and try again"
        account = await self.accounts.check_password(name, password)
        if account is None:
            self.throttle.failed(name, source)
            return "wrong name or password"
        self.throttle.succeeded(name)
        # Never adopt the session id the browser came with (fixation).
        self._end_session(request)
        principal = Principal(account.name, account.role, account.tenant, "session")
        session = self.sessions.start(principal, source)
        _set_cookie(request, session.session_id.encode("ascii"))
        return session

    def _end_session(self, request: IRequest) -> bool:
        cookie = request.getCookie(SESSION_COOKIE)
        if cookie:
            self.sessions.end(cookie.decode("ascii", "replace"))
        return bool(cookie)

    def logout(self, request: IRequest) -> None:
        """
        End the request's session, if any, and clear its cookie.
        """
        if self._end_session(request):
            _set_cookie(request, b"", max_age=0)


class AuditLog:
    """
    Records admin actions: who, when, what, from where; never content.
    """

    def __init__(self, store: IAdminStore | None, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now

    async def record(
        self,
        principal: Principal,
        request: IRequest,
        action: str,
        target: str,
        tenant: str | None,
        detail: str = "",
    ) -> None:
        """
        Append one record; a storage failure is logged, not raised, since
        the action itself already happened.
        """
        if self._store is None:
            return
        record = AuditRecord(
            self._now(), principal.name, action, target, tenant, client_address(request), detail
        )
        try:
            await self._store.append_audit(record)
        except Exception:
            log.failure("recording the audit of {action} failed", action=action)
