# -*- test-case-name: tests.test_copystore -*-
"""
Copying every table of one store into another through the L{IStore} API,
e.g. from SQLite to PostgreSQL (C{nextplane copy-store}).

Records with a typed listing (tenants, users, contacts, policies, platform
installations, the metadata log) are read as records; the rest (chat
sessions, their platform references, message-id maps, user policies) from
L{IStore.dump_tables}. Chat sessions get new ids in the target (the API
makes them), and every reference to a session is rewritten to its new id.
Daily usage is rebuilt by appending the metadata log, as the hub does.
Admin accounts (with their hashes), the audit trail (oldest first) and
tenant retirements are copied through L{IAdminStore}.
Work records are carried over as they are (the unfinished ones are told
by the hub that starts on the target; the rest keep deduplicating).
Afterwards every table's row count is compared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attrs import evolve

from .interfaces import IStore
from .model.address import Address, ChatSessionId
from .storage.admin import admin_store_for
from .storage.admin_records import AuditQuery, AuditRecord, IAdminStore
from .storage.records import MessageRef, MetadataQuery, UserPolicy, WorkRecord, WorkState

__all__ = ["CopyError", "copy_store"]

_PAGE = 1000


class CopyError(Exception):
    """
    The copy cannot start (the target holds data) or did not match.
    """


def _address(text: str) -> Address:
    local, _, domain = text.rpartition("@")
    return Address(local, domain)


async def _copy_sessions(
    source_dump: dict[str, list[tuple[Any, ...]]], target: IStore
) -> dict[str, str]:
    new_ids: dict[str, str] = {}
    for session_id, _first_key, _second_key, first, second, created_at in source_dump.get(
        "chat_sessions", []
    ):
        created = datetime.fromisoformat(created_at)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)  # stored as UTC text
        record = await target.get_or_create_session(_address(first), _address(second), created)
        new_ids[session_id] = record.session_id.value
    for platform, ref, session_id in source_dump.get("session_refs", []):
        await target.set_session_ref(ChatSessionId(new_ids[session_id]), platform, ref)
    for platform, native_id, message_id, session_id in source_dump.get("message_map", []):
        session = None if session_id is None else ChatSessionId(new_ids[session_id])
        await target.map_message(message_id, platform, native_id, session)
    return new_ids


async def _copy_metadata(source: IStore, target: IStore, new_ids: dict[str, str]) -> None:
    offset = 0
    while True:
        page = await source.query_metadata(MetadataQuery(limit=_PAGE, offset=offset))
        for record in page:
            session = record.session_id
            await target.append_metadata(
                evolve(record, session_id=new_ids.get(session, session) if session else None)
            )
        if len(page) < _PAGE:
            return
        offset += _PAGE


async def _copy_admin(source: IAdminStore, target: IAdminStore) -> None:
    for account in await source.list_accounts():
        await target.put_account(account)
    records: list[AuditRecord] = []
    while True:
        page, total = await source.query_audit(AuditQuery(limit=_PAGE, offset=len(records)))
        records.extend(page)
        if not page or len(records) >= total:
            break
    for record in reversed(records):
        await target.append_audit(evolve(record, record_id=None))
    for domain, when in (await source.retired_tenants()).items():
        await target.set_tenant_retired(domain, when)


async def copy_store(source: IStore, target: IStore) -> dict[str, int]:
    """
    Copy everything in C{source} (opened) into C{target} (opened, empty).

    @return: Rows per table in the target afterwards.
    @raise CopyError: The target is not empty, or a table's row count
        differs afterwards.
    """
    existing = await target.dump_tables()
    if any(existing.values()):
        filled = ", ".join(name for name, rows in existing.items() if rows)
        raise CopyError(f"the target is not empty (rows in {filled}); use an empty database")
    dump = await source.dump_tables()
    tenants = await source.list_tenants()
    for tenant in tenants:
        await target.put_tenant(tenant)
        for user in await source.list_users(tenant.domain):
            await target.put_user(user)
        await target.put_tenant_policy(await source.get_tenant_policy(tenant.domain))
        for rule in await source.list_domain_policies(tenant.domain):
            await target.put_domain_policy(rule)
    for contact in await source.list_contacts():
        await target.put_contact(contact)
    for _key, address, enabled in dump.get("user_policies", []):
        await target.put_user_policy(
            UserPolicy(_address(address), enabled in ("1", "True", "true"))
        )
    for installation in await source.list_installations():
        await target.put_installation(installation)
    for subscription in await source.list_sip_subscriptions():
        await target.put_sip_subscription(subscription)
    new_ids = await _copy_sessions(dump, target)
    await _copy_metadata(source, target, new_ids)
    await _copy_work(dump, target)
    await _copy_message_refs(dump, target)
    await _copy_admin(admin_store_for(source), admin_store_for(target))
    after = await target.dump_tables()
    counts = {name: len(rows) for name, rows in after.items()}
    # Default tenant policies are stored by the copy even where the source
    # had none; every other table must match row for row.
    differing = [
        name
        for name, rows in dump.items()
        if name != "tenant_policies" and len(rows) != counts.get(name, 0)
    ]
    if differing:
        detail = ", ".join(f"{n}: {len(dump[n])} -> {counts.get(n, 0)}" for n in differing)
        raise CopyError(f"row counts differ after the copy ({detail})")
    return counts


async def _copy_work(dump: dict[str, list[tuple[Any, ...]]], target: IStore) -> None:
    for row in dump.get("work_records", []):
        source, origin, work_id, sender, recipient, conversation, native, delivered = row[:8]
        state, accepted_at, updated_at = row[8:]
        record = WorkRecord(
            source=source,
            origin=origin,
            work_id=work_id,
            sender=sender,
            recipient=recipient,
            conversation=conversation,
            native_id=native,
            delivered_id=delivered,
            state=WorkState(state),
            accepted_at=datetime.fromisoformat(accepted_at),
            updated_at=datetime.fromisoformat(updated_at),
        )
        await target.claim_work(record)


async def _copy_message_refs(dump: dict[str, list[tuple[Any, ...]]], target: IStore) -> None:
    for row in dump.get("message_refs", []):
        await target.put_message_ref(MessageRef.from_row(row))
