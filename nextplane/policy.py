# -*- test-case-name: tests.test_policy -*-
"""
Federation policy: pure decisions with reasons that name the rule.

The router loads the facts (tenant policy, user policy, domain rules,
contact state) from the store and asks L{decide}. A refusal is a
L{Refusal} carrying a stanza-error-like condition and a human reason such as
C{blocked: widget.test is on acme.test's block list}, shown to the user and
kept in the metadata record.

Domain rules: an exact domain, or C{*.example.com} which matches every
subdomain of example.com (not example.com itself). A block rule always
wins; when a tenant has any allow rule, only domains matching an allow rule
may federate (allow-list mode).
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from .model.address import Address
from .model.events import (
    Category,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
    FileShare,
    Presence,
)
from .storage.records import (
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
    FederationMode,
    TenantPolicy,
    UserPolicy,
)

__all__ = ["LocalSide", "Refusal", "decide", "domain_rule_for", "pattern_matches"]


@frozen
class Refusal:
    """
    Why an event may not pass.

    @ivar condition: Machine-readable, in the XMPP stanza-error vocabulary
        (C{not-allowed}, C{forbidden}, C{policy-violation}...).
    @ivar reason: Human-readable; names the rule.
    """

    condition: str
    reason: str


@frozen
class LocalSide:
    """
    The facts about one hub user taking part in an event.

    @ivar user: The hub user's address.
    @ivar other: The other party's address.
    @ivar is_sender: Whether the hub user sent the event.
    @ivar contact: The hub user's contact record for C{other}, if any.
    """

    user: Address
    other: Address
    is_sender: bool
    tenant_policy: TenantPolicy
    user_policy: UserPolicy | None
    domain_rules: Sequence[DomainPolicy]
    contact: ContactRecord | None


def pattern_matches(pattern: str, domain: str) -> bool:
    """
    Whether a domain rule C{pattern} covers C{domain}.
    """
    if pattern.startswith("*."):
        return domain.endswith(pattern[1:])
    return domain == pattern


def domain_rule_for(rules: Sequence[DomainPolicy], tenant: str, domain: str) -> Refusal | None:
    """
    Apply a tenant's domain rules to a remote C{domain}.
    """
    for rule in rules:
        if rule.action == DomainAction.BLOCK and pattern_matches(rule.pattern, domain):
            return Refusal(
                "not-allowed",
                f"blocked: {domain} is on {tenant}'s block list (rule {rule.pattern})",
            )
    allows = [r for r in rules if r.action == DomainAction.ALLOW]
    if allows and not any(pattern_matches(r.pattern, domain) for r in allows):
        return Refusal("not-allowed", f"not allowed: {domain} is not on {tenant}'s allow list")
    return None


def _user_rule(side: LocalSide) -> Refusal | None:
    tenant = side.user.domain
    if side.user_policy is not None and not side.user_policy.enabled:
        return Refusal("forbidden", f"disabled: federation is turned off for {side.user}")
    if side.tenant_policy.federation == FederationMode.ALLOW_LIST and (
        side.user_policy is None or not side.user_policy.enabled
    ):
        return Refusal(
            "forbidden",
            f"disabled: {side.user} is not on {tenant}'s list of users allowed to federate",
        )
    return None


def _feature_rule(side: LocalSide, event: Event) -> Refusal | None:
    tenant = side.user.domain
    if isinstance(event, FileShare) and not side.tenant_policy.files:
        return Refusal("not-allowed", f"feature off: {tenant} does not allow file sharing")
    if isinstance(event, Presence) and not side.tenant_policy.presence:
        return Refusal("not-allowed", f"feature off: {tenant} does not share presence")
    return None


def _contact_rule(side: LocalSide, event: Event, require_accepted: bool) -> Refusal | None:
    contact = side.contact
    state = contact.state if contact is not None else None
    if state == ContactState.BLOCKED:
        if side.is_sender:
            return Refusal("not-allowed", f"blocked: {side.user} has blocked {side.other}")
        return Refusal("not-allowed", f"blocked: {side.other} is blocked by {side.user}")
    if state == ContactState.REVOKED:
        return Refusal(
            "forbidden", f"revoked: an administrator revoked {side.other} for {side.user}"
        )
    if isinstance(event, ContactRequest | ContactRemove):
        return None
    if isinstance(event, ContactAccept | ContactDecline):
        if state in (ContactState.PENDING, ContactState.ACCEPTED):
            return None
        return Refusal(
            "not-allowed",
            f"no request: there is no pending contact request between {side.user} and {side.other}",
        )
    if not require_accepted or state == ContactState.ACCEPTED:
        return None
    shown = state.value if state is not None else "none"
    return Refusal(
        "not-allowed",
        f"not a contact: {side.other} is not an accepted contact of {side.user} (state: {shown})",
    )


def decide(
    event: Event, sides: Sequence[LocalSide], *, require_accepted_contact: bool = True
) -> Refusal | None:
    """
    Decide whether C{event} may pass, given the facts for each hub user
    taking part (one side, or two when both are hub users).

    Delivery errors skip the contact and feature rules (they tell a sender
    what became of an event), but not the user and domain rules.

    @return: C{None} to allow, or the first L{Refusal}.
    """
    for side in sides:
        rule = _user_rule(side) or domain_rule_for(
            side.domain_rules, side.user.domain, side.other.domain
        )
        if rule is not None:
            return rule
        if isinstance(event, DeliveryError):
            continue
        rule = _feature_rule(side, event) or _contact_rule(
            side, event, require_accepted_contact and event.category != Category.CONTACT
        )
        if rule is not None:
            return rule
    return None
