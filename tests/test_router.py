"""
Tests for L{nextplane.router}: policy, destinations, failures, contact state
and the metadata log, with recording connectors and an in-memory store.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from nextplane.interfaces import DeliveryFailed
from nextplane.model.events import (
    ContactAccept,
    ContactDecline,
    ContactRequest,
    DeliveryError,
    Presence,
    TextMessage,
    Typing,
)
from nextplane.model.text import RichText
from nextplane.router import Outcome
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import (
    ContactState,
    Decision,
    DomainAction,
    DomainPolicy,
    MetadataQuery,
    UserPolicy,
)

from .helpers import CoreFixture, addr


def message(sender: str, recipient: str, text: str = "hello") -> TextMessage:
    return TextMessage(sender=addr(sender), recipient=addr(recipient), body=RichText.plain(text))


class RouterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.core = CoreFixture()

    def route(self, event: object) -> Outcome:
        return self.successResultOf(self.core.router.route(event))  # type: ignore[arg-type]

    def records(self, **filters: object) -> list:
        return self.successResultOf(self.core.store.query_metadata(MetadataQuery(**filters)))

    def test_local_to_remote_delivered(self) -> None:
        """A message from a tenant user to an accepted remote contact reaches the federation connector, bound to a session."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        outcome = self.route(message("john@acme.test", "peter@widget.test"))
        self.assertEqual(outcome.decision, Decision.DELIVERED)
        [delivered] = self.core.xmpp.delivered
        self.assertEqual(delivered.recipient, addr("peter@widget.test"))
        self.assertIsNotNone(delivered.session)
        self.assertEqual(delivered.session, outcome.session)

    def test_remote_to_local_delivered(self) -> None:
        """A message from a remote contact reaches the tenant's platform connector."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        outcome = self.route(message("peter@widget.test", "john@acme.test"))
        self.assertTrue(outcome.delivered)
        self.assertEqual([e.recipient for e in self.core.alpha.delivered], [addr("john@acme.test")])

    def test_tenant_to_tenant(self) -> None:
        """Two tenants on different platforms reach each other through the hub."""
        self.core.befriend("john@acme.test", "mary@beta.test")
        self.core.befriend("mary@beta.test", "john@acme.test")
        self.assertTrue(self.route(message("john@acme.test", "mary@beta.test")).delivered)
        self.assertEqual(len(self.core.beta.delivered), 1)

    def test_same_session_both_directions(self) -> None:
        """Both directions of a conversation share one chat session id."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        there = self.route(message("john@acme.test", "peter@widget.test"))
        back = self.route(message("peter@widget.test", "john@acme.test"))
        self.assertEqual(there.session, back.session)

    def test_not_an_open_relay(self) -> None:
        """An event between two remote domains is refused and recorded."""
        outcome = self.route(message("a@widget.test", "b@sipco.test"))
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertIn("no route", outcome.reason)
        self.assertEqual(self.core.xmpp.delivered, [])
        [record] = self.records()
        self.assertEqual(record.decision, Decision.REFUSED)

    def test_no_contact_refused_with_error_to_sender(self) -> None:
        """Without an accepted contact a message is refused and the sender gets a delivery error naming why."""
        outcome = self.route(message("john@acme.test", "peter@widget.test"))
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertEqual(self.core.xmpp.delivered, [])
        [error] = self.core.alpha.delivered
        self.assertIsInstance(error, DeliveryError)
        assert isinstance(error, DeliveryError)
        self.assertEqual(error.recipient, addr("john@acme.test"))
        self.assertIn("not an accepted contact", error.reason)
        self.assertEqual(error.original_event_id, outcome.event.event_id)

    def test_remote_sender_gets_no_error_event(self) -> None:
        """Refusals of remote senders are returned in the outcome for their connector to answer natively, not routed."""
        outcome = self.route(message("peter@widget.test", "john@acme.test"))
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertEqual(outcome.condition, "not-allowed")
        self.assertEqual(self.core.xmpp.delivered, [])

    def test_blocked_domain_refused_both_ways(self) -> None:
        """A domain on the tenant's block list is refused in both directions with a reason naming the rule."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.store.put_domain_policy(
            DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK)
        )
        out = self.route(message("john@acme.test", "peter@widget.test"))
        inbound = self.route(message("peter@widget.test", "john@acme.test"))
        for outcome in (out, inbound):
            self.assertEqual(outcome.decision, Decision.REFUSED)
            self.assertEqual(
                outcome.reason,
                "blocked: widget.test is on acme.test's block list (rule widget.test)",
            )
        self.assertEqual(self.core.xmpp.delivered, [])
        reasons = {r.reason for r in self.records(kind="message")}
        self.assertEqual(reasons, {out.reason})

    def test_disabled_user_refused(self) -> None:
        """A user with federation turned off cannot send."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.store.put_user_policy(UserPolicy(addr("john@acme.test"), False))
        outcome = self.route(message("john@acme.test", "peter@widget.test"))
        self.assertEqual(outcome.condition, "forbidden")
        self.assertIn("turned off for john@acme.test", outcome.reason)

    def test_unknown_remote_domain(self) -> None:
        """A remote domain with no partner entry and no resolver fails as remote-server-not-found."""
        self.core.befriend("john@acme.test", "x@nowhere.test")
        outcome = self.route(message("john@acme.test", "x@nowhere.test"))
        self.assertEqual(outcome.decision, Decision.FAILED)
        self.assertEqual(outcome.condition, "remote-server-not-found")
        [error] = self.core.alpha.delivered
        self.assertEqual(error.kind, "delivery_error")

    def test_connector_not_running(self) -> None:
        """A partner whose protocol has no running connector fails as service-unavailable."""
        self.core.befriend("john@acme.test", "bob@sipco.test")
        outcome = self.route(message("john@acme.test", "bob@sipco.test"))
        self.assertEqual(outcome.condition, "service-unavailable")
        self.assertIn("sip connector", outcome.reason)

    def test_delivery_failure_reaches_sender(self) -> None:
        """A connector's DeliveryFailed becomes a failed outcome and a delivery error for the sender."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.xmpp.failure = DeliveryFailed("remote-server-not-found", "widget.test is down")
        outcome = self.route(message("john@acme.test", "peter@widget.test"))
        self.assertEqual(
            (outcome.decision, outcome.condition), (Decision.FAILED, "remote-server-not-found")
        )
        [error] = self.core.alpha.delivered
        self.assertEqual(error.reason, "widget.test is down")  # type: ignore[union-attr]

    def test_delivery_timeout(self) -> None:
        """A delivery that never completes times out on the injected clock."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.xmpp.hold = True
        d: Deferred[Outcome] = self.core.router.route(
            message("john@acme.test", "peter@widget.test")
        )
        self.assertNoResult(d)
        self.core.clock.advance(61)
        outcome = self.successResultOf(d)
        self.assertEqual(outcome.condition, "remote-server-timeout")

    def test_typing_failure_not_notified(self) -> None:
        """Failed typing notifications are recorded but do not pester the sender."""
        typing = Typing(
            sender=addr("john@acme.test"), recipient=addr("peter@widget.test"), state="composing"
        )
        outcome = self.route(typing)
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertEqual(self.core.alpha.delivered, [])
        [record] = self.records()
        self.assertEqual(record.category, "typing")

    def test_one_metadata_record_per_event(self) -> None:
        """Each routed event leaves exactly one record with sender, receiver, type, time, session and decision."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        event = message("john@acme.test", "peter@widget.test")
        outcome = self.route(event)
        [record] = self.records()
        self.assertEqual(
            (record.sender, record.receiver, record.category, record.kind, record.decision),
            ("john@acme.test", "peter@widget.test", "im", "message", Decision.DELIVERED),
        )
        self.assertEqual(record.session_id, outcome.session.value)  # type: ignore[union-attr]
        self.assertEqual(record.timestamp, event.timestamp)
        self.assertEqual(
            (record.tenant, record.remote_domain, record.platform),
            ("acme.test", "widget.test", "alpha"),
        )

    def test_refusal_and_its_error_both_recorded(self) -> None:
        """A refused message and the delivery error sent back each leave one record."""
        self.route(message("john@acme.test", "peter@widget.test"))
        kinds = [(r.kind, r.decision) for r in self.records()]
        self.assertEqual(
            kinds, [("message", Decision.REFUSED), ("delivery_error", Decision.DELIVERED)]
        )

    def test_contact_request_and_accept(self) -> None:
        """A request makes a pending contact; the remote accept makes it accepted, after which messages flow."""
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        self.assertTrue(self.route(ContactRequest(sender=john, recipient=peter)).delivered)
        contact = self.successResultOf(self.core.store.get_contact(john, peter))
        self.assertEqual((contact.state, contact.direction), (ContactState.PENDING, "outbound"))
        self.assertTrue(self.route(ContactAccept(sender=peter, recipient=john)).delivered)
        contact = self.successResultOf(self.core.store.get_contact(john, peter))
        self.assertEqual(contact.state, ContactState.ACCEPTED)
        self.assertTrue(self.route(message("peter@widget.test", "john@acme.test")).delivered)

    def test_inbound_request_declined(self) -> None:
        """A remote request makes an inbound pending contact; the user's decline makes it declined."""
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        self.route(ContactRequest(sender=peter, recipient=john))
        self.route(ContactDecline(sender=john, recipient=peter))
        contact = self.successResultOf(self.core.store.get_contact(john, peter))
        self.assertEqual((contact.state, contact.direction), (ContactState.DECLINED, "inbound"))

    def test_accept_without_request_refused(self) -> None:
        """An accept with no pending request is refused."""
        outcome = self.route(
            ContactAccept(sender=addr("peter@widget.test"), recipient=addr("john@acme.test"))
        )
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertIn("no pending contact request", outcome.reason)

    def test_blocked_contact_cannot_request(self) -> None:
        """A blocked address cannot even send a contact request."""
        self.core.befriend("john@acme.test", "peter@widget.test", "blocked")
        outcome = self.route(
            ContactRequest(sender=addr("peter@widget.test"), recipient=addr("john@acme.test"))
        )
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertIn("blocked", outcome.reason)

    def test_presence_feature_switch(self) -> None:
        """Presence is refused when the tenant turned presence sharing off."""
        from nextplane.storage.records import TenantPolicy

        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.store.put_tenant_policy(TenantPolicy("acme.test", presence=False))
        presence = Presence(
            sender=addr("john@acme.test"), recipient=addr("peter@widget.test"), availability="away"
        )
        outcome = self.route(presence)
        self.assertIn("does not share presence", outcome.reason)

    def test_store_failure_becomes_internal_error(self) -> None:
        """A broken store never leaves the caller's Deferred unfired."""

        class Broken(Exception):
            pass

        def broken(*args: object) -> None:
            raise Broken()

        self.core.store.get_or_create_session = broken  # type: ignore[method-assign]
        outcome = self.route(message("john@acme.test", "peter@widget.test"))
        self.assertEqual(outcome.condition, "internal-server-error")
        self.assertEqual(len(self.flushLoggedErrors(Broken)), 1)

    def test_usage_counts_delivered_messages(self) -> None:
        """Delivered messages update the daily usage aggregates; refused ones do not."""
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.route(message("john@acme.test", "peter@widget.test"))
        self.route(message("peter@widget.test", "john@acme.test"))
        self.route(message("mary@acme.test", "peter@widget.test"))  # refused: no contact
        event_day = message("a@acme.test", "b@widget.test").timestamp.date()
        from datetime import timedelta

        rows = self.successResultOf(
            self.core.store.usage(event_day, event_day + timedelta(days=1), ("remote_domain",))
        )
        [row] = rows
        self.assertEqual((row.remote_domain, row.unique_users, row.messages), ("widget.test", 1, 2))


class Revoked:
    def __init__(self, scope: str, **fields: object) -> None:
        self.scope = scope
        self.user = fields.get("user")
        self.external = fields.get("external")
        self.domain = fields.get("domain")
        self.tenants = fields.get("tenants", ())


class RevocationTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.core = CoreFixture()
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.befriend("mary@acme.test", "ann@widget.test")
        self.core.xmpp.hold = True

    def test_in_flight_dropped_with_error_to_sender(self) -> None:
        """Revoking a contact drops its delivery under way; the sender is told, other deliveries go on."""
        dropped = self.core.router.route(message("john@acme.test", "peter@widget.test"))
        other = self.core.router.route(message("mary@acme.test", "ann@widget.test"))
        self.core.router.revoke(
            Revoked("contact", user=addr("john@acme.test"), external=addr("peter@widget.test"))
        )
        outcome = self.successResultOf(dropped)
        self.assertEqual((outcome.decision, outcome.condition), (Decision.FAILED, "forbidden"))
        self.assertIn("revoked", outcome.reason)
        [error] = self.core.alpha.delivered
        self.assertIn("an administrator revoked peter@widget.test", error.reason)  # type: ignore[union-attr]
        self.assertNoResult(other)
        self.core.xmpp.release()
        self.assertTrue(self.successResultOf(other).delivered)

    def test_domain_revocation_covers_both_directions(self) -> None:
        """A domain revocation drops deliveries to and from that domain for the tenant."""
        out = self.core.router.route(message("john@acme.test", "peter@widget.test"))
        self.core.router.revoke(Revoked("domain", domain="*.test", tenants=("beta.test",)))
        self.assertNoResult(out)
        self.core.router.revoke(Revoked("domain", domain="widget.test", tenants=("acme.test",)))
        self.assertEqual(self.successResultOf(out).condition, "forbidden")

    def test_user_revocation(self) -> None:
        """A user revocation drops that user's deliveries only."""
        johns = self.core.router.route(message("john@acme.test", "peter@widget.test"))
        marys = self.core.router.route(message("mary@acme.test", "ann@widget.test"))
        self.core.router.revoke(Revoked("user", user=addr("john@acme.test")))
        self.assertIn("turned off federation", self.successResultOf(johns).reason)
        self.assertNoResult(marys)


class HeldContactsStore(MemoryStore):
    """
    A memory store whose contact reads can be held back, like a slow
    database under a cache that answers later reads at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.held: list[tuple[Deferred[Any], Any]] = []

    def get_contact(self, owner: Any, external: Any) -> Deferred[Any]:
        answer = super().get_contact(owner, external)
        if not self.hold:
            return answer
        held: Deferred[Any] = Deferred()
        answer.addCallback(lambda value: self.held.append((held, value)))
        return held


class OrderTests(SynchronousTestCase):
    def test_pair_order_kept_when_lookups_finish_out_of_order(self) -> None:
        """
        A message whose policy lookups finish first still reaches the
        connector after an earlier message between the same two parties;
        other pairs do not wait.
        """
        store = HeldContactsStore()
        core = CoreFixture(store=store)
        core.befriend("john@acme.test", "peter@widget.test")
        core.befriend("mary@acme.test", "peter@widget.test")
        store.hold = True
        first = core.router.route(message("john@acme.test", "peter@widget.test", "first"))
        store.hold = False
        second = core.router.route(message("john@acme.test", "peter@widget.test", "second"))
        other = core.router.route(message("mary@acme.test", "peter@widget.test", "other"))
        self.successResultOf(other)
        self.assertNoResult(second)
        self.assertEqual([e.body.plain_text() for e in core.xmpp.delivered], ["other"])
        for held, value in store.held:
            held.callback(value)
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual(
            [e.body.plain_text() for e in core.xmpp.delivered], ["other", "first", "second"]
        )
