# -*- test-case-name: tests.teams.test_cards -*-
"""
Adaptive Cards shared by the bot platforms that render them (Teams, Webex):
the contact-request card with Accept and Decline, and the person header a
bot shows instead of posting under a contact's name and picture. Card text
is written with the Adaptive Card markdown subset, escaped.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from ...model.xhtml import safe_url

__all__ = [
    "ACCEPT_VERB",
    "ADAPTIVE_CARD",
    "DECLINE_VERB",
    "ContactRequest",
    "Person",
    "RequestState",
    "adaptive_card",
    "card_attachment",
    "contact_request_content",
    "escape",
    "name_line",
    "person_header",
]

#: Content type of Adaptive Cards.
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: The C{Action.Execute} verbs of contact request cards.
ACCEPT_VERB = "contact.accept"
DECLINE_VERB = "contact.decline"
#: Universal Actions (C{Action.Execute}) need schema 1.4 or later.
_VERSION = "1.5"
_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_MARKDOWN = re.compile(r"([\\`*_~\[\]()#>|<-])")


class RequestState(enum.Enum):
    """
    Where a contact request stands.
    """

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


_STATE_TEXT: Mapping[RequestState, str] = {
    RequestState.ACCEPTED: "✅ Accepted: you can now chat.",
    RequestState.DECLINED: "Declined.",
    RequestState.WITHDRAWN: "The request was withdrawn.",
    RequestState.EXPIRED: "The request expired.",
}


@frozen
class Person:
    """
    Someone shown on a card.

    @ivar address: The hub address (C{alice@example.org}), shown under the name.
    @ivar picture_url: An https URL of their picture, if known.
    """

    name: str
    address: str | None = None
    picture_url: str | None = None


@frozen
class ContactRequest:
    """
    A contact request shown to a platform user.

    @ivar request_id: Echoed back in the button data.
    @ivar title: The card's title (e.g. "New contact request").
    @ivar note: A message from the requester.
    """

    request_id: str
    title: str
    contact: Person
    state: RequestState = RequestState.PENDING
    note: str | None = field(default=None, repr=False)


def escape(text: str) -> str:
    """
    Escape Adaptive Card markdown.
    """
    return _MARKDOWN.sub(r"\\\1", text)


def name_line(person: Person) -> str:
    """
    The bold name line that starts a contact's message in plain text mode.
    """
    return f"**{escape(person.name)}:** "


def adaptive_card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """
    An Adaptive Card's content from its C{body} and C{actions}.
    """
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": _SCHEMA,
        "version": _VERSION,
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return content


def card_attachment(content: Mapping[str, Any]) -> dict[str, Any]:
    """
    An Adaptive Card (content) as a message attachment.
    """
    return {"contentType": ADAPTIVE_CARD, "content": dict(content)}


def person_header(person: Person, subtitle: str | None = None) -> dict[str, Any]:
    """
    A person's picture (https only) and name, with their address or
    C{subtitle} below: a bot's stand-in for posting under their name.
    """
    texts: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": escape(person.name), "weight": "Bolder", "wrap": True}
    ]
    below = subtitle if subtitle is not None else person.address
    if below:
        texts.append(
            {
                "type": "TextBlock",
                "text": escape(below),
                "isSubtle": True,
                "spacing": "None",
                "size": "Small",
                "wrap": True,
            }
        )
    columns: list[dict[str, Any]] = []
    picture = safe_url(person.picture_url)
    if picture is not None and picture.startswith("https://"):
        image = {
            "type": "Image",
            "url": picture,
            "style": "Person",
            "size": "Small",
            "altText": person.name,
        }
        columns.append({"type": "Column", "width": "auto", "items": [image]})
    columns.append({"type": "Column", "width": "stretch", "items": texts})
    return {"type": "ColumnSet", "columns": columns}


def contact_request_content(request: ContactRequest) -> dict[str, Any]:
    """
    The Adaptive Card (content only) for C{request} in its current state.
    """
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": escape(request.title),
            "size": "Medium",
            "weight": "Bolder",
            "wrap": True,
        },
        person_header(request.contact),
    ]
    if request.note:
        body.append({"type": "TextBlock", "text": escape(request.note), "wrap": True})
    if request.state is not RequestState.PENDING:
        body.append(
            {
                "type": "TextBlock",
                "text": _STATE_TEXT[request.state],
                "wrap": True,
                "isSubtle": True,
            }
        )
        return adaptive_card(body)
    data = {"request": request.request_id}
    actions = [
        {
            "type": "Action.Execute",
            "title": "Accept",
            "verb": ACCEPT_VERB,
            "data": data,
            "style": "positive",
        },
        {"type": "Action.Execute", "title": "Decline", "verb": DECLINE_VERB, "data": data},
    ]
    return adaptive_card(body, actions)
