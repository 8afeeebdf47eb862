# -*- test-case-name: tests.storage.test_memory -*-
"""
An in-memory L{IStore}: the reference semantics for the SQL backends and the
test double for unit tests. Nothing survives a restart.

It reports the schema version the SQL backends migrate to, as if it had
their tables, and its dumps redact bot tokens as theirs do.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from attrs import evolve
from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from ..interfaces import IStore
from ..logs import REDACTED
from ..model.address import Address, ChatSessionId
from .records import (
    ChatSessionRecord,
    ContactChange,
    ContactRecord,
    DomainPolicy,
    MessageRef,
    MetadataQuery,
    MetadataRecord,
    PlatformInstallation,
    SipSubscriptionRecord,
    TenantPolicy,
    TenantRecord,
    UsageRow,
    UserPolicy,
    UserRecord,
    WorkRecord,
    WorkState,
    usage_contribution,
)
from .sql.runtime import dump_value

__all__ = ["MemoryStore", "group_usage"]

_GROUP_FIELDS = ("tenant", "remote_domain", "platform")


def check_group_by(group_by: Iterable[str]) -> tuple[str, ...]:
    """
    Validate a usage grouping, returned in canonical order.

    @raise ValueError: On an unknown field.
    """
    wanted = set(group_by)
    unknown = wanted - set(_GROUP_FIELDS)
    if unknown:
        raise ValueError(f"cannot group usage by {sorted(unknown)}")
    return tuple(f for f in _GROUP_FIELDS if f in wanted)


def group_usage(
    user_rows: Iterable[tuple[date, str, str, str, str]],
    message_rows: Iterable[tuple[date, str, str, str, int]],
    group_by: tuple[str, ...],
) -> list[UsageRow]:
    """
    Fold raw aggregate rows into L{UsageRow}s: distinct users and summed
    messages per day and group. Shared by the backends so they agree.

    @param user_rows: C{(day, tenant, remote_domain, platform, user)}.
    @param message_rows: C{(day, tenant, remote_domain, platform, count)}.
    """

    def key(day: date, tenant: str, remote: str, platform: str) -> tuple[Any, ...]:
        values = {"tenant": tenant, "remote_domain": remote, "platform": platform}
        return (day, *(values[f] if f in group_by else None for f in _GROUP_FIELDS))

    users: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    messages: dict[tuple[Any, ...], int] = defaultdict(int)
    for day, tenant, remote, platform, user in user_rows:
        users[key(day, tenant, remote, platform)].add(user)
    for day, tenant, remote, platform, count in message_rows:
        messages[key(day, tenant, remote, platform)] += count
    keys = sorted(
        set(users) | set(messages), key=lambda k: tuple("" if v is None else str(v) for v in k)
    )
    return [
        UsageRow(k[0], k[1], k[2], k[3], len(users.get(k, ())), messages.get(k, 0)) for k in keys
    ]


def matches(record: MetadataRecord, query: MetadataQuery) -> bool:
    """
    Whether C{record} passes every filter of C{query}.
    """
    user = query.user.lower() if query.user else None
    return (
        (query.session_id is None or record.session_id == query.session_id)
        and (user is None or user in (record.sender.lower(), record.receiver.lower()))
        and (query.remote_domain is None or record.remote_domain == query.remote_domain)
        and (query.tenant is None or record.tenant == query.tenant)
        and (query.category is None or record.category == query.category)
        and (query.kind is None or record.kind == query.kind)
        and (query.since is None or record.timestamp >= query.since)
        and (query.until is None or record.timestamp < query.until)
    )


def _schema_version() -> int:
    # Imported here: migrate needs sql, which needs this module.
    from .migrate import latest_version

    return latest_version("sqlite")


def _pair(first: Address, second: Address) -> tuple[Address, Address]:
    return (first, second) if first.key <= second.key else (second, first)


@implementer(IStore)
class MemoryStore:
    """
    Dictionaries behind the L{IStore} interface.
    """

    backend_name = "memory"

    def __init__(self) -> None:
        self._tenants: dict[str, TenantRecord] = {}
        self._users: dict[str, UserRecord] = {}
        self._contacts: dict[tuple[str, str], ContactRecord] = {}
        self._sessions: dict[str, ChatSessionRecord] = {}
        self._session_by_pair: dict[tuple[str, str], str] = {}
        self._session_refs: dict[tuple[str, str], str] = {}  # (platform, ref) -> session
        self._messages: dict[tuple[str, str], str] = {}  # (platform, native) -> message_id
        self._natives: dict[tuple[str, str], str] = {}  # (message_id, platform) -> native
        self._tenant_policies: dict[str, TenantPolicy] = {}
        self._user_policies: dict[str, UserPolicy] = {}
        self._domain_policies: dict[tuple[str, str], DomainPolicy] = {}
        self._metadata: list[MetadataRecord] = []
        self._usage_users: set[tuple[date, str, str, str, str]] = set()
        self._usage_messages: dict[tuple[date, str, str, str], int] = defaultdict(int)
        self._installations: dict[tuple[str, str], PlatformInstallation] = {}
        self._work: dict[tuple[str, str], WorkRecord] = {}
        self._sip_subscriptions: dict[tuple[str, str], SipSubscriptionRecord] = {}
        self._refs: dict[tuple[str, str, str], MessageRef] = {}
        self._ids = itertools.count(1)
        self.opened = False

    def open(self) -> Deferred[int]:
        self.opened = True
        return succeed(_schema_version())

    def close(self) -> Deferred[None]:
        self.opened = False
        return succeed(None)

    def schema_version(self) -> Deferred[int]:
        return succeed(_schema_version())

    def put_tenant(self, tenant: TenantRecord) -> Deferred[None]:
        self._tenants[tenant.domain] = tenant
        return succeed(None)

    def get_tenant(self, domain: str) -> Deferred[TenantRecord | None]:
        return succeed(self._tenants.get(domain))

    def list_tenants(self) -> Deferred[list[TenantRecord]]:
        return succeed([self._tenants[d] for d in sorted(self._tenants)])

    def put_user(self, user: UserRecord) -> Deferred[None]:
        # One platform account maps to one address, as the SQL unique key says.
        for key in [
            k
            for k, u in self._users.items()
            if u.platform == user.platform and u.platform_id == user.platform_id
        ]:
            del self._users[key]
        self._users[user.address.key] = user
        return succeed(None)

    def get_user(self, address: Address) -> Deferred[UserRecord | None]:
        return succeed(self._users.get(address.key))

    def find_user(self, platform: str, platform_id: str) -> Deferred[UserRecord | None]:
        for user in self._users.values():
            if user.platform == platform and user.platform_id == platform_id:
                return succeed(user)
        return succeed(None)

    def list_users(self, tenant: str) -> Deferred[list[UserRecord]]:
        found = [u for k, u in sorted(self._users.items()) if u.tenant == tenant]
        return succeed(found)

    def put_contact(self, contact: ContactRecord) -> Deferred[None]:
        self._contacts[(contact.owner.key, contact.external.key)] = contact
        return succeed(None)

    def get_contact(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        return succeed(self._contacts.get((owner.key, external.key)))

    def change_contacts(self, change: ContactChange) -> Deferred[list[ContactRecord]]:
        changed = []
        for key, contact in sorted(self._contacts.items()):
            if change.matches(contact):
                updated = evolve(contact, state=change.state, updated_at=change.at)
                self._contacts[key] = updated
                changed.append(updated)
        return succeed(changed)

    def list_contacts(
        self,
        owner: Address | None = None,
        external_domain: str | None = None,
        state: str | None = None,
    ) -> Deferred[list[ContactRecord]]:
        found = [
            c
            for k, c in sorted(self._contacts.items())
            if (owner is None or c.owner.key == owner.key)
            and (external_domain is None or c.external.domain == external_domain)
            and (state is None or c.state == state)
        ]
        return succeed(found)

    def get_or_create_session(
        self, first: Address, second: Address, now: datetime
    ) -> Deferred[ChatSessionRecord]:
        a, b = _pair(first, second)
        existing = self._session_by_pair.get((a.key, b.key))
        if existing is None:
            record = ChatSessionRecord(ChatSessionId.new(), a, b, now)
            self._sessions[record.session_id.value] = record
            self._session_by_pair[(a.key, b.key)] = record.session_id.value
            existing = record.session_id.value
        return self.get_session(ChatSessionId(existing))  # type: ignore[return-value]

    def get_session(self, session_id: ChatSessionId) -> Deferred[ChatSessionRecord | None]:
        record = self._sessions.get(session_id.value)
        if record is None:
            return succeed(None)
        refs = {p: r for (p, r), s in self._session_refs.items() if s == session_id.value}
        return succeed(evolve(record, refs=refs))

    def set_session_ref(self, session_id: ChatSessionId, platform: str, ref: str) -> Deferred[None]:
        if session_id.value not in self._sessions:
            return fail(KeyError(f"no chat session {session_id}"))
        for key in [
            k for k, s in self._session_refs.items() if s == session_id.value and k[0] == platform
        ]:
            del self._session_refs[key]
        self._session_refs[(platform, ref)] = session_id.value
        return succeed(None)

    def find_session_by_ref(self, platform: str, ref: str) -> Deferred[ChatSessionRecord | None]:
        session = self._session_refs.get((platform, ref))
        if session is None:
            return succeed(None)
        return self.get_session(ChatSessionId(session))

    def map_message(
        self, message_id: str, platform: str, native_id: str, session_id: ChatSessionId | None
    ) -> Deferred[None]:
        earlier = self._natives.get((message_id, platform))
        if earlier is not None:
            # A later mapping replaces the earlier one, lookups included.
            self._messages.pop((platform, earlier), None)
        self._messages[(platform, native_id)] = message_id
        self._natives[(message_id, platform)] = native_id
        return succeed(None)

    def find_message_id(self, platform: str, native_id: str) -> Deferred[str | None]:
        return succeed(self._messages.get((platform, native_id)))

    def find_native_id(self, message_id: str, platform: str) -> Deferred[str | None]:
        return succeed(self._natives.get((message_id, platform)))

    def put_tenant_policy(self, policy: TenantPolicy) -> Deferred[None]:
        self._tenant_policies[policy.tenant] = policy
        return succeed(None)

    def get_tenant_policy(self, tenant: str) -> Deferred[TenantPolicy]:
        return succeed(self._tenant_policies.get(tenant, TenantPolicy(tenant)))

    def put_user_policy(self, policy: UserPolicy) -> Deferred[None]:
        self._user_policies[policy.address.key] = policy
        return succeed(None)

    def get_user_policy(self, address: Address) -> Deferred[UserPolicy | None]:
        return succeed(self._user_policies.get(address.key))

    def put_domain_policy(self, policy: DomainPolicy) -> Deferred[None]:
        self._domain_policies[(policy.tenant, policy.pattern)] = policy
        return succeed(None)

    def remove_domain_policy(self, tenant: str, pattern: str) -> Deferred[bool]:
        return succeed(self._domain_policies.pop((tenant, pattern), None) is not None)

    def list_domain_policies(self, tenant: str) -> Deferred[list[DomainPolicy]]:
        found = [p for (t, _), p in sorted(self._domain_policies.items()) if t == tenant]
        return succeed(found)

    def put_installation(self, installation: PlatformInstallation) -> Deferred[None]:
        self._installations[(installation.platform, installation.workspace)] = installation
        return succeed(None)

    def get_installation(
        self, platform: str, workspace: str
    ) -> Deferred[PlatformInstallation | None]:
        return succeed(self._installations.get((platform, workspace)))

    def list_installations(
        self, platform: str | None = None
    ) -> Deferred[list[PlatformInstallation]]:
        return succeed(
            [i for k, i in sorted(self._installations.items()) if platform in (None, k[0])]
        )

    def remove_installation(self, platform: str, workspace: str) -> Deferred[bool]:
        return succeed(self._installations.pop((platform, workspace), None) is not None)

    def append_metadata(self, record: MetadataRecord) -> Deferred[int]:
        record_id = next(self._ids)
        self._metadata.append(evolve(record, record_id=record_id))
        contribution = usage_contribution(record)
        if contribution is not None:
            c = contribution
            self._usage_users.add((c.day, c.tenant, c.remote_domain, c.platform, c.user))
            self._usage_messages[(c.day, c.tenant, c.remote_domain, c.platform)] += c.messages
        return succeed(record_id)

    def query_metadata(self, query: MetadataQuery) -> Deferred[list[MetadataRecord]]:
        found = sorted(
            (r for r in self._metadata if matches(r, query)),
            key=lambda r: (r.timestamp, r.record_id or 0),
        )
        return succeed(found[query.offset : query.offset + query.limit])

    def usage(
        self, since: date, until: date, group_by: Iterable[str], tenant: str | None = None
    ) -> Deferred[list[UsageRow]]:
        fields = check_group_by(group_by)
        users = [r for r in self._usage_users if since <= r[0] < until and tenant in (None, r[1])]
        messages = [
            (*k, n)
            for k, n in self._usage_messages.items()
            if since <= k[0] < until and tenant in (None, k[1])
        ]
        return succeed(group_usage(users, messages, fields))

    def claim_work(self, record: WorkRecord) -> Deferred[bool]:
        key = (record.source, record.origin)
        if key in self._work:
            return succeed(False)
        self._work[key] = record
        return succeed(True)

    def update_work(
        self, source: str, origin: str, state: WorkState, now: datetime, delivered_id: str = ""
    ) -> Deferred[None]:
        record = self._work.get((source, origin))
        if record is not None:
            self._work[(source, origin)] = evolve(
                record,
                state=state,
                updated_at=now,
                delivered_id=delivered_id or record.delivered_id,
            )
        return succeed(None)

    def unfinished_work(self) -> Deferred[list[WorkRecord]]:
        unfinished = [r for r in self._work.values() if not r.state.finished]
        return succeed(sorted(unfinished, key=lambda r: (r.accepted_at, r.source, r.origin)))

    def find_work(self, source: str, origin: str) -> Deferred[WorkRecord | None]:
        return succeed(self._work.get((source, origin)))

    def prune_work(self, before: datetime) -> Deferred[int]:
        old = [k for k, r in self._work.items() if r.state.finished and r.updated_at < before]
        for key in old:
            del self._work[key]
        return succeed(len(old))

    def put_sip_subscription(self, record: SipSubscriptionRecord) -> Deferred[None]:
        self._sip_subscriptions[(record.call_id, record.local_tag)] = record
        return succeed(None)

    def remove_sip_subscription(self, call_id: str, local_tag: str) -> Deferred[bool]:
        return succeed(self._sip_subscriptions.pop((call_id, local_tag), None) is not None)

    def list_sip_subscriptions(self) -> Deferred[list[SipSubscriptionRecord]]:
        return succeed([r for _, r in sorted(self._sip_subscriptions.items())])

    def put_message_ref(self, ref: MessageRef) -> Deferred[None]:
        self._refs[(ref.platform, ref.conversation, ref.native_id)] = ref
        return succeed(None)

    def find_message_ref(
        self, platform: str, conversation: str, native_id: str
    ) -> Deferred[MessageRef | None]:
        return succeed(self._refs.get((platform, conversation, native_id)))

    def message_ref_by_hub(self, platform: str, hub_id: str) -> Deferred[MessageRef | None]:
        found = [r for r in self._refs.values() if (r.platform, r.hub_id) == (platform, hub_id)]
        return succeed(min(found, key=lambda r: (r.created_at, r.native_id), default=None))

    def thread_start(
        self, platform: str, conversation: str, contact: Address
    ) -> Deferred[MessageRef | None]:
        found = [
            r
            for r in self._refs.values()
            if r.starts_thread
            and (r.platform, r.conversation, r.contact)
            == (
                platform,
                conversation,
                contact,
            )
        ]
        return succeed(max(found, key=lambda r: (r.created_at, r.native_id), default=None))

    def prune_message_refs(self, before: datetime) -> Deferred[int]:
        old = [k for k, r in self._refs.items() if r.created_at < before]
        for key in old:
            del self._refs[key]
        return succeed(len(old))

    def dump_tables(self) -> Deferred[dict[str, list[tuple[Any, ...]]]]:
        def rows(values: Iterable[Any]) -> list[tuple[Any, ...]]:
            return [tuple(str(v) for v in _astuple(value)) for value in values]

        return succeed(
            {
                "tenants": rows(self._tenants.values()),
                "users": rows(self._users.values()),
                "contacts": rows(self._contacts.values()),
                "chat_sessions": rows(self._sessions.values()),
                "session_refs": [(*k, v) for k, v in self._session_refs.items()],
                "message_map": [(*k, v) for k, v in self._messages.items()],
                "tenant_policies": rows(self._tenant_policies.values()),
                "user_policies": rows(self._user_policies.values()),
                "domain_policies": rows(self._domain_policies.values()),
                "metadata_log": rows(self._metadata),
                "usage_users": [tuple(str(v) for v in r) for r in self._usage_users],
                "usage_messages": [(*map(str, k), str(n)) for k, n in self._usage_messages.items()],
                "platform_installations": [
                    _installation_row(i) for _, i in sorted(self._installations.items())
                ],
                "work_records": rows(r for _, r in sorted(self._work.items())),
                "sip_subscriptions": [
                    _sip_row(r) for _, r in sorted(self._sip_subscriptions.items())
                ],
                "message_refs": [
                    tuple(dump_value(v) for v in r.row()) for _, r in sorted(self._refs.items())
                ],
            }
        )


def _installation_row(installation: PlatformInstallation) -> tuple[str | None, ...]:
    # The SQL backends' columns and text; the credentials are never dumped.
    i = installation
    return (
        i.platform,
        i.workspace,
        REDACTED,
        ",".join(i.scopes),
        i.installed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        i.attributes_json,
    )


def _sip_row(record: SipSubscriptionRecord) -> tuple[str | None, ...]:
    # The SQL backends' columns and text.
    return tuple(dump_value(v) for v in record.row())


def _astuple(value: Any) -> tuple[Any, ...]:
    from attrs import astuple

    return astuple(value, recurse=False)
