# -*- test-case-name: tests.admin.test_api -*-
"""
The admin API: a Klein class app the composition root mounts at C{/admin/}
on the admin listener.

Routes (relative to the mount, so the public paths are C{/admin/...}):

  - C{GET /openapi.json}: the OpenAPI document (no authentication);
  - C{GET /api/me}: who is asking;
  - tenants, users and policies (L{nextplane.admin.api_tenants});
  - contacts and revocation (L{nextplane.admin.api_contacts});
  - the metadata trace, usage by day and month, the audit
    (L{nextplane.admin.api_trace}).

Everything under C{/api/} needs C{Authorization: Bearer <token>} (the
configured C{[web] admin_token}, or an account's API token) or a portal
session cookie (see L{nextplane.admin.access}); a tenant admin sees and
changes only their own tenant. Responses are JSON (errors as
C{{"error": ..., "detail": ...}}) except the CSV exports. Bad input is a
400 naming the parameter, never a 500; an unexpected exception is a 500
that reveals nothing of the hub's internals (it is logged instead).

The store keeps no message content, and nothing here adds any: the API
only ever shows records, policies and aggregates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import CancelledError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..contacts import ContactBook
from ..interfaces import IStore
from ..storage.admin import admin_store_for
from ..storage.admin_records import IAdminStore
from .access import AdminAccess, AuditLog
from .api_contacts import ContactRoutes
from .api_tenants import TenantRoutes
from .api_trace import TraceRoutes
from .openapi import build_openapi
from .params import ApiError, QueryParams, not_found, parse_domain_pattern
from .revocation import (
    PolicyChange,
    PolicyListener,
    Revocation,
    RevocationListener,
    RevocationService,
)
from .routing import Handler, app, endpoint
from .sessions import LoginThrottle, Principal, SessionBook
from .views import Response, error_response, json_response

__all__ = [
    "AdminAPI",
    "PolicyChange",
    "PolicyListener",
    "Revocation",
    "RevocationListener",
    "parse_domain_pattern",
]

log = Logger()


class AdminAPI(TenantRoutes, ContactRoutes, TraceRoutes):
    """
    The admin API over an L{IStore}.

    @param store: Where tenants, users, contacts, policies, the metadata log
        and usage live.
    @param token: The bearer token (C{[web] admin_token}); without it and
        without C{access}, every API request is refused with 401.
    @param clock: For "now": revocation times and the default usage period.
    @param on_revoke: L{RevocationListener}s called after each revocation.
    @param on_policy_change: L{PolicyListener}s called after each change of
        a tenant's domain rules (revocations of a domain notify the
        revocation listeners instead).
    @param base_path: Where the composition root mounts L{resource}; only
        used as the server URL in the OpenAPI document.
    @param listener_timeout: Seconds to wait for a listener's Deferred
        before answering anyway (the failure is logged).
    @param admin_store: Accounts, audit, tenant states and usage facts.
    @param access: Authentication (token, accounts, sessions); by default
        the token alone.
    @param revocations: The revocation service shared with the portal.
    @param contacts: The hub's contact book, through which revocations
        change contacts.
    """

    app = app

    def __init__(
        self,
        store: IStore,
        token: str | None,
        clock: IReactorTime,
        on_revoke: Sequence[RevocationListener] = (),
        *,
        on_policy_change: Sequence[PolicyListener] = (),
        base_path: str = "/admin",
        listener_timeout: float = 30.0,
        admin_store: IAdminStore | None = None,
        access: AdminAccess | None = None,
        revocations: RevocationService | None = None,
        contacts: ContactBook | None = None,
    ) -> None:
        self._store = store
        self._admin_store = admin_store if admin_store is not None else admin_store_for(store)
        self._clock = clock
        self._access = access or AdminAccess(token, None, SessionBook(clock), LoginThrottle(clock))
        self._audit = AuditLog(self._admin_store, self._now)
        self._revocations = revocations or RevocationService(
            store, clock, on_revoke, on_policy_change, listener_timeout, contacts
        )
        self._openapi = (
            json.dumps(build_openapi(base_path), indent=2, sort_keys=True).encode("utf-8") + b"\n"
        )

    @property
    def revocations(self) -> RevocationService:
        """
        The revocation service (the portal and platform commands share it).
        """
        return self._revocations

    def resource(self) -> IResource:
        """
        The resource to mount, e.g. C{web_app.mount("admin", api.resource())}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    def add_revocation_listener(self, listener: RevocationListener) -> None:
        """
        Call C{listener} after every later revocation too.
        """
        self._revocations.add_revocation_listener(listener)

    def add_policy_listener(self, listener: PolicyListener) -> None:
        """
        Call C{listener} after every later change of a domain rule too.
        """
        self._revocations.add_policy_listener(listener)

    # -- plumbing

    async def _serve(
        self, request: IRequest, handler: Handler, kwargs: dict[str, str], public: bool
    ) -> bytes:
        try:
            principal = None if public else await self._access.authenticate(request)
            response = await handler(self, request, principal, **kwargs)
        except ApiError as e:
            response = error_response(e)
        except CancelledError:
            raise  # the client went away; there is no one to answer
        except Exception:
            log.failure(
                "admin API request {method} {path} failed",
                method=request.method,
                path=request.path,
            )
            response = error_response(
                ApiError(500, "internal-error", "an unexpected error occurred; see the hub's log")
            )
        return self._write(request, response)

    def _write(self, request: IRequest, response: Response) -> bytes:
        request.setResponseCode(response.code)
        request.setHeader(b"content-type", response.content_type.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        for name, value in response.headers.items():
            request.setHeader(name.encode("ascii"), value.encode("utf-8"))
        return response.body

    @app.handle_errors(HTTPException)
    def _routing_error(self, request: IRequest, failure: Failure) -> Any:
        """
        No route for the path (404) or method (405), as JSON; under C{/api/}
        authentication comes first, so unauthenticated callers learn
        nothing about which paths exist.
        """
        from twisted.internet.defer import Deferred

        return Deferred.fromCoroutine(self._routing_answer(request, failure.value))

    async def _routing_answer(self, request: IRequest, error: Any) -> bytes:
        try:
            if list(request.postpath or ())[:1] == [b"api"]:
                await self._access.authenticate(request)
            if isinstance(error, MethodNotAllowed):
                allowed = sorted(set(error.valid_methods or ()))
                raise ApiError(
                    405,
                    "method-not-allowed",
                    f"{request.method.decode('ascii', 'replace')} is not allowed here; "
                    f"use {', '.join(allowed)}",
                    {"Allow": ", ".join(allowed)},
                )
            raise not_found("no such resource in the admin API")
        except ApiError as e:
            return self._write(request, error_response(e))

    @app.handle_errors(Exception)
    def _unexpected_error(self, request: IRequest, failure: Failure) -> bytes:
        log.failure("admin API routing failed", failure=failure)
        return self._write(
            request,
            error_response(
                ApiError(500, "internal-error", "an unexpected error occurred; see the hub's log")
            ),
        )

    # -- routes

    @app.route("/openapi.json", methods=["GET"])
    @endpoint(public=True)
    async def openapi_document(self, request: IRequest, principal: None) -> Response:
        """
        The OpenAPI document describing this API (query parameters such as
        cache busters are ignored).
        """
        return Response(200, self._openapi)

    @app.route("/api/me", methods=["GET"])
    @endpoint()
    async def me(self, request: IRequest, principal: Principal) -> Response:
        """
        Who is asking: name, role, tenant and how they authenticated.
        """
        QueryParams(request).finish()
        return json_response(
            {
                "name": principal.name,
                "role": principal.role.value,
                "tenant": principal.tenant,
                "via": principal.via,
            }
        )
