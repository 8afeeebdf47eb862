# -*- test-case-name: tests.sip.test_im -*-
"""
HTML strings to and from the neutral L{RichText} tree, through the XHTML
translation of L{nextplane.model.xhtml}: what a C{text/html} message body
(SIP, and the bot platforms' HTML) means, and how a tree is written as one.

Reading is as lenient as a browser (L{html.parser}): void elements close
themselves, a stray end tag is ignored, an end tag closes the elements
opened after its start tag. Nothing is fetched or executed.
"""

from __future__ import annotations

from html.parser import HTMLParser

from twisted.words.xish.domish import Element

from .text import RichText
from .xhtml import NS_XHTML, format_xhtml_body, parse_xhtml_body, xml_text

__all__ = ["html_to_rich", "rich_to_html"]

_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_TRANSPARENT = frozenset({"html", "body"})
_KEPT_ATTRIBUTES = frozenset({"href", "style", "alt"})
#: Elements deeper than this are added as siblings (the reader flattens
#: deep nesting anyway; this keeps the tree builder bounded).
_MAX_OPEN = 64


class _TreeBuilder(HTMLParser):
    """
    Builds an XHTML tree (domish) from HTML as browsers read it, leniently:
    void elements close themselves, a stray end tag is ignored, an end tag
    closes the elements opened after its start tag.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element((NS_XHTML, "body"))
        self._stack: list[Element] = [self.root]

    def _add(self, tag: str, attrs: list[tuple[str, str | None]]) -> Element | None:
        if tag in _TRANSPARENT:
            return None
        element = self._stack[-1].addElement((NS_XHTML, tag))
        for name, value in attrs:
            if name in _KEPT_ATTRIBUTES and value is not None:
                element[name] = value
        return element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = self._add(tag, attrs)
        if element is not None and tag not in _VOID and len(self._stack) < _MAX_OPEN:
            self._stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._add(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, 0, -1):
            if self._stack[index].name == tag:
                del self._stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if data:
            self._stack[-1].addContent(xml_text(data))


def html_to_rich(html: str) -> RichText:
    """
    Read an HTML message (a fragment or a whole document) into a tree.
    Never raises.
    """
    builder = _TreeBuilder()
    try:
        builder.feed(html)
        builder.close()
    except Exception:  # pragma: no cover - html.parser is lenient
        return RichText.plain(html)
    return parse_xhtml_body(builder.root)


def rich_to_html(text: RichText) -> str:
    """
    Write a tree as an HTML fragment (C{strong}, C{em}, C{code}, C{pre},
    C{a href}, C{br}, a C{span} styled C{line-through}).
    """
    body = format_xhtml_body(text)
    out: list[str] = []
    for child in body.children:
        if isinstance(child, Element):
            out.append(child.toXml(defaultUri=NS_XHTML))
        else:
            out.append(_escape(str(child)))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
