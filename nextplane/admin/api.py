# -*- test-case-name: tests.admin.test_api -*-
"""
The admin API: a Klein class app the composition root mounts at C{/admin/}.

Routes (relative to the mount, so the public paths are C{/admin/...}):

  - C{GET /openapi.json}: the OpenAPI document (no authentication);
  - C{GET /api/tenants}, C{GET /api/tenants/{domain}/users},
    C{GET|PUT /api/tenants/{domain}/policy};
  - C{GET /api/tenants/{domain}/domains},
    C{PUT|DELETE /api/tenants/{domain}/domains/{pattern}};
  - C{GET /api/users/{address}}, C{PUT /api/users/{address}/policy};
  - C{GET /api/contacts}; C{POST /api/revoke};
  - C{GET /api/metadata} (JSON, or CSV with C{Accept: text/csv} or
    C{format=csv}); C{GET /api/usage}.

Everything under C{/api/} needs C{Authorization: Bearer <token>} with the
configured C{[web] admin_token}; without a configured token the API refuses
every request. Responses are JSON (errors as C{{"error": ..., "detail":
...}}) except the CSV export. Bad input is a 400 naming the parameter,
never a 500; an unexpected exception is a 500 that reveals nothing of the
hub's internals (it is logged instead).

The store keeps no message content, and nothing here adds any: the API
only ever shows records, policies and aggregates.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeAlias
from urllib.parse import parse_qs

from attrs import evolve, field, frozen
from klein import Klein
from twisted.internet.defer import CancelledError, Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import parse_accept_header

from ..interfaces import IStore
from ..model.address import Address, ChatSessionId, InvalidAddress, validate_domain
from ..model.events import Category
from ..policy import pattern_matches
from ..storage.records import (
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
    FederationMode,
    MetadataQuery,
    MetadataRecord,
    TenantPolicy,
    TenantRecord,
    UsageRow,
    UserPolicy,
    UserRecord,
)
from .csvexport import metadata_csv
from .openapi import build_openapi

__all__ = [
    "AdminAPI",
    "PolicyChange",
    "PolicyListener",
    "Revocation",
    "RevocationListener",
    "parse_domain_pattern",
]

log = Logger()

#: Largest request body accepted, in bytes; admin requests are tiny.
MAX_BODY = 64 * 1024
#: Largest page of metadata records or contacts in one response.
MAX_LIMIT = 100_000

# Left out of a domain revocation: every tenant (an explicit null is refused).
_ALL_TENANTS = object()
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_GROUP_FIELDS = ("tenant", "remote_domain", "platform")
_MAX_PARAMETERS = 50


@frozen
class Revocation:
    """
    What one C{POST /api/revoke} revoked, for L{RevocationListener}s (so
    connectors can close live sessions and drop queued deliveries).

    @ivar scope: C{"contact"}, C{"user"} or C{"domain"}.
    @ivar contacts: The contacts this request changed to C{revoked}, as
        stored now.
    @ivar user: For C{scope="user"}, the hub user whose federation was
        turned off; for C{scope="contact"}, the contact's owner.
    @ivar external: For C{scope="contact"}, the revoked external address.
    @ivar domain: For C{scope="domain"}, the remote domain or pattern
        (C{*.example.com}) now blocked.
    @ivar tenants: The tenants concerned.
    """

    scope: str
    contacts: tuple[ContactRecord, ...] = ()
    user: Address | None = None
    external: Address | None = None
    domain: str | None = None
    tenants: tuple[str, ...] = ()


#: Called with each L{Revocation} once the store reflects it; may return a
#: Deferred, which the API waits for (with a timeout) before answering.
RevocationListener: TypeAlias = Callable[[Revocation], "Deferred[Any] | None"]


@frozen
class PolicyChange:
    """
    A tenant's remote-domain rule changed through
    C{PUT|DELETE /api/tenants/{domain}/domains/{pattern}}, for
    L{PolicyListener}s (so connectors that cache the rules, e.g. to refuse
    streams of blocked domains, reload them at once).

    @ivar tenant: The tenant whose rules changed.
    @ivar pattern: The remote domain or C{*.domain} pattern.
    @ivar action: The rule's new action, or C{None} when it was removed.
    """

    tenant: str
    pattern: str
    action: DomainAction | None


#: Called with each L{PolicyChange} once the store reflects it; may return
#: a Deferred, which the API waits for (with a timeout) before answering.
PolicyListener: TypeAlias = Callable[[PolicyChange], "Deferred[Any] | None"]


class ApiError(Exception):
    """
    A request the API refuses: becomes a JSON error response.

    @ivar code: The HTTP status.
    @ivar error: A short machine-readable name, e.g. C{bad-request}.
    @ivar detail: What was wrong, in words; never internals.
    """

    def __init__(
        self, code: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code, error, detail)
        self.code = code
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def _bad(detail: str) -> ApiError:
    return ApiError(400, "bad-request", detail)


def _not_found(detail: str) -> ApiError:
    return ApiError(404, "not-found", detail)


@frozen
class _Response:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(factory=dict)


def _json(value: Any, code: int = 200) -> _Response:
    return _Response(code, json.dumps(value, sort_keys=True).encode("utf-8") + b"\n")


def _error_response(error: ApiError) -> _Response:
    response = _json({"error": error.error, "detail": error.detail}, error.code)
    return evolve(response, headers=dict(error.headers))


# -- input validation --------------------------------------------------------


def _address(value: str, name: str) -> Address:
    try:
        return Address.parse(value)
    except (InvalidAddress, ValueError) as e:
        raise _bad(f"{name}: {e}") from None


def _domain(value: str, name: str) -> str:
    try:
        return validate_domain(value)
    except (InvalidAddress, ValueError) as e:
        raise _bad(f"{name}: {e}") from None


def parse_domain_pattern(value: str) -> str:
    """
    Validate and normalise a domain rule pattern: an exact domain
    (C{widget.test}) or a wildcard for every subdomain (C{*.widget.test};
    C{*.test} covers a whole top-level domain).

    @return: The pattern in lower case.
    @raise ValueError: With a message saying what a pattern may be.
    """
    hint = "a pattern is an exact domain (widget.example) or *. and a domain (*.example.com)"
    if value.startswith("*."):
        suffix = value[2:]
        if suffix.startswith("*") or not suffix:
            raise ValueError(f"malformed domain pattern {value!r}: {hint}")
        try:
            # A suffix of one label (a top-level domain) is allowed, which
            # validate_domain alone would refuse: give it a label to check.
            checked = validate_domain(f"x.{suffix}")[2:]
        except (InvalidAddress, ValueError):
            raise ValueError(f"malformed domain pattern {value!r}: {hint}") from None
        return f"*.{checked}"
    if "*" in value:
        raise ValueError(f"malformed domain pattern {value!r}: {hint}")
    try:
        return validate_domain(value)
    except (InvalidAddress, ValueError):
        raise ValueError(f"malformed domain pattern {value!r}: {hint}") from None


def _pattern(value: str, name: str) -> str:
    try:
        return parse_domain_pattern(value)
    except ValueError as e:
        raise _bad(f"{name}: {e}") from None


def _timestamp(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
        # Times without an offset are UTC, like every time the hub records.
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _bad(
            f"{name}: not an ISO 8601 date or time: {value!r} "
            "(e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(f"{name}: not an ISO 8601 date: {value!r} (e.g. 2026-11-01)") from None


class _Query:
    """
    The query string of a request, read one named parameter at a time; an
    unknown or repeated parameter is refused by L{finish}.
    """

    def __init__(self, request: IRequest) -> None:
        # From the URI itself: request.args also holds form fields of a
        # body, which are not query parameters.
        query = request.uri.partition(b"?")[2].partition(b"#")[0]
        try:
            self._values = parse_qs(
                query.decode("utf-8"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=_MAX_PARAMETERS,
            )
        except UnicodeDecodeError:
            raise _bad("the query string is not valid UTF-8") from None
        except ValueError:
            raise _bad(f"too many query parameters (at most {_MAX_PARAMETERS})") from None
        self._read: set[str] = set()

    def text(self, name: str) -> str | None:
        """
        The one value of C{name}, or C{None} if absent.
        """
        self._read.add(name)
        values = self._values.get(name)
        if values is None:
            return None
        if len(values) != 1:
            raise _bad(f"{name}: given {len(values)} times; give it at most once")
        if not values[0]:
            raise _bad(f"{name}: must not be empty (leave the parameter out instead)")
        if len(values[0]) > 1024:
            raise _bad(f"{name}: too long")
        return values[0]

    def address(self, name: str) -> Address | None:
        value = self.text(name)
        return None if value is None else _address(value, name)

    def domain(self, name: str) -> str | None:
        value = self.text(name)
        return None if value is None else _domain(value, name)

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        value = self.text(name)
        if value is not None and value not in choices:
            raise _bad(f"{name}: must be one of {', '.join(choices)}, not {value!r}")
        return value

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not value.isascii() or not value.isdigit():
            raise _bad(f"{name}: must be a whole number from {minimum} to {maximum}")
        number = int(value)
        if not minimum <= number <= maximum:
            raise _bad(f"{name}: must be a whole number from {minimum} to {maximum}")
        return number

    def timestamp(self, name: str) -> datetime | None:
        value = self.text(name)
        return None if value is None else _timestamp(value, name)

    def day(self, name: str) -> date | None:
        value = self.text(name)
        return None if value is None else _day(value, name)

    def finish(self) -> None:
        """
        @raise ApiError: If the request had a parameter nobody read.
        """
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise _bad(f"unknown query parameter {unknown[0]!r} (known: {known})")


def _reject_nan(value: str) -> Any:
    raise ValueError(f"{value} is not allowed")


def _read_body(request: IRequest) -> dict[str, Any]:
    """
    The request body as a JSON object.

    @raise ApiError: 413 if too large, 400 if not a JSON object.
    """
    content = request.content
    body = content.read(MAX_BODY + 1) if content is not None else b""
    if len(body) > MAX_BODY:
        raise ApiError(413, "payload-too-large", f"the body must be at most {MAX_BODY} bytes")
    if not body.strip():
        raise _bad("the request needs a JSON object as its body")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_nan)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _bad(f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise _bad("the body must be a JSON object")
    return value


def _only_keys(body: dict[str, Any], allowed: Sequence[str], where: str = "body") -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _bad(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(allowed)})")


def _boolean(body: dict[str, Any], name: str) -> bool:
    if name not in body:
        raise _bad(f"{name}: required field is missing")
    value = body[name]
    if not isinstance(value, bool):
        raise _bad(f"{name}: must be true or false")
    return value


def _string(body: dict[str, Any], name: str, where: str = "") -> str:
    label = f"{where}.{name}" if where else name
    if name not in body:
        raise _bad(f"{label}: required field is missing")
    value = body[name]
    if not isinstance(value, str):
        raise _bad(f"{label}: must be a string")
    return value


# -- JSON shapes -------------------------------------------------------------


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _tenant_json(tenant: TenantRecord) -> dict[str, Any]:
    return {
        "domain": tenant.domain,
        "platform": tenant.platform,
        "workspace": tenant.workspace,
        "display_name": tenant.display_name,
    }


def _user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "address": str(user.address),
        "tenant": user.tenant,
        "platform": user.platform,
        "platform_id": user.platform_id,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "title": user.title,
    }


def _tenant_policy_json(policy: TenantPolicy) -> dict[str, Any]:
    return {
        "tenant": policy.tenant,
        "federation": policy.federation.value,
        "files": policy.files,
        "presence": policy.presence,
        "channel_invites": policy.channel_invites,
    }


def _contact_json(contact: ContactRecord) -> dict[str, Any]:
    return {
        "owner": str(contact.owner),
        "external": str(contact.external),
        "state": contact.state.value,
        "direction": contact.direction.value,
        "created_at": _time(contact.created_at),
        "updated_at": _time(contact.updated_at),
    }


def _rule_json(rule: DomainPolicy) -> dict[str, Any]:
    return {"tenant": rule.tenant, "pattern": rule.pattern, "action": rule.action.value}


def _metadata_json(record: MetadataRecord) -> dict[str, Any]:
    return {
        "id": record.record_id,
        "time": _time(record.timestamp),
        "sender": record.sender,
        "receiver": record.receiver,
        "type": record.category,
        "kind": record.kind,
        "session_id": record.session_id,
        "decision": record.decision.value,
        "reason": record.reason,
        "tenant": record.tenant,
        "remote_domain": record.remote_domain,
        "platform": record.platform,
    }


def _usage_json(row: UsageRow, group_by: Sequence[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "day": row.day.isoformat(),
        "unique_users": row.unique_users,
        "messages": row.messages,
    }
    for name in group_by:
        shown[name] = getattr(row, name)
    return shown


# -- the app -----------------------------------------------------------------

_Handler: TypeAlias = Callable[..., Coroutine[Any, Any, _Response]]


def _endpoint(*, public: bool = False) -> Callable[[_Handler], Callable[..., Deferred[bytes]]]:
    """
    Turn an C{async} handler returning a L{_Response} into a Klein route
    body: authentication first (unless C{public}), then JSON errors for
    L{ApiError} and a bare 500 for anything else.
    """

    def decorate(handler: _Handler) -> Callable[..., Deferred[bytes]]:
        @functools.wraps(handler)
        def endpoint(self: AdminAPI, request: IRequest, **kwargs: str) -> Deferred[bytes]:
            return Deferred.fromCoroutine(self._serve(request, handler, kwargs, public))

        return endpoint

    return decorate


class AdminAPI:
    """
    The admin API over an L{IStore}.

    @param store: Where tenants, users, contacts, policies, the metadata log
        and usage live.
    @param token: The bearer token (C{[web] admin_token}); C{None} refuses
        every API request with 401.
    @param clock: For "now": revocation times and the default usage period.
    @param on_revoke: L{RevocationListener}s called after each revocation.
    @param on_policy_change: L{PolicyListener}s called after each change of
        a tenant's domain rules (revocations of a domain notify the
        revocation listeners instead).
    @param base_path: Where the composition root mounts L{resource}; only
        used as the server URL in the OpenAPI document.
    @param listener_timeout: Seconds to wait for a listener's Deferred
        before answering anyway (the failure is logged).
    """

    app = Klein()
    # A path with an empty segment is a 404, not a redirect to another
    # resource, so every answer stays JSON.
    app.url_map.merge_slashes = False

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
    ) -> None:
        self._store = store
        self._token = token.encode("utf-8") if token else None
        self._clock = clock
        self._listeners = list(on_revoke)
        self._policy_listeners = list(on_policy_change)
        self._listener_timeout = listener_timeout
        self._openapi = (
            json.dumps(build_openapi(base_path), indent=2, sort_keys=True).encode("utf-8") + b"\n"
        )

    def resource(self) -> IResource:
        """
        The resource to mount, e.g. C{web_app.mount("admin", api.resource())}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    def add_revocation_listener(self, listener: RevocationListener) -> None:
        """
        Call C{listener} after every later revocation too.
        """
        self._listeners.append(listener)

    def add_policy_listener(self, listener: PolicyListener) -> None:
        """
        Call C{listener} after every later change of a domain rule too.
        """
        self._policy_listeners.append(listener)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    # -- plumbing

    def _check_auth(self, request: IRequest) -> None:
        challenge = 'Bearer realm="nextplane admin"'
        header = request.getHeader(b"authorization")
        if self._token is None:
            raise ApiError(
                401,
                "unauthorized",
                "the admin API is disabled: no admin token is configured",
                {"WWW-Authenticate": challenge},
            )
        if not header:
            raise ApiError(
                401,
                "unauthorized",
                "send Authorization: Bearer <admin token>",
                {"WWW-Authenticate": challenge},
            )
        raw = header if isinstance(header, bytes) else header.encode("utf-8")
        scheme, _, credentials = raw.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials.strip(), self._token):
            raise ApiError(
                401,
                "unauthorized",
                "the bearer token is wrong",
                {"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
            )

    async def _serve(
        self, request: IRequest, handler: _Handler, kwargs: dict[str, str], public: bool
    ) -> bytes:
        try:
            if not public:
                self._check_auth(request)
            response = await handler(self, request, **kwargs)
        except ApiError as e:
            response = _error_response(e)
        except CancelledError:
            raise  # the client went away; there is no one to answer
        except Exception:
            log.failure(
                "admin API request {method} {path} failed",
                method=request.method,
                path=request.path,
            )
            response = _error_response(
                ApiError(500, "internal-error", "an unexpected error occurred; see the hub's log")
            )
        return self._write(request, response)

    def _write(self, request: IRequest, response: _Response) -> bytes:
        request.setResponseCode(response.code)
        request.setHeader(b"content-type", response.content_type.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        for name, value in response.headers.items():
            request.setHeader(name.encode("ascii"), value.encode("utf-8"))
        return response.body

    @app.handle_errors(HTTPException)
    def _routing_error(self, request: IRequest, failure: Failure) -> bytes:
        """
        No route for the path (404) or method (405), as JSON; under C{/api/}
        authentication comes first, so unauthenticated callers learn
        nothing about which paths exist.
        """
        error = failure.value
        try:
            if list(request.postpath or ())[:1] == [b"api"]:
                self._check_auth(request)
            if isinstance(error, MethodNotAllowed):
                allowed = sorted(set(error.valid_methods or ()))
                raise ApiError(
                    405,
                    "method-not-allowed",
                    f"{request.method.decode('ascii', 'replace')} is not allowed here; "
                    f"use {', '.join(allowed)}",
                    {"Allow": ", ".join(allowed)},
                )
            raise _not_found("no such resource in the admin API")
        except ApiError as e:
            return self._write(request, _error_response(e))

    @app.handle_errors(Exception)
    def _unexpected_error(self, request: IRequest, failure: Failure) -> bytes:
        log.failure("admin API routing failed", failure=failure)
        return self._write(
            request,
            _error_response(
                ApiError(500, "internal-error", "an unexpected error occurred; see the hub's log")
            ),
        )

    async def _tenant(self, domain: str) -> TenantRecord:
        tenant = await self._store.get_tenant(domain)
        if tenant is None:
            raise _not_found(f"no tenant {domain}")
        return tenant

    # -- routes

    @app.route("/openapi.json", methods=["GET"])
    @_endpoint(public=True)
    async def openapi_document(self, request: IRequest) -> _Response:
        """
        The OpenAPI document describing this API (query parameters such as
        cache busters are ignored).
        """
        return _Response(200, self._openapi)

    @app.route("/api/tenants", methods=["GET"])
    @_endpoint()
    async def list_tenants(self, request: IRequest) -> _Response:
        """
        Every tenant, ordered by domain.
        """
        _Query(request).finish()
        tenants = await self._store.list_tenants()
        return _json([_tenant_json(t) for t in tenants])

    @app.route("/api/tenants/<domain>/users", methods=["GET"])
    @_endpoint()
    async def list_tenant_users(self, request: IRequest, domain: str) -> _Response:
        """
        A tenant's users, ordered by address.
        """
        _Query(request).finish()
        tenant = await self._tenant(_domain(domain, "domain"))
        users = await self._store.list_users(tenant.domain)
        return _json([_user_json(u) for u in users])

    @app.route("/api/tenants/<domain>/policy", methods=["GET"])
    @_endpoint()
    async def get_tenant_policy(self, request: IRequest, domain: str) -> _Response:
        """
        A tenant's federation policy (defaults when none was set).
        """
        _Query(request).finish()
        tenant = await self._tenant(_domain(domain, "domain"))
        policy = await self._store.get_tenant_policy(tenant.domain)
        return _json(_tenant_policy_json(policy))

    @app.route("/api/tenants/<domain>/policy", methods=["PUT"])
    @_endpoint()
    async def put_tenant_policy(self, request: IRequest, domain: str) -> _Response:
        """
        Replace a tenant's federation policy; every field is required.
        """
        _Query(request).finish()
        tenant_domain = _domain(domain, "domain")
        body = _read_body(request)
        fields = ("federation", "files", "presence", "channel_invites")
        _only_keys(body, fields)
        federation = _string(body, "federation")
        modes = [m.value for m in FederationMode]
        if federation not in modes:
            raise _bad(f"federation: must be one of {', '.join(modes)}, not {federation!r}")
        policy = TenantPolicy(
            tenant_domain,
            FederationMode(federation),
            files=_boolean(body, "files"),
            presence=_boolean(body, "presence"),
            channel_invites=_boolean(body, "channel_invites"),
        )
        await self._tenant(tenant_domain)
        await self._store.put_tenant_policy(policy)
        return _json(_tenant_policy_json(policy))

    @app.route("/api/tenants/<domain>/domains", methods=["GET"])
    @_endpoint()
    async def list_domain_rules(self, request: IRequest, domain: str) -> _Response:
        """
        A tenant's remote-domain rules, ordered by pattern.
        """
        _Query(request).finish()
        tenant = await self._tenant(_domain(domain, "domain"))
        rules = await self._store.list_domain_policies(tenant.domain)
        return _json([_rule_json(r) for r in rules])

    @app.route("/api/tenants/<domain>/domains/<pattern>", methods=["PUT"])
    @_endpoint()
    async def put_domain_rule(self, request: IRequest, domain: str, pattern: str) -> _Response:
        """
        Allow or block a remote domain (or C{*.domain}) for a tenant: 201
        for a new rule, 200 when it replaced one.
        """
        _Query(request).finish()
        tenant_domain = _domain(domain, "domain")
        rule_pattern = _pattern(pattern, "pattern")
        body = _read_body(request)
        _only_keys(body, ("action",))
        action = _string(body, "action")
        actions = [a.value for a in DomainAction]
        if action not in actions:
            raise _bad(f"action: must be one of {', '.join(actions)}, not {action!r}")
        tenant = await self._tenant(tenant_domain)
        existing = await self._store.list_domain_policies(tenant.domain)
        rule = DomainPolicy(tenant.domain, rule_pattern, DomainAction(action))
        await self._store.put_domain_policy(rule)
        created = not any(r.pattern == rule_pattern for r in existing)
        await self._notify_all(
            self._policy_listeners,
            PolicyChange(tenant.domain, rule_pattern, rule.action),
            "policy listener failed",
        )
        return _json(_rule_json(rule), 201 if created else 200)

    @app.route("/api/tenants/<domain>/domains/<pattern>", methods=["DELETE"])
    @_endpoint()
    async def delete_domain_rule(self, request: IRequest, domain: str, pattern: str) -> _Response:
        """
        Remove a tenant's rule for a pattern; 404 when there is none.
        """
        _Query(request).finish()
        tenant_domain = _domain(domain, "domain")
        rule_pattern = _pattern(pattern, "pattern")
        tenant = await self._tenant(tenant_domain)
        removed = await self._store.remove_domain_policy(tenant.domain, rule_pattern)
        if not removed:
            raise _not_found(f"{tenant.domain} has no rule for {rule_pattern}")
        await self._notify_all(
            self._policy_listeners,
            PolicyChange(tenant.domain, rule_pattern, None),
            "policy listener failed",
        )
        return _json({"tenant": tenant.domain, "pattern": rule_pattern, "removed": True})

    @app.route("/api/users/<address>", methods=["GET"])
    @_endpoint()
    async def get_user(self, request: IRequest, address: str) -> _Response:
        """
        A hub user's profile and federation switch; 404 when the hub knows
        neither.
        """
        _Query(request).finish()
        user_address = _address(address, "address")
        user = await self._store.get_user(user_address)
        policy = await self._store.get_user_policy(user_address)
        if user is None and policy is None:
            raise _not_found(f"no user {user_address}")
        return _json(
            {
                "address": str(user.address if user is not None else user_address),
                "tenant": user.tenant if user is not None else user_address.domain,
                "profile": _user_json(user) if user is not None else None,
                "policy": {"enabled": policy.enabled if policy is not None else None},
            }
        )

    @app.route("/api/users/<address>/policy", methods=["PUT"])
    @_endpoint()
    async def put_user_policy(self, request: IRequest, address: str) -> _Response:
        """
        Turn federation on or off for one user of a tenant (the user need
        not have been seen yet, so allow-lists can be prepared).
        """
        _Query(request).finish()
        user_address = _address(address, "address")
        body = _read_body(request)
        _only_keys(body, ("enabled",))
        enabled = _boolean(body, "enabled")
        await self._tenant(user_address.domain)
        await self._store.put_user_policy(UserPolicy(user_address, enabled))
        return _json({"address": str(user_address), "enabled": enabled})

    @app.route("/api/contacts", methods=["GET"])
    @_endpoint()
    async def list_contacts(self, request: IRequest) -> _Response:
        """
        Contacts filtered by owner, external domain and state.
        """
        query = _Query(request)
        owner = query.address("owner")
        external_domain = query.domain("domain")
        state = query.choice("state", [s.value for s in ContactState])
        limit = query.integer("limit", 1000, 1, MAX_LIMIT)
        offset = query.integer("offset", 0, 0, 10**9)
        query.finish()
        contacts = await self._store.list_contacts(
            owner=owner, external_domain=external_domain, state=state
        )
        return _json([_contact_json(c) for c in contacts[offset : offset + limit]])

    @app.route("/api/revoke", methods=["POST"])
    @_endpoint()
    async def revoke(self, request: IRequest) -> _Response:
        """
        Revoke one contact, every contact of a user (and turn the user's
        federation off), or every contact with a remote domain (and block
        it), then tell the revocation listeners.
        """
        _Query(request).finish()
        body = _read_body(request)
        scopes = [k for k in ("contact", "user", "domain") if k in body]
        if len(scopes) != 1:
            raise _bad('give exactly one of "contact", "user" or "domain"')
        scope = scopes[0]
        _only_keys(body, ("domain", "tenant") if scope == "domain" else (scope,))
        if scope == "contact":
            result, revocation = await self._revoke_contact(body["contact"])
        elif scope == "user":
            result, revocation = await self._revoke_user(body["user"])
        else:
            result, revocation = await self._revoke_domain(
                body["domain"], body["tenant"] if "tenant" in body else _ALL_TENANTS
            )
        notified, failed = await self._notify(revocation)
        result.update(scope=scope, listeners_notified=notified, listeners_failed=failed)
        return _json(result)

    async def _revoke_contacts(self, contacts: Sequence[ContactRecord]) -> list[ContactRecord]:
        now = self._now()
        changed = []
        for contact in contacts:
            if contact.state == ContactState.REVOKED:
                continue
            revoked = evolve(contact, state=ContactState.REVOKED, updated_at=now)
            await self._store.put_contact(revoked)
            changed.append(revoked)
        return changed

    async def _revoke_contact(self, spec: Any) -> tuple[dict[str, Any], Revocation]:
        if not isinstance(spec, dict):
            raise _bad('contact: must be an object {"owner": address, "external": address}')
        _only_keys(spec, ("owner", "external"), "contact")
        owner = _address(_string(spec, "owner", "contact"), "contact.owner")
        external = _address(_string(spec, "external", "contact"), "contact.external")
        contact = await self._store.get_contact(owner, external)
        if contact is None:
            raise _not_found(f"{owner} has no contact {external}")
        changed = await self._revoke_contacts([contact])
        result = {"contacts_revoked": len(changed), "user_policies_set": 0, "domain_rules_set": 0}
        return result, Revocation(
            "contact",
            tuple(changed),
            user=owner,
            external=external,
            tenants=(owner.domain,),
        )

    async def _revoke_user(self, spec: Any) -> tuple[dict[str, Any], Revocation]:
        if not isinstance(spec, str):
            raise _bad("user: must be an address string")
        user = _address(spec, "user")
        await self._tenant(user.domain)
        contacts = await self._store.list_contacts(owner=user)
        changed = await self._revoke_contacts(contacts)
        previous = await self._store.get_user_policy(user)
        policies = 0
        if previous is None or previous.enabled:
            await self._store.put_user_policy(UserPolicy(user, False))
            policies = 1
        result = {
            "contacts_revoked": len(changed),
            "user_policies_set": policies,
            "domain_rules_set": 0,
        }
        return result, Revocation("user", tuple(changed), user=user, tenants=(user.domain,))

    async def _revoke_domain(self, spec: Any, tenant: Any) -> tuple[dict[str, Any], Revocation]:
        if not isinstance(spec, str):
            raise _bad("domain: must be a domain or *.domain string")
        pattern = _pattern(spec, "domain")
        if tenant is not _ALL_TENANTS:
            if not isinstance(tenant, str):
                raise _bad("tenant: must be a domain string")
            tenants = [(await self._tenant(_domain(tenant, "tenant"))).domain]
        else:
            tenants = [t.domain for t in await self._store.list_tenants()]
        if pattern.startswith("*."):
            everyone = await self._store.list_contacts()
            matching = [c for c in everyone if pattern_matches(pattern, c.external.domain)]
        else:
            matching = await self._store.list_contacts(external_domain=pattern)
        changed = await self._revoke_contacts([c for c in matching if c.owner.domain in tenants])
        rules = 0
        for tenant_domain in tenants:
            existing = await self._store.list_domain_policies(tenant_domain)
            if any(r.pattern == pattern and r.action == DomainAction.BLOCK for r in existing):
                continue
            await self._store.put_domain_policy(
                DomainPolicy(tenant_domain, pattern, DomainAction.BLOCK)
            )
            rules += 1
        result = {
            "contacts_revoked": len(changed),
            "user_policies_set": 0,
            "domain_rules_set": rules,
        }
        return result, Revocation("domain", tuple(changed), domain=pattern, tenants=tuple(tenants))

    async def _notify(self, revocation: Revocation) -> tuple[int, int]:
        return await self._notify_all(self._listeners, revocation, "revocation listener failed")

    async def _notify_all(
        self, listeners: Sequence[Callable[[Any], Any]], change: Any, failed_message: str
    ) -> tuple[int, int]:
        """
        Call each listener with C{change} and wait for them (each with the
        listener timeout); a failure is logged and counted, never raised.
        """
        waiting = []
        for listener in listeners:
            d = maybeDeferred(listener, change)
            d.addTimeout(self._listener_timeout, self._clock)
            waiting.append(d)
        if not waiting:
            return 0, 0
        results = await DeferredList(waiting, consumeErrors=True)
        failed = 0
        for ok, value in results:
            if not ok:
                failed += 1
                log.failure(failed_message, failure=value)  # type: ignore[arg-type]
        return len(waiting), failed

    @app.route("/api/metadata", methods=["GET"])
    @_endpoint()
    async def query_metadata(self, request: IRequest) -> _Response:
        """
        Query the metadata log: a JSON list, or a CSV attachment with
        C{Accept: text/csv} or C{format=csv}.
        """
        query = _Query(request)
        session_id = query.text("session_id")
        if session_id is not None:
            try:
                session_id = ChatSessionId(session_id).value
            except ValueError as e:
                raise _bad(f"session_id: {e}") from None
        user = query.address("user")
        kind = query.text("kind")
        if kind is not None and not _KIND.match(kind):
            raise _bad(f"kind: not a metadata kind: {kind!r} (e.g. message, contact_request)")
        wanted = MetadataQuery(
            session_id=session_id,
            user=user.key if user is not None else None,
            remote_domain=query.domain("remote_domain"),
            tenant=query.domain("tenant"),
            category=query.choice("type", [c.value for c in Category]),
            kind=kind,
            since=query.timestamp("since"),
            until=query.timestamp("until"),
            limit=query.integer("limit", 1000, 1, MAX_LIMIT),
            offset=query.integer("offset", 0, 0, 10**9),
        )
        fmt = query.choice("format", ["json", "csv"])
        query.finish()
        if wanted.since is not None and wanted.until is not None and wanted.since > wanted.until:
            raise _bad("since: must not be after until")
        if fmt is None:
            accept = parse_accept_header(
                (request.getHeader(b"accept") or b"").decode("latin-1"), MIMEAccept
            )
            fmt = (
                "csv"
                if accept.best_match(["application/json", "text/csv"]) == "text/csv"
                else "json"
            )
        records = await self._store.query_metadata(wanted)
        if fmt == "csv":
            return _Response(
                200,
                metadata_csv(records),
                "text/csv; charset=utf-8",
                {"Content-Disposition": 'attachment; filename="nextplane-metadata.csv"'},
            )
        return _json([_metadata_json(r) for r in records])

    @app.route("/api/usage", methods=["GET"])
    @_endpoint()
    async def usage(self, request: IRequest) -> _Response:
        """
        Daily unique users and messages, grouped as asked; by default over
        the 365 days up to and including today.
        """
        query = _Query(request)
        grouping = query.text("group_by")
        group_by: list[str] = []
        if grouping is not None:
            for name in grouping.split(","):
                if name not in _GROUP_FIELDS:
                    raise _bad(
                        f"group_by: cannot group by {name!r}; "
                        f"use a comma-separated list of {', '.join(_GROUP_FIELDS)}"
                    )
                if name not in group_by:
                    group_by.append(name)
        tenant = query.domain("tenant")
        since = query.day("since")
        until = query.day("until")
        query.finish()
        try:
            if until is None:
                # The end is exclusive: tomorrow, so that today counts.
                until = self._now().date() + timedelta(days=1)
            if since is None:
                since = until - timedelta(days=365)
        except OverflowError:
            raise _bad("until: out of range") from None
        if since >= until:
            raise _bad("since: must be before until")
        ordered = [f for f in _GROUP_FIELDS if f in group_by]
        rows = await self._store.usage(since, until, ordered, tenant=tenant)
        return _json(
            {
                "since": since.isoformat(),
                "until": until.isoformat(),
                "group_by": ordered,
                "tenant": tenant,
                "rows": [_usage_json(r, ordered) for r in rows],
            }
        )
