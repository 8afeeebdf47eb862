# -*- test-case-name: tests.slack.test_blocks -*-
"""
Tests for L{nextplane.connectors.slack.blocks}.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.blocks import blocks_to_rich_text, rich_text_block
from nextplane.model.address import Address
from nextplane.model.text import (
    Bold,
    Code,
    Emoji,
    Italic,
    LineBreak,
    Link,
    Mention,
    Pre,
    RichText,
    Strike,
    Text,
)

from .strategies import MENTION_NAMES, rich_texts

ALICE = Mention("Alice", Address("alice", "acme.test"))

#: A message's blocks as a Slack client sends them (shape of bolt-python's
#: tests/scenario_tests/test_message_bot.py and Slack's block reference).
MESSAGE_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "rich_text",
        "block_id": "Vq9",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Hi "},
                    {"type": "user", "user_id": "U123"},
                    {"type": "text", "text": ", "},
                    {"type": "text", "text": "very", "style": {"bold": True, "italic": True}},
                    {"type": "text", "text": " "},
                    {"type": "text", "text": "old", "style": {"strike": True}},
                    {"type": "text", "text": " "},
                    {"type": "text", "text": "make", "style": {"code": True}},
                    {"type": "text", "text": " "},
                    {"type": "link", "url": "https://x.test/", "text": "docs"},
                    {"type": "text", "text": " "},
                    {"type": "link", "url": "https://y.test/"},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "name": "+1", "unicode": "1f44d-1f3fb", "skin_tone": 2},
                    {"type": "emoji", "name": "party-parrot"},
                    {"type": "text", "text": "\nline two "},
                    {"type": "broadcast", "range": "here"},
                    {"type": "text", "text": " "},
                    {"type": "channel", "channel_id": "C1"},
                    {"type": "future_element", "text": "ignored"},
                ],
            },
            {
                "type": "rich_text_preformatted",
                "elements": [{"type": "text", "text": "x = 1\ny = 2"}],
                "border": 0,
            },
            {
                "type": "rich_text_quote",
                "elements": [{"type": "text", "text": "quoted\nlines"}],
            },
            {
                "type": "rich_text_list",
                "style": "ordered",
                "indent": 0,
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "two"}]},
                ],
            },
        ],
    },
    {"type": "section", "text": {"type": "mrkdwn", "text": "not rich text"}},
]


def resolve(user_id: str) -> Mention | None:
    """The one known test user."""
    return ALICE if user_id == "U123" else None


class ReadTests(SynchronousTestCase):
    """
    L{blocks_to_rich_text} reads rich_text blocks.
    """

    def test_message(self) -> None:
        """Sections, styles, links, users, emoji, pre, quotes and lists are read."""
        rich = blocks_to_rich_text(MESSAGE_BLOCKS, resolve)
        assert rich is not None
        self.assertEqual(
            rich.nodes,
            (
                Text("Hi "),
                ALICE,
                Text(", "),
                Bold([Italic([Text("very")])]),
                Text(" "),
                Strike([Text("old")]),
                Text(" "),
                Code("make"),
                Text(" "),
                Link("https://x.test/", [Text("docs")]),
                Text(" "),
                Link("https://y.test/"),
                Text(" "),
                Emoji("👍🏻", "+1::skin-tone-2"),
                Text(":party-parrot:"),
                LineBreak(),
                Text("line two @here #C1"),
                LineBreak(),
                Pre("x = 1\ny = 2"),
                LineBreak(),
                Text("> quoted"),
                LineBreak(),
                Text("> lines"),
                LineBreak(),
                Text("1. one"),
                LineBreak(),
                Text("2. two"),
            ),
        )

    def test_no_rich_text(self) -> None:
        """Without a rich_text block there is nothing to read."""
        self.assertIsNone(blocks_to_rich_text([{"type": "section"}]))
        self.assertIsNone(blocks_to_rich_text(None))
        self.assertIsNone(blocks_to_rich_text("blocks"))

    def test_unknown_user(self) -> None:
        """An unresolved user mention shows the id."""
        rich = blocks_to_rich_text(
            [
                {
                    "type": "rich_text",
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [{"type": "user", "user_id": "U9"}],
                        }
                    ],
                }
            ]
        )
        self.assertEqual(rich, RichText([Mention("U9")]))

    def test_emoji_by_unicode(self) -> None:
        """An emoji with an unknown name but a unicode value is still shown."""
        rich = blocks_to_rich_text(
            [
                {
                    "type": "rich_text",
                    "elements": [
                        {
                            "type": "rich_text_section",
                            "elements": [
                                {"type": "emoji", "name": "brand-new", "unicode": "1fae8"}
                            ],
                        }
                    ],
                }
            ]
        )
        self.assertEqual(rich, RichText([Emoji("\U0001fae8", "brand-new")]))

    def test_bullets(self) -> None:
        """Bullet lists are indented by their level."""
        rich = blocks_to_rich_text(
            [
                {
                    "type": "rich_text",
                    "elements": [
                        {
                            "type": "rich_text_list",
                            "style": "bullet",
                            "indent": 1,
                            "elements": [
                                {
                                    "type": "rich_text_section",
                                    "elements": [{"type": "text", "text": "a"}],
                                }
                            ],
                        }
                    ],
                }
            ]
        )
        self.assertEqual(rich, RichText([Text("  • a")]))

    @given(
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
            lambda inner: st.one_of(
                st.lists(inner, max_size=4),
                st.dictionaries(
                    st.sampled_from(
                        [
                            "type",
                            "elements",
                            "text",
                            "style",
                            "url",
                            "name",
                            "unicode",
                            "skin_tone",
                            "user_id",
                            "range",
                            "indent",
                            "offset",
                            "bold",
                            "rich_text",
                            "rich_text_section",
                            "rich_text_list",
                            "emoji",
                        ]
                    ),
                    inner,
                    max_size=5,
                ),
            ),
            max_leaves=30,
        )
    )
    @settings(max_examples=300)
    def test_never_raises(self, blocks: Any) -> None:
        """Malformed block structures never make reading raise."""
        blocks_to_rich_text([{"type": "rich_text", "elements": blocks}])
        blocks_to_rich_text(blocks)


class WriteTests(SynchronousTestCase):
    """
    L{rich_text_block} writes a tree as a rich_text block.
    """

    def test_write(self) -> None:
        """Styles, mentions, emoji, links and pre become elements."""
        block = rich_text_block(
            RichText(
                [
                    Bold([Text("a"), Italic([Text("b")])]),
                    Text("x*y"),
                    ALICE,
                    Mention("Zed"),
                    Emoji("👍🏽"),
                    Emoji("\ue000"),
                    Link("https://x.test/", [Text("docs")]),
                    Code("c"),
                    LineBreak(),
                    Pre("p"),
                ]
            ),
            lambda m: "U123" if m is ALICE else None,
        )
        self.assertEqual(
            block,
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "a", "style": {"bold": True}},
                            {"type": "text", "text": "b", "style": {"bold": True, "italic": True}},
                            {"type": "text", "text": "x*y"},
                            {"type": "user", "user_id": "U123"},
                            {"type": "text", "text": "@Zed"},
                            {"type": "emoji", "name": "+1", "skin_tone": 4},
                            {"type": "text", "text": "\ue000"},
                            {"type": "link", "url": "https://x.test/", "text": "docs"},
                            {"type": "text", "text": "c", "style": {"code": True}},
                            {"type": "text", "text": "\n"},
                        ],
                    },
                    {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "p"}]},
                ],
            },
        )

    @given(rich_texts)
    @settings(max_examples=300)
    def test_round_trip(self, rich: RichText) -> None:
        """Writing a tree as a block and reading it back keeps its text, line breaks aside."""
        ids = {name: f"U{i}" for i, name in enumerate(MENTION_NAMES)}
        names = {ident: Mention(name) for name, ident in ids.items()}
        again = blocks_to_rich_text([rich_text_block(rich, lambda m: ids.get(m.name))], names.get)
        assert again is not None
        self.assertEqual(again.plain_text().replace("\n", ""), rich.plain_text().replace("\n", ""))
