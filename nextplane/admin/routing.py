# -*- test-case-name: tests.admin.test_api -*-
"""
The admin API's Klein app and what every route shares: L{endpoint} (the
decorator that authenticates and turns errors into JSON) and
L{ApiContext} (the store, the principal's scope, the audit), which the
route classes of L{nextplane.admin.api} build on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeAlias

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.iweb import IRequest

from ..interfaces import IStore
from ..storage.admin_records import IAdminStore
from ..storage.records import TenantRecord
from .access import AdminAccess, AuditLog
from .params import ApiError, bad, not_found
from .revocation import RevocationService
from .sessions import Principal
from .views import Response

__all__ = ["ApiContext", "Handler", "app", "endpoint"]

#: The one Klein app of the admin API; the route classes share it.
app = Klein()
# A path with an empty segment is a 404, not a redirect to another
# resource, so every answer stays JSON.
app.url_map.merge_slashes = False

#: An C{async} route body: (self, request, principal, **path values).
Handler: TypeAlias = Callable[..., Coroutine[Any, Any, Response]]


def endpoint(*, public: bool = False) -> Callable[[Handler], Callable[..., Deferred[bytes]]]:
    """
    Turn an C{async} handler returning a L{Response} into a Klein route
    body: authentication first (unless C{public}; the handler then gets
    C{None} as principal), then JSON errors for L{ApiError} and a bare 500
    for anything else.
    """

    def decorate(handler: Handler) -> Callable[..., Deferred[bytes]]:
        @functools.wraps(handler)
        def route(self: Any, request: IRequest, **kwargs: str) -> Deferred[bytes]:
            return Deferred.fromCoroutine(self._serve(request, handler, kwargs, public))

        return route

    return decorate


class ApiContext:
    """
    What the route classes share: the stores, the revocation service, the
    audit and the principal's scope.
    """

    _store: IStore
    _admin_store: IAdminStore | None
    _clock: IReactorTime
    _access: AdminAccess
    _audit: AuditLog
    _revocations: RevocationService

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    async def _tenant(self, domain: str, principal: Principal | None = None) -> TenantRecord:
        """
        The tenant C{domain}; 404 when there is none or C{principal} may
        not see it (a tenant admin learns nothing of other tenants).
        """
        if principal is not None and not principal.can_see(domain):
            raise not_found(f"no tenant {domain}")
        tenant = await self._store.get_tenant(domain)
        if tenant is None:
            raise not_found(f"no tenant {domain}")
        return tenant

    @staticmethod
    def _scope(principal: Principal, tenant: str | None) -> str | None:
        """
        The tenant a listing is narrowed to: what was asked, or a tenant
        admin's own tenant.

        @raise ApiError: 403 if a tenant admin asks for another tenant.
        """
        if principal.is_global:
            return tenant
        if tenant is not None and tenant != principal.tenant:
            raise ApiError(403, "forbidden", f"you administer {principal.tenant} only")
        return principal.tenant

    @staticmethod
    def _need_global(principal: Principal) -> None:
        if not principal.is_global:
            raise ApiError(403, "forbidden", "only a global admin may do this")

    @staticmethod
    def _in_scope(principal: Principal, domain: str, name: str) -> None:
        if not principal.can_see(domain):
            raise bad(f"{name}: not of your tenant {principal.tenant}")
