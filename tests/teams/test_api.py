# -*- test-case-name: tests.teams.test_api -*-
"""
Tests for L{nextplane.connectors.teams.api}: request shapes and answer
classification.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.api import (
    MAX_PAYLOAD,
    ConversationRef,
    Outcome,
    classify,
    create_conversation,
    delete_activity,
    message_activity,
    parse_members,
    parse_retry_after,
    payload_size,
    reply_to_activity,
    send_to_conversation,
    send_typing,
    update_activity,
)
from nextplane.connectors.teams.api import conversation_members as api_members
from nextplane.testing.teams_sim.spec import load_spec

REF = ConversationRef("https://smba.test/emea/", "a:1Xy_z", "tenant-1", "28:app")


class ShapeTests(SynchronousTestCase):
    """
    The builders produce the documented Connector requests, valid per the spec.
    """

    def assertValid(self, request: object) -> None:
        spec = load_spec()
        path = request.url.split("smba.test/emea", 1)[1]  # type: ignore[attr-defined]
        operation, _params, problems = spec.match(request.method, path)  # type: ignore[attr-defined]
        self.assertEqual(problems, [])
        assert operation is not None
        self.assertEqual(operation.operation_id, request.operation)  # type: ignore[attr-defined]
        body = json.loads(request.encoded() or b"null")  # type: ignore[attr-defined]
        self.assertEqual(spec.validate_body(operation, body), [])

    def test_create(self) -> None:
        """A 1:1 conversation names the bot, one member by id and the tenant."""
        request = create_conversation(REF.service_url, "28:app", "29:user", "tenant-1")
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.url, "https://smba.test/emea/v3/conversations")
        self.assertEqual(request.body["members"], [{"id": "29:user"}])  # type: ignore[index]
        self.assertEqual(request.body["channelData"], {"tenant": {"id": "tenant-1"}})  # type: ignore[index]
        self.assertFalse(request.body["isGroup"])  # type: ignore[index]
        self.assertValid(request)

    def test_create_with_activity(self) -> None:
        """A first activity may go with the creation."""
        request = create_conversation(
            REF.service_url, "28:app", "29:user", "tenant-1", message_activity("hi")
        )
        self.assertEqual(request.body["activity"]["text"], "hi")  # type: ignore[index]
        self.assertValid(request)

    def test_send(self) -> None:
        """Sends post to the conversation's activities, ids percent-encoded."""
        request = send_to_conversation(REF, message_activity("**hi**"))
        self.assertEqual(
            request.url, "https://smba.test/emea/v3/conversations/a%3A1Xy_z/activities"
        )
        self.assertEqual(request.body["textFormat"], "markdown")  # type: ignore[index]
        self.assertEqual(request.body["from"], {"id": "28:app"})  # type: ignore[index]
        self.assertEqual(request.lane, "a:1Xy_z")
        self.assertValid(request)

    def test_reply(self) -> None:
        """A reply posts to the activity and sets replyToId."""
        request = reply_to_activity(REF, "1700", message_activity("re"))
        self.assertTrue(request.url.endswith("/activities/1700"))
        self.assertEqual(request.body["replyToId"], "1700")  # type: ignore[index]
        self.assertValid(request)

    def test_update(self) -> None:
        """An edit PUTs the full activity with its id."""
        request = update_activity(REF, "1700", message_activity("fixed"))
        self.assertEqual(request.method, "PUT")
        self.assertEqual(request.body["id"], "1700")  # type: ignore[index]
        self.assertValid(request)

    def test_delete(self) -> None:
        """A retraction DELETEs the activity, with no body."""
        request = delete_activity(REF, "1700")
        self.assertEqual((request.method, request.body, request.encoded()), ("DELETE", None, None))
        self.assertValid(request)

    def test_typing(self) -> None:
        """Typing is a typing activity sent to the conversation."""
        request = send_typing(REF)
        self.assertEqual(request.body["type"], "typing")  # type: ignore[index]
        self.assertValid(request)

    def test_repr_hides_content(self) -> None:
        """A request's repr never shows the message."""
        self.assertNotIn(
            "secret words", repr(send_to_conversation(REF, message_activity("secret words")))
        )

    def test_thread_ids_encoded(self) -> None:
        """Channel ids with @ and ; stay one path segment."""
        ref = ConversationRef("https://s/", "19:abc@thread.tacv2;messageid=1", "t", "28:a")
        self.assertIn("19%3Aabc%40thread.tacv2%3Bmessageid%3D1", send_typing(ref).url)

    def test_payload_size(self) -> None:
        """Size counts UTF-16 bytes of the JSON."""
        small = message_activity("x" * 100)
        self.assertEqual(payload_size(small), 2 * len(json.dumps(small, separators=(",", ":"))))
        self.assertGreater(payload_size(message_activity("x" * (MAX_PAYLOAD // 2))), MAX_PAYLOAD)


class MembersTests(SynchronousTestCase):
    """
    Member lists are requested and read.
    """

    def test_request(self) -> None:
        """Members are a GET of the conversation's members."""
        request = api_members(REF)
        self.assertEqual((request.method, request.body), ("GET", None))
        self.assertTrue(request.url.endswith("/v3/conversations/a%3A1Xy_z/members"))

    def test_parse(self) -> None:
        """Members are read; junk entries and fields are skipped."""
        body = json.dumps(
            [
                {
                    "id": "29:1",
                    "name": "A",
                    "email": "a@x.test",
                    "userPrincipalName": "a@x.test",
                    "x": 1,
                },
                {"name": "no id"},
                "junk",
                {"id": "29:2", "email": ""},
            ]
        ).encode()
        members = parse_members(body)
        self.assertEqual([m.id for m in members], ["29:1", "29:2"])
        self.assertEqual(members[0].email, "a@x.test")
        self.assertIsNone(members[1].email)
        self.assertEqual(parse_members(b"{"), [])
        self.assertEqual(parse_members(b"{}"), [])


class ClassifyTests(SynchronousTestCase):
    """
    L{classify} turns answers into outcomes.
    """

    def test_done(self) -> None:
        """2xx with a ResourceResponse is done, with the new id."""
        answer = classify(201, b'{"id":"1700"}')
        self.assertEqual((answer.outcome, answer.id), (Outcome.DONE, "1700"))
        self.assertIsNone(answer.reason)
        self.assertEqual(classify(200, b"").outcome, Outcome.DONE)

    def test_created_conversation(self) -> None:
        """A created conversation's id and first activity id are read."""
        answer = classify(201, b'{"id":"a:1","activityId":"17"}')
        self.assertEqual((answer.id, answer.activity_id), ("a:1", "17"))

    def test_blocked(self) -> None:
        """403 MessageWritesBlocked, in either error shape, means blocked."""
        for body in (
            b'{"error":{"code":"MessageWritesBlocked","message":"x"}}',
            b'{"errorCode":209,"message":"MessageWritesBlocked"}',
        ):
            answer = classify(403, body)
            self.assertEqual(answer.outcome, Outcome.BLOCKED)
            self.assertIn("blocked", answer.reason or "")

    def test_not_installed(self) -> None:
        """403 for a user without the app tells how to get it installed."""
        answer = classify(403, b'{"error":{"code":"BotNotInConversationRoster"}}')
        self.assertEqual(answer.outcome, Outcome.NOT_INSTALLED)
        self.assertIn("install", answer.reason or "")

    def test_too_large(self) -> None:
        """413 means too large."""
        self.assertEqual(classify(413, b"").outcome, Outcome.TOO_LARGE)

    def test_retryable(self) -> None:
        """429, 412, 502, 504 (and other 5xx) are retried, with Retry-After when given."""
        for status in (429, 412, 502, 504, 500, 503):
            self.assertEqual(classify(status, b"{}").outcome, Outcome.RETRY, status)
        self.assertEqual(classify(429, b"{}", "3").retry_after, 3.0)
        self.assertIsNone(classify(429, b"{}").retry_after)

    def test_others(self) -> None:
        """401 asks for a new token, 404 is gone, other 4xx fail."""
        self.assertEqual(classify(401, b"").outcome, Outcome.UNAUTHORIZED)
        self.assertEqual(classify(404, b"not json").outcome, Outcome.NOT_FOUND)
        answer = classify(400, b'{"error":{"code":"BadArgument","message":"m"}}')
        self.assertEqual(
            (answer.outcome, answer.code, answer.message), (Outcome.FAILED, "BadArgument", "m")
        )

    def test_retry_after_date(self) -> None:
        """An HTTP-date Retry-After counts from now; junk is ignored."""
        self.assertEqual(parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", 30.0), 30.0)
        self.assertIsNone(parse_retry_after("soon", 0.0))
        self.assertEqual(parse_retry_after("-5", 0.0), 0.0)
