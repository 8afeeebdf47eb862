# -*- test-case-name: tests.webex.test_format -*-
"""
Webex markdown and HTML to and from the hub's L{RichText} tree.

Webex takes a message's formatting as C{markdown} (with a C{text}
fallback) and returns it both as C{markdown} and as C{html}, its own
rendering (C{../shared/notes/platforms.md} §C3). The hub writes markdown
(L{to_markdown}) and reads Webex's HTML when there is any
(L{parse_html}), else the markdown (L{parse_markdown}).

Markdown written: C{**bold**}, C{*italic*}, C{~~strike~~}, code spans
(fenced with more backticks than the code holds), fenced code blocks on
lines of their own, C{[label](url)} and C{<url>} for safe URLs
(L{nextplane.connectors.xmpp.xhtml.safe_url}; unsafe ones show only their
label or text), mentions of hub contacts as C{@name} text, emoji as
Unicode, and line breaks as newlines. Every markdown character in text is
backslash-escaped, so text never turns into markup.

Markdown read: the same constructs, backslash escapes, C{__bold__} and
C{_italic_} (not inside words), and Webex mentions C{<@personId:id|name>},
C{<@personEmail:address|name>} and C{<@all>}. A delimiter that does not
open or close stays text.

HTML read: C{strong}/C{b}, C{em}/C{i}, C{del}/C{s}/C{strike}, C{code},
C{pre}, C{a href}, C{br}, C{spark-mention} (Webex's mention element), and
C{p}, C{div}, C{li}, C{blockquote}, C{h1}-C{h6} as lines of their own.
Other elements keep their text; C{script} and C{style} are dropped.
Formatting nested deeper than L{MAX_DEPTH} is flattened to its text.

Guarantees (hypothesis, C{tests.webex.test_format}): no input makes these
raise; writing markdown (or HTML, L{to_html}) and reading it back keeps the
plain text of any tree.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser

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
)
from ...model.xhtml import MAX_DEPTH, safe_url

__all__ = ["MAX_DEPTH", "parse_html", "parse_markdown", "to_html", "to_markdown"]

_ESCAPE = re.compile(r"([\\`*_~\[\]()<>#|&!])")
_LINE_START = re.compile(r"(?m)^([ \t]*)([-+=]|\d+(?=[.)]))")
_Container = Bold | Italic | Strike
_Wrapper = type[Bold] | type[Italic] | type[Strike]


# --- writing markdown --------------------------------------------------------


def _escape(text: str) -> str:
    escaped = _ESCAPE.sub(r"\\\1", text)
    # List, heading and numbered-list markers at a line start.
    return _LINE_START.sub(lambda m: m.group(1) + _line_marker(m.group(2)), escaped)


def _line_marker(marker: str) -> str:
    return marker + "\\" if marker.isdigit() else "\\" + marker


def _lift(nodes: Iterable[Node]) -> list[Node]:
    """
    Move code blocks out of inline containers, so fences start lines.
    """
    lifted: list[Node] = []
    for node in nodes:
        if isinstance(node, _Container):
            run: list[Node] = []
            for child in _lift(node.children):
                if isinstance(child, Pre):
                    if run:
                        lifted.append(type(node)(run))
                        run = []
                    lifted.append(child)
                else:
                    run.append(child)
            if run:
                lifted.append(type(node)(run))
        elif isinstance(node, Link):
            label = [Code(c.text) if isinstance(c, Pre) else c for c in _lift(node.children)]
            lifted.append(Link(node.url, label))
        else:
            lifted.append(node)
    return lifted


def _code_span(text: str) -> str:
    if not text:
        return ""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.strip(" ") and (text[0] in " `" or text[-1] in " `") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fence(node: Pre) -> str:
    longest = max((len(run) for run in re.findall("`+", node.text)), default=0)
    fence = "`" * max(3, longest + 1)
    language = node.language or ""
    if not re.fullmatch(r"[\w+.#-]{0,40}", language):
        language = ""
    return f"{fence}{language}\n{node.text}\n{fence}"


def _inline(nodes: Iterable[Node]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Text):
            yield _escape(node.text)
        elif isinstance(node, _Container):
            inner = "".join(_inline(node.children))
            core = inner.strip()
            if not core or core.endswith("\\"):
                yield inner
                continue
            marker = {Bold: "**", Italic: "*", Strike: "~~"}[type(node)]
            start = inner[: len(inner) - len(inner.lstrip())]
            end = inner[len(inner.rstrip()) :]
            yield f"{start}{marker}{core}{marker}{end}"
        elif isinstance(node, Code):
            yield "\n".join(_code_span(line) for line in node.text.split("\n"))
        elif isinstance(node, Link):
            yield _link(node)
        elif isinstance(node, Mention):
            yield _escape(f"@{node.name}")
        elif isinstance(node, Emoji):
            yield node.unicode
        elif isinstance(node, LineBreak):
            yield "\n"
        elif isinstance(node, Pre):  # only inside a link label, made code by _lift
            yield _code_span(node.text)


def _link(node: Link) -> str:
    url = safe_url(node.url)
    label = "".join(_inline(node.children))
    usable = url is not None and url == node.url and not re.search(r"[\s()<>\\]", url)
    if node.children:
        if not usable or not label.strip():
            return label
        return f"[{label}]({url})"
    if usable:
        return f"<{url}>"
    return _escape(node.url)


def _render(nodes: Iterable[Node]) -> str:
    out: list[str] = []
    after_block = False
    for node in _lift(nodes):
        if isinstance(node, Pre):
            # One newline of its own on each side; the reader drops them.
            out.append(("\n" if out else "") + _fence(node))
            after_block = True
            continue
        piece = "".join(_inline([node]))
        if after_block and piece:
            out.append("\n")
            after_block = False
        out.append(piece)
    return "".join(out)


def _flatten(nodes: Iterable[Node], inside: bool = False) -> list[Node]:
    """
    Keep only the outermost formatting: nested runs lose theirs.
    """
    flat: list[Node] = []
    for node in nodes:
        if isinstance(node, _Container):
            children = _flatten(node.children, inside=True)
            flat += children if inside else [type(node)(children)]
        else:
            flat.append(node)
    return flat


def to_markdown(text: RichText) -> str:
    """
    Write a tree as Webex markdown.

    Markdown emphasis is ambiguous where delimiters touch (C{*a**b***}).
    The result is read back; if that would not show the same text, nested
    formatting is dropped, and failing that, all formatting.
    """
    expected = text.plain_text()
    rendered = ""
    for nodes in (text.nodes, _flatten(text.nodes), RichText.plain(expected).nodes):
        rendered = _render(nodes)
        if parse_markdown(rendered).plain_text() == expected:
            break
    return rendered


# --- reading markdown --------------------------------------------------------

_FENCE = re.compile(r"(?m)^(`{3,})([^`\n]*)\n")
_MENTION = re.compile(
    r"<@(?:(?:personId|personEmail):([^|>\n]{1,320})(?:\|([^>\n]{1,200}))?|(all))>"
)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^\s<>]{1,4096})>")
_LINK_TAIL = re.compile(r"\]\(([^\s()<>]{1,4096})\)")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def parse_markdown(source: str) -> RichText:
    """
    Read Webex markdown.
    """
    nodes: list[Node] = []
    position = 0
    while True:
        found = _FENCE.search(source, position)
        close = None
        if found is not None:
            fence = found.group(1)
            close = re.compile(rf"(?m)\n{fence}`*[ \t]*$").search(source, found.end() - 1)
        if found is None or close is None:
            nodes += _Inline(source[position:]).parse()
            return RichText(nodes)
        before = source[position : found.start()]
        if before.endswith("\n"):
            before = before[:-1]
        nodes += _Inline(before).parse()
        language = found.group(2).strip() or None
        nodes.append(Pre(source[found.end() : close.start()], language))
        position = close.end()
        if source.startswith("\n", position):
            position += 1


class _Inline:
    """
    A delimiter-stack reader of one stretch of inline markdown.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        # Each frame: (delimiter, wrapper, children); the root has no delimiter.
        self.stack: list[tuple[str, _Wrapper | None, list[Node]]] = [("", None, [])]

    def text(self, value: str) -> None:
        children = self.stack[-1][2]
        if children and isinstance(children[-1], Text):
            children[-1] = Text(children[-1].text + value)
        elif value:
            children.append(Text(value))

    def add(self, node: Node) -> None:
        self.stack[-1][2].append(node)

    def parse(self) -> list[Node]:
        source = self.source
        index = 0
        while index < len(source):
            index = self.step(source, index)
        while len(self.stack) > 1:  # unclosed delimiters are text after all
            delimiter, _, children = self.stack.pop()
            self.text(delimiter)
            for child in children:
                if isinstance(child, Text):
                    self.text(child.text)
                else:
                    self.add(child)
        return self.stack[0][2]

    def step(self, source: str, index: int) -> int:
        char = source[index]
        if char == "\\" and index + 1 < len(source) and source[index + 1] in _PUNCTUATION:
            self.text(source[index + 1])
            return index + 2
        if char == "\n":
            self.add(LineBreak())
            return index + 1
        if char == "`":
            return self.code(source, index)
        if char in "*_~":
            return self.delimiter(source, index)
        if char == "<":
            return self.angle(source, index)
        if char == "[":
            return self.link(source, index)
        self.text(char)
        return index + 1

    def code(self, source: str, index: int) -> int:
        run = _run_length(source, index)
        fence = "`" * run
        end = re.compile(rf"(?<!`){fence}(?!`)").search(source, index + run)
        if end is None:
            self.text(fence)
            return index + run
        content = source[index + run : end.start()]
        if len(content) > 1 and content[0] == content[-1] == " " and content.strip(" "):
            content = content[1:-1]
        if content:
            self.add(Code(content))
        return end.end()

    def delimiter(self, source: str, index: int) -> int:
        char = source[index]
        run = _run_length(source, index)
        before = source[index - 1] if index else " "
        after = source[index + run] if index + run < len(source) else " "
        can_open = not after.isspace()
        can_close = not before.isspace()
        if char == "_":
            can_open = can_open and not before.isalnum()
            can_close = can_close and not after.isalnum()
        sizes = (2,) if char == "~" else (2, 1)
        remaining = run
        while can_close and remaining and self.stack[-1][0][:1] == char:
            size = len(self.stack[-1][0])
            if size > remaining:
                break
            self.close()
            remaining -= size
        while can_open and remaining >= sizes[-1]:
            size = next(size for size in sizes if size <= remaining)
            wrapper = Strike if char == "~" else Bold if size == 2 else Italic
            self.stack.append((char * size, wrapper, []))
            remaining -= size
        self.text(char * remaining)
        return index + run

    def close(self) -> None:
        _, wrapper, children = self.stack.pop()
        assert wrapper is not None
        if children:
            self.add(wrapper(children))

    def angle(self, source: str, index: int) -> int:
        mention = _MENTION.match(source, index)
        if mention is not None:
            name = mention.group(2) or mention.group(1) or "all"
            self.add(Mention(name))
            return mention.end()
        link = _AUTOLINK.match(source, index)
        if link is not None and safe_url(link.group(1)) is not None:
            self.add(Link(link.group(1)))
            return link.end()
        self.text("<")
        return index + 1

    def link(self, source: str, index: int) -> int:
        end = _label_end(source, index)
        if end is None:
            self.text("[")
            return index + 1
        tail = _LINK_TAIL.match(source, end)
        url = safe_url(tail.group(1)) if tail is not None else None
        if tail is None or url is None:
            self.text("[")
            return index + 1
        label = _Inline(source[index + 1 : end]).parse()
        self.add(Link(url, label))
        return tail.end()


def _run_length(source: str, index: int) -> int:
    """
    How many copies of C{source[index]} start at C{index}.
    """
    char = source[index]
    end = index
    while end < len(source) and source[end] == char:
        end += 1
    return end - index


def _label_end(source: str, index: int) -> int | None:
    """
    Where the C{]} matching the C{[} at C{index} is, skipping escapes and
    code spans; C{None} when there is none within reach.
    """
    depth = 0
    end = index
    limit = min(len(source), index + 8000)
    while end < limit:
        char = source[end]
        if char == "\\":
            end += 2
            continue
        if char == "`":
            run = _run_length(source, end)
            close = re.compile(rf"(?<!`){'`' * run}(?!`)").search(source, end + run)
            end = close.end() if close is not None else end + run
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return end
        end += 1
    return None


# --- HTML ----------------------------------------------------------------------

_BLOCKS = frozenset(
    {"p", "div", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_HIDDEN = frozenset({"script", "style"})
_WRAPPERS: dict[str, _Wrapper] = {
    "strong": Bold,
    "b": Bold,
    "em": Italic,
    "i": Italic,
    "del": Strike,
    "s": Strike,
    "strike": Strike,
}


class _HtmlReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, _Wrapper | Link | None, list[Node]]] = [("", None, [])]
        self.raw: tuple[str, list[str], str | None] | None = None  # code, pre, mention
        self.hidden = 0
        self.need_break = False
        self.emitted = 0

    def emit(self, node: Node) -> None:
        self.flush_break()
        children = self.stack[-1][2]
        self.emitted += 1
        if isinstance(node, Text) and children and isinstance(children[-1], Text):
            children[-1] = Text(children[-1].text + node.text)
        else:
            children.append(node)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif self.raw is not None:
            return
        elif tag == "br":
            self.need_break = False
            self.emit(LineBreak())
        elif tag in ("code", "pre", "spark-mention"):
            language = None
            for name, value in attrs:
                if name == "class" and value and value.startswith("language-"):
                    language = value[len("language-") :][:40] or None
            self.raw = (tag, [], language)
        elif tag in _BLOCKS:
            self.need_break = True
        elif len(self.stack) > MAX_DEPTH:
            return
        elif tag in _WRAPPERS or tag == "a":
            self.flush_break()
            self.push(tag, attrs)

    def flush_break(self) -> None:
        # A pending line break belongs before the element that opens now.
        if self.need_break and self.emitted:
            self.stack[-1][2].append(LineBreak())
            self.emitted += 1
        self.need_break = False

    def push(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _WRAPPERS:
            self.stack.append((tag, _WRAPPERS[tag], []))
        else:
            url = safe_url(dict(attrs).get("href"))
            self.stack.append((tag, Link(url) if url else None, []))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            return
        self.handle_starttag(tag, attrs)
        if tag not in ("br", *_BLOCKS):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif self.raw is not None:
            kind, parts, language = self.raw
            if tag != kind and not (kind == "pre" and tag == "code"):
                return
            if tag == kind:
                self.raw = None
                self.emit_raw(kind, "".join(parts), language)
        elif tag in _BLOCKS:
            self.need_break = True
        elif len(self.stack) > 1 and self.stack[-1][0] == tag:
            _, wrapper, children = self.stack.pop()
            if isinstance(wrapper, Link):
                if children:
                    self.emit(Link(wrapper.url, children))
            elif wrapper is not None and children:
                self.emit(wrapper(children))
            else:
                for child in children:
                    self.emit(child)

    def emit_raw(self, kind: str, text: str, language: str | None) -> None:
        if not text:
            return
        if kind == "pre":
            # A code block takes no line of its own; a pending break stays
            # pending, unless nothing came before it.
            saved, self.need_break = self.need_break and self.emitted > 0, False
            self.emit(Pre(text, language))
            self.need_break = saved
        elif kind == "code":
            self.emit(Code(text))
        else:
            self.emit(Mention(text.lstrip("@")))

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.raw is not None:
            self.raw[1].append(data)
            return
        if "\n" in data and not data.strip():
            return  # source formatting between tags
        for index, line in enumerate(data.split("\n")):
            if index:
                self.emit(LineBreak())
            if line:
                self.emit(Text(line))

    def result(self) -> RichText:
        if self.raw is not None:
            kind, parts, language = self.raw
            self.raw = None
            self.emit_raw(kind, "".join(parts), language)
        while len(self.stack) > 1:
            self.handle_endtag(self.stack[-1][0])
        return RichText(self.stack[0][2])


def parse_html(source: str) -> RichText:
    """
    Read the HTML Webex returns for a message.
    """
    reader = _HtmlReader()
    try:
        reader.feed(source)
        reader.close()
    except (AssertionError, ValueError):
        # HTMLParser gives up on some malformed declarations (<![...):
        # read them as text; Webex writes none.
        reader = _HtmlReader()
        reader.feed(source.replace("<!", "&lt;!"))
        reader.close()
    return reader.result()


def _html(nodes: Iterable[Node]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Text):
            yield html.escape(node.text, quote=False).replace("\n", "<br/>")
        elif isinstance(node, _Container):
            tag = {Bold: "strong", Italic: "em", Strike: "del"}[type(node)]
            yield f"<{tag}>{''.join(_html(node.children))}</{tag}>"
        elif isinstance(node, Code):
            yield f"<code>{html.escape(node.text, quote=False)}</code>"
        elif isinstance(node, Pre):
            yield f"<pre><code>{html.escape(node.text, quote=False)}</code></pre>"
        elif isinstance(node, Link):
            label = "".join(_html(node.children))
            if not node.children:
                label = html.escape(node.url, quote=False)
            url = safe_url(node.url)
            usable = url == node.url and label
            yield f'<a href="{html.escape(node.url)}">{label}</a>' if usable else label
        elif isinstance(node, Mention):
            name = html.escape(node.name, quote=False)
            yield f'<spark-mention data-object-type="person">{name}</spark-mention>'
        elif isinstance(node, Emoji):
            yield node.unicode
        elif isinstance(node, LineBreak):
            yield "<br/>"


def to_html(text: RichText) -> str:
    """
    Write a tree as Webex-style HTML, as Webex renders markdown (tests read
    it back with L{parse_html}).
    """
    return f"<p>{''.join(_html(text.nodes))}</p>"
