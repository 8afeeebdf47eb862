# -*- test-case-name: tests.xmpp.test_styling -*-
"""
XEP-0393 Message Styling: plain C{<body>} text with lightweight markup,
translated to and from the neutral L{RichText} tree.

Parsing (L{parse_styling}) follows XEP-0393 version 1.1:

  - B{Preformatted code blocks}: a line starting with C{```} opens a block
    (the rest of that line is a hint, kept as L{Pre.language}); a line that
    is C{```} (trailing whitespace allowed) closes it, so does the end of
    the message. The content is not styled.
  - B{Block quotes}: lines starting with C{>} are kept as plain text, markers
    included (a C{(?:> ?)+} prefix); the rest of the line is styled as if it
    started the line.
  - B{Spans}: C{*strong*} (L{Bold}), C{_emphasis_} (L{Italic}),
    C{~strike~} (L{Strike}), C{`preformatted`} (L{Code}, not styled
    inside). An opening directive must be at the beginning of the line,
    after a whitespace character or after a I{different} opening
    directive, and must be followed by a non-whitespace character; the
    closing directive is the first later directive of the same kind that
    follows a non-whitespace character. A span holds at least one
    character and never crosses a line. A directive that does not open or
    close a span is plain text.

XEP-0393 has no escape mechanism. This module uses U+2060 WORD JOINER (an
invisible, zero-width character) as one: a word joiner immediately before
one of C{*_~`} makes that character literal, and the word joiner is
dropped. The formatter inserts it only where a literal character could
otherwise open a span (or right after a literal word joiner), so other
clients, which show the word joiner as nothing, see the same text.

What parsing keeps, precisely: the plain text of the result is the input
with these characters removed, and nothing else changed: the opening and
closing directives of recognised spans; the opening fence line of each code
block and its closing fence line (each with the newline between it and the
block); one escaping U+2060 before a C{*}, C{_}, C{~} or C{`} outside code
blocks, and one escaping U+2060 at the start of a fence-like content line
inside a code block.

Formatting (L{format_styling}) writes the tree back as XEP-0393 text: links
as C{label (url)} or the bare URL, mentions as C{@name}, emoji as Unicode,
line breaks as C{\\n}, code blocks on lines of their own (a link whose
label is blank shows just its URL). Styles that
XEP-0393 cannot express at a given place (inside a word, or around text that
contains the directive character itself) are dropped rather than allowed to
garble the text, so re-parsing the result gives back the plain text of the
tree, except for link URLs shown after their label and line breaks added
around code blocks.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Sequence

from attrs import frozen

from nextplane.connectors.xmpp.xhtml import plain_text
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

__all__ = ["WORD_JOINER", "format_styling", "parse_styling"]

#: The escape character of this implementation (U+2060 WORD JOINER).
WORD_JOINER = "\u2060"

_FENCE = "```"
_STRONG, _EMPHASIS, _STRIKE, _CODE = "*", "_", "~", "`"
_SPAN_CHARS = frozenset((_STRONG, _EMPHASIS, _STRIKE, _CODE))
# Order in which several styles opened at one place are written; code is
# always innermost because nothing inside a preformatted span is styled.
_ORDER = (_STRONG, _EMPHASIS, _STRIKE, _CODE)
_QUOTE = re.compile(r"(?:> ?)+")
_FENCE_LIKE = re.compile("\u2060*```\\s*")
#: Characters that may need escaping or could start a block, in plain text.
_NEEDS_RENDERING = re.compile("[*_~`>\u2060]")


def _is_closing_fence(line: str) -> bool:
    return line.rstrip() == _FENCE


# -- parsing ---------------------------------------------------------------


def parse_styling(body: str) -> RichText:
    """
    Parse an XEP-0393 styled message body.

    Never raises; text that is not valid styling is plain text.

    @param body: The C{<body>} text.
    @return: The tree; code blocks become L{Pre}, spans L{Bold}, L{Italic},
        L{Strike} and L{Code}, newlines L{LineBreak}.
    """
    lines = body.split("\n")
    blocks: list[list[Node]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith(_FENCE):
            hint = line[len(_FENCE) :].strip() or None
            content: list[str] = []
            while index < len(lines):
                candidate = lines[index]
                index += 1
                if _is_closing_fence(candidate):
                    break
                if candidate.startswith(WORD_JOINER) and _FENCE_LIKE.fullmatch(candidate):
                    candidate = candidate[1:]
                content.append(candidate)
            blocks.append([Pre("\n".join(content), hint)])
        else:
            blocks.append(_parse_line(line))
    nodes: list[Node] = []
    for position, block in enumerate(blocks):
        if position:
            nodes.append(LineBreak())
        nodes.extend(block)
    return RichText(nodes)


def _parse_line(line: str) -> list[Node]:
    prefix = ""
    if line.startswith(">"):
        match = _QUOTE.match(line)
        if match is not None:
            prefix = match.group(0)
    tokens = _tokenize(line[len(prefix) :])
    closers: dict[str, list[int]] = {char: [] for char in _SPAN_CHARS}
    for position in range(1, len(tokens)):
        char, candidate = tokens[position]
        if candidate and not tokens[position - 1][0].isspace():
            closers[char].append(position)
    nodes = _parse_spans(tokens, closers, 0, len(tokens), frozenset())
    if prefix:
        if nodes and isinstance(nodes[0], Text):
            nodes[0] = Text(prefix + nodes[0].text)
        else:
            nodes.insert(0, Text(prefix))
    return nodes


def _tokenize(text: str) -> list[tuple[str, bool]]:
    """
    Split a line into characters, each marked as a possible directive or
    not; an escaping word joiner is dropped and makes its character plain.
    """
    tokens: list[tuple[str, bool]] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == WORD_JOINER and index + 1 < len(text) and text[index + 1] in _SPAN_CHARS:
            tokens.append((text[index + 1], False))
            index += 2
            continue
        tokens.append((char, char in _SPAN_CHARS))
        index += 1
    return tokens


def _parse_spans(
    tokens: Sequence[tuple[str, bool]],
    closers: dict[str, list[int]],
    low: int,
    high: int,
    active: frozenset[str],
) -> list[Node]:
    nodes: list[Node] = []
    plain: list[str] = []
    index = low
    while index < high:
        char, candidate = tokens[index]
        if (
            candidate
            and char not in active
            and (index == low or tokens[index - 1][0].isspace())
            and index + 1 < high
            and not tokens[index + 1][0].isspace()
        ):
            positions = closers[char]
            found = bisect.bisect_left(positions, index + 2)
            if found < len(positions) and positions[found] < high:
                end = positions[found]
                if plain:
                    nodes.append(Text("".join(plain)))
                    plain = []
                if char == _CODE:
                    nodes.append(Code("".join(c for c, _ in tokens[index + 1 : end])))
                else:
                    children = _parse_spans(tokens, closers, index + 1, end, active | {char})
                    nodes.append(_SPAN_NODE[char](children))
                index = end + 1
                continue
        plain.append(char)
        index += 1
    if plain:
        nodes.append(Text("".join(plain)))
    return nodes


_SPAN_NODE: dict[str, type[Bold] | type[Italic] | type[Strike]] = {
    _STRONG: Bold,
    _EMPHASIS: Italic,
    _STRIKE: Strike,
}


# -- formatting ------------------------------------------------------------


@frozen
class _Char:
    """One literal character of the output and the styles wanted on it."""

    char: str
    styles: frozenset[str]


@frozen
class _Break:
    """A line break."""


@frozen
class _UrlSuffix:
    """The C{ (url)} shown after a link's label."""

    url: str


_Item = _Char | _Break | Pre
_NO_STYLE: frozenset[str] = frozenset()


def format_styling(text: RichText) -> str:
    """
    Write a tree as an XEP-0393 styled body.

    Never raises, whatever the depth of the tree.

    @param text: The tree.
    @return: The body text.
    """
    if all(isinstance(node, Text) for node in text.nodes):
        # Most messages: unstyled text with nothing a reader could take for
        # a directive, so it is its own body (and the per-character
        # rendering below, a hot spot under load, is not needed).
        plain = "".join(node.text for node in text.nodes)  # type: ignore[union-attr]
        if not _NEEDS_RENDERING.search(plain):
            return plain
    lines: list[str] = []
    # None: just after a code block, whose closing fence ends a line.
    current: list[_Char] | None = []
    for item in _flatten(text.nodes):
        if isinstance(item, _Char):
            if current is None:
                current = []
            current.append(item)
        elif isinstance(item, _Break):
            if current is None:
                current = []
            else:
                lines.append(_render_line(current))
                current = []
        else:
            if current:
                lines.append(_render_line(current))
            lines.extend(_render_pre(item))
            current = None
    if current is not None:
        lines.append(_render_line(current))
    return "\n".join(lines)


def _chars(text: str, styles: frozenset[str]) -> Iterator[_Char | _Break]:
    for char in text:
        if char == "\n":
            yield _Break()
        else:
            yield _Char(char, styles)


def _flatten(nodes: Iterable[Node]) -> Iterator[_Item]:
    """
    Walk the tree without recursion, yielding characters with their styles,
    line breaks and code blocks in order.
    """
    stack: list[tuple[Iterator[Node | _UrlSuffix], frozenset[str]]] = [(iter(nodes), _NO_STYLE)]
    while stack:
        iterator, styles = stack[-1]
        node = next(iterator, None)
        if node is None:
            stack.pop()
        elif isinstance(node, Text):
            yield from _chars(node.text, styles)
        elif isinstance(node, Bold):
            stack.append((iter(node.children), styles | {_STRONG}))
        elif isinstance(node, Italic):
            stack.append((iter(node.children), styles | {_EMPHASIS}))
        elif isinstance(node, Strike):
            stack.append((iter(node.children), styles | {_STRIKE}))
        elif isinstance(node, Code):
            yield from _chars(node.text, styles | {_CODE})
        elif isinstance(node, Pre):
            yield node
        elif isinstance(node, Link):
            label = node.children
            if label == (Text(node.url),) or not plain_text(label).strip():
                yield from _chars(node.url, _NO_STYLE)
            else:
                stack.append((iter([_UrlSuffix(node.url)]), _NO_STYLE))
                stack.append((iter(label), styles))
        elif isinstance(node, _UrlSuffix):
            yield from _chars(f" ({node.url})", _NO_STYLE)
        elif isinstance(node, Mention):
            yield from _chars(f"@{node.name}", styles)
        elif isinstance(node, Emoji):
            yield from _chars(node.unicode, styles)
        elif isinstance(node, LineBreak):
            yield _Break()


def _render_pre(pre: Pre) -> list[str]:
    language = (pre.language or "").strip()
    if "\n" in language:
        language = ""
    lines = [_FENCE + language]
    if pre.text:
        for line in pre.text.split("\n"):
            lines.append(WORD_JOINER + line if _FENCE_LIKE.fullmatch(line) else line)
    lines.append(_FENCE)
    return lines


def _is_blank(char: str) -> bool:
    """Whitespace, or a word joiner: never next to a directive."""
    return char.isspace() or char == WORD_JOINER


def _effective_styles(chars: Sequence[_Char]) -> list[frozenset[str]]:
    """
    The styles to write on each character of one line.

    A style is dropped over a stretch of text that contains its own
    directive character. Blank characters take the styles common to the
    non-blank characters on both sides (and to the whole blank run), so
    spans open right before and close right after non-blank characters.
    """
    styles = [item.styles for item in chars]
    for style in _SPAN_CHARS:
        start = 0
        while start < len(styles):
            if style not in styles[start]:
                start += 1
                continue
            end = start
            while end < len(styles) and style in styles[end]:
                end += 1
            if any(chars[position].char == style for position in range(start, end)):
                for position in range(start, end):
                    styles[position] = styles[position] - {style}
            start = end
    position = 0
    while position < len(chars):
        if not _is_blank(chars[position].char):
            position += 1
            continue
        end = position
        run = styles[position]
        while end < len(chars) and _is_blank(chars[end].char):
            run = run & styles[end]
            end += 1
        before = styles[position - 1] if position > 0 else _NO_STYLE
        after = styles[end] if end < len(chars) else _NO_STYLE
        common = before & after & run
        if _CODE in common and (after - common):
            # Opening a style after the blank would need code closed and
            # reopened there; close it before the blank instead.
            common = common - {_CODE}
        for index in range(position, end):
            styles[index] = common
        position = end
    return styles


@frozen
class _Token:
    """A piece of an output line: a literal character or a directive."""

    char: str
    directive: bool = False
    opener: bool = False
    in_code: bool = False


def _render_line(chars: Sequence[_Char]) -> str:
    styles = _effective_styles(chars)
    tokens: list[_Token] = []
    stack: list[str] = []
    suppressed: set[str] = set()
    previous = ""
    for item, wanted_all in zip(chars, styles):
        suppressed &= wanted_all
        wanted = wanted_all - suppressed
        kept = [style for style in stack if style in wanted]
        added = [style for style in _ORDER if style in wanted and style not in stack]
        target = [style for style in kept + added if style != _CODE]
        if _CODE in wanted:
            target.append(_CODE)
        common = 0
        while common < len(stack) and common < len(target) and stack[common] == target[common]:
            common += 1
        closed = stack[common:]
        for style in reversed(closed):
            tokens.append(_Token(style, directive=True))
        opening = target[common:]
        stack = stack[:common]
        if opening:
            if not closed and (not tokens or previous.isspace()):
                for style in opening:
                    tokens.append(_Token(style, directive=True, opener=True))
                stack.extend(opening)
            else:
                suppressed.update(opening)
        tokens.append(_Token(item.char, in_code=_CODE in stack))
        previous = item.char
    for style in reversed(stack):
        tokens.append(_Token(style, directive=True))
    return _escape(tokens)


def _escape(tokens: Sequence[_Token]) -> str:
    """
    Join the tokens of a line, putting a word joiner before each literal
    directive character that could otherwise open a span, and before each
    one that follows a literal word joiner.
    """
    text = "".join(token.char for token in tokens)
    prefix = 0
    if text.startswith(">"):
        match = _QUOTE.match(text)
        if match is not None:
            prefix = len(match.group(0))
    last_seen: dict[str, int] = {}
    for position, token in enumerate(tokens):
        last_seen[token.char] = position
    out: list[str] = []
    for position, token in enumerate(tokens):
        char = token.char
        if not token.directive and char in _SPAN_CHARS:
            before = tokens[position - 1] if position else None
            after = tokens[position + 1] if position + 1 < len(tokens) else None
            if before is not None and not before.directive and before.char == WORD_JOINER:
                out.append(WORD_JOINER)
            elif (
                not token.in_code
                and (
                    position in (0, prefix)
                    or (before is not None and (before.char.isspace() or before.opener))
                )
                and after is not None
                and not after.char.isspace()
                and last_seen[char] > position
            ):
                out.append(WORD_JOINER)
        out.append(char)
    return "".join(out)
