# -*- test-case-name: tests.xmpp.test_xhtml -*-
"""
Tests for L{nextplane.connectors.xmpp.xhtml}: XEP-0071 XHTML-IM.
"""

from __future__ import annotations

from hypothesis import given, settings
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish.domish import Element

from nextplane.connectors.xmpp.namespaces import xml_text
from nextplane.connectors.xmpp.xhtml import (
    MAX_DEPTH,
    format_xhtml_im,
    has_markup,
    parse_xhtml_im,
    plain_text,
    safe_url,
)
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

from .test_stanzas import assert_xml, parse_xml
from .test_styling import trees

XHTML_IM = "http://jabber.org/protocol/xhtml-im"
XHTML = "http://www.w3.org/1999/xhtml"


def html(body: str, *, extra: str = "") -> Element:
    """An XHTML-IM wrapper around C{body}, written as text."""
    return parse_xml(f"<html xmlns='{XHTML_IM}'>{extra}<body xmlns='{XHTML}'>{body}</body></html>")


class ParseTests(SynchronousTestCase):
    """
    Tests for L{parse_xhtml_im}.
    """

    def assertParses(self, body: str, *expected: Node) -> None:
        self.assertEqual(parse_xhtml_im(html(body)), RichText(expected))

    def test_inline(self) -> None:
        """Inline formatting elements become their nodes."""
        self.assertParses(
            "<strong>a</strong><b>b</b> <em>c</em><i>d</i> <del>e</del><s>f</s> <code>g</code>",
            Bold([Text("a")]),
            Bold([Text("b")]),
            Text(" "),
            Italic([Text("c")]),
            Italic([Text("d")]),
            Text(" "),
            Strike([Text("e")]),
            Strike([Text("f")]),
            Text(" "),
            Code("g"),
        )

    def test_style_attribute(self) -> None:
        """CSS in the style attribute gives strike, bold and italic."""
        self.assertParses(
            "<span style='text-decoration: line-through'>x</span>"
            "<span style='FONT-WEIGHT:700; font-style: italic'>y</span>"
            "<span style='color: red'>z</span>",
            Strike([Text("x")]),
            Bold([Italic([Text("y")])]),
            Text("z"),
        )

    def test_links(self) -> None:
        """Links with safe schemes survive; others keep only their text."""
        self.assertParses(
            "<a href='https://x.test/a?b=c'>web</a> <a href='xmpp:juliet@capulet.test'>me</a> "
            "<a href='mailto:a@b.test'>mail</a> <a href='javascript:alert(1)'>evil</a> "
            "<a href='data:text/html,x'>data</a> <a>none</a> <a href='https://x.test/'/>",
            Link("https://x.test/a?b=c", [Text("web")]),
            Text(" "),
            Link("xmpp:juliet@capulet.test", [Text("me")]),
            Text(" "),
            Link("mailto:a@b.test", [Text("mail")]),
            Text(" evil data none "),
            Link("https://x.test/"),
        )

    def test_blocks_and_breaks(self) -> None:
        """Paragraphs are lines; br is a line break; whitespace collapses."""
        self.assertParses(
            "\n  <p>one   two\n three</p>\n  <p>four<br/>five</p><div>six</div>\n",
            Text("one two three"),
            LineBreak(),
            Text("four"),
            LineBreak(),
            Text("five"),
            LineBreak(),
            Text("six"),
        )

    def test_lists(self) -> None:
        """List items are lines with a bullet."""
        self.assertParses(
            "<ul><li>a</li><li><strong>b</strong></li></ul>",
            Text("• a"),
            LineBreak(),
            Text("• "),
            Bold([Text("b")]),
        )

    def test_block_inside_inline(self) -> None:
        """Block elements inside inline ones still separate lines."""
        self.assertParses(
            "<strong><p>a</p></strong><strong><p>b</p></strong>",
            Bold([Text("a")]),
            LineBreak(),
            Bold([Text("b")]),
        )

    def test_pre(self) -> None:
        """Preformatted text keeps its whitespace, without a leading newline."""
        self.assertParses(
            "x<pre>\n  a  b\n<b>c</b></pre>y",
            Text("x"),
            LineBreak(),
            Pre("  a  b\nc"),
            LineBreak(),
            Text("y"),
        )

    def test_unknown_elements(self) -> None:
        """Unknown elements, in any namespace, keep their text."""
        self.assertParses(
            "<blink>a</blink> <x:y xmlns:x='urn:other'>b</x:y> <table><tr><td>c</td></tr></table>",
            Text("a b"),
            LineBreak(),
            Text("c"),
        )

    def test_hidden(self) -> None:
        """Scripts and styles are never shown."""
        self.assertParses("a<script>alert(1)</script><style>p {}</style>b", Text("ab"))

    def test_images(self) -> None:
        """Images are their alt text; nothing is fetched."""
        self.assertParses(
            "<img src='https://tracker.test/p.gif' alt=':-)'/><img src='https://x.test/a.png'/>",
            Text(":-)"),
        )

    def test_language(self) -> None:
        """The body without xml:lang is preferred."""
        element = parse_xml(
            f"<html xmlns='{XHTML_IM}'><body xmlns='{XHTML}' xml:lang='de'>hallo</body>"
            f"<body xmlns='{XHTML}'>hello</body></html>"
        )
        self.assertEqual(parse_xhtml_im(element), RichText([Text("hello")]))

    def test_not_xhtml_im(self) -> None:
        """Other elements, or a wrapper without an XHTML body, give None."""
        self.assertIsNone(parse_xhtml_im(parse_xml("<html xmlns='urn:other'/>")))
        self.assertIsNone(
            parse_xhtml_im(parse_xml(f"<html xmlns='{XHTML_IM}'><body>x</body></html>"))
        )
        self.assertIsNone(parse_xhtml_im("<html/>"))  # type: ignore[arg-type]

    def test_deep(self) -> None:
        """Nesting beyond the limit is flattened to its text."""
        depth = 5000
        element = html("<em>" * depth + "deep <b>x</b>" + "</em>" * depth)
        parsed = parse_xhtml_im(element)
        assert parsed is not None
        self.assertEqual(plain_text(parsed.nodes), "deep x")
        nesting = 0
        node: Node = parsed.nodes[0]
        while isinstance(node, Italic):
            nesting += 1
            node = node.children[0]
        self.assertLessEqual(nesting, MAX_DEPTH + 1)

    def test_wide(self) -> None:
        """Many siblings are read."""
        parsed = parse_xhtml_im(html("<b>x</b>" * 10_000))
        assert parsed is not None
        self.assertEqual(len(plain_text(parsed.nodes)), 10_000)


class SafeUrlTests(SynchronousTestCase):
    """
    Tests for L{safe_url}.
    """

    def test_allowed(self) -> None:
        """http, https, xmpp and mailto URLs are allowed, in any case."""
        for url in ("https://x.test/", "HTTP://x.test", "xmpp:a@b.test?message", "mailto:a@b.test"):
            self.assertEqual(safe_url(f" {url} "), url)

    def test_refused(self) -> None:
        """Other schemes, whitespace, controls and huge URLs are refused."""
        for url in (
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "file:///etc/passwd",
            "https:x",
            "https://",
            "https://x.test/a b",
            "https://x.test/\x00",
            "https://x.test/\u202e",
            "//x.test/",
            "x.test",
            "",
            "https://x.test/" + "a" * 5000,
            None,
        ):
            self.assertIsNone(safe_url(url), url)


class FormatTests(SynchronousTestCase):
    """
    Tests for L{format_xhtml_im} and L{has_markup}.
    """

    def test_elements(self) -> None:
        """Nodes become XEP-0071 recommended elements."""
        tree = RichText(
            [
                Bold([Text("b")]),
                Italic([Text("i")]),
                Strike([Text("s")]),
                Code("c"),
                Link("https://x.test/", [Text("l")]),
                Link("https://y.test/"),
                Mention("Juliet", Address.parse("juliet@capulet.test")),
                Mention("Nobody"),
                Emoji("👍", ":+1:"),
                Text("a\nb"),
                LineBreak(),
                Pre("x <y>\n", "py"),
                LineBreak(),
                Text("end"),
            ]
        )
        assert_xml(
            self,
            format_xhtml_im(tree),
            f"<html xmlns='{XHTML_IM}'><body xmlns='{XHTML}'>"
            "<strong>b</strong><em>i</em><span style='text-decoration: line-through'>s</span>"
            "<code>c</code><a href='https://x.test/'>l</a><a href='https://y.test/'>https://y.test/</a>"
            "<a href='xmpp:juliet@capulet.test'>@Juliet</a>@Nobody👍a<br/>b"
            "<pre>x &lt;y&gt;\n</pre>end</body></html>",
        )

    def test_unsafe_link(self) -> None:
        """A link with an unsafe URL is written as text."""
        tree = RichText([Link("javascript:alert(1)", [Text("x")]), Link("javascript:y")])
        assert_xml(
            self,
            format_xhtml_im(tree),
            f"<html xmlns='{XHTML_IM}'><body xmlns='{XHTML}'>x (javascript:alert(1))javascript:y</body></html>",
        )

    def test_deep(self) -> None:
        """Very deep trees are written without recursion, flattened past the limit."""
        node: Node = Text("deep")
        for _ in range(20_000):
            node = Bold([node])
        element = format_xhtml_im(RichText([node]))
        parsed = parse_xhtml_im(parse_xml(element.toXml()))
        assert parsed is not None
        self.assertEqual(plain_text(parsed.nodes), "deep")

    def test_has_markup(self) -> None:
        """Only styles, code, links and known mentions are markup."""
        self.assertFalse(has_markup(RichText([Text("a"), LineBreak(), Emoji("x"), Mention("n")])))
        for node in (
            Bold([]),
            Code("x"),
            Pre("x"),
            Link("https://x.test/"),
            Mention("n", Address.parse("n@x.test")),
        ):
            self.assertTrue(has_markup(RichText([node])), node)

    @given(trees)
    @settings(max_examples=150)
    def test_round_trip(self, tree: RichText) -> None:
        """Any tree is written as valid XML and read back without error."""
        element = format_xhtml_im(tree)
        parsed = parse_xhtml_im(parse_xml(element.toXml()))
        self.assertIsInstance(parsed, RichText)

    @given(trees)
    @settings(max_examples=150)
    def test_round_trip_text(self, tree: RichText) -> None:
        """
        Reading back a written tree keeps its text, apart from whitespace
        and characters XML cannot carry; unsafe link URLs are shown.
        """
        parsed = parse_xhtml_im(parse_xml(format_xhtml_im(tree).toXml()))
        assert parsed is not None
        expected = "".join(xml_text(shown(tree.nodes)).split())
        self.assertEqual("".join(plain_text(parsed.nodes).split()), expected)


def shown(nodes: tuple[Node, ...]) -> str:
    """
    The text an XHTML-IM rendering of C{nodes} shows: the plain text, with
    the URL after the label of a link that cannot be a link.
    """
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, Link) and safe_url(node.url) is None:
            if xml_text(plain_text(node.children)).strip():
                parts.append(f"{shown(node.children)} ({node.url})")
            else:
                parts.append(node.url)
        elif isinstance(node, Link):
            labelled = xml_text(plain_text(node.children)).strip()
            parts.append(shown(node.children) if labelled else node.url)
        elif isinstance(node, Bold | Italic | Strike):
            parts.append(shown(node.children))
        else:
            parts.append(plain_text([node]))
    return "".join(parts)
