"""
Tests for L{nextplane.connectors.webex.split}.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex.format import parse_markdown
from nextplane.connectors.webex.split import MESSAGE_BYTES, MessageTooLong, split_message
from nextplane.model.text import Bold, Pre, RichText, Text

from ..slack.strategies import nodes


class SplitTests(SynchronousTestCase):
    def test_fits(self) -> None:
        """A short message is one piece: markdown and its text fallback."""
        self.assertEqual(
            split_message(RichText([Bold([Text("hi")]), Text(" there")])),
            [("**hi** there", "hi there")],
        )

    def test_split_between_words(self) -> None:
        """A long text is cut after spaces, each piece within the byte limit."""
        words = " ".join(f"wörd{i}" for i in range(3000))
        pieces = split_message(RichText([Text(words)]))
        self.assertGreater(len(pieces), 1)
        for markdown, text in pieces:
            self.assertLessEqual(len(markdown.encode("utf-8")), MESSAGE_BYTES)
            self.assertLessEqual(len(text.encode("utf-8")), MESSAGE_BYTES)
        self.assertEqual("".join(text for _, text in pieces), words)

    def test_blocks_kept_whole(self) -> None:
        """Code blocks go whole into a piece of their own when needed."""
        block = Pre("x" * 5000)
        pieces = split_message(RichText([Text("a " * 2000), block, Text("b")]))
        self.assertIn(block, [n for md, _ in pieces for n in parse_markdown(md).nodes])

    def test_refused(self) -> None:
        """An unbreakable unit over the limit, or too many pieces, is refused."""
        error = self.assertRaises(MessageTooLong, split_message, RichText([Pre("x" * 8000)]))
        self.assertIn("7439", error.reason)
        self.assertRaises(MessageTooLong, split_message, RichText([Text("y" * 8000)]))
        many = RichText([Text("word " * 20000)])
        self.assertRaises(MessageTooLong, split_message, many, max_pieces=3)

    @given(st.lists(nodes, max_size=12).map(RichText), st.integers(min_value=60, max_value=400))
    @settings(max_examples=150, deadline=None)
    def test_pieces_fit_and_keep_text(self, tree: RichText, limit: int) -> None:
        """Pieces fit the limit and together keep the text, or the message is refused."""
        try:
            pieces = split_message(tree, limit=limit, max_pieces=100)
        except MessageTooLong:
            return
        for markdown, text in pieces:
            self.assertLessEqual(len(markdown.encode("utf-8")), limit)
            self.assertLessEqual(len(text.encode("utf-8")), limit)
        self.assertEqual("".join(text for _, text in pieces), tree.plain_text())
