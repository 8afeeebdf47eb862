# -*- test-case-name: tests.slack.test_webhook -*-
"""
Tests for L{nextplane.connectors.slack.webhook}, driven by the simulator's
signed deliveries.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.signature import SignatureVerifier, sign
from nextplane.connectors.slack.webhook import (
    ACCEPT_ACTION,
    DECLINE_ACTION,
    CommandAction,
    CommandReply,
    Interaction,
    SlackEvent,
    SlackWebhook,
    SlashCommand,
    parse_command_text,
)
from nextplane.model.address import Address
from nextplane.testing.slack_sim import EventSender, SlackSimulator, Workspace
from nextplane.web.app import HubWebApp

from .helpers import T0

SECRET = "hub-signing-secret"


class Recorder:
    """Collects what the webhook hands over."""

    def __init__(self) -> None:
        self.events: list[SlackEvent] = []
        self.commands: list[SlashCommand] = []
        self.interactions: list[Interaction] = []
        self.reply: Any = CommandReply("Invitation sent.")

    def on_event(self, event: SlackEvent) -> None:
        """Record an event."""
        self.events.append(event)

    def on_command(self, command: SlashCommand) -> Any:
        """Record a command; answer as told."""
        self.commands.append(command)
        return self.reply

    def on_interaction(self, interaction: Interaction) -> None:
        """Record an interaction."""
        self.interactions.append(interaction)


class WebhookTests(SynchronousTestCase):
    """
    L{SlackWebhook} verifies, acknowledges, deduplicates and hands over.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.workspace = Workspace()
        self.recorder = Recorder()
        self.hook = SlackWebhook(
            SignatureVerifier(SECRET, self.clock),
            self.clock,
            self.recorder.on_event,
            self.recorder.on_command,
            self.recorder.on_interaction,
            bot_user_id=self.workspace.bot_user_id,
            bot_id=self.workspace.bot_id,
        )
        web = HubWebApp({}, "test")
        web.mount("slack", self.hook.resource())
        self.stub = StubTreq(web.resource())
        self.sender = EventSender(self.stub, self.clock, SECRET, "https://hub.test", self.workspace)
        self.alice = self.workspace.add_user("alice")
        self.channel = self.workspace.add_channel(
            "general", {self.alice.id, self.workspace.bot_user_id}
        )

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST to the hub; (status, body)."""
        response = self.successResultOf(
            self.stub.post("https://hub.test" + path, data=body, headers=headers)
        )
        return response.code, self.successResultOf(response.content())

    def signed(self, body: bytes, content_type: str = "application/json") -> dict[str, str]:
        """Headers signing C{body} now."""
        return self.sender.signed_headers(body, content_type)

    def envelope(self, event: dict[str, Any]) -> bytes:
        """A compact envelope around C{event}."""
        return json.dumps(self.sender.envelope(event), separators=(",", ":")).encode()

    def test_url_verification(self) -> None:
        """The handshake is answered with the challenge."""
        status, body = self.successResultOf(
            self.sender.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        )
        self.assertEqual((status, json.loads(body)["challenge"][:6]), (200, "3eZbrw"))

    def test_event_after_response(self) -> None:
        """An event is acknowledged first and handed over just after."""
        d = self.sender.send_event(
            {
                "type": "message",
                "user": self.alice.id,
                "text": "hi",
                "ts": "1.2",
                "event_ts": "1.2",
                "channel": self.channel.id,
            }
        )
        delivery = self.successResultOf(d)
        self.assertEqual(delivery.attempts[0].status, 200)
        self.assertEqual(self.recorder.events, [])
        self.clock.advance(0)
        [event] = self.recorder.events
        self.assertEqual(
            (event.type, event.event["text"], event.event_id), ("message", "hi", delivery.event_id)
        )

    def test_bad_signatures(self) -> None:
        """Unsigned, forged, stale and tampered requests get 401 and change nothing."""
        body = self.envelope({"type": "message", "user": self.alice.id, "event_ts": "1.2"})
        good = self.signed(body)
        forged = dict(
            good, **{"X-Slack-Signature": sign("wrong", good["X-Slack-Request-Timestamp"], body)}
        )
        stale_ts = str(int(T0) - 301)
        stale = dict(
            good,
            **{
                "X-Slack-Request-Timestamp": stale_ts,
                "X-Slack-Signature": sign(SECRET, stale_ts, body),
            },
        )
        for headers, payload in (
            ({"Content-Type": "application/json"}, body),
            (forged, body),
            (stale, body),
            (good, body.replace(b"1.2", b"1.3")),
        ):
            self.assertEqual(self.post("/slack/events", payload, headers)[0], 401)
            self.assertEqual(self.post("/slack/commands", b"text=list", headers)[0], 401)
            self.assertEqual(self.post("/slack/interactivity", b"payload=%7B%7D", headers)[0], 401)
        self.clock.advance(0)
        self.assertEqual(
            (self.recorder.events, self.recorder.commands, self.recorder.interactions), ([], [], [])
        )
        # The refused deliveries left no trace: the genuine one still goes through.
        self.assertEqual(self.post("/slack/events", body, good)[0], 200)
        self.clock.advance(0)
        self.assertEqual(len(self.recorder.events), 1)

    def test_retries_deduplicated(self) -> None:
        """A retried event (same event_id, re-signed) is handled once."""
        body = self.envelope({"type": "message", "user": self.alice.id, "event_ts": "1.2"})
        self.assertEqual(self.post("/slack/events", body, self.signed(body))[0], 200)
        self.clock.advance(61)
        retry = dict(
            self.signed(body), **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        )
        self.assertEqual(self.post("/slack/events", body, retry)[0], 200)
        self.clock.advance(0)
        self.assertEqual(len(self.recorder.events), 1)

    def test_no_room_503(self) -> None:
        """
        While the hub has no room, an event is answered 503 and not
        remembered: Slack's retry is taken once there is room again.
        """
        room = [False]
        self.hook._has_room = lambda: room[0]
        body = self.envelope({"type": "message", "user": self.alice.id, "event_ts": "1.2"})
        self.assertEqual(self.post("/slack/events", body, self.signed(body))[0], 503)
        self.clock.advance(0)
        self.assertEqual((self.recorder.events, self.hook.refused_busy), ([], 1))
        # The URL handshake is not an event: answered whatever the load.
        status, _ = self.successResultOf(self.sender.url_verification("c"))
        self.assertEqual(status, 200)
        room[0] = True
        self.clock.advance(60)
        retry = dict(self.signed(body), **{"X-Slack-Retry-Num": "1"})
        self.assertEqual(self.post("/slack/events", body, retry)[0], 200)
        self.clock.advance(0)
        self.assertEqual(len(self.recorder.events), 1)

    def test_retry_numbers_reported(self) -> None:
        """An event first seen on a retry carries the retry number and reason."""
        body = self.envelope({"type": "message", "user": self.alice.id, "event_ts": "1.2"})
        retry = dict(
            self.signed(body), **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"}
        )
        self.post("/slack/events", body, retry)
        self.clock.advance(0)
        self.assertEqual(
            (self.recorder.events[0].retry_num, self.recorder.events[0].retry_reason),
            (2, "http_error"),
        )

    def test_own_messages_ignored(self) -> None:
        """The app's own posts and edits are dropped; users' and membership events are not."""
        sim = SlackSimulator(self.clock, self.workspace, events=self.sender)
        self.workspace.add_token("xoxb-t", {"chat:write", "chat:write.customize"})
        response = self.successResultOf(
            StubTreq(sim.resource()).post(
                "https://slack.test/api/chat.postMessage",
                json={"channel": self.channel.id, "text": "from hub", "username": "Peter"},
                headers={"Authorization": "Bearer xoxb-t"},
            )
        )
        self.assertTrue(json.loads(self.successResultOf(response.content()))["ok"])
        self.assertEqual(len(self.sender.deliveries), 1)  # Slack echoed the post
        for event in (
            {
                "type": "message",
                "bot_id": self.workspace.bot_id,
                "subtype": "bot_message",
                "text": "echo",
                "event_ts": "1.1",
            },
            {
                "type": "message",
                "user": self.workspace.bot_user_id,
                "text": "echo",
                "event_ts": "1.2",
            },
            {
                "type": "message",
                "subtype": "message_changed",
                "event_ts": "1.3",
                "message": {"bot_id": self.workspace.bot_id, "text": "edited"},
            },
            {
                "type": "message",
                "bot_id": "B0OTHERBOT",
                "subtype": "bot_message",
                "text": "other bot",
                "event_ts": "1.4",
            },
            {
                "type": "member_joined_channel",
                "user": self.workspace.bot_user_id,
                "channel": self.channel.id,
                "event_ts": "1.5",
            },
        ):
            self.successResultOf(self.sender.send_event(event))
        self.clock.advance(0)
        self.assertEqual([e.event["event_ts"] for e in self.recorder.events], ["1.4", "1.5"])

    def test_identities_per_team(self) -> None:
        """One app, many workspaces: each team's own bot ids are dropped; event ids count per team."""
        self.hook.set_identity("T0OTHER01", "U0OTHERBOT", "B0OTHERBOT")
        other = Workspace(team_id="T0OTHER01")
        sender = EventSender(self.stub, self.clock, SECRET, "https://hub.test", other)
        user = {"type": "message", "user": "U1", "text": "hi", "event_ts": "1.1"}
        own = {"type": "message", "bot_id": "B0OTHERBOT", "text": "echo", "event_ts": "1.2"}
        # Both senders number their events alike (Ev0000000001, ...).
        for events in (sender, self.sender):
            self.successResultOf(events.send_event(user))
            self.successResultOf(events.send_event(own))
        self.clock.advance(0)
        # The other team's own bot is dropped there; in this team it is someone else's bot.
        self.assertEqual(
            [(e.team_id, e.event_id, e.event["event_ts"]) for e in self.recorder.events],
            [
                ("T0OTHER01", "Ev0000000001", "1.1"),
                (self.workspace.team_id, "Ev0000000001", "1.1"),
                (self.workspace.team_id, "Ev0000000002", "1.2"),
            ],
        )

    def test_simulated_user_traffic(self) -> None:
        """A user's post through the simulator reaches the callback with its blocks."""
        sim = SlackSimulator(self.clock, self.workspace, events=self.sender)
        sim.user_posts(self.alice.id, self.channel.id, "hello *world*")
        self.clock.advance(0)
        [event] = self.recorder.events
        self.assertEqual(event.event["blocks"][0]["type"], "rich_text")
        self.assertEqual(event.event["user"], self.alice.id)

    def test_malformed_and_other_envelopes(self) -> None:
        """Malformed JSON is a 400; app_rate_limited and unknown types are acknowledged."""
        for body, status in (
            (b"{not json", 400),
            (b"[]", 400),
            (json.dumps({"type": "event_callback", "event": {}}).encode(), 400),
            (
                json.dumps(
                    {"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1}
                ).encode(),
                200,
            ),
            (json.dumps({"type": "something_new"}).encode(), 200),
        ):
            self.assertEqual(self.post("/slack/events", body, self.signed(body))[0], status)
        self.clock.advance(0)
        self.assertEqual(self.recorder.events, [])

    def test_handler_failure_logged(self) -> None:
        """A failing event handler is logged, not propagated."""
        self.hook._on_event = lambda event: fail(ValueError("boom"))
        self.successResultOf(self.sender.send_event({"type": "message", "event_ts": "1.2"}))
        self.clock.advance(0)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        self.assertEqual(self.hook.in_flight, set())

    def command(self, text: str) -> tuple[int | None, dict[str, Any]]:
        """Send C{/nextplane text}; (status, decoded answer)."""
        d = self.sender.slash_command(self.alice.id, self.channel.id, text)
        self.stub.flush()
        status, body = self.successResultOf(d)
        return status, json.loads(body) if body else {}

    def test_invite_command(self) -> None:
        """An invite is parsed and the callback's reply shown to the user only."""
        status, answer = self.command("invite <mailto:peter@widget.test|peter@widget.test>")
        self.assertEqual(
            (status, answer), (200, {"response_type": "ephemeral", "text": "Invitation sent."})
        )
        [command] = self.recorder.commands
        self.assertEqual(
            (command.action, command.address, command.user_id),
            (CommandAction.INVITE, Address("peter", "widget.test"), self.alice.id),
        )
        self.assertTrue(command.response_url)

    def test_help_and_mistakes(self) -> None:
        """Help and malformed commands are answered without the callback."""
        for text, start in (
            ("", "*/nextplane invite*"),
            ("help", "*/nextplane invite*"),
            ("frobnicate", "Sorry, unknown command"),
            ("invite", "Sorry, invite takes one address"),
            ("invite not-an-address", "Sorry, not an address"),
        ):
            self.assertTrue(self.command(text)[1]["text"].startswith(start), text)
        self.assertEqual(self.recorder.commands, [])

    def test_slow_command(self) -> None:
        """A callback slower than the budget gets a placeholder answer; it goes on running."""
        pending: Deferred[CommandReply] = Deferred()
        self.recorder.reply = pending
        d = self.sender.slash_command(self.alice.id, self.channel.id, "list")
        self.stub.flush()
        self.assertNoResult(d)
        self.clock.advance(2.5)
        self.stub.flush()
        self.assertIn("Working on it", json.loads(self.successResultOf(d)[1])["text"])
        self.assertEqual(len(self.hook.in_flight), 1)
        pending.callback(CommandReply("done"))
        self.assertEqual(self.hook.in_flight, set())

    def test_failing_command(self) -> None:
        """A failing callback gets an apology, and the failure is logged."""
        self.recorder.reply = fail(RuntimeError("db down"))
        self.assertIn("Sorry", self.command("list")[1]["text"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_command_replay_refused(self) -> None:
        """The same signed command sent twice is refused the second time."""
        body = b"command=%2Fnextplane&text=list&user_id=U1"
        headers = self.signed(body, "application/x-www-form-urlencoded")
        self.assertEqual(self.post("/slack/commands", body, headers)[0], 200)
        self.assertEqual(self.post("/slack/commands", body, headers)[0], 401)
        self.assertEqual(len(self.recorder.commands), 1)

    def test_ssl_check(self) -> None:
        """Slack's ssl_check is answered with an empty 200."""
        body = b"ssl_check=1&token=x"
        self.assertEqual(
            self.post(
                "/slack/commands", body, self.signed(body, "application/x-www-form-urlencoded")
            ),
            (200, b""),
        )

    def test_buttons(self) -> None:
        """Accept and Decline clicks become typed decisions, handled after the ack."""
        payload = {
            "type": "block_actions",
            "team": {"id": self.workspace.team_id},
            "user": {"id": self.alice.id},
            "channel": {"id": "D1"},
            "message": {"ts": "5.6"},
            "response_url": "https://hooks.slack.test/r/1",
            "trigger_id": "1.2.3",
            "actions": [
                {"action_id": ACCEPT_ACTION, "value": "req-42", "block_id": "b"},
                {"action_id": DECLINE_ACTION, "value": "req-43"},
                {"action_id": "other"},
                {"no": "action_id"},
            ],
        }
        status, _ = self.successResultOf(self.sender.interaction(payload))
        self.assertEqual((status, self.recorder.interactions), (200, []))
        self.clock.advance(0)
        [interaction] = self.recorder.interactions
        self.assertEqual(
            (
                interaction.kind,
                interaction.user_id,
                interaction.team_id,
                interaction.channel_id,
                interaction.message_ts,
            ),
            ("block_actions", self.alice.id, self.workspace.team_id, "D1", "5.6"),
        )
        self.assertEqual(
            [(a.value, a.accept) for a in interaction.actions],
            [("req-42", True), ("req-43", False), (None, None)],
        )

    def test_bad_payload(self) -> None:
        """An interaction without a JSON payload is a 400."""
        body = b"payload=nope"
        self.assertEqual(
            self.post(
                "/slack/interactivity", body, self.signed(body, "application/x-www-form-urlencoded")
            )[0],
            400,
        )


class ParseCommandTests(SynchronousTestCase):
    """
    L{parse_command_text} reads the command's text.
    """

    def test_forms(self) -> None:
        """Each action with its argument, and the mistakes."""
        self.assertEqual(
            parse_command_text("  INVITE  peter@widget.test "),
            (CommandAction.INVITE, Address("peter", "widget.test"), None, None),
        )
        self.assertEqual(
            parse_command_text("remove xmpp:peter@widget.test"),
            (CommandAction.REMOVE, Address("peter", "widget.test"), None, None),
        )
        self.assertEqual(
            parse_command_text("block Widget.Test"),
            (CommandAction.BLOCK, None, "widget.test", None),
        )
        self.assertEqual(
            parse_command_text("block spam@widget.test"),
            (CommandAction.BLOCK, Address("spam", "widget.test"), None, None),
        )
        self.assertEqual(parse_command_text("list"), (CommandAction.LIST, None, None, None))
        self.assertEqual(parse_command_text("list all")[3], "list takes no argument")
        self.assertEqual(parse_command_text("block -bad-")[3], "not a domain: -bad-")
