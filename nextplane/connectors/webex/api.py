# -*- test-case-name: tests.webex.test_api -*-
"""
Webex REST request shapes and answers, sans-IO.

Each builder returns an L{ApiRequest} (verb, path below the base URL,
query and JSON body) for the calls the connector makes
(C{../shared/notes/platforms.md} §C3, C{../shared/specs/webex/webex-messaging.json}):
fetching a message and a card answer, the bot's own identity, a message's
files (L{get_file}, only below the base URL), one space per contact
(C{POST /rooms}, C{POST /memberships}), sending, editing and deleting
messages, and keeping webhooks. The caller (the platform kit's
HTTP caller, or L{nextplane.connectors.webex.transport}) adds the base URL
and the C{Authorization: Bearer} header and performs the exchange.

Answers are read by the C{parse_*} functions into frozen values; unknown
fields are ignored. L{api_error} classifies a failed answer: 429 and 423
carry C{Retry-After} (L{DEFAULT_RETRY_AFTER} seconds when it is missing or
malformed, as WebexPythonSDK waits); 429, 423 and 503 mean Webex did not
act; other 5xx are ambiguous; 4xx are final.

Message content passes through these values in memory only; their C{repr}
shows no text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from attrs import field, frozen

__all__ = [
    "ADAPTIVE_CARD",
    "BASE_URL",
    "DEFAULT_RETRY_AFTER",
    "ApiRequest",
    "AttachmentAction",
    "Membership",
    "Message",
    "OutgoingMessage",
    "Person",
    "Room",
    "WebexApiError",
    "Webhook",
    "api_error",
    "create_membership",
    "create_message",
    "create_room",
    "create_webhook",
    "delete_message",
    "delete_webhook",
    "edit_message",
    "get_attachment_action",
    "get_file",
    "get_me",
    "get_message",
    "get_person",
    "list_direct_messages",
    "list_memberships",
    "list_webhooks",
    "parse_attachment_action",
    "parse_membership",
    "parse_memberships",
    "parse_message",
    "parse_messages",
    "parse_person",
    "parse_room",
    "parse_webhook",
    "parse_webhooks",
    "update_webhook",
]

T = TypeVar("T")

#: The REST base URL (configurable: simulators use their own).
BASE_URL = "https://webexapis.com/v1"
#: Content type of an Adaptive Card attachment.
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: Seconds to wait after a 429 or 423 without a usable C{Retry-After}.
DEFAULT_RETRY_AFTER = 15.0
_MIN_RETRY_AFTER = 1.0


@frozen
class ApiRequest:
    """
    One REST request, without base URL or credentials.

    @ivar verb: C{GET}, C{POST}, C{PUT} or C{DELETE}.
    @ivar path: The path below the base URL, ids percent-encoded.
    @ivar query: Query parameters, in order.
    @ivar body: The JSON body, or C{None}.
    @ivar idempotent: Repeating the request is harmless.
    """

    verb: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = field(default=None, repr=False)
    idempotent: bool = True

    def url(self, base: str = BASE_URL) -> str:
        """
        The full URL below C{base}.
        """
        url = base.rstrip("/") + self.path
        return f"{url}?{urlencode(self.query)}" if self.query else url

    def json_body(self) -> bytes | None:
        """
        The body, serialised compactly, or C{None}.
        """
        if self.body is None:
            return None
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _id(value: str) -> str:
    if not value:
        raise ValueError("empty id")
    return quote(value, safe="")


def get_message(message_id: str) -> ApiRequest:
    """
    C{GET /messages/{id}}: a message's content (answer: L{parse_message}).
    """
    return ApiRequest("GET", f"/messages/{_id(message_id)}")


def list_direct_messages(person_id: str) -> ApiRequest:
    """
    C{GET /messages/direct?personId=...}: the bot's 1:1 space with a
    person, newest first (answer: L{parse_messages}).
    """
    if not person_id:
        raise ValueError("empty id")
    return ApiRequest("GET", "/messages/direct", query=(("personId", person_id),))


def parse_messages(body: bytes) -> Sequence[Message]:
    """
    Read a page of messages (C{items}); malformed items are skipped.
    """
    items = _document(body).get("items")
    return [
        parse_message(item)
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and _str(item, "id")
    ]


def get_attachment_action(action_id: str) -> ApiRequest:
    """
    C{GET /attachment/actions/{id}}: a card answer's inputs.
    """
    return ApiRequest("GET", f"/attachment/actions/{_id(action_id)}")


def get_me() -> ApiRequest:
    """
    C{GET /people/me}: the bot's own person (loop prevention).
    """
    return ApiRequest("GET", "/people/me")


def get_person(person_id: str) -> ApiRequest:
    """
    C{GET /people/{id}}: a person's e-mail and name (answer: L{parse_person}).
    """
    return ApiRequest("GET", f"/people/{_id(person_id)}")


def create_room(title: str) -> ApiRequest:
    """
    C{POST /rooms}: a group space for one contact, titled with its name.
    """
    return ApiRequest("POST", "/rooms", body={"title": title}, idempotent=False)


def list_memberships(room_id: str) -> ApiRequest:
    """
    C{GET /memberships?roomId=...}: a space's members (answer:
    L{parse_memberships}).
    """
    if not room_id:
        raise ValueError("empty id")
    return ApiRequest("GET", "/memberships", query=(("roomId", room_id),))


def create_membership(
    room_id: str, *, person_id: str | None = None, person_email: str | None = None
) -> ApiRequest:
    """
    C{POST /memberships}: add a person to a space (by id or e-mail).

    A repeat answers 409 (already a member), which the caller may take as
    success, so the request counts as idempotent.
    """
    if (person_id is None) == (person_email is None):
        raise ValueError("give exactly one of person_id and person_email")
    body: dict[str, Any] = {"roomId": room_id}
    if person_id is not None:
        body["personId"] = person_id
    else:
        body["personEmail"] = person_email
    return ApiRequest("POST", "/memberships", body=body)


@frozen
class OutgoingMessage:
    """
    A message to send; exactly one of C{room_id}, C{to_person_id} and
    C{to_person_email} names the destination.

    @ivar markdown: The formatted text (at most 7,439 bytes; see
        L{nextplane.connectors.webex.split}).
    @ivar text: The plain-text fallback for clients without markdown.
    @ivar parent_id: The message this one replies to (a thread).
    @ivar file_url: One public file URL Webex fetches and attaches.
    @ivar card: One Adaptive Card (the card's C{content}).
    """

    room_id: str | None = None
    to_person_id: str | None = None
    to_person_email: str | None = None
    markdown: str | None = field(default=None, repr=False)
    text: str | None = field(default=None, repr=False)
    parent_id: str | None = None
    file_url: str | None = field(default=None, repr=False)
    card: Mapping[str, Any] | None = field(default=None, repr=False)


def create_message(message: OutgoingMessage) -> ApiRequest:
    """
    C{POST /messages}.

    @raise ValueError: Without exactly one destination, or with nothing to
        send (Webex needs text or markdown beside a card or file).
    """
    targets = {
        "roomId": message.room_id,
        "toPersonId": message.to_person_id,
        "toPersonEmail": message.to_person_email,
    }
    named = {key: value for key, value in targets.items() if value}
    if len(named) != 1:
        raise ValueError("a message needs exactly one destination")
    if not (message.markdown or message.text or message.file_url):
        raise ValueError("a message needs text, markdown or a file")
    body: dict[str, Any] = dict(named)
    if message.parent_id:
        body["parentId"] = message.parent_id
    if message.text:
        body["text"] = message.text
    if message.markdown:
        body["markdown"] = message.markdown
    if message.file_url:
        body["files"] = [message.file_url]
    if message.card is not None:
        body["attachments"] = [{"contentType": ADAPTIVE_CARD, "content": dict(message.card)}]
    return ApiRequest("POST", "/messages", body=body, idempotent=False)


def edit_message(
    message_id: str, room_id: str, *, markdown: str | None, text: str | None
) -> ApiRequest:
    """
    C{PUT /messages/{id}}: replace a message's text.
    """
    if not (markdown or text):
        raise ValueError("an edit needs text or markdown")
    body: dict[str, Any] = {"roomId": room_id}
    if text:
        body["text"] = text
    if markdown:
        body["markdown"] = markdown
    return ApiRequest("PUT", f"/messages/{_id(message_id)}", body=body)


def delete_message(message_id: str) -> ApiRequest:
    """
    C{DELETE /messages/{id}}; a repeat answers 404, taken as done.
    """
    return ApiRequest("DELETE", f"/messages/{_id(message_id)}")


def get_file(url: str, base: str = BASE_URL) -> ApiRequest | None:
    """
    C{GET} of a message's file URL (C{<base>/contents/<id>}), which needs
    the bot token.

    @param url: One of the message's C{files}.
    @param base: The REST base URL the token belongs to.
    @return: The request, or C{None} when the URL is not a content URL of
        C{base}: the token is never sent anywhere else.
    """
    prefix = base.rstrip("/") + "/contents/"
    if not url.startswith(prefix):
        return None
    content_id = url[len(prefix) :]
    if not content_id or any(c in content_id for c in "/?#%\\") or not content_id.isascii():
        return None
    return ApiRequest("GET", f"/contents/{content_id}")


def list_webhooks(max_items: int = 100) -> ApiRequest:
    """
    C{GET /webhooks}: the bot's webhooks (the first page of C{max_items}).
    """
    return ApiRequest("GET", "/webhooks", query=(("max", str(max_items)),))


def create_webhook(
    name: str, target_url: str, resource: str, event: str, secret: str
) -> ApiRequest:
    """
    C{POST /webhooks}: a webhook signed with C{secret}.
    """
    body = {
        "name": name,
        "targetUrl": target_url,
        "resource": resource,
        "event": event,
        "secret": secret,
    }
    return ApiRequest("POST", "/webhooks", body=body, idempotent=False)


def update_webhook(webhook_id: str, name: str, target_url: str, secret: str) -> ApiRequest:
    """
    C{PUT /webhooks/{id}}: set name, target and secret, and re-enable it.
    """
    body = {"name": name, "targetUrl": target_url, "secret": secret, "status": "active"}
    return ApiRequest("PUT", f"/webhooks/{_id(webhook_id)}", body=body)


def delete_webhook(webhook_id: str) -> ApiRequest:
    """
    C{DELETE /webhooks/{id}}.
    """
    return ApiRequest("DELETE", f"/webhooks/{_id(webhook_id)}")


# --- answers -----------------------------------------------------------------


class WebexApiError(Exception):
    """
    A failed REST answer.

    @ivar status: The HTTP status.
    @ivar message: Webex's C{message}, or a short description.
    @ivar tracking_id: Webex's C{trackingId}, for support requests.
    @ivar processed: C{False}: Webex did not act (retry); C{None}: unknown;
        C{True}: it answered for good (do not retry).
    @ivar retry_after: Seconds to wait before retrying (429, 423).
    """

    def __init__(
        self,
        status: int,
        message: str,
        tracking_id: str | None,
        processed: bool | None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"Webex answered {status}: {message}")
        self.status = status
        self.message = message
        self.tracking_id = tracking_id
        self.processed = processed
        self.retry_after = retry_after


def _retry_after(value: str | bytes | None) -> float:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    try:
        seconds = float((value or "").strip())
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return DEFAULT_RETRY_AFTER
    return max(_MIN_RETRY_AFTER, seconds)


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def api_error(status: int, body: bytes, retry_after: str | bytes | None) -> WebexApiError | None:
    """
    Classify an answer.

    @param status: The HTTP status.
    @param body: The answer's body.
    @param retry_after: The C{Retry-After} header value, if any.
    @return: C{None} for a 2xx answer, else the L{WebexApiError}.
    """
    if 200 <= status < 300:
        return None
    document = _document(body)
    message = document.get("message")
    tracking = document.get("trackingId")
    text = message[:200] if isinstance(message, str) else f"HTTP {status}"
    tracking_id = tracking if isinstance(tracking, str) else None
    if status in (423, 429):
        return WebexApiError(status, text, tracking_id, False, _retry_after(retry_after))
    if status == 503:
        return WebexApiError(status, text, tracking_id, False)
    if status >= 500:
        return WebexApiError(status, text, tracking_id, None)
    return WebexApiError(status, text, tracking_id, True)


def _str(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and value else None


def _strs(document: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = document.get(name)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str) and item)


def _object(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    document = body if isinstance(body, Mapping) else _document(body)
    if not _str(document, "id"):
        raise ValueError("answer without an id")
    return document


def _read(cls: Callable[..., T], body: bytes | Mapping[str, Any], **keys: str) -> T:
    """
    Build C{cls} from an answer: C{id}, and each attribute from its JSON
    key (a C{*} prefix reads a list of strings).
    """
    document = _object(body)
    values = {
        name: _strs(document, key[1:]) if key.startswith("*") else _str(document, key)
        for name, key in keys.items()
    }
    return cls(id=document["id"], **values)


@frozen
class Message:
    """
    A message as C{GET /messages/{id}} returns it.

    @ivar html: Webex's rendering of the markdown, when there was any.
    @ivar files: Content URLs; fetching them needs the bot token.
    @ivar cards: The Adaptive Card contents attached.
    """

    id: str
    room_id: str | None
    room_type: str | None
    person_id: str | None
    person_email: str | None
    parent_id: str | None
    text: str | None = field(repr=False)
    markdown: str | None = field(repr=False)
    html: str | None = field(repr=False)
    files: tuple[str, ...] = field(repr=False)
    mentioned_people: tuple[str, ...]
    cards: tuple[Mapping[str, Any], ...] = field(repr=False)
    created: str | None


def parse_message(body: bytes | Mapping[str, Any]) -> Message:
    """
    Read a message.

    @raise ValueError: If the answer has no id.
    """
    document = _object(body)
    attachments = document.get("attachments")
    cards = tuple(
        item["content"]
        for item in (attachments if isinstance(attachments, list) else [])
        if isinstance(item, dict)
        and item.get("contentType") == ADAPTIVE_CARD
        and isinstance(item.get("content"), dict)
    )
    return _read(
        partial(Message, cards=cards),
        document,
        room_id="roomId",
        room_type="roomType",
        person_id="personId",
        person_email="personEmail",
        parent_id="parentId",
        text="text",
        markdown="markdown",
        html="html",
        files="*files",
        mentioned_people="*mentionedPeople",
        created="created",
    )


@frozen
class AttachmentAction:
    """
    A card answer: the C{inputs} of an C{Action.Submit}.
    """

    id: str
    type: str | None
    message_id: str | None
    room_id: str | None
    person_id: str | None
    inputs: Mapping[str, Any] = field(repr=False)


def parse_attachment_action(body: bytes | Mapping[str, Any]) -> AttachmentAction:
    """
    Read a card answer.

    @raise ValueError: If the answer has no id.
    """
    document = _object(body)
    inputs = document.get("inputs")
    return _read(
        partial(AttachmentAction, inputs=inputs if isinstance(inputs, dict) else {}),
        document,
        type="type",
        message_id="messageId",
        room_id="roomId",
        person_id="personId",
    )


@frozen
class Person:
    """
    A person (or bot) as C{GET /people/...} returns it.
    """

    id: str
    emails: tuple[str, ...]
    display_name: str | None
    type: str | None
    org_id: str | None


def parse_person(body: bytes | Mapping[str, Any]) -> Person:
    """
    Read a person.

    @raise ValueError: If the answer has no id.
    """
    return _read(
        Person, body, emails="*emails", display_name="displayName", type="type", org_id="orgId"
    )


@frozen
class Room:
    """
    A space.
    """

    id: str
    title: str | None
    type: str | None


def parse_room(body: bytes | Mapping[str, Any]) -> Room:
    """
    Read a space.

    @raise ValueError: If the answer has no id.
    """
    return _read(Room, body, title="title", type="type")


@frozen
class Membership:
    """
    A person's membership of a space.
    """

    id: str
    room_id: str | None
    person_id: str | None
    person_email: str | None


def parse_membership(body: bytes | Mapping[str, Any]) -> Membership:
    """
    Read a membership.

    @raise ValueError: If the answer has no id.
    """
    return _read(
        Membership, body, room_id="roomId", person_id="personId", person_email="personEmail"
    )


@frozen
class Webhook:
    """
    A webhook as C{GET /webhooks} returns it.

    @ivar status: C{active} or C{inactive} (the spec's values); Webex
        answers C{disabled} for one it switched off after failed
        deliveries.
    @ivar secret: The secret, when Webex shows it.
    """

    id: str
    name: str | None
    target_url: str | None
    resource: str | None
    event: str | None
    filter: str | None
    status: str | None
    secret: str | None = field(repr=False)


def parse_webhook(body: bytes | Mapping[str, Any]) -> Webhook:
    """
    Read a webhook.

    @raise ValueError: If the answer has no id.
    """
    return _read(
        Webhook,
        body,
        name="name",
        target_url="targetUrl",
        resource="resource",
        event="event",
        filter="filter",
        status="status",
        secret="secret",  # noqa: S106 - the JSON key, not a secret
    )


def parse_memberships(body: bytes) -> Sequence[Membership]:
    """
    Read a C{GET /memberships} page (C{items}); malformed items are skipped.
    """
    items = _document(body).get("items")
    return [
        parse_membership(item)
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and _str(item, "id")
    ]


def parse_webhooks(body: bytes) -> Sequence[Webhook]:
    """
    Read a C{GET /webhooks} page (C{items}); malformed items are skipped.
    """
    items = _document(body).get("items")
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and _str(item, "id"):
            found.append(parse_webhook(item))
    return found
