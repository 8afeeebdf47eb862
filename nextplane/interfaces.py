# -*- test-case-name: tests.test_interfaces -*-
"""
The contracts between the hub's parts.

  - L{IConnector}: what xmpp, sip, slack, teams and webex each implement.
  - L{IEventSink}: what connectors hand their inbound events to (the router).
  - L{IStore}: persistence, with SQLite and PostgreSQL backends.

All methods that do I/O return L{Deferred}s and never block the reactor.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from twisted.application.service import IService
from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from .model.address import Address, ChatSessionId
    from .model.events import Event
    from .model.profile import Profile
    from .storage.records import (
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
    )

__all__ = ["DeliveryFailed", "IConnector", "IEventSink", "IProfileSource", "IStore"]


class DeliveryFailed(Exception):
    """
    A connector could not deliver an event.

    @ivar condition: Machine-readable, e.g. C{remote-server-not-found},
        C{service-unavailable}, C{recipient-unavailable}, C{not-allowed}.
    @ivar reason: Human-readable, shown to the sender. Never message content.
    """

    def __init__(self, condition: str, reason: str) -> None:
        super().__init__(condition, reason)
        self.condition = condition
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.condition}: {self.reason}"


class IConnector(IService):
    """
    One protocol or platform attached to the hub.

    A connector turns native traffic into events for its L{IEventSink} and
    delivers events routed to the addresses it serves.
    """

    connector_name = Attribute(
        "Short lower-case name used in configuration and metadata, e.g. 'xmpp'."
    )
    role = Attribute(
        "'platform' if it serves tenant users (slack, teams, webex, echo), "
        "'federation' if it reaches remote domains (xmpp, sip)."
    )

    def deliver(event: Event) -> Deferred[None]:
        """
        Deliver C{event} to C{event.recipient}.

        @param event: A L{nextplane.model.events.Event}.
        @return: A L{Deferred} firing with C{None} once the peer accepted
            the event, or failing with L{DeliveryFailed}.
        """

    def health() -> dict[str, Any]:
        """
        @return: A JSON-able C{dict} with at least C{{"state": str}}; state
            is C{"ok"}, C{"starting"}, C{"degraded"} or C{"stopped"}.
        """


class IProfileSource(Interface):
    """
    Optional for connectors: fetch the profile of an address they reach
    (the XMPP connector asks the remote server for a vCard).
    """

    def fetch_profile(requester: Address, address: Address) -> Deferred[Profile | None]:
        """
        @param requester: The hub user on whose behalf it is asked.
        @param address: Whose profile.
        @return: A Deferred firing with the profile, or C{None} when there
            is none or it could not be had in time; it never fails.
        """


class IEventSink(Interface):
    """
    Where connectors hand the events they receive.
    """

    def route(event: Event) -> Deferred[Any]:
        """
        Route C{event} to its recipient.

        @return: A L{Deferred} that always fires (never fails) with a
            L{nextplane.router.Outcome}.
        """


class IStore(Interface):
    """
    Persistence for tenants, users, contacts, chat sessions, message-id maps,
    policies, Slack app installations, the metadata log and usage
    aggregates.

    Every method returns a L{Deferred}. Implementations: in-memory (tests),
    SQLite (embedded default, thread pool), PostgreSQL (txpostgres).
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

    # tenants
    def put_tenant(tenant: TenantRecord) -> Deferred[None]:
        """Insert or replace a L{TenantRecord} by domain. @return: Deferred[None]."""

    def get_tenant(domain: str) -> Deferred[TenantRecord | None]:
        """@return: Deferred[TenantRecord | None]."""

    def list_tenants() -> Deferred[list[TenantRecord]]:
        """@return: Deferred[list[TenantRecord]] ordered by domain."""

    # users
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

    # contacts
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

    # chat sessions
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

    # message-id maps
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

    # policy
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

    # Slack app installations
    def put_installation(installation: SlackInstallation) -> Deferred[None]:
        """
        Insert or replace a L{SlackInstallation} by team id.
        @return: Deferred[None].
        """

    def get_installation(team_id: str) -> Deferred[SlackInstallation | None]:
        """@return: Deferred[SlackInstallation | None]."""

    def list_installations() -> Deferred[list[SlackInstallation]]:
        """@return: Deferred[list[SlackInstallation]] ordered by team id."""

    def remove_installation(team_id: str) -> Deferred[bool]:
        """@return: Deferred[bool], whether an installation was removed."""

    # metadata log and usage
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

    def dump_tables() -> Deferred[dict[str, list[tuple[Any, ...]]]]:
        """
        Every row of every table as text, for privacy audits and backups.
        Secrets are not data to audit: the bot token column of
        C{slack_installations} reads C{"[redacted]"}, so a dump (or a
        backup made from one) never holds a token.
        @return: Deferred[dict[str, list[tuple]]].
        """
