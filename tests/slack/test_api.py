# -*- test-case-name: tests.slack.test_api -*-
"""
Tests for L{nextplane.connectors.slack.api} against the Slack simulator.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredSemaphore, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.api import (
    CONDITION_UNCERTAIN,
    RetryPolicy,
    SlackApiError,
    SlackOAuthClient,
)
from nextplane.connectors.slack.ratelimit import RateLimiter
from nextplane.interfaces import DeliveryFailed
from nextplane.testing.slack_sim import CAPACITY, Fault

from .helpers import BASE_URL, SCOPES, T0, TOKEN, SlackFixture, ZeroRandom


class MethodTests(SynchronousTestCase):
    """
    Every method the client offers works against the simulator and sends
    only what Slack's spec allows.
    """

    def setUp(self) -> None:
        self.f = SlackFixture()
        self.client = self.f.client

    def tearDown(self) -> None:
        self.assertEqual(self.f.sim.violations, [])

    def result(self, d: Deferred[Any]) -> Any:
        """The result of C{d} once traffic is pumped."""
        return self.successResultOf(self.f.run(d))

    def posted(self, text: str = "hello") -> str:
        """Post C{text} in #general; its ts."""
        ts = self.result(self.client.post_message(self.f.general.id, text))["ts"]
        self.f.advance(1)
        return str(ts)

    def test_auth_test(self) -> None:
        """auth.test reports the bot's ids."""
        answer = self.result(self.client.auth_test())
        ws = self.f.sim.workspace
        self.assertEqual(
            (answer["team_id"], answer["user_id"], answer["bot_id"]),
            (ws.team_id, ws.bot_user_id, ws.bot_id),
        )

    def test_post_message_as_contact(self) -> None:
        """chat.postMessage shows the external contact's name and avatar."""
        answer = self.result(
            self.client.post_message(
                self.f.general.id,
                "hi *there*",
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
                username="Peter (widget.test)",
                icon_url="https://avatars.test/peter.png",
                unfurl_links=False,
            )
        )
        [message] = self.f.sim.messages(self.f.general.id)
        self.assertEqual(answer["ts"], message.ts)
        self.assertEqual(
            (message.text, message.username, message.icon_url),
            ("hi *there*", "Peter (widget.test)", "https://avatars.test/peter.png"),
        )
        self.assertEqual(message.blocks[0]["type"], "section")

    def test_thread_reply(self) -> None:
        """A reply names its thread."""
        parent = self.posted("parent")
        self.result(self.client.post_message(self.f.general.id, "child", thread_ts=parent))
        self.assertEqual(self.f.sim.messages(self.f.general.id)[1].thread_ts, parent)

    def test_update_message(self) -> None:
        """chat.update replaces the text."""
        ts = self.posted()
        self.result(self.client.update_message(self.f.general.id, ts, "edited"))
        self.assertEqual(self.f.texts(self.f.general.id), ["edited"])

    def test_delete_message(self) -> None:
        """chat.delete removes the message."""
        ts = self.posted()
        self.result(self.client.delete_message(self.f.general.id, ts))
        self.assertEqual(self.f.texts(self.f.general.id), [])

    def test_reactions(self) -> None:
        """reactions.add and remove change the message's reactions; repeats succeed."""
        ts = self.posted()
        channel = self.f.general.id
        self.result(self.client.add_reaction(channel, ts, ":+1::skin-tone-2:"))
        self.assertEqual(
            self.result(self.client.add_reaction(channel, ts, "+1::skin-tone-2"))["already"],
            "already_reacted",
        )
        [message] = self.f.sim.messages(channel)
        self.assertEqual(message.reactions, {"+1::skin-tone-2": [self.f.sim.workspace.bot_user_id]})
        self.result(self.client.remove_reaction(channel, ts, "+1::skin-tone-2"))
        self.result(self.client.remove_reaction(channel, ts, "+1::skin-tone-2"))
        self.assertEqual(message.reactions, {})

    def test_create_and_invite(self) -> None:
        """conversations.create makes a channel; invite adds members, twice is fine."""
        created = self.result(self.client.create_conversation("np-peter", is_private=True))
        channel = created["channel"]["id"]
        self.result(self.client.invite_to_conversation(channel, [self.f.alice.id, self.f.bob.id]))
        self.result(self.client.invite_to_conversation(channel, [self.f.alice.id]))
        conversation = self.f.sim.workspace.conversations[channel]
        self.assertTrue(conversation.is_private)
        self.assertEqual(
            conversation.members,
            {self.f.alice.id, self.f.bob.id, self.f.sim.workspace.bot_user_id},
        )

    def test_open_dm(self) -> None:
        """conversations.open gives the same DM each time."""
        first = self.result(self.client.open_conversation([self.f.alice.id]))["channel"]["id"]
        again = self.result(self.client.open_conversation([self.f.alice.id], return_im=True))
        self.assertEqual(again["channel"]["id"], first)
        self.assertTrue(again["channel"]["is_im"])
        group = self.result(self.client.open_conversation([self.f.alice.id, self.f.bob.id]))
        self.assertNotEqual(group["channel"]["id"], first)

    def test_users(self) -> None:
        """users.info, users.lookupByEmail and users.getPresence answer."""
        info = self.result(self.client.user_info(self.f.alice.id, include_locale=True))
        self.assertEqual(info["user"]["real_name"], "Alice Liddell")
        found = self.result(self.client.lookup_user_by_email("ALICE@acme.test"))
        self.assertEqual(found["user"]["id"], self.f.alice.id)
        presence = self.result(self.client.get_presence(self.f.alice.id))
        self.assertEqual(presence["presence"], "active")

    def test_files(self) -> None:
        """A file is uploaded in three steps, shared, and downloaded with the token."""
        answer = self.result(
            self.client.upload_file(
                self.f.general.id, "notes.txt", b"file body", title="Notes", initial_comment="see"
            )
        )
        [shared] = answer["files"]
        file = self.f.sim.workspace.files[shared["id"]]
        self.assertEqual(
            (file.content, file.title, file.channels), (b"file body", "Notes", [self.f.general.id])
        )
        self.assertEqual(self.f.sim.uploads, [(file.id, False)])
        [message] = self.f.sim.messages(self.f.general.id)
        self.assertEqual((message.text, message.files), ("see", [file.id]))
        data = self.result(self.client.download_file(self.f.sim.file_url(file.id)))
        self.assertEqual(data, b"file body")

    def test_oauth(self) -> None:
        """oauth.v2.access exchanges a code once for a working bot token."""
        code = self.f.sim.issue_oauth_code(set(SCOPES))
        oauth = SlackOAuthClient(
            self.f.sim.client_id,
            self.f.sim.client_secret,
            self.f.stub,
            self.f.clock,
            base_url=BASE_URL,
        )
        answer = self.result(oauth.access(code, redirect_uri="https://hub.test/slack/oauth"))
        self.assertEqual(answer["token_type"], "bot")
        self.assertIn(answer["access_token"], self.f.sim.workspace.tokens)
        error = self.failureResultOf(self.f.run(oauth.access(code)), SlackApiError).value
        self.assertEqual((error.error, error.condition), ("invalid_code", "not-authorized"))
        self.assertNotIn(self.f.sim.client_secret, repr(oauth))


class SpecViolationTests(SynchronousTestCase):
    """
    The simulator catches requests that break Slack's spec.
    """

    def setUp(self) -> None:
        self.f = SlackFixture()

    def call(self, method: str, params: dict[str, Any]) -> SlackApiError:
        """Make a call that must fail; its error."""
        d = self.f.client.call(method, params)
        return self.failureResultOf(self.f.run(d), SlackApiError).value

    def test_unknown_parameter(self) -> None:
        """A misspelt parameter is refused and recorded."""
        error = self.call("chat.update", {"channel": self.f.general.id, "ts": "1.2", "txt": "x"})
        self.assertEqual((error.error, error.condition), ("invalid_arguments", "bad-request"))
        self.assertIn("unknown parameter: txt", error.reason)
        [violation] = self.f.sim.violations
        self.assertEqual(violation.method, "chat.update")

    def test_missing_required(self) -> None:
        """A missing required parameter is refused."""
        error = self.call("chat.update", {"channel": self.f.general.id, "text": "x"})
        self.assertIn("missing required field: ts", error.reason)

    def test_wrong_type(self) -> None:
        """A value of the wrong type is refused."""
        error = self.call("conversations.create", {"name": "x", "is_private": "maybe"})
        self.assertIn("is_private: expected boolean", error.reason)

    def test_unknown_method(self) -> None:
        """An unknown method is refused."""
        error = self.call("chat.postMessages", {"channel": "C1"})
        self.assertEqual(error.error, "unknown_method")
        self.assertEqual(len(self.f.sim.violations), 1)

    def test_get_on_write_method(self) -> None:
        """A write method called with GET is a violation."""
        self.f.run(
            self.f.stub.get(
                BASE_URL + "chat.delete",
                params={"channel": "C1", "ts": "1.2"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        )
        self.assertIn("must be called with POST", self.f.sim.violations[0].messages[0])

    def test_token_parameter(self) -> None:
        """A token passed as a parameter instead of the header is a violation."""
        self.f.run(self.f.stub.get(BASE_URL + "auth.test", params={"token": TOKEN}))
        self.assertIn("Authorization header", self.f.sim.violations[0].messages[0])
        self.assertNotIn(TOKEN, repr(self.f.sim.calls))


class FailureTests(SynchronousTestCase):
    """
    Permanent failures raise L{DeliveryFailed} with a human reason and no token.
    """

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def tearDown(self) -> None:
        for event in self.events:
            self.assertNotIn(TOKEN, formatEvent(event))

    def failure(self, f: SlackFixture, d: Deferred[Any]) -> SlackApiError:
        """The L{SlackApiError} C{d} fails with."""
        return self.failureResultOf(f.run(d), SlackApiError).value

    def test_channel_not_found(self) -> None:
        """A missing channel fails as item-not-found, once."""
        f = SlackFixture()
        error = self.failure(f, f.client.post_message("C404", "x"))
        self.assertIsInstance(error, DeliveryFailed)
        self.assertEqual(
            (error.condition, error.error, error.method),
            ("item-not-found", "channel_not_found", "chat.postMessage"),
        )
        self.assertEqual(
            error.reason,
            "Slack chat.postMessage failed: the Slack conversation does not exist (channel_not_found)",
        )
        self.assertEqual(len(f.sim.calls), 1)

    def test_not_in_channel(self) -> None:
        """Posting where the bot is no member fails as recipient-unavailable."""
        f = SlackFixture()
        error = self.failure(f, f.client.post_message(f.lobby.id, "x"))
        self.assertEqual(
            (error.condition, error.error), ("recipient-unavailable", "not_in_channel")
        )

    def test_invalid_auth(self) -> None:
        """A bad token fails as not-authorized without showing the token."""
        f = SlackFixture(token=TOKEN + "-wrong")
        error = self.failure(f, f.client.post_message(f.general.id, "x"))
        self.assertEqual((error.condition, error.error), ("not-authorized", "invalid_auth"))
        self.assertNotIn(TOKEN, str(error))
        self.assertNotIn(TOKEN, repr(f.client))

    def test_missing_scope(self) -> None:
        """Posting as a contact without chat:write.customize names the scope."""
        f = SlackFixture(scopes=SCOPES - {"chat:write.customize"})
        error = self.failure(f, f.client.post_message(f.general.id, "x", username="Peter"))
        self.assertEqual(error.condition, "forbidden")
        self.assertIn("needed: chat:write.customize", error.reason)

    def test_failure_keeps_queue_going(self) -> None:
        """A message refused for good does not hold up the ones after it."""
        f = SlackFixture()
        results = [f.client.post_message(f.general.id, t) for t in ("one", "x" * 40_001, "three")]
        f.advance(3)
        self.successResultOf(results[0])
        self.assertEqual(
            self.failureResultOf(results[1], SlackApiError).value.error, "msg_too_long"
        )
        self.successResultOf(results[2])
        self.assertEqual(f.texts(f.general.id), ["one", "three"])

    def test_download_host_checked(self) -> None:
        """The token is never sent to a host other than Slack's."""
        f = SlackFixture()
        for url in ("https://evil.test/files-pri/x", "http://files.slack.com/x"):
            error = self.failure(f, f.client.download_file(url))
            self.assertEqual(error.condition, "forbidden")
        self.assertEqual(f.sim.calls, [])

    def test_download_login_page(self) -> None:
        """A download answered with Slack's sign-in page fails."""
        f = SlackFixture(scopes=SCOPES - {"files:read"})
        answer = self.successResultOf(f.run(f.client.upload_file(f.general.id, "a.txt", b"abc")))
        error = self.failure(f, f.client.download_file(f.sim.file_url(answer["files"][0]["id"])))
        self.assertEqual(error.error, "login_page")


class RetryTests(SynchronousTestCase):
    """
    429, 5xx, timeouts and connection failures are retried when that is
    safe, so each message arrives exactly once or the sender is told.
    """

    def test_retry_after(self) -> None:
        """A 429 is retried after Retry-After, without using up an attempt."""
        f = SlackFixture()
        f.sim.inject(
            "chat.postMessage", Fault("ratelimit", retry_after=5), Fault("ratelimit", retry_after=5)
        )
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(9)
        self.assertNoResult(d)
        f.advance(1)
        self.successResultOf(d)
        self.assertEqual([c.time - T0 for c in f.sim.calls], [0, 5, 10])
        self.assertEqual(f.texts(f.general.id), ["x"])

    def test_retry_after_holds_channel_queue(self) -> None:
        """While a channel waits out a 429, later messages wait behind it."""
        f = SlackFixture()
        f.sim.inject("chat.postMessage", Fault("ratelimit", retry_after=3))
        first = f.client.post_message(f.general.id, "first")
        second = f.client.post_message(f.general.id, "second")
        f.advance(10)
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual(f.texts(f.general.id), ["first", "second"])
        self.assertEqual([c.time - T0 for c in f.sim.successful("chat.postMessage")], [3, 4])

    def test_too_long_retry_after(self) -> None:
        """A Retry-After beyond the policy's limit fails the call."""
        f = SlackFixture(policy=RetryPolicy(max_retry_after=60))
        f.sim.inject("users.info", Fault("ratelimit", retry_after=3600))
        error = self.failureResultOf(f.run(f.client.user_info(f.alice.id)), SlackApiError).value
        self.assertEqual(error.condition, "resource-constraint")

    def test_503_retried(self) -> None:
        """A 503 (not processed) is retried for a post, never faster than the channel's pace."""
        f = SlackFixture()
        f.sim.inject("chat.postMessage", Fault("status", status=503), Fault("status", status=503))
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(3, step=0.5)
        self.successResultOf(d)
        self.assertEqual([c.time - T0 for c in f.sim.calls], [0, 1, 2])
        self.assertEqual(f.texts(f.general.id), ["x"])

    def test_attempts_bounded(self) -> None:
        """After max_attempts failures the call fails as service-unavailable."""
        f = SlackFixture(policy=RetryPolicy(max_attempts=3))
        f.sim.inject("users.info", *[Fault("status", status=502)] * 5)
        d = f.run(f.client.user_info(f.alice.id))
        f.advance(10, step=0.5)
        error = self.failureResultOf(d, SlackApiError).value
        self.assertEqual((error.condition, error.error), ("service-unavailable", "http_502"))
        self.assertEqual(len(f.sim.calls), 3)

    def test_500_post_not_repeated(self) -> None:
        """A 500 after a post may hide a success: the post is not repeated."""
        f = SlackFixture()
        f.sim.inject("chat.postMessage", Fault("status_after", status=500))
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(60)
        error = self.failureResultOf(d, SlackApiError).value
        self.assertEqual(error.condition, CONDITION_UNCERTAIN)
        self.assertIn("may or may not", error.reason)
        self.assertEqual(f.texts(f.general.id), ["x"])
        self.assertEqual(len(f.sim.calls), 1)

    def test_timeout_after_accept_no_duplicate(self) -> None:
        """A post Slack accepted but never answered is reported, not duplicated."""
        f = SlackFixture()
        f.sim.inject("chat.postMessage", Fault("hang_after"))
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(9)
        self.assertNoResult(d)
        f.advance(1)
        self.assertEqual(self.failureResultOf(d, SlackApiError).value.error, "timeout")
        f.advance(120)
        self.assertEqual(f.texts(f.general.id), ["x"])

    def test_timeout_at_least_once(self) -> None:
        """With retry_ambiguous_writes the same case is retried and duplicates."""
        f = SlackFixture(policy=RetryPolicy(retry_ambiguous_writes=True))
        f.sim.inject("chat.postMessage", Fault("hang_after"))
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(20)
        self.successResultOf(d)
        self.assertEqual(f.texts(f.general.id), ["x", "x"])

    def test_idempotent_retried_after_timeout(self) -> None:
        """Edits are retried after a timeout; a delete that did happen counts as done."""
        f = SlackFixture()
        ts = self.successResultOf(f.run(f.client.post_message(f.general.id, "x")))["ts"]
        f.sim.inject("chat.update", Fault("hang"))
        f.sim.inject("chat.delete", Fault("hang_after"))
        edit = f.client.update_message(f.general.id, ts, "edited")
        delete = f.client.delete_message(f.general.id, ts)
        f.advance(30)
        self.assertEqual(self.successResultOf(edit)["text"], "edited")
        self.assertEqual(self.successResultOf(delete)["already"], "message_not_found")
        self.assertEqual(f.texts(f.general.id), [])

    def test_delete_missing_fails(self) -> None:
        """Deleting a message that never existed is still an error."""
        f = SlackFixture()
        d = f.run(f.client.delete_message(f.general.id, "1.000001"))
        self.assertEqual(self.failureResultOf(d, SlackApiError).value.error, "message_not_found")

    def test_reaction_after_timeout(self) -> None:
        """A reaction that was added before the timeout is not added twice."""
        f = SlackFixture()
        ts = self.successResultOf(f.run(f.client.post_message(f.general.id, "x")))["ts"]
        f.sim.inject("reactions.add", Fault("hang_after"))
        d = f.client.add_reaction(f.general.id, ts, "tada")
        f.advance(20)
        self.successResultOf(d)
        self.assertEqual(
            f.sim.messages(f.general.id)[0].reactions, {"tada": [f.sim.workspace.bot_user_id]}
        )

    def test_slack_errors_classified(self) -> None:
        """service_unavailable is retried; internal_error is ambiguous for a post."""
        f = SlackFixture()
        f.sim.inject(
            "chat.postMessage",
            Fault("error", error="service_unavailable"),
            Fault("error", error="internal_error"),
        )
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(5)
        self.assertEqual(
            self.failureResultOf(d, SlackApiError).value.condition, CONDITION_UNCERTAIN
        )
        self.assertEqual(len(f.sim.calls), 2)

    def test_connection_refused(self) -> None:
        """A refused connection (nothing sent) is retried for a post."""
        refusals = [1]

        class Flaky:
            def __init__(self, f: SlackFixture) -> None:
                self.f = f

            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                if refusals:
                    refusals.pop()
                    return fail(ConnectionRefusedError())
                return self.f.stub.request(method, url, **kwargs)

        f = SlackFixture()
        f.client = type(f.client)(TOKEN, Flaky(f), f.clock, ZeroRandom(), base_url=BASE_URL)
        d = f.run(f.client.post_message(f.general.id, "x"))
        f.advance(1)
        self.successResultOf(d)
        self.assertEqual(f.texts(f.general.id), ["x"])

    def test_exchanges_bounded_by_gate(self) -> None:
        """
        With a gate of two, a third call waits (unsent, and not timed out)
        until an exchange finishes; a call cancelled while waiting is
        never sent.
        """
        held: list[tuple[Deferred[Any], str, str, dict[str, Any]]] = []

        class Held:
            def __init__(self, f: SlackFixture) -> None:
                self.f = f

            def request(self, method: str, url: str, **kwargs: Any) -> Deferred[Any]:
                d: Deferred[Any] = Deferred()
                held.append((d, method, url, kwargs))
                return d

        f = SlackFixture()
        gate = DeferredSemaphore(2)
        f.client = type(f.client)(
            TOKEN, Held(f), f.clock, ZeroRandom(), base_url=BASE_URL, gate=gate
        )
        calls = [f.run(f.client.post_message(f"C{i}", "x")) for i in range(3)]
        cancelled = f.run(f.client.post_message("C9", "x"))
        self.assertEqual(len(held), 2)
        cancelled.cancel()
        self.failureResultOf(cancelled, CancelledError)
        f.clock.advance(9)
        self.assertEqual(len(held), 2)
        f.clock.advance(2)  # the two sent ones time out; the waiting one goes
        for call in calls[:2]:
            self.failureResultOf(call)
        self.assertEqual([h[3]["json"]["channel"] for h in held], ["C0", "C1", "C2"])
        self.assertNoResult(calls[2])
        self.assertEqual(gate.tokens, 1)

    def test_upload_retried(self) -> None:
        """A failed upload POST is repeated (the same bytes to the same URL)."""
        f = SlackFixture()
        f.sim.inject("upload", Fault("status", status=500))
        d = f.run(f.client.upload_file(f.general.id, "a.bin", b"\x00\x01"))
        f.advance(2)
        self.successResultOf(d)
        self.assertEqual(len(f.sim.uploads), 2)


class PacingTests(SynchronousTestCase):
    """
    Rate limits in "real limits" mode: delivered completely, in order, at
    Slack's documented pace, without 429s.
    """

    def test_burst_of_200(self) -> None:
        """200 messages to one channel go out one per second, in order, all of them."""
        f = SlackFixture()
        texts = [f"message {i}" for i in range(200)]
        results = [f.client.post_message(f.general.id, text) for text in texts]
        self.assertEqual(f.client.queued(f.general.id), 199)  # the first went out at once
        f.advance(198)
        self.assertNoResult(results[-1])
        f.advance(1)
        for d in results:
            self.successResultOf(d)
        self.assertEqual(f.texts(f.general.id), texts)
        times = [c.time - T0 for c in f.sim.successful("chat.postMessage")]
        self.assertEqual(times, list(range(200)))
        self.assertEqual(f.sim.rate_limited, [])
        self.assertEqual(f.sim.violations, [])
        self.assertEqual(f.client.queued(f.general.id), 0)

    def test_cancel_queued(self) -> None:
        """A queued message cancelled before its turn is never sent."""
        f = SlackFixture()
        first = f.client.post_message(f.general.id, "one")
        second = f.client.post_message(f.general.id, "two")
        third = f.client.post_message(f.general.id, "three")
        second.cancel()
        self.failureResultOf(second, CancelledError)
        f.advance(3)
        self.successResultOf(first)
        self.successResultOf(third)
        self.assertEqual(f.texts(f.general.id), ["one", "three"])
        self.assertEqual([c.time - T0 for c in f.sim.successful("chat.postMessage")], [0, 1])

    def test_cancel_in_flight(self) -> None:
        """Cancelling a call waiting for its answer is not mistaken for a timeout."""
        f = SlackFixture()
        f.sim.inject("users.info", Fault("hang"))
        d = f.run(f.client.user_info(f.alice.id))
        d.cancel()
        self.failureResultOf(d, CancelledError)
        f.advance(60)
        self.assertEqual(len(f.sim.calls), 1)

    def test_channels_paced_independently(self) -> None:
        """Two channels each get one message per second at the same time."""
        f = SlackFixture()
        other = f.sim.workspace.add_channel("other", {f.sim.workspace.bot_user_id})
        for i in range(3):
            f.client.post_message(f.general.id, f"g{i}")
            f.client.post_message(other.id, f"o{i}")
        f.advance(3)
        self.assertEqual(f.texts(f.general.id), ["g0", "g1", "g2"])
        self.assertEqual(f.texts(other.id), ["o0", "o1", "o2"])
        times = sorted(c.time - T0 for c in f.sim.successful("chat.postMessage"))
        self.assertEqual(times, [0, 0, 1, 1, 2, 2])

    def test_simulator_enforces_pace(self) -> None:
        """A client pacing too fast gets 429s, honours them, and loses nothing."""
        f = SlackFixture(limiter=RateLimiter(post_interval=0.25))
        texts = [f"m{i}" for i in range(20)]
        results = [f.client.post_message(f.general.id, t) for t in texts]
        f.advance(40, step=0.25)
        for d in results:
            self.successResultOf(d)
        self.assertEqual(f.texts(f.general.id), texts)
        self.assertTrue(f.sim.rate_limited)
        times = [c.time for c in f.sim.successful("chat.postMessage")]
        self.assertTrue(all(b - a >= 1 for a, b in itertools.pairwise(times)))

    def test_tier_window(self) -> None:
        """Tier 4 allows 100 users.info calls a minute; the rest wait for the window."""
        f = SlackFixture()
        results = [f.client.user_info(f.alice.id) for _ in range(150)]
        f.advance(59)
        self.assertEqual(len(f.sim.successful("users.info")), 100)
        f.advance(1)
        for d in results:
            self.successResultOf(d)
        times = [c.time - T0 for c in f.sim.successful("users.info")]
        self.assertEqual(times, [0] * 100 + [60] * 50)
        self.assertEqual(f.sim.rate_limited, [])

    def test_capacity_mode(self) -> None:
        """In capacity mode the simulator never limits (the client still paces)."""
        f = SlackFixture(mode=CAPACITY, limiter=RateLimiter(post_interval=0))
        results = [f.client.post_message(f.general.id, f"m{i}") for i in range(50)]
        f.pump()
        for d in results:
            self.successResultOf(d)
        self.assertEqual(len(f.texts(f.general.id)), 50)
        self.assertEqual(f.sim.rate_limited, [])
