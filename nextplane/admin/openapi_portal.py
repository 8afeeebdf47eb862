# -*- test-case-name: tests.admin.test_openapi -*-
"""
The OpenAPI parts of the operations that came with the admin portal: who
am I, tenant creation, editing and retirement, monthly usage and the audit
trail. L{nextplane.admin.openapi} merges them into the document.
"""

from __future__ import annotations

from typing import Any

__all__ = ["portal_paths", "portal_schemas"]

_Json = dict[str, Any]

_STRING: _Json = {"type": "string"}
_NULLABLE_STRING: _Json = {"type": ["string", "null"]}
_COUNT: _Json = {"type": "integer", "minimum": 0}
_GROUPS = ["tenant", "remote_domain", "platform"]


def _ref(name: str) -> _Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: _Json, required: list[str] | None = None) -> _Json:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def _errors(*codes: str) -> _Json:
    names = {
        "400": "BadRequest",
        "401": "Unauthorized",
        "403": "Forbidden",
        "404": "NotFound",
        "409": "Conflict",
        "413": "PayloadTooLarge",
        "500": "InternalError",
    }
    return {code: {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


def _ok(description: str, schema: _Json) -> _Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: _Json, description: str) -> _Json:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def portal_schemas() -> _Json:
    """
    Schemas of the portal-era operations.
    """
    return {
        "Me": _obj(
            {
                "name": _STRING,
                "role": {"type": "string", "enum": ["global", "tenant"]},
                "tenant": _NULLABLE_STRING,
                "via": {"type": "string", "enum": ["token", "session"]},
            }
        ),
        "TenantCreate": _obj(
            {
                "domain": {"type": "string", "maxLength": 253},
                "platform": _STRING,
                "workspace": _STRING,
                "display_name": _STRING,
            },
            required=["domain", "platform", "workspace"],
        ),
        "TenantUpdate": _obj(
            {
                "display_name": _STRING,
                "workspace": _STRING,
                "retired": {"type": "boolean", "description": "Global admins only."},
            },
            required=[],
        ),
        "TenantState": _obj(
            {
                "domain": _STRING,
                "platform": _STRING,
                "workspace": _STRING,
                "display_name": _STRING,
                "retired": {"type": "boolean"},
            }
        ),
        "MonthRow": _obj(
            {
                "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                "unique_users": _COUNT,
                "messages": _COUNT,
                "tenant": _NULLABLE_STRING,
                "remote_domain": _NULLABLE_STRING,
                "platform": _NULLABLE_STRING,
            },
            required=["month", "unique_users", "messages"],
        ),
        "MonthlyUsage": _obj(
            {
                "months": {"type": "array", "items": _STRING},
                "group_by": {"type": "array", "items": {"type": "string", "enum": _GROUPS}},
                "tenant": _NULLABLE_STRING,
                "rows": {"type": "array", "items": _ref("MonthRow")},
            }
        ),
        "AuditRecord": _obj(
            {
                "id": {"type": ["integer", "null"]},
                "time": {"type": "string", "format": "date-time"},
                "actor": _STRING,
                "action": _STRING,
                "target": _STRING,
                "tenant": _NULLABLE_STRING,
                "source": _STRING,
                "detail": _STRING,
            }
        ),
    }


def portal_paths(tenant: list[_Json]) -> _Json:
    """
    Paths of the portal-era operations.

    @param tenant: The tenant-domain path parameter references.
    """
    group_by = {
        **_query(
            "group_by",
            {"type": "array", "minItems": 1, "items": {"type": "string", "enum": _GROUPS}},
            "Comma-separated fields to group by besides the month.",
        ),
        "style": "form",
        "explode": False,
    }
    return {
        "/api/me": {
            "get": {
                "operationId": "me",
                "tags": ["accounts"],
                "summary": "Who is asking: name, role, tenant and how.",
                "responses": {
                    "200": _ok("The principal.", _ref("Me")),
                    **_errors("400", "401", "500"),
                },
            }
        },
        "/api/tenants/{domain}": {
            "put": {
                "operationId": "editTenant",
                "tags": ["tenants"],
                "summary": "Change a tenant's names, or retire it (global admins).",
                "parameters": tenant,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("TenantUpdate")}},
                },
                "responses": {
                    "200": _ok("The tenant now.", _ref("TenantState")),
                    **_errors("400", "401", "403", "404", "413", "500"),
                },
            }
        },
        "/api/usage/monthly": {
            "get": {
                "operationId": "monthlyUsage",
                "tags": ["metadata"],
                "summary": "Unique users and messages per month (aggregated by the hub).",
                "parameters": [
                    group_by,
                    _query(
                        "tenant",
                        {"type": "string", "maxLength": 253},
                        "Only this tenant (a tenant admin: their own).",
                    ),
                    _query(
                        "months",
                        {"type": "integer", "minimum": 1, "maximum": 120, "default": 12},
                        "How many months, this one included.",
                    ),
                    _query(
                        "format",
                        {"type": "string", "enum": ["json", "csv"]},
                        "Overrides the Accept header.",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "Monthly rows; CSV as an attachment.",
                        "content": {
                            "application/json": {"schema": _ref("MonthlyUsage")},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors("400", "401", "403", "500"),
                },
            }
        },
        "/api/audit": {
            "get": {
                "operationId": "audit",
                "tags": ["accounts"],
                "summary": "Admin actions, newest first (who, when, what, from where).",
                "parameters": [
                    _query("tenant", {"type": "string", "maxLength": 253}, "Only this tenant."),
                    _query("actor", {"type": "string", "maxLength": 64}, "Only this admin."),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
                        "At most this many records.",
                    ),
                    _query(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
                        "Skip this many first.",
                    ),
                ],
                "responses": {
                    "200": _ok("Records.", {"type": "array", "items": _ref("AuditRecord")}),
                    **_errors("400", "401", "403", "500"),
                },
            }
        },
    }


def tenant_create_operation() -> _Json:
    """
    C{POST /api/tenants}.
    """
    return {
        "operationId": "createTenant",
        "tags": ["tenants"],
        "summary": "Create a tenant (global admins).",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("TenantCreate")}},
        },
        "responses": {
            "201": _ok("The new tenant.", _ref("Tenant")),
            **_errors("400", "401", "403", "409", "413", "500"),
        },
    }
