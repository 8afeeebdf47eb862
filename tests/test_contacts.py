"""
Tests for L{nextplane.contacts}: the contact lifecycle and its one writer.
"""

from __future__ import annotations

from datetime import timedelta

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.contacts import ContactBook, ContactExpiryService, next_contact
from nextplane.model.events import ContactAccept, ContactDecline, ContactRemove, ContactRequest
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import ContactDirection, ContactRecord, ContactState

from .helpers import T0, addr

JOHN, PETER = addr("john@acme.test"), addr("peter@widget.test")


def record(
    state: ContactState, direction: ContactDirection = ContactDirection.OUTBOUND
) -> ContactRecord:
    return ContactRecord(JOHN, PETER, state, direction, T0, T0)


class ContactLifecycleTests(SynchronousTestCase):
    def test_outbound_request(self) -> None:
        """A user's request makes an outbound pending contact."""
        new = next_contact(
            ContactRequest(sender=JOHN, recipient=PETER), JOHN, PETER, True, None, T0
        )
        assert new is not None
        self.assertEqual(
            (new.state, new.direction), (ContactState.PENDING, ContactDirection.OUTBOUND)
        )

    def test_mutual_requests_accept(self) -> None:
        """Requests crossing each other count as consent on both sides."""
        current = record(ContactState.PENDING, ContactDirection.INBOUND)
        new = next_contact(
            ContactRequest(sender=JOHN, recipient=PETER), JOHN, PETER, True, current, T0
        )
        assert new is not None
        self.assertEqual(new.state, ContactState.ACCEPTED)

    def test_accept_decline_remove(self) -> None:
        """Accept and decline answer pending requests; remove ends a contact."""
        accepted = next_contact(
            ContactAccept(sender=PETER, recipient=JOHN),
            JOHN,
            PETER,
            False,
            record(ContactState.PENDING),
            T0,
        )
        declined = next_contact(
            ContactDecline(sender=PETER, recipient=JOHN),
            JOHN,
            PETER,
            False,
            record(ContactState.PENDING),
            T0,
        )
        removed = next_contact(
            ContactRemove(sender=JOHN, recipient=PETER),
            JOHN,
            PETER,
            True,
            record(ContactState.ACCEPTED),
            T0,
        )
        self.assertEqual(
            [r.state if r else None for r in (accepted, declined, removed)],
            [ContactState.ACCEPTED, ContactState.DECLINED, ContactState.REMOVED],
        )

    def test_blocked_and_revoked_are_sticky(self) -> None:
        """Requests never reopen a blocked or revoked contact."""
        for state in (ContactState.BLOCKED, ContactState.REVOKED):
            self.assertIsNone(
                next_contact(
                    ContactRequest(sender=PETER, recipient=JOHN),
                    JOHN,
                    PETER,
                    False,
                    record(state),
                    T0,
                )
            )

    def test_accept_without_pending_changes_nothing(self) -> None:
        """An accept out of the blue changes nothing."""
        self.assertIsNone(
            next_contact(ContactAccept(sender=PETER, recipient=JOHN), JOHN, PETER, False, None, T0)
        )

    def test_rerequest_after_decline(self) -> None:
        """After a decline, a new request makes the contact pending again."""
        new = next_contact(
            ContactRequest(sender=JOHN, recipient=PETER),
            JOHN,
            PETER,
            True,
            record(ContactState.DECLINED),
            T0,
        )
        assert new is not None
        self.assertEqual(new.state, ContactState.PENDING)


class ExpiryTests(SynchronousTestCase):
    def test_old_pending_requests_expire(self) -> None:
        """Requests older than the TTL expire; newer ones and answered ones stay."""
        store = MemoryStore()
        old = T0 - timedelta(days=14)
        for external, state, when in [
            ("a@w.test", ContactState.PENDING, old),
            ("b@w.test", ContactState.PENDING, T0),
            ("c@w.test", ContactState.ACCEPTED, old),
        ]:
            store.put_contact(
                ContactRecord(JOHN, addr(external), state, ContactDirection.OUTBOUND, when, when)
            )
        clock = Clock()
        clock.advance(T0.timestamp())
        book = ContactBook(store, clock, lambda a: a.domain == "acme.test")
        service = ContactExpiryService(book, clock, timedelta(days=14))
        self.assertEqual(self.successResultOf(service.run_once()), 1)
        states = {c.external.local: c.state for c in self.successResultOf(store.list_contacts())}
        self.assertEqual(
            states,
            {"a": ContactState.EXPIRED, "b": ContactState.PENDING, "c": ContactState.ACCEPTED},
        )
        self.assertIsInstance(service.run_once(), Deferred)


class ContactBookTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = MemoryStore()
        self.clock = Clock()
        self.clock.advance(T0.timestamp())
        self.book = ContactBook(self.store, self.clock, lambda a: a.domain == "acme.test")

    def states(self) -> dict[tuple[str, str], ContactState]:
        return {
            (c.owner.local, c.external.local): c.state
            for c in self.successResultOf(self.book.list_contacts())
        }

    def test_block_unblock(self) -> None:
        """
        Blocking makes a blocked record (once); unblocking leaves a removed
        one that a new request may follow.
        """
        blocked = self.successResultOf(self.book.block(JOHN, PETER))
        assert blocked is not None
        self.assertEqual(blocked.state, ContactState.BLOCKED)
        self.assertIsNone(self.successResultOf(self.book.block(JOHN, PETER)))
        self.assertEqual(
            self.successResultOf(self.book.unblock(JOHN, PETER)).state,  # type: ignore[union-attr]
            ContactState.REMOVED,
        )
        self.assertIsNone(self.successResultOf(self.book.unblock(JOHN, PETER)))

    def test_forget(self) -> None:
        """
        Forgetting ends a pending or accepted contact only.
        """
        self.store.put_contact(record(ContactState.ACCEPTED))
        self.assertEqual(
            self.successResultOf(self.book.forget(JOHN, PETER)).state,  # type: ignore[union-attr]
            ContactState.REMOVED,
        )
        self.assertIsNone(self.successResultOf(self.book.forget(JOHN, PETER)))

    def test_revocations(self) -> None:
        """
        Revocation by contact, by user and by (wildcard) domain, limited to
        tenants, each returning what it changed.
        """
        for owner, external in [
            ("john@acme.test", "peter@widget.test"),
            ("john@acme.test", "ann@sub.widget.test"),
            ("mary@acme.test", "bo@sub.widget.test"),
            ("eve@beta.test", "cy@x.widget.test"),
            ("mary@acme.test", "dan@other.test"),
        ]:
            self.store.put_contact(
                ContactRecord(
                    addr(owner),
                    addr(external),
                    ContactState.ACCEPTED,
                    ContactDirection.OUTBOUND,
                    T0,
                    T0,
                )
            )
        wild = self.successResultOf(self.book.revoke_domain("*.widget.test", ["acme.test"]))
        self.assertEqual(
            [(c.owner.local, c.external.local) for c in wild], [("john", "ann"), ("mary", "bo")]
        )
        self.assertEqual(len(self.successResultOf(self.book.revoke(JOHN, PETER))), 1)
        self.assertEqual(self.successResultOf(self.book.revoke(JOHN, PETER)), [])
        mary = self.successResultOf(self.book.revoke_user(addr("mary@acme.test")))
        self.assertEqual([c.external.local for c in mary], ["dan"])
        self.assertEqual(self.states()[("eve", "cy")], ContactState.ACCEPTED)
        everywhere = self.successResultOf(self.book.revoke_domain("*.widget.test"))
        self.assertEqual([c.owner.local for c in everywhere], ["eve"])
