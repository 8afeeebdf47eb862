# -*- test-case-name: tests.webex.test_cards -*-
"""
Adaptive Cards on Webex: what differs from Teams.

The contact-request card itself is the one Teams shows
(L{nextplane.connectors.teams.cards.contact_request_content}; both belong
in the platform kit's card renderer, and move there with it). Webex
differs in three ways, handled here:

  - it renders Adaptive Cards up to version 1.3, without Universal
    Actions: L{for_webex} lowers the version and turns each
    C{Action.Execute} into an C{Action.Submit} whose C{data} carries the
    verb;
  - a card needs a C{text} or C{markdown} fallback for clients that cannot
    show it, and cannot be edited once sent (C{PUT /messages} changes text
    only): L{contact_request_message} builds the whole message, and an
    answered request is shown by a new card without buttons;
  - a button press arrives as an C{attachmentActions} webhook whose
    C{inputs} (C{GET /attachment/actions/{id}}) L{parse_card_answer} reads.

Webex cannot post under another person's name, so a contact's message in
a space starts with the contact's name in bold (L{with_header}).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ...model.text import Bold, RichText, Text
from ..platform.adaptive import (
    ACCEPT_VERB,
    DECLINE_VERB,
    ContactRequest,
    Person,
    RequestState,
    contact_request_content,
)
from .api import AttachmentAction, OutgoingMessage
from .format import to_markdown

__all__ = [
    "CARD_VERSION",
    "CardAnswer",
    "ContactRequest",
    "Person",
    "RequestState",
    "contact_request_message",
    "for_webex",
    "parse_card_answer",
    "with_header",
]

#: The newest Adaptive Card version Webex renders.
CARD_VERSION = "1.3"
_VERBS = frozenset({ACCEPT_VERB, DECLINE_VERB})
_MAX_ID = 256


def _lower(value: Any) -> Any:
    if isinstance(value, list):
        return [_lower(item) for item in value]
    if not isinstance(value, dict):
        return value
    lowered = {key: _lower(item) for key, item in value.items()}
    if lowered.get("type") == "Action.Execute":
        data = dict(lowered.pop("data", None) or {})
        data["verb"] = lowered.pop("verb", None)
        lowered["type"] = "Action.Submit"
        lowered["data"] = data
    return lowered


def for_webex(content: Mapping[str, Any]) -> dict[str, Any]:
    """
    Make an Adaptive Card (content) one Webex renders: version 1.3 and
    C{Action.Submit} with the verb in C{data}.
    """
    card: dict[str, Any] = _lower(dict(content))
    card["version"] = CARD_VERSION
    return card


def contact_request_message(room_id: str, request: ContactRequest) -> OutgoingMessage:
    """
    The message showing C{request} (with buttons while it is pending) in a
    space, with its text fallback.
    """
    contact = request.contact
    who = contact.name + (f" ({contact.address})" if contact.address else "")
    state = request.state.value if request.state is not RequestState.PENDING else None
    line = f"{request.title}: {who}" + (f", {state}" if state else "")
    return OutgoingMessage(
        room_id=room_id,
        markdown=to_markdown(RichText([Text(line)])),
        text=line,
        card=for_webex(contact_request_content(request)),
    )


@frozen
class CardAnswer:
    """
    A press of Accept or Decline.

    @ivar request_id: The request the card showed.
    @ivar accepted: Accept (C{True}) or Decline.
    @ivar person_id: Who pressed it.
    @ivar message_id: The card's message (deleted once answered).
    """

    request_id: str
    accepted: bool
    person_id: str | None
    message_id: str | None


def parse_card_answer(action: AttachmentAction) -> CardAnswer | None:
    """
    Read a contact-request answer; C{None} for anything else (another card,
    a forged or damaged payload).
    """
    verb = action.inputs.get("verb")
    request = action.inputs.get("request")
    if verb not in _VERBS or not isinstance(request, str):
        return None
    if not request or len(request) > _MAX_ID:
        return None
    return CardAnswer(request, verb == ACCEPT_VERB, action.person_id, action.message_id)


def with_header(name: str, text: RichText) -> RichText:
    """
    A contact's message as shown in Webex: their name in bold, then the text.
    """
    return RichText([Bold([Text(name)]), Text(": "), *text.nodes])
