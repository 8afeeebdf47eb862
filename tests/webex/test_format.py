"""
Tests for L{nextplane.connectors.webex.format}.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.webex.format import parse_html, parse_markdown, to_html, to_markdown
from nextplane.model.text import (
    Bold,
    Code,
    Emoji,
    Italic,
    LineBreak,
    Link,
    Mention,
    Pre,
    RichText,
    Strike,
    Text,
)

from ..slack.strategies import nodes

trees = st.lists(nodes, max_size=8).map(RichText)
MARKUP = st.text(alphabet=st.sampled_from("*_~`[]()<>@|\\#-+1. \nab:/h"), max_size=60)


class MarkdownWriteTests(SynchronousTestCase):
    def test_formatting(self) -> None:
        """Bold, italic, strike, code, links and breaks are written as Webex markdown."""
        tree = RichText(
            [
                Bold([Text("b")]),
                Text(" "),
                Italic([Text("i")]),
                Strike([Text("s")]),
                Code("c`d"),
                LineBreak(),
                Link("https://e.test/", [Text("label")]),
                Link("https://e.test/x"),
                Mention("Bob"),
                Emoji("😄", "smile"),
            ]
        )
        self.assertEqual(
            to_markdown(tree),
            "**b** *i*~~s~~``c`d``\n[label](https://e.test/)<https://e.test/x>@Bob😄",
        )

    def test_escapes(self) -> None:
        """Markdown characters in text, and line-start markers, are escaped."""
        self.assertEqual(
            to_markdown(RichText([Text("*a* [b] <c> # _d_")])), r"\*a\* \[b\] \<c\> \# \_d\_"
        )
        self.assertEqual(to_markdown(RichText.plain("- x\n1. y\n+ z")), "\\- x\n1\\. y\n\\+ z")

    def test_code_block(self) -> None:
        """Code blocks sit on lines of their own, fenced past their backticks."""
        tree = RichText([Text("a"), Pre("x\n```\ny", "py"), Text("b")])
        self.assertEqual(to_markdown(tree), "a\n````py\nx\n```\ny\n````\nb")
        self.assertEqual(parse_markdown(to_markdown(tree)), tree)

    def test_unsafe_links(self) -> None:
        """Unsafe or unwritable URLs leave only the label, or the URL as text."""
        self.assertEqual(to_markdown(RichText([Link("javascript:x()", [Text("l")])])), "l")
        self.assertEqual(to_markdown(RichText([Link("javascript:x()")])), r"javascript:x\(\)")

    def test_whitespace_outside_markers(self) -> None:
        """Markers hug the text; surrounding spaces go outside."""
        self.assertEqual(to_markdown(RichText([Bold([Text(" a ")])])), " **a** ")
        self.assertEqual(to_markdown(RichText([Bold([Text(" ")])])), " ")


class MarkdownReadTests(SynchronousTestCase):
    def test_webex_constructs(self) -> None:
        """Emphasis, code, links and Webex mentions are read."""
        tree = parse_markdown(
            "**b** __c__ *i* _j_ ~~s~~ `x` [l](https://e.test/) <https://f.test/> "
            "<@personEmail:bob@e.test|Bob> <@personId:Y2lz> <@all>"
        )
        self.assertEqual(
            tree.nodes,
            (
                Bold([Text("b")]),
                Text(" "),
                Bold([Text("c")]),
                Text(" "),
                Italic([Text("i")]),
                Text(" "),
                Italic([Text("j")]),
                Text(" "),
                Strike([Text("s")]),
                Text(" "),
                Code("x"),
                Text(" "),
                Link("https://e.test/", [Text("l")]),
                Text(" "),
                Link("https://f.test/"),
                Text(" "),
                Mention("Bob"),
                Text(" "),
                Mention("Y2lz"),
                Text(" "),
                Mention("all"),
            ),
        )

    def test_literal_delimiters(self) -> None:
        """Delimiters that open or close nothing stay text."""
        for source in ["snake_case_name", "2 * 3 * 4", "**unclosed", "a ~ b", "[x](javascript:y)"]:
            self.assertEqual(parse_markdown(source).plain_text(), source)

    @given(MARKUP)
    @settings(max_examples=300, deadline=None)
    def test_never_raises(self, source: str) -> None:
        """Any text parses."""
        parse_markdown(source)

    @given(trees)
    @settings(max_examples=300, deadline=None)
    def test_round_trip_keeps_text(self, tree: RichText) -> None:
        """Writing then reading markdown keeps the plain text."""
        self.assertEqual(parse_markdown(to_markdown(tree)).plain_text(), tree.plain_text())


class HtmlTests(SynchronousTestCase):
    def test_webex_html(self) -> None:
        """Webex's rendering is read, mentions included."""
        tree = parse_html(
            '<p><strong>Hi</strong> <spark-mention data-object-type="person" '
            'data-object-id="Y2lz">Bob</spark-mention>, see <a href="https://e.test/">this</a></p>'
            "\n<ul><li>one</li><li><em>two</em></li></ul><pre><code>x\ny</code></pre>"
            "<p>a<br/>b &amp; <del>c</del><script>bad()</script></p>"
        )
        self.assertEqual(
            tree.nodes,
            (
                Bold([Text("Hi")]),
                Text(" "),
                Mention("Bob"),
                Text(", see "),
                Link("https://e.test/", [Text("this")]),
                LineBreak(),
                Text("one"),
                LineBreak(),
                Italic([Text("two")]),
                Pre("x\ny"),
                LineBreak(),
                Text("a"),
                LineBreak(),
                Text("b & "),
                Strike([Text("c")]),
            ),
        )

    def test_unsafe_link(self) -> None:
        """An unsafe href keeps only its label."""
        self.assertEqual(parse_html('<a href="javascript:x">l</a>').nodes, (Text("l"),))

    @given(
        st.text(
            alphabet=st.sampled_from("<>![/ab&;#\"'= \npre code strong a href spark-mention"),
            max_size=80,
        )
    )
    @settings(max_examples=300, deadline=None)
    def test_never_raises(self, source: str) -> None:
        """Any text parses."""
        parse_html(source)

    @given(trees)
    @settings(max_examples=300, deadline=None)
    def test_round_trip_keeps_text(self, tree: RichText) -> None:
        """Writing then reading HTML keeps the plain text."""
        self.assertEqual(parse_html(to_html(tree)).plain_text(), tree.plain_text())
