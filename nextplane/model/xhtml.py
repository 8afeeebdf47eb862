# -*- test-case-name: tests.xmpp.test_xhtml -*-
"""
XHTML, translated to and from the neutral L{RichText} tree; shared by the
XMPP (XEP-0071 XHTML-IM, L{nextplane.connectors.xmpp.xhtml}) and SIP
(C{text/html} bodies, L{nextplane.connectors.sip.im}) connectors.

Reading (L{parse_xhtml_body}) understands:

  - C{strong}, C{b} (and C{h1}..C{h6}) as L{Bold}; C{em}, C{i}, C{cite} as
    L{Italic}; C{del}, C{s}, C{strike} as L{Strike}; the C{style} attribute
    of any element (C{font-weight: bold}, C{font-style: italic},
    C{text-decoration: line-through});
  - C{code}, C{tt}, C{kbd}, C{samp} as L{Code}; C{pre} as L{Pre};
  - C{a href} as L{Link} when the URL scheme is C{http}, C{https}, C{xmpp}
    or C{mailto} (anything else keeps only the label);
  - C{br} as L{LineBreak}; C{p}, C{div}, C{blockquote}, C{li} and other
    block elements as lines of their own; C{img} as its C{alt} text.

Any other element is dropped but its text is kept, except C{script},
C{style}, C{head} and C{title}, whose content is never shown. Nothing is
fetched, followed or executed: this is a pure tree translation. Whitespace is
collapsed as HTML renders it, outside C{pre}. Formatting deeper than
L{MAX_DEPTH} nested elements is flattened to its text.

Writing (L{format_xhtml_body}) uses only the elements of XEP-0071's
recommended profile. L{xml_text} is the one check every module applies to
text it puts into an XML element.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Final

from attrs import frozen
from twisted.words.xish.domish import Element

from . import text as rt

__all__ = [
    "MAX_DEPTH",
    "MAX_URL_CHARS",
    "NS_XHTML",
    "NS_XML",
    "SAFE_SCHEMES",
    "format_xhtml_body",
    "has_markup",
    "parse_xhtml_body",
    "plain_text",
    "safe_url",
    "xml_text",
]

#: The XHTML namespace.
NS_XHTML: Final = "http://www.w3.org/1999/xhtml"
#: The C{xml:} prefix (C{xml:lang}).
NS_XML: Final = "http://www.w3.org/XML/1998/namespace"

#: Nesting beyond this many elements is read (and written) as plain text.
MAX_DEPTH = 32

#: Longer URLs are not links.
MAX_URL_CHARS = 4096

#: The URL schemes links may have.
SAFE_SCHEMES = frozenset({"http", "https", "xmpp", "mailto"})

_BOLD = frozenset({"strong", "b", "h1", "h2", "h3", "h4", "h5", "h6"})
_ITALIC = frozenset({"em", "i", "cite"})
_STRIKE = frozenset({"del", "s", "strike"})
_CODE = frozenset({"code", "tt", "kbd", "samp"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "blockquote",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "address",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
    }
)
_HIDDEN = frozenset({"script", "style", "head", "title"})
_WHITESPACE = re.compile(r"\s+")
_STRIKE_STYLE = "text-decoration: line-through"


def safe_url(url: str | None) -> str | None:
    """
    Check a URL for use as a link target.

    @param url: A candidate URL, e.g. an C{href}.
    @return: The URL without surrounding whitespace if its scheme is one of
        L{SAFE_SCHEMES}, it has no whitespace or control characters, is at
        most L{MAX_URL_CHARS} long and (for C{http}/C{https}) names a host;
        otherwise C{None}.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL_CHARS:
        return None
    if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in url):
        return None
    scheme, separator, rest = url.partition(":")
    scheme = scheme.lower()
    if not separator or scheme not in SAFE_SCHEMES or not rest:
        return None
    if scheme in ("http", "https") and (not rest.startswith("//") or len(rest) < 3):
        return None
    return url


def has_markup(text: rt.RichText) -> bool:
    """
    Whether a tree needs more than a plain body to be shown as meant.

    @return: C{True} if it has styles, code, links or mentions of known
        addresses.
    """
    stack: list[Iterator[rt.Node]] = [iter(text.nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, rt.Bold | rt.Italic | rt.Strike | rt.Code | rt.Pre | rt.Link):
            return True
        elif isinstance(node, rt.Mention) and node.address is not None:
            return True
    return False


def plain_text(nodes: Iterable[rt.Node]) -> str:
    """
    The plain text of nodes, as L{RichText.plain_text} gives it, without
    recursion (so for trees of any depth).
    """
    parts: list[str] = []
    stack: list[Iterator[rt.Node]] = [iter(nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, rt.Text | rt.Code | rt.Pre):
            parts.append(node.text)
        elif isinstance(node, rt.Bold | rt.Italic | rt.Strike):
            stack.append(iter(node.children))
        elif isinstance(node, rt.Link):
            if node.children:
                stack.append(iter(node.children))
            else:
                parts.append(node.url)
        elif isinstance(node, rt.Mention):
            parts.append(f"@{node.name}")
        elif isinstance(node, rt.Emoji):
            parts.append(node.unicode)
        elif isinstance(node, rt.LineBreak):
            parts.append("\n")
    return "".join(parts)


# -- reading ---------------------------------------------------------------


@frozen
class _Block:
    """A block boundary: the content on either side is on its own line."""


_BOUNDARY = _Block()
_Item = rt.Node | _Block


def parse_xhtml_body(body: Element) -> rt.RichText:
    """
    Read an XHTML C{<body>} (or any element holding XHTML) as a tree.

    Never raises.
    """
    return rt.RichText(_normalise(_children(body, 1)))


def _text_of(element: Element, *, raw: bool) -> str:
    """
    All descendant text of an element, without recursion, skipping hidden
    elements; whitespace collapsed unless C{raw}.
    """
    parts: list[str] = []
    stack: list[Iterator[object]] = [iter(element.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, str):
            parts.append(child)
        elif isinstance(child, Element):
            if child.uri == NS_XHTML and child.name == "br":
                parts.append("\n")
            elif not (child.uri == NS_XHTML and child.name in _HIDDEN):
                stack.append(iter(child.children))
    text = "".join(parts)
    return text if raw else _WHITESPACE.sub(" ", text)


def _children(element: Element, depth: int) -> list[_Item]:
    items: list[_Item] = []
    for child in element.children:
        if isinstance(child, str):
            collapsed = _WHITESPACE.sub(" ", child)
            if collapsed:
                items.append(rt.Text(collapsed))
        elif isinstance(child, Element):
            items.extend(_element(child, depth))
    return items


def _style_wrappers(element: Element) -> list[type[rt.Bold] | type[rt.Italic] | type[rt.Strike]]:
    style = element.attributes.get("style")
    if not isinstance(style, str):
        return []
    wrappers: list[type[rt.Bold] | type[rt.Italic] | type[rt.Strike]] = []
    for declaration in style.lower().split(";")[:32]:
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if name == "font-weight" and (
            value in ("bold", "bolder") or (value.isdigit() and int(value[:4]) >= 600)
        ):
            wrappers.append(rt.Bold)
        elif name == "font-style" and value in ("italic", "oblique"):
            wrappers.append(rt.Italic)
        elif name in ("text-decoration", "text-decoration-line") and "line-through" in value:
            wrappers.append(rt.Strike)
    return wrappers


def _element(element: Element, depth: int) -> list[_Item]:
    name = element.name if element.uri == NS_XHTML else None
    if name in _HIDDEN:
        return []
    if name == "br":
        return [rt.LineBreak()]
    if name == "img":
        alt = element.attributes.get("alt")
        if isinstance(alt, str) and alt.strip():
            return [rt.Text(_WHITESPACE.sub(" ", alt))]
        return []
    if name == "pre":
        text = _text_of(element, raw=True)
        if text.startswith("\n"):
            text = text[1:]
        return [_BOUNDARY, rt.Pre(text), _BOUNDARY]
    if name in _CODE:
        code = _text_of(element, raw=False)
        return [rt.Code(code)] if code else []
    if depth >= MAX_DEPTH:
        text = _text_of(element, raw=False)
        inner: list[_Item] = [rt.Text(text)] if text else []
    else:
        inner = _children(element, depth + 1)
    wrappers: list[type[rt.Bold] | type[rt.Italic] | type[rt.Strike]] = []
    if name in _BOLD:
        wrappers.append(rt.Bold)
    elif name in _ITALIC:
        wrappers.append(rt.Italic)
    elif name in _STRIKE:
        wrappers.append(rt.Strike)
    wrappers.extend(_style_wrappers(element))
    link = safe_url(element.attributes.get("href")) if name == "a" else None
    if wrappers or link is not None:
        inner = _wrap(inner, wrappers, link)
    if name == "li":
        inner = [rt.Text("• "), *inner]
    if name in _BLOCK:
        return [_BOUNDARY, *inner, _BOUNDARY]
    return inner


def _wrap(
    items: list[_Item],
    wrappers: list[type[rt.Bold] | type[rt.Italic] | type[rt.Strike]],
    link: str | None,
) -> list[_Item]:
    """
    Wrap inline items, moving block boundaries at their edges outside.
    """
    start, end = 0, len(items)
    while start < end and isinstance(items[start], _Block):
        start += 1
    while end > start and isinstance(items[end - 1], _Block):
        end -= 1
    nodes = _normalise(items[start:end])
    if link is not None:
        wrapped: list[rt.Node] = [rt.Link(link, nodes)]
    elif nodes:
        wrapped = nodes
    else:
        return list(items[:start]) + list(items[end:])
    for wrapper in reversed(wrappers):
        if wrapped:
            wrapped = [wrapper(wrapped)]
    return [*items[:start], *wrapped, *items[end:]]


def _normalise(items: Iterable[_Item]) -> list[rt.Node]:
    """
    Merge texts, trim whitespace at line edges, and turn runs of block
    boundaries into one line break (none at the edges).
    """
    merged: list[_Item] = []
    for item in items:
        if isinstance(item, rt.Text) and merged and isinstance(merged[-1], rt.Text):
            merged[-1] = rt.Text(_WHITESPACE.sub(" ", merged[-1].text + item.text))
        else:
            merged.append(item)

    def edge(index: int) -> bool:
        return (
            index < 0
            or index >= len(merged)
            or isinstance(merged[index], _Block | rt.LineBreak | rt.Pre)
        )

    trimmed: list[_Item] = []
    for index, item in enumerate(merged):
        if isinstance(item, rt.Text):
            text = item.text
            if edge(index - 1):
                text = text.lstrip()
            if edge(index + 1):
                text = text.rstrip()
            if text:
                trimmed.append(rt.Text(text))
        else:
            trimmed.append(item)
    nodes: list[rt.Node] = []
    pending = False
    for item in trimmed:
        if isinstance(item, _Block):
            pending = bool(nodes)
            continue
        if pending:
            if not isinstance(nodes[-1], rt.LineBreak):
                nodes.append(rt.LineBreak())
            pending = False
        nodes.append(item)
    return nodes


# -- writing ---------------------------------------------------------------


@frozen
class _Close:
    """Marks the end of a link's children, for the unsafe-URL suffix."""

    suffix: str


def format_xhtml_body(text: rt.RichText) -> Element:
    """
    Write a tree as an XHTML C{<body>}.

    Never raises, whatever the depth of the tree; nesting beyond
    L{MAX_DEPTH} is written as text. Characters XML cannot carry are
    dropped. Only C{strong}, C{em}, C{span style='text-decoration:
    line-through'}, C{code}, C{pre}, C{a href} and C{br} are written;
    mentions of known addresses become C{xmpp:} links.
    """
    body = Element((NS_XHTML, "body"))
    stack: list[tuple[Iterator[rt.Node | _Close], Element, int]] = [
        (_around_pre(text.nodes), body, 0)
    ]
    while stack:
        iterator, parent, depth = stack[-1]
        node = next(iterator, None)
        if node is None:
            stack.pop()
            continue
        if isinstance(node, _Close):
            _add_text(parent, node.suffix)
        elif isinstance(node, rt.Text):
            _add_text(parent, node.text)
        elif isinstance(node, rt.Emoji):
            _add_text(parent, node.unicode)
        elif isinstance(node, rt.LineBreak):
            parent.addElement((NS_XHTML, "br"))
        elif isinstance(node, rt.Code):
            _add_text(parent.addElement((NS_XHTML, "code")), node.text)
        elif isinstance(node, rt.Pre):
            _add_text(parent.addElement((NS_XHTML, "pre")), node.text, breaks=False)
        elif isinstance(node, rt.Mention):
            label = f"@{node.name}"
            if node.address is not None:
                anchor = parent.addElement((NS_XHTML, "a"))
                anchor["href"] = xml_text(f"xmpp:{node.address}")
                _add_text(anchor, label)
            else:
                _add_text(parent, label)
        elif depth >= MAX_DEPTH:
            _add_text(parent, plain_text([node]))
        elif isinstance(node, rt.Bold | rt.Italic | rt.Strike):
            if isinstance(node, rt.Bold):
                child = parent.addElement((NS_XHTML, "strong"))
            elif isinstance(node, rt.Italic):
                child = parent.addElement((NS_XHTML, "em"))
            else:
                child = parent.addElement((NS_XHTML, "span"))
                child["style"] = _STRIKE_STYLE
            stack.append((_around_pre(node.children), child, depth + 1))
        elif isinstance(node, rt.Link):
            url = safe_url(node.url)
            labelled = bool(xml_text(plain_text(node.children)).strip())
            if url is not None:
                anchor = parent.addElement((NS_XHTML, "a"))
                anchor["href"] = url
                children = node.children if labelled else (rt.Text(url),)
                stack.append((_around_pre(children), anchor, depth + 1))
            elif labelled:
                stack.append((iter([*node.children, _Close(f" ({node.url})")]), parent, depth + 1))
            else:
                _add_text(parent, node.url)
    return body


def _around_pre(nodes: tuple[rt.Node, ...]) -> Iterator[rt.Node]:
    """
    The nodes without the line breaks right before and after a L{Pre}, which
    is a block of its own in XHTML.
    """
    for index, node in enumerate(nodes):
        if isinstance(node, rt.LineBreak) and (
            (index > 0 and isinstance(nodes[index - 1], rt.Pre))
            or (index + 1 < len(nodes) and isinstance(nodes[index + 1], rt.Pre))
        ):
            continue
        yield node


def _add_text(parent: Element, text: str, *, breaks: bool = True) -> None:
    text = xml_text(text)
    if not breaks:
        if text:
            parent.addContent(text)
        return
    for index, line in enumerate(text.split("\n")):
        if index:
            parent.addElement((NS_XHTML, "br"))
        if line:
            parent.addContent(line)


# Characters XML 1.0 does not allow (§2.2), lone surrogates included.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """
    Remove the characters XML 1.0 cannot carry (most C0 controls, lone
    surrogates, U+FFFE, U+FFFF), so an element never fails to serialise or
    makes the peer close the stream.

    @param text: Any text.
    @return: C{text} without those characters.
    """
    return _NOT_XML.sub("", text)
