# -*- test-case-name: tests.teams.test_format -*-
"""
Tests for L{nextplane.connectors.teams.format}.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.activity import MentionEntity
from nextplane.connectors.teams.format import (
    MAX_DEPTH,
    parse_teams_html,
    to_teams_html,
    to_teams_markdown,
)
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

from ..slack.strategies import rich_texts


def ids(mention: Mention) -> str | None:
    return {"Ada": "29:ada"}.get(mention.name)


class ReadTests(SynchronousTestCase):
    """
    L{parse_teams_html} reads what Teams sends.
    """

    def test_plain(self) -> None:
        """Plain text reads as itself."""
        self.assertEqual(parse_teams_html("hello world"), RichText([Text("hello world")]))

    def test_styles(self) -> None:
        """Bold, italic, strike, code and pre are read."""
        tree = parse_teams_html(
            "<p><b>b</b> <strong>s</strong> <i>i</i><em>e</em> <s>x</s><del>d</del> "
            "<code>c</code></p><pre>line 1\n<b>2</b></pre>"
        )
        self.assertEqual(
            tree.nodes,
            (
                Bold([Text("b")]),
                Text(" "),
                Bold([Text("s")]),
                Text(" "),
                Italic([Text("i")]),
                Italic([Text("e")]),
                Text(" "),
                Strike([Text("x")]),
                Strike([Text("d")]),
                Text(" "),
                Code("c"),
                LineBreak(),
                Pre("line 1\n2"),
            ),
        )

    def test_blocks(self) -> None:
        """Paragraphs, divs and list items are lines; source newlines between tags are not."""
        tree = parse_teams_html(
            "<div>\n<p>one</p>\n<p>two</p>\n<ul><li>a</li><li>b</li></ul></div>"
        )
        self.assertEqual(tree.plain_text(), "one\ntwo\n• a\n• b")

    def test_entities(self) -> None:
        """Entities are decoded."""
        self.assertEqual(
            parse_teams_html("a &amp; b &lt;c&gt; &#128512;").plain_text(), "a & b <c> 😀"
        )

    def test_links(self) -> None:
        """Safe links are kept, unsafe ones keep only their label."""
        self.assertEqual(
            parse_teams_html('<a href="https://x.test/">label</a>').nodes,
            (Link("https://x.test/", [Text("label")]),),
        )
        self.assertEqual(
            parse_teams_html('<a href="javascript:alert(1)">label</a>').nodes, (Text("label"),)
        )

    def test_mentions(self) -> None:
        """At tags become mentions, resolved through the entities."""
        entity = MentionEntity("29:ada", "Ada", "<at>Ada</at>")
        resolved = Mention("Ada Lovelace")
        tree = parse_teams_html(
            "Hi <at>Ada</at> and <at>Bob</at>",
            [entity],
            lambda e: resolved if e.id == "29:ada" else None,
        )
        self.assertEqual(tree.nodes, (Text("Hi "), resolved, Text(" and "), Mention("Bob")))

    def test_emoji(self) -> None:
        """Emoji elements and emoji images become emoji; other images their alt text."""
        tree = parse_teams_html(
            '<emoji id="smile" alt="😄" title="Smile"></emoji>'
            '<img itemtype="http://schema.skype.com/Emoji" alt="👍" src="x">'
            '<img alt="chart" src="https://x.test/c.png">'
        )
        self.assertEqual(tree.nodes, (Emoji("😄"), Emoji("👍"), Text("chart")))

    def test_hidden(self) -> None:
        """Script and style content is never shown."""
        self.assertEqual(
            parse_teams_html("<style>p{}</style>a<script>x()</script>").plain_text(), "a"
        )

    def test_deep_nesting(self) -> None:
        """Very deep nesting is flattened, not a crash."""
        text = "<b>" * (MAX_DEPTH * 10) + "deep" + "</b>" * (MAX_DEPTH * 10)
        self.assertEqual(parse_teams_html(text).plain_text(), "deep")

    def test_unclosed(self) -> None:
        """Unclosed elements are closed at the end."""
        self.assertEqual(
            parse_teams_html("<b>bold <i>both").nodes,
            (Bold([Text("bold "), Italic([Text("both")])]),),
        )


class WriteTests(SynchronousTestCase):
    """
    L{to_teams_html} and L{to_teams_markdown} write Teams text.
    """

    TREE = RichText(
        [
            Bold([Text("b")]),
            Italic([Text("i")]),
            Strike([Text("s")]),
            Code("x<y"),
            LineBreak(),
            Link("https://x.test/?a=1&b=2", [Text("here")]),
            Text(" <tag> & "),
            Mention("Ada"),
            Text(" "),
            Mention("Nobody"),
            Emoji("😄", "smile"),
            Pre("a\nb"),
        ]
    )

    def test_html(self) -> None:
        """HTML uses Teams' subset, escapes text and adds mention entities."""
        written = to_teams_html(self.TREE, ids)
        self.assertEqual(
            written.text,
            "<b>b</b><i>i</i><s>s</s><code>x&lt;y</code><br>"
            '<a href="https://x.test/?a=1&amp;b=2">here</a> &lt;tag&gt; &amp; '
            "<at>Ada</at> @Nobody😄<pre>a\nb</pre>",
        )
        self.assertEqual(written.text_format, "xml")
        self.assertEqual(
            written.entities,
            (
                {
                    "type": "mention",
                    "text": "<at>Ada</at>",
                    "mentioned": {"id": "29:ada", "name": "Ada"},
                },
            ),
        )
        self.assertNotIn("here", repr(written))

    def test_unsafe_link_written_as_label(self) -> None:
        """An unsafe URL is not made a link."""
        self.assertEqual(to_teams_html(RichText([Link("javascript:x", [Text("l")])])).text, "l")

    def test_markdown(self) -> None:
        """Markdown output marks styles and escapes markdown characters."""
        written = to_teams_markdown(
            RichText(
                [Bold([Text("b")]), Text(" *x* "), Link("https://x.test/", [Text("l")]), Code("c")]
            ),
            ids,
        )
        self.assertEqual(written.text, "**b** \\*x\\* [l](https://x.test/)`c`")
        self.assertEqual(written.text_format, "markdown")

    def test_round_trip(self) -> None:
        """Reading what was written gives the same tree for Teams' subset."""
        tree = RichText(
            [Bold([Text("b")]), Text(" "), Italic([Text("i & <j>")]), LineBreak(), Code("c")]
        )
        self.assertEqual(parse_teams_html(to_teams_html(tree).text), tree)


class PropertyTests(SynchronousTestCase):
    """
    Properties over arbitrary input.
    """

    @given(st.text())
    @settings(max_examples=200)
    def test_read_never_raises(self, text: str) -> None:
        """Reading any text, and writing the result back, never raises."""
        tree = parse_teams_html(text)
        to_teams_html(tree, ids)
        to_teams_markdown(tree, ids)

    @given(st.text(alphabet=st.sampled_from("<>&/=\"' abip!-[]\n") | st.characters(codec="utf-8")))
    @settings(max_examples=200)
    def test_read_markup_soup(self, text: str) -> None:
        """Text dense with markup characters never makes reading raise."""
        parse_teams_html(text).plain_text()

    @given(st.text(st.characters(codec="utf-8", exclude_characters="<&\r")))
    @settings(max_examples=200)
    def test_read_keeps_text(self, text: str) -> None:
        """Text without markup keeps every character."""
        self.assertEqual(parse_teams_html(text).plain_text(), _expected(text))

    @given(rich_texts)
    @settings(max_examples=200)
    def test_write_read_keeps_text(self, tree: RichText) -> None:
        """Writing any tree as HTML and reading it back keeps its plain text."""
        written = to_teams_html(tree, ids)
        self.assertEqual(parse_teams_html(written.text).plain_text(), tree.plain_text())

    @given(rich_texts)
    @settings(max_examples=200)
    def test_markdown_never_raises(self, tree: RichText) -> None:
        """Writing any tree as markdown never raises."""
        to_teams_markdown(tree, ids)


def _expected(text: str) -> str:
    # Whitespace-only runs containing a newline are source formatting.
    if re.fullmatch(r"[ \t\r\n]*\n[ \t\r\n]*", text):
        return ""
    return text
