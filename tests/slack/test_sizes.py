"""
Slack's message-size limit: a text over 40,000 characters is posted in
parts, in order; one over C{max_message_parts} parts (or an edit over the
limit) is refused and its sender told.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.api import MAX_TEXT
from nextplane.model.events import ContactAccept, MessageEdit, TextMessage
from nextplane.model.text import RichText

from .hub import SlackHub, addr

PETER = addr("peter@widget.test")
JOHN = addr("john@acme.test")


class SizeTests(SynchronousTestCase):
    """
    Long messages from the XMPP side to Slack.
    """

    def setUp(self) -> None:
        self.hub = SlackHub(extra={"max_message_parts": 3})
        self.hub.command(self.hub.sim_a, self.hub.john, "invite peter@widget.test")
        self.successResultOf(self.hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        self.hub.advance(2)
        self.conversation = self.hub.conversation(self.hub.sim_a, self.hub.john)

    def send(self, text: str) -> tuple[TextMessage, Any]:
        """Peter sends C{text}; (the message, the router's outcome)."""
        message = TextMessage(sender=PETER, recipient=JOHN, body=RichText.plain(text))
        outcome = self.hub.inject(message)
        self.hub.advance(10)
        return message, self.successResultOf(outcome)

    def test_split(self) -> None:
        """
        A 100,000-character text goes out as three posts within Slack's
        limit, in order, whole; an edit of it is refused (it cannot be split).
        """
        text = "\n\n".join(f"paragraph {i} " + "word " * 2000 for i in range(10))
        message, outcome = self.send(text)
        self.assertTrue(outcome.delivered, (outcome.condition, outcome.reason))
        posts = [m.text for m in self.hub.posts(self.conversation)]
        self.assertEqual(len(posts), 3)
        self.assertTrue(all(len(p) <= MAX_TEXT for p in posts))
        self.assertEqual("".join(posts), text)
        self.assertEqual(self.hub.sim_a.violations, [])

        edit = MessageEdit(
            sender=PETER, recipient=JOHN, message_id=message.message_id, body=RichText.plain(text)
        )
        d = self.hub.inject(edit)
        self.hub.advance(10)
        refused = self.successResultOf(d)
        self.assertFalse(refused.delivered)
        self.assertIn("too long for Slack", refused.reason)

    def test_refused(self) -> None:
        """
        A text needing more parts than allowed (a 21 MB one) is refused
        before anything is posted or converted, and the sender is told why.
        """
        _, outcome = self.send("x" * (21 * 1024 * 1024))
        self.assertFalse(outcome.delivered)
        self.assertEqual(outcome.condition, "policy-violation")
        self.assertIn("too long for Slack", outcome.reason)
        self.assertEqual(self.hub.posts(self.conversation), [])

    def test_inbound_over_limit(self) -> None:
        """
        A signed event whose text is over Slack's limit (1 MB: Slack never
        sends one) is verified, parsed and refused within milliseconds - it
        does not hold the reactor - and the Slack user is told.
        """
        hub = self.hub
        text = ("hello *world* <https://a.test|a> " * 30_000)[: 1 << 20]
        event = {
            "type": "message",
            "user": hub.john.id,
            "text": text,
            "ts": "1700000000.000100",
            "event_ts": "1700000000.000100",
            "channel": self.conversation.id,
            "channel_type": "group",
        }
        started = time.process_time()
        delivery = hub.sim_a.events.send_event(event)
        hub.advance(1)
        elapsed = time.process_time() - started
        self.assertEqual(self.successResultOf(delivery).attempts[0].status, 200)
        self.assertEqual(hub.delivered("message"), [])
        self.assertIn("longer than 40,000 characters", self.conversation.messages[-1].text)
        # Loose, and including the in-memory HTTP transfer of the test:
        # converting such a text took seconds, refusing it takes
        # milliseconds.
        self.assertLess(elapsed, 0.5)
