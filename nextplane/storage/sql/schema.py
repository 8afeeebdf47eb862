# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
The tables both SQL dialects store: columns in dump and insert order, keys,
and the columns holding secrets.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from ...logs import REDACTED

__all__ = [
    "CONTACTS",
    "DOMAIN_POLICIES",
    "INSTALLATIONS",
    "MESSAGE_MAP",
    "MESSAGE_REFS",
    "METADATA",
    "SESSIONS",
    "SESSION_REFS",
    "SIP_SUBSCRIPTIONS",
    "TABLES",
    "TENANTS",
    "TENANT_POLICIES",
    "USAGE_MESSAGES",
    "USAGE_USERS",
    "USERS",
    "USER_POLICIES",
    "WORK",
    "Table",
]


@frozen
class Table:
    """
    A table's columns, in the order dumps and inserts use, and its key.

    @ivar secret: Columns holding secrets, which dumps show as
        C{"[redacted]"}.
    """

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    secret: tuple[str, ...] = ()

    @property
    def select(self) -> str:
        """
        C{SELECT} of every column, for appending a C{WHERE} clause.
        """
        return f"SELECT {', '.join(self.columns)} FROM {self.name}"

    @property
    def dump(self) -> str:
        """
        C{SELECT} of every row for a dump, ordered by key: secret columns
        are replaced by C{'[redacted]'} in the database, so they are never
        even read.
        """
        columns = ", ".join(f"'{REDACTED}'" if c in self.secret else c for c in self.columns)
        return f"SELECT {columns} FROM {self.name} ORDER BY {', '.join(self.key)}"

    def insert(self, columns: Sequence[str] | None = None, suffix: str = "") -> str:
        """
        An C{INSERT} of C{columns} (default: all), followed by C{suffix}.
        """
        names = tuple(columns or self.columns)
        values = ", ".join("?" for _ in names)
        return f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({values}){suffix}"

    def upsert(self, add: Sequence[str] = ()) -> str:
        """
        An C{INSERT} of every column that, on a row with the same key,
        replaces the other columns, or adds to those named in C{add}.
        """
        updates = ", ".join(
            f"{c} = {self.name}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
            for c in self.columns
            if c not in self.key
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        return self.insert(suffix=f" ON CONFLICT ({', '.join(self.key)}) {action}")


TENANTS = Table("tenants", ("domain", "platform", "workspace", "display_name"), ("domain",))
USERS = Table(
    "users",
    (
        "address_key",
        "local",
        "domain",
        "tenant",
        "platform",
        "platform_id",
        "display_name",
        "avatar_url",
        "title",
    ),
    ("address_key",),
)
CONTACTS = Table(
    "contacts",
    (
        "owner_key",
        "external_key",
        "owner",
        "external",
        "state",
        "direction",
        "created_at",
        "updated_at",
    ),
    ("owner_key", "external_key"),
)
SESSIONS = Table(
    "chat_sessions",
    ("session_id", "first_key", "second_key", "first", "second", "created_at"),
    ("session_id",),
)
SESSION_REFS = Table("session_refs", ("platform", "ref", "session_id"), ("platform", "ref"))
MESSAGE_MAP = Table(
    "message_map", ("platform", "native_id", "message_id", "session_id"), ("platform", "native_id")
)
TENANT_POLICIES = Table(
    "tenant_policies",
    ("tenant", "federation", "files", "presence", "channel_invites"),
    ("tenant",),
)
USER_POLICIES = Table("user_policies", ("address_key", "address", "enabled"), ("address_key",))
DOMAIN_POLICIES = Table("domain_policies", ("tenant", "pattern", "action"), ("tenant", "pattern"))
METADATA = Table(
    "metadata_log",
    (
        "id",
        "ts",
        "sender",
        "receiver",
        "category",
        "kind",
        "session_id",
        "decision",
        "reason",
        "tenant",
        "remote_domain",
        "platform",
    ),
    ("id",),
)
USAGE_USERS = Table(
    "usage_users",
    ("day", "tenant", "remote_domain", "platform", "user_key"),
    ("day", "tenant", "remote_domain", "platform", "user_key"),
)
USAGE_MESSAGES = Table(
    "usage_messages",
    ("day", "tenant", "remote_domain", "platform", "messages"),
    ("day", "tenant", "remote_domain", "platform"),
)
INSTALLATIONS = Table(
    "platform_installations",
    ("platform", "workspace", "credentials", "scopes", "installed_at", "attributes"),
    ("platform", "workspace"),
    secret=("credentials",),
)

SIP_SUBSCRIPTIONS = Table(
    "sip_subscriptions",
    (
        "call_id",
        "local_tag",
        "role",
        "hub_user",
        "remote",
        "remote_tag",
        "local_uri",
        "remote_uri",
        "remote_target",
        "route_set",
        "local_seq",
        "remote_seq",
        "local_contact",
        "secure",
        "state",
        "expires_at",
    ),
    ("call_id", "local_tag"),
)

#: Every data table, in dump order. C{schema_migrations} is not data.
MESSAGE_REFS = Table(
    "message_refs",
    (
        "platform",
        "conversation",
        "native_id",
        "hub_id",
        "user_address",
        "contact",
        "from_platform",
        "thread_parent",
        "starts_thread",
        "created_at",
    ),
    ("platform", "conversation", "native_id"),
)

WORK = Table(
    "work_records",
    (
        "source",
        "origin",
        "work_id",
        "sender",
        "recipient",
        "conversation",
        "native_id",
        "delivered_id",
        "state",
        "accepted_at",
        "updated_at",
    ),
    ("source", "origin"),
)
TABLES: tuple[Table, ...] = (
    TENANTS,
    USERS,
    CONTACTS,
    SESSIONS,
    SESSION_REFS,
    MESSAGE_MAP,
    TENANT_POLICIES,
    USER_POLICIES,
    DOMAIN_POLICIES,
    METADATA,
    USAGE_USERS,
    USAGE_MESSAGES,
    INSTALLATIONS,
    WORK,
    SIP_SUBSCRIPTIONS,
    MESSAGE_REFS,
)
