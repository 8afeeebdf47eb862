"""
Tests for L{nextplane.connectors.slack.inbound_work} and the webhook's
durable acknowledgement: an event is answered once its work record is
durable, a retry (even after a restart) is handled once, and the notice
after a restart is threaded to the message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack import inbound_work
from nextplane.connectors.slack.signature import SignatureVerifier
from nextplane.connectors.slack.webhook import SlackWebhook
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import WorkRecord, WorkState
from nextplane.testing.slack_sim import EventSender, Workspace
from nextplane.web.app import HubWebApp
from nextplane.work import WorkLog

from .helpers import T0
from .test_webhook import SECRET, Recorder


class _SlowStore(MemoryStore):
    """A store whose claims wait for L{release} when C{hold} is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.broken = False
        self.waiting: list[tuple[Deferred[bool], WorkRecord]] = []

    def claim_work(self, record: WorkRecord) -> Deferred[bool]:
        if self.broken:
            return fail(OSError("disk full"))
        if self.hold:
            d: Deferred[bool] = Deferred()
            self.waiting.append((d, record))
            return d
        return super().claim_work(record)

    def release(self) -> None:
        for d, record in self.waiting:
            super().claim_work(record).chainDeferred(d)
        self.waiting = []


class DurableAckTests(SynchronousTestCase):
    """
    The webhook with a claim: acknowledged once durable, deduplicated by
    the store.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store = _SlowStore()
        self.work = WorkLog(self.store, self.clock)
        self.workspace = Workspace()
        self.recorder = Recorder()
        self.hook = self.make_hook()
        self.alice = self.workspace.add_user("alice")
        self.channel = self.workspace.add_channel("general", {self.alice.id})

    def make_hook(self) -> SlackWebhook:
        hook = SlackWebhook(
            SignatureVerifier(SECRET, self.clock),
            self.clock,
            self.recorder.on_event,
            self.recorder.on_command,
            self.recorder.on_interaction,
            claim=lambda event: inbound_work.claim(self.work, event),
        )
        web = HubWebApp({}, "test")
        web.mount("slack", hook.resource())
        self.stub = StubTreq(web.resource())
        self.sender = EventSender(self.stub, self.clock, SECRET, "https://hub.test", self.workspace)
        return hook

    def post_event(self, envelope: dict[str, Any]) -> Deferred[tuple[int, bytes]]:
        body = json.dumps(envelope).encode()
        headers = self.sender.signed_headers(body, "application/json")

        async def post() -> tuple[int, bytes]:
            response = await self.stub.post(
                "https://hub.test/slack/events", data=body, headers=headers
            )
            return response.code, await response.content()

        return Deferred.fromCoroutine(post())

    def message(self) -> dict[str, Any]:
        return self.sender.envelope(
            {
                "type": "message",
                "user": self.alice.id,
                "text": "hi",
                "ts": "1700000000.000100",
                "event_ts": "1700000000.000100",
                "channel": self.channel.id,
            }
        )

    def test_acknowledged_once_durable(self) -> None:
        """No answer before the record is durable; then 200 and the event is handed over."""
        self.store.hold = True
        envelope = self.message()
        answer = self.post_event(envelope)
        self.assertNoResult(answer)
        self.store.release()
        self.stub.flush()
        self.assertEqual(self.successResultOf(answer)[0], 200)
        self.clock.advance(0)
        [event] = self.recorder.events
        assert event.work is not None
        self.assertEqual(event.work.origin, f"{envelope['team_id']}:{envelope['event_id']}")
        self.assertEqual(event.work.native_id, "1700000000.000100")
        self.assertEqual(event.work.conversation, f"{envelope['team_id']}:{self.channel.id}")

    def test_slow_store_acknowledged_within_budget(self) -> None:
        """A store slower than the budget: acknowledged anyway, handled once it is durable."""
        self.store.hold = True
        answer = self.post_event(self.message())
        self.clock.advance(2.5)
        self.stub.flush()
        self.assertEqual(self.successResultOf(answer)[0], 200)
        self.assertEqual(self.recorder.events, [])
        self.store.release()
        self.clock.advance(0)
        self.assertEqual(len(self.recorder.events), 1)

    def test_store_failure_makes_slack_retry(self) -> None:
        """A record that cannot be written is answered 503, so Slack retries."""
        self.store.broken = True
        self.assertEqual(self.successResultOf(self.post_event(self.message()))[0], 503)
        self.flushLoggedErrors(OSError)
        self.clock.advance(0)
        self.assertEqual(self.recorder.events, [])

    def test_retry_after_restart_handled_once(self) -> None:
        """A retry of an event reaching a new process (same store) is acknowledged, not handled."""
        envelope = self.message()
        self.assertEqual(self.successResultOf(self.post_event(envelope))[0], 200)
        self.clock.advance(0)
        self.make_hook()  # the restarted hub: nothing in memory
        self.assertEqual(self.successResultOf(self.post_event(envelope))[0], 200)
        self.clock.advance(0)
        self.assertEqual(len(self.recorder.events), 1)


class NotDeliveredTests(SynchronousTestCase):
    """
    L{inbound_work.not_delivered}: the notice after a restart.
    """

    def record(self, native_id: str = "1700000000.000100") -> WorkRecord:
        at = datetime(2026, 12, 6, 14, 30, 5, tzinfo=UTC)
        return WorkRecord(
            source="slack",
            origin="T1:Ev1",
            work_id="Ev1",
            sender="U1",
            recipient="",
            conversation="T1:C1",
            native_id=native_id,
            state=WorkState.ACCEPTED,
            accepted_at=at,
            updated_at=at,
        )

    def test_threaded_notice_without_content(self) -> None:
        """The notice goes to the conversation, threaded to the message, naming its time."""
        posted: list[tuple[str, str, str | None]] = []

        class _Api:
            async def post_message(
                self, channel: str, text: str, *, thread_ts: str | None = None
            ) -> None:
                posted.append((channel, text, thread_ts))

        class _Ws:
            def api(self) -> _Api:
                return _Api()

        told = self.successResultOf(
            Deferred.fromCoroutine(inbound_work.not_delivered({"T1": _Ws()}, self.record()))  # type: ignore[dict-item]
        )
        self.assertTrue(told)
        [(channel, text, thread)] = posted
        self.assertEqual((channel, thread), ("C1", "1700000000.000100"))
        self.assertIn("14:30:05 UTC on 2026-12-06", text)
        self.assertIn("not delivered", text)

    def test_unknown_workspace_not_told(self) -> None:
        """Without the workspace nobody can be told."""
        told = self.successResultOf(
            Deferred.fromCoroutine(inbound_work.not_delivered({}, self.record()))
        )
        self.assertFalse(told)

    def test_not_a_message_nothing_owed(self) -> None:
        """A record of an event that was no message owes no notice."""
        told = self.successResultOf(
            Deferred.fromCoroutine(inbound_work.not_delivered({}, self.record(native_id="")))
        )
        self.assertTrue(told)
