# -*- test-case-name: tests.slack.test_connector -*-
"""
How the nextplane app looks in Slack: the kit's contact-request card and
contact lines (L{nextplane.connectors.platform.cards}) rendered as Block
Kit, and the Home tab.

Pure functions from hub facts to Slack payloads; every dynamic value is
escaped for mrkdwn (L{nextplane.connectors.slack.style}).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...model.address import Address
from ..platform.cards import ContactCard, ContactLine, state_text
from ..platform.commands import list_text
from .style import MRKDWN, help_text
from .webhook import ACCEPT_ACTION, DECLINE_ACTION

__all__ = [
    "ContactLine",
    "contact_lines_text",
    "decided_card",
    "esc",
    "home_view",
    "notice",
    "request_card",
    "state_text",
    "who",
]

#: Contacts shown on the Home tab (Slack allows 100 blocks per view).
HOME_LIMIT = 40


def esc(text: object) -> str:
    """
    C{text} safe to put in mrkdwn.
    """
    return MRKDWN.esc(text)


def who(address: Address, name: str | None = None) -> str:
    """
    A contact for mrkdwn: C{*Name* (address)} or C{*address*}.
    """
    return MRKDWN.who(address, name)


def notice(text: str) -> list[dict[str, Any]]:
    """
    Blocks of a notice from the app (one mrkdwn section).
    """
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def request_card(card: ContactCard) -> tuple[str, list[dict[str, Any]]]:
    """
    The contact-request card with Accept and Decline buttons, whose value
    is the requester's address. @return: (fallback text, blocks).
    """
    requester, name = card.contact, card.name
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "nextplane_request",
            "text": {
                "type": "mrkdwn",
                "text": f":wave: {who(requester, name)} wants to chat with you. "
                "They are outside your organisation and will see your name and address.",
            },
        },
        {
            "type": "actions",
            "block_id": "nextplane_request_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACCEPT_ACTION,
                    "text": {"type": "plain_text", "text": "Accept"},
                    "style": "primary",
                    "value": card.value,
                },
                {
                    "type": "button",
                    "action_id": DECLINE_ACTION,
                    "text": {"type": "plain_text", "text": "Decline"},
                    "style": "danger",
                    "value": card.value,
                },
            ],
        },
    ]
    return card.title, blocks


def decided_card(text: str) -> list[dict[str, Any]]:
    """
    The card once answered: the buttons replaced by what happened.
    """
    return notice(text)


def contact_lines_text(lines: Sequence[ContactLine], command: str = "/nextplane") -> str:
    """
    The answer to C{/nextplane list}.
    """
    return list_text(MRKDWN, lines, command)


def home_view(
    me: Address, lines: Iterable[ContactLine], command: str = "/nextplane"
) -> dict[str, Any]:
    """
    The app's Home tab for a user: who they are to the outside world, their
    contacts with state and presence, pending requests with buttons, help.
    """
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "nextplane"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"External contacts know you as *{esc(me)}*.",
            },
        },
        {"type": "divider"},
    ]
    all_lines = list(lines)
    if not all_lines:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "No external contacts yet. "
                    f"Invite one with `{command} invite user@example.com`.",
                },
            }
        )
    for line in all_lines[:HOME_LIMIT]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": MRKDWN.line(line)}})
        if line.awaits_answer:
            _, card = request_card(ContactCard(line.contact.external, line.name))
            blocks.append({**card[1], "block_id": f"nextplane_home_{len(blocks)}"})
    if len(all_lines) > HOME_LIMIT:
        more = len(all_lines) - HOME_LIMIT
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"…and {more} more: `{command} list`"}],
            }
        )
    blocks.append({"type": "divider"})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": help_text(command)}]})
    return {"type": "home", "blocks": blocks}
