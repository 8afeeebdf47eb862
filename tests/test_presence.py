"""
Tests for L{nextplane.presence.PresenceBook} and the router feeding it.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.events import Availability, Presence
from nextplane.presence import PresenceBook

from .helpers import CoreFixture, addr


class PresenceBookTests(SynchronousTestCase):
    def test_unknown_until_reported(self) -> None:
        """A user nobody reported is unknown, never offline."""
        book = PresenceBook()
        self.assertEqual(book.lookup(addr("john@acme.test")), (Availability.UNKNOWN, ""))
        book.record(
            Presence(
                sender=addr("John@acme.test"),
                recipient=addr("p@w.test"),
                availability="dnd",
                status="focus",
            )
        )
        self.assertEqual(book.lookup(addr("john@acme.test")), (Availability.DND, "focus"))

    def test_bounded(self) -> None:
        """The least recently updated users are forgotten beyond the limit."""
        book = PresenceBook(limit=2)
        for name in ("a", "b", "c"):
            book.record(
                Presence(
                    sender=addr(f"{name}@acme.test"),
                    recipient=addr("p@w.test"),
                    availability="away",
                )
            )
        self.assertEqual(len(book), 2)
        self.assertEqual(book.lookup(addr("a@acme.test"))[0], Availability.UNKNOWN)

    def test_router_records_hub_users_only(self) -> None:
        """The router records presence its hub users report, even when the delivery is refused; remote presence is not kept."""
        core = CoreFixture()
        core.router.route(
            Presence(
                sender=addr("john@acme.test"),
                recipient=addr("stranger@widget.test"),
                availability="away",
            )
        )
        core.router.route(
            Presence(
                sender=addr("peter@widget.test"),
                recipient=addr("john@acme.test"),
                availability="available",
            )
        )
        self.assertEqual(core.router.presence.lookup(addr("john@acme.test"))[0], Availability.AWAY)
        self.assertEqual(
            core.router.presence.lookup(addr("peter@widget.test"))[0], Availability.UNKNOWN
        )
