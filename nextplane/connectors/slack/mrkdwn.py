# -*- test-case-name: tests.slack.test_mrkdwn -*-
"""
Slack C{mrkdwn} to and from the hub's L{RichText} tree.

Slack's message formatting
(U{https://docs.slack.dev/messaging/formatting-message-text}):

  - C{*bold*}, C{_italic_}, C{~strike~}, C{`code`} and C{```preformatted```};
  - links C{<https://example.com|label>} and C{<https://example.com>};
  - user mentions C{<@U123>} (optionally C{<@U123|name>}), channel mentions
    C{<#C123|general>}, special mentions C{<!here>}, C{<!channel>},
    C{<!everyone>}, user groups C{<!subteam^S123|@team>} and dates
    C{<!date^1392734382^{date}|fallback>};
  - emoji shortcodes C{:smile:} and C{:+1::skin-tone-2:};
  - exactly three HTML entities: C{&amp;}, C{&lt;}, C{&gt;}.

Parsing rules (this module's reading of Slack's behaviour):

  1. C{*}, C{_} and C{~} open a span when not preceded by a letter or digit
     and followed by a non-space other than themselves; they close one when
     preceded by a non-space other than themselves and not followed by a
     letter or digit. A span needs content, stays on one line, and pairs
     with the first possible closer. Unpaired delimiters are text.
  2. C{```} opens a preformatted block that ends at the next C{```}, across
     lines; otherwise C{`} opens inline code ending at the next C{`} on the
     same line. Their content is literal (only entities are decoded).
  3. C{<...>} on one line is a link or mention; C{&amp; &lt; &gt;} are
     decoded; a known shortcode becomes an L{Emoji}. Anything else is text.

Escaping: Slack has no escape for C{* _ ~ ` :}. When a literal one of
those characters could be read as markup, L{to_mrkdwn} puts a zero-width
space (U+200B) before it, which stops the pattern in Slack clients
(I{inference}), and L{parse_mrkdwn} drops a U+200B that directly precedes
one of them. A literal U+200B directly before markup is therefore lost:
that is the one text L{to_mrkdwn} cannot carry exactly.

Guarantees (tested with hypothesis in C{tests.slack.test_mrkdwn}):

  - neither function raises, whatever the input;
  - reading keeps every character that is not markup: for input without
    references (C{<...>}), entities, shortcodes or escapes, the plain text
    of the result equals the input once C{* _ ~ `} are removed from both;
    references, entities and shortcodes are replaced by what they display;
  - writing then reading any tree keeps its plain text exactly (for text
    without U+200B, see above);
  - both run in linear time (messages hold up to 40,000 characters).

Formatting mrkdwn cannot express is dropped while the text is kept: styles
inside a word (C{x*y*}), spans with outer whitespace or line breaks, code
containing backticks or line breaks, preformatted text containing C{```}.
For exact outbound formatting prefer Block Kit (L{nextplane.connectors.slack.blocks}).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence

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
from .emoji import EmojiTable, emoji_table

__all__ = [
    "ESCAPE",
    "MentionEncoder",
    "UserResolver",
    "escape_entities",
    "mentioned_user_ids",
    "node_plain_text",
    "parse_mrkdwn",
    "to_mrkdwn",
    "unescape_entities",
]

#: The zero-width space used as an escape before C{* _ ~ ` :}.
ESCAPE = "\u200b"
_SPECIALS = "*_~`:"
_STYLES: dict[str, type[Bold | Italic | Strike]] = {"*": Bold, "_": Italic, "~": Strike}
_DELIMS: dict[type, str] = {Bold: "*", Italic: "_", Strike: "~"}

#: Looks up a Slack user id (C{U123}); C{None} when unknown.
UserResolver = Callable[[str], Mention | None]
#: Finds the Slack user id of a mention; C{None} when it has none.
MentionEncoder = Callable[[Mention], str | None]

_SHORTCODE = re.compile(r":([a-z0-9_+'-]+):(?::skin-tone-([2-6]):)?")
_NAME_THEN_COLON = re.compile(r"[a-z0-9_+'-]+:")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>|]+")
_ID = re.compile(r"[A-Z0-9][A-Z0-9._-]*")
_USER_REF = re.compile(r"<@([A-Z0-9][A-Z0-9._-]*)(?:\|[^<>\n]*)?>")


def escape_entities(text: str) -> str:
    """
    Escape C{&}, C{<} and C{>} the way Slack requires.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_entities(text: str) -> str:
    """
    Decode Slack's three entities (and nothing else).
    """
    return re.sub(r"&(amp|lt|gt);", lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def mentioned_user_ids(text: str) -> list[str]:
    """
    The user ids mentioned in C{text} as C{<@U123>}, in order, without
    repeats; for resolving them before calling L{parse_mrkdwn}.
    """
    seen: dict[str, None] = {}
    for match in _USER_REF.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


# --- parsing ---------------------------------------------------------------

_LIT, _DELIM, _NODE, _NL = range(4)
_Token = tuple[int, object, bool, bool]


def _angle(inner: str, resolve_user: UserResolver | None) -> Node | None:
    if inner.startswith("@"):
        ident, _, label = inner[1:].partition("|")
        if not _ID.fullmatch(ident):
            return None
        mention = resolve_user(ident) if resolve_user is not None else None
        if mention is None:
            mention = Mention(unescape_entities(label) or ident)
        return mention
    if inner.startswith("#"):
        ident, _, label = inner[1:].partition("|")
        if not _ID.fullmatch(ident):
            return None
        return Text("#" + (unescape_entities(label) or ident))
    if inner.startswith("!"):
        command, _, label = inner[1:].partition("|")
        if not command:
            return None
        if command in ("here", "channel", "everyone"):
            return Text("@" + command)
        if command.startswith("subteam^"):
            return Text(unescape_entities(label) or "@" + command[len("subteam^") :])
        return Text(unescape_entities(label) or command)
    url, _, label = inner.partition("|")
    url = unescape_entities(url)
    if not _URL.fullmatch(url):
        return None
    label = unescape_entities(label)
    return Link(url, (Text(label),) if label else ())


def _flanks(text: str, index: int, char: str) -> tuple[bool, bool]:
    prev = text[index - 1] if index > 0 else None
    nxt = text[index + 1] if index + 1 < len(text) else None
    can_open = (
        (prev is None or not prev.isalnum())
        and nxt is not None
        and not nxt.isspace()
        and nxt != char
    )
    can_close = (
        prev is not None
        and not prev.isspace()
        and prev != char
        and (nxt is None or not nxt.isalnum())
    )
    return can_open, can_close


def _find(text: str, char: str, start: int) -> int:
    found = text.find(char, start)
    return found if found != -1 else len(text)


def _tokenize(text: str, resolve_user: UserResolver | None, table: EmojiTable) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(text)
    next_gt = next_lt = next_nl = -1
    i = 0
    while i < n:
        c = text[i]
        if c == ESCAPE and i + 1 < n and text[i + 1] in _SPECIALS:
            tokens.append((_LIT, text[i + 1], False, False))
            i += 2
        elif c == "\n":
            tokens.append((_NL, None, False, False))
            i += 1
        elif c == "&":
            for entity, char in (("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
                if text.startswith(entity, i):
                    tokens.append((_LIT, char, False, False))
                    i += len(entity)
                    break
            else:
                tokens.append((_LIT, "&", False, False))
                i += 1
        elif c == "<":
            # Positions of the next '>', '<' and newline only move forward,
            # so each is searched for once per occurrence: linear time.
            if next_gt <= i:
                next_gt = _find(text, ">", i + 1)
            if next_lt <= i:
                next_lt = _find(text, "<", i + 1)
            if next_nl <= i:
                next_nl = _find(text, "\n", i + 1)
            end = next_gt
            node = None
            if end < n and end < next_lt and end < next_nl:
                node = _angle(text[i + 1 : end], resolve_user)
            if node is None:
                tokens.append((_LIT, "<", False, False))
                i += 1
            else:
                tokens.append((_NODE, node, False, False))
                i = end + 1
        elif c == "`":
            if text.startswith("```", i):
                end = text.find("```", i + 3)
                if end != -1:
                    tokens.append((_NODE, Pre(unescape_entities(text[i + 3 : end])), False, False))
                    i = end + 3
                    continue
            end = text.find("`", i + 1)
            if end > i + 1 and "\n" not in text[i + 1 : end]:
                tokens.append((_NODE, Code(unescape_entities(text[i + 1 : end])), False, False))
                i = end + 1
            else:
                tokens.append((_LIT, "`", False, False))
                i += 1
        elif c == ":":
            match = _SHORTCODE.match(text, i)
            emoji: Emoji | None = None
            if match is not None:
                name, tone = match.group(1), match.group(2)
                if tone is not None:
                    found = table.to_unicode(name, int(tone))
                    if found is not None:
                        emoji = Emoji(found, f"{name}::skin-tone-{tone}")
                        i = match.end()
                if emoji is None:
                    found = table.to_unicode(name)
                    if found is not None:
                        emoji = Emoji(found, name)
                        i = match.end(1) + 1
            if emoji is not None:
                tokens.append((_NODE, emoji, False, False))
            elif match is not None:
                # An unknown shortcode stays text, closing colon included,
                # so that colon cannot open the next one (as Slack reads it).
                end = match.end(1) + 1
                tokens.extend((_LIT, ch, False, False) for ch in text[i:end])
                i = end
            else:
                tokens.append((_LIT, ":", False, False))
                i += 1
        elif c in _STYLES:
            can_open, can_close = _flanks(text, i, c)
            tokens.append((_DELIM, c, can_open, can_close))
            i += 1
        else:
            tokens.append((_LIT, c, False, False))
            i += 1
    return tokens


class _Closers:
    """
    Where spans can close, for finding an opener's closer in O(log n).
    """

    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.by_char: dict[str, list[int]] = {char: [] for char in _STYLES}
        self.stops: list[int] = []
        for index, (kind, value, _, can_close) in enumerate(tokens):
            if kind == _DELIM and can_close:
                self.by_char[str(value)].append(index)
            elif kind == _NL or (kind == _NODE and isinstance(value, Pre)):
                self.stops.append(index)

    def find(self, char: str, opener: int, hi: int) -> int | None:
        """
        The first closer of C{char} after C{opener} (with content between),
        before C{hi} and on the same line.
        """
        candidates = self.by_char[char]
        position = bisect.bisect_left(candidates, opener + 2)
        if position == len(candidates) or candidates[position] >= hi:
            return None
        closer = candidates[position]
        stop = bisect.bisect_left(self.stops, opener)
        if stop < len(self.stops) and self.stops[stop] < closer:
            return None
        return closer


def _build(tokens: Sequence[_Token], lo: int, hi: int, closers: _Closers) -> list[Node]:
    out: list[Node] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(Text("".join(buf)))
            buf.clear()

    i = lo
    while i < hi:
        kind, value, can_open, _ = tokens[i]
        if kind == _DELIM and can_open:
            closer = closers.find(str(value), i, hi)
            if closer is not None:
                flush()
                out.append(_STYLES[str(value)](_build(tokens, i + 1, closer, closers)))
                i = closer + 1
                continue
        if kind in (_LIT, _DELIM):
            buf.append(str(value))
        elif kind == _NL:
            flush()
            out.append(LineBreak())
        else:
            flush()
            assert isinstance(value, Text | Mention | Link | Emoji | Code | Pre)
            out.append(value)
        i += 1
    flush()
    return out


def parse_mrkdwn(
    text: str,
    resolve_user: UserResolver | None = None,
    emoji: EmojiTable | None = None,
) -> RichText:
    """
    Read Slack mrkdwn (a message's C{text}) into a L{RichText}.

    Never raises: whatever cannot be read as markup is kept as text.

    @param text: The mrkdwn text, entities still encoded.
    @param resolve_user: Finds the L{Mention} for a user id; unresolved
        mentions show the id (or the label Slack gave).
    @param emoji: The shortcode table (default: L{emoji_table}).
    """
    table = emoji if emoji is not None else emoji_table()
    tokens = _tokenize(text, resolve_user, table)
    return RichText(merge_texts(_build(tokens, 0, len(tokens), _Closers(tokens))))


# --- writing ---------------------------------------------------------------


def node_plain_text(node: Node) -> str:
    """
    The plain text of one node, as L{RichText.plain_text} renders it.
    """
    return RichText((node,)).plain_text()


def _has_block(nodes: Iterable[Node]) -> bool:
    for node in nodes:
        if isinstance(node, Pre):
            return True
        if isinstance(node, Bold | Italic | Strike | Link) and _has_block(node.children):
            return True
    return False


class _Writer:
    def __init__(self, user_id_for: MentionEncoder | None, table: EmojiTable) -> None:
        self._user_id_for = user_id_for
        self._table = table
        self.pieces: list[tuple[str, bool]] = []

    def literal(self, text: str) -> None:
        if text:
            self.pieces.append((text, True))

    def markup(self, text: str) -> None:
        if text:
            self.pieces.append((text, False))

    def nodes(
        self,
        nodes: Sequence[Node],
        styles: frozenset[type],
        before: str | None,
        after: str | None,
    ) -> None:
        plains = [node_plain_text(node) for node in nodes]
        firsts: list[str | None] = [None] * (len(nodes) + 1)
        firsts[len(nodes)] = after
        for index in range(len(nodes) - 1, -1, -1):
            firsts[index] = plains[index][0] if plains[index] else firsts[index + 1]
        previous = before
        for index, node in enumerate(nodes):
            self.node(node, plains[index], styles, previous, firsts[index + 1])
            if plains[index]:
                previous = plains[index][-1]

    def node(
        self,
        node: Node,
        plain: str,
        styles: frozenset[type],
        before: str | None,
        after: str | None,
    ) -> None:
        if isinstance(node, Text):
            self.literal(node.text)
        elif isinstance(node, LineBreak):
            self.markup("\n")
        elif isinstance(node, Bold | Italic | Strike):
            self.styled(node, plain, styles, before, after)
        elif isinstance(node, Code):
            if node.text and "`" not in node.text and "\n" not in node.text:
                self.markup("`" + escape_entities(node.text) + "`")
            else:
                self.literal(node.text)
        elif isinstance(node, Pre):
            if node.text and "```" not in node.text and not node.text.endswith("`"):
                self.markup("```" + escape_entities(node.text) + "```")
            else:
                self.literal(node.text)
        elif isinstance(node, Link):
            self.link(node, plain)
        elif isinstance(node, Mention):
            ident = self._user_id_for(node) if self._user_id_for is not None else None
            if ident and _ID.fullmatch(ident):
                self.markup(f"<@{ident}>")
            else:
                self.literal(plain)
        elif isinstance(node, Emoji):
            code = None
            if node.shortcode and self._table.parse_shortcode(node.shortcode) == node.unicode:
                code = node.shortcode
            if code is None:
                code = self._table.to_shortcode(node.unicode)
                if code is not None and self._table.parse_shortcode(code) != node.unicode:
                    code = None
            if code is not None:
                self.markup(f":{code}:")
            else:
                self.literal(node.unicode)

    def styled(
        self,
        node: Bold | Italic | Strike,
        plain: str,
        styles: frozenset[type],
        before: str | None,
        after: str | None,
    ) -> None:
        kind = type(node)
        delim = _DELIMS[kind]
        expressible = (
            kind not in styles
            and bool(plain)
            and not plain[0].isspace()
            and not plain[-1].isspace()
            and plain[0] != delim
            and plain[-1] != delim
            and "\n" not in plain
            and not _has_block(node.children)
            and (before is None or not before.isalnum())
            and (after is None or not after.isalnum())
        )
        if not expressible:
            self.nodes(node.children, styles, before, after)
            return
        self.markup(delim)
        self.nodes(node.children, styles | {kind}, delim, delim)
        self.markup(delim)

    def link(self, node: Link, plain: str) -> None:
        url = node.url
        if not _URL.fullmatch(url.replace("|", "%7C")):
            self.literal(plain)
            return
        if node.children:
            if not plain:
                return
            if "\n" in plain:
                self.literal(plain)
                return
            self.markup(
                "<" + escape_entities(url.replace("|", "%7C")) + "|" + escape_entities(plain) + ">"
            )
        elif "|" in url:
            self.literal(plain)
        else:
            self.markup("<" + escape_entities(url) + ">")

    def result(self) -> str:
        full = "".join(text for text, _ in self.pieces)
        literal = [flag for text, flag in self.pieces for _ in text]
        out: list[str] = []
        for position, char in enumerate(full):
            if not literal[position]:
                out.append(char)
            elif char == "&":
                out.append("&amp;")
            elif char == "<":
                out.append("&lt;")
            elif char == ">":
                out.append("&gt;")
            elif char in "*_~":
                prev = full[position - 1] if position else ""
                nxt = full[position + 1] if position + 1 < len(full) else ""
                if not (prev.isalnum() and nxt.isalnum()):
                    out.append(ESCAPE)
                out.append(char)
            elif char == "`" or (char == ":" and _NAME_THEN_COLON.match(full, position + 1)):
                out.append(ESCAPE + char)
            else:
                out.append(char)
        return "".join(out)


def to_mrkdwn(
    rich: RichText,
    user_id_for: MentionEncoder | None = None,
    emoji: EmojiTable | None = None,
) -> str:
    """
    Write a L{RichText} as Slack mrkdwn.

    Never raises; formatting that mrkdwn cannot express is dropped and its
    text kept (see the module docstring).

    @param rich: The text.
    @param user_id_for: Finds the Slack user id of a L{Mention}; mentions
        without one are written as C{@name}.
    @param emoji: The shortcode table (default: L{emoji_table}).
    """
    writer = _Writer(user_id_for, emoji if emoji is not None else emoji_table())
    writer.nodes(rich.nodes, frozenset(), None, None)
    return writer.result()
