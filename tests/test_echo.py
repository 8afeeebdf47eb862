"""
Tests for the built-in echo platform connector.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.echo import EchoConfig, EchoConnector
from nextplane.model.events import ContactRequest, TextMessage
from nextplane.model.text import RichText
from nextplane.storage.records import ContactState

from .helpers import CoreFixture, addr


class EchoTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.core = CoreFixture()
        # acme.test is served by the echo connector instead of 'alpha'.
        self.echo = EchoConnector(
            self.core.router, self.core.clock, frozenset({"acme.test"}), EchoConfig("echo: ")
        )
        self.echo.connector_name = "alpha"
        self.echo.startService()
        self.core.router.add_connector(self.echo)

    def test_request_accepted_and_message_echoed(self) -> None:
        """A remote user's request is accepted at once, and messages come back prefixed."""
        peter, bot = addr("peter@widget.test"), addr("bot@acme.test")
        self.successResultOf(self.core.router.route(ContactRequest(sender=peter, recipient=bot)))
        self.core.clock.advance(0)
        kinds = [e.kind for e in self.core.xmpp.delivered]
        self.assertEqual(kinds, ["contact_accept", "presence"])
        contact = self.successResultOf(self.core.store.get_contact(bot, peter))
        self.assertEqual(contact.state, ContactState.ACCEPTED)

        sent = TextMessage(sender=peter, recipient=bot, body=RichText.plain("ping"))
        self.assertTrue(self.successResultOf(self.core.router.route(sent)).delivered)
        self.core.clock.advance(0)
        reply = self.core.xmpp.delivered[-1]
        assert isinstance(reply, TextMessage)
        self.assertEqual(reply.body.plain_text(), "echo: ping")
        self.assertEqual(reply.reply_to, sent.message_id)
        self.assertEqual(self.echo.health()["replies"], 3)

    def test_stopped_refuses(self) -> None:
        """A stopped echo connector refuses deliveries."""
        self.echo.stopService()
        outcome = self.successResultOf(
            self.core.router.route(
                ContactRequest(sender=addr("p@widget.test"), recipient=addr("bot@acme.test"))
            )
        )
        self.assertEqual(outcome.condition, "service-unavailable")
