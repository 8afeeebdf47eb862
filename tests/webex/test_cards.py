"""
Tests for L{nextplane.connectors.webex.cards}, against the simulator.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex import api
from nextplane.connectors.webex.api import AttachmentAction
from nextplane.connectors.webex.cards import (
    ContactRequest,
    Person,
    RequestState,
    contact_request_message,
    for_webex,
    parse_card_answer,
    with_header,
)
from nextplane.connectors.webex.format import to_markdown
from nextplane.model.text import RichText

from .helpers import WebexCase

REQUEST = ContactRequest(
    "req-1", "New contact request", Person("Bob *B*", "bob@xmpp.example", "https://p.test/b.png")
)


def actions(card: Any) -> list[dict[str, Any]]:
    return list(card.get("actions", []))


class CardTests(SynchronousTestCase):
    def test_pending_card(self) -> None:
        """A pending request is a 1.3 card with Submit buttons carrying the verb."""
        message = contact_request_message("ROOM", REQUEST)
        card = message.card
        assert card is not None
        self.assertEqual(card["version"], "1.3")
        self.assertEqual(
            [(a["type"], a["title"], a["data"]) for a in actions(card)],
            [
                ("Action.Submit", "Accept", {"request": "req-1", "verb": "contact.accept"}),
                ("Action.Submit", "Decline", {"request": "req-1", "verb": "contact.decline"}),
            ],
        )
        self.assertNotIn("Action.Execute", json.dumps(card))
        self.assertEqual(message.text, "New contact request: Bob *B* (bob@xmpp.example)")
        self.assertIn(r"Bob \*B\*", message.markdown or "")

    def test_answered_card(self) -> None:
        """An answered request shows no buttons and says the outcome."""
        answered = ContactRequest(
            REQUEST.request_id, REQUEST.title, REQUEST.contact, RequestState.ACCEPTED
        )
        message = contact_request_message("ROOM", answered)
        self.assertEqual(actions(message.card), [])
        self.assertTrue((message.text or "").endswith(", accepted"))

    def test_lowering_nested(self) -> None:
        """Execute actions inside containers (ShowCard, ActionSet) are lowered too."""
        card = for_webex(
            {
                "type": "AdaptiveCard",
                "version": "1.5",
                "body": [
                    {"type": "ActionSet", "actions": [{"type": "Action.Execute", "verb": "v"}]}
                ],
            }
        )
        self.assertEqual(
            card["body"][0]["actions"][0], {"type": "Action.Submit", "data": {"verb": "v"}}
        )

    def test_parse_answer(self) -> None:
        """Accept and Decline are read; anything else is not an answer."""

        def action(inputs: dict[str, Any]) -> AttachmentAction:
            return AttachmentAction("A", "submit", "M", "R", "P", inputs)

        accept = parse_card_answer(action({"verb": "contact.accept", "request": "req-1"}))
        decline = parse_card_answer(action({"verb": "contact.decline", "request": "req-1"}))
        assert accept is not None and decline is not None
        self.assertEqual(
            (accept.request_id, accept.accepted, accept.person_id), ("req-1", True, "P")
        )
        self.assertFalse(decline.accepted)
        for inputs in [
            {},
            {"verb": "other", "request": "r"},
            {"verb": "contact.accept", "request": 5},
            {"verb": "contact.accept", "request": "x" * 300},
        ]:
            self.assertIsNone(parse_card_answer(action(inputs)))

    def test_header(self) -> None:
        """A contact's message starts with their name in bold, escaped."""
        text = with_header("Bob_B", RichText.plain("hi"))
        self.assertEqual(to_markdown(text), r"**Bob\_B**: hi")
        self.assertEqual(text.plain_text(), "Bob_B: hi")


class SimulatedCardTests(WebexCase):
    def test_request_and_answer_end_to_end(self) -> None:
        """The card passes the spec check; Alice's press is read back as an answer."""
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        sent = api.parse_message(
            self.run_async(
                self.client.call(api.create_message(contact_request_message(room.id, REQUEST)))
            )
        )
        card = self.sim.state.messages[sent.id].attachments[0]["content"]
        accept = next(a for a in card["actions"] if a["title"] == "Accept")
        action = self.sim.world.user_submits(self.alice.id, sent.id, accept["data"])
        fetched = api.parse_attachment_action(
            self.run_async(self.client.call(api.get_attachment_action(action.id)))
        )
        answer = parse_card_answer(fetched)
        assert answer is not None
        self.assertEqual(
            (answer.request_id, answer.accepted, answer.person_id, answer.message_id),
            ("req-1", True, self.alice.id, sent.id),
        )
