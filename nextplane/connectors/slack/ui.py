# -*- test-case-name: tests.slack.test_connector -*-
"""
What the nextplane app shows in Slack: Block Kit cards, the Home tab and
the wording of notices and command answers.

Pure functions from hub facts to Slack payloads; every dynamic value is
escaped for mrkdwn (C{&}, C{<}, C{>}), so an address or a display name can
never inject a link or a mention.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from attrs import frozen

from ...model.address import Address
from ...model.events import Availability
from ...storage.records import ContactDirection, ContactRecord, ContactState
from .mrkdwn import escape_entities
from .webhook import ACCEPT_ACTION, DECLINE_ACTION, help_text

__all__ = [
    "ContactLine",
    "contact_lines_text",
    "decided_card",
    "home_view",
    "notice",
    "request_card",
    "state_text",
]

#: Contacts shown on the Home tab (Slack allows 100 blocks per view).
HOME_LIMIT = 40

_PRESENCE = {
    Availability.AVAILABLE: ":large_green_circle: available",
    Availability.AWAY: ":large_yellow_circle: away",
    Availability.BUSY: ":red_circle: busy",
    Availability.DND: ":red_circle: do not disturb",
    Availability.OFFLINE: ":white_circle: offline",
    Availability.UNKNOWN: ":grey_question: presence unknown",
}


def esc(text: object) -> str:
    """
    C{text} safe to put in mrkdwn.
    """
    return escape_entities(str(text))


def who(address: Address, name: str | None = None) -> str:
    """
    A contact for mrkdwn: C{*Name* (address)} or C{*address*}.
    """
    if name and name.strip() and name != str(address):
        return f"*{esc(name.strip())}* ({esc(address)})"
    return f"*{esc(address)}*"


def notice(text: str) -> list[dict[str, Any]]:
    """
    Blocks of a notice from the app (one mrkdwn section).
    """
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def request_card(requester: Address, name: str | None) -> tuple[str, list[dict[str, Any]]]:
    """
    The contact-request card with Accept and Decline buttons, whose value
    is the requester's address. @return: (fallback text, blocks).
    """
    fallback = f"{requester} wants to chat with you"
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
                    "value": str(requester),
                },
                {
                    "type": "button",
                    "action_id": DECLINE_ACTION,
                    "text": {"type": "plain_text", "text": "Decline"},
                    "style": "danger",
                    "value": str(requester),
                },
            ],
        },
    ]
    return fallback, blocks


def decided_card(text: str) -> list[dict[str, Any]]:
    """
    The card once answered: the buttons replaced by what happened.
    """
    return notice(text)


def state_text(contact: ContactRecord) -> str:
    """
    A contact's state in words.
    """
    state = contact.state
    if state == ContactState.PENDING:
        if contact.direction == ContactDirection.OUTBOUND:
            return "invitation sent"
        return "wants to chat with you"
    return {
        ContactState.ACCEPTED: "contact",
        ContactState.DECLINED: "declined",
        ContactState.REVOKED: "revoked by an administrator",
        ContactState.BLOCKED: "blocked",
        ContactState.REMOVED: "removed",
        ContactState.EXPIRED: "request expired",
    }.get(state, state.value)


@frozen
class ContactLine:
    """
    One contact as shown to its owner.

    @ivar presence: Last presence heard from the contact; C{UNKNOWN} when
        nothing was heard (never shown as offline).
    @ivar channel: The private conversation with the contact, if any.
    """

    contact: ContactRecord
    name: str | None = None
    presence: Availability = Availability.UNKNOWN
    channel: str | None = None


def _line(line: ContactLine) -> str:
    text = f"{who(line.contact.external, line.name)} - {state_text(line.contact)}"
    if line.contact.state == ContactState.ACCEPTED:
        text += f" - {_PRESENCE[line.presence]}"
        if line.channel:
            text += f" - <#{line.channel}>"
    return text


def contact_lines_text(lines: Sequence[ContactLine], command: str = "/nextplane") -> str:
    """
    The answer to C{/nextplane list}.
    """
    if not lines:
        return (
            "You have no external contacts yet. "
            f"Invite one with `{command} invite user@example.com`."
        )
    shown = [f"• {_line(line)}" for line in lines]
    return "*Your external contacts*\n" + "\n".join(shown)


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
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _line(line)}})
        contact = line.contact
        if contact.state == ContactState.PENDING and contact.direction == ContactDirection.INBOUND:
            _, card = request_card(contact.external, line.name)
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
