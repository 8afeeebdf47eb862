# -*- test-case-name: tests.teams.test_simulator -*-
"""
Tests for L{nextplane.testing.teams_sim}, end to end against the hub's
Teams pieces: the simulator's signed activities pass
L{nextplane.connectors.teams.auth}, its token endpoint serves
L{nextplane.connectors.teams.token}, and the requests built by
L{nextplane.connectors.teams.api} meet the spec and are answered as
L{nextplane.connectors.teams.api.classify} expects.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from nextplane.connectors.teams import api
from nextplane.connectors.teams.auth import BotFrameworkAuthenticator, OpenIdKeys
from nextplane.connectors.teams.token import BotCredentials, BotTokenProvider
from nextplane.testing.teams_sim.channel import TeamsChannel
from nextplane.testing.teams_sim.limits import SlidingWindows
from nextplane.testing.teams_sim.simulator import CAPACITY, TeamsSimulator
from nextplane.testing.teams_sim.spec import default_spec_path

from .helpers import KEY, OTHER_KEY, RecordingBot, call

APP = "app-0001"
TENANT = "tenant-acme"
ENDPOINT = "https://hub.test/teams/messages"


class Fixture(SynchronousTestCase):
    """
    A simulator, the hub's token provider and authenticator, and a bot endpoint.
    """

    mode = "real"

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.sim = TeamsSimulator(self.clock, mode=self.mode, key=KEY)
        self.app = self.sim.add_app(APP, "secret", TENANT)
        self.http = StubTreq(self.sim.resource())
        self.tokens = BotTokenProvider(
            BotCredentials(APP, "secret", TENANT, authority=self.sim.base_url),
            self.http,
            self.clock,
        )
        keys = OpenIdKeys(self.http, self.clock, self.sim.metadata_url)
        self.bot = RecordingBot(BotFrameworkAuthenticator(APP, keys, self.clock))
        self.channel = TeamsChannel(self.sim, self.app, StubTreq(self.bot.resource()), ENDPOINT)
        self.user = self.sim.add_user(TENANT, "Ada Lovelace")
        self.ref = api.ConversationRef(
            self.sim.service_url, self.channel.conversation(self.user).id, TENANT, self.app.bot_id
        )

    def token(self) -> str:
        return self.successResultOf(Deferred.fromCoroutine(self.tokens.token()))

    def call(self, request: api.ConnectorRequest, token: str | None = "") -> api.ConnectorAnswer:
        if token == "":
            token = self.token()
        status, body, retry = self.successResultOf(
            Deferred.fromCoroutine(call(self.http, request, token))
        )
        return api.classify(status, body, retry, self.clock.seconds())

    def tearDown(self) -> None:
        self.assertEqual(self.sim.api.violations, [])


class ChannelTests(Fixture):
    """
    Activities from the simulated channel pass the hub's JWT validation;
    forged ones do not.
    """

    def test_activities_validate(self) -> None:
        """Installs, messages, edits, deletes, reactions, typing and invokes are accepted."""
        self.successResultOf(self.channel.install(self.user))
        self.successResultOf(self.channel.members_added(self.user))
        sent = self.successResultOf(self.channel.message(self.user, "hello", html="<p>hello</p>"))
        message_id = sent.activity["id"]
        self.successResultOf(self.channel.edit(self.user, message_id, "hello!"))
        self.successResultOf(self.channel.react(self.user, message_id, "like"))
        self.successResultOf(self.channel.react(self.user, message_id, "like", added=False))
        self.successResultOf(self.channel.typing(self.user))
        self.successResultOf(self.channel.card_action(self.user, "accept", {"request": "r1"}))
        self.successResultOf(self.channel.file_consent(self.user, True, {"file": "f1"}))
        self.successResultOf(self.channel.delete(self.user, message_id))
        self.assertEqual(self.bot.refused, [])
        self.assertEqual(
            [a["type"] for a in self.bot.accepted],
            [
                "installationUpdate",
                "conversationUpdate",
                "message",
                "messageUpdate",
                "messageReaction",
                "messageReaction",
                "typing",
                "invoke",
                "invoke",
                "messageDelete",
            ],
        )
        self.assertTrue(all(d.status == 201 for d in self.channel.deliveries))
        stored = self.channel.conversation(self.user).activities[message_id]
        self.assertTrue(stored.deleted)
        self.assertEqual(stored.text, "hello!")

    def test_token_reused_then_renewed(self) -> None:
        """The channel reuses its token, and renews it before it expires."""
        activity = self.channel.base(self.user, "typing")
        seen = []
        for wait in (0, 60, 3600 - 299 - 60):
            self.clock.advance(wait)
            self.successResultOf(self.channel.post(activity))
            seen.append(self.channel._tokens[self.sim.service_url][0])
        self.assertEqual(len(self.bot.accepted), 3)
        self.assertEqual(seen[0], seen[1])
        self.assertNotEqual(seen[1], seen[2])

    def test_forged_refused(self) -> None:
        """Unsigned, foreign-signed, wrong-audience and wrong-serviceUrl posts get 401."""
        activity = self.channel.base(self.user, "message", text="x")
        now = self.clock.seconds()
        tokens = [
            "",
            OTHER_KEY.channel_token(APP, self.sim.service_url, now),
            KEY.channel_token("other-app", self.sim.service_url, now),
            KEY.channel_token(APP, "https://evil.test/", now),
            KEY.channel_token(APP, self.sim.service_url, now - 7200),
        ]
        for token in tokens:
            self.assertEqual(self.successResultOf(self.channel.post(activity, token)).status, 401)
        self.assertEqual(self.bot.accepted, [])
        self.assertEqual(
            self.bot.refused,
            ["MissingToken", "UnknownKey", "WrongAudience", "WrongServiceUrl", "ExpiredToken"],
        )


class ConnectorTests(Fixture):
    """
    The hub's Connector requests against the simulated API.
    """

    def install(self) -> None:
        self.successResultOf(self.channel.install(self.user))

    def test_create_send_reply_update_delete(self) -> None:
        """The whole outbound cycle works and changes the tenant's state."""
        self.install()
        created = self.call(
            api.create_conversation(self.sim.service_url, self.app.bot_id, self.user.id, TENANT)
        )
        self.assertEqual(
            (created.outcome, created.id), (api.Outcome.DONE, self.ref.conversation_id)
        )
        sent = self.call(api.send_to_conversation(self.ref, api.message_activity("hi")))
        assert sent.id is not None
        self.call(api.send_typing(self.ref))
        reply = self.call(api.reply_to_activity(self.ref, sent.id, api.message_activity("re")))
        edited = self.call(api.update_activity(self.ref, sent.id, api.message_activity("hi!")))
        self.assertEqual(edited.outcome, api.Outcome.DONE)
        self.assertEqual(
            self.call(api.delete_activity(self.ref, sent.id)).outcome, api.Outcome.DONE
        )
        conversation = self.sim.tenants[TENANT].conversations[self.ref.conversation_id]
        bot_says = conversation.from_bot(self.app.bot_id)
        self.assertEqual([a.id for a in bot_says], [sent.id, reply.id])
        self.assertEqual(bot_says[0].text, "hi!")
        self.assertTrue(bot_says[0].deleted)
        self.assertEqual(bot_says[1].reply_to_id, sent.id)

    def test_no_token(self) -> None:
        """Requests without a valid bot token get 401."""
        request = api.send_to_conversation(self.ref, api.message_activity("x"))
        self.assertEqual(self.call(request, None).outcome, api.Outcome.UNAUTHORIZED)
        self.assertEqual(self.call(request, "made-up").outcome, api.Outcome.UNAUTHORIZED)

    def test_token_expires(self) -> None:
        """An issued token stops working when it expires."""
        self.install()
        token = self.token()
        self.clock.advance(3600)
        request = api.send_to_conversation(self.ref, api.message_activity("x"))
        self.assertEqual(self.call(request, token).outcome, api.Outcome.UNAUTHORIZED)

    def test_not_installed(self) -> None:
        """Creating a conversation with a user without the app says so."""
        answer = self.call(
            api.create_conversation(self.sim.service_url, self.app.bot_id, self.user.id, TENANT)
        )
        self.assertEqual(answer.outcome, api.Outcome.NOT_INSTALLED)

    def test_blocked(self) -> None:
        """Sending to a user who removed the app is 403 MessageWritesBlocked."""
        self.install()
        self.successResultOf(self.channel.uninstall(self.user))
        answer = self.call(api.send_to_conversation(self.ref, api.message_activity("x")))
        self.assertEqual((answer.status, answer.outcome), (403, api.Outcome.BLOCKED))

    def test_too_large(self) -> None:
        """Above 100 KB in UTF-16 the answer is 413."""
        self.install()
        big = api.message_activity("é" * 60_000)
        self.assertGreater(api.payload_size(big), api.MAX_PAYLOAD)
        self.assertEqual(
            self.call(api.send_to_conversation(self.ref, big)).outcome, api.Outcome.TOO_LARGE
        )

    def test_unknown_conversation(self) -> None:
        """An unknown conversation is 404."""
        ref = api.ConversationRef(self.sim.service_url, "a:nope", TENANT, self.app.bot_id)
        self.assertEqual(self.call(api.send_typing(ref)).outcome, api.Outcome.NOT_FOUND)

    def test_edit_others_refused(self) -> None:
        """The bot cannot edit a user's message."""
        self.install()
        sent = self.successResultOf(self.channel.message(self.user, "mine"))
        answer = self.call(
            api.update_activity(self.ref, sent.activity["id"], api.message_activity("x"))
        )
        self.assertEqual(answer.outcome, api.Outcome.NOT_FOUND)

    def test_injected_faults(self) -> None:
        """Injected 412/502/504 are answered once, without acting."""
        self.install()
        for status in (412, 502, 504):
            self.sim.api.inject("Conversations_SendToConversation", status, retry_after=2)
            answer = self.call(api.send_to_conversation(self.ref, api.message_activity("x")))
            self.assertEqual((answer.outcome, answer.retry_after), (api.Outcome.RETRY, 2.0))
        self.assertEqual(self.call(api.send_typing(self.ref)).outcome, api.Outcome.DONE)

    def test_rate_limits(self) -> None:
        """Real limits: the 8th send within a second is 429 with Retry-After."""
        self.install()
        answers = [
            self.call(api.send_to_conversation(self.ref, api.message_activity(str(n))))
            for n in range(8)
        ]
        self.assertEqual([a.outcome for a in answers[:7]], [api.Outcome.DONE] * 7)
        self.assertEqual(answers[7].status, 429)
        self.assertEqual(answers[7].retry_after, 1.0)
        self.assertEqual(len(self.sim.api.rate_limited), 1)
        self.clock.advance(1)
        # 8 per 2 s: the 8th is admitted after 1 s, the 9th must wait for the window.
        self.assertEqual(self.call(api.send_typing(self.ref)).outcome, api.Outcome.DONE)
        self.assertEqual(self.call(api.send_typing(self.ref)).status, 429)

    def test_tenant_limit(self) -> None:
        """Real limits: 30 requests per second per app per tenant, across conversations."""
        refs = []
        for n in range(6):
            user = self.sim.add_user(TENANT, f"user {n}", installed=True)
            conversation = self.channel.conversation(user)
            refs.append(
                api.ConversationRef(self.sim.service_url, conversation.id, TENANT, self.app.bot_id)
            )
        statuses = [self.call(api.send_typing(refs[n % 6])).status for n in range(31)]
        self.assertEqual(statuses[:30], [201] * 30)
        self.assertEqual(statuses[30], 429)
        self.assertEqual(self.sim.api.rate_limited[-1].retry_after, 1)

    def test_spec_violation_recorded(self) -> None:
        """A request that breaks the spec is recorded."""
        self.install()
        bad = api.ConnectorRequest(
            "POST",
            f"{self.sim.base_url}/v3/conversations/{self.ref.conversation_id}/activities",
            {"type": "message", "text": 5},
            "x",
            "x",
        )
        self.call(bad)
        self.call(
            api.ConnectorRequest("PATCH", f"{self.sim.base_url}/v3/conversations", {}, "x", "x")
        )
        self.call(
            api.ConnectorRequest(
                "POST",
                f"{self.sim.base_url}/v3/conversations/a:1/activities",
                {"type": "message"},
                "x",
                "x",
            )
        )
        messages = [m for v in self.sim.api.violations for m in v.messages]
        self.assertEqual(len(self.sim.api.violations), 3)
        self.assertIn("Conversations_SendToConversation: text: 5 is not of type 'string'", messages)
        self.assertIn(
            "Conversations_SendToConversation: message without text or attachments", messages
        )
        self.sim.api.violations.clear()

    def test_members(self) -> None:
        """The members of a conversation are the user, with e-mail and UPN."""
        self.install()
        user = self.sim.add_user(TENANT, "Grace Hopper", installed=True, email="grace@acme.test")
        ref = api.ConversationRef(
            self.sim.service_url, self.channel.conversation(user).id, TENANT, self.app.bot_id
        )
        status, body, _ = self.successResultOf(
            Deferred.fromCoroutine(call(self.http, api.conversation_members(ref), self.token()))
        )
        self.assertEqual(status, 200)
        [member] = api.parse_members(body)
        self.assertEqual((member.id, member.name), (user.id, "Grace Hopper"))
        self.assertEqual((member.email, member.user_principal_name), ("grace@acme.test",) * 2)
        self.assertEqual((member.aad_object_id, member.tenant_id), (user.aad_object_id, TENANT))


class UploadTests(Fixture):
    """
    The upload session of an accepted file consent.
    """

    def test_upload(self) -> None:
        """Bytes PUT with a full Content-Range are stored and served."""
        delivery = self.successResultOf(self.channel.file_consent(self.user, True, {"file": "f"}))
        info = delivery.activity["value"]["uploadInfo"]
        d = self.http.put(
            info["uploadUrl"], data=b"hello", headers={"Content-Range": ["bytes 0-4/5"]}
        )
        self.assertEqual(self.successResultOf(d).code, 201)
        self.assertEqual(self.sim.uploads[info["uniqueId"]], b"hello")
        got = self.successResultOf(self.http.get(info["contentUrl"]))
        self.assertEqual(self.successResultOf(got.content()), b"hello")

    def test_bad_range(self) -> None:
        """A wrong Content-Range is refused."""
        d = self.http.put(
            f"{self.sim.base_url}/upload/x",
            data=b"hello",
            headers={"Content-Range": ["bytes 0-1/5"]},
        )
        self.assertEqual(self.successResultOf(d).code, 400)
        self.assertEqual(
            self.successResultOf(self.http.get(f"{self.sim.base_url}/drive/x/a")).code, 404
        )


class CapacityTests(Fixture):
    """
    In capacity mode there are no limits.
    """

    mode = CAPACITY

    def test_no_limits(self) -> None:
        """Many sends in one instant all pass."""
        self.successResultOf(self.channel.install(self.user))
        for n in range(50):
            answer = self.call(api.send_to_conversation(self.ref, api.message_activity(str(n))))
            self.assertEqual(answer.outcome, api.Outcome.DONE)


class WindowTests(SynchronousTestCase):
    """
    L{SlidingWindows} enforces every window.
    """

    def test_windows(self) -> None:
        """7/1 s, 8/2 s, 60/30 s: the tightest full window sets the wait."""
        windows = SlidingWindows(((7, 1.0), (8, 2.0), (60, 30.0)))
        now = 0.0
        admitted: list[float] = []
        while len(admitted) < 60:
            wait = windows.admit(now)
            if wait is None:
                admitted.append(now)
            else:
                now += wait
        self.assertLessEqual(sum(1 for t in admitted if t < 2.0), 8)
        # 8 per 2 s fills 60 in about 14 s; the 61st waits for the 30 s window.
        self.assertAlmostEqual(admitted[-1], 14.0)
        self.assertAlmostEqual(windows.admit(now) or 0.0, 30.0 - now)

    def test_spec_path(self) -> None:
        """The spec is found beside the repository or a parent folder."""
        self.assertTrue(default_spec_path().exists())

    def test_bad_mode(self) -> None:
        """An unknown mode is refused."""
        self.assertRaises(ValueError, TeamsSimulator, Clock(), mode="fast", key=KEY)


class ListenTests(SynchronousTestCase):
    """
    L{TeamsSimulator.listen} serves on a port and points its URLs there.
    """

    def test_listen(self) -> None:
        """The base URL follows the port listened on."""
        from twisted.internet.testing import MemoryReactor

        reactor = MemoryReactor()
        sim = TeamsSimulator(Clock(), key=KEY)
        sim.listen(reactor, 8123)
        self.assertEqual(sim.base_url, "http://127.0.0.1:8123")
        self.assertEqual(sim.service_url, "http://127.0.0.1:8123/")
        self.assertEqual(reactor.tcpServers[0][0], 8123)


class LoopbackTests(TestCase):
    """
    The simulator on a real loopback port, as benchmarks use it.
    """

    async def _exercise(self, sim: TeamsSimulator, http: Any) -> None:
        tokens = BotTokenProvider(
            BotCredentials(APP, "secret", TENANT, authority=sim.base_url), http, sim.clock
        )
        token = await tokens.token()
        user = sim.add_user(TENANT, "Ada", installed=True)
        created = await call(
            http, api.create_conversation(sim.service_url, f"28:{APP}", user.id, TENANT), token
        )
        self.assertEqual(created[0], 201)
        ref = api.ConversationRef(
            sim.service_url, json.loads(created[1])["id"], TENANT, f"28:{APP}"
        )
        sent = await call(http, api.send_to_conversation(ref, api.message_activity("hi")), token)
        self.assertEqual(api.classify(sent[0], sent[1]).outcome, api.Outcome.DONE)

    def test_real_port(self) -> None:
        """Token, conversation and send work over real HTTP."""
        from treq.client import HTTPClient
        from twisted.internet import reactor as global_reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        sim = TeamsSimulator(global_reactor, key=KEY)  # type: ignore[arg-type]
        sim.add_app(APP, "secret", TENANT)
        port = sim.listen(global_reactor)  # type: ignore[arg-type]
        self.addCleanup(port.stopListening)
        pool = HTTPConnectionPool(global_reactor, persistent=False)
        self.addCleanup(pool.closeCachedConnections)
        http = HTTPClient(Agent(global_reactor, pool=pool))
        d = Deferred.fromCoroutine(self._exercise(sim, http))
        d.addCallback(lambda _: self.assertEqual(sim.api.violations, []))
        return d
