# -*- test-case-name: tests.xmpp.test_styling -*-
"""
Tests for L{nextplane.connectors.xmpp.styling}: XEP-0393 Message Styling.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.xmpp.styling import WORD_JOINER, format_styling, parse_styling
from nextplane.connectors.xmpp.xhtml import plain_text
from nextplane.model.address import Address
from nextplane.model.text import (
    Bold,
    Code,
    Emoji,
    Italic,
    LineBreak,
    Link,
    Mention,
    Node,
    Pre,
    RichText,
    Strike,
    Text,
)

#: Characters parsing may drop: span directives and the escape.
MARKUP = frozenset("*_~`" + WORD_JOINER)

_tricky = st.sampled_from(
    [
        "*",
        "_",
        "~",
        "`",
        "```",
        ">",
        "> ",
        " ",
        "\n",
        "\t",
        WORD_JOINER,
        "a",
        "b",
        "é",
        "😀",
        "\u00a0",
        "\r",
    ]
)
#: Text biased towards markup characters and their neighbours.
texts = st.lists(st.one_of(_tricky, st.characters()), max_size=40).map("".join)
urls = st.sampled_from(
    [
        "https://example.test/a_b*c",
        "http://x.test/",
        "xmpp:juliet@capulet.test",
        "mailto:a@b.test",
        "javascript:alert(1)",
        "_x_",
    ]
)
leaves = st.one_of(
    st.builds(Text, texts),
    st.builds(Code, texts),
    st.builds(Pre, texts, st.none() | st.text(max_size=6)),
    st.builds(
        Mention, texts.filter(bool), st.none() | st.just(Address.parse("juliet@capulet.test"))
    ),
    st.builds(Emoji, st.sampled_from(["😀", "👍🏽", "🇫🇷", "❤️", "*"])),
    st.just(LineBreak()),
    st.builds(Link, urls),
)
nodes = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(Bold, st.lists(children, max_size=4)),
        st.builds(Italic, st.lists(children, max_size=4)),
        st.builds(Strike, st.lists(children, max_size=4)),
        st.builds(Link, urls, st.lists(children, max_size=3)),
    ),
    max_leaves=16,
)
trees = st.lists(nodes, max_size=8).map(RichText)


def is_subsequence(needle: str | list[str], haystack: str | list[str]) -> bool:
    """Whether every item of C{needle} appears in C{haystack}, in order."""
    remaining = iter(haystack)
    return all(any(item == other for other in remaining) for item in needle)


def kept(source: str) -> list[str]:
    """
    The characters parsing must keep: everything except markup characters,
    newlines, and lines that start with a code fence.
    """
    return [
        char
        for line in source.split("\n")
        if not line.startswith("```")
        for char in line
        if char not in MARKUP
    ]


def without_markup(text: str) -> list[str]:
    """The characters of C{text} that are not markup or newlines."""
    return [char for char in text if char not in MARKUP and char != "\n"]


def has_node(tree: RichText, kinds: tuple[type, ...]) -> bool:
    """Whether a tree has a node of one of C{kinds}, at any depth."""
    stack: list[Node] = list(tree.nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, kinds):
            return True
        if isinstance(node, Bold | Italic | Strike | Link):
            stack.extend(node.children)
    return False


def rendered(nodes: tuple[Node, ...]) -> str:
    """
    The plain text a formatted tree shows: like C{plain_text}, but links
    with a label show C{label (url)}.
    """
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, Link):
            if node.children == (Text(node.url),) or not plain_text(node.children).strip():
                parts.append(node.url)
            else:
                parts.append(f"{rendered(node.children)} ({node.url})")
        elif isinstance(node, Bold | Italic | Strike):
            parts.append(rendered(node.children))
        else:
            parts.append(RichText([node]).plain_text())
    return "".join(parts)


class ParseTests(SynchronousTestCase):
    """
    Tests for L{parse_styling}.
    """

    def assertParses(self, body: str, *expected: Node) -> None:
        self.assertEqual(parse_styling(body), RichText(expected))

    def test_spans(self) -> None:
        """Strong, emphasis, strike and preformatted spans become their nodes."""
        self.assertParses(
            "*strong* _em_ ~gone~ `code`",
            Bold([Text("strong")]),
            Text(" "),
            Italic([Text("em")]),
            Text(" "),
            Strike([Text("gone")]),
            Text(" "),
            Code("code"),
        )

    def test_opening_after_non_whitespace(self) -> None:
        """An opening directive inside a word is plain text."""
        self.assertParses("snake_case_name and 2*3*4", Text("snake_case_name and 2*3*4"))

    def test_opening_followed_by_whitespace(self) -> None:
        """An opening directive followed by whitespace is plain text."""
        self.assertParses("* not strong*", Text("* not strong*"))

    def test_closing_after_whitespace(self) -> None:
        """A closing directive after whitespace does not close the span."""
        self.assertParses("*not strong *", Text("*not strong *"))

    def test_closing_later(self) -> None:
        """The span closes at the first valid closing directive."""
        self.assertParses("*a * b* c*", Bold([Text("a * b")]), Text(" c*"))

    def test_empty_span(self) -> None:
        """Two directives with nothing between them are plain text."""
        self.assertParses("** __ ~~", Text("** __ ~~"))

    def test_spans_end_with_the_line(self) -> None:
        """A span never crosses a line break."""
        self.assertParses("*one\ntwo*", Text("*one"), LineBreak(), Text("two*"))

    def test_nested(self) -> None:
        """Different spans nest; the same kind does not."""
        self.assertParses("_*both*_", Italic([Bold([Text("both")])]))
        self.assertParses("**x**", Bold([Text("*x")]), Text("*"))

    def test_after_closing(self) -> None:
        """Text may follow a closing directive directly."""
        self.assertParses("*a*b", Bold([Text("a")]), Text("b"))

    def test_preformatted_span_not_styled(self) -> None:
        """Nothing inside a preformatted span is styled."""
        self.assertParses("`*not bold*`", Code("*not bold*"))

    def test_code_block(self) -> None:
        """A fenced block is a L{Pre} with the hint as its language."""
        self.assertParses(
            "before\n```python\nx = *y*\n\n```\nafter",
            Text("before"),
            LineBreak(),
            Pre("x = *y*\n", "python"),
            LineBreak(),
            Text("after"),
        )

    def test_unclosed_code_block(self) -> None:
        """A block without a closing fence ends with the message."""
        self.assertParses("```\na\nb", Pre("a\nb"))

    def test_quote(self) -> None:
        """Quote markers are kept and the quoted text is styled."""
        self.assertParses("> quoted *bold*", Text("> quoted "), Bold([Text("bold")]))
        self.assertParses(">>*bold*", Text(">>"), Bold([Text("bold")]))

    def test_escape(self) -> None:
        """A word joiner makes the next directive plain and is dropped."""
        self.assertParses(f"{WORD_JOINER}*not bold*", Text("*not bold*"))
        self.assertParses(f"a{WORD_JOINER}b", Text(f"a{WORD_JOINER}b"))

    def test_escaped_fence_in_block(self) -> None:
        """A word joiner before a fence-like line inside a block is dropped."""
        self.assertParses(f"```\n{WORD_JOINER}```\n```", Pre("```"))

    def test_empty(self) -> None:
        """An empty body is an empty tree."""
        self.assertParses("")

    def test_long_line(self) -> None:
        """Many unmatched openers on one long line parse quickly."""
        body = " *a _b ~c" * 20_000
        self.assertEqual(parse_styling(body).plain_text(), body)

    @given(texts)
    @settings(max_examples=400)
    def test_total(self, body: str) -> None:
        """Parsing any text gives a tree."""
        self.assertIsInstance(parse_styling(body), RichText)

    @given(texts)
    @settings(max_examples=400)
    def test_keeps_text(self, body: str) -> None:
        """
        The plain text is the input with only markup removed: every character
        of it comes from the input in order, and every character of the input
        except directives, word joiners and fence lines is in it.
        """
        plain = parse_styling(body).plain_text()
        self.assertTrue(is_subsequence(plain, body))
        self.assertTrue(is_subsequence(kept(body), without_markup(plain)))

    @given(st.text().filter(lambda text: not MARKUP.intersection(text)))
    def test_plain_unchanged(self, body: str) -> None:
        """Text without markup characters is kept exactly."""
        self.assertEqual(parse_styling(body).plain_text(), body)

    @given(texts)
    @settings(max_examples=400)
    def test_format_inverts_parse(self, body: str) -> None:
        """Formatting a parsed body and parsing it again keeps its plain text."""
        parsed = parse_styling(body)
        self.assertEqual(parse_styling(format_styling(parsed)).plain_text(), parsed.plain_text())


class FormatTests(SynchronousTestCase):
    """
    Tests for L{format_styling}.
    """

    def test_spans(self) -> None:
        """Styles become XEP-0393 directives."""
        tree = RichText(
            [
                Bold([Text("strong")]),
                Text(" "),
                Italic([Text("em")]),
                Text(" "),
                Strike([Text("gone")]),
                Text(" "),
                Code("x = 1"),
            ]
        )
        self.assertEqual(format_styling(tree), "*strong* _em_ ~gone~ `x = 1`")

    def test_nested_and_adjacent(self) -> None:
        """Nested styles close in order; adjacent runs of one style merge."""
        tree = RichText([Bold([Italic([Text("a")]), Text("b")]), Bold([Text(" c")])])
        self.assertEqual(format_styling(tree), "*_a_b c*")

    def test_whitespace_outside(self) -> None:
        """Whitespace at the edges of a style goes outside its directives."""
        tree = RichText([Text("x"), Bold([Text(" bold ")]), Text("y")])
        self.assertEqual(format_styling(tree), "x *bold* y")

    def test_inside_word_dropped(self) -> None:
        """A style starting inside a word cannot be written and is dropped."""
        tree = RichText([Text("un"), Bold([Text("believ")]), Text("able")])
        self.assertEqual(format_styling(tree), "unbelievable")

    def test_own_directive_drops_style(self) -> None:
        """A style around text containing its own directive is dropped."""
        tree = RichText([Bold([Text("2*3")]), Text(" "), Code("a`b")])
        self.assertEqual(format_styling(tree), "2*3 a`b")

    def test_literal_escaped(self) -> None:
        """Literal text that would parse as styling is escaped."""
        tree = RichText([Text("*not bold* and ```")])
        formatted = format_styling(tree)
        self.assertEqual(formatted, f"{WORD_JOINER}*not bold* and {WORD_JOINER}```")
        self.assertEqual(parse_styling(formatted), tree)

    def test_urls_not_escaped(self) -> None:
        """Directive characters inside words, as in URLs, are left alone."""
        tree = RichText([Text("see https://x.test/a_b_c and snake_case")])
        self.assertEqual(format_styling(tree), "see https://x.test/a_b_c and snake_case")

    def test_links(self) -> None:
        """Links show their label and URL, or the bare URL."""
        tree = RichText(
            [
                Link("https://x.test/", [Text("site")]),
                Text(" "),
                Link("https://y.test/"),
                Text(" "),
                Link("https://z.test/", [Text("https://z.test/")]),
            ]
        )
        self.assertEqual(
            format_styling(tree), "site (https://x.test/) https://y.test/ https://z.test/"
        )

    def test_mentions_emoji_breaks(self) -> None:
        """Mentions are @name, emoji Unicode, line breaks newlines."""
        tree = RichText(
            [
                Mention("Juliet", Address.parse("juliet@capulet.test")),
                LineBreak(),
                Emoji("👍", ":+1:"),
                Text("a\nb"),
            ]
        )
        self.assertEqual(format_styling(tree), "@Juliet\n👍a\nb")

    def test_pre(self) -> None:
        """A code block is fenced on lines of its own, with its language."""
        tree = RichText([Text("see"), Pre("x\n```", "py"), Text("done")])
        self.assertEqual(format_styling(tree), f"see\n```py\nx\n{WORD_JOINER}```\n```\ndone")

    def test_deep(self) -> None:
        """A very deep tree is formatted without recursion."""
        node: Node = Text("deep")
        for _ in range(20_000):
            node = Bold([node])
        self.assertEqual(format_styling(RichText([node])), "*deep*")

    @given(trees)
    @settings(max_examples=150)
    def test_total(self, tree: RichText) -> None:
        """Formatting any tree gives text."""
        self.assertIsInstance(format_styling(tree), str)

    @given(trees.filter(lambda tree: not has_node(tree, (Link, Pre))))
    @settings(max_examples=150)
    def test_round_trip(self, tree: RichText) -> None:
        """Re-parsing a formatted tree without links or blocks keeps its plain text."""
        self.assertEqual(parse_styling(format_styling(tree)).plain_text(), tree.plain_text())

    @given(trees)
    @settings(max_examples=150)
    def test_round_trip_links_and_blocks(self, tree: RichText) -> None:
        """
        Re-parsing any formatted tree gives its plain text, with link URLs
        after their labels and possibly new line breaks around code blocks.
        """
        again = parse_styling(format_styling(tree)).plain_text()
        self.assertEqual(again.replace("\n", ""), rendered(tree.nodes).replace("\n", ""))
        self.assertTrue(is_subsequence(plain_text(tree.nodes), again) or has_node(tree, (Link,)))


class PlainFastPathTests(SynchronousTestCase):
    """
    Unstyled text skips the per-character rendering; the result is what
    the full rendering gives.
    """

    @given(st.text(), st.text())
    def test_same_as_full_rendering(self, first: str, second: str) -> None:
        """
        A plain text formats exactly as the same text split by a line
        break (which takes the full rendering path) does.
        """
        fast = format_styling(RichText((Text(first + "\n" + second),)))
        full = format_styling(RichText((Text(first), LineBreak(), Text(second))))
        self.assertEqual(fast, full)

    def test_directive_characters_still_escaped(self) -> None:
        """
        Plain text that looks like styling is still escaped.
        """
        self.assertEqual(format_styling(RichText.plain("*not bold*")), WORD_JOINER + "*not bold*")
