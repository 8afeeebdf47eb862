# -*- test-case-name: tests.teams.test_cards -*-
"""
Adaptive Cards and Teams file cards the hub sends, as attachment JSON.

A Teams bot cannot post under another person's name or picture, so a
contact's messages show the contact in a card header (picture and name)
or, in plain text mode, a bold name line (L{name_line}).

  - L{contact_request_card}: a contact request with Accept and Decline
    buttons (C{Action.Execute}, so a press arrives as C{invoke
    adaptiveCard/action} and the answer replaces the card in place,
    L{card_invoke_response}); once answered it shows the outcome and no
    buttons;
  - L{message_card}: a message with its sender's header;
  - L{file_consent_card} / L{file_info_card}: the personal-scope file
    upload flow (C{bots-filesv4.md}); L{file_link_card} elsewhere.

The input model here is small and local (L{Person}, L{ContactRequest},
L{SharedFile}); the platform kit's card model will be adapted to it. Card
text is written with the Adaptive Card markdown subset, escaped.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from ..xmpp.xhtml import safe_url

__all__ = [
    "ACCEPT_VERB",
    "ADAPTIVE_CARD",
    "DECLINE_VERB",
    "FILE_CONSENT",
    "FILE_INFO",
    "ContactRequest",
    "Person",
    "RequestState",
    "SharedFile",
    "card_attachment",
    "card_invoke_response",
    "contact_request_card",
    "file_consent_card",
    "file_info_card",
    "file_link_card",
    "message_card",
    "name_line",
]

#: Content type of Adaptive Cards.
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: Content type of the file consent card.
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
#: Content type of the card that shows an uploaded file.
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"
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
    A contact request shown to a Teams user.

    @ivar request_id: Echoed back in the button data.
    @ivar title: The card's title (e.g. "New contact request").
    @ivar note: A message from the requester.
    """

    request_id: str
    title: str
    contact: Person
    state: RequestState = RequestState.PENDING
    note: str | None = field(default=None, repr=False)


@frozen
class SharedFile:
    """
    A file offered to a Teams user.

    @ivar link: The hub's signed, expiring download link.
    """

    file_id: str
    name: str
    size: int
    link: str = field(repr=False)
    description: str | None = None


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


def _card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": _SCHEMA,
        "version": _VERSION,
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return content


def _attachment(content: Mapping[str, Any]) -> dict[str, Any]:
    return {"contentType": ADAPTIVE_CARD, "content": dict(content)}


def card_attachment(content: Mapping[str, Any]) -> dict[str, Any]:
    """
    An Adaptive Card (content) as a message attachment.
    """
    return _attachment(content)


def _header(person: Person, subtitle: str | None = None) -> dict[str, Any]:
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
        _header(request.contact),
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
        return _card(body)
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
    return _card(body, actions)


def contact_request_card(request: ContactRequest) -> dict[str, Any]:
    """
    The contact request as a message attachment.
    """
    return _attachment(contact_request_content(request))


def card_invoke_response(content: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """
    The InvokeResponse body for an C{adaptiveCard/action}: the card that
    replaces the pressed one, or a short message when C{content} is C{None}.
    """
    if content is None:
        return {
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": "OK",
        }
    return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": dict(content)}


def message_card(sender: Person, markdown: str) -> dict[str, Any]:
    """
    A contact's message under their picture and name; C{markdown} is the
    message already written in the card markdown subset.
    """
    body = [_header(sender), {"type": "TextBlock", "text": markdown, "wrap": True}]
    return _attachment(_card(body))


def file_consent_card(shared: SharedFile) -> dict[str, Any]:
    """
    Ask a Teams user (1:1 chat) to accept a file into their OneDrive; the
    answer comes back as C{invoke fileConsent/invoke} with this context.
    """
    context = {"file": shared.file_id}
    return {
        "contentType": FILE_CONSENT,
        "name": shared.name,
        "content": {
            "description": shared.description or shared.name,
            "sizeInBytes": shared.size,
            "acceptContext": context,
            "declineContext": context,
        },
    }


def file_info_card(name: str, content_url: str, unique_id: str, file_type: str) -> dict[str, Any]:
    """
    Show a file uploaded after consent (from the C{uploadInfo} Teams gave).
    """
    return {
        "contentType": FILE_INFO,
        "contentUrl": content_url,
        "name": name,
        "content": {"uniqueId": unique_id, "fileType": file_type},
    }


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)  # pragma: no cover


def file_link_card(shared: SharedFile, sender: Person | None = None) -> dict[str, Any]:
    """
    A file as a download link (group chats and channels, or without consent).
    """
    body: list[dict[str, Any]] = []
    if sender is not None:
        body.append(_header(sender))
    body.append(
        {"type": "TextBlock", "text": f"📎 {escape(shared.name)}", "weight": "Bolder", "wrap": True}
    )
    body.append(
        {"type": "TextBlock", "text": _size(shared.size), "isSubtle": True, "spacing": "None"}
    )
    actions = []
    link = safe_url(shared.link)
    if link is not None:
        actions.append({"type": "Action.OpenUrl", "title": "Download", "url": link})
    return _attachment(_card(body, actions))
