"""
Tests for L{nextplane.notices}: the one builder of sender notices.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.address import ChatSessionId
from nextplane.model.events import (
    ContactRequest,
    DeliveryError,
    Presence,
    TextMessage,
    Typing,
)
from nextplane.model.text import RichText
from nextplane.notices import delivery_error, not_delivered_text, wants_notice

from .helpers import T0, addr

JOHN, PETER = addr("john@acme.test"), addr("peter@widget.test")


class DeliveryErrorTests(SynchronousTestCase):
    def test_message_notice(self) -> None:
        """
        A notice goes back to the sender, names the message and the
        reason, and never predates the message.
        """
        message = TextMessage(sender=JOHN, recipient=PETER, timestamp=T0, body=RichText.plain("hi"))
        session = ChatSessionId.new()
        notice = delivery_error(message, "not-allowed", "blocked", T0 - timedelta(1), session)
        assert notice is not None
        self.assertEqual(
            (notice.sender, notice.recipient, notice.session, notice.timestamp),
            (PETER, JOHN, session, T0),
        )
        self.assertEqual(
            (notice.condition, notice.reason, notice.original_event_id, notice.message_id),
            ("not-allowed", "blocked", message.event_id, message.message_id),
        )

    def test_defaults(self) -> None:
        """
        Without a condition or reason, the notice says so in general words.
        """
        notice = delivery_error(ContactRequest(sender=JOHN, recipient=PETER), None, "", T0)
        assert notice is not None
        self.assertEqual(notice.condition, "undefined-condition")
        self.assertEqual(notice.reason, "the message could not be delivered")
        self.assertIsNone(notice.message_id)

    def test_no_notice(self) -> None:
        """
        Presence, typing and notices themselves get no notice (no loops).
        """
        error = delivery_error(ContactRequest(sender=JOHN, recipient=PETER), None, None, T0)
        assert isinstance(error, DeliveryError)
        for event in (
            Typing(sender=JOHN, recipient=PETER, state="composing"),
            Presence(sender=JOHN, recipient=PETER, availability="away"),
            error,
        ):
            self.assertFalse(wants_notice(event))
            self.assertIsNone(delivery_error(event, "x", "y", T0))


class NotDeliveredTextTests(SynchronousTestCase):
    def test_restart(self) -> None:
        """
        By default the words name the restart, the time (in UTC) and whom
        the message was for.
        """
        sent = datetime(2026, 12, 6, 17, 5, 9, tzinfo=timezone(timedelta(hours=1)))
        self.assertEqual(
            not_delivered_text(sent, "john@acme.test"),
            "Your message of 16:05:09 UTC on 2026-12-06 to john@acme.test was not delivered: "
            "the hub restarted before it was passed on. Please send it again.",
        )

    def test_reason_without_time(self) -> None:
        """
        A later failure names its reason; time and recipient are optional.
        """
        self.assertEqual(
            not_delivered_text(reason="Slack refused it."),
            "Your message was not delivered: Slack refused it.",
        )
