"""
Hypothesis strategies for Slack text tests.
"""

from __future__ import annotations

from hypothesis import strategies as st

from nextplane.connectors.slack.emoji import emoji_table
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

#: Characters that matter to mrkdwn, mixed with ordinary ones.
SPECIAL = "*_~`:<>&|@#!\n \t"
#: Text without the escape character U+200B.
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIAL + "ab1Z.é😄"),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\u200b"),
    ),
    max_size=20,
)

_table = emoji_table()
_emoji_names = [*sorted(_table.by_name)[:: max(1, len(_table.by_name) // 200)], "+1", "smile"]


@st.composite
def emojis(draw: st.DrawFn) -> Emoji:
    """A known emoji, sometimes skin-toned, with or without its shortcode."""
    name = draw(st.sampled_from(_emoji_names))
    tone = draw(st.sampled_from([None, None, 2, 6]))
    char = _table.to_unicode(name, tone) if tone else None
    if char is None:
        tone = None
        char = _table.by_name[name]
    shortcode = name if tone is None else f"{name}::skin-tone-{tone}"
    return Emoji(char, draw(st.sampled_from([shortcode, None])))


MENTION_NAMES = ["Alice", "Bob Smith", "x*y", "_z_"]
urls = st.sampled_from(
    [
        "https://example.com/",
        "https://e.com/a?b=1&c=<2>",
        "mailto:a@b.test",
        "https://x.test/a|b",
        "nope",
    ]
)

leaves: st.SearchStrategy[Node] = st.one_of(
    texts.map(Text),
    texts.map(Code),
    texts.map(Pre),
    st.builds(LineBreak),
    st.sampled_from([*MENTION_NAMES, "Carol"]).map(Mention),
    emojis(),
    st.builds(Link, urls, st.lists(texts.map(Text), max_size=2)),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    kids = st.lists(children, max_size=4)
    return st.one_of(st.builds(Bold, kids), st.builds(Italic, kids), st.builds(Strike, kids))


nodes = st.recursive(leaves, _extend, max_leaves=12)
rich_texts = st.lists(nodes, max_size=8).map(RichText)
