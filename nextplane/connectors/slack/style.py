# -*- test-case-name: tests.slack.test_connector -*-
"""
Slack's markup for the kit's answers (L{nextplane.connectors.platform.commands.Style}):
mrkdwn bold and code, emoji shortcodes, C{<#C123>} conversation links, and
every dynamic value escaped (C{&}, C{<}, C{>}) so an address or a display
name can never inject a link or a mention.
"""

from __future__ import annotations

from ...model.events import Availability
from ..platform import commands
from .mrkdwn import escape_entities

__all__ = ["MRKDWN", "SlackStyle", "help_text"]

_PRESENCE = {
    Availability.AVAILABLE: ":large_green_circle: available",
    Availability.AWAY: ":large_yellow_circle: away",
    Availability.BUSY: ":red_circle: busy",
    Availability.DND: ":red_circle: do not disturb",
    Availability.OFFLINE: ":white_circle: offline",
    Availability.UNKNOWN: ":grey_question: presence unknown",
}
_ICONS = {"ok": ":white_check_mark:", "warning": ":warning:", "wave": ":wave:", "link": ":link:"}


class SlackStyle(commands.Style):
    """
    mrkdwn; see the module docstring.
    """

    platform = "Slack"

    def esc(self, text: object) -> str:
        """
        C{text} safe to put in mrkdwn.
        """
        return escape_entities(str(text))

    def bold(self, text: str) -> str:
        """
        C{*text*}.
        """
        return f"*{text}*"

    def code(self, text: str) -> str:
        """
        C{`text`}.
        """
        return f"`{text}`"

    def icon(self, name: str) -> str:
        """
        The emoji shortcode.
        """
        return _ICONS.get(name, "")

    def after_invite(self) -> str:
        """
        Slack gives each contact a private conversation of its own.
        """
        return "You will get a private conversation with them once they accept."

    def place(self, ref: str) -> str:
        """
        A channel link.
        """
        return f"<#{ref}>"

    def presence(self, availability: Availability) -> str:
        """
        Presence with a coloured circle.
        """
        return _PRESENCE[availability]


#: The one instance.
MRKDWN = SlackStyle()


def help_text(command: str = "/nextplane") -> str:
    """
    The usage text of the slash command.
    """
    return commands.help_text(MRKDWN, command)
