"""
Tests for L{tests.interop.crash.ledger}: the crash suite's accounting.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from .ledger import Leg, sequence, text


class TextTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        """
        A message's number is read back from its text, on its own leg only.
        """
        found = f"*Peter*: {text('xmpp', 42)}"
        self.assertEqual(sequence("xmpp", found), 42)
        self.assertIsNone(sequence("sip", found))
        self.assertIsNone(sequence("xmpp", "not delivered"))


class LegTests(SynchronousTestCase):
    def leg(self) -> Leg:
        leg = Leg("xmpp")
        leg.sent = set(range(6))
        return leg

    def test_outcomes(self) -> None:
        """
        Each message falls in one outcome: delivered, told, ambiguous
        (both), lost (accepted, neither), unaccepted (neither, never
        accepted); a double arrival is a duplicate.
        """
        leg = self.leg()
        leg.accepted = {0, 1, 2, 3}
        for n in (0, 2, 2, 5):
            leg.arrived(n)
        leg.told = {1, 2}
        figures = leg.figures()
        self.assertEqual(
            (figures["delivered"], figures["told"], figures["ambiguous"]), (2, 1, 1), figures
        )
        self.assertEqual((figures["lost"], figures["unaccepted"]), (1, 1), figures)
        self.assertEqual(figures["duplicated"], 1)

    def test_early_success(self) -> None:
        """
        A success reported for a message that never arrived is counted.
        """
        leg = self.leg()
        leg.accepted = {0, 1}
        leg.arrived(0)
        leg.succeeded = {0, 1}
        self.assertEqual(leg.figures()["early_success"], 1)

    def test_conversation_notices(self) -> None:
        """
        Notices naming only a conversation tell that conversation's
        accepted messages that did not arrive; one more is ambiguous.
        """
        leg = self.leg()
        leg.accepted = {0, 1, 2, 3}
        leg.conversation = {0: "a", 1: "a", 2: "b", 3: "b"}
        leg.arrived(2)
        leg.notices_in(["a", "a", "b", "b"])
        figures = leg.figures()
        self.assertEqual((figures["told"], figures["lost"], figures["ambiguous"]), (3, 0, 1))
        leg.notices_in(["a"])
        self.assertEqual(leg.figures()["lost"], 2)
