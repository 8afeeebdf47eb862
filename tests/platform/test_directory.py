"""
Tests for L{nextplane.connectors.platform.directory} and
L{nextplane.connectors.platform.conversations}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.platform.conversations import Conversations, ReplyTargets
from nextplane.connectors.platform.directory import Directory, address_for
from nextplane.model.address import Address
from nextplane.model.profile import Profile
from nextplane.storage.memory import MemoryStore

PETER, SUE = Address("peter", "widget.test"), Address("sue", "widget.test")


class DirectoryTests(SynchronousTestCase):
    """
    Platform users become hub users; contacts are shown without waiting.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.store = MemoryStore()
        self.directory = Directory(self.store, "toy", self.clock)

    def register(self, native: str, email: str | None, handle: str | None = None) -> Any:
        return self.successResultOf(
            Deferred.fromCoroutine(
                self.directory.register(
                    domain="acme.test",
                    platform_id=f"T1:{native}",
                    native_id=native,
                    email=email,
                    handle=handle,
                    display_name=None,
                )
            )
        )

    def test_address_for(self) -> None:
        """The e-mail's local part at the tenant's domain, else the handle."""
        self.assertEqual(
            address_for("acme.test", "John@ACME.test", "jd"), Address("John", "acme.test")
        )
        self.assertEqual(
            address_for("acme.test", "john@gmail.test", "jd"), Address("jd", "acme.test")
        )
        self.assertIsNone(address_for("acme.test", None, None))
        self.assertIsNone(address_for("acme.test", None, "bad name"))

    def test_register_once_and_collisions(self) -> None:
        """A user is registered once; a taken address gets the native id added."""
        john = self.register("U1", "john@acme.test")
        self.assertEqual((john.address, john.display_name), (Address("john", "acme.test"), "john"))
        self.assertEqual(self.register("U1", "other@acme.test").address, john.address)
        other = self.register("U2", None, "john")
        self.assertEqual(other.address, Address("john.u2", "acme.test"))
        self.assertEqual(self.register("U3", None, "bad name").address, Address("u3", "acme.test"))

    def shown(self, contact: Address) -> Any:
        requester = Address("john", "acme.test")
        return self.successResultOf(
            Deferred.fromCoroutine(self.directory.shown(contact, requester))
        )

    def test_profile_never_delays(self) -> None:
        """A slow profile fetch does not hold up what is shown; it is used once it came."""
        pending: Deferred[Profile | None] = Deferred()
        calls: list[Address] = []

        def fetch(requester: Address, contact: Address) -> Deferred[Profile | None]:
            calls.append(contact)
            return pending

        self.directory.fetch_profile = fetch
        self.directory.names[PETER.key] = "Pete"
        self.assertEqual(self.shown(PETER), ("Pete", None))  # at once, with what is known
        self.assertEqual(self.shown(PETER), ("Pete", None))
        self.assertEqual(calls, [PETER])  # one fetch under way, not one per message
        pending.callback(Profile("Peter Smith", None, "https://img.test/p.png"))
        self.assertEqual(self.shown(PETER), ("Peter Smith", "https://img.test/p.png"))

    def test_profile_at_once(self) -> None:
        """A profile the other side answers at once is used at once; failures show none."""
        self.directory.fetch_profile = lambda r, c: (
            succeed(Profile("Sue")) if c == SUE else Deferred.fromCoroutine(_raise())
        )
        self.assertEqual(self.shown(SUE), ("Sue", None))
        self.assertEqual(self.shown(PETER), (None, None))
        self.flushLoggedErrors()


async def _raise() -> Profile | None:
    raise ValueError("no vCard")


class ConversationsTests(SynchronousTestCase):
    """
    Pairs and their platform conversations; reply targets.
    """

    def test_pair_of(self) -> None:
        """A conversation's reference finds the session with its owner first."""
        store, clock = MemoryStore(), Clock()
        conversations = Conversations(store, clock)
        john = Address("john", "acme.test")
        session = self.successResultOf(Deferred.fromCoroutine(conversations.session(PETER, john)))
        self.successResultOf(Deferred.fromCoroutine(conversations.bind(session, "toy:T1", "C1")))
        found = self.successResultOf(
            Deferred.fromCoroutine(conversations.pair_of("toy:T1", "acme.test", "C1"))
        )
        self.assertEqual(found[1:], (john, PETER))
        ref = Deferred.fromCoroutine(conversations.ref("toy:T1", session))
        self.assertEqual(self.successResultOf(ref), "C1")
        for args in (
            ("toy:T1", "acme.test", "C2"),
            ("toy:T1", "other.test", "C1"),
            ("toy:T1", "acme.test", None),
        ):
            self.assertIsNone(
                self.successResultOf(Deferred.fromCoroutine(conversations.pair_of(*args)))
            )

    def test_reply_targets(self) -> None:
        """A reply goes to the contact replied to, else the last who wrote."""
        targets = ReplyTargets(size=10)
        self.assertIsNone(targets.target("conv"))
        targets.posted("conv", "m1", PETER)
        targets.posted("conv", "m2", SUE)
        self.assertEqual(targets.target("conv"), SUE)
        self.assertEqual(targets.target("conv", reply_to="m1"), PETER)
        self.assertEqual(targets.target("conv", reply_to="unknown"), SUE)
        self.assertIsNone(targets.target("other"))
