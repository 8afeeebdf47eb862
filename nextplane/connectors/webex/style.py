"""
How the kit's command answers look in Webex: markdown.
"""

from __future__ import annotations

from ..platform.commands import Style

__all__ = ["WEBEX", "WebexStyle"]

_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#"})


class WebexStyle(Style):
    """
    Webex markdown; commands are typed without a prefix in the direct space.
    """

    platform = "Webex"

    def esc(self, text: object) -> str:
        """
        C{text} with markdown's special characters escaped.
        """
        return str(text).translate(_SPECIAL)

    def bold(self, text: str) -> str:
        """
        C{**text**}.
        """
        return f"**{text.strip()}**"

    def code(self, text: str) -> str:
        """
        C{`text`}, without the slash-command prefix.
        """
        return f"`{text.strip()}`"

    def after_invite(self) -> str:
        """
        Contacts write in the one direct space.
        """
        return "Once they accept, their messages arrive here in their own thread."

    def place(self, ref: str) -> str:
        """
        Every contact writes in the user's one space with the bot.
        """
        return "this space (reply in their thread)"


#: The one style instance.
WEBEX = WebexStyle()
