"""
Tests for L{nextplane.connectors.webex.api}: request shapes, answers and
error classification, unit by unit and against the Webex simulator.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex import api
from nextplane.connectors.webex.api import (
    DEFAULT_RETRY_AFTER,
    OutgoingMessage,
    WebexApiError,
    api_error,
)
from nextplane.testing.webex_sim import REAL_LIMITS, Fault

from .helpers import WebexCase

CARD = {"type": "AdaptiveCard", "version": "1.3", "body": []}


class ShapeTests(SynchronousTestCase):
    def test_ids_encoded(self) -> None:
        """Ids are percent-encoded into paths; empty ids are refused."""
        self.assertEqual(api.get_message("a/b+c").path, "/messages/a%2Fb%2Bc")
        self.assertRaises(ValueError, api.get_message, "")

    def test_url(self) -> None:
        """The base URL and query are joined."""
        request = api.list_webhooks(50)
        self.assertEqual(request.url("http://x.test/v1/"), "http://x.test/v1/webhooks?max=50")
        self.assertEqual(api.get_me().url(), "https://webexapis.com/v1/people/me")

    def test_message_body(self) -> None:
        """A message carries markdown, the text fallback, a reply parent, a file and a card."""
        request = api.create_message(
            OutgoingMessage(
                room_id="R",
                markdown="**hi**",
                text="hi",
                parent_id="P",
                file_url="https://hub.test/f/1",
                card=CARD,
            )
        )
        self.assertEqual(
            (request.verb, request.path, request.idempotent), ("POST", "/messages", False)
        )
        self.assertEqual(
            json.loads(request.json_body() or b""),
            {
                "roomId": "R",
                "parentId": "P",
                "text": "hi",
                "markdown": "**hi**",
                "files": ["https://hub.test/f/1"],
                "attachments": [
                    {"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD}
                ],
            },
        )

    def test_message_needs_one_destination_and_content(self) -> None:
        """Zero or two destinations, or nothing to show, are refused."""
        self.assertRaises(ValueError, api.create_message, OutgoingMessage(text="x"))
        self.assertRaises(
            ValueError, api.create_message, OutgoingMessage(room_id="R", to_person_id="P", text="x")
        )
        self.assertRaises(ValueError, api.create_message, OutgoingMessage(room_id="R"))

    def test_membership(self) -> None:
        """A membership names a person by id or e-mail, not both."""
        self.assertEqual(
            api.create_membership("R", person_email="a@b.test").body,
            {"roomId": "R", "personEmail": "a@b.test"},
        )
        self.assertRaises(ValueError, api.create_membership, "R")
        self.assertRaises(ValueError, api.create_membership, "R", person_id="P", person_email="e")

    def test_no_content_in_repr(self) -> None:
        """Message text never shows in a repr."""
        message = OutgoingMessage(room_id="R", markdown="SECRET-TEXT")
        self.assertNotIn("SECRET-TEXT", repr(message))
        self.assertNotIn("SECRET-TEXT", repr(api.create_message(message)))
        parsed = api.parse_message({"id": "M", "text": "SECRET-TEXT", "markdown": "SECRET-TEXT"})
        self.assertNotIn("SECRET-TEXT", repr(parsed))


class ErrorTests(SynchronousTestCase):
    def test_success(self) -> None:
        """2xx is no error."""
        self.assertIsNone(api_error(200, b"{}", None))
        self.assertIsNone(api_error(204, b"", None))

    def test_rate_limited(self) -> None:
        """429 and 423 are not processed and wait Retry-After, else 15 s, at least 1 s."""
        for status in (429, 423):
            error = api_error(status, b"", b"7")
            assert error is not None
            self.assertEqual((error.processed, error.retry_after), (False, 7.0))
        for header in (None, "soon", "nan", "inf", b""):
            error = api_error(429, b"", header)
            assert error is not None
            self.assertEqual(error.retry_after, DEFAULT_RETRY_AFTER)
        error = api_error(429, b"", "0")
        assert error is not None
        self.assertEqual(error.retry_after, 1.0)

    def test_classes(self) -> None:
        """503 was not processed, other 5xx are ambiguous, 4xx are final."""
        body = json.dumps({"message": "Nope", "trackingId": "T1"}).encode()
        cases = {503: False, 500: None, 502: None, 400: True, 404: True, 409: True}
        for status, processed in cases.items():
            error = api_error(status, body, None)
            assert error is not None
            self.assertEqual((error.status, error.processed), (status, processed))
            self.assertEqual((error.message, error.tracking_id), ("Nope", "T1"))
        error = api_error(500, b"<html>", None)
        assert error is not None
        self.assertEqual((error.message, error.tracking_id), ("HTTP 500", None))

    def test_parse_needs_id(self) -> None:
        """An answer without an id is refused; a list skips bad items."""
        self.assertRaises(ValueError, api.parse_room, b"{}")
        self.assertRaises(ValueError, api.parse_person, b"[]")
        hooks = api.parse_webhooks(b'{"items":[{"id":"W"},{"name":"x"},3]}')
        self.assertEqual([h.id for h in hooks], ["W"])


class SimulatedTests(WebexCase):
    def call(self, request: api.ApiRequest) -> bytes:
        return self.run_async(self.client.call(request))

    def space(self) -> api.Room:
        """One space per contact: the bot creates it and adds the user."""
        room = api.parse_room(self.call(api.create_room("Bob (xmpp)")))
        membership = api.parse_membership(
            self.call(api.create_membership(room.id, person_email="alice@example.com"))
        )
        self.assertEqual((membership.room_id, membership.person_id), (room.id, self.alice.id))
        return room

    def test_me(self) -> None:
        """people/me names the bot."""
        me = api.parse_person(self.call(api.get_me()))
        self.assertEqual(
            (me.id, me.emails, me.type), (self.bot.id, ("nextplane@webex.bot",), "bot")
        )

    def test_space_per_contact(self) -> None:
        """The space is a group space titled with the contact's name."""
        room = self.space()
        self.assertEqual((room.title, room.type), ("Bob (xmpp)", "group"))
        again = self.fail_async(
            self.client.call(api.create_membership(room.id, person_id=self.alice.id)),
            WebexApiError,
        )
        self.assertEqual((again.status, again.processed), (409, True))

    def test_send_reply_edit_delete(self) -> None:
        """A message, a threaded reply, an edit and a delete round-trip."""
        room = self.space()
        first = api.parse_message(
            self.call(
                api.create_message(OutgoingMessage(room_id=room.id, markdown="**a**", text="a"))
            )
        )
        reply = api.parse_message(
            self.call(
                api.create_message(OutgoingMessage(room_id=room.id, text="b", parent_id=first.id))
            )
        )
        self.assertEqual(reply.parent_id, first.id)
        self.call(api.edit_message(first.id, room.id, markdown="**c**", text="c"))
        fetched = api.parse_message(self.call(api.get_message(first.id)))
        self.assertEqual(
            (fetched.markdown, fetched.text, fetched.person_id), ("**c**", "c", self.bot.id)
        )
        self.call(api.delete_message(first.id))
        gone = self.fail_async(self.client.call(api.get_message(first.id)), WebexApiError)
        self.assertEqual(gone.status, 404)

    def test_card_and_answer(self) -> None:
        """A card goes out; the pressed button's inputs come back."""
        room = self.space()
        card = api.create_message(OutgoingMessage(room_id=room.id, text="request", card=CARD))
        message = api.parse_message(self.call(card))
        self.assertEqual(message.cards, (CARD,))
        action = self.sim.world.user_submits(self.alice.id, message.id, {"verb": "accept"})
        answer = api.parse_attachment_action(self.call(api.get_attachment_action(action.id)))
        self.assertEqual(
            (answer.message_id, answer.person_id, answer.inputs, answer.type),
            (message.id, self.alice.id, {"verb": "accept"}, "submit"),
        )

    def test_direct_message(self) -> None:
        """toPersonEmail opens (and reuses) the direct space."""
        for _ in range(2):
            self.call(
                api.create_message(OutgoingMessage(to_person_email="alice@example.com", text="x"))
            )
        rooms = {m.room_id for m in self.sim.state.messages.values()}
        self.assertEqual(len(rooms), 1)
        self.assertEqual(self.sim.state.rooms[rooms.pop()].type, "direct")

    def test_injected_rate_limit(self) -> None:
        """An injected 429 without Retry-After waits the default."""
        self.sim.inject("Get My Own Details", Fault(429))
        error = self.fail_async(self.client.call(api.get_me()), WebexApiError)
        self.assertEqual((error.status, error.retry_after), (429, DEFAULT_RETRY_AFTER))


class RealLimitTests(WebexCase):
    mode = REAL_LIMITS

    def test_429_with_retry_after(self) -> None:
        """Past the per-minute budget, Webex answers 429 with Retry-After; later it recovers."""
        self.sim.per_minute = 3
        for _ in range(3):
            self.run_async(self.client.call(api.get_me()))
        self.clock.advance(20)
        error = self.fail_async(self.client.call(api.get_me()), WebexApiError)
        self.assertEqual((error.status, error.processed, error.retry_after), (429, False, 40.0))
        self.clock.advance(40)
        self.run_async(self.client.call(api.get_me()))


class FileTests(WebexCase):
    def test_file_url_needs_the_token(self) -> None:
        """A message's file downloads with the bot token, for members only."""
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        url = self.sim.world.upload("notes.txt", b"hello file", "text/plain")
        message = self.sim.world.user_posts(self.alice.id, room.id, text="see", files=[url])
        fetched = api.parse_message(self.run_async(self.client.call(api.get_message(message.id))))
        request = api.get_file(fetched.files[0], "http://webex.test/v1")
        assert request is not None
        self.assertEqual(self.run_async(self.client.call(request)), b"hello file")
        anonymous = self.successResultOf(self.http.get(fetched.files[0]))
        self.assertEqual(anonymous.code, 401)

    def test_token_stays_home(self) -> None:
        """URLs outside the base URL, or odd ones, get no request (no token leak)."""
        base = "https://webexapis.com/v1"
        for url in [
            "https://evil.test/v1/contents/X",
            "https://webexapis.com/v1/contentsX",
            "https://webexapis.com/v1/contents/",
            "https://webexapis.com/v1/contents/a/../../people/me",
            "https://webexapis.com/v1/contents/a%2F",
        ]:
            self.assertIsNone(api.get_file(url, base), url)
        request = api.get_file("https://webexapis.com/v1/contents/Y2lz", base)
        assert request is not None
        self.assertEqual(request.url(base), "https://webexapis.com/v1/contents/Y2lz")
