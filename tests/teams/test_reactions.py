# -*- test-case-name: tests.teams.test_reactions -*-
"""
Tests for L{nextplane.connectors.teams.reactions}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.reactions import reaction_emoji, reaction_line, reaction_type


class ReactionTests(SynchronousTestCase):
    """
    Reaction types, emoji and text lines.
    """

    def test_types(self) -> None:
        """Classic types map to emoji and back; emoji types are kept; unknown names are None."""
        self.assertEqual(reaction_emoji("like"), "👍")
        self.assertEqual(reaction_emoji("heart"), "❤️")
        self.assertEqual(reaction_emoji("🎉"), "🎉")
        self.assertIsNone(reaction_emoji("celebrate"))
        self.assertIsNone(reaction_emoji(""))
        self.assertEqual(reaction_type("😆"), "laugh")
        self.assertEqual(reaction_type("❤"), "heart")
        self.assertIsNone(reaction_type("🎉"))

    def test_line(self) -> None:
        """The line names the contact, the emoji and the start of the message."""
        self.assertEqual(reaction_line("Alice", "👍"), "Alice reacted 👍")
        self.assertEqual(
            reaction_line("Alice", "👍", "see you\n at  noon"),
            "Alice reacted 👍 to “see you at noon”",
        )
        long = reaction_line("Bob", "😢", "x" * 100, removed=True)
        self.assertTrue(long.startswith("Bob took back 😢 to “xxx"))
        self.assertTrue(long.endswith("…”"))
        self.assertLess(len(long), 70)
