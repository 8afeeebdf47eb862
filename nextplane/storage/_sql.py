# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
What the SQLite and PostgreSQL stores share: every L{IStore} operation
written once as a sans-IO I{program}, plus row/record conversions.

A program is a generator that yields L{Query} and L{Script} steps and is
sent each step's result rows back; its return value is the operation's
result. A backend only has to run programs inside one transaction: SQLite
drives them synchronously in its database thread (L{drive_sync}),
PostgreSQL asynchronously on txpostgres cursors (L{drive_async}). The SQL
text uses C{?} placeholders; L{to_pyformat} translates it for psycopg2.

Both dialects store the same tables and columns. Timestamps are text in
SQLite and C{timestamptz} in PostgreSQL, so the conversions here accept
either form and always return timezone-aware UTC values.

Secrets (the bot tokens of C{slack_installations}) are stored as they are,
since the hub must use them, but L{SQLStore.dump_tables} never selects
them: their columns (L{Table.secret}) read C{"[redacted]"} in a dump.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar

from attrs import frozen
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from ..interfaces import IStore
from ..logs import REDACTED
from ..model.address import Address, ChatSessionId
from .memory import check_group_by, group_usage
from .records import (
    ChatSessionRecord,
    ContactChange,
    ContactRecord,
    DomainPolicy,
    MetadataQuery,
    MetadataRecord,
    SlackInstallation,
    TenantPolicy,
    TenantRecord,
    UsageRow,
    UserPolicy,
    UserRecord,
    usage_contribution,
)

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "TABLES",
    "Dialect",
    "Op",
    "Query",
    "Rows",
    "SQLStore",
    "Script",
    "SecretWriteError",
    "Step",
    "StoreNotOpenError",
    "Table",
    "current_version",
    "drive_async",
    "drive_sync",
    "to_date",
    "to_datetime",
    "to_pyformat",
]

T = TypeVar("T")

Row = tuple[Any, ...]
Rows = list[Row]


class StoreNotOpenError(RuntimeError):
    """
    An operation was asked of a store that is not open.
    """


class SecretWriteError(RuntimeError):
    """
    Writing a record that holds a secret failed. The message names the
    operation, the driver's exception type and SQLSTATE, but not the
    driver's text: PostgreSQL's C{DETAIL} may quote the row or key, secret
    included.
    """


def _hide_values(what: str) -> Callable[[Failure], Failure]:
    def hide(failure: Failure) -> Failure:
        if failure.check(StoreNotOpenError):
            return failure
        error = failure.value
        code = getattr(error, "pgcode", None)
        detail = f"{type(error).__name__}" + (f", SQLSTATE {code}" if code else "")
        return Failure(SecretWriteError(f"{what} failed ({detail})"))

    return hide


@frozen
class Query:
    """
    One SQL statement with C{?} placeholders and its parameters. Its result
    rows (empty for statements that return none) are sent back to the
    program.
    """

    sql: str
    params: tuple[Any, ...] = ()


@frozen
class Script:
    """
    Several parameterless SQL statements separated by semicolons, such as a
    migration file, run inside the current transaction. Sends back no rows.
    """

    sql: str


Step = Query | Script

#: A store operation: yields steps, receives their rows, returns a C{T}.
Op = Generator[Step, Rows, T]


def drive_sync(op: Op[T], execute: Callable[[Step], Rows]) -> T:
    """
    Run C{op} to completion, executing each step synchronously.

    @param execute: Runs one step and returns its rows.
    @return: The program's return value.
    """
    try:
        step = next(op)
        while True:
            step = op.send(execute(step))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def drive_async(op: Op[T], execute: Callable[[Step], Awaitable[Rows]]) -> T:
    """
    Run C{op} to completion, awaiting each step.

    @param execute: Runs one step and returns an awaitable of its rows.
    @return: The program's return value.
    """
    try:
        step = next(op)
        while True:
            rows = await execute(step)
            step = op.send(rows)
    except StopIteration as stop:
        result: T = stop.value
        return result


@functools.lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """
    Translate C{?} placeholders into psycopg2's C{%s}, escaping literal
    percent signs first. The shared SQL never has C{?} inside literals.
    """
    return sql.replace("%", "%%").replace("?", "%s")


def to_datetime(value: Any) -> datetime:
    """
    A stored timestamp (ISO-8601 text or a C{datetime}) as an aware UTC
    C{datetime}.
    """
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def to_date(value: Any) -> date:
    """
    A stored day (ISO-8601 text or a C{date}) as a C{date}.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _dump_value(value: Any) -> str | None:
    # Text for audits; timestamps in one form whichever dialect stored them.
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _address(text: str) -> Address:
    # Not Address.parse: it would strip a local part that looks like a scheme.
    local, _, domain = text.rpartition("@")
    return Address(local, domain)


@frozen
class Dialect:
    """
    The few things the shared SQL cannot say the same way in both dialects.

    @ivar name: C{"sqlite"} or C{"postgresql"}; also the folder of its
        migration files under C{schema/}.
    @ivar external_domain: An expression for a contact's external domain,
        written exactly as in the schema's expression index so it is used.
    @ivar owner_domain: The same for a contact's owner.
    @ivar list_tables: A query for the names of the tables of the store.
    @ivar migration_lock: A statement serialising concurrent migrations
        within a transaction, or C{None} when beginning one already does.
    """

    name: str
    external_domain: str
    owner_domain: str
    list_tables: str
    migration_lock: str | None


SQLITE = Dialect(
    name="sqlite",
    external_domain="substr(external_key, instr(external_key, '@') + 1)",
    owner_domain="substr(owner_key, instr(owner_key, '@') + 1)",
    list_tables=(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name"
    ),
    migration_lock=None,
)

POSTGRESQL = Dialect(
    name="postgresql",
    external_domain="split_part(external_key, '@', 2)",
    owner_domain="split_part(owner_key, '@', 2)",
    list_tables=(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        " ORDER BY table_name"
    ),
    # An arbitrary application-wide key: 'np' 'mi' in ASCII.
    migration_lock="SELECT pg_advisory_xact_lock(1852862825)",
)


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


_TENANTS = Table("tenants", ("domain", "platform", "workspace", "display_name"), ("domain",))
_USERS = Table(
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
_CONTACTS = Table(
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
_SESSIONS = Table(
    "chat_sessions",
    ("session_id", "first_key", "second_key", "first", "second", "created_at"),
    ("session_id",),
)
_SESSION_REFS = Table("session_refs", ("platform", "ref", "session_id"), ("platform", "ref"))
_MESSAGE_MAP = Table(
    "message_map", ("platform", "native_id", "message_id", "session_id"), ("platform", "native_id")
)
_TENANT_POLICIES = Table(
    "tenant_policies",
    ("tenant", "federation", "files", "presence", "channel_invites"),
    ("tenant",),
)
_USER_POLICIES = Table("user_policies", ("address_key", "address", "enabled"), ("address_key",))
_DOMAIN_POLICIES = Table("domain_policies", ("tenant", "pattern", "action"), ("tenant", "pattern"))
_METADATA = Table(
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
_USAGE_USERS = Table(
    "usage_users",
    ("day", "tenant", "remote_domain", "platform", "user_key"),
    ("day", "tenant", "remote_domain", "platform", "user_key"),
)
_USAGE_MESSAGES = Table(
    "usage_messages",
    ("day", "tenant", "remote_domain", "platform", "messages"),
    ("day", "tenant", "remote_domain", "platform"),
)
_INSTALLATIONS = Table(
    "slack_installations",
    (
        "team_id",
        "bot_token",
        "bot_user_id",
        "bot_id",
        "scopes",
        "installed_at",
        "enterprise_id",
    ),
    ("team_id",),
    secret=("bot_token",),
)

#: Every data table, in dump order. C{schema_migrations} is not data.
TABLES: tuple[Table, ...] = (
    _TENANTS,
    _USERS,
    _CONTACTS,
    _SESSIONS,
    _SESSION_REFS,
    _MESSAGE_MAP,
    _TENANT_POLICIES,
    _USER_POLICIES,
    _DOMAIN_POLICIES,
    _METADATA,
    _USAGE_USERS,
    _USAGE_MESSAGES,
    _INSTALLATIONS,
)

_PUT_TENANT = _TENANTS.upsert()
_PUT_USER = _USERS.upsert()
_PUT_CONTACT = _CONTACTS.upsert()
_PUT_SESSION_REF = _SESSION_REFS.upsert()
_PUT_MESSAGE = _MESSAGE_MAP.upsert()
_PUT_TENANT_POLICY = _TENANT_POLICIES.upsert()
_PUT_USER_POLICY = _USER_POLICIES.upsert()
_PUT_DOMAIN_POLICY = _DOMAIN_POLICIES.upsert()
_INSERT_METADATA = _METADATA.insert(_METADATA.columns[1:], " RETURNING id")
_INSERT_SESSION = _SESSIONS.insert(suffix=" ON CONFLICT (first_key, second_key) DO NOTHING")
_PUT_INSTALLATION = _INSTALLATIONS.upsert()
_COUNT_USER = _USAGE_USERS.upsert()
_COUNT_MESSAGES = _USAGE_MESSAGES.upsert(add=("messages",))
_SELECT_SESSION = (
    "SELECT session_id, first, second, created_at FROM chat_sessions WHERE session_id = ?"
)


def _tenant(row: Row) -> TenantRecord:
    return TenantRecord(*row)


def _user(row: Row) -> UserRecord:
    _, local, domain, tenant, platform, platform_id, display_name, avatar_url, title = row
    return UserRecord(
        Address(local, domain), tenant, platform, platform_id, display_name, avatar_url, title
    )


def _contact(row: Row) -> ContactRecord:
    _, _, owner, external, state, direction, created_at, updated_at = row
    return ContactRecord(
        _address(owner),
        _address(external),
        state,
        direction,
        to_datetime(created_at),
        to_datetime(updated_at),
    )


def _installation(row: Row) -> SlackInstallation:
    team_id, bot_token, bot_user_id, bot_id, scopes, installed_at, enterprise_id = row
    return SlackInstallation(
        team_id,
        bot_token,
        bot_user_id,
        bot_id,
        tuple(s for s in scopes.split(",") if s),
        to_datetime(installed_at),
        enterprise_id,
    )


def _metadata(row: Row) -> MetadataRecord:
    record_id, ts, sender, receiver, category, kind, session_id, decision, reason, *rest = row
    tenant, remote_domain, platform = rest
    return MetadataRecord(
        timestamp=to_datetime(ts),
        sender=sender,
        receiver=receiver,
        category=category,
        kind=kind,
        session_id=session_id,
        decision=decision,
        reason=reason,
        tenant=tenant,
        remote_domain=remote_domain,
        platform=platform,
        record_id=int(record_id),
    )


_GROUP_FIELDS = ("tenant", "remote_domain", "platform")


def current_version() -> Op[int]:
    """
    The highest applied migration, 0 for none.
    """
    rows = yield Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(rows[0][0])


def _first(rows: Rows) -> Row | None:
    return rows[0] if rows else None


@implementer(IStore)
class SQLStore:
    """
    The L{IStore} operations both SQL backends share.

    Subclasses set L{dialect} and L{backend_name}, implement C{open},
    C{close} and L{_run}, and inherit everything else.
    """

    backend_name: ClassVar[str]
    dialect: ClassVar[Dialect]

    def open(self) -> Deferred[int]:
        """
        Connect and apply pending migrations.

        @return: A L{Deferred} firing with the schema version in force.
        """
        raise NotImplementedError

    def close(self) -> Deferred[None]:
        """
        Release connections and threads.

        @return: A L{Deferred} firing with C{None}.
        """
        raise NotImplementedError

    def _run(self, op: Op[T], *, write: bool) -> Deferred[T]:
        """
        Run C{op} in one transaction, off the reactor thread or without
        blocking it.

        @param write: Whether C{op} may write; SQLite then takes the write
            lock when the transaction begins rather than upgrading later.
        @return: A L{Deferred} firing with C{op}'s result.
        """
        raise NotImplementedError

    def _read(self, op: Op[T]) -> Deferred[T]:
        return self._run(op, write=False)

    def _write(self, op: Op[T]) -> Deferred[T]:
        return self._run(op, write=True)

    # schema

    def schema_version(self) -> Deferred[int]:
        """
        @return: A L{Deferred} firing with the highest applied migration.
        """
        return self._read(current_version())

    # tenants

    def put_tenant(self, tenant: TenantRecord) -> Deferred[None]:
        """
        Insert or replace C{tenant} by domain.
        """

        def op() -> Op[None]:
            t = tenant
            yield Query(_PUT_TENANT, (t.domain, t.platform, t.workspace, t.display_name))

        return self._write(op())

    def get_tenant(self, domain: str) -> Deferred[TenantRecord | None]:
        """
        @return: A L{Deferred} firing with the tenant of C{domain} or C{None}.
        """

        def op() -> Op[TenantRecord | None]:
            row = _first((yield Query(f"{_TENANTS.select} WHERE domain = ?", (domain,))))
            return None if row is None else _tenant(row)

        return self._read(op())

    def list_tenants(self) -> Deferred[list[TenantRecord]]:
        """
        @return: A L{Deferred} firing with every tenant, ordered by domain.
        """

        def op() -> Op[list[TenantRecord]]:
            rows = yield Query(f"{_TENANTS.select} ORDER BY domain")
            return [_tenant(row) for row in rows]

        return self._read(op())

    # users

    def put_user(self, user: UserRecord) -> Deferred[None]:
        """
        Insert or replace C{user} by its case-insensitive address. Another
        user holding the same platform id is replaced too, since one
        platform account maps to one address.
        """

        def op() -> Op[None]:
            u, key = user, user.address.key
            yield Query(
                "DELETE FROM users WHERE platform = ? AND platform_id = ? AND address_key <> ?",
                (u.platform, u.platform_id, key),
            )
            yield Query(
                _PUT_USER,
                (
                    key,
                    u.address.local,
                    u.address.domain,
                    u.tenant,
                    u.platform,
                    u.platform_id,
                    u.display_name,
                    u.avatar_url,
                    u.title,
                ),
            )

        return self._write(op())

    def get_user(self, address: Address) -> Deferred[UserRecord | None]:
        """
        @return: A L{Deferred} firing with the user of C{address} (in any
            case) or C{None}.
        """

        def op() -> Op[UserRecord | None]:
            sql = f"{_USERS.select} WHERE address_key = ?"
            row = _first((yield Query(sql, (address.key,))))
            return None if row is None else _user(row)

        return self._read(op())

    def find_user(self, platform: str, platform_id: str) -> Deferred[UserRecord | None]:
        """
        @return: A L{Deferred} firing with the user with native id
            C{platform_id} on C{platform}, or C{None}.
        """

        def op() -> Op[UserRecord | None]:
            sql = f"{_USERS.select} WHERE platform = ? AND platform_id = ?"
            row = _first((yield Query(sql, (platform, platform_id))))
            return None if row is None else _user(row)

        return self._read(op())

    def list_users(self, tenant: str) -> Deferred[list[UserRecord]]:
        """
        @return: A L{Deferred} firing with the users of C{tenant}, ordered
            by address.
        """

        def op() -> Op[list[UserRecord]]:
            sql = f"{_USERS.select} WHERE tenant = ? ORDER BY address_key"
            return [_user(row) for row in (yield Query(sql, (tenant,)))]

        return self._read(op())

    # contacts

    def put_contact(self, contact: ContactRecord) -> Deferred[None]:
        """
        Insert or replace C{contact} by (owner, external).
        """

        def op() -> Op[None]:
            c = contact
            params = (
                c.owner.key,
                c.external.key,
                str(c.owner),
                str(c.external),
                c.state.value,
                c.direction.value,
                c.created_at,
                c.updated_at,
            )
            yield Query(_PUT_CONTACT, params)

        return self._write(op())

    def get_contact(self, owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """
        @return: A L{Deferred} firing with the contact or C{None}.
        """

        def op() -> Op[ContactRecord | None]:
            sql = f"{_CONTACTS.select} WHERE owner_key = ? AND external_key = ?"
            row = _first((yield Query(sql, (owner.key, external.key))))
            return None if row is None else _contact(row)

        return self._read(op())

    def list_contacts(
        self,
        owner: Address | None = None,
        external_domain: str | None = None,
        state: str | None = None,
    ) -> Deferred[list[ContactRecord]]:
        """
        Contacts filtered by owner, external domain and/or state.

        @return: A L{Deferred} firing with a list ordered by (owner,
            external).
        """
        where, params = _where(
            [
                ("owner_key = ?", None if owner is None else owner.key),
                (f"{self.dialect.external_domain} = ?", external_domain),
                ("state = ?", None if state is None else str(state)),
            ]
        )

        def op() -> Op[list[ContactRecord]]:
            sql = f"{_CONTACTS.select}{where} ORDER BY owner_key, external_key"
            return [_contact(row) for row in (yield Query(sql, params))]

        return self._read(op())

    def change_contacts(self, change: ContactChange) -> Deferred[list[ContactRecord]]:
        """
        Apply C{change} with one C{UPDATE ... RETURNING}.

        @return: A L{Deferred} firing with the contacts changed, ordered by
            (owner, external).
        """
        if change.from_states == () or change.owner_domains == ():
            return succeed([])  # an empty set of states or tenants matches nothing
        domain = self.dialect.external_domain
        pattern = change.external_pattern or ""
        wildcard = pattern.startswith("*.")
        conditions: list[tuple[Any, ...]] = [
            ("state <> ?", change.state.value),
            ("owner_key = ?", None if change.owner is None else change.owner.key),
            ("external_key = ?", None if change.external is None else change.external.key),
            (f"{domain} = ?", None if wildcard or not pattern else pattern),
            (f"{domain} LIKE ? ESCAPE '!'", _like_suffix(pattern[1:]) if wildcard else None),
            ("updated_at < ?", change.updated_before),
        ]
        for column, values in (
            ("state", [s.value for s in change.from_states or ()]),
            (self.dialect.owner_domain, list(change.owner_domains or ())),
        ):
            if values:
                conditions.append((f"{column} IN ({', '.join('?' for _ in values)})", *values))
        where, params = _where(conditions)

        def op() -> Op[list[ContactRecord]]:
            sql = (
                f"UPDATE contacts SET state = ?, updated_at = ?{where}"
                f" RETURNING {', '.join(_CONTACTS.columns)}"
            )
            rows = yield Query(sql, (change.state.value, change.at, *params))
            return sorted((_contact(row) for row in rows), key=_contact_order)

        return self._write(op())

    # chat sessions

    def get_or_create_session(
        self, first: Address, second: Address, now: datetime
    ) -> Deferred[ChatSessionRecord]:
        """
        The session between two addresses in either order, created at
        C{now} if missing. Safe against concurrent creators: the insert
        yields to an existing row and the row is then read back.
        """
        a, b = (first, second) if first.key <= second.key else (second, first)

        def op() -> Op[ChatSessionRecord]:
            new_id = ChatSessionId.new().value
            yield Query(_INSERT_SESSION, (new_id, a.key, b.key, str(a), str(b), now))
            rows = yield Query(
                "SELECT session_id FROM chat_sessions WHERE first_key = ? AND second_key = ?",
                (a.key, b.key),
            )
            record = yield from _load_session(rows[0][0])
            assert record is not None  # just read in this transaction
            return record

        return self._write(op())

    def get_session(self, session_id: ChatSessionId) -> Deferred[ChatSessionRecord | None]:
        """
        @return: A L{Deferred} firing with the session and its refs, or
            C{None}.
        """
        return self._read(_load_session(session_id.value))

    def set_session_ref(self, session_id: ChatSessionId, platform: str, ref: str) -> Deferred[None]:
        """
        Record C{platform}'s reference C{ref} for a session, replacing the
        session's earlier reference on that platform.
        """

        def op() -> Op[None]:
            yield Query(
                "DELETE FROM session_refs WHERE session_id = ? AND platform = ?",
                (session_id.value, platform),
            )
            yield Query(_PUT_SESSION_REF, (platform, ref, session_id.value))

        return self._write(op())

    def find_session_by_ref(self, platform: str, ref: str) -> Deferred[ChatSessionRecord | None]:
        """
        @return: A L{Deferred} firing with the session C{ref} refers to on
            C{platform}, or C{None}.
        """

        def op() -> Op[ChatSessionRecord | None]:
            sql = "SELECT session_id FROM session_refs WHERE platform = ? AND ref = ?"
            row = _first((yield Query(sql, (platform, ref))))
            if row is None:
                return None
            return (yield from _load_session(row[0]))

        return self._read(op())

    # message-id maps

    def map_message(
        self, message_id: str, platform: str, native_id: str, session_id: ChatSessionId | None
    ) -> Deferred[None]:
        """
        Remember that hub message C{message_id} is C{native_id} on
        C{platform}. Idempotent; a later mapping of the same message on
        the same platform replaces the earlier one.
        """

        def op() -> Op[None]:
            yield Query(
                "DELETE FROM message_map WHERE message_id = ? AND platform = ? AND native_id <> ?",
                (message_id, platform, native_id),
            )
            session = None if session_id is None else session_id.value
            yield Query(_PUT_MESSAGE, (platform, native_id, message_id, session))

        return self._write(op())

    def find_message_id(self, platform: str, native_id: str) -> Deferred[str | None]:
        """
        @return: A L{Deferred} firing with the hub message id or C{None}.
        """

        def op() -> Op[str | None]:
            sql = "SELECT message_id FROM message_map WHERE platform = ? AND native_id = ?"
            row = _first((yield Query(sql, (platform, native_id))))
            return None if row is None else str(row[0])

        return self._read(op())

    def find_native_id(self, message_id: str, platform: str) -> Deferred[str | None]:
        """
        @return: A L{Deferred} firing with the native id on C{platform} or
            C{None}.
        """

        def op() -> Op[str | None]:
            sql = "SELECT native_id FROM message_map WHERE message_id = ? AND platform = ?"
            row = _first((yield Query(sql, (message_id, platform))))
            return None if row is None else str(row[0])

        return self._read(op())

    # policy

    def put_tenant_policy(self, policy: TenantPolicy) -> Deferred[None]:
        """
        Insert or replace a tenant's policy.
        """

        def op() -> Op[None]:
            p = policy
            params = (p.tenant, p.federation.value, p.files, p.presence, p.channel_invites)
            yield Query(_PUT_TENANT_POLICY, params)

        return self._write(op())

    def get_tenant_policy(self, tenant: str) -> Deferred[TenantPolicy]:
        """
        @return: A L{Deferred} firing with the stored policy, or the
            defaults when none is stored.
        """

        def op() -> Op[TenantPolicy]:
            sql = f"{_TENANT_POLICIES.select} WHERE tenant = ?"
            row = _first((yield Query(sql, (tenant,))))
            if row is None:
                return TenantPolicy(tenant)
            _, federation, files, presence, invites = row
            return TenantPolicy(tenant, federation, bool(files), bool(presence), bool(invites))

        return self._read(op())

    def put_user_policy(self, policy: UserPolicy) -> Deferred[None]:
        """
        Insert or replace a user's policy by case-insensitive address.
        """

        def op() -> Op[None]:
            params = (policy.address.key, str(policy.address), policy.enabled)
            yield Query(_PUT_USER_POLICY, params)

        return self._write(op())

    def get_user_policy(self, address: Address) -> Deferred[UserPolicy | None]:
        """
        @return: A L{Deferred} firing with the user's policy or C{None}.
        """

        def op() -> Op[UserPolicy | None]:
            sql = f"{_USER_POLICIES.select} WHERE address_key = ?"
            row = _first((yield Query(sql, (address.key,))))
            return None if row is None else UserPolicy(_address(row[1]), bool(row[2]))

        return self._read(op())

    def put_domain_policy(self, policy: DomainPolicy) -> Deferred[None]:
        """
        Insert or replace a domain rule by (tenant, pattern).
        """

        def op() -> Op[None]:
            params = (policy.tenant, policy.pattern, policy.action.value)
            yield Query(_PUT_DOMAIN_POLICY, params)

        return self._write(op())

    def remove_domain_policy(self, tenant: str, pattern: str) -> Deferred[bool]:
        """
        @return: A L{Deferred} firing with whether a rule was removed.
        """

        def op() -> Op[bool]:
            rows = yield Query(
                "DELETE FROM domain_policies WHERE tenant = ? AND pattern = ? RETURNING pattern",
                (tenant, pattern),
            )
            return bool(rows)

        return self._write(op())

    def list_domain_policies(self, tenant: str) -> Deferred[list[DomainPolicy]]:
        """
        @return: A L{Deferred} firing with a tenant's rules ordered by
            pattern.
        """

        def op() -> Op[list[DomainPolicy]]:
            sql = f"{_DOMAIN_POLICIES.select} WHERE tenant = ? ORDER BY pattern"
            return [DomainPolicy(*row) for row in (yield Query(sql, (tenant,)))]

        return self._read(op())

    # Slack app installations

    def put_installation(self, installation: SlackInstallation) -> Deferred[None]:
        """
        Insert or replace C{installation} by team id.
        """

        def op() -> Op[None]:
            i = installation
            params = (
                i.team_id,
                i.bot_token,
                i.bot_user_id,
                i.bot_id,
                ",".join(i.scopes),
                i.installed_at,
                i.enterprise_id,
            )
            yield Query(_PUT_INSTALLATION, params)

        what = f"storing the Slack installation of {installation.team_id}"
        return self._write(op()).addErrback(_hide_values(what))

    def get_installation(self, team_id: str) -> Deferred[SlackInstallation | None]:
        """
        @return: A L{Deferred} firing with the installation in C{team_id}
            or C{None}.
        """

        def op() -> Op[SlackInstallation | None]:
            sql = f"{_INSTALLATIONS.select} WHERE team_id = ?"
            row = _first((yield Query(sql, (team_id,))))
            return None if row is None else _installation(row)

        return self._read(op())

    def list_installations(self) -> Deferred[list[SlackInstallation]]:
        """
        @return: A L{Deferred} firing with every installation, ordered by
            team id.
        """

        def op() -> Op[list[SlackInstallation]]:
            rows = yield Query(f"{_INSTALLATIONS.select} ORDER BY team_id")
            return [_installation(row) for row in rows]

        return self._read(op())

    def remove_installation(self, team_id: str) -> Deferred[bool]:
        """
        @return: A L{Deferred} firing with whether an installation was
            removed.
        """

        def op() -> Op[bool]:
            rows = yield Query(
                "DELETE FROM slack_installations WHERE team_id = ? RETURNING team_id", (team_id,)
            )
            return bool(rows)

        return self._write(op())

    # metadata log and usage

    def append_metadata(self, record: MetadataRecord) -> Deferred[int]:
        """
        Append C{record} and add its L{usage_contribution} to the daily
        aggregates, in one transaction.

        @return: A L{Deferred} firing with the new record's id.
        """
        contribution = usage_contribution(record)

        def op() -> Op[int]:
            r = record
            rows = yield Query(
                _INSERT_METADATA,
                (
                    r.timestamp,
                    r.sender,
                    r.receiver,
                    r.category,
                    r.kind,
                    r.session_id,
                    r.decision.value,
                    r.reason,
                    r.tenant,
                    r.remote_domain,
                    r.platform,
                ),
            )
            if contribution is not None:
                c = contribution
                group = (c.day, c.tenant, c.remote_domain, c.platform)
                yield Query(_COUNT_USER, (*group, c.user))
                yield Query(_COUNT_MESSAGES, (*group, c.messages))
            return int(rows[0][0])

        return self._write(op())

    def query_metadata(self, query: MetadataQuery) -> Deferred[list[MetadataRecord]]:
        """
        @return: A L{Deferred} firing with the records passing every filter
            of C{query}, ordered by time then id, paged by its limit and
            offset.
        """
        q = query
        where, params = _where(
            [
                ("session_id = ?", q.session_id),
                # Both sides through lower() so exact case always matches.
                ("(lower(sender) = lower(?) OR lower(receiver) = lower(?))", q.user, q.user),
                ("remote_domain = ?", q.remote_domain),
                ("tenant = ?", q.tenant),
                ("category = ?", q.category),
                ("kind = ?", q.kind),
                ("ts >= ?", q.since),
                ("ts < ?", q.until),
            ]
        )

        def op() -> Op[list[MetadataRecord]]:
            sql = f"{_METADATA.select}{where} ORDER BY ts, id LIMIT ? OFFSET ?"
            rows = yield Query(sql, (*params, q.limit, q.offset))
            return [_metadata(row) for row in rows]

        return self._read(op())

    def usage(
        self, since: date, until: date, group_by: Iterable[str], tenant: str | None = None
    ) -> Deferred[list[UsageRow]]:
        """
        Daily unique users and messages from C{since} (inclusive) to
        C{until} (exclusive), grouped by day and the fields in C{group_by}.
        The database narrows the rows to the wanted grouping;
        L{group_usage} folds them exactly as the memory store does.

        @raise ValueError: If C{group_by} names an unknown field.
        @return: A L{Deferred} firing with L{UsageRow}s ordered by day then
            group.
        """
        fields = check_group_by(group_by)
        where, params = _where([("day >= ?", since), ("day < ?", until), ("tenant = ?", tenant)])
        columns = ", ".join(("day", *fields))

        def group(row: Row) -> tuple[date, str, str, str]:
            # Back to (day, tenant, remote_domain, platform) for group_usage.
            values = dict(zip(fields, row[1:-1]))
            by_tenant, by_remote, by_platform = (values.get(f, "") for f in _GROUP_FIELDS)
            return (to_date(row[0]), by_tenant, by_remote, by_platform)

        def op() -> Op[list[UsageRow]]:
            users = yield Query(
                f"SELECT DISTINCT {columns}, user_key FROM usage_users{where}", params
            )
            messages = yield Query(
                f"SELECT {columns}, SUM(messages) FROM usage_messages{where} GROUP BY {columns}",
                params,
            )
            return group_usage(
                [(*group(row), str(row[-1])) for row in users],
                [(*group(row), int(row[-1])) for row in messages],
                fields,
            )

        return self._read(op())

    def dump_tables(self) -> Deferred[dict[str, list[tuple[Any, ...]]]]:
        """
        Every row of every data table as text (C{None} for SQL C{NULL}),
        ordered by key, for privacy audits and backups. Secret columns
        (L{Table.secret}: bot tokens) read C{"[redacted]"}, so no dump
        holds a token; a hub rebuilt from a dump needs its Slack
        workspaces installed (or their tokens configured) again.
        """

        def op() -> Op[dict[str, list[tuple[Any, ...]]]]:
            dump: dict[str, list[tuple[Any, ...]]] = {}
            for table in TABLES:
                rows = yield Query(table.dump)
                dump[table.name] = [tuple(_dump_value(v) for v in row) for row in rows]
            return dump

        return self._read(op())


def _like_suffix(suffix: str) -> str:
    """
    A C{LIKE} pattern (escape character C{!}) matching text ending in
    C{suffix}.
    """
    escaped = suffix.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}"


def _contact_order(contact: ContactRecord) -> tuple[str, str]:
    return (contact.owner.key, contact.external.key)


def _where(conditions: Sequence[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """
    A C{WHERE} clause of the conditions whose parameters are not C{None}.

    @param conditions: C{(sql, param, ...)}; a condition applies when its
        first parameter is not C{None}.
    @return: The clause (empty or starting with a space) and its params.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for sql, *values in conditions:
        if values[0] is not None:
            clauses.append(sql)
            params.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def _load_session(session_id: str) -> Op[ChatSessionRecord | None]:
    row = _first((yield Query(_SELECT_SESSION, (session_id,))))
    if row is None:
        return None
    refs = yield Query(
        "SELECT platform, ref FROM session_refs WHERE session_id = ? ORDER BY platform",
        (session_id,),
    )
    return ChatSessionRecord(
        ChatSessionId(row[0]),
        _address(row[1]),
        _address(row[2]),
        to_datetime(row[3]),
        refs={platform: ref for platform, ref in refs},
    )
