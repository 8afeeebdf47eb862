# -*- test-case-name: tests.teams.test_reactions -*-
"""
Teams reactions and the hub's emoji.

Inbound, Teams names reactions by type (C{messageReaction}: C{like},
C{heart}, C{laugh}, C{surprised}, C{sad}, C{angry}; newer clients send
other names or the emoji itself): L{reaction_emoji} gives the Unicode
emoji the hub's L{nextplane.model.events.ReactionAdd} carries.

Outbound, a bot cannot add a reaction (the reactions API is a developer
preview), so a contact's reaction reaches the Teams user as a short text
line, L{reaction_line}, quoting the start of the message reacted to.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["TEAMS_REACTIONS", "reaction_emoji", "reaction_line", "reaction_type"]

#: Teams' classic reaction types and their emoji.
TEAMS_REACTIONS: Mapping[str, str] = {
    "like": "👍",
    "heart": "❤️",
    "laugh": "😆",
    "surprised": "😮",
    "sad": "😢",
    "angry": "😡",
}
_BY_EMOJI = {emoji: name for name, emoji in TEAMS_REACTIONS.items()} | {"❤": "heart"}
#: How much of the message reacted to a reaction line quotes.
QUOTE_CHARS = 40


def reaction_emoji(reaction_type: str) -> str | None:
    """
    The emoji of a Teams reaction type; a type that is itself an emoji is
    kept; C{None} for an unknown name.
    """
    known = TEAMS_REACTIONS.get(reaction_type)
    if known is not None:
        return known
    if reaction_type and not reaction_type.isascii():
        return reaction_type
    return None


def reaction_type(emoji: str) -> str | None:
    """
    The classic Teams reaction type of an emoji, if it has one.
    """
    return _BY_EMOJI.get(emoji)


def reaction_line(name: str, emoji: str, quoted: str | None = None, removed: bool = False) -> str:
    """
    The text line that tells a Teams user about a contact's reaction.

    @param quoted: The plain text of the message reacted to, when known.
    """
    verb = "took back" if removed else "reacted"
    line = f"{name} {verb} {emoji}"
    if quoted:
        flat = " ".join(quoted.split())
        if len(flat) > QUOTE_CHARS:
            flat = flat[: QUOTE_CHARS - 1].rstrip() + "…"
        line += f" to “{flat}”"
    return line
