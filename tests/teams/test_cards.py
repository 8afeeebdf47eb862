# -*- test-case-name: tests.teams.test_cards -*-
"""
Tests for L{nextplane.connectors.teams.cards}.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams import api
from nextplane.connectors.teams.cards import (
    ACCEPT_VERB,
    ADAPTIVE_CARD,
    DECLINE_VERB,
    FILE_CONSENT,
    FILE_INFO,
    ContactRequest,
    Person,
    RequestState,
    SharedFile,
    card_invoke_response,
    contact_request_card,
    file_consent_card,
    file_info_card,
    file_link_card,
    message_card,
    name_line,
)
from nextplane.testing.teams_sim.spec import load_spec

ALICE = Person("Alice *A*", "alice@xmpp.test", "https://pics.test/alice.png")
REQUEST = ContactRequest("req-1", "New contact request", ALICE, note="Hi, it's Alice")


def texts(card: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "TextBlock":
                found.append(value["text"])
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(card)
    return found


def images(card: dict[str, Any]) -> list[str]:
    return [m for m in json.dumps(card).split('"') if m.startswith("https://pics")]


class ContactCardTests(SynchronousTestCase):
    """
    Contact request cards show the contact and Accept/Decline until answered.
    """

    def test_pending(self) -> None:
        """A pending request has the title, name, address, picture, note and two buttons."""
        card = contact_request_card(REQUEST)
        self.assertEqual(card["contentType"], ADAPTIVE_CARD)
        content = card["content"]
        self.assertEqual((content["type"], content["version"]), ("AdaptiveCard", "1.5"))
        self.assertEqual(
            texts(card),
            ["New contact request", "Alice \\*A\\*", "alice@xmpp.test", "Hi, it's Alice"],
        )
        self.assertEqual(images(card), ["https://pics.test/alice.png"])
        actions = content["actions"]
        self.assertEqual([a["type"] for a in actions], ["Action.Execute"] * 2)
        self.assertEqual([a["verb"] for a in actions], [ACCEPT_VERB, DECLINE_VERB])
        self.assertEqual(actions[0]["data"], {"request": "req-1"})

    def test_answered(self) -> None:
        """Once answered the card says so and has no buttons."""
        for state, words in (
            (RequestState.ACCEPTED, "Accepted"),
            (RequestState.DECLINED, "Declined"),
            (RequestState.EXPIRED, "expired"),
            (RequestState.WITHDRAWN, "withdrawn"),
        ):
            answered = ContactRequest("req-1", "New contact request", ALICE, state)
            card = contact_request_card(answered)["content"]
            self.assertNotIn("actions", card)
            self.assertIn(words, texts(card)[-1])

    def test_invoke_response(self) -> None:
        """The invoke answer replaces the card in place, or says OK."""
        updated = contact_request_card(ContactRequest("r", "t", ALICE, RequestState.ACCEPTED))
        response = card_invoke_response(updated["content"])
        self.assertEqual((response["statusCode"], response["type"]), (200, ADAPTIVE_CARD))
        self.assertEqual(response["value"], updated["content"])
        self.assertEqual(card_invoke_response()["statusCode"], 200)

    def test_unsafe_picture_dropped(self) -> None:
        """Only https pictures are shown."""
        for url in ("http://pics.test/a.png", "javascript:x", None):
            card = contact_request_card(ContactRequest("r", "t", Person("A", None, url)))
            self.assertNotIn("Image", json.dumps(card))

    def test_repr_hides_note(self) -> None:
        """The note (content) never shows in repr."""
        self.assertNotIn("it's Alice", repr(REQUEST))


class MessageCardTests(SynchronousTestCase):
    """
    Messages from contacts carry their name and picture.
    """

    def test_header(self) -> None:
        """The card has the sender's picture and name above the text."""
        card = message_card(ALICE, "**hi**")
        self.assertEqual(texts(card), ["Alice \\*A\\*", "alice@xmpp.test", "**hi**"])
        self.assertEqual(images(card), ["https://pics.test/alice.png"])

    def test_name_line(self) -> None:
        """Plain text mode starts with the bold, escaped name."""
        self.assertEqual(name_line(ALICE), "**Alice \\*A\\*:** ")


class FileCardTests(SynchronousTestCase):
    """
    File consent, file info and link cards.
    """

    FILE = SharedFile("f-1", "report.pdf", 2_500_000, "https://hub.test/files/f-1?sig=x")

    def test_consent(self) -> None:
        """The consent card carries size and the file id as context."""
        card = file_consent_card(self.FILE)
        self.assertEqual((card["contentType"], card["name"]), (FILE_CONSENT, "report.pdf"))
        self.assertEqual(card["content"]["sizeInBytes"], 2_500_000)
        self.assertEqual(card["content"]["acceptContext"], {"file": "f-1"})
        self.assertEqual(card["content"]["declineContext"], {"file": "f-1"})

    def test_info(self) -> None:
        """The info card points at the uploaded file."""
        card = file_info_card("report.pdf", "https://od.test/r.pdf", "u1", "pdf")
        self.assertEqual(card["contentType"], FILE_INFO)
        self.assertEqual(card["content"], {"uniqueId": "u1", "fileType": "pdf"})

    def test_link(self) -> None:
        """The link card names the file, its size and a Download button."""
        card = file_link_card(self.FILE, ALICE)
        self.assertIn("📎 report.pdf", texts(card))
        self.assertIn("2.4 MB", texts(card))
        self.assertEqual(
            card["content"]["actions"],
            [{"type": "Action.OpenUrl", "title": "Download", "url": self.FILE.link}],
        )
        small = SharedFile("f", "a.txt", 12, "javascript:x")
        self.assertIn("12 bytes", texts(file_link_card(small)))
        self.assertNotIn("actions", file_link_card(small)["content"])

    def test_cards_fit_the_spec(self) -> None:
        """Activities carrying these cards are valid Connector activities."""
        spec = load_spec()
        ref = api.ConversationRef("https://s.test/", "a:1", "t", "28:b")
        for card in (
            contact_request_card(REQUEST),
            message_card(ALICE, "x"),
            file_consent_card(self.FILE),
            file_link_card(self.FILE),
        ):
            request = api.send_to_conversation(ref, api.message_activity(attachments=[card]))
            operation, _, problems = spec.match(request.method, "/v3/conversations/a:1/activities")
            assert operation is not None
            self.assertEqual(problems + spec.validate_body(operation, dict(request.body or {})), [])
