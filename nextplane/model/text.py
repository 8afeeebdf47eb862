# -*- test-case-name: tests.test_model -*-
"""
A neutral rich-text tree.

Every connector translates its platform's markup (Slack mrkdwn, XHTML-IM,
XEP-0393 styling, SIP text/html, Teams/Webex HTML or markdown) to and from
this tree, so no platform markup reaches the core. The tree is immutable.

Inline nodes: L{Text}, L{Bold}, L{Italic}, L{Strike}, L{Code}, L{Link},
L{Mention}, L{Emoji}, L{LineBreak}; block node: L{Pre}.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from attrs import field, frozen

from .address import Address

__all__ = [
    "Bold",
    "Code",
    "Emoji",
    "Italic",
    "LineBreak",
    "Link",
    "Mention",
    "Node",
    "Pre",
    "RichText",
    "Strike",
    "Text",
    "merge_texts",
]


def _nodes(value: Iterable[Node]) -> tuple[Node, ...]:
    return tuple(value)


@frozen
class Text:
    """
    Plain text without markup.
    """

    text: str


@frozen
class Bold:
    """
    Strong emphasis around child nodes.
    """

    children: tuple[Node, ...] = field(converter=_nodes)


@frozen
class Italic:
    """
    Emphasis around child nodes.
    """

    children: tuple[Node, ...] = field(converter=_nodes)


@frozen
class Strike:
    """
    Struck-through child nodes.
    """

    children: tuple[Node, ...] = field(converter=_nodes)


@frozen
class Code:
    """
    Inline code: literal text, no nested markup.
    """

    text: str


@frozen
class Pre:
    """
    A preformatted block (a code block), with an optional language hint.
    """

    text: str
    language: str | None = None


@frozen
class Link:
    """
    A hyperlink; C{children} is the visible label (empty: show the URL).
    """

    url: str
    children: tuple[Node, ...] = field(default=(), converter=_nodes)


@frozen
class Mention:
    """
    A mention of a person, by address when known, always with a display name.
    """

    name: str
    address: Address | None = None


@frozen
class Emoji:
    """
    An emoji as Unicode, with the shortcode it came from when known.
    """

    unicode: str
    shortcode: str | None = None


@frozen
class LineBreak:
    """
    A hard line break.
    """


Node = Text | Bold | Italic | Strike | Code | Pre | Link | Mention | Emoji | LineBreak


def _plain(nodes: Iterable[Node]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Text | Code):
            yield node.text
        elif isinstance(node, Pre):
            yield node.text
        elif isinstance(node, Bold | Italic | Strike):
            yield from _plain(node.children)
        elif isinstance(node, Link):
            if node.children:
                yield from _plain(node.children)
            else:
                yield node.url
        elif isinstance(node, Mention):
            yield f"@{node.name}"
        elif isinstance(node, Emoji):
            yield node.unicode
        elif isinstance(node, LineBreak):
            yield "\n"


def merge_texts(nodes: Iterable[Node], keep_empty: bool = False) -> list[Node]:
    """
    C{nodes} with each run of adjacent L{Text} nodes joined into one (what
    a parser building the tree piece by piece wants); empty L{Text} nodes
    are dropped unless C{keep_empty}.
    """
    merged: list[Node] = []
    for node in nodes:
        if isinstance(node, Text) and merged and isinstance(merged[-1], Text):
            merged[-1] = Text(merged[-1].text + node.text)
        elif keep_empty or not (isinstance(node, Text) and not node.text):
            merged.append(node)
    return merged


@frozen
class RichText:
    """
    A whole formatted text: a sequence of nodes.
    """

    nodes: tuple[Node, ...] = field(default=(), converter=_nodes)

    @classmethod
    def plain(cls, text: str) -> RichText:
        """
        Build a tree from plain text, turning newlines into L{LineBreak}s.
        """
        nodes: list[Node] = []
        for index, line in enumerate(text.split("\n")):
            if index:
                nodes.append(LineBreak())
            if line:
                nodes.append(Text(line))
        return cls(nodes)

    def plain_text(self) -> str:
        """
        The text with all markup removed (mentions as C{@name}).
        """
        return "".join(_plain(self.nodes))

    def __len__(self) -> int:
        return len(self.plain_text())

    def __repr__(self) -> str:
        # Never show content: a tree may end up in a log line by accident.
        return f"<RichText {len(self.nodes)} nodes>"
