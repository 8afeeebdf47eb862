"""
Tests for L{nextplane.testing.webex_sim}: the spec check, ids, tokens and
webhook deliveries.
"""

from __future__ import annotations

import json
import random

from treq.testing import StubTreq
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex import api
from nextplane.connectors.webex.api import ApiRequest, OutgoingMessage, WebexApiError
from nextplane.connectors.webex.events import (
    CardActionCreated,
    MembershipCreated,
    MembershipDeleted,
    MessageCreated,
    MessageDeleted,
    RoomMigrated,
)
from nextplane.connectors.webex.webhooks import keep_webhooks
from nextplane.testing.webex_sim import (
    MESSAGE_BYTES,
    WebexSimulator,
    WebhookSender,
    id_type,
    load_spec,
    mint_id,
)

from .helpers import PUBLIC_URL, SECRET, HubEndpoint, WebexCase


class IdTests(SynchronousTestCase):
    def test_minted_like_webex(self) -> None:
        """Ids are unpadded base64 of ciscospark://us/TYPE/uuid."""
        value = mint_id("MESSAGE", random.Random(3))
        self.assertNotIn("=", value)
        self.assertEqual(id_type(value), "MESSAGE")
        self.assertEqual(
            id_type("Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0"),
            "ROOM",
        )
        self.assertIsNone(id_type("not an id"))


class SpecTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.spec = load_spec()

    def check(self, verb: str, path: str, query=(), body=None) -> list[str]:  # type: ignore[no-untyped-def]
        operation, problems = self.spec.match(verb, path)
        if operation is None:
            return problems
        return self.spec.check(operation, list(query), body, body is not None)

    def test_routes(self) -> None:
        """Unknown paths and verbs are violations; literal routes win."""
        self.assertEqual(self.check("GET", "/nope"), ["unknown path /nope"])
        self.assertEqual(
            self.check("PATCH", "/messages/x"), ["PATCH is not an operation of /messages/x"]
        )
        operation, _ = self.spec.match("GET", "/people/me")
        assert operation is not None
        self.assertEqual(operation.name, "Get My Own Details")

    def test_parameters(self) -> None:
        """Unknown, missing and mistyped query parameters are violations."""
        self.assertEqual(len(self.check("GET", "/messages")), 1)
        self.assertEqual(len(self.check("GET", "/messages", [("roomId", "R"), ("max", "x")])), 1)
        self.assertEqual(len(self.check("GET", "/people/me", [("bogus", "1")])), 1)
        self.assertEqual(self.check("GET", "/messages", [("roomId", "R"), ("max", "5")]), [])

    def test_bodies(self) -> None:
        """Body schemas and the documented message limits are enforced."""
        self.assertEqual(len(self.check("POST", "/webhooks", body={"name": "n"})), 3)
        self.assertEqual(len(self.check("GET", "/people/me", body={})), 1)
        long = "x" * (MESSAGE_BYTES + 1)
        self.assertEqual(
            len(self.check("POST", "/messages", body={"roomId": "R", "markdown": long})), 1
        )
        two = {"roomId": "R", "toPersonId": "P", "text": "x", "files": ["a", "b"]}
        self.assertEqual(len(self.check("POST", "/messages", body=two)), 2)
        card = {"roomId": "R", "text": "x", "attachments": [{"contentType": "text/plain"}]}
        self.assertEqual(len(self.check("POST", "/messages", body=card)), 1)
        self.assertEqual(len(self.check("PUT", "/messages/M", body={"text": "x"})), 1)


class SimulatorTests(WebexCase):
    def setUp(self) -> None:
        super().setUp()
        self.run_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET))

    def kinds(self) -> list[type]:
        return [type(e.item) for e in self.hub.received]

    def test_violation_recorded_and_refused(self) -> None:
        """A request breaking the spec is answered 400 and recorded."""
        error = self.fail_async(
            self.client.call(ApiRequest("POST", "/rooms", body={"name": "x"})), WebexApiError
        )
        self.assertEqual(error.status, 400)
        self.assertEqual(len(self.sim.violations), 1)
        self.sim.violations.clear()

    def test_bearer_token(self) -> None:
        """Without a valid bearer token every call is 401."""
        response = self.successResultOf(self.http.get("http://webex.test/v1/people/me"))
        self.assertEqual(response.code, 401)

    def test_direct_messages_reach_the_bot(self) -> None:
        """In a direct space, the bot hears everything; deliveries verify."""
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        message = self.sim.world.user_posts(self.alice.id, room.id, markdown="**hi**")
        self.sim.world.user_deletes(self.alice.id, message.id)
        self.assertEqual(self.hub.refused, [])
        created = [e.item for e in self.hub.received if isinstance(e.item, MessageCreated)]
        self.assertEqual(created[-1].message_id, message.id)
        self.assertEqual(created[-1].room_type, "direct")
        self.assertIsInstance(self.hub.received[-1].item, MessageDeleted)
        self.assertEqual(self.hub.received[-1].actor_id, self.alice.id)

    def test_group_spaces_need_a_mention(self) -> None:
        """
        In a group space a bot hears only messages that mention it (and its
        own), as Webex documents.
        """
        room = api.parse_room(self.run_async(self.client.call(api.create_room("Bob"))))
        self.run_async(self.client.call(api.create_membership(room.id, person_id=self.alice.id)))
        self.assertIn(MembershipCreated, self.kinds())
        self.hub.received.clear()
        self.sim.world.user_posts(self.alice.id, room.id, text="plain reply")
        self.assertEqual(self.kinds(), [])
        self.sim.world.user_posts(self.alice.id, room.id, text="hey", mentions=[self.bot.id])
        self.run_async(
            self.client.call(api.create_message(OutgoingMessage(room_id=room.id, text="x")))
        )
        self.assertEqual(self.kinds(), [MessageCreated, MessageCreated])
        self.assertEqual(self.hub.received[-1].actor_id, self.bot.id)

    def test_edits_fire_nothing(self) -> None:
        """Webex has no messages:updated webhook."""
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        sent = api.create_message(OutgoingMessage(room_id=room.id, text="a"))
        message = api.parse_message(self.run_async(self.client.call(sent)))
        before = len(self.hub.received)
        self.run_async(
            self.client.call(api.edit_message(message.id, room.id, markdown="b", text="b"))
        )
        self.assertEqual(len(self.hub.received), before)

    def test_card_action_and_migration(self) -> None:
        """Card answers and space migrations are delivered."""
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        sent = api.create_message(
            OutgoingMessage(room_id=room.id, text="card", card={"type": "AdaptiveCard"})
        )
        message = api.parse_message(self.run_async(self.client.call(sent)))
        self.sim.world.user_submits(self.alice.id, message.id, {"verb": "accept"})
        self.assertEqual(
            self.hub.received[-1].item,
            CardActionCreated(self.hub.received[-1].data_id, message.id, room.id, self.alice.id),
        )
        moved = self.sim.world.migrate_room(room.id)
        self.assertEqual(self.hub.received[-1].item, RoomMigrated(moved.id))

    def test_migrated_space_keeps_its_members(self) -> None:
        """
        After a migration the direct space is found under its new id, with
        both members; the old id knows no one.
        """
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        moved = self.sim.world.migrate_room(room.id)
        self.assertEqual(self.sim.world.direct_room(self.bot, self.alice.id, None).id, moved.id)
        self.assertEqual(set(self.sim.state.members(moved.id)), {self.alice.id, self.bot.id})
        self.assertEqual(self.sim.state.members(room.id), [])
        self.assertEqual(len(self.sim.state.rooms), 1)

    def test_signed_with_the_secret(self) -> None:
        """A hub holding another secret refuses every delivery (401)."""
        stranger = HubEndpoint(secret="other")
        self.sim.world.sender = WebhookSender(StubTreq(stranger), self.clock)
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        self.sim.world.user_posts(self.alice.id, room.id, text="x")
        self.assertEqual(stranger.received, [])
        self.assertTrue(stranger.refused)
        self.assertEqual({a.status for a in self.sim.world.sender.attempts}, {401})

    def test_compact_json_envelope(self) -> None:
        """Deliveries are compact JSON in the guide's key order."""
        captured: list[bytes] = []

        class Recorder(HubEndpoint):
            def render_POST(self, request):  # type: ignore[no-untyped-def]
                captured.append(request.content.getvalue())
                return b""

        self.sim.world.sender = WebhookSender(StubTreq(Recorder()), self.clock)
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        self.sim.world.user_posts(self.alice.id, room.id, text="x")
        document = json.loads(captured[-1])
        self.assertNotIn(b", ", captured[-1])
        self.assertEqual(list(document)[:5], ["id", "name", "targetUrl", "resource", "event"])
        self.assertNotIn("text", document["data"])


class ListenTests(SynchronousTestCase):
    def test_listen(self) -> None:
        """The simulator serves on a port; file URLs follow."""
        reactor = MemoryReactorClock()
        sim = WebexSimulator(reactor)
        sim.listen(reactor, 8123)
        self.assertEqual(reactor.tcpServers[0][0], 8123)
        self.assertEqual(sim.world.base_url, "http://127.0.0.1:8123/v1")


class LeaveTests(WebexCase):
    def test_leaving_a_group_space(self) -> None:
        """Leaving a group space fires memberships deleted while the bot is still there."""
        self.run_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET))
        room = api.parse_room(self.run_async(self.client.call(api.create_room("Bob"))))
        self.run_async(self.client.call(api.create_membership(room.id, person_id=self.alice.id)))
        self.sim.world.user_leaves(self.alice.id, room.id)
        item = self.hub.received[-1].item
        assert isinstance(item, MembershipDeleted)
        self.assertEqual((item.room_id, item.person_id), (room.id, self.alice.id))
        self.assertEqual(self.sim.state.members(room.id), [self.bot.id])
