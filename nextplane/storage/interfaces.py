# -*- test-case-name: tests.test_interfaces -*-
"""
Persistence by role. Each part of the hub depends on the role it uses:

  - L{IDirectory}: tenants and hub users;
  - L{IContacts}: contact state (written only by
    L{nextplane.contacts.ContactBook});
  - L{ISessions}: chat sessions, their platform references and the
    message-id maps;
  - L{IPolicy}: tenant, user and remote-domain rules;
  - L{IMetadata}: the metadata log and usage aggregates;
  - L{IInstallations}: platform app installations;
  - L{IWork}: work records, one per accepted message (ids and state).
  - L{ISipSubscriptions}: SIP presence subscriptions' dialogs.
  - L{IMessageRefs}: platform message ids, their contacts and threads
    (edits, deletions and replies across restarts).

L{IStore} is their union plus the store's life cycle; every backend
(in-memory, SQLite, PostgreSQL, and the cache in front of them) provides
it. Every method returns a L{Deferred}. No record holds message content.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

if TYPE_CHECKING:
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
    )

__all__ = [
    "IContacts",
    "IDirectory",
    "IInstallations",
    "IMessageRefs",
    "IMetadata",
    "IPolicy",
    "ISessions",
    "ISipSubscriptions",
    "IStore",
    "IWork",
]


class IDirectory(Interface):
    """
    Tenants and the hub users of their platforms.
    """

    def put_tenant(tenant: TenantRecord) -> Deferred[None]:
        """Insert or replace a L{TenantRecord} by domain. @return: Deferred[None]."""

    def get_tenant(domain: str) -> Deferred[TenantRecord | None]:
        """@return: Deferred[TenantRecord | None]."""

    def list_tenants() -> Deferred[list[TenantRecord]]:
        """@return: Deferred[list[TenantRecord]] ordered by domain."""

    def put_user(user: UserRecord) -> Deferred[None]:
        """
        Insert or replace a L{UserRecord} by address (case-insensitive key).
        @return: Deferred[None].
        """

    def get_user(address: Address) -> Deferred[UserRecord | None]:
        """@return: Deferred[UserRecord | None]."""

    def find_user(platform: str, platform_id: str) -> Deferred[UserRecord | None]:
        """Look a user up by native id. @return: Deferred[UserRecord | None]."""

    def list_users(tenant: str) -> Deferred[list[UserRecord]]:
        """@return: Deferred[list[UserRecord]] of a tenant, ordered by address."""


class IContacts(Interface):
    """
    Contacts between hub users and other addresses. Only
    L{nextplane.contacts.ContactBook} writes them.
    """

    def put_contact(contact: ContactRecord) -> Deferred[None]:
        """Insert or replace a L{ContactRecord} by (owner, external). @return: Deferred[None]."""

    def get_contact(owner: Address, external: Address) -> Deferred[ContactRecord | None]:
        """@return: Deferred[ContactRecord | None]."""

    def list_contacts(
        owner: Address | None = None,
        external_domain: str | None = None,
        state: str | None = None,
    ) -> Deferred[list[ContactRecord]]:
        """
        Contacts filtered by owner address, external domain and/or state.
        @return: Deferred[list[ContactRecord]] ordered by (owner, external).
        """

    def change_contacts(change: ContactChange) -> Deferred[list[ContactRecord]]:
        """
        Apply one set-based L{ContactChange} in one transaction (a single
        C{UPDATE}, never a scan and per-row writes).
        @return: Deferred[list[ContactRecord]], the contacts changed, as
            they are now, ordered by (owner, external).
        """


class ISessions(Interface):
    """
    Chat sessions (one per pair of addresses), their platform conversation
    references, and the map between hub and native message ids.
    """

    def get_or_create_session(
        first: Address, second: Address, now: datetime
    ) -> Deferred[ChatSessionRecord]:
        """
        The session between two addresses (either order), made if missing.
        @return: Deferred[ChatSessionRecord].
        """

    def get_session(session_id: ChatSessionId) -> Deferred[ChatSessionRecord | None]:
        """@return: Deferred[ChatSessionRecord | None], with refs."""

    def set_session_ref(session_id: ChatSessionId, platform: str, ref: str) -> Deferred[None]:
        """
        Record a platform's conversation reference for a session (replaces an
        earlier one for the same platform). @return: Deferred[None].
        """

    def find_session_by_ref(platform: str, ref: str) -> Deferred[ChatSessionRecord | None]:
        """@return: Deferred[ChatSessionRecord | None]."""

    def map_message(
        message_id: str, platform: str, native_id: str, session_id: ChatSessionId | None
    ) -> Deferred[None]:
        """
        Remember that hub message C{message_id} is C{native_id} on
        C{platform}. Idempotent. @return: Deferred[None].
        """

    def find_message_id(platform: str, native_id: str) -> Deferred[str | None]:
        """@return: Deferred[str | None], the hub message id."""

    def find_native_id(message_id: str, platform: str) -> Deferred[str | None]:
        """@return: Deferred[str | None], the native id on C{platform}."""


class IPolicy(Interface):
    """
    Federation rules: per tenant, per user and per remote domain.
    """

    def put_tenant_policy(policy: TenantPolicy) -> Deferred[None]:
        """@return: Deferred[None]."""

    def get_tenant_policy(tenant: str) -> Deferred[TenantPolicy]:
        """@return: Deferred[TenantPolicy] (defaults when none stored)."""

    def put_user_policy(policy: UserPolicy) -> Deferred[None]:
        """@return: Deferred[None]."""

    def get_user_policy(address: Address) -> Deferred[UserPolicy | None]:
        """@return: Deferred[UserPolicy | None]."""

    def put_domain_policy(policy: DomainPolicy) -> Deferred[None]:
        """Insert or replace by (tenant, pattern). @return: Deferred[None]."""

    def remove_domain_policy(tenant: str, pattern: str) -> Deferred[bool]:
        """@return: Deferred[bool], whether a rule was removed."""

    def list_domain_policies(tenant: str) -> Deferred[list[DomainPolicy]]:
        """@return: Deferred[list[DomainPolicy]] ordered by pattern."""


class IInstallations(Interface):
    """
    Platform app installations (the secrets a platform gave the hub).
    """

    def put_installation(installation: PlatformInstallation) -> Deferred[None]:
        """
        Insert or replace a L{PlatformInstallation} by (platform,
        workspace). A failure never quotes the credentials.
        @return: Deferred[None].
        """

    def get_installation(platform: str, workspace: str) -> Deferred[PlatformInstallation | None]:
        """@return: Deferred[PlatformInstallation | None]."""

    def list_installations(platform: str | None = None) -> Deferred[list[PlatformInstallation]]:
        """
        The installations of one platform, or of every platform for
        C{None}. @return: Deferred[list[PlatformInstallation]] ordered by
        (platform, workspace).
        """

    def remove_installation(platform: str, workspace: str) -> Deferred[bool]:
        """@return: Deferred[bool], whether an installation was removed."""


class IMetadata(Interface):
    """
    The metadata log (one record per routed event, never content) and the
    daily usage aggregates.
    """

    def append_metadata(record: MetadataRecord) -> Deferred[int]:
        """
        Append one L{MetadataRecord} and update the daily usage aggregates in
        the same transaction. @return: Deferred[int], the new record id.
        """

    def query_metadata(query: MetadataQuery) -> Deferred[list[MetadataRecord]]:
        """
        @param query: L{MetadataQuery}.
        @return: Deferred[list[MetadataRecord]] ordered by time then id.
        """

    def usage(
        since: date, until: date, group_by: Iterable[str], tenant: str | None = None
    ) -> Deferred[list[UsageRow]]:
        """
        Daily usage between dates C{since} (inclusive) and C{until}
        (exclusive), grouped by day plus the fields named in C{group_by}
        (a subset of C{("tenant", "remote_domain", "platform")}).
        @return: Deferred[list[UsageRow]] ordered by day then group.
        """


class IWork(Interface):
    """
    Work records (L{WorkRecord}): what the hub owes for each message it
    accepted, so a crash loses none silently and a retry is routed once.
    Written only by L{nextplane.work.WorkLog}.
    """

    def claim_work(record: WorkRecord) -> Deferred[bool]:
        """
        Store C{record} unless a record of the same (source, origin) exists.
        Durable when the Deferred fires. @return: Deferred[bool], C{False}
        for a duplicate.
        """

    def update_work(
        source: str, origin: str, state: WorkState, now: datetime, delivered_id: str = ""
    ) -> Deferred[None]:
        """
        Move a record to C{state} at C{now} (and note the destination's id).
        @return: Deferred[None].
        """

    def unfinished_work() -> Deferred[list[WorkRecord]]:
        """
        @return: Deferred[list[WorkRecord]]: records still C{accepted} or
            C{handed_over}, oldest first.
        """

    def find_work(source: str, origin: str) -> Deferred[WorkRecord | None]:
        """
        @return: Deferred[WorkRecord | None]: the record of (C{source},
            C{origin}) as it stands, or C{None} (never claimed, or pruned).
        """

    def prune_work(before: datetime) -> Deferred[int]:
        """
        Delete finished records last updated before C{before}.
        @return: Deferred[int], how many.
        """


class ISipSubscriptions(Interface):
    """
    SIP presence subscriptions' dialogs (ids, routing, state and expiry; no
    content), so a restart keeps them.
    """

    def put_sip_subscription(record: SipSubscriptionRecord) -> Deferred[None]:
        """
        Insert or replace a subscription by (call_id, local_tag).
        @return: Deferred[None].
        """

    def remove_sip_subscription(call_id: str, local_tag: str) -> Deferred[bool]:
        """@return: Deferred[bool], whether one was removed."""

    def list_sip_subscriptions() -> Deferred[list[SipSubscriptionRecord]]:
        """@return: Deferred[list[SipSubscriptionRecord]] ordered by (call_id, local_tag)."""


class IMessageRefs(Interface):
    """
    L{MessageRef}s: which platform message a hub message became (or came
    from), between whom, and its thread, for edits, deletions and replies
    after a restart. Ids only, never content; pruned by age.
    """

    def put_message_ref(ref: MessageRef) -> Deferred[None]:
        """
        Insert or replace C{ref} by (platform, conversation, native_id).
        @return: Deferred[None].
        """

    def find_message_ref(
        platform: str, conversation: str, native_id: str
    ) -> Deferred[MessageRef | None]:
        """@return: Deferred[MessageRef | None], the ref of a platform message."""

    def message_ref_by_hub(platform: str, hub_id: str) -> Deferred[MessageRef | None]:
        """
        @return: Deferred[MessageRef | None], the first (oldest, then by
            native id) ref of hub message C{hub_id} on C{platform}.
        """

    def thread_start(
        platform: str, conversation: str, contact: Address
    ) -> Deferred[MessageRef | None]:
        """
        @return: Deferred[MessageRef | None], the newest ref that starts
            C{contact}'s thread in C{conversation}.
        """

    def prune_message_refs(before: datetime) -> Deferred[int]:
        """
        Delete refs created before C{before}. @return: Deferred[int], how many.
        """


class IStore(
    IDirectory,
    IContacts,
    ISessions,
    IMessageRefs,
    IPolicy,
    IInstallations,
    IMetadata,
    ISipSubscriptions,
    IWork,
):
    """
    Every role, plus the store's life cycle. Implementations: in-memory
    (tests), SQLite (embedded default, thread pool), PostgreSQL
    (txpostgres), and L{nextplane.storage.cache.CachingStore} in front of
    any of them.
    """

    backend_name = Attribute("'memory', 'sqlite' or 'postgresql'.")

    def open() -> Deferred[int]:
        """
        Connect and apply pending migrations. @return: Deferred[int], the
        schema version now in force.
        """

    def close() -> Deferred[None]:
        """
        Release connections and threads. @return: Deferred[None].
        """

    def schema_version() -> Deferred[int]:
        """@return: Deferred[int]."""

    def dump_tables() -> Deferred[dict[str, list[tuple[Any, ...]]]]:
        """
        Every row of every table as text, for privacy audits and backups.
        Secrets are not data to audit: the credentials column of
        C{platform_installations} reads C{"[redacted]"}, so a dump (or a
        backup made from one) never holds a token.
        @return: Deferred[dict[str, list[tuple]]].
        """
