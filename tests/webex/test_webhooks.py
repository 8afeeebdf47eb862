"""
Tests for L{nextplane.connectors.webex.webhooks} and
L{nextplane.connectors.webex.transport}, against the Webex simulator.
"""

from __future__ import annotations

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import formatEvent, globalLogPublisher

from nextplane.connectors.webex.api import ApiRequest, WebexApiError
from nextplane.connectors.webex.transport import RestClient
from nextplane.connectors.webex.webhooks import SUBSCRIPTIONS, KeepReport, keep_webhooks
from nextplane.testing.webex_sim import FAILURE_LIMIT, Fault, SimWebhook

from .helpers import PUBLIC_URL, SECRET, SIM_BASE, WebexCase

TARGET = PUBLIC_URL + "/webex/events"


class KeepTests(WebexCase):
    def keep(self, secret: str = SECRET, public_url: str = PUBLIC_URL) -> KeepReport:
        return self.run_async(keep_webhooks(self.client.call, public_url, secret))

    def hooks(self) -> list[SimWebhook]:
        return [h for h in self.sim.state.webhooks.values() if h.owner_id == self.bot.id]

    def test_creates_all(self) -> None:
        """On a bare bot, one signed webhook per subscription is created."""
        report = self.keep()
        self.assertEqual(len(report.created), len(SUBSCRIPTIONS))
        wanted = {(s.resource, s.event) for s in SUBSCRIPTIONS}
        self.assertEqual({(h.resource, h.event) for h in self.hooks()}, wanted)
        for hook in self.hooks():
            self.assertEqual(
                (hook.target_url, hook.secret, hook.status), (TARGET, SECRET, "active")
            )

    def test_idempotent(self) -> None:
        """A second run changes nothing."""
        self.keep()
        calls = len(self.sim.calls)
        report = self.keep()
        self.assertEqual(len(report.unchanged), len(SUBSCRIPTIONS))
        self.assertEqual(report.created + report.updated + report.reenabled + report.deleted, ())
        self.assertEqual([c.verb for c in self.sim.calls[calls:]], ["GET"])

    def test_public_url_changed(self) -> None:
        """A new public URL updates the webhooks in place."""
        first = self.keep()
        report = self.keep(public_url="https://new.test/")
        self.assertEqual(sorted(report.updated), sorted(first.created))
        self.assertEqual({h.target_url for h in self.hooks()}, {"https://new.test/webex/events"})

    def test_secret_rotated(self) -> None:
        """A new secret is set on every webhook."""
        self.keep()
        self.keep(secret="rotated")
        self.assertEqual({h.secret for h in self.hooks()}, {"rotated"})

    def test_reenables_disabled(self) -> None:
        """A disabled webhook is re-enabled, and the reason is logged."""
        self.keep()
        hook = self.hooks()[0]
        hook.status = "disabled"
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        report = self.keep()
        logged = [formatEvent(event) for event in events]
        self.assertEqual(report.reenabled, (hook.id,))
        self.assertEqual(hook.status, "active")
        self.assertTrue(any("100 failed deliveries" in line for line in logged))

    def test_surplus_deleted_foreign_kept(self) -> None:
        """Duplicates are deleted; filtered or other webhooks are left alone."""
        self.keep()
        extra = self.run_async(self.client.call(_create("messages", "created")))
        self.assertTrue(extra)
        filtered = _create("messages", "created", filter="roomId=abc")
        self.run_async(self.client.call(filtered))
        other = _create("meetings", "started")
        self.run_async(self.client.call(other))
        report = self.keep()
        self.assertEqual(len(report.deleted), 1)
        self.assertEqual(len(self.hooks()), len(SUBSCRIPTIONS) + 2)

    def test_refused(self) -> None:
        """A refusal surfaces as WebexApiError; a second run completes."""
        self.sim.inject("Create a Webhook", Fault(500))
        error = self.fail_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET), WebexApiError)
        self.assertEqual((error.status, error.processed), (500, None))
        report = self.keep()
        self.assertEqual(len(report.created), len(SUBSCRIPTIONS))

    def test_bad_token(self) -> None:
        """A wrong token is a final 401."""
        client = RestClient(self.http, "wrong", SIM_BASE)
        error = self.fail_async(keep_webhooks(client.call, PUBLIC_URL, SECRET), WebexApiError)
        self.assertEqual((error.status, error.processed), (401, True))
        self.assertNotIn("wrong", repr(client))


class HealthTests(WebexCase):
    def test_disabled_after_failures_then_reenabled(self) -> None:
        """
        An unreachable hub gets its webhook disabled after 100 failures in
        5 minutes; the keeper re-enables it, and deliveries resume.
        """
        self.run_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET))
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        self.hub.status = 503
        for _ in range(FAILURE_LIMIT):
            self.clock.advance(1)
            self.sim.world.user_posts(self.alice.id, room.id, text="hello")
        hook = next(
            h
            for h in self.sim.state.webhooks.values()
            if (h.resource, h.event) == ("messages", "created")
        )
        self.assertEqual(hook.status, "disabled")
        attempts = len(self.sender.attempts)
        self.sim.world.user_posts(self.alice.id, room.id, text="lost")
        self.assertEqual(len(self.sender.attempts), attempts)
        self.hub.status = 200
        report = self.run_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET))
        self.assertEqual(report.reenabled, (hook.id,))
        self.sim.world.user_posts(self.alice.id, room.id, text="back")
        self.assertEqual(self.hub.received[-1].resource, "messages")

    def test_slow_failures_do_not_disable(self) -> None:
        """Failures spread over more than 5 minutes leave the webhook on."""
        self.run_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET))
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        self.hub.status = 500
        for _ in range(FAILURE_LIMIT + 10):
            self.clock.advance(4)
            self.sim.world.user_posts(self.alice.id, room.id, text="x")
        self.assertEqual({h.status for h in self.sim.state.webhooks.values()}, {"active"})


def _create(resource: str, event: str, filter: str | None = None) -> ApiRequest:
    body = {
        "name": f"other {resource}",
        "targetUrl": "https://else.test/",
        "resource": resource,
        "event": event,
    }
    if filter:
        body["filter"] = filter
    return ApiRequest("POST", "/webhooks", body=body, idempotent=False)
