# -*- test-case-name: tests.teams.test_format -*-
"""
Teams message text to and from the hub's L{RichText} tree.

Teams sends a message's formatting as HTML: the C{text/html} attachment,
and often the C{text} itself (C{../shared/notes/platforms.md} §B7).
L{parse_teams_html} reads the subset Teams produces:

  - C{b}, C{strong}, C{h1}..C{h6} as L{Bold}; C{i}, C{em} as L{Italic};
    C{s}, C{strike}, C{del} as L{Strike}; C{code} as L{Code}; C{pre} as
    L{Pre};
  - C{a href} as L{Link} when the URL is safe (http, https, mailto, xmpp;
    L{nextplane.connectors.xmpp.xhtml.safe_url}), else only its label;
  - C{at} as L{Mention}, resolved through the activity's mention entities;
  - C{emoji} and C{img itemtype=".../Emoji"} as L{Emoji} (their C{alt});
    other images as their C{alt} text;
  - C{br} as L{LineBreak}; C{p}, C{div}, C{li}, C{blockquote}, C{tr} and
    headings as lines of their own (list items get a bullet); C{pre} is
    an L{Pre} node without extra line breaks, as the tree's plain text has none.

Any other element is dropped but its text kept, except C{script} and
C{style}, whose content is never shown. Raw newlines outside C{pre} are
line breaks, except whitespace-only runs between tags (source formatting).
Formatting nested deeper than L{MAX_DEPTH} is flattened to its text.

L{to_teams_html} writes C{b}, C{i}, C{s}, C{code}, C{pre}, C{a href}, C{br}
and C{at} (with the mention entities Teams needs), for C{textFormat: xml};
L{to_teams_markdown} writes Teams markdown for C{textFormat: markdown}.

Guarantees (hypothesis, C{tests.teams.test_format}): neither direction
raises; writing HTML then reading it back keeps the plain text of any tree.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from html.parser import HTMLParser
from typing import Any

from attrs import frozen

from ...model.text import (
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
    merge_texts,
)
from ...model.xhtml import safe_url
from .activity import MentionEntity

__all__ = [
    "MAX_DEPTH",
    "MentionIds",
    "MentionResolver",
    "TeamsText",
    "parse_teams_html",
    "to_teams_html",
    "to_teams_markdown",
]

#: Formatting nested deeper than this is flattened to its text.
MAX_DEPTH = 32

#: Finds the hub's view of a mention entity; C{None} keeps just the name.
MentionResolver = Callable[[MentionEntity], Mention | None]
#: Finds the Teams user id (C{29:...}) of a mention; C{None} when it has none.
MentionIds = Callable[[Mention], str | None]

_STYLES: dict[str, type[Bold] | type[Italic] | type[Strike]] = {
    "b": Bold,
    "strong": Bold,
    "h1": Bold,
    "h2": Bold,
    "h3": Bold,
    "h4": Bold,
    "h5": Bold,
    "h6": Bold,
    "i": Italic,
    "em": Italic,
    "s": Strike,
    "strike": Strike,
    "del": Strike,
}
_BLOCKS = frozenset(
    {"p", "div", "li", "blockquote", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table"}
)
_HIDDEN = frozenset({"script", "style", "head", "title"})
_VOID = frozenset({"br", "img", "hr", "input", "meta", "link", "wbr"})
_EMOJI_TYPE = "http://schema.skype.com/Emoji"
_SOURCE_WHITESPACE = re.compile(r"^[ \t\r\n]*\n[ \t\r\n]*$")


class _Frame:
    """
    An open element collecting its children.
    """

    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Node] = []


class _Reader(HTMLParser):
    def __init__(self, mentions: Sequence[MentionEntity], resolve: MentionResolver | None) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Frame] = [_Frame("", {})]
        self.mentions = list(mentions)
        self.resolve = resolve
        self.hidden = 0
        self.pre = 0
        self.started = False
        self.pending = False
        self.line_start = False

    @property
    def top(self) -> _Frame:
        return self.stack[-1]

    def _emit(self, node: Node) -> None:
        self.top.children.append(node)

    def _content(self, node: Node) -> None:
        # Content after a block boundary starts on a new line.
        if self.pending:
            self.pending = False
            self._emit(LineBreak())
        self.started = True
        self.line_start = isinstance(node, LineBreak)
        self._emit(node)

    def _line(self) -> None:
        if self.started:
            self.pending = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
            return
        if self.hidden:
            return
        found = dict(attrs)
        if tag == "br":
            self._content(LineBreak())
            return
        if tag in ("img", "emoji"):
            alt = found.get("alt") or ""
            if alt and (tag == "emoji" or found.get("itemtype") == _EMOJI_TYPE):
                self._content(Emoji(alt))
            elif alt:
                self._content(Text(alt))
            return
        if tag in _VOID:
            return
        if tag in _BLOCKS:
            # A block starts on its own line, in the parent.
            self.pending = False
            if self.started and not self.line_start:
                self._content(LineBreak())
        if tag == "li":
            self._content(Text("• "))
        if tag == "pre":
            if self.pending:  # the break after a block goes before the pre, not in it
                self.pending = False
                self._content(LineBreak())
            self.pre += 1
        if len(self.stack) > MAX_DEPTH:
            return
        self.stack.append(_Frame(tag, found))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and tag not in ("emoji",):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        if self.hidden or tag in _VOID:
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                while len(self.stack) > depth:
                    self._close(self.stack.pop())
                break
        if tag in _BLOCKS:
            self._line()

    def _close(self, frame: _Frame) -> None:
        for node in self._node(frame):
            self._emit(node)

    def _node(self, frame: _Frame) -> list[Node]:
        children = frame.children
        if frame.tag in _STYLES:
            return [_STYLES[frame.tag](children)]
        if frame.tag == "code" and not self.pre:
            return [Code(_flat(children))]
        if frame.tag == "pre":
            return [Pre(_flat(children))]
        if frame.tag == "a":
            url = safe_url(frame.attrs.get("href"))
            return [Link(url, children)] if url else children
        if frame.tag == "at":
            return [self._mention(_flat(children))]
        return children

    def _mention(self, name: str) -> Node:
        for index, entity in enumerate(self.mentions):
            if entity.name == name or entity.text == f"<at>{name}</at>":
                del self.mentions[index]
                resolved = self.resolve(entity) if self.resolve else None
                return resolved or Mention(name)
        return Mention(name)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            self._content(Text(data))
            return
        if _SOURCE_WHITESPACE.match(data):
            return
        for index, line in enumerate(data.split("\n")):
            if index:
                self._content(LineBreak())
            if line:
                self._content(Text(line))

    def result(self) -> RichText:
        self.close()
        while len(self.stack) > 1:
            self._close(self.stack.pop())
        return RichText(merge_texts(self.stack[0].children))


def _flat(nodes: Iterable[Node]) -> str:
    return RichText(nodes).plain_text()


def parse_teams_html(
    text: str,
    mentions: Sequence[MentionEntity] = (),
    resolve: MentionResolver | None = None,
) -> RichText:
    """
    Read Teams HTML (or plain text, which reads as itself).

    @param mentions: The activity's mention entities, to resolve C{<at>} tags.
    @param resolve: Maps a mention entity to the hub's L{Mention}.
    """
    reader = _Reader(mentions, resolve)
    try:
        reader.feed(text)
        return reader.result()
    except (AssertionError, ValueError):
        # HTMLParser can give up on malformed declarations: keep the text.
        return RichText.plain(text)


@frozen
class TeamsText:
    """
    Text to send, with the mention entities it needs.
    """

    text: str
    entities: tuple[dict[str, Any], ...] = ()
    text_format: str = "xml"

    def __repr__(self) -> str:
        return f"<TeamsText {len(self.text)} chars, {len(self.entities)} mentions>"


class _Writer:
    def __init__(self, mention_id: MentionIds | None, markdown: bool) -> None:
        self.mention_id = mention_id
        self.markdown = markdown
        self.entities: list[dict[str, Any]] = []

    def escape(self, text: str) -> str:
        if self.markdown:
            text = re.sub(r"([\\`*_~\[\]()#>!|<&-])", r"\\\1", text)
            return text.replace("\n", "<br>")
        return html.escape(text, quote=False).replace("\n", "<br>")

    def nodes(self, nodes: Iterable[Node]) -> str:
        return "".join(self.node(n) for n in nodes)

    def node(self, node: Node) -> str:
        md = self.markdown
        if isinstance(node, Text):
            return self.escape(node.text)
        if isinstance(node, Bold | Italic | Strike):
            inner = self.nodes(node.children)
            if md:
                mark = {Bold: "**", Italic: "_", Strike: "~~"}[type(node)]
                return f"{mark}{inner}{mark}" if inner.strip() == inner and inner else inner
            tag = {Bold: "b", Italic: "i", Strike: "s"}[type(node)]
            return f"<{tag}>{inner}</{tag}>"
        if isinstance(node, Code):
            if md and "`" not in node.text and "\n" not in node.text and node.text:
                return f"`{node.text}`"
            code = html.escape(node.text, quote=False).replace("\n", "<br>")
            return f"<code>{code}</code>"
        if isinstance(node, Pre):
            if md and "```" not in node.text:
                return f"\n```\n{node.text}\n```\n"
            return f"<pre>{html.escape(node.text, quote=False)}</pre>"
        if isinstance(node, Link):
            return self.link(node)
        if isinstance(node, Mention):
            return self.mention(node)
        if isinstance(node, Emoji):
            return node.unicode
        return "<br>" if not md else "\n\n"

    def link(self, node: Link) -> str:
        if node.children and not RichText(node.children).plain_text():
            return ""  # an empty label shows nothing; an empty <a> would show the URL
        label = self.nodes(node.children) if node.children else self.escape(node.url)
        url = safe_url(node.url)
        if url is None:
            return label
        if self.markdown:
            return f"[{label}]({url.replace(')', '%29')})"
        return f'<a href="{html.escape(url)}">{label}</a>'

    def mention(self, node: Mention) -> str:
        user_id = self.mention_id(node) if self.mention_id else None
        if user_id is None:
            return self.escape(f"@{node.name}")
        markup = f"<at>{html.escape(node.name, quote=False)}</at>"
        self.entities.append(
            {"type": "mention", "text": markup, "mentioned": {"id": user_id, "name": node.name}}
        )
        return markup


def to_teams_html(text: RichText, mention_id: MentionIds | None = None) -> TeamsText:
    """
    Write C{text} as Teams HTML (C{textFormat: xml}), with mention entities.

    @param mention_id: Finds a mention's Teams user id; mentions without
        one are written as C{@name} text.
    """
    writer = _Writer(mention_id, markdown=False)
    return TeamsText(writer.nodes(text.nodes), tuple(writer.entities), "xml")


def to_teams_markdown(text: RichText, mention_id: MentionIds | None = None) -> TeamsText:
    """
    Write C{text} as Teams markdown (C{textFormat: markdown}); code with
    backticks and other forms markdown cannot hold fall back to inline HTML,
    which Teams renders in markdown text.
    """
    writer = _Writer(mention_id, markdown=True)
    return TeamsText(writer.nodes(text.nodes).strip("\n"), tuple(writer.entities), "markdown")
