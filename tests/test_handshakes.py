"""
Tests for race-free contact handshakes through the router (issues 14 and
16): a request is durable before it is handed over, and a contact event
that is not delivered ends its handshake with the sender told.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from nextplane.interfaces import DeliveryFailed
from nextplane.model.events import (
    ContactAccept,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
)
from nextplane.router import Outcome
from nextplane.storage.records import ContactState, Decision

from .helpers import CoreFixture, addr

JOHN, PETER = addr("john@acme.test"), addr("peter@widget.test")


class HandshakeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.core = CoreFixture()

    def route(self, event: Event, **options: bool) -> Outcome:
        return self.successResultOf(self.core.router.route(event, **options))  # type: ignore[no-any-return]

    def state(self) -> ContactState | None:
        record = self.successResultOf(self.core.store.get_contact(JOHN, PETER))
        return None if record is None else record.state

    def test_fast_acceptance_found(self) -> None:
        """
        A peer that accepts before its delivery of the request completes
        finds the request: the acceptance is delivered and both are
        contacts (issue 16's invite race).
        """
        answers: list[Deferred[Outcome]] = []
        xmpp = self.core.xmpp

        def deliver(event: Event) -> Deferred[None]:
            xmpp.delivered.append(event)
            if isinstance(event, ContactRequest):
                answers.append(self.core.router.route(ContactAccept(sender=PETER, recipient=JOHN)))
            return succeed(None)

        xmpp.deliver = deliver  # type: ignore[method-assign]
        self.assertTrue(self.route(ContactRequest(sender=JOHN, recipient=PETER)).delivered)
        [answer] = answers
        self.assertTrue(self.successResultOf(answer).delivered)
        self.assertEqual(self.state(), ContactState.ACCEPTED)
        self.assertEqual(self.core.alpha.of_kind("delivery_error"), [])

    def test_request_durable_while_handed_over(self) -> None:
        """
        While the destination holds the request, the store already has it
        pending.
        """
        self.core.xmpp.hold = True
        routing = self.core.router.route(ContactRequest(sender=JOHN, recipient=PETER))
        self.assertNoResult(routing)
        self.assertEqual(self.state(), ContactState.PENDING)
        self.core.xmpp.release()
        self.assertTrue(self.successResultOf(routing).delivered)
        self.assertEqual(self.state(), ContactState.PENDING)

    def test_failed_request_ends(self) -> None:
        """
        A request that is not delivered ends (never pending for ever) and
        its sender is told why.
        """
        self.core.xmpp.failure = DeliveryFailed("remote-server-not-found", "widget.test is down")
        outcome = self.route(ContactRequest(sender=JOHN, recipient=PETER))
        self.assertEqual(outcome.decision, Decision.FAILED)
        self.assertEqual(self.state(), ContactState.REMOVED)
        [notice] = self.core.alpha.of_kind("delivery_error")
        assert isinstance(notice, DeliveryError)
        self.assertEqual((notice.recipient, notice.reason), (JOHN, "widget.test is down"))

    def test_failed_accept_ends(self) -> None:
        """
        An acceptance the requester never receives ends the request (issue
        14): the accepting user is told, and the requester's native answer
        carries the reason.
        """
        self.assertTrue(self.route(ContactRequest(sender=PETER, recipient=JOHN)).delivered)
        self.core.xmpp.failure = DeliveryFailed("service-unavailable", "no route to widget.test")
        outcome = self.route(ContactAccept(sender=JOHN, recipient=PETER))
        self.assertEqual(
            (outcome.decision, outcome.reason), (Decision.FAILED, "no route to widget.test")
        )
        self.assertEqual(self.state(), ContactState.REMOVED)
        [notice] = self.core.alpha.of_kind("delivery_error")
        self.assertEqual(notice.recipient, JOHN)

    def test_timed_out_request_ends(self) -> None:
        """
        A request the destination never acknowledges ends at the delivery
        timeout.
        """
        self.core.xmpp.hold = True
        routing = self.core.router.route(ContactRequest(sender=JOHN, recipient=PETER))
        self.core.clock.advance(61)
        self.assertEqual(self.successResultOf(routing).condition, "remote-server-timeout")
        self.assertEqual(self.state(), ContactState.REMOVED)

    def test_broken_connector_ends_request(self) -> None:
        """
        A connector failing with an unexpected error ends the request too.
        """

        def broken(event: Event) -> Deferred[None]:
            raise RuntimeError("bug")

        self.core.xmpp.deliver = broken  # type: ignore[method-assign]
        outcome = self.route(ContactRequest(sender=JOHN, recipient=PETER))
        self.assertEqual(outcome.condition, "internal-server-error")
        self.assertEqual(self.state(), ContactState.REMOVED)
        self.flushLoggedErrors(RuntimeError)

    def test_failed_removal_stands(self) -> None:
        """
        A removal the other side could not be told of still removes.
        """
        self.core.befriend("john@acme.test", "peter@widget.test")
        self.core.xmpp.failure = DeliveryFailed("service-unavailable", "down")
        self.route(ContactRemove(sender=JOHN, recipient=PETER))
        self.assertEqual(self.state(), ContactState.REMOVED)

    def test_revocation_not_undone(self) -> None:
        """
        A handshake ended by a failure leaves an administrator's revocation
        made meanwhile as it is.
        """
        self.core.xmpp.hold = True
        routing = self.core.router.route(ContactRequest(sender=JOHN, recipient=PETER))
        self.successResultOf(self.core.router.contacts.revoke(JOHN, PETER))
        [(_, held)] = self.core.xmpp.pending
        held.errback(DeliveryFailed("forbidden", "revoked"))
        self.assertEqual(self.successResultOf(routing).decision, Decision.FAILED)
        self.assertEqual(self.state(), ContactState.REVOKED)

    def test_caller_answers_sender(self) -> None:
        """
        With C{tell_sender=False} the router sends no notice: the caller
        answers the sender itself.
        """
        self.core.xmpp.failure = DeliveryFailed("service-unavailable", "down")
        outcome = self.route(ContactRequest(sender=JOHN, recipient=PETER), tell_sender=False)
        self.assertEqual(outcome.decision, Decision.FAILED)
        self.assertEqual(self.core.alpha.of_kind("delivery_error"), [])
