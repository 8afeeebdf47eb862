# -*- test-case-name: tests.slack.test_blocks -*-
"""
Block Kit C{rich_text} blocks to and from the hub's L{RichText} tree.

Slack sends a C{rich_text} block with every message typed in a Slack client
(U{https://docs.slack.dev/reference/block-kit/blocks/rich-text-block}). Its
C{elements} are C{rich_text_section}, C{rich_text_preformatted},
C{rich_text_quote} and C{rich_text_list}; sections hold inline elements:

  - C{text} (C{style}: C{bold}, C{italic}, C{strike}, C{code});
  - C{link} (C{url}, optional C{text}, C{style});
  - C{user} (C{user_id}), C{usergroup}, C{channel}, C{broadcast} (C{range});
  - C{emoji} (C{name}, optional C{unicode} hex and C{skin_tone} 2..6);
  - C{date} (C{fallback}), C{color} (C{value}).

Parsing never raises on unexpected shapes: unknown elements are skipped,
so a newer payload degrades to less formatting. Quotes become text
prefixed with C{"> "} and list items lines prefixed with a bullet or number,
as the tree has no such nodes.

L{rich_text_block} writes a tree back as one block, which keeps formatting
mrkdwn cannot express (styles inside words, literal C{*_~`}).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
from .emoji import EmojiTable, emoji_table, unified_to_unicode
from .mrkdwn import MentionEncoder, UserResolver, node_plain_text

__all__ = ["blocks_to_rich_text", "rich_text_block", "rich_text_to_nodes"]


def _text_nodes(text: str) -> list[Node]:
    nodes: list[Node] = []
    for index, line in enumerate(text.split("\n")):
        if index:
            nodes.append(LineBreak())
        if line:
            nodes.append(Text(line))
    return nodes


def _styled(nodes: list[Node], style: Any) -> list[Node]:
    if not isinstance(style, Mapping) or not nodes:
        return nodes
    result: list[Node] = nodes
    if style.get("strike"):
        result = [Strike(result)]
    if style.get("italic"):
        result = [Italic(result)]
    if style.get("bold"):
        result = [Bold(result)]
    return result


def _emoji(element: Mapping[str, Any], table: EmojiTable) -> Node | None:
    name = element.get("name")
    tone = element.get("skin_tone")
    tone = tone if isinstance(tone, int) and 2 <= tone <= 6 else None
    char: str | None = None
    if isinstance(name, str):
        char = table.to_unicode(name, tone) if tone else table.to_unicode(name)
        if char is None and tone:
            char, tone = table.to_unicode(name), None
    if char is None and isinstance(element.get("unicode"), str):
        try:
            char = unified_to_unicode(element["unicode"])
        except ValueError:
            char = None
    if char is None:
        return Text(f":{name}:") if isinstance(name, str) and name else None
    shortcode = None
    if isinstance(name, str) and name:
        shortcode = name if tone is None else f"{name}::skin-tone-{tone}"
    return Emoji(char, shortcode)


def _inline(
    element: Mapping[str, Any], resolve_user: UserResolver | None, table: EmojiTable
) -> list[Node]:
    kind = element.get("type")
    style = element.get("style")
    if kind == "text":
        text = element.get("text")
        if not isinstance(text, str) or not text:
            return []
        if isinstance(style, Mapping) and style.get("code"):
            code: list[Node] = [Code(text)] if "\n" not in text else [Pre(text)]
            return _styled(code, style)
        return _styled(_text_nodes(text), style)
    if kind == "link":
        url = element.get("url")
        if not isinstance(url, str) or not url:
            return []
        label = element.get("text")
        children = [Text(label)] if isinstance(label, str) and label else []
        return _styled([Link(url, children)], style)
    if kind == "user":
        ident = element.get("user_id")
        if not isinstance(ident, str) or not ident:
            return []
        mention = resolve_user(ident) if resolve_user is not None else None
        return _styled([mention or Mention(ident)], style)
    if kind == "usergroup":
        ident = element.get("usergroup_id")
        return [Text(f"@{ident}")] if isinstance(ident, str) and ident else []
    if kind == "channel":
        ident = element.get("channel_id")
        return [Text(f"#{ident}")] if isinstance(ident, str) and ident else []
    if kind == "broadcast":
        target = element.get("range")
        return [Text(f"@{target}")] if isinstance(target, str) and target else []
    if kind == "emoji":
        node = _emoji(element, table)
        return [node] if node is not None else []
    if kind == "date":
        fallback = element.get("fallback")
        return _text_nodes(fallback) if isinstance(fallback, str) else []
    if kind == "color":
        value = element.get("value")
        return [Text(value)] if isinstance(value, str) else []
    return []


def _section(elements: Any, resolve_user: UserResolver | None, table: EmojiTable) -> list[Node]:
    nodes: list[Node] = []
    if isinstance(elements, Sequence) and not isinstance(elements, str):
        for element in elements:
            if isinstance(element, Mapping):
                nodes.extend(_inline(element, resolve_user, table))
    return nodes


def _ends_with_break(nodes: Sequence[Node]) -> bool:
    return not nodes or isinstance(nodes[-1], LineBreak)


def _prefixed(prefix: str, nodes: list[Node]) -> list[Node]:
    result: list[Node] = [Text(prefix)]
    for node in nodes:
        result.append(node)
        if isinstance(node, LineBreak):
            result.append(Text(prefix))
    if isinstance(result[-1], Text) and result[-1].text == prefix and len(result) > 1:
        result.pop()
    return result


def rich_text_to_nodes(
    block: Mapping[str, Any],
    resolve_user: UserResolver | None = None,
    emoji: EmojiTable | None = None,
) -> list[Node]:
    """
    The nodes of one C{rich_text} block.

    @param block: A block whose C{type} is C{rich_text}.
    @param resolve_user: Finds the L{Mention} of a user id.
    @param emoji: The shortcode table (default: L{emoji_table}).
    """
    table = emoji if emoji is not None else emoji_table()
    nodes: list[Node] = []
    elements = block.get("elements")
    if not isinstance(elements, Sequence) or isinstance(elements, str):
        return nodes
    for element in elements:
        if not isinstance(element, Mapping):
            continue
        kind = element.get("type")
        part: list[Node]
        if kind == "rich_text_section":
            part = _section(element.get("elements"), resolve_user, table)
        elif kind == "rich_text_preformatted":
            inner = _section(element.get("elements"), resolve_user, table)
            text = RichText(inner).plain_text()
            part = [Pre(text)] if text else []
        elif kind == "rich_text_quote":
            inner = _section(element.get("elements"), resolve_user, table)
            part = _prefixed("> ", inner) if inner else []
        elif kind == "rich_text_list":
            part = []
            ordered = element.get("style") == "ordered"
            indent = element.get("indent")
            pad = "  " * indent if isinstance(indent, int) and 0 < indent < 10 else ""
            offset = element.get("offset")
            start = offset if isinstance(offset, int) and offset >= 0 else 0
            items = element.get("elements")
            if isinstance(items, Sequence) and not isinstance(items, str):
                for number, item in enumerate(items, start=start + 1):
                    if not isinstance(item, Mapping):
                        continue
                    if part:
                        part.append(LineBreak())
                    bullet = f"{number}. " if ordered else "• "
                    part.append(Text(pad + bullet))
                    part.extend(_section(item.get("elements"), resolve_user, table))
        else:
            continue
        if not part:
            continue
        if nodes and not _ends_with_break(nodes):
            nodes.append(LineBreak())
        nodes.extend(part)
    return nodes


def blocks_to_rich_text(
    blocks: Any,
    resolve_user: UserResolver | None = None,
    emoji: EmojiTable | None = None,
) -> RichText | None:
    """
    The L{RichText} of a message's C{blocks}, from its C{rich_text} blocks.

    @return: C{None} when there is no C{rich_text} block (the caller then
        reads the message's mrkdwn C{text} instead).
    """
    if not isinstance(blocks, Sequence) or isinstance(blocks, str):
        return None
    nodes: list[Node] = []
    found = False
    for block in blocks:
        if isinstance(block, Mapping) and block.get("type") == "rich_text":
            found = True
            part = rich_text_to_nodes(block, resolve_user, emoji)
            if part and nodes and not _ends_with_break(nodes):
                nodes.append(LineBreak())
            nodes.extend(part)
    if not found:
        return None
    return RichText(merge_texts(nodes, keep_empty=True))


# --- writing ---------------------------------------------------------------


class _BlockWriter:
    def __init__(self, user_id_for: MentionEncoder | None, table: EmojiTable) -> None:
        self._user_id_for = user_id_for
        self._table = table
        self.elements: list[dict[str, Any]] = []
        self._section: list[dict[str, Any]] = []

    def _close_section(self) -> None:
        if self._section:
            self.elements.append({"type": "rich_text_section", "elements": self._section})
            self._section = []

    def _text(self, text: str, style: dict[str, bool]) -> None:
        if not text:
            return
        element: dict[str, Any] = {"type": "text", "text": text}
        if style:
            element["style"] = dict(style)
        last = self._section[-1] if self._section else None
        if (
            last is not None
            and last["type"] == "text"
            and last.get("style") == element.get("style")
        ):
            last["text"] += text
        else:
            self._section.append(element)

    def nodes(self, nodes: Iterable[Node], style: dict[str, bool]) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self._text(node.text, style)
            elif isinstance(node, LineBreak):
                self._text("\n", style)
            elif isinstance(node, Bold):
                self.nodes(node.children, {**style, "bold": True})
            elif isinstance(node, Italic):
                self.nodes(node.children, {**style, "italic": True})
            elif isinstance(node, Strike):
                self.nodes(node.children, {**style, "strike": True})
            elif isinstance(node, Code):
                self._text(node.text, {**style, "code": True})
            elif isinstance(node, Pre):
                if node.text:
                    self._close_section()
                    self.elements.append(
                        {
                            "type": "rich_text_preformatted",
                            "elements": [{"type": "text", "text": node.text}],
                        }
                    )
            elif isinstance(node, Link):
                label = RichText(node.children).plain_text()
                if node.children and not label:
                    continue
                element: dict[str, Any] = {"type": "link", "url": node.url}
                if label:
                    element["text"] = label
                if style:
                    element["style"] = dict(style)
                self._section.append(element)
            elif isinstance(node, Mention):
                ident = self._user_id_for(node) if self._user_id_for is not None else None
                if ident:
                    self._section.append({"type": "user", "user_id": ident})
                else:
                    self._text(node_plain_text(node), style)
            elif isinstance(node, Emoji):
                code = node.shortcode
                if code is None or self._table.parse_shortcode(code) != node.unicode:
                    code = self._table.to_shortcode(node.unicode)
                if code is None:
                    self._text(node.unicode, style)
                    continue
                name, _, tone = code.partition("::skin-tone-")
                emoji: dict[str, Any] = {"type": "emoji", "name": name}
                if tone:
                    emoji["skin_tone"] = int(tone)
                self._section.append(emoji)

    def block(self) -> dict[str, Any]:
        self._close_section()
        return {"type": "rich_text", "elements": self.elements}


def rich_text_block(
    rich: RichText,
    user_id_for: MentionEncoder | None = None,
    emoji: EmojiTable | None = None,
) -> dict[str, Any]:
    """
    Write a L{RichText} as one Block Kit C{rich_text} block.

    @param user_id_for: Finds the Slack user id of a L{Mention}; others are
        written as C{@name} text.
    @param emoji: The shortcode table (default: L{emoji_table}).
    """
    writer = _BlockWriter(user_id_for, emoji if emoji is not None else emoji_table())
    writer.nodes(rich.nodes, {})
    return writer.block()
