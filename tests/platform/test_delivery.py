"""
Tests for L{nextplane.connectors.platform.delivery}.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.delivery import Delivery, late_notice
from nextplane.interfaces import DeliveryFailed
from nextplane.model.address import Address
from nextplane.model.events import Availability, DeliveryError, Event, Presence, TextMessage
from nextplane.model.text import RichText, Text

JOHN, PETER = Address("john", "acme.test"), Address("peter", "widget.test")


def message(text: str = "hi") -> TextMessage:
    return TextMessage(sender=PETER, recipient=JOHN, body=RichText([Text(text)]))


@frozen
class _Revocation:
    scope: str = "user"
    user: Address | None = PETER
    external: Address | None = None
    domain: str | None = None
    tenants: tuple[str, ...] = ()


class _Sink:
    def __init__(self) -> None:
        self.routed: list[Event] = []

    def route(self, event: Event) -> Deferred[Any]:
        self.routed.append(event)
        return succeed(None)


class DeliveryTests(SynchronousTestCase):
    """
    Queues, acknowledgement and late failures.
    """

    def setUp(self) -> None:
        self.clock, self.sink = Clock(), _Sink()
        self.delivery = Delivery(
            platform="Toy", sink=self.sink, clock=self.clock, ack_after=5.0, max_queued=2
        )
        self.gates: list[Deferred[None]] = []

    def work(self) -> Any:
        async def run() -> None:
            gate: Deferred[None] = Deferred()
            self.gates.append(gate)
            await gate

        return run

    def test_in_order_and_acknowledged_when_taken(self) -> None:
        """Deliveries of one conversation run in turn; each is acknowledged when done."""
        first = self.delivery.submit("k", message("1"), self.work())
        second = self.delivery.submit("k", message("2"), self.work())
        self.assertEqual(len(self.gates), 1)
        self.gates[0].callback(None)
        self.assertIsNone(self.successResultOf(first))
        self.assertEqual(len(self.gates), 2)
        self.assertNoResult(second)

    def test_queue_full(self) -> None:
        """Past max_queued the router is told resource-constraint, naming the platform."""
        for _ in range(2):
            self.delivery.submit("k", message(), self.work())
        d = self.delivery.submit("k", message(), self.work())
        error = self.failureResultOf(d, DeliveryFailed).value
        self.assertEqual(error.condition, "resource-constraint")
        self.assertIn("waiting for Toy's rate limit", error.reason)

    def test_late_failure_told_to_sender(self) -> None:
        """Acknowledged after ack_after; a failure after that goes back as a DeliveryError."""
        event = message()
        d = self.delivery.submit("k", event, self.work())
        self.clock.advance(5.0)
        self.successResultOf(d)
        self.gates[0].errback(DeliveryFailed("recipient-unavailable", "gone"))
        [notice] = self.sink.routed
        assert isinstance(notice, DeliveryError)
        self.assertEqual((notice.sender, notice.recipient), (JOHN, PETER))
        self.assertEqual(
            (notice.condition, notice.original_event_id), ("recipient-unavailable", event.event_id)
        )
        self.assertEqual(self.delivery.late_failures, 1)

    def test_early_failure_to_router(self) -> None:
        """A failure before the acknowledgement goes to the router; a bug becomes internal-server-error."""

        async def broken() -> None:
            raise ValueError("bug")

        d = self.delivery.submit("k", message(), broken)
        error = self.failureResultOf(d, DeliveryFailed).value
        self.assertEqual(error.reason, "internal error in the Toy connector")
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.sink.routed, [])

    def test_no_notice_for_notices_or_presence(self) -> None:
        """Notices and presence are never answered with a notice."""
        now = message().timestamp
        failed = DeliveryFailed("x", "y")
        self.assertIsNone(
            late_notice(
                Presence(sender=PETER, recipient=JOHN, availability=Availability.AWAY), failed, now
            )
        )
        notice = late_notice(message(), failed, now)
        assert notice is not None
        self.assertIsNone(late_notice(notice, failed, now))

    def test_inline_routed_without_notice(self) -> None:
        """An event answered inline is routed with tell_sender=False."""
        calls: list[tuple[Event, bool]] = []

        def route(event: Event, tell_sender: bool = True) -> Deferred[Any]:
            calls.append((event, tell_sender))
            return succeed("outcome")

        self.sink.route = route  # type: ignore[method-assign]
        event = message()
        routing = Deferred.fromCoroutine(self.delivery.route_inline(event))
        self.assertEqual(self.successResultOf(routing), "outcome")
        self.assertEqual(calls, [(event, False)])

    def test_revoke(self) -> None:
        """Revocation fails the deliveries it covers, queued and running."""
        running = self.delivery.submit("k", message(), self.work())
        queued = self.delivery.submit("k", message(), self.work())
        self.assertEqual(self.delivery.revoke(_Revocation()), 2)
        for d in (running, queued):
            self.assertEqual(self.failureResultOf(d, DeliveryFailed).value.condition, "forbidden")
        self.assertEqual(self.delivery.revoke(_Revocation(user=Address("x", "y.test"))), 0)

    def test_stop(self) -> None:
        """Stopping fails queued deliveries, cancels timers and waits (boundedly) for the rest."""
        self.delivery.submit("k", message(), self.work())
        queued = self.delivery.submit("k", message(), self.work())
        ran: list[int] = []

        async def later() -> None:
            ran.append(1)

        self.delivery.schedule("t", 1.0, later, "test")
        stopped = self.delivery.stop()
        self.assertEqual(
            self.failureResultOf(queued, DeliveryFailed).value.condition, "service-unavailable"
        )
        self.assertNoResult(stopped)
        self.clock.advance(20.0)
        self.assertFalse(self.successResultOf(stopped))
        self.assertEqual(ran, [])

    def test_receive_in_order(self) -> None:
        """Inbound events of one conversation are handled in arrival order; failures logged."""
        order: list[int] = []
        gate: Deferred[None] = Deferred()

        async def first() -> None:
            await gate
            order.append(1)

        async def second() -> None:
            order.append(2)
            raise ValueError("bad event")

        self.delivery.receive("c", first)
        self.delivery.receive("c", second)
        self.assertEqual(order, [])
        gate.callback(None)
        self.assertEqual(order, [1, 2])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_schedule_once_per_key(self) -> None:
        """A second request for the same key while one is pending is dropped."""
        ran: list[int] = []

        async def work() -> None:
            ran.append(1)

        self.delivery.schedule("home", 5.0, work, "test")
        self.delivery.schedule("home", 5.0, work, "test")
        self.clock.advance(5.0)
        self.assertEqual(ran, [1])
