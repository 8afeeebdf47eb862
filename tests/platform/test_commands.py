"""
Tests for L{nextplane.connectors.platform.commands} and
L{nextplane.connectors.platform.cards}.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.cards import ContactCard, ContactLine, state_text
from nextplane.connectors.platform.commands import (
    CommandAction,
    ContactCommands,
    Style,
    help_text,
    list_text,
    parse_command_text,
)
from nextplane.connectors.platform.delivery import Delivery
from nextplane.contacts import ContactBook
from nextplane.model.address import Address
from nextplane.model.events import Availability, Event
from nextplane.router import Decision, Outcome
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import ContactDirection, ContactRecord, ContactState, UserRecord

JOHN, PETER = Address("john", "acme.test"), Address("peter", "widget.test")
T0 = datetime(2026, 12, 1, tzinfo=UTC)


class _Sink:
    def __init__(self, delivered: bool = True) -> None:
        self.routed: list[Event] = []
        self.delivered = delivered

    def route(self, event: Event, tell_sender: bool = True) -> Deferred[Any]:
        assert not tell_sender  # commands answer the user themselves
        self.routed.append(event)
        if self.delivered:
            return succeed(Outcome(event, Decision.DELIVERED, session="S1"))  # type: ignore[arg-type]
        return succeed(Outcome(event, Decision.FAILED, "recipient-unavailable", "offline"))


class _Surface:
    domain = "acme.test"

    def __init__(self) -> None:
        self.notices: list[str] = []
        self.opened: list[str] = []

    async def conversation_ref(self, user: UserRecord, contact: Address) -> str | None:
        return "C1" if self.opened else None

    async def open_conversation(
        self, user: UserRecord, contact: Address, session: Any, text: str
    ) -> str:
        self.opened.append(text)
        return "C1"

    async def notify(self, user: UserRecord, text: str, session: Any) -> None:
        self.notices.append(text)

    async def contact_lines(self, user: UserRecord) -> list[ContactLine]:
        return []


class ParserTests(SynchronousTestCase):
    """
    One parser for every platform.
    """

    def test_words(self) -> None:
        """Verbs, one address or domain, autolinks, and problems."""
        self.assertEqual(
            parse_command_text(" Invite peter@widget.test"),
            (CommandAction.INVITE, PETER, None, None),
        )
        self.assertEqual(
            parse_command_text("remove <mailto:peter@widget.test|peter@widget.test>")[1], PETER
        )
        self.assertEqual(parse_command_text("block Widget.Test")[2], "widget.test")
        self.assertEqual(parse_command_text("")[0], CommandAction.HELP)
        self.assertEqual(parse_command_text("dance")[3], "unknown command 'dance'")
        self.assertEqual(
            parse_command_text("invite a@b.test c@d.test")[3], "invite takes one address"
        )
        self.assertEqual(parse_command_text("invite nobody")[3], "not an address: nobody")


class AnswerTests(SynchronousTestCase):
    """
    One set of answers, in the platform's markup.
    """

    def setUp(self) -> None:
        self.store, self.sink, self.surface = MemoryStore(), _Sink(), _Surface()
        delivery = Delivery(platform="Toy", sink=self.sink, clock=Clock(), ack_after=5.0)
        book = ContactBook(self.store, Clock(), lambda a: a.domain == "acme.test")
        self.commands = ContactCommands(book, delivery, Clock(), Style())
        self.user = UserRecord(JOHN, "acme.test", "toy", "U1", "John")

    def run_command(self, text: str) -> str:
        action, address, domain, _ = parse_command_text(text)
        d = Deferred.fromCoroutine(
            self.commands.run(self.surface, self.user, action, address, domain)
        )
        return self.successResultOf(d)

    def contact(self, state: ContactState) -> None:
        record = ContactRecord(JOHN, PETER, state, ContactDirection.OUTBOUND, T0, T0)
        self.successResultOf(self.store.put_contact(record))

    def test_invite(self) -> None:
        """An invitation is routed as the user's contact request."""
        answer = self.run_command("invite peter@widget.test")
        self.assertEqual(
            answer,
            "Invitation sent to peter@widget.test. Once they accept, their messages arrive here "
            "and you can answer them.",
        )
        [request] = self.sink.routed
        self.assertEqual((request.kind, request.display_name), ("contact_request", "John"))

    def test_invite_unblocks(self) -> None:
        """Inviting a blocked address unblocks it; a failed route says why."""
        self.contact(ContactState.BLOCKED)
        self.sink.delivered = False
        answer = self.run_command("invite peter@widget.test")
        self.assertEqual(
            answer, "You unblocked peter@widget.test. Could not invite peter@widget.test: offline"
        )

    def test_block_and_domain(self) -> None:
        """Blocking stores the block; a domain is the administrators'."""
        self.assertIn(
            "'/nextplane invite peter@widget.test' unblocks",
            self.run_command("block peter@widget.test"),
        )
        stored = self.successResultOf(self.store.get_contact(JOHN, PETER))
        self.assertEqual(stored.state, ContactState.BLOCKED)
        self.assertEqual(
            self.run_command("block peter@widget.test"), "peter@widget.test is already blocked."
        )
        self.assertIn(
            "ask them to block widget.test for acme.test", self.run_command("block widget.test")
        )

    def test_remove(self) -> None:
        """Removing a contact tells them; the conversation gets a notice."""
        self.contact(ContactState.ACCEPTED)
        self.surface.opened.append("x")
        self.assertEqual(self.run_command("remove peter@widget.test"), "Removed peter@widget.test.")
        self.assertEqual(
            self.surface.notices,
            ["You removed peter@widget.test: messages here are no longer sent."],
        )

    def test_decide(self) -> None:
        """Accepting a card opens the conversation; a failure says why."""
        d = Deferred.fromCoroutine(
            self.commands.decide(self.surface, self.user, PETER, True, "Peter")
        )
        self.assertEqual(
            self.successResultOf(d), "✅ You accepted Peter (peter@widget.test): chat in C1."
        )
        self.sink.delivered = False
        d = Deferred.fromCoroutine(self.commands.decide(self.surface, self.user, PETER, False))
        self.assertEqual(
            self.successResultOf(d), "⚠️ Could not decline peter@widget.test's request: offline"
        )

    def test_unknown_user(self) -> None:
        """An account the platform cannot vouch for is told so."""
        d = Deferred.fromCoroutine(
            self.commands.run(self.surface, None, CommandAction.LIST, None, None)
        )
        self.assertIn("could not identify your chat account", self.successResultOf(d))

    def test_texts(self) -> None:
        """Help and the contact list in the style's markup."""
        self.assertIn("/nextplane block 'example.com' or 'user@example.com'", help_text(Style()))
        line = ContactLine(
            ContactRecord(JOHN, PETER, ContactState.ACCEPTED, ContactDirection.OUTBOUND, T0, T0)
        )
        self.assertEqual(
            list_text(Style(), [line]),
            "Your external contacts\n• peter@widget.test - contact - presence unknown",
        )
        self.assertIn("no external contacts yet", list_text(Style(), []))
        self.assertEqual(Style().presence(Availability.DND), "do not disturb")


class CardTests(SynchronousTestCase):
    """
    The card model.
    """

    def test_card(self) -> None:
        """Title and the value Accept/Decline carry."""
        card = ContactCard(PETER, "Peter")
        self.assertEqual(
            (card.title, card.value),
            ("peter@widget.test wants to chat with you", "peter@widget.test"),
        )

    def test_states(self) -> None:
        """States in words; inbound pending requests await an answer."""
        inbound = ContactRecord(JOHN, PETER, ContactState.PENDING, ContactDirection.INBOUND, T0, T0)
        self.assertEqual(state_text(inbound), "wants to chat with you")
        self.assertTrue(ContactLine(inbound).awaits_answer)
        revoked = ContactRecord(JOHN, PETER, ContactState.REVOKED, ContactDirection.INBOUND, T0, T0)
        self.assertEqual(state_text(revoked), "revoked by an administrator")
        self.assertFalse(ContactLine(revoked).awaits_answer)
