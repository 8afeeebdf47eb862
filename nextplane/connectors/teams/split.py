# -*- test-case-name: tests.teams.test_split -*-
"""
Splitting a long message into several Teams can take.

Teams refuses an activity above 100 KB, counted on its JSON in UTF-16
(413 C{MessageSizeTooBig}, L{nextplane.connectors.teams.api.MAX_PAYLOAD}).
L{split_for_teams} cuts a L{RichText} into pieces whose rendered text fits
a budget, between top-level nodes where it can; a node too large on its
own is flattened to its text (its formatting is lost, never its text) and
cut between characters, preferring line ends and spaces.

The size of a piece is the sum of its nodes' sizes, because the writers
render a tree node by node; a node's size is its rendering as a JSON
string in UTF-16. The default budget leaves room for the activity around
the text (addressing, mention entities, a card header).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from ...model.text import Node, RichText, Text
from .api import MAX_PAYLOAD
from .format import to_teams_html

__all__ = ["DEFAULT_BUDGET", "size_of", "split_for_teams"]

#: Bytes of UTF-16 left for the text of one activity.
DEFAULT_BUDGET = MAX_PAYLOAD - 8 * 1024

#: Renders a tree as the text Teams will receive.
Render = Callable[[RichText], str]


def _html(tree: RichText) -> str:
    return to_teams_html(tree).text


def size_of(text: str) -> int:
    """
    What C{text} adds to an activity: its JSON string form in UTF-16 bytes.
    """
    return len(json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-16-le"))


def _cut(text: str, budget: int, render: Render) -> Iterator[str]:
    # Greedy by character with cached sizes; cut at the last newline or
    # space of a full piece when there is one in its second half.
    sizes: dict[str, int] = {}
    start, used, index = 0, 0, 0
    while index < len(text):
        char = text[index]
        cost = sizes.get(char)
        if cost is None:
            cost = sizes[char] = size_of(render(RichText([Text(char)])))
        if used + cost > budget and index > start:
            cut = max(text.rfind("\n", start, index), text.rfind(" ", start, index))
            end = cut + 1 if cut > start + (index - start) // 2 else index
            yield text[start:end]
            start, used, index = end, 0, end
            continue
        used += cost
        index += 1
    if start < len(text):
        yield text[start:]


def split_for_teams(
    tree: RichText, budget: int = DEFAULT_BUDGET, render: Render = _html
) -> list[RichText]:
    """
    Pieces of C{tree}, in order, each rendering within C{budget} bytes.

    @param render: The writer used to send (Teams HTML by default).
    @return: One piece when the whole fits; never an empty list.
    """
    if size_of(render(tree)) <= budget:
        return [tree]
    pieces: list[list[Node]] = [[]]
    used = 0
    for node in tree.nodes:
        cost = size_of(render(RichText([node])))
        if cost > budget:
            for part in _cut(RichText([node]).plain_text(), budget, render):
                pieces.append([Text(part)])
            pieces.append([])
            used = 0
            continue
        if used + cost > budget:
            pieces.append([])
            used = 0
        pieces[-1].append(node)
        used += cost
    return [RichText(p) for p in pieces if p] or [tree]
