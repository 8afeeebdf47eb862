# -*- test-case-name: tests.storage.test_memory -*-
"""
Immutable records the store keeps. No message content is ever among them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from attrs import field, frozen

from ..model.address import Address, ChatSessionId
from ..model.events import _utc

__all__ = [
    "MESSAGE_KINDS",
    "ChatSessionRecord",
    "ContactChange",
    "ContactDirection",
    "ContactRecord",
    "ContactState",
    "Decision",
    "DomainAction",
    "DomainPolicy",
    "FederationMode",
    "MessageRef",
    "MetadataQuery",
    "MetadataRecord",
    "PlatformInstallation",
    "SipSubscriptionRecord",
    "TenantPolicy",
    "TenantRecord",
    "UsageContribution",
    "UsageRow",
    "UserPolicy",
    "UserRecord",
    "WorkRecord",
    "WorkState",
    "usage_contribution",
]


@frozen
class TenantRecord:
    """
    A tenant: one domain bound to one platform workspace.
    """

    domain: str
    platform: str
    workspace: str
    display_name: str = ""


@frozen
class UserRecord:
    """
    A hub user: a platform account exposed as an email-style address.
    """

    address: Address
    tenant: str
    platform: str
    platform_id: str
    display_name: str = ""
    avatar_url: str | None = None
    title: str | None = None


def _scopes(value: Iterable[str]) -> tuple[str, ...]:
    scopes = tuple(value)
    for scope in scopes:
        if not isinstance(scope, str) or not scope or "," in scope or scope != scope.strip():
            raise ValueError(f"not an OAuth scope: {scope!r}")
    return scopes


def _attributes(value: Mapping[str, str | None]) -> dict[str, str]:
    # None means "not known": kept out, so a stored record compares equal.
    attributes = {k: v for k, v in dict(value).items() if v is not None}
    for key, item in attributes.items():
        if not isinstance(key, str) or not key or not isinstance(item, str):
            raise ValueError(f"installation attributes are text: {key!r}")
    return attributes


@frozen
class PlatformInstallation:
    """
    A platform's app installed in one workspace or tenant (Slack OAuth v2,
    a Teams tenant, a Webex organisation), so the hub serves it after a
    restart without configured credentials. One per (platform, workspace).

    @ivar platform: The connector name (C{slack}, C{teams}, C{webex}).
    @ivar workspace: The platform's id of the workspace or tenant (Slack
        team C{T0123ABCD}, Teams tenant id, Webex organisation id).
    @ivar credentials: What the hub authenticates with there (a bot token;
        a platform needing several secrets stores a JSON object). A secret:
        left out of C{repr}, shown as C{[redacted]} by C{dump_tables},
        never logged.
    @ivar scopes: The scopes or permissions granted, in the platform's
        order; none contains a comma (they are stored comma-separated).
    @ivar installed_at: When the hub received the credentials.
    @ivar attributes: Non-secret facts the platform gave, by name (Slack:
        C{bot_user_id}, C{bot_id}, C{enterprise_id}; Teams: a service URL).
        Entries given as C{None} are left out.
    """

    platform: str
    workspace: str
    credentials: str = field(repr=False)
    scopes: tuple[str, ...] = field(converter=_scopes)
    installed_at: datetime = field(converter=_utc)
    attributes: dict[str, str] = field(factory=dict, converter=_attributes, hash=False)

    @property
    def attributes_json(self) -> str:
        """
        L{attributes} as stored: a JSON object, keys sorted.
        """
        return json.dumps(self.attributes, sort_keys=True, separators=(",", ":"))


class ContactState(enum.StrEnum):
    """
    The lifecycle of a contact between a hub user and an external address.
    """

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    BLOCKED = "blocked"
    REMOVED = "removed"
    EXPIRED = "expired"


class ContactDirection(enum.StrEnum):
    """
    Who asked first: the hub user (outbound) or the external party (inbound).
    """

    OUTBOUND = "outbound"
    INBOUND = "inbound"


@frozen
class ContactRecord:
    """
    One hub user's contact with one external address.
    """

    owner: Address
    external: Address
    state: ContactState = field(converter=ContactState)
    direction: ContactDirection = field(converter=ContactDirection)
    created_at: datetime = field(converter=_utc)
    updated_at: datetime = field(converter=_utc)


def _states(value: Iterable[str] | None) -> tuple[ContactState, ...] | None:
    return None if value is None else tuple(ContactState(s) for s in value)


def _lower(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.lower() for v in value)


def _pattern(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


@frozen(kw_only=True)
class ContactChange:
    """
    One set-based change of contact state: every contact the filters match
    (all given filters at once) and not already in C{state} moves to
    C{state} at C{at}, in one store transaction. C{None} means no filter.

    @ivar owner: Contacts of this hub user.
    @ivar external: Contacts with this external address.
    @ivar owner_domains: Contacts of users of these tenant domains.
    @ivar external_pattern: Contacts whose external domain is this domain,
        or, for C{*.example.com}, a subdomain of it (as domain rules read).
    @ivar from_states: Only contacts in one of these states.
    @ivar updated_before: Only contacts last changed before this time.
    """

    state: ContactState = field(converter=ContactState)
    at: datetime = field(converter=_utc)
    owner: Address | None = None
    external: Address | None = None
    owner_domains: tuple[str, ...] | None = field(default=None, converter=_lower)
    external_pattern: str | None = field(default=None, converter=_pattern)
    from_states: tuple[ContactState, ...] | None = field(default=None, converter=_states)
    updated_before: datetime | None = field(default=None, converter=_optional_utc)

    def matches(self, contact: ContactRecord) -> bool:
        """
        Whether C{contact} is changed by this (the one rule; the SQL
        backends say the same in C{WHERE}).
        """
        domain = contact.external.domain.lower()
        pattern = self.external_pattern
        return (
            contact.state != self.state
            and (self.owner is None or contact.owner.key == self.owner.key)
            and (self.external is None or contact.external.key == self.external.key)
            and (self.owner_domains is None or contact.owner.domain.lower() in self.owner_domains)
            and (
                pattern is None
                or (domain.endswith(pattern[1:]) if pattern.startswith("*.") else domain == pattern)
            )
            and (self.from_states is None or contact.state in self.from_states)
            and (self.updated_before is None or contact.updated_at < self.updated_before)
        )


@frozen
class ChatSessionRecord:
    """
    A conversation between two addresses, with its per-platform references
    (for example a Slack channel id), keyed by platform name.

    C{first} and C{second} are in canonical (sorted) order.
    """

    session_id: ChatSessionId
    first: Address
    second: Address
    created_at: datetime = field(converter=_utc)
    refs: dict[str, str] = field(factory=dict, eq=False, hash=False)


class FederationMode(enum.StrEnum):
    """
    Whether every user of a tenant may federate or only an allow-list.
    """

    ALL = "all"
    ALLOW_LIST = "allow-list"


@frozen
class TenantPolicy:
    """
    Tenant-wide federation settings.
    """

    tenant: str
    federation: FederationMode = field(default=FederationMode.ALL, converter=FederationMode)
    files: bool = True
    presence: bool = True
    channel_invites: bool = True


@frozen
class UserPolicy:
    """
    Per-user federation switch. In allow-list mode, only users with
    C{enabled=True} federate; in any mode C{enabled=False} refuses.
    """

    address: Address
    enabled: bool


class DomainAction(enum.StrEnum):
    """
    What a domain rule does.
    """

    ALLOW = "allow"
    BLOCK = "block"


@frozen
class DomainPolicy:
    """
    A tenant's rule for a remote domain: an exact domain or C{*.example.com}.
    """

    tenant: str
    pattern: str
    action: DomainAction = field(converter=DomainAction)


class Decision(enum.StrEnum):
    """
    What became of a routed event.
    """

    DELIVERED = "delivered"
    #: Handed to the destination connector, which is holding it for the
    #: platform's rate limit: not delivered yet. A later record says what
    #: became of it.
    QUEUED = "queued"
    REFUSED = "refused"
    FAILED = "failed"


@frozen(kw_only=True)
class MetadataRecord:
    """
    The one record each routed event leaves: who, to whom, what type, when,
    in which chat session, and what the hub decided. Never content.

    @ivar tenant: The hub tenant involved (the local side), if any.
    @ivar remote_domain: The other side's domain.
    @ivar platform: The local side's platform.
    @ivar reason: For refusals and failures, the rule or cause, in words.
    """

    timestamp: datetime = field(converter=_utc)
    sender: str
    receiver: str
    category: str
    kind: str
    session_id: str | None
    decision: Decision = field(converter=Decision)
    reason: str = ""
    tenant: str | None = None
    remote_domain: str | None = None
    platform: str | None = None
    record_id: int | None = field(default=None, eq=False)


@frozen(kw_only=True)
class MetadataQuery:
    """
    Filters for the metadata log; C{None} means no filter. C{user} matches
    sender or receiver. Times are inclusive C{since}, exclusive C{until}.
    """

    session_id: str | None = None
    user: str | None = None
    remote_domain: str | None = None
    tenant: str | None = None
    category: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000
    offset: int = 0


@frozen
class UsageRow:
    """
    Daily usage: unique local users and messages, grouped by whichever of
    tenant, remote domain and platform were asked for (the others are
    C{None}).
    """

    day: date
    tenant: str | None
    remote_domain: str | None
    platform: str | None
    unique_users: int
    messages: int


#: Metadata kinds that count as one message in the usage aggregates.
MESSAGE_KINDS = frozenset({"message", "file"})


@frozen
class UsageContribution:
    """
    What one metadata record adds to the daily usage aggregates.
    """

    day: date
    tenant: str
    remote_domain: str
    platform: str
    user: str
    messages: int


def usage_contribution(record: MetadataRecord) -> UsageContribution | None:
    """
    The single rule, shared by every backend, for what a metadata record adds
    to usage: delivered IM events of a tenant's user count that user as
    active that day, and messages and files count as one message each.

    The local user is the side whose domain is the record's tenant.
    """
    if record.tenant is None or record.decision != Decision.DELIVERED or record.category != "im":
        return None
    sender_domain = record.sender.rpartition("@")[2]
    user = record.sender if sender_domain == record.tenant else record.receiver
    return UsageContribution(
        day=record.timestamp.date(),
        tenant=record.tenant,
        remote_domain=record.remote_domain or "",
        platform=record.platform or "",
        user=user.lower(),
        messages=1 if record.kind in MESSAGE_KINDS else 0,
    )


class WorkState(enum.StrEnum):
    """
    Where an accepted message stands: C{accepted} -> C{handed_over} ->
    C{delivered} | C{failed} | C{told}. The first two are unfinished: a
    hub that starts and finds them tells their senders.
    """

    ACCEPTED = "accepted"
    HANDED_OVER = "handed_over"
    DELIVERED = "delivered"
    FAILED = "failed"
    TOLD = "told"

    @property
    def finished(self) -> bool:
        """
        Whether nothing more is owed for the message.
        """
        return self not in (WorkState.ACCEPTED, WorkState.HANDED_OVER)


@frozen(kw_only=True)
class WorkRecord:
    """
    The durable trace of one accepted message: ids and state, never a
    body, file name or status text.

    @ivar source: The connector that accepted it (C{slack}, C{xmpp}, C{sip}).
    @ivar origin: Its id at the source, unique per source: Slack
        C{team:event_id}, XMPP C{full JID + stanza id}, SIP C{Call-ID CSeq}.
        A second message with the same origin is a duplicate.
    @ivar work_id: The hub's event id for it.
    @ivar sender: Who sent it (full JID for XMPP, so an error reaches the
        very client).
    @ivar recipient: To whom.
    @ivar conversation: Where to tell the sender (Slack channel id, chat
        session id), or C{""}.
    @ivar native_id: Its id on the source platform (Slack C{ts}, XMPP
        stanza id), for threading a notice or naming it in an error.
    @ivar delivered_id: Its id at the destination, once delivered.
    """

    source: str
    origin: str
    work_id: str
    sender: str
    recipient: str
    conversation: str = ""
    native_id: str = ""
    delivered_id: str = ""
    state: WorkState = field(default=WorkState.ACCEPTED, converter=WorkState)
    accepted_at: datetime = field(converter=_utc)
    updated_at: datetime = field(converter=_utc)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@frozen
class SipSubscriptionRecord:
    """
    One SIP presence subscription's dialog, kept so that a restart neither
    forgets the hub's own subscriptions nor answers a peer's refresh of
    theirs with 481. Ids, routing and state only: no presence document, no
    note, no display name. One per dialog (C{call_id}, C{local_tag}).

    @ivar role: C{subscriber} (a hub user subscribed to a SIP user) or
        C{notifier} (a SIP user subscribed to a hub user).
    @ivar hub_user: The hub user.
    @ivar remote: The SIP user.
    @ivar call_id: The dialog's Call-ID.
    @ivar local_tag: Our tag.
    @ivar remote_tag: Their tag.
    @ivar local_uri: Our URI in the dialog (From of our requests).
    @ivar remote_uri: Their URI in the dialog (To of our requests).
    @ivar remote_target: Where in-dialog requests go (their Contact).
    @ivar route_set: Route values, in sending order.
    @ivar local_seq: Our last CSeq, if we sent any.
    @ivar remote_seq: Their last CSeq, if they sent any.
    @ivar local_contact: Our Contact in the dialog.
    @ivar secure: Whether the dialog is SIPS.
    @ivar state: C{pending} or C{active}.
    @ivar expires_at: When the subscription ends unless refreshed.
    """

    role: str
    hub_user: Address
    remote: Address
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: tuple[str, ...] = field(converter=_strings)
    local_seq: int | None
    remote_seq: int | None
    local_contact: str
    secure: bool
    state: str
    expires_at: datetime = field(converter=_utc)

    @property
    def route_set_json(self) -> str:
        """
        L{route_set} as stored: a JSON list.
        """
        return json.dumps(list(self.route_set), separators=(",", ":"))

    def row(self) -> tuple[str | int | datetime | None, ...]:
        """
        The stored columns, in table order (addresses as text, the route
        set as JSON, C{secure} as 0 or 1).
        """
        return (
            self.call_id,
            self.local_tag,
            self.role,
            str(self.hub_user),
            str(self.remote),
            self.remote_tag,
            self.local_uri,
            self.remote_uri,
            self.remote_target,
            self.route_set_json,
            self.local_seq,
            self.remote_seq,
            self.local_contact,
            1 if self.secure else 0,
            self.state,
            self.expires_at,
        )


@frozen(kw_only=True)
class MessageRef:
    """
    One message a platform connector passed on, in a platform conversation:
    its id at the hub and on the platform, who it is between and its place
    in a thread, so edits, deletions and replies still find it after a
    restart. Ids and addresses only, never content; pruned after a while.

    @ivar platform: C{webex} (later C{teams}, C{slack}).
    @ivar conversation: The connector's key of the conversation (Webex:
        the user's person id, whose direct space with the bot it is).
    @ivar native_id: The message's id on the platform.
    @ivar hub_id: The hub's message id (a message from the platform keeps
        the id the hub gave it), or C{""} for a later piece of a message
        the platform took in several.
    @ivar user: The platform user of the conversation.
    @ivar contact: The contact the message is from or to.
    @ivar from_platform: The user wrote it (else the hub posted it).
    @ivar thread_parent: The native id of the message it replies to, or C{""}.
    @ivar starts_thread: It opens the contact's thread: the contact's later
        messages reply to it.
    @ivar created_at: When it was passed on (the age for pruning).
    """

    platform: str
    conversation: str
    native_id: str
    hub_id: str
    user: Address
    contact: Address
    from_platform: bool = False
    thread_parent: str = ""
    starts_thread: bool = False
    created_at: datetime = field(converter=_utc)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> MessageRef:
        """
        A ref from its columns, as stored or as text in a dump.
        """
        platform, conversation, native, hub, user, contact, mine, parent, starts, at = row
        return cls(
            platform=platform,
            conversation=conversation,
            native_id=native,
            hub_id=hub,
            user=_stored_address(user),
            contact=_stored_address(contact),
            from_platform=str(mine) == "1",
            thread_parent=parent,
            starts_thread=str(starts) == "1",
            created_at=at if isinstance(at, datetime) else datetime.fromisoformat(at),
        )

    def row(self) -> tuple[str | int | datetime, ...]:
        """
        The stored columns, in table order (addresses as text, flags as 0 or 1).
        """
        return (
            self.platform,
            self.conversation,
            self.native_id,
            self.hub_id,
            str(self.user),
            str(self.contact),
            1 if self.from_platform else 0,
            self.thread_parent,
            1 if self.starts_thread else 0,
            self.created_at,
        )


def _stored_address(text: str) -> Address:
    # Not Address.parse: it would strip a local part that looks like a scheme.
    local, _, domain = text.rpartition("@")
    return Address(local, domain)
