"""
Tests for L{nextplane.connectors.webex.events}.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex.events import (
    MAX_ENVELOPE_BYTES,
    CardActionCreated,
    EnvelopeError,
    Ignored,
    MembershipCreated,
    MembershipDeleted,
    MessageCreated,
    MessageDeleted,
    RoomMigrated,
    parse_envelope,
)


def envelope(resource: str, event: str, **data: Any) -> bytes:
    """
    The guide's example envelope, with C{data} replaced.
    """
    document = {
        "id": "HOOK",
        "name": "My Attachment Action Webhook",
        "targetUrl": "https://example.com/mywebhook",
        "resource": resource,
        "event": event,
        "orgId": "ORG",
        "createdBy": "BOT",
        "appId": "APP",
        "ownedBy": "creator",
        "status": "active",
        "created": "2016-11-09T22:09:05.245Z",
        "actorId": "ACTOR",
        "data": {"id": "DATA", "created": "2016-11-09T22:09:05.245Z", **data},
        "somethingNew": {"nested": True},
    }
    return json.dumps(document).encode("utf-8")


class ParseTests(SynchronousTestCase):
    def test_message_created(self) -> None:
        """A new message parses to its ids, with the envelope's ids."""
        parsed = parse_envelope(
            envelope(
                "messages",
                "created",
                roomId="ROOM",
                roomType="group",
                personId="P",
                personEmail="p@example.com",
            )
        )
        self.assertEqual(parsed.webhook_id, "HOOK")
        self.assertEqual(parsed.actor_id, "ACTOR")
        self.assertEqual(parsed.org_id, "ORG")
        self.assertEqual(parsed.item, MessageCreated("DATA", "ROOM", "P", "p@example.com", "group"))
        self.assertEqual(parsed.dedupe_key, "messages:created:DATA")

    def test_message_deleted(self) -> None:
        """A deleted message has its own dedupe key."""
        parsed = parse_envelope(envelope("messages", "deleted", roomId="ROOM", personId="P"))
        self.assertEqual(parsed.item, MessageDeleted("DATA", "ROOM", "P"))
        self.assertEqual(parsed.dedupe_key, "messages:deleted:DATA")

    def test_card_action(self) -> None:
        """A card answer names the card's message."""
        parsed = parse_envelope(
            envelope(
                "attachmentActions",
                "created",
                type="submit",
                messageId="M",
                personId="P",
                roomId="R",
            )
        )
        self.assertEqual(parsed.item, CardActionCreated("DATA", "M", "R", "P"))

    def test_memberships(self) -> None:
        """Membership changes parse to their own types."""
        fields = {"roomId": "R", "personId": "P", "personEmail": "p@x.test", "roomType": "direct"}
        created = parse_envelope(envelope("memberships", "created", **fields)).item
        deleted = parse_envelope(envelope("memberships", "deleted", **fields)).item
        self.assertEqual(created, MembershipCreated("DATA", "R", "P", "p@x.test", "direct"))
        self.assertEqual(deleted, MembershipDeleted("DATA", "R", "P", "p@x.test", "direct"))

    def test_room_migrated(self) -> None:
        """A migrated room carries its new id."""
        self.assertEqual(
            parse_envelope(envelope("rooms", "migrated", title="t")).item, RoomMigrated("DATA")
        )

    def test_unknown_resource(self) -> None:
        """Other resources and events are ignored, not refused."""
        self.assertEqual(
            parse_envelope(envelope("meetings", "started")).item, Ignored("meetings", "started")
        )
        self.assertEqual(
            parse_envelope(envelope("messages", "updated", roomId="R")).item,
            Ignored("messages", "updated"),
        )

    def test_refused(self) -> None:
        """Non-JSON, non-objects, missing fields and oversized bodies are refused."""
        bad = [
            b"not json",
            b"\xff\xfe",
            b"[1]",
            b'{"id":"H","resource":"messages","event":"created"}',
            envelope("messages", "created"),
            json.dumps({"resource": "messages", "event": "created", "data": {"id": "D"}}).encode(),
            b" " * (MAX_ENVELOPE_BYTES + 1),
        ]
        for body in bad:
            error = self.assertRaises(EnvelopeError, parse_envelope, body)
            self.assertEqual(error.status, 400)

    def test_overlong_ids_refused(self) -> None:
        """An id beyond any plausible length is not taken."""
        self.assertRaises(
            EnvelopeError, parse_envelope, envelope("messages", "created", roomId="R" * 5000)
        )
