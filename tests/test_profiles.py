"""
Tests for L{nextplane.router.Router.profile_of}: hub users from the store,
remote contacts from the federation connector that reaches them, cached.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import alsoProvides

from nextplane.interfaces import IProfileSource
from nextplane.model.address import Address
from nextplane.model.profile import Profile
from nextplane.storage.records import UserRecord

from .helpers import CoreFixture, addr

JOHN, PETER = addr("john@acme.test"), addr("peter@widget.test")


class ProfileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.core = CoreFixture()
        self.asked: list[tuple[Address, Address]] = []

        def fetch(requester: Address, address: Address) -> Deferred[Profile | None]:
            self.asked.append((requester, address))
            return succeed(Profile("Peter Smith", "Engineer", "https://img.test/p.png"))

        self.core.xmpp.fetch_profile = fetch  # type: ignore[attr-defined]
        alsoProvides(self.core.xmpp, IProfileSource)

    def profile(self, address: Address) -> Profile | None:
        return self.successResultOf(self.core.router.profile_of(JOHN, address))

    def test_hub_user_from_store(self) -> None:
        """A tenant user's profile comes from their stored record."""
        self.core.store.put_user(
            UserRecord(
                addr("mary@beta.test"),
                "beta.test",
                "beta",
                "U1",
                "Mary",
                "https://img.test/m.png",
                "Chief",
            )
        )
        self.assertEqual(
            self.profile(addr("mary@beta.test")), Profile("Mary", "Chief", "https://img.test/m.png")
        )
        self.assertIsNone(self.profile(addr("nobody@beta.test")))

    def test_remote_from_connector_and_cached(self) -> None:
        """A remote contact's profile is fetched through its federation connector once, then cached."""
        self.assertEqual(self.profile(PETER).display_name, "Peter Smith")  # type: ignore[union-attr]
        self.profile(PETER)
        self.assertEqual(self.asked, [(JOHN, PETER)])
        self.core.clock.advance(3601)
        self.profile(PETER)
        self.assertEqual(len(self.asked), 2)

    def test_connector_without_profiles(self) -> None:
        """A connector that cannot fetch profiles, or an unreachable domain, gives none."""
        self.assertIsNone(self.profile(addr("bob@sipco.test")))  # sip connector not running
        self.assertIsNone(self.profile(addr("x@nowhere.test")))

    def test_failure_is_none(self) -> None:
        """A failing fetch gives no profile and is logged, never an error."""

        def broken(requester: Address, address: Address) -> Deferred[Profile | None]:
            raise RuntimeError("boom")

        self.core.xmpp.fetch_profile = broken  # type: ignore[attr-defined]
        self.assertIsNone(self.profile(PETER))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
