"""
Tests for L{nextplane.sizes}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.sizes import split_text, too_long


class SplitTests(SynchronousTestCase):
    """
    L{split_text} splits at boundaries, keeps every character and refuses
    past its part count.
    """

    def test_short_unchanged(self) -> None:
        """A text within the limit is one part."""
        self.assertEqual(split_text("hello", 10, 3), ["hello"])

    def test_at_boundaries(self) -> None:
        """Paragraphs first, then lines, then words; joined, the parts are the text."""
        text = "aaaa bbbb\n\ncccc dddd eeee"
        parts = split_text(text, 12, 5)
        assert parts is not None
        self.assertEqual(parts[0], "aaaa bbbb\n\n")
        self.assertEqual("".join(parts), text)
        self.assertTrue(all(len(p) <= 12 for p in parts))
        words = split_text("one two three four five six", 10, 5)
        assert words is not None
        self.assertEqual(words[0], "one two ")
        self.assertEqual("".join(words), "one two three four five six")

    def test_no_boundary(self) -> None:
        """A text with no boundary is cut at the limit."""
        self.assertEqual(split_text("x" * 25, 10, 3), ["x" * 10, "x" * 10, "x" * 5])

    def test_entity_kept_whole(self) -> None:
        """A C{<...>} entity (a Slack link or mention) is never cut."""
        text = "x" * 8 + "<https://a.test|a>" + "y" * 5
        parts = split_text(text, 20, 5)
        assert parts is not None
        self.assertEqual(parts[0], "x" * 8)
        self.assertTrue(parts[1].startswith("<https://a.test|a>"))
        self.assertEqual("".join(parts), text)

    def test_too_many_parts(self) -> None:
        """More parts than allowed: refused, without looking further."""
        self.assertIsNone(split_text("x" * 31, 10, 3))
        self.assertIsNone(split_text("x" * 10_000_000, 40_000, 4))
        # Where boundaries would waste too much room, parts are cut full.
        self.assertEqual(
            split_text("aaaaaaa bbbbbbb ccccccc dddd", 10, 3),
            ["aaaaaaa bb", "bbbbb cccc", "ccc dddd"],
        )

    def test_too_long(self) -> None:
        """The failure says how long, never what."""
        failure = too_long("Slack", 50_000, 40_000, 1)
        self.assertEqual(failure.condition, "policy-violation")
        self.assertIn("50,000 characters, at most 40,000", failure.reason)
