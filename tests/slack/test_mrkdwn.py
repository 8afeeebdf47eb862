# -*- test-case-name: tests.slack.test_mrkdwn -*-
"""
Tests for L{nextplane.connectors.slack.mrkdwn} and
L{nextplane.connectors.slack.emoji}.
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.emoji import emoji_table, unified_to_unicode
from nextplane.connectors.slack.mrkdwn import (
    ESCAPE,
    escape_entities,
    mentioned_user_ids,
    parse_mrkdwn,
    to_mrkdwn,
    unescape_entities,
)
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

from .strategies import MENTION_NAMES, rich_texts, texts

PETER = Mention("Peter", Address("peter", "widget.test"))
USERS = {"U123": Mention("Alice", Address("alice", "acme.test")), "U456": PETER}
IDS = {"Alice": "U123", "Peter": "U456"}

#: The characters that may vanish when mrkdwn is read: span delimiters.
DELIMITERS = "*_~`"


def resolve(user_id: str) -> Mention | None:
    """Known test users."""
    return USERS.get(user_id)


def user_id_for(mention: Mention) -> str | None:
    """Slack ids of known test users."""
    return IDS.get(mention.name)


def parse(text: str) -> tuple[object, ...]:
    """The nodes of C{text}."""
    return parse_mrkdwn(text, resolve).nodes


def without_delimiters(text: str) -> str:
    """C{text} without span delimiter characters."""
    return "".join(c for c in text if c not in DELIMITERS)


class ParseTests(SynchronousTestCase):
    """
    L{parse_mrkdwn} reads Slack's formatting.
    """

    def test_plain(self) -> None:
        """Text without markup is one Text node."""
        self.assertEqual(parse("hello world"), (Text("hello world"),))

    def test_styles(self) -> None:
        """Bold, italic, strike and nested spans are read."""
        self.assertEqual(
            parse("*b* _i_ ~s~ *b _bi_*"),
            (
                Bold([Text("b")]),
                Text(" "),
                Italic([Text("i")]),
                Text(" "),
                Strike([Text("s")]),
                Text(" "),
                Bold([Text("b "), Italic([Text("bi")])]),
            ),
        )

    def test_not_styles(self) -> None:
        """Delimiters inside words, before spaces or unpaired stay text."""
        for text in ("snake_case_name", "2*3*4", "* not bold*", "*not bold *", "a*b", "**", "_ _"):
            self.assertEqual(parse(text), (Text(text),), text)

    def test_span_stays_on_line(self) -> None:
        """A span does not continue past a line break."""
        self.assertEqual(parse("*a\nb*"), (Text("*a"), LineBreak(), Text("b*")))

    def test_code(self) -> None:
        """Inline code is literal, entities decoded."""
        self.assertEqual(
            parse("run `x *y* &lt;z&gt;` now"),
            (Text("run "), Code("x *y* <z>"), Text(" now")),
        )

    def test_pre(self) -> None:
        """A preformatted block spans lines and is literal."""
        self.assertEqual(
            parse("see:\n```a *b*\n  c```"), (Text("see:"), LineBreak(), Pre("a *b*\n  c"))
        )

    def test_unclosed_code(self) -> None:
        """Unclosed backticks are text."""
        self.assertEqual(parse("a ``` b"), (Text("a ``` b"),))
        self.assertEqual(parse("a ` b\nc ` d"), (Text("a ` b"), LineBreak(), Text("c ` d")))

    def test_links(self) -> None:
        """Labelled and bare links are read, entities in URLs decoded."""
        self.assertEqual(
            parse("<https://x.test/?a=1&amp;b=2|the label> and <mailto:a@b.test>"),
            (
                Link("https://x.test/?a=1&b=2", [Text("the label")]),
                Text(" and "),
                Link("mailto:a@b.test"),
            ),
        )

    def test_user_mentions(self) -> None:
        """User mentions are resolved; unknown users show the label or id."""
        self.assertEqual(
            parse("hi <@U123> <@U456|peter> <@U999|zed> <@W777>"),
            (
                Text("hi "),
                USERS["U123"],
                Text(" "),
                PETER,
                Text(" "),
                Mention("zed"),
                Text(" "),
                Mention("W777"),
            ),
        )

    def test_special_mentions(self) -> None:
        """Channel, broadcast, group and date references become text."""
        self.assertEqual(
            parse(
                "<#C1|general> <#C2> <!here> <!channel> <!everyone> "
                "<!subteam^S1|@devs> <!date^1392734382^{date}|Feb 18>"
            ),
            (Text("#general #C2 @here @channel @everyone @devs Feb 18"),),
        )

    def test_not_angle(self) -> None:
        """Angle brackets that form no reference stay text."""
        for text in ("a < b > c", "<not a url>", "<@>", "<https://x\n>", "<!>"):
            self.assertEqual(RichText(parse(text)).plain_text(), text)

    def test_entities(self) -> None:
        """Only Slack's three entities are decoded."""
        self.assertEqual(parse("&lt;b&gt; &amp; &quot; &amp;amp;"), (Text("<b> & &quot; &amp;"),))

    def test_emoji(self) -> None:
        """Known shortcodes become emoji, skin tones included; unknown ones stay text."""
        self.assertEqual(
            parse(":smile: :+1::skin-tone-2: :thumbsup: :party-parrot: :wave::skin-tone-9:"),
            (
                Emoji("😄", "smile"),
                Text(" "),
                Emoji("👍🏻", "+1::skin-tone-2"),
                Text(" "),
                Emoji("👍", "thumbsup"),
                Text(" :party-parrot: "),
                Emoji("👋", "wave"),
                Text(":skin-tone-9:"),
            ),
        )

    def test_unknown_shortcode_keeps_its_colon(self) -> None:
        """
        An unknown shortcode stays text with both colons, so its closing
        colon does not open the next shortcode (found by hypothesis).
        """
        self.assertEqual(
            parse_mrkdwn(":unknown-emoji:a:smile:").plain_text(), ":unknown-emoji:a\U0001f604"
        )

    def test_styled_emoji_with_underscores(self) -> None:
        """Underscores inside a shortcode do not end an italic span."""
        self.assertEqual(
            parse("_ok :white_check_mark: done_"),
            (Italic([Text("ok "), Emoji("✅", "white_check_mark"), Text(" done")]),),
        )

    def test_link_inside_italic(self) -> None:
        """Underscores inside a link do not end an italic span."""
        self.assertEqual(
            parse("_see <https://x.test/a_b_c|docs>_"),
            (Italic([Text("see "), Link("https://x.test/a_b_c", [Text("docs")])]),),
        )

    def test_escape_dropped(self) -> None:
        """A zero-width space before a special character is an escape."""
        self.assertEqual(parse(f"{ESCAPE}*a{ESCAPE}* {ESCAPE}:smile:"), (Text("*a* :smile:"),))
        self.assertEqual(parse(f"a{ESCAPE}b"), (Text(f"a{ESCAPE}b"),))

    def test_mentioned_user_ids(self) -> None:
        """User ids are listed once each, in order."""
        self.assertEqual(mentioned_user_ids("<@U2> <@U1|x> <@U2> <#C1> <!here>"), ["U2", "U1"])


class WriteTests(SynchronousTestCase):
    """
    L{to_mrkdwn} writes Slack's formatting.
    """

    def write(self, *nodes: object) -> str:
        """The mrkdwn of C{nodes}."""
        return to_mrkdwn(RichText(nodes), user_id_for)  # type: ignore[arg-type]

    def test_styles(self) -> None:
        """Spans, code, pre, links and line breaks are written."""
        self.assertEqual(
            self.write(
                Bold([Text("b "), Italic([Text("i")])]),
                Text(" "),
                Strike([Text("s")]),
                LineBreak(),
                Code("x"),
                Text(" "),
                Link("https://x.test/?a=1&b=2", [Text("label")]),
                Text(" "),
                Link("https://y.test"),
                Pre("a\nb"),
            ),
            "*b _i_* ~s~\n`x` <https://x.test/?a=1&amp;b=2|label> <https://y.test>```a\nb```",
        )

    def test_entities(self) -> None:
        """C{&}, C{<} and C{>} are escaped."""
        self.assertEqual(self.write(Text("a < b & c > d")), "a &lt; b &amp; c &gt; d")
        self.assertEqual(escape_entities("<&>"), "&lt;&amp;&gt;")
        self.assertEqual(unescape_entities("&lt;&amp;&gt;"), "<&>")

    def test_literal_specials_escaped(self) -> None:
        """Literal characters that would be markup get the escape; others not."""
        self.assertEqual(
            self.write(Text("a *b* snake_case 2*3 `c` :smile: 10:30")),
            f"a {ESCAPE}*b{ESCAPE}* snake_case 2*3 {ESCAPE}`c{ESCAPE}` {ESCAPE}:smile: 10:30",
        )

    def test_mentions(self) -> None:
        """Mentions with a Slack id are references; others are text."""
        self.assertEqual(self.write(PETER, Text(" "), Mention("Zed")), "<@U456> @Zed")

    def test_emoji(self) -> None:
        """Emoji are written as shortcodes when known."""
        self.assertEqual(
            self.write(Emoji("👍🏻"), Emoji("😄", "smile"), Emoji("😄", "wrong"), Emoji("🫨x")),
            ":+1::skin-tone-2::smile::smile:🫨x",
        )

    def test_inexpressible_dropped(self) -> None:
        """Formatting mrkdwn cannot express is dropped, the text kept."""
        self.assertEqual(self.write(Text("x"), Bold([Text("y")])), "xy")
        self.assertEqual(self.write(Bold([Text(" y ")])), " y ")
        self.assertEqual(self.write(Bold([Bold([Text("y")])])), "*y*")
        self.assertEqual(self.write(Code("a`b")), f"a{ESCAPE}`b")
        self.assertEqual(self.write(Link("javascript alert", [Text("x")])), "x")

    def test_round_trip_example(self) -> None:
        """A typical message survives writing and reading unchanged."""
        rich = RichText(
            [
                Text("Hi "),
                PETER,
                Text(", see "),
                Link("https://x.test/a_b", [Text("this")]),
                Text(" "),
                Emoji("👍", "+1"),
                LineBreak(),
                Bold([Text("important")]),
                Text(": "),
                Code("make test"),
            ]
        )
        self.assertEqual(parse_mrkdwn(to_mrkdwn(rich, user_id_for), resolve), rich)


class PropertyTests(SynchronousTestCase):
    """
    Properties of the translation over arbitrary input.
    """

    @given(st.text())
    @settings(max_examples=500)
    def test_parse_never_raises(self, text: str) -> None:
        """Reading any text, and writing the result back, never raises."""
        to_mrkdwn(parse_mrkdwn(text, resolve))

    @given(
        st.text(
            alphabet=st.one_of(
                st.sampled_from("*_~`<>&:|@!#\n " + ESCAPE), st.characters(codec="utf-8")
            )
        )
    )
    @settings(max_examples=500)
    def test_parse_never_raises_on_markup_soup(self, text: str) -> None:
        """Reading text dense with markup characters never raises."""
        parse_mrkdwn(text, resolve)

    @given(
        st.text(
            alphabet=st.one_of(
                st.sampled_from(DELIMITERS + "\n ab1.!é😄"),
                st.characters(codec="utf-8", exclude_characters="<&:" + ESCAPE),
            )
        )
    )
    @settings(max_examples=500)
    def test_parse_keeps_non_markup_characters(self, text: str) -> None:
        """
        Without references, entities, shortcodes or escapes, reading keeps
        every character except span delimiters, in order: the plain text of
        the result equals the input once C{* _ ~ `} are removed from both.
        """
        self.assertEqual(
            without_delimiters(parse_mrkdwn(text).plain_text()), without_delimiters(text)
        )

    @given(
        st.lists(
            st.one_of(
                texts.map(lambda t: "".join(c for c in t if c not in "<&:`" + ESCAPE)).map(
                    lambda t: (t, t)
                ),
                st.sampled_from(
                    [
                        ("&amp;", "&"),
                        ("&lt;", "<"),
                        ("&gt;", ">"),
                        ("<@U123>", "@Alice"),
                        ("<@U999|zed>", "@zed"),
                        ("<https://x.test/a_b|lab*el>", "lab*el"),
                        ("<https://x.test/>", "https://x.test/"),
                        ("<!here>", "@here"),
                        ("<#C1|general>", "#general"),
                        (":smile:", "😄"),
                        (":+1::skin-tone-6:", "👍🏿"),
                        (":unknown-emoji:", ":unknown-emoji:"),
                        ("\n", "\n"),
                    ]
                ),
            ),
            max_size=12,
        )
    )
    @settings(max_examples=500)
    def test_parse_keeps_text_around_references(self, parts: list[tuple[str, str]]) -> None:
        """
        Text around references, entities and shortcodes is kept in order,
        each of those replaced by what it displays (span delimiters aside).
        """
        source = "".join(raw for raw, _ in parts)
        shown = "".join(display for _, display in parts)
        self.assertEqual(
            without_delimiters(parse_mrkdwn(source, resolve).plain_text()),
            without_delimiters(shown),
        )

    @given(rich_texts)
    @settings(max_examples=500)
    def test_round_trip_keeps_plain_text(self, rich: RichText) -> None:
        """
        Writing any tree (without U+200B, the escape character) as mrkdwn
        and reading it back keeps its plain text exactly.
        """
        ids = {name: f"U{i}" for i, name in enumerate(MENTION_NAMES)}
        names = {ident: Mention(name) for name, ident in ids.items()}
        written = to_mrkdwn(rich, lambda m: ids.get(m.name))
        self.assertEqual(parse_mrkdwn(written, names.get).plain_text(), rich.plain_text())

    @given(rich_texts)
    @settings(max_examples=300)
    def test_rewrite_is_stable(self, rich: RichText) -> None:
        """Writing what was read back gives the same mrkdwn again."""
        written = to_mrkdwn(rich)
        self.assertEqual(to_mrkdwn(parse_mrkdwn(written)), written)


class WorstCaseTests(SynchronousTestCase):
    """
    Slack messages hold up to 40,000 characters; none makes reading slow.
    """

    def test_linear(self) -> None:
        """Adversarial 40k-character inputs are read and written in well under a second each."""
        cases = [
            "*a " * 13_000,
            "_a _" * 10_000,
            "<" * 40_000,
            ("<" * 100 + "\n>") * 400,
            "` " * 20_000,
            ":a" * 20_000,
            "*_~`<&:" * 6_000,
        ]
        for text in cases:
            started = time.perf_counter()
            to_mrkdwn(parse_mrkdwn(text))
            self.assertLess(time.perf_counter() - started, 3.0, text[:10])


class EmojiTableTests(SynchronousTestCase):
    """
    L{emoji_table} maps Slack shortcodes and Unicode both ways.
    """

    def test_size(self) -> None:
        """The table is complete, not a handful of favourites."""
        table = emoji_table()
        self.assertGreater(len(table.by_name), 1800)
        self.assertGreater(len(table.by_name_tone), 1000)

    def test_aliases_and_tones(self) -> None:
        """Aliases share an emoji; skin tones 2..6 map to the modifiers."""
        table = emoji_table()
        self.assertEqual(table.to_unicode("+1"), table.to_unicode("thumbsup"))
        self.assertEqual(table.to_unicode("+1", 2), "👍🏻")
        self.assertEqual(table.to_unicode("+1", 6), "👍🏿")
        self.assertIsNone(table.to_unicode("+1", 7))
        self.assertIsNone(table.to_unicode("no-such-emoji"))

    def test_reverse(self) -> None:
        """Unicode maps back to the primary shortcode, with or without VS16."""
        table = emoji_table()
        self.assertEqual(table.to_shortcode("👍"), "+1")
        self.assertEqual(table.to_shortcode("👍🏽"), "+1::skin-tone-4")
        self.assertEqual(table.to_shortcode("❤️"), "heart")
        self.assertEqual(table.to_shortcode("❤"), "heart")
        self.assertIsNone(table.to_shortcode("x"))
        self.assertEqual(table.parse_shortcode("+1::skin-tone-4"), "👍🏽")
        self.assertIsNone(table.parse_shortcode("+1::skin-tone-x"))

    def test_unified(self) -> None:
        """Unified codes convert; malformed ones raise ValueError."""
        self.assertEqual(unified_to_unicode("1f44d-1F3FB"), "👍🏻")
        self.assertRaises(ValueError, unified_to_unicode, "zz")
        self.assertRaises(ValueError, unified_to_unicode, "FFFFFFFFFF")
