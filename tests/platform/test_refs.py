"""
L{nextplane.connectors.platform.refs.MessageRefs} over the in-memory store.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.refs import MessageRefs
from nextplane.model.address import Address
from nextplane.storage.memory import MemoryStore

ALICE = Address("alice", "acme.test")
BOB = Address("bob", "widget.test")


class MessageRefsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.store = MemoryStore()
        self.refs = MessageRefs(self.store, "webex", self.clock, keep=3600)

    def result(self, d: Deferred) -> object:  # type: ignore[type-arg]
        return self.successResultOf(d)

    def test_shown_is_what_the_hub_posted(self) -> None:
        """
        By hub id only what the hub posted is found: a message the user
        wrote (kept under its own id) is never edited or deleted for them.
        """
        self.result(self.refs.posted("P1", "N1", "h1", ALICE, BOB, starts_thread=True))
        self.result(self.refs.received("P1", "N2", ALICE, BOB, parent="N1"))
        shown = self.result(Deferred.fromCoroutine(self.refs.shown("h1")))
        self.assertEqual(shown.native_id, "N1")  # type: ignore[attr-defined]
        self.assertIsNone(self.result(Deferred.fromCoroutine(self.refs.shown("N2"))))

    def test_written_is_what_the_user_wrote(self) -> None:
        """
        A user's deletion finds only what they wrote, with its contact.
        """
        self.result(self.refs.posted("P1", "N1", "h1", ALICE, BOB))
        self.result(self.refs.received("P1", "N2", ALICE, BOB))
        written = self.result(Deferred.fromCoroutine(self.refs.written("P1", "N2")))
        self.assertEqual((written.user, written.contact), (ALICE, BOB))  # type: ignore[attr-defined]
        self.assertIsNone(self.result(Deferred.fromCoroutine(self.refs.written("P1", "N1"))))

    def test_thread_and_contact(self) -> None:
        """
        The thread start of a contact, and the contact of any message.
        """
        self.result(self.refs.posted("P1", "N1", "", ALICE, BOB, starts_thread=True))
        self.result(self.refs.posted("P1", "N2", "h2", ALICE, BOB, parent="N1"))
        thread = self.result(Deferred.fromCoroutine(self.refs.thread("P1", BOB)))
        self.assertEqual(thread, "N1")
        self.assertEqual(self.result(Deferred.fromCoroutine(self.refs.contact_of("P1", "N2"))), BOB)
        self.assertIsNone(self.result(Deferred.fromCoroutine(self.refs.contact_of("P2", "N2"))))

    def test_prune_by_age(self) -> None:
        """
        Refs older than C{keep} are pruned, younger ones kept.
        """
        self.result(self.refs.posted("P1", "old", "h1", ALICE, BOB))
        self.clock.advance(3000)
        self.result(self.refs.posted("P1", "new", "h2", ALICE, BOB))
        self.clock.advance(1000)
        self.assertEqual(self.result(self.refs.prune()), 1)
        self.assertIsNone(self.result(Deferred.fromCoroutine(self.refs.contact_of("P1", "old"))))
        self.assertEqual(
            self.result(Deferred.fromCoroutine(self.refs.contact_of("P1", "new"))), BOB
        )
