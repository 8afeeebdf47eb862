# -*- test-case-name: tests.teams.test_api -*-
"""
Bot Connector REST request shapes and answer classification, sans-IO.

The base URL of every call is the C{serviceUrl} of the conversation's
activities, stored with the conversation reference
(C{../shared/notes/platforms.md} §B5):

  - create a 1:1 conversation: C{POST /v3/conversations};
  - send: C{POST /v3/conversations/{cid}/activities};
  - reply: C{POST /v3/conversations/{cid}/activities/{aid}};
  - update (edits): C{PUT /v3/conversations/{cid}/activities/{aid}};
  - delete (retractions): C{DELETE /v3/conversations/{cid}/activities/{aid}};
  - typing: a C{typing} activity sent like a message;
  - members: C{GET /v3/conversations/{cid}/members} (the user's e-mail and UPN).

Builders return a L{ConnectorRequest}; the platform kit's delivery sends it
with the bot token and feeds the answer to L{classify}, which says what to
do as an L{Outcome}: done, retry after a pause (429, 412, 502, 504 and
other 5xx), or fail with a reason the sender is told (blocked, too large,
app not installed, ...). Ids in paths are percent-encoded as the Bot
Framework SDKs do, so C{a:...} and C{19:...@thread.tacv2} ids travel intact.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from attrs import field, frozen

__all__ = [
    "MAX_PAYLOAD",
    "RETRYABLE",
    "ConnectorAnswer",
    "ConnectorRequest",
    "ConversationRef",
    "Outcome",
    "TeamsMember",
    "classify",
    "conversation_members",
    "create_conversation",
    "delete_activity",
    "message_activity",
    "parse_members",
    "payload_size",
    "reply_to_activity",
    "send_to_conversation",
    "send_typing",
    "update_activity",
]

#: The largest activity Teams accepts, in bytes of its UTF-16 encoding.
MAX_PAYLOAD = 100 * 1024
#: Statuses worth retrying after a pause (rate-limit.md: 429, 412, 502, 504).
RETRYABLE = frozenset({412, 429, 500, 502, 503, 504})


class Outcome(enum.Enum):
    """
    What an answer means for the message.
    """

    DONE = "done"
    RETRY = "retry"
    #: The user blocked or removed the bot (403 C{MessageWritesBlocked}).
    BLOCKED = "blocked"
    #: The activity is above 100 KB (413): split it or refuse it.
    TOO_LARGE = "too-large"
    #: The user has not installed the app: no proactive conversation.
    NOT_INSTALLED = "not-installed"
    #: The conversation or activity no longer exists.
    NOT_FOUND = "not-found"
    #: The bot token was refused: fetch a new one, then retry once.
    UNAUTHORIZED = "unauthorized"
    #: Any other refusal: tell the sender, do not retry.
    FAILED = "failed"


_REASONS: Mapping[Outcome, str] = {
    Outcome.BLOCKED: "the Teams user has blocked or removed the nextplane app",
    Outcome.TOO_LARGE: "the message is larger than Teams accepts (100 KB)",
    Outcome.NOT_INSTALLED: (
        "the Teams user has not installed the nextplane app; "
        "ask them (or their Teams admin) to add it from the Teams app store"
    ),
    Outcome.NOT_FOUND: "the Teams conversation or message no longer exists",
    Outcome.UNAUTHORIZED: "Teams refused the hub's credentials",
    Outcome.RETRY: "Teams is busy; the message will be retried",
    Outcome.FAILED: "Teams refused the message",
}


@frozen
class ConversationRef:
    """
    Where a conversation lives: enough to call the Connector about it.

    @ivar service_url: The C{serviceUrl} of the conversation's activities.
    @ivar bot_id: The bot's channel account id (C{28:<app id>}).
    """

    service_url: str
    conversation_id: str
    tenant_id: str
    bot_id: str


@frozen
class ConnectorRequest:
    """
    One Connector call to make.

    @ivar operation: The spec's operation id (for logs and metrics).
    @ivar lane: The key calls are paced and ordered by (the conversation).
    """

    method: str
    url: str
    body: Mapping[str, Any] | None = field(repr=False)
    operation: str
    lane: str

    def encoded(self) -> bytes | None:
        """
        The JSON body as sent.
        """
        if self.body is None:
            return None
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _conversation_url(ref: ConversationRef, *rest: str) -> str:
    parts = ["v3", "conversations", quote(ref.conversation_id, safe=""), *rest]
    return f"{ref.service_url.rstrip('/')}/{'/'.join(parts)}"


def _with_addressing(ref: ConversationRef, activity: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(activity)
    body.setdefault("from", {"id": ref.bot_id})
    body.setdefault("conversation", {"id": ref.conversation_id})
    return body


def message_activity(
    text: str = "",
    text_format: str = "markdown",
    attachments: Sequence[Mapping[str, Any]] = (),
    entities: Sequence[Mapping[str, Any]] = (),
    summary: str | None = None,
) -> dict[str, Any]:
    """
    A C{message} activity: C{text} (in C{text_format}: C{plain},
    C{markdown} or C{xml}), cards as C{attachments}, mentions as C{entities}.
    """
    activity: dict[str, Any] = {"type": "message"}
    if text:
        activity["text"] = text
        activity["textFormat"] = text_format
    if attachments:
        activity["attachments"] = [dict(a) for a in attachments]
    if entities:
        activity["entities"] = [dict(e) for e in entities]
    if summary is not None:
        activity["summary"] = summary
    return activity


def create_conversation(
    service_url: str,
    bot_id: str,
    user_id: str,
    tenant_id: str,
    activity: Mapping[str, Any] | None = None,
) -> ConnectorRequest:
    """
    Open (or find) the 1:1 conversation with C{user_id} (a C{29:} id; Teams
    takes no email or UPN), optionally with a first activity.
    """
    body: dict[str, Any] = {
        "bot": {"id": bot_id},
        "members": [{"id": user_id}],
        "channelData": {"tenant": {"id": tenant_id}},
        "tenantId": tenant_id,
        "isGroup": False,
    }
    if activity is not None:
        body["activity"] = dict(activity)
    url = f"{service_url.rstrip('/')}/v3/conversations"
    return ConnectorRequest("POST", url, body, "Conversations_CreateConversation", user_id)


def send_to_conversation(ref: ConversationRef, activity: Mapping[str, Any]) -> ConnectorRequest:
    """
    Send C{activity} to the conversation.
    """
    return ConnectorRequest(
        "POST",
        _conversation_url(ref, "activities"),
        _with_addressing(ref, activity),
        "Conversations_SendToConversation",
        ref.conversation_id,
    )


def _on_activity(
    method: str,
    operation: str,
    ref: ConversationRef,
    activity_id: str,
    body: dict[str, Any] | None,
) -> ConnectorRequest:
    url = _conversation_url(ref, "activities", quote(activity_id, safe=""))
    return ConnectorRequest(method, url, body, operation, ref.conversation_id)


def reply_to_activity(
    ref: ConversationRef, activity_id: str, activity: Mapping[str, Any]
) -> ConnectorRequest:
    """
    Send C{activity} as a reply to C{activity_id}.
    """
    body = {**_with_addressing(ref, activity), "replyToId": activity_id}
    return _on_activity("POST", "Conversations_ReplyToActivity", ref, activity_id, body)


def update_activity(
    ref: ConversationRef, activity_id: str, activity: Mapping[str, Any]
) -> ConnectorRequest:
    """
    Replace the bot's activity C{activity_id} (an edit): the full new activity.
    """
    body = {**_with_addressing(ref, activity), "id": activity_id}
    return _on_activity("PUT", "Conversations_UpdateActivity", ref, activity_id, body)


def delete_activity(ref: ConversationRef, activity_id: str) -> ConnectorRequest:
    """
    Delete the bot's activity C{activity_id} (a retraction).
    """
    return _on_activity("DELETE", "Conversations_DeleteActivity", ref, activity_id, None)


def send_typing(ref: ConversationRef) -> ConnectorRequest:
    """
    Show the bot as typing.
    """
    return send_to_conversation(ref, {"type": "typing"})


def conversation_members(ref: ConversationRef) -> ConnectorRequest:
    """
    List the conversation's members: in a personal chat, the user, with the
    e-mail and UPN Teams adds (the activity itself carries neither).
    """
    url = _conversation_url(ref, "members")
    return ConnectorRequest(
        "GET", url, None, "Conversations_GetConversationMembers", ref.conversation_id
    )


@frozen
class TeamsMember:
    """
    A member as Teams describes it.

    @ivar email: The user's e-mail (Teams adds it), when given.
    @ivar user_principal_name: The sign-in name (often the e-mail).
    """

    id: str
    name: str | None = None
    aad_object_id: str | None = None
    email: str | None = None
    user_principal_name: str | None = None
    tenant_id: str | None = None


def parse_members(body: bytes) -> list[TeamsMember]:
    """
    The members in a C{GetConversationMembers} answer (junk entries skipped).
    """
    try:
        data = json.loads(body)
    except ValueError:
        return []
    members = []
    for entry in data if isinstance(data, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue

        def text(name: str, entry: dict[str, Any] = entry) -> str | None:
            value = entry.get(name)
            return value if isinstance(value, str) and value else None

        members.append(
            TeamsMember(
                entry["id"],
                text("name"),
                text("aadObjectId"),
                text("email"),
                text("userPrincipalName"),
                text("tenantId"),
            )
        )
    return members


def payload_size(activity: Mapping[str, Any]) -> int:
    """
    The size Teams measures against L{MAX_PAYLOAD}: the JSON in UTF-16.
    """
    text = json.dumps(activity, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-16-le"))


@frozen
class ConnectorAnswer:
    """
    A classified answer.

    @ivar id: The C{id} of a C{ResourceResponse} (the new activity or
        conversation), when there is one.
    @ivar activity_id: The C{activityId} of a created conversation's first activity.
    @ivar retry_after: Seconds the answer asked to wait, when it said.
    @ivar reason: Words for the sender when the outcome is a failure.
    """

    status: int
    outcome: Outcome
    code: str | None = None
    message: str | None = None
    id: str | None = None
    activity_id: str | None = None
    retry_after: float | None = None
    reason: str | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """
    Seconds to wait from a C{Retry-After} value (seconds or an HTTP date).
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _error_of(data: Any) -> tuple[str | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
    else:
        code, message = data.get("code"), data.get("message")
    return (code if isinstance(code, str) else None), (
        message if isinstance(message, str) else None
    )


def _failure(status: int, code: str | None, message: str | None) -> Outcome:
    said = f"{code or ''} {message or ''}"
    if status == 403 and ("MessageWritesBlocked" in said or "ConversationBlockedByUser" in said):
        return Outcome.BLOCKED
    if status == 403 and ("NotInConversationRoster" in said or "BotDisabled" in said):
        return Outcome.NOT_INSTALLED
    if status == 413 or "MessageSizeTooBig" in said:
        return Outcome.TOO_LARGE
    if status == 404:
        return Outcome.NOT_FOUND
    if status == 401:
        return Outcome.UNAUTHORIZED
    if status in RETRYABLE or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


def classify(
    status: int, body: bytes, retry_after: str | None = None, now: float = 0.0
) -> ConnectorAnswer:
    """
    What an answer of C{status} with C{body} means.

    @param retry_after: The C{Retry-After} header, if any.
    @param now: The current time, for an HTTP-date C{Retry-After}.
    """
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if 200 <= status < 300:
        found = data.get("id") if isinstance(data, dict) else None
        first = data.get("activityId") if isinstance(data, dict) else None
        return ConnectorAnswer(
            status,
            Outcome.DONE,
            id=found if isinstance(found, str) else None,
            activity_id=first if isinstance(first, str) else None,
        )
    code, message = _error_of(data)
    outcome = _failure(status, code, message)
    return ConnectorAnswer(
        status,
        outcome,
        code,
        message,
        retry_after=parse_retry_after(retry_after, now),
        reason=_REASONS[outcome],
    )
