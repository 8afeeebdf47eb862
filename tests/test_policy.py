"""
Tests for L{nextplane.policy}: a matrix of users x domains x features, and
the wording of each refusal.
"""

from __future__ import annotations

import itertools

from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.events import FileShare, Presence, TextMessage, Typing
from nextplane.model.text import RichText
from nextplane.policy import LocalSide, decide, domain_rule_for, pattern_matches
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
    FederationMode,
    TenantPolicy,
    UserPolicy,
)

from .helpers import T0, addr

JOHN = addr("john@acme.test")


def side(
    other: str,
    *,
    mode: FederationMode = FederationMode.ALL,
    user_enabled: bool | None = None,
    rules: tuple[DomainPolicy, ...] = (),
    contact: ContactState | None = ContactState.ACCEPTED,
    files: bool = True,
    presence: bool = True,
) -> LocalSide:
    return LocalSide(
        user=JOHN,
        other=addr(other),
        is_sender=True,
        tenant_policy=TenantPolicy("acme.test", mode, files=files, presence=presence),
        user_policy=None if user_enabled is None else UserPolicy(JOHN, user_enabled),
        domain_rules=rules,
        contact=None
        if contact is None
        else ContactRecord(JOHN, addr(other), contact, ContactDirection.OUTBOUND, T0, T0),
    )


def event(kind: str, other: str):  # type: ignore[no-untyped-def]
    common = {"sender": JOHN, "recipient": addr(other)}
    if kind == "message":
        return TextMessage(body=RichText.plain("x"), **common)
    if kind == "file":
        return FileShare(name="a.txt", url="https://f.test/a.txt", **common)
    if kind == "presence":
        return Presence(availability="available", **common)
    return Typing(state="composing", **common)


class PatternTests(SynchronousTestCase):
    def test_patterns(self) -> None:
        """Exact rules match the domain only; *.x matches subdomains of x only."""
        self.assertTrue(pattern_matches("widget.test", "widget.test"))
        self.assertFalse(pattern_matches("widget.test", "a.widget.test"))
        self.assertTrue(pattern_matches("*.widget.test", "a.b.widget.test"))
        self.assertFalse(pattern_matches("*.widget.test", "widget.test"))
        self.assertFalse(pattern_matches("*.widget.test", "badwidget.test"))

    def test_block_beats_allow(self) -> None:
        """A block rule wins over an allow rule for the same domain."""
        rules = [
            DomainPolicy("acme.test", "*.widget.test", DomainAction.ALLOW),
            DomainPolicy("acme.test", "bad.widget.test", DomainAction.BLOCK),
        ]
        self.assertIsNone(domain_rule_for(rules, "acme.test", "ok.widget.test"))
        refusal = domain_rule_for(rules, "acme.test", "bad.widget.test")
        assert refusal is not None
        self.assertEqual(
            refusal.reason,
            "blocked: bad.widget.test is on acme.test's block list (rule bad.widget.test)",
        )
        other = domain_rule_for(rules, "acme.test", "else.test")
        assert other is not None
        self.assertEqual(other.reason, "not allowed: else.test is not on acme.test's allow list")


class PolicyMatrixTests(SynchronousTestCase):
    users = {
        "default": {},
        "disabled": {"user_enabled": False},
        "allow-listed": {"mode": FederationMode.ALLOW_LIST, "user_enabled": True},
        "not-listed": {"mode": FederationMode.ALLOW_LIST},
    }
    domains = {
        "no rules": (),
        "blocked exact": (DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK),),
        "blocked wildcard": (DomainPolicy("acme.test", "*.test", DomainAction.BLOCK),),
        "allowed": (DomainPolicy("acme.test", "widget.test", DomainAction.ALLOW),),
        "allow other": (DomainPolicy("acme.test", "other.test", DomainAction.ALLOW),),
    }
    features = {
        "all on": {},
        "files off": {"files": False},
        "presence off": {"presence": False},
    }
    kinds = ("message", "file", "presence", "typing")

    def expected(self, user: str, domain: str, feature: str, kind: str) -> str | None:
        if user in ("disabled", "not-listed"):
            return "disabled:"
        if domain.startswith("blocked"):
            return "blocked:"
        if domain == "allow other":
            return "not allowed:"
        if feature == "files off" and kind == "file":
            return "feature off:"
        if feature == "presence off" and kind == "presence":
            return "feature off:"
        return None

    def test_matrix(self) -> None:
        """Every combination of user setting, domain rule, feature switch and event kind is decided as specified."""
        checked = 0
        for (user, u), (domain, rules), (feature, f), kind in itertools.product(
            self.users.items(), self.domains.items(), self.features.items(), self.kinds
        ):
            facts = side("peter@widget.test", rules=rules, **u, **f)  # type: ignore[arg-type]
            refusal = decide(event(kind, "peter@widget.test"), [facts])
            want = self.expected(user, domain, feature, kind)
            label = f"{user} / {domain} / {feature} / {kind}"
            if want is None:
                self.assertIsNone(refusal, label)
            else:
                assert refusal is not None, label
                self.assertTrue(refusal.reason.startswith(want), f"{label}: {refusal.reason}")
            checked += 1
        self.assertEqual(checked, 4 * 5 * 3 * 4)

    def test_contact_states(self) -> None:
        """Only accepted contacts may chat; blocked and revoked say so."""
        for state, want in [
            (ContactState.ACCEPTED, None),
            (None, "not a contact:"),
            (ContactState.PENDING, "not a contact:"),
            (ContactState.DECLINED, "not a contact:"),
            (ContactState.BLOCKED, "blocked:"),
            (ContactState.REVOKED, "revoked:"),
        ]:
            refusal = decide(
                event("message", "p@widget.test"), [side("p@widget.test", contact=state)]
            )
            if want is None:
                self.assertIsNone(refusal)
            else:
                assert refusal is not None
                self.assertTrue(refusal.reason.startswith(want), refusal.reason)

    def test_contact_not_required(self) -> None:
        """With the contact requirement off, strangers may chat (blocks still apply)."""
        facts = side("p@widget.test", contact=None)
        self.assertIsNone(
            decide(event("message", "p@widget.test"), [facts], require_accepted_contact=False)
        )
