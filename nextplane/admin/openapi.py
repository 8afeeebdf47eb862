# -*- test-case-name: tests.admin.test_openapi -*-
"""
The OpenAPI 3.1 document of the admin API, built in code so that schemas
are shared between operations and the document cannot drift from the
routes unnoticed (C{tests.admin.test_openapi} checks both directions).

Paths are relative to the mount point, which is the document's server URL
(C{/admin} by default): C{/api/tenants} is served at C{/admin/api/tenants}.
"""

from __future__ import annotations

from typing import Any

from .openapi_portal import portal_paths, portal_schemas, tenant_create_operation

__all__ = [
    "ADDRESS_PATTERN",
    "DOMAIN_PATTERN",
    "OPENAPI_VERSION",
    "RULE_PATTERN",
    "build_openapi",
]

#: The OpenAPI version the document follows.
OPENAPI_VERSION = "3.1.0"

# The shapes of inputs, as ECMA-262 regular expressions that Python reads
# the same way. The API's validators are the authority (they also check
# lengths, IDNA and calendar dates); these document the shapes.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: A DNS domain of at least two labels, e.g. C{acme.test}.
DOMAIN_PATTERN = rf"^(?:{_LABEL}\.)+{_TOP_LABEL}$"
#: A domain rule: an exact domain, or C{*.} and a domain or top-level label.
RULE_PATTERN = rf"^(?:\*\.(?:{_LABEL}\.)*{_TOP_LABEL}|(?:{_LABEL}\.)+{_TOP_LABEL})$"
#: An email-style address; the local part has no space, C{@}, C{/},
#: quotes, angle brackets or control characters.
ADDRESS_PATTERN = rf'^[^\s@/"<>\x00-\x1f\x7f\x85]{{1,255}}@(?:{_LABEL}\.)+{_TOP_LABEL}$'
_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)

_Json = dict[str, Any]

_NULLABLE_STRING: _Json = {"type": ["string", "null"]}
_DOMAIN: _Json = {"type": "string", "maxLength": 253, "pattern": DOMAIN_PATTERN}
_RULE: _Json = {"type": "string", "maxLength": 253, "pattern": RULE_PATTERN}
_ADDRESS: _Json = {"type": "string", "maxLength": 509, "pattern": ADDRESS_PATTERN}
_TIME: _Json = {"type": "string", "pattern": _TIME_PATTERN}
_SESSION: _Json = {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"}
_KIND: _Json = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"}
_STRING: _Json = {"type": "string"}
_BOOLEAN: _Json = {"type": "boolean"}
_COUNT: _Json = {"type": "integer", "minimum": 0}
_DATE_TIME: _Json = {"type": "string", "format": "date-time"}
_DATE: _Json = {"type": "string", "format": "date"}

_CONTACT_STATES = ["pending", "accepted", "declined", "revoked", "blocked", "removed", "expired"]
_CATEGORIES = ["im", "presence", "typing", "contact", "error"]


def _ref(name: str) -> _Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: _Json, required: list[str] | None = None, closed: bool = True) -> _Json:
    schema: _Json = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def _array(items: _Json) -> _Json:
    return {"type": "array", "items": items}


def _json_content(schema: _Json) -> _Json:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: _Json) -> _Json:
    return {"description": description, "content": _json_content(schema)}


def _errors(*codes: str) -> _Json:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "404": "NotFound",
        "413": "PayloadTooLarge",
        "500": "InternalError",
    }
    return {code: {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


def _body(schema: _Json, description: str, example: Any) -> _Json:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def _query(name: str, schema: _Json, description: str, example: Any = None) -> _Json:
    parameter: _Json = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }
    if example is not None:
        parameter["example"] = example
    return parameter


def _path_ref(name: str) -> _Json:
    return {"$ref": f"#/components/parameters/{name}"}


def _operation(
    operation_id: str,
    tag: str,
    summary: str,
    responses: _Json,
    *,
    parameters: list[_Json] | None = None,
    body: _Json | None = None,
) -> _Json:
    operation: _Json = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    return operation


_LIMIT = _query(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 1000},
    "At most this many items.",
)
_OFFSET = _query(
    "offset",
    {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0},
    "Skip this many items first.",
)


def _schemas() -> _Json:
    return {
        "Error": _obj(
            {
                "error": {
                    "type": "string",
                    "description": "Machine-readable, e.g. bad-request, not-found.",
                },
                "detail": {"type": "string", "description": "What was wrong, in words."},
            }
        ),
        "Tenant": _obj(
            {
                "domain": _STRING,
                "platform": _STRING,
                "workspace": _STRING,
                "display_name": _STRING,
            }
        ),
        "User": _obj(
            {
                "address": _STRING,
                "tenant": _STRING,
                "platform": _STRING,
                "platform_id": _STRING,
                "display_name": _STRING,
                "avatar_url": _NULLABLE_STRING,
                "title": _NULLABLE_STRING,
            }
        ),
        "TenantUser": _obj(
            {
                "address": _STRING,
                "tenant": _STRING,
                "platform": _NULLABLE_STRING,
                "platform_id": _NULLABLE_STRING,
                "display_name": _NULLABLE_STRING,
                "avatar_url": _NULLABLE_STRING,
                "title": _NULLABLE_STRING,
                "last_active": {"type": ["string", "null"], "format": "date"},
            }
        ),
        "UserDetail": _obj(
            {
                "address": _STRING,
                "tenant": _STRING,
                "profile": {
                    "oneOf": [_ref("User"), {"type": "null"}],
                    "description": "null when only a policy is known (the user was never seen).",
                },
                "policy": _obj(
                    {
                        "enabled": {
                            "type": ["boolean", "null"],
                            "description": "The user's federation switch; null when never set.",
                        }
                    }
                ),
            }
        ),
        "UserPolicyUpdate": _obj({"enabled": _BOOLEAN}),
        "UserPolicy": _obj({"address": _STRING, "enabled": _BOOLEAN}),
        "TenantPolicyUpdate": _obj(
            {
                "federation": {
                    "type": "string",
                    "enum": ["all", "allow-list"],
                    "description": "allow-list: only users whose policy is enabled federate.",
                },
                "files": _BOOLEAN,
                "presence": _BOOLEAN,
                "channel_invites": _BOOLEAN,
            }
        ),
        "TenantPolicy": _obj(
            {
                "tenant": _STRING,
                "federation": {"type": "string", "enum": ["all", "allow-list"]},
                "files": _BOOLEAN,
                "presence": _BOOLEAN,
                "channel_invites": _BOOLEAN,
            }
        ),
        "DomainRuleUpdate": _obj({"action": {"type": "string", "enum": ["allow", "block"]}}),
        "DomainRule": _obj(
            {
                "tenant": _STRING,
                "pattern": _STRING,
                "action": {"type": "string", "enum": ["allow", "block"]},
            }
        ),
        "DomainRuleRemoved": _obj(
            {"tenant": _STRING, "pattern": _STRING, "removed": {"const": True}}
        ),
        "Contact": _obj(
            {
                "owner": _STRING,
                "external": _STRING,
                "state": {"type": "string", "enum": _CONTACT_STATES},
                "direction": {"type": "string", "enum": ["outbound", "inbound"]},
                "created_at": _DATE_TIME,
                "updated_at": _DATE_TIME,
            }
        ),
        "RevokeRequest": {
            "description": (
                "Exactly one of: a contact (revoke it); a user (revoke all their "
                "contacts and turn their federation off); a remote domain or "
                "*.domain pattern (revoke all contacts with it and block it, on one "
                "tenant or on every tenant)."
            ),
            "oneOf": [
                _obj(
                    {
                        "contact": _obj(
                            {"owner": _ADDRESS, "external": _ADDRESS},
                        )
                    }
                ),
                _obj({"user": {**_ADDRESS, "description": "A hub user's address."}}),
                _obj(
                    {
                        "domain": {**_RULE, "description": "widget.test or *.widget.test"},
                        "tenant": {
                            **_DOMAIN,
                            "description": "Only this tenant; every tenant when left out.",
                        },
                    },
                    required=["domain"],
                ),
            ],
        },
        "RevokeResult": _obj(
            {
                "scope": {"type": "string", "enum": ["contact", "user", "domain"]},
                "contacts_revoked": _COUNT,
                "user_policies_set": _COUNT,
                "domain_rules_set": _COUNT,
                "listeners_notified": _COUNT,
                "listeners_failed": _COUNT,
            }
        ),
        "MetadataRecord": _obj(
            {
                "id": {"type": ["integer", "null"]},
                "time": _DATE_TIME,
                "sender": _STRING,
                "receiver": _STRING,
                "type": {"type": "string", "description": "The category: im, presence..."},
                "kind": _STRING,
                "session_id": _NULLABLE_STRING,
                "decision": {"type": "string", "enum": ["delivered", "refused", "failed"]},
                "reason": _STRING,
                "tenant": _NULLABLE_STRING,
                "remote_domain": _NULLABLE_STRING,
                "platform": _NULLABLE_STRING,
            }
        ),
        "UsageRow": _obj(
            {
                "day": _DATE,
                "unique_users": _COUNT,
                "messages": _COUNT,
                "tenant": _NULLABLE_STRING,
                "remote_domain": _NULLABLE_STRING,
                "platform": _NULLABLE_STRING,
            },
            required=["day", "unique_users", "messages"],
        ),
        "Usage": _obj(
            {
                "since": _DATE,
                "until": {**_DATE, "description": "Exclusive."},
                "group_by": _array(
                    {"type": "string", "enum": ["tenant", "remote_domain", "platform"]}
                ),
                "tenant": _NULLABLE_STRING,
                "rows": _array(_ref("UsageRow")),
            }
        ),
    }


def _responses() -> _Json:
    def error(description: str, headers: _Json | None = None) -> _Json:
        response: _Json = {"description": description, "content": _json_content(_ref("Error"))}
        if headers:
            response["headers"] = headers
        return response

    return {
        "BadRequest": error("Invalid input; detail names the parameter."),
        "Unauthorized": error(
            "Missing or wrong bearer token, or no admin token configured.",
            {
                "WWW-Authenticate": {
                    "required": True,
                    "schema": {"type": "string"},
                    "description": 'Bearer realm="nextplane admin"',
                }
            },
        ),
        "NotFound": error("No such tenant, user, contact or rule."),
        "Forbidden": error("Not allowed for this admin, or a session request without CSRF token."),
        "Conflict": error("It exists already."),
        "PayloadTooLarge": error("The body is larger than 64 KiB."),
        "InternalError": error("An unexpected error; details are in the hub's log only."),
    }


def _parameters() -> _Json:
    return {
        "TenantDomain": {
            "name": "domain",
            "in": "path",
            "required": True,
            "description": "A tenant's domain.",
            "schema": _DOMAIN,
            "example": "acme.test",
        },
        "Address": {
            "name": "address",
            "in": "path",
            "required": True,
            "description": "A hub user's address.",
            "schema": _ADDRESS,
            "example": "john@acme.test",
        },
        "Pattern": {
            "name": "pattern",
            "in": "path",
            "required": True,
            "description": "An exact remote domain (widget.test) or a wildcard (*.widget.test).",
            "schema": _RULE,
            "example": "*.widget.test",
        },
    }


def _paths() -> _Json:
    tenant = [_path_ref("TenantDomain")]
    rule = [_path_ref("TenantDomain"), _path_ref("Pattern")]
    user = [_path_ref("Address")]
    return {
        "/openapi.json": {
            "get": {
                "operationId": "getOpenAPI",
                "tags": ["meta"],
                "summary": "This document (no authentication).",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": _json_content({"type": "object"}),
                    }
                },
            }
        },
        "/api/tenants": {
            "get": _operation(
                "listTenants",
                "tenants",
                "The active tenants one may see, ordered by domain.",
                {
                    "200": _ok(
                        "Tenants (with retired=true, each with its retired flag).",
                        _array({"oneOf": [_ref("Tenant"), _ref("TenantState")]}),
                    ),
                    **_errors("400", "401", "500"),
                },
                parameters=[
                    _query(
                        "retired",
                        {"type": "string", "enum": ["true", "false"]},
                        "true: list retired tenants too.",
                    ),
                    _LIMIT,
                    _OFFSET,
                ],
            ),
            "post": tenant_create_operation(),
        },
        "/api/tenants/{domain}/users": {
            "get": _operation(
                "listTenantUsers",
                "tenants",
                "A tenant's users (profiled, or active in the last year), by address.",
                {
                    "200": _ok("Users.", _array(_ref("TenantUser"))),
                    **_errors("400", "401", "404", "500"),
                },
                parameters=[*tenant, _LIMIT, _OFFSET],
            )
        },
        "/api/tenants/{domain}/policy": {
            "get": _operation(
                "getTenantPolicy",
                "tenants",
                "A tenant's federation policy (defaults when never set).",
                {
                    "200": _ok("The policy.", _ref("TenantPolicy")),
                    **_errors("400", "401", "404", "500"),
                },
                parameters=tenant,
            ),
            "put": _operation(
                "putTenantPolicy",
                "tenants",
                "Replace a tenant's federation policy (every field required).",
                {
                    "200": _ok("The policy now in force.", _ref("TenantPolicy")),
                    **_errors("400", "401", "404", "413", "500"),
                },
                parameters=tenant,
                body=_body(
                    _ref("TenantPolicyUpdate"),
                    "The whole policy.",
                    {
                        "federation": "all",
                        "files": True,
                        "presence": True,
                        "channel_invites": False,
                    },
                ),
            ),
        },
        "/api/tenants/{domain}/domains": {
            "get": _operation(
                "listDomainRules",
                "domain policy",
                "A tenant's remote-domain allow and block rules, ordered by pattern.",
                {
                    "200": _ok("Rules.", _array(_ref("DomainRule"))),
                    **_errors("400", "401", "404", "500"),
                },
                parameters=tenant,
            )
        },
        "/api/tenants/{domain}/domains/{pattern}": {
            "put": _operation(
                "putDomainRule",
                "domain policy",
                "Allow or block a remote domain or *.domain for a tenant.",
                {
                    "200": _ok("The rule replaced an earlier one.", _ref("DomainRule")),
                    "201": _ok("The rule is new.", _ref("DomainRule")),
                    **_errors("400", "401", "404", "413", "500"),
                },
                parameters=rule,
                body=_body(_ref("DomainRuleUpdate"), "What the rule does.", {"action": "block"}),
            ),
            "delete": _operation(
                "deleteDomainRule",
                "domain policy",
                "Remove a tenant's rule; 404 when there is none.",
                {
                    "200": _ok("Removed.", _ref("DomainRuleRemoved")),
                    **_errors("400", "401", "404", "500"),
                },
                parameters=rule,
            ),
        },
        "/api/users/{address}": {
            "get": _operation(
                "getUser",
                "users",
                "A hub user's profile and federation switch.",
                {
                    "200": _ok("The user.", _ref("UserDetail")),
                    **_errors("400", "401", "404", "500"),
                },
                parameters=user,
            )
        },
        "/api/users/{address}/policy": {
            "put": _operation(
                "putUserPolicy",
                "users",
                "Turn federation on or off for one user of a tenant.",
                {
                    "200": _ok("The policy now in force.", _ref("UserPolicy")),
                    **_errors("400", "401", "404", "413", "500"),
                },
                parameters=user,
                body=_body(_ref("UserPolicyUpdate"), "The switch.", {"enabled": True}),
            )
        },
        "/api/contacts": {
            "get": _operation(
                "listContacts",
                "contacts",
                "Contacts, filtered, ordered by owner then external address.",
                {
                    "200": _ok("Contacts.", _array(_ref("Contact"))),
                    **_errors("400", "401", "500"),
                },
                parameters=[
                    _query("owner", _ADDRESS, "Only this hub user's contacts.", "john@acme.test"),
                    _query(
                        "domain", _DOMAIN, "Only contacts at this external domain.", "widget.test"
                    ),
                    _query(
                        "state", {"type": "string", "enum": _CONTACT_STATES}, "Only this state."
                    ),
                    _LIMIT,
                    _OFFSET,
                ],
            )
        },
        "/api/revoke": {
            "post": _operation(
                "revoke",
                "contacts",
                "Revoke a contact, a user or a remote domain; listeners close live sessions.",
                {
                    "200": _ok("What changed.", _ref("RevokeResult")),
                    **_errors("400", "401", "404", "413", "500"),
                },
                body=_body(
                    _ref("RevokeRequest"),
                    "What to revoke.",
                    {"domain": "widget.test", "tenant": "acme.test"},
                ),
            )
        },
        "/api/metadata": {
            "get": _operation(
                "queryMetadata",
                "metadata",
                "Query the metadata log (never content): JSON, or CSV with Accept: "
                "text/csv or format=csv. Ordered by time.",
                {
                    "200": {
                        "description": "Records; CSV as an attachment, formula cells quoted.",
                        "headers": {
                            "Content-Disposition": {
                                "required": False,
                                "schema": {"type": "string"},
                                "description": "For CSV: attachment; filename=...",
                            }
                        },
                        "content": {
                            "application/json": {"schema": _array(_ref("MetadataRecord"))},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors("400", "401", "500"),
                },
                parameters=[
                    _query("session_id", _SESSION, "Only this chat session."),
                    _query(
                        "user", _ADDRESS, "Only records with this address as sender or receiver."
                    ),
                    _query("remote_domain", _DOMAIN, "Only this remote domain.", "widget.test"),
                    _query("tenant", _DOMAIN, "Only this tenant.", "acme.test"),
                    _query("type", {"type": "string", "enum": _CATEGORIES}, "Only this category."),
                    _query("kind", _KIND, "Only this kind, e.g. contact_request.", "message"),
                    _query(
                        "since",
                        _TIME,
                        "ISO 8601 date or time, inclusive; UTC when no offset is given.",
                    ),
                    _query(
                        "until", _TIME, "ISO 8601 date or time, exclusive.", "2026-11-01T12:00:00Z"
                    ),
                    _LIMIT,
                    _OFFSET,
                    _query(
                        "format",
                        {"type": "string", "enum": ["json", "csv"]},
                        "Overrides the Accept header.",
                    ),
                ],
            )
        },
        "/api/usage": {
            "get": _operation(
                "usage",
                "metadata",
                "Daily unique users and messages; by default the 365 days up to today.",
                {"200": _ok("Usage.", _ref("Usage")), **_errors("400", "401", "500")},
                parameters=[
                    {
                        **_query(
                            "group_by",
                            {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "string",
                                    "enum": ["tenant", "remote_domain", "platform"],
                                },
                            },
                            "Comma-separated fields to group by besides the day.",
                        ),
                        "style": "form",
                        "explode": False,
                    },
                    _query("tenant", _DOMAIN, "Only this tenant.", "acme.test"),
                    _query(
                        "since", _DATE, "First day (default: 365 days before until).", "2026-01-01"
                    ),
                    _query("until", _DATE, "Day after the last (default: tomorrow)."),
                ],
            )
        },
    }


def build_openapi(base_path: str = "/admin") -> dict[str, Any]:
    """
    The OpenAPI document of the admin API.

    @param base_path: Where the API is mounted; the document's server URL.
    @return: A JSON-able C{dict}.
    """
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "nextplane admin API",
            "version": "1",
            "description": (
                "Administration of a nextplane hub: tenants, users, contacts, domain "
                "policy, revocation, the metadata log (never message content) and usage. "
                "Every /api/ operation needs Authorization: Bearer <token> (the [web] "
                "admin_token, or an admin account's API token) or a portal session; a "
                "tenant admin sees and changes only their tenant. "
                "Errors are JSON objects with error and detail."
            ),
        },
        "servers": [{"url": base_path}],
        "security": [{"bearerAuth": []}],
        "paths": {**_paths(), **portal_paths([_path_ref("TenantDomain")])},
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {**_schemas(), **portal_schemas()},
            "responses": _responses(),
            "parameters": _parameters(),
        },
    }
