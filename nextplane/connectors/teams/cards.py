# -*- test-case-name: tests.teams.test_cards -*-
"""
Adaptive Cards and Teams file cards the hub sends to Teams, as attachment JSON.

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

The contact-request card and the person header are shared with Webex
(L{nextplane.connectors.platform.adaptive}); this module adds what is
Teams' own: the invoke response, message and file cards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from ...model.xhtml import safe_url
from ..platform.adaptive import (
    ACCEPT_VERB,
    ADAPTIVE_CARD,
    DECLINE_VERB,
    ContactRequest,
    Person,
    RequestState,
    adaptive_card,
    card_attachment,
    contact_request_content,
    escape,
    name_line,
    person_header,
)

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

#: Content type of the file consent card.
FILE_CONSENT = "application/vnd.microsoft.teams.card.file.consent"
#: Content type of the card that shows an uploaded file.
FILE_INFO = "application/vnd.microsoft.teams.card.file.info"


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


def contact_request_card(request: ContactRequest) -> dict[str, Any]:
    """
    The contact request as a message attachment.
    """
    return card_attachment(contact_request_content(request))


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
    body = [person_header(sender), {"type": "TextBlock", "text": markdown, "wrap": True}]
    return card_attachment(adaptive_card(body))


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
        body.append(person_header(sender))
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
    return card_attachment(adaptive_card(body, actions))
