# -*- test-case-name: tests.teams.test_connector -*-
"""
Teams' markup for the kit's answers (L{nextplane.connectors.platform.commands.Style}):
the markdown subset Teams renders in bot messages, every dynamic value
escaped so a name or an address can never inject a link or formatting.
"""

from __future__ import annotations

from ..platform import commands
from .cards import escape

__all__ = ["TEAMS", "TeamsStyle"]


class TeamsStyle(commands.Style):
    """
    Teams markdown; see the module docstring.
    """

    platform = "Teams"

    def esc(self, text: object) -> str:
        """
        C{text} with markdown's special characters escaped.
        """
        return escape(str(text))

    def bold(self, text: str) -> str:
        """
        C{**text**} (no space inside, or Teams shows the stars).
        """
        return f"**{text.strip()}**"

    def code(self, text: str) -> str:
        """
        C{`text`}; commands are typed without a prefix, hence the strip.
        """
        return f"`{text.strip()}`"

    def place(self, ref: str) -> str:
        """
        Every contact writes in the user's one chat with the app.
        """
        return "this chat"


#: The one style instance.
TEAMS = TeamsStyle()
