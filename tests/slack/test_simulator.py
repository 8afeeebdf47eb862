# -*- test-case-name: tests.slack.test_simulator -*-
"""
Tests for L{nextplane.testing.slack_sim}: spec checks, scopes, limits and
signed event deliveries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from klein import Klein
from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool, ResponseNeverReceived
from twisted.web.iweb import IRequest

from nextplane.connectors.platform.httpapi import CONDITION_UNCERTAIN
from nextplane.connectors.slack.api import SlackApiError, SlackWebClient
from nextplane.connectors.slack.signature import SignatureVerifier
from nextplane.testing.slack_sim import (
    CAPACITY,
    EventSender,
    Fault,
    SlackSimulator,
    Workspace,
    load_spec,
)
from nextplane.testing.slack_sim.events import load_wrapper_schema
from nextplane.testing.slack_sim.spec import default_spec_path

from .helpers import BASE_URL, T0, TOKEN, SlackFixture

SECRET = "sim-signing-secret"


class SpecTests(SynchronousTestCase):
    """
    The spec is read from ../shared/specs and validates requests.
    """

    def setUp(self) -> None:
        self.spec = load_spec()

    def test_read_in_place(self) -> None:
        """The spec comes from the shared folder, not a copy in the repository."""
        path = default_spec_path()
        self.assertEqual(path.parts[-4:], ("shared", "specs", "slack", "slack_web_openapi_v2.json"))
        repository = Path(__file__).resolve().parents[2]
        for folder in ("nextplane", "tests"):
            self.assertEqual(list((repository / folder).rglob("slack_web_openapi_v2.json")), [])
        self.assertGreater(len(self.spec.methods), 170)

    def test_methods_used_are_described(self) -> None:
        """Every method the client calls is in the spec (files v2 by hand)."""
        from nextplane.connectors.slack.api import METHODS

        self.assertEqual(set(METHODS) - set(self.spec.methods), set())

    def test_validate(self) -> None:
        """Types, required fields, verbs and JSON acceptance are checked."""
        check = self.spec.validate
        self.assertEqual(
            check(
                "chat.postMessage",
                "POST",
                "application/json",
                {},
                {},
                {"channel": "C1", "text": "x", "blocks": []},
            ),
            [],
        )
        self.assertEqual(
            check(
                "chat.delete",
                "POST",
                "application/x-www-form-urlencoded",
                {},
                {"channel": "C1", "ts": "1.2"},
                None,
            ),
            [],
        )
        self.assertEqual(
            check(
                "users.info", "POST", "application/x-www-form-urlencoded", {}, {"user": "U1"}, None
            ),
            [],
        )
        self.assertEqual(
            check("users.info", "GET", None, {"user": "U1", "include_locale": "true"}, {}, None), []
        )
        self.assertIn(
            "[ERROR] missing required field: channel",
            check("chat.postMessage", "POST", "application/json", {}, {}, {"text": "x"}),
        )
        self.assertIn(
            "[ERROR] link_names: expected boolean",
            check(
                "chat.postMessage",
                "POST",
                "application/json",
                {},
                {},
                {"channel": "C", "link_names": "yes"},
            ),
        )
        self.assertIn(
            "[ERROR] ts: expected number",
            check("chat.delete", "POST", "application/json", {}, {}, {"channel": "C", "ts": "abc"}),
        )
        self.assertIn(
            "[ERROR] users.info does not accept JSON bodies",
            check("users.info", "POST", "application/json", {}, {}, {"user": "U1"}),
        )
        self.assertIn(
            "[ERROR] length: expected integer",
            check(
                "files.getUploadURLExternal",
                "POST",
                "application/x-www-form-urlencoded",
                {},
                {"filename": "a", "length": "1.5"},
                None,
            ),
        )
        self.assertIn(
            "[ERROR] unknown method: chat.nope", check("chat.nope", "POST", None, {}, {}, None)
        )

    def test_scopes(self) -> None:
        """Granular bot scopes grant the spec's legacy ones; 'none' needs nothing."""
        allows = self.spec.scope_allows
        self.assertTrue(allows("chat.postMessage", {"chat:write"}))
        self.assertFalse(allows("chat.postMessage", {"users:read"}))
        self.assertTrue(allows("conversations.create", {"channels:manage"}))
        self.assertTrue(allows("auth.test", set()))
        self.assertFalse(allows("users.lookupByEmail", {"users:read"}))
        self.assertTrue(allows("files.completeUploadExternal", {"files:write"}))


class SimulatorTests(SynchronousTestCase):
    """
    The simulator's own checks.
    """

    def call(
        self, f: SlackFixture, method: str, token: str | None = TOKEN, **form: str
    ) -> dict[str, Any]:
        """POST a form to the simulator; the decoded answer."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.successResultOf(
            f.run(f.stub.post(BASE_URL + method, data=form, headers=headers))
        )
        return json.loads(self.successResultOf(response.content()))

    def test_auth(self) -> None:
        """Missing, unknown and revoked tokens and missing scopes are refused."""
        f = SlackFixture(scopes=frozenset({"chat:write"}))
        self.assertEqual(self.call(f, "auth.test", token=None)["error"], "not_authed")
        self.assertEqual(self.call(f, "auth.test", token="xoxb-nope")["error"], "invalid_auth")
        answer = self.call(f, "users.info", user=f.alice.id)
        self.assertEqual((answer["error"], answer["needed"]), ("missing_scope", "users:read"))
        f.sim.workspace.tokens[TOKEN].revoked = True
        self.assertEqual(self.call(f, "auth.test")["error"], "token_revoked")
        self.assertEqual(f.sim.violations, [])

    def test_real_limits(self) -> None:
        """Two posts to one channel within a second: the second gets 429 and Retry-After."""
        f = SlackFixture()
        self.assertTrue(self.call(f, "chat.postMessage", channel=f.general.id, text="a")["ok"])
        response = self.successResultOf(
            f.run(
                f.stub.post(
                    BASE_URL + "chat.postMessage",
                    data={"channel": f.general.id, "text": "b"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            )
        )
        self.assertEqual(response.code, 429)
        self.assertEqual(response.headers.getRawHeaders("retry-after"), ["1"])
        self.assertEqual([r.channel for r in f.sim.rate_limited], [f.general.id])
        f.clock.advance(1)
        self.assertTrue(self.call(f, "chat.postMessage", channel=f.general.id, text="b")["ok"])

    def test_unimplemented_method_example(self) -> None:
        """A described method without a handler answers with the spec's example."""
        f = SlackFixture()
        answer = self.call(f, "bots.info", bot="B1")
        self.assertTrue(answer["ok"])
        self.assertIn("bot", answer)

    def test_home_view(self) -> None:
        """views.publish takes the view as an object in a JSON body (documented allowance)."""
        f = SlackFixture()
        answer = self.successResultOf(
            f.run(f.client.publish_view(f.alice.id, {"type": "home", "blocks": []}))
        )
        self.assertEqual(answer["view"]["type"], "home")
        self.assertEqual(f.sim.home_views[f.alice.id], {"type": "home", "blocks": []})
        failure = self.failureResultOf(
            f.run(f.client.publish_view(f.alice.id, {"type": "modal", "blocks": []}))
        )
        self.assertEqual(failure.value.error, "invalid_arguments")
        self.assertEqual(f.sim.violations, [])

    def test_cloud(self) -> None:
        """SlackCloud sends each request to the workspace its token, code or file belongs to."""
        from nextplane.testing.slack_sim import SlackCloud

        f = SlackFixture()
        other = SlackSimulator(f.clock, Workspace(team_id="T0OTHER01"))
        other.workspace.add_token("xoxb-other", {"chat:write"})
        cloud = StubTreq(SlackCloud(f.sim, other))

        def team(token: str) -> str:
            response = self.successResultOf(
                cloud.post(BASE_URL + "auth.test", headers={"Authorization": f"Bearer {token}"})
            )
            return str(json.loads(self.successResultOf(response.content()))["team_id"])

        self.assertEqual((team(TOKEN), team("xoxb-other")), (f.sim.workspace.team_id, "T0OTHER01"))
        code = other.issue_oauth_code({"chat:write"})
        response = self.successResultOf(
            cloud.post(
                BASE_URL + "oauth.v2.access",
                data={"code": code},
                auth=(other.client_id, other.client_secret),
            )
        )
        answer = json.loads(self.successResultOf(response.content()))
        self.assertEqual(answer["team"]["id"], "T0OTHER01")
        self.assertEqual(self.successResultOf(cloud.get("https://slack.test/nowhere")).code, 404)

    def test_ts_increasing(self) -> None:
        """Message timestamps are unique and increase."""
        f = SlackFixture()
        for text in "abc":
            self.call(f, "chat.postMessage", channel=f.general.id, text=text)
            f.clock.advance(1)
        stamps = [m.ts for m in f.sim.messages(f.general.id)]
        self.assertEqual(stamps, sorted(set(stamps), key=float))

    def test_upload_with_credentials_flagged(self) -> None:
        """Sending the token to the upload URL is recorded as a violation."""
        f = SlackFixture()
        ticket = self.call(f, "files.getUploadURLExternal", filename="a", length="1")
        f.run(
            f.stub.post(
                ticket["upload_url"], data=b"x", headers={"Authorization": f"Bearer {TOKEN}"}
            )
        )
        self.assertIn("credentials", f.sim.violations[0].messages[0])


class FakeHub:
    """
    Records signed requests; answers as told.

    @ivar answers: Per request, a status code or "hang"; 200 when empty.
    """

    app = Klein()

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, str]] = []
        self.answers: list[Any] = []
        self.no_retry = False

    @app.route("/slack/<string:kind>", methods=["POST"])
    def receive(self, request: IRequest, kind: str) -> Any:
        headers = {
            k.decode().lower(): v[0].decode() for k, v in request.requestHeaders.getAllRawHeaders()
        }
        body = request.content.read()
        self.requests.append((headers, body, kind))
        answer = self.answers.pop(0) if self.answers else 200
        if answer == "hang":
            return Deferred()
        request.setResponseCode(answer)
        if self.no_retry:
            request.setHeader(b"x-slack-no-retry", b"1")
        if kind == "events" and json.loads(body).get("type") == "url_verification":
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"challenge": json.loads(body)["challenge"]}).encode()
        return b""


class EventSenderTests(SynchronousTestCase):
    """
    L{EventSender} delivers signed events and retries as Slack does.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.hub = FakeHub()
        self.stub = StubTreq(self.hub.app.resource())
        self.workspace = Workspace()
        self.sender = EventSender(self.stub, self.clock, SECRET, "https://hub.test", self.workspace)
        self.verifier = SignatureVerifier(SECRET, self.clock)

    def advance(self, seconds: float) -> None:
        """Move time on in one-second steps, pumping traffic."""
        self.stub.flush()
        for _ in range(int(seconds)):
            self.clock.advance(1)
            self.stub.flush()

    def test_signed_envelope(self) -> None:
        """An event arrives once, signed, in a schema-valid envelope."""
        d = self.sender.send_event(
            {"type": "message", "text": "hi", "ts": "1.2", "event_ts": "1.2"}
        )
        self.stub.flush()
        delivery = self.successResultOf(d)
        self.assertTrue(delivery.delivered)
        [(headers, body, kind)] = self.hub.requests
        self.assertEqual(kind, "events")
        self.verifier.verify_headers(body, headers)
        envelope = json.loads(body)
        jsonschema.validate(envelope, load_wrapper_schema())
        self.assertEqual(envelope["event"]["text"], "hi")
        self.assertEqual(envelope["authorizations"][0]["user_id"], self.workspace.bot_user_id)
        self.assertNotIn("x-slack-retry-num", headers)

    def test_retries(self) -> None:
        """Failures and timeouts are retried three times with the retry headers."""
        self.hub.answers = [500, "hang", 503, 200]
        d = self.sender.send_event({"type": "message", "event_ts": "1.2"})
        self.advance(400)
        delivery = self.successResultOf(d)
        self.assertEqual(
            [(a.retry_num, a.status, a.reason) for a in delivery.attempts],
            [
                (0, 500, "http_error"),
                (1, None, "http_timeout"),
                (2, 503, "http_error"),
                (3, 200, None),
            ],
        )
        retries = [
            (h.get("x-slack-retry-num"), h.get("x-slack-retry-reason"))
            for h, _, _ in self.hub.requests
        ]
        self.assertEqual(
            retries, [(None, None), ("1", "http_error"), ("2", "http_timeout"), ("3", "http_error")]
        )
        self.assertEqual([a.time - T0 for a in delivery.attempts], [0, 4, 64, 364])
        bodies = {body for _, body, _ in self.hub.requests}
        self.assertEqual(len(bodies), 1)

    def test_gives_up(self) -> None:
        """After three retries the event is dropped."""
        self.hub.answers = [500] * 5
        d = self.sender.send_event({"type": "message", "event_ts": "1.2"})
        self.advance(400)
        self.assertFalse(self.successResultOf(d).delivered)
        self.assertEqual(len(self.hub.requests), 4)

    def test_no_retry_header(self) -> None:
        """X-Slack-No-Retry on a failure stops the retries."""
        self.hub.answers = [500]
        self.hub.no_retry = True
        d = self.sender.send_event({"type": "message", "event_ts": "1.2"})
        self.advance(400)
        self.assertEqual(len(self.successResultOf(d).attempts), 1)

    def test_invalid_envelope(self) -> None:
        """An event without its required fields is refused before sending."""
        self.assertRaises(jsonschema.ValidationError, self.sender.send_event, {"type": "message"})

    def test_url_verification_command_interaction(self) -> None:
        """The handshake, slash commands and interactions are signed form or JSON posts."""
        status, body = self.successResultOf(self.sender.url_verification("abc123"))
        self.assertEqual((status, json.loads(body)), (200, {"challenge": "abc123"}))
        self.successResultOf(self.sender.slash_command("U1", "C1", "invite peter@widget.test"))
        self.successResultOf(self.sender.interaction({"type": "block_actions", "actions": []}))
        kinds = [kind for _, _, kind in self.hub.requests]
        self.assertEqual(kinds, ["events", "commands", "interactivity"])
        for headers, body, _ in self.hub.requests:
            self.verifier.verify_headers(body, headers)
        self.assertIn(b"command=%2Fnextplane", self.hub.requests[1][1])
        self.assertTrue(self.hub.requests[2][1].startswith(b"payload="))

    def test_simulator_emits(self) -> None:
        """Users acting in the simulated workspace reach the hub as events."""
        sim = SlackSimulator(self.clock, self.workspace, events=self.sender)
        alice = self.workspace.add_user("alice")
        channel = self.workspace.add_channel("general", {alice.id, self.workspace.bot_user_id})
        message = sim.user_posts(alice.id, channel.id, "hi *there*")
        sim.user_reacts(alice.id, channel.id, message.ts, "tada")
        sim.user_edits(alice.id, channel.id, message.ts, "hello")
        sim.user_deletes(alice.id, channel.id, message.ts)
        self.stub.flush()
        events = [json.loads(body)["event"] for _, body, _ in self.hub.requests]
        self.assertEqual(
            [(e["type"], e.get("subtype")) for e in events],
            [
                ("message", None),
                ("reaction_added", None),
                ("message", "message_changed"),
                ("message", "message_deleted"),
            ],
        )
        self.assertEqual(events[0]["blocks"][0]["type"], "rich_text")
        self.assertEqual(events[0]["channel_type"], "channel")


class RealPortTests(TestCase):
    """
    The simulator also serves on a loopback port, for benchmarks.
    """

    async def test_loopback(self) -> None:
        """A real treq client posts through a real socket, in capacity mode."""
        from twisted.internet import reactor

        sim = SlackSimulator(reactor, mode=CAPACITY)
        sim.workspace.add_token(TOKEN, {"chat:write"})
        channel = sim.workspace.add_channel("general", {sim.workspace.bot_user_id})
        port = sim.listen(reactor)
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = SlackWebClient(
            TOKEN, HTTPClient(Agent(reactor, pool=pool)), reactor, base_url=sim.base_url + "/api/"
        )
        answer = await client.post_message(channel.id, "over a socket")
        self.assertEqual(answer["ts"], sim.messages(channel.id)[0].ts)
        self.assertTrue(sim.base_url.startswith("http://127.0.0.1:"))

    async def reset(self, kind: str) -> tuple[SlackSimulator, str, SlackApiError]:
        """
        Post once through a real socket with fault C{kind} injected;
        @return: the simulator, the channel and the client's failure.
        """
        from twisted.internet import reactor

        sim = SlackSimulator(reactor, mode=CAPACITY)
        sim.workspace.add_token(TOKEN, {"chat:write"})
        channel = sim.workspace.add_channel("general", {sim.workspace.bot_user_id})
        port = sim.listen(reactor)
        self.addCleanup(port.stopListening)
        sim.inject("chat.postMessage", Fault(kind))
        pool = HTTPConnectionPool(reactor, persistent=False)
        client = SlackWebClient(
            TOKEN, HTTPClient(Agent(reactor, pool=pool)), reactor, base_url=sim.base_url + "/api/"
        )
        with self.assertRaises(SlackApiError) as caught:
            await client.post_message(channel.id, "reset me")
        return sim, channel.id, caught.exception

    async def test_reset_without_acting(self) -> None:
        """
        A C{reset} fault drops the connection before posting: the client
        sees a lost connection, an ambiguous failure it does not repeat.
        """
        sim, channel, error = await self.reset("reset")
        self.assertEqual(error.condition, CONDITION_UNCERTAIN)
        self.assertIn("connection_lost", error.reason)
        self.assertEqual(sim.messages(channel), [])
        self.assertEqual([(c.error, c.status) for c in sim.calls], [("reset", 0)])

    async def test_reset_after_acting(self) -> None:
        """
        A C{reset_after} fault posts, then drops the connection: the post
        is there once and the client was told it may or may not be.
        """
        sim, channel, error = await self.reset("reset_after")
        self.assertEqual(error.condition, CONDITION_UNCERTAIN)
        self.assertEqual([m.text for m in sim.messages(channel)], ["reset me"])
        self.assertEqual([c.error for c in sim.calls], ["reset"])

    async def test_outage_cycles_faults(self) -> None:
        """
        During an outage every call gets the next fault in turn, resets
        included; after it calls succeed again.
        """
        from twisted.internet import reactor

        sim = SlackSimulator(reactor, mode=CAPACITY)
        sim.workspace.add_token(TOKEN, {"users:read"})
        user = sim.workspace.add_user("alice", "alice@acme.test")
        port = sim.listen(reactor)
        self.addCleanup(port.stopListening)
        sim.outage(reactor.seconds() + 60, Fault("reset"), Fault("status", status=503))
        agent = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
        url = f"{sim.base_url}/api/users.info?user={user.id}"
        headers: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {TOKEN}"}
        with self.assertRaises(ResponseNeverReceived):
            await agent.get(url, headers=headers)
        self.assertEqual((await agent.get(url, headers=headers)).code, 503)
        sim.outage(reactor.seconds())
        self.assertEqual((await agent.get(url, headers=headers)).code, 200)
        self.assertEqual([c.status for c in sim.calls], [0, 503, 200])
