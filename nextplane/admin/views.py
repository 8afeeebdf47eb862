# -*- test-case-name: tests.admin.test_api -*-
"""
The admin API's answers: the L{Response} value its handlers return, and the
JSON shape of each kind of record (no message content: records, policies
and aggregates only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import evolve, field, frozen

from ..storage.admin_records import AuditRecord
from ..storage.records import (
    ContactRecord,
    DomainPolicy,
    MetadataRecord,
    TenantPolicy,
    TenantRecord,
    UsageRow,
    UserRecord,
)
from .params import ApiError
from .queries import MonthRow, UserRow

__all__ = [
    "Response",
    "audit_json",
    "contact_json",
    "error_response",
    "iso_time",
    "json_response",
    "metadata_json",
    "month_json",
    "rule_json",
    "tenant_json",
    "tenant_policy_json",
    "usage_json",
    "user_json",
    "user_row_json",
]


@frozen
class Response:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(factory=dict)


def json_response(value: Any, code: int = 200) -> Response:
    return Response(code, json.dumps(value, sort_keys=True).encode("utf-8") + b"\n")


def error_response(error: ApiError) -> Response:
    response = json_response({"error": error.error, "detail": error.detail}, error.code)
    return evolve(response, headers=dict(error.headers))


# -- JSON shapes -------------------------------------------------------------


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def tenant_json(tenant: TenantRecord) -> dict[str, Any]:
    return {
        "domain": tenant.domain,
        "platform": tenant.platform,
        "workspace": tenant.workspace,
        "display_name": tenant.display_name,
    }


def user_json(user: UserRecord) -> dict[str, Any]:
    return {
        "address": str(user.address),
        "tenant": user.tenant,
        "platform": user.platform,
        "platform_id": user.platform_id,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "title": user.title,
    }


def tenant_policy_json(policy: TenantPolicy) -> dict[str, Any]:
    return {
        "tenant": policy.tenant,
        "federation": policy.federation.value,
        "files": policy.files,
        "presence": policy.presence,
        "channel_invites": policy.channel_invites,
    }


def contact_json(contact: ContactRecord) -> dict[str, Any]:
    return {
        "owner": str(contact.owner),
        "external": str(contact.external),
        "state": contact.state.value,
        "direction": contact.direction.value,
        "created_at": iso_time(contact.created_at),
        "updated_at": iso_time(contact.updated_at),
    }


def rule_json(rule: DomainPolicy) -> dict[str, Any]:
    return {"tenant": rule.tenant, "pattern": rule.pattern, "action": rule.action.value}


def metadata_json(record: MetadataRecord) -> dict[str, Any]:
    return {
        "id": record.record_id,
        "time": iso_time(record.timestamp),
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


def usage_json(row: UsageRow, group_by: Sequence[str]) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "day": row.day.isoformat(),
        "unique_users": row.unique_users,
        "messages": row.messages,
    }
    for name in group_by:
        shown[name] = getattr(row, name)
    return shown


def user_row_json(row: UserRow) -> dict[str, Any]:
    """
    A tenant user: the stored profile's fields (C{None} for a user only
    seen active) and the last day active.
    """
    if row.record is not None:
        shown = user_json(row.record)
    else:
        # Only seen active: what the usage facts tell, no profile.
        shown = dict.fromkeys(("platform_id", "display_name", "avatar_url", "title"))
        shown.update(address=row.address, tenant=row.tenant, platform=row.platform)
    shown["last_active"] = row.last_active.isoformat() if row.last_active else None
    return shown


def month_json(row: MonthRow, group_by: Sequence[str]) -> dict[str, Any]:
    """
    One month of usage for one group.
    """
    shown: dict[str, Any] = {
        "month": row.month,
        "unique_users": row.unique_users,
        "messages": row.messages,
    }
    shown.update(zip(group_by, row.group))
    return shown


def audit_json(record: AuditRecord) -> dict[str, Any]:
    """
    One admin action.
    """
    return {
        "id": record.record_id,
        "time": iso_time(record.timestamp),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "tenant": record.tenant,
        "source": record.source,
        "detail": record.detail,
    }
