# -*- test-case-name: tests.admin.test_portal -*-
"""
What every portal page shares: the one Klein app, the L{page} decorator
(session check, CSRF check on every POST, errors as pages), rendering with
Jinja2, form reading and pagination.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeAlias
from urllib.parse import urlencode

from attrs import frozen
from jinja2 import Environment, PackageLoader, select_autoescape
from klein import Klein
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from ...federation_health import FederationHealthBook
from ...interfaces import IStore
from ...storage.admin_records import IAdminStore
from ...storage.records import TenantRecord
from ..access import AdminAccess, AuditLog
from ..params import ApiError
from ..queries import active_tenants
from ..revocation import RevocationService
from ..sessions import Principal, Session

__all__ = ["PAGE_SIZE", "Page", "PortalBase", "PortalError", "page", "portal_app"]

log = Logger()

#: Rows per page of a paginated list.
PAGE_SIZE = 50

#: The portal's Klein app; the page classes share it.
portal_app = Klein()
portal_app.url_map.merge_slashes = False

_SECURITY_HEADERS = {
    b"content-security-policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
    b"x-content-type-options": b"nosniff",
    b"cache-control": b"no-store",
}

Handler: TypeAlias = Callable[..., Coroutine[Any, Any, bytes]]


class PortalError(Exception):
    """
    A request the portal refuses, shown as an error page.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


@frozen
class Page:
    """
    Where a paginated list stands.
    """

    number: int
    total: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        """
        The index of the first row shown.
        """
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        """
        How many pages there are (at least one).
        """
        return max(1, -(-self.total // self.size))

    def slice(self, rows: list[Any]) -> list[Any]:
        """
        This page's rows of C{rows}.
        """
        return rows[self.offset : self.offset + self.size]


def page(*, public: bool = False) -> Callable[[Handler], Callable[..., Deferred[bytes]]]:
    """
    Turn an C{async} page handler into a Klein route body: the session
    first (a visitor without one is sent to the login page), the CSRF
    token for every C{POST}, and errors as pages.
    """

    def decorate(handler: Handler) -> Callable[..., Deferred[bytes]]:
        @functools.wraps(handler)
        def route(self: PortalBase, request: IRequest, **kwargs: str) -> Deferred[bytes]:
            return Deferred.fromCoroutine(self._serve(request, handler, kwargs, public))

        return route

    return decorate


class PortalBase:
    """
    The portal's state and helpers.
    """

    _store: IStore
    _admin_store: IAdminStore
    _clock: IReactorTime
    _access: AdminAccess
    _audit: AuditLog
    _revocations: RevocationService
    _health: FederationHealthBook
    _templates: Environment
    _base: str
    _api_base: str = "/admin"

    def _init_base(self, base: str) -> None:
        self._base = base
        self._templates = Environment(
            loader=PackageLoader("nextplane.admin.portal", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def _serve(
        self, request: IRequest, handler: Handler, kwargs: dict[str, str], public: bool
    ) -> bytes:
        for name, value in _SECURITY_HEADERS.items():
            request.setHeader(name, value)
        try:
            session = self._access.session_of(request)
            if not public:
                if session is None:
                    if request.method == b"GET":
                        return self._redirect(request, "login")
                    raise PortalError(403, "Your session has ended; log in again.")
                if request.method not in (b"GET", b"HEAD"):
                    sent = self._form(request, "csrf_token") or None
                    if not self._access.sessions.csrf_ok(session, sent):
                        raise PortalError(
                            403, "This form is out of date (missing or wrong CSRF token)."
                        )
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            return await handler(self, request, session, **kwargs)
        except (PortalError, ApiError) as e:
            code = e.code
            message = e.message if isinstance(e, PortalError) else e.detail
        except CancelledError:
            raise
        except Exception:
            log.failure("portal request {path} failed", path=request.path)
            code, message = 500, "An unexpected error occurred; see the hub's log."
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self._render(
            request, self._access.session_of(request), "error.html", code=code, message=message
        )

    def _render(
        self, request: IRequest, session: Session | None, template_name: str, **values: Any
    ) -> bytes:
        template = self._templates.get_template(template_name)
        return template.render(
            base=self._base,
            api_base=self._api_base,
            session=session,
            principal=session.principal if session else None,
            csrf=session.csrf_token if session else "",
            path=request.path.decode("utf-8", "replace"),
            **values,
        ).encode("utf-8")

    def _render_list(
        self,
        request: IRequest,
        session: Session | None,
        template_name: str,
        rows: list[Any],
        **values: Any,
    ) -> bytes:
        """
        Render a paginated list: this page's C{rows} and C{page}.
        """
        shown = self._page_of(request, len(rows))
        return self._render(
            request, session, template_name, rows=shown.slice(rows), page=shown, **values
        )

    def _redirect(self, request: IRequest, where: str, **query: Any) -> bytes:
        shown = {k: v for k, v in query.items() if v not in (None, "")}
        url = f"{self._base}/{where}" + (f"?{urlencode(shown)}" if shown else "")
        request.redirect(url.encode("utf-8"))
        return b""

    @staticmethod
    def _form(request: IRequest, name: str) -> str:
        values = (request.args or {}).get(name.encode("ascii")) or [b""]
        return values[0].decode("utf-8", "replace").strip()

    @staticmethod
    def _page_of(request: IRequest, total: int) -> Page:
        raw = PortalBase._form(request, "page")
        number = int(raw) if raw.isdigit() and 0 < int(raw) < 10**6 else 1
        result = Page(number, total)
        return Page(min(number, result.pages), total)

    async def _tenants(self, principal: Principal) -> list[TenantRecord]:
        """
        The active tenants C{principal} may see.
        """
        tenants = await active_tenants(self._store, self._admin_store)
        return [t for t, _ in tenants if principal.can_see(t.domain)]

    async def _chosen_tenant(self, request: IRequest, principal: Principal) -> str | None:
        """
        The tenant a page is about: the C{tenant} parameter (checked
        against what C{principal} may see), a tenant admin's own, or for a
        global admin the first tenant.
        """
        wanted = self._form(request, "tenant").lower()
        visible = [t.domain for t in await self._tenants(principal)]
        if wanted:
            if wanted not in visible:
                raise PortalError(404, f"No tenant {wanted}.")
            return wanted
        if principal.tenant is not None:
            return principal.tenant
        return visible[0] if visible else None
