# -*- test-case-name: tests.webex.test_split -*-
"""
Webex's message limit: at most L{MESSAGE_BYTES} bytes of C{markdown} and
of C{text} per message.

L{split_message} cuts a tree into pieces that each fit, as
C{(markdown, text)} pairs, where cutting is safe:

  - between top-level nodes (a formatted run, a link, a code block is
    never cut);
  - inside plain text, after a line break or a space, never inside a
    character.

When one unit (a word, a formatted run, a code block) is too long on its
own, or the pieces would be more than C{max_pieces}, the message is
refused with L{MessageTooLong}, and the sender is told instead of
receiving a mangled message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ...model.text import Node, RichText, Text
from .format import to_markdown

__all__ = ["MESSAGE_BYTES", "MessageTooLong", "split_message"]

#: Webex's limit on C{text} and C{markdown}, in UTF-8 bytes.
MESSAGE_BYTES = 7439
_WORDS = re.compile(r"[^\s]*\s*|\s+")


class MessageTooLong(ValueError):
    """
    A message cannot be cut into pieces that fit.

    @ivar reason: Why, for the notice to the sender.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _units(nodes: tuple[Node, ...]) -> Iterator[Node]:
    for node in nodes:
        if isinstance(node, Text):
            for word in _WORDS.findall(node.text):
                if word:
                    yield Text(word)
        else:
            yield node


def _size(nodes: list[Node]) -> tuple[str, str, int]:
    text = RichText(nodes)
    markdown = to_markdown(text)
    plain = text.plain_text()
    return markdown, plain, max(len(markdown.encode("utf-8")), len(plain.encode("utf-8")))


def split_message(
    text: RichText, limit: int = MESSAGE_BYTES, max_pieces: int = 10
) -> list[tuple[str, str]]:
    """
    Cut a message into pieces that fit; see the module docstring.

    @param text: The message.
    @param limit: Bytes allowed per piece, for C{markdown} and C{text} each.
    @param max_pieces: The most pieces sent for one message.
    @return: C{(markdown, text)} per piece, in order; one piece when the
        message fits.
    @raise MessageTooLong: If it cannot be cut safely into at most
        C{max_pieces} pieces.
    """
    markdown, plain, size = _size(list(text.nodes))
    if size <= limit:
        return [(markdown, plain)]
    pieces: list[tuple[str, str]] = []
    current: list[Node] = []
    estimate = 0
    for unit in _units(text.nodes):
        # Alone, a unit renders at most as long as within a piece, but for
        # the newlines around a code block: two bytes of margin cover them.
        unit_size = _size([unit])[2] + 2
        if unit_size > limit:
            raise MessageTooLong(f"one part of the message is longer than {limit} bytes")
        if current and estimate + unit_size > limit:
            pieces.append(_piece(current, limit))
            current, estimate = [], 0
        current.append(unit)
        estimate += unit_size
        if len(pieces) >= max_pieces:
            raise MessageTooLong(f"the message needs more than {max_pieces} messages")
    if current:
        pieces.append(_piece(current, limit))
    if len(pieces) > max_pieces:
        raise MessageTooLong(f"the message needs more than {max_pieces} messages")
    return pieces


def _piece(nodes: list[Node], limit: int) -> tuple[str, str]:
    markdown, plain, size = _size(nodes)
    if size > limit:  # the estimate is an upper bound; never send what does not fit
        raise MessageTooLong(f"a piece of the message is longer than {limit} bytes")
    return markdown, plain
