"""
The platform kit serves more than Slack: L{nextplane.testing.kit_platform}
runs the contact-request and message flow end to end through the real
L{nextplane.router.Router}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.cards import ContactCard
from nextplane.model.events import ContactAccept, ContactRequest, TextMessage
from nextplane.model.text import RichText, Text
from nextplane.storage.records import ContactState
from nextplane.testing.kit_platform import ToyPlatform
from tests.helpers import CoreFixture, addr

PETER, SUE = addr("peter@widget.test"), addr("sue@widget.test")


class ToyPlatformTests(SynchronousTestCase):
    """
    A toy platform on the kit, behind the router.
    """

    def setUp(self) -> None:
        self.core = CoreFixture()
        self.toy = ToyPlatform(
            "alpha",
            "acme.test",
            self.core.router,
            self.core.store,
            self.core.clock,
            self.core.router.contacts,
        )
        self.core.router.add_connector(self.toy)
        self.toy.startService()
        self.toy.emails["U1"] = "john@acme.test"

    def texts(self) -> list[object]:
        return [content for _, content in self.toy.posts.get("U1", [])]

    def test_invite_accept_and_chat(self) -> None:
        """John invites peter, peter accepts, they chat both ways."""
        core, toy = self.core, self.toy
        self.successResultOf(toy.user_says("U1", "/nextplane invite peter@widget.test"))
        self.assertIn("Invitation sent to peter@widget.test", self.texts()[-1])
        [request] = core.xmpp.of_kind("contact_request")
        self.assertEqual((request.sender, request.recipient), (addr("john@acme.test"), PETER))

        outcome = self.successResultOf(
            core.xmpp.inject(ContactAccept(sender=PETER, recipient=request.sender))
        )
        self.assertTrue(outcome.delivered)
        self.assertEqual(self.texts()[-1], "contact_accept from peter@widget.test")
        contact = self.successResultOf(core.store.get_contact(request.sender, PETER))
        self.assertEqual(contact.state, ContactState.ACCEPTED)

        hello = TextMessage(sender=PETER, recipient=request.sender, body=RichText([Text("hi")]))
        self.assertTrue(self.successResultOf(core.xmpp.inject(hello)).delivered)
        self.assertEqual(self.texts()[-1], "peter@widget.test: hi")

        self.successResultOf(toy.user_says("U1", "hello peter"))
        [reply] = core.xmpp.of_kind("message")
        self.assertEqual((reply.recipient, reply.body.plain_text()), (PETER, "hello peter"))

    def test_request_card_answered(self) -> None:
        """A contact request arrives as a card; Accept tells the contact and opens the chat."""
        core, toy = self.core, self.toy
        self.successResultOf(toy.user_says("U1", "/nextplane list"))  # registers john
        request = ContactRequest(sender=SUE, recipient=addr("john@acme.test"), display_name="Sue")
        self.assertTrue(self.successResultOf(core.xmpp.inject(request)).delivered)
        card = self.texts()[-1]
        assert isinstance(card, ContactCard)
        self.assertEqual(
            (card.contact, card.name, card.title), (SUE, "Sue", f"{SUE} wants to chat with you")
        )

        answer = self.successResultOf(toy.user_answers("U1", card, accept=True))
        self.assertEqual(answer, "✅ You accepted Sue (sue@widget.test): chat in U1.")
        [accept] = core.xmpp.of_kind("contact_accept")
        self.assertEqual(accept.recipient, SUE)
        self.successResultOf(toy.user_says("U1", "hi sue"))
        [message] = core.xmpp.of_kind("message")
        self.assertEqual(message.recipient, SUE)

    def test_help_and_errors(self) -> None:
        """The same words and answers as on every platform."""
        self.successResultOf(self.toy.user_says("U1", "/nextplane"))
        self.assertIn("/nextplane invite 'user@example.com'", self.texts()[-1])
        self.successResultOf(self.toy.user_says("U1", "/nextplane remove peter@widget.test"))
        self.assertEqual(self.texts()[-1], "peter@widget.test is not among your contacts.")
        self.successResultOf(self.toy.user_says("U1", "/nextplane invite ann@acme.test"))
        self.assertIn("is in your own organisation: message them in", self.texts()[-1])
