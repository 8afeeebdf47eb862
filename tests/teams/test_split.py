# -*- test-case-name: tests.teams.test_split -*-
"""
Tests for L{nextplane.connectors.teams.split}.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams import api
from nextplane.connectors.teams.format import to_teams_html
from nextplane.connectors.teams.split import size_of, split_for_teams
from nextplane.model.text import Bold, LineBreak, RichText, Text

from ..slack.strategies import rich_texts


def fits(piece: RichText, budget: int) -> bool:
    return size_of(to_teams_html(piece).text) <= budget


class SplitTests(SynchronousTestCase):
    """
    Long messages are cut into pieces that fit, keeping the text.
    """

    def test_short_untouched(self) -> None:
        """A message that fits is one piece, itself."""
        tree = RichText([Bold([Text("hi")])])
        self.assertEqual(split_for_teams(tree), [tree])

    def test_between_nodes(self) -> None:
        """Pieces are cut between top-level nodes, keeping formatting."""
        tree = RichText([Bold([Text("a" * 30)]), LineBreak(), Bold([Text("b" * 30)])])
        pieces = split_for_teams(tree, budget=100)
        self.assertEqual(
            pieces,
            [RichText([Bold([Text("a" * 30)]), LineBreak()]), RichText([Bold([Text("b" * 30)])])],
        )

    def test_long_text_cut_at_spaces(self) -> None:
        """An oversized text is cut between words."""
        words = " ".join(["word"] * 100)
        pieces = split_for_teams(RichText([Text(words)]), budget=120)
        self.assertTrue(all(fits(p, 120) for p in pieces))
        self.assertEqual("".join(p.plain_text() for p in pieces), words)
        self.assertTrue(all(p.plain_text().endswith(" ") for p in pieces[:-1]))

    def test_real_limit(self) -> None:
        """A 150,000-character message becomes activities under Teams' 100 KB."""
        tree = RichText.plain(("é" * 99 + "\n") * 1500)
        pieces = split_for_teams(tree)
        self.assertGreater(len(pieces), 2)
        for piece in pieces:
            activity = api.message_activity(to_teams_html(piece).text, "xml")
            self.assertLessEqual(api.payload_size(activity), api.MAX_PAYLOAD)
        self.assertEqual("".join(p.plain_text() for p in pieces), tree.plain_text())

    @given(rich_texts, st.integers(min_value=40, max_value=400))
    @settings(max_examples=100)
    def test_pieces_fit_and_keep_text(self, tree: RichText, budget: int) -> None:
        """Every piece fits and the pieces' text, joined, is the original text."""
        pieces = split_for_teams(tree, budget=budget)
        self.assertTrue(pieces)
        if len(pieces) > 1:
            self.assertTrue(all(fits(p, budget) for p in pieces))
        self.assertEqual("".join(p.plain_text() for p in pieces), tree.plain_text())
