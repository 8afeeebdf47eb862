# -*- test-case-name: tests.teams.test_simulator -*-
"""
The simulated Bot Connector REST API: what happens to the hub's
C{/v3/conversations...} requests, on the per-tenant state.

Each request is checked against the published spec
(L{nextplane.testing.teams_sim.spec}) and its violations recorded; its
bearer token must be one the simulated token endpoint issued and still
valid. Answers follow Teams (C{../shared/notes/platforms.md} §B5, §B6):

  - C{ResourceResponse{id}} for sends, replies and updates,
    C{ConversationResourceResponse} for created conversations;
  - 401 for a missing or unknown token, 404 C{ConversationNotFound} and
    C{ActivityNotFound};
  - 403 C{MessageWritesBlocked} when the user blocked or removed the bot,
    403 C{BotNotInConversationRoster} when creating a conversation with a
    user who has not installed it (I{inference}: the code Teams gives
    proactive sends to users without the app);
  - 413 C{MessageSizeTooBig} above 100 KB (the payload counted in UTF-16);
  - 429 with C{Retry-After} in real-limits mode; queued faults (412, 502,
    504, ...) from L{ConnectorApi.inject}.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from attrs import frozen

from .limits import CONVERSATION_LIMITS, TENANT_LIMITS, SlidingWindows, retry_after
from .spec import ConnectorSpec
from .state import BotApp, SimActivity, SimConversation, SimUser, Tenant

__all__ = [
    "MAX_PAYLOAD",
    "ApiResponse",
    "CallRecord",
    "ConnectorApi",
    "RateLimitRecord",
    "Violation",
]

#: The largest payload Teams accepts, in bytes of UTF-16.
MAX_PAYLOAD = 100 * 1024
_PACED = frozenset(
    {
        "Conversations_CreateConversation",
        "Conversations_SendToConversation",
        "Conversations_ReplyToActivity",
        "Conversations_UpdateActivity",
        "Conversations_DeleteActivity",
    }
)


@frozen
class ApiResponse:
    """
    An answer: status, extra headers, JSON body (C{None} for none).
    """

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


@frozen
class Violation:
    """
    A request that broke the spec.
    """

    time: float
    verb: str
    path: str
    messages: tuple[str, ...]


@frozen
class CallRecord:
    """
    One request as the simulator saw it (without the token).
    """

    time: float
    verb: str
    path: str
    operation: str | None
    body: Any
    status: int


@frozen
class RateLimitRecord:
    """
    A request answered 429.
    """

    time: float
    conversation_id: str | None
    retry_after: int


def _error(status: int, code: str, message: str, **headers: str) -> ApiResponse:
    return ApiResponse(
        status, {"error": {"code": code, "message": message}}, tuple(headers.items())
    )


class ConnectorApi:
    """
    The Connector REST API over the tenants' state; see the module docstring.
    """

    def __init__(
        self,
        spec: ConnectorSpec,
        tenants: dict[str, Tenant],
        token_app: Callable[[str], BotApp | None],
        now: Callable[[], float],
        real_limits: bool,
        new_id: Callable[[str], str],
    ) -> None:
        self.spec = spec
        self.tenants = tenants
        self._token_app = token_app
        self._now = now
        self.real_limits = real_limits
        self._new_id = new_id
        self.calls: list[CallRecord] = []
        self.violations: list[Violation] = []
        self.rate_limited: list[RateLimitRecord] = []
        self._faults: dict[str, deque[ApiResponse]] = {}
        self._windows: dict[str, SlidingWindows] = {}

    def inject(self, operation_id: str, status: int, retry_after: int | None = None) -> None:
        """
        Answer the next C{operation_id} request with C{status}, without acting.
        """
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        fault = _error(status, "InjectedFault", f"injected {status}", **headers)
        self._faults.setdefault(operation_id, deque()).append(fault)

    def handle(self, verb: str, uri: str, authorization: str | None, raw: bytes) -> ApiResponse:
        """
        Answer one request.
        """
        path = urlsplit(uri).path
        operation, params, problems = self.spec.match(verb, path)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                problems.append("body is not JSON")
        if operation is not None:
            problems += self.spec.validate_body(operation, body)
        if problems:
            self.violations.append(Violation(self._now(), verb, path, tuple(problems)))
        response = self._answer(
            operation.operation_id if operation else None, params, authorization, body, raw
        )
        name = operation.operation_id if operation else None
        self.calls.append(CallRecord(self._now(), verb, path, name, body, response.status))
        return response

    def _answer(
        self,
        name: str | None,
        params: dict[str, str],
        authorization: str | None,
        body: Any,
        raw: bytes,
    ) -> ApiResponse:
        token = (authorization or "").removeprefix("Bearer ").strip()
        app = self._token_app(token) if token else None
        if app is None:
            return _error(401, "Unauthorized", "Authorization has been denied for this request.")
        if name is None:
            return _error(404, "NotFound", "No such operation")
        if not isinstance(body, dict | None):
            return _error(400, "BadArgument", "Body is not an object")
        params = {k: unquote(v) for k, v in params.items()}
        fault = self._faults.get(name)
        if fault:
            return fault.popleft()
        if len(raw.decode("utf-8", "replace").encode("utf-16-le")) > MAX_PAYLOAD:
            return _error(413, "MessageSizeTooBig", "Message size too big")
        if name == "Conversations_CreateConversation":
            return self._create(app, body or {})
        conversation = self._find(params.get("conversationId", ""))
        if conversation is None:
            return _error(404, "ConversationNotFound", "Conversation not found.")
        if name in _PACED and self.real_limits:
            limited = self._limit(app, conversation.tenant_id, conversation.id)
            if limited is not None:
                return limited
        user = self.tenants[conversation.tenant_id].users.get(conversation.user_id)
        if name in _PACED and user is not None and (user.blocked or not user.installed):
            return _error(
                403, "MessageWritesBlocked", "Message writes are blocked for this conversation"
            )
        return self._act(name, app, conversation, params, body or {})

    def _limit(
        self, app: BotApp, tenant_id: str, conversation_id: str | None
    ) -> ApiResponse | None:
        now = self._now()
        keys = [(f"tenant:{app.app_id}:{tenant_id}", TENANT_LIMITS)]
        if conversation_id is not None:
            keys.append((f"conversation:{conversation_id}", CONVERSATION_LIMITS))
        for key, limits in keys:
            windows = self._windows.setdefault(key, SlidingWindows(limits))
            wait = windows.admit(now)
            if wait is not None:
                seconds = retry_after(wait)
                self.rate_limited.append(RateLimitRecord(now, conversation_id, seconds))
                return _error(
                    429, "TooManyRequests", "Too many requests", **{"Retry-After": str(seconds)}
                )
        return None

    def _find(self, conversation_id: str) -> SimConversation | None:
        for tenant in self.tenants.values():
            found = tenant.conversations.get(conversation_id)
            if found is not None:
                return found
        return None

    def _create(self, app: BotApp, body: dict[str, Any]) -> ApiResponse:
        members = body.get("members") or [{}]
        user_id = members[0].get("id") if isinstance(members[0], dict) else None
        channel_data = body.get("channelData") or {}
        tenant_id = (channel_data.get("tenant") or {}).get("id") or body.get("tenantId")
        tenant = self.tenants.get(tenant_id or "")
        if tenant is None or not isinstance(user_id, str) or user_id not in tenant.users:
            return _error(400, "BadArgument", "Unknown user or tenant")
        if self.real_limits:
            limited = self._limit(app, tenant.id, None)
            if limited is not None:
                return limited
        user = tenant.users[user_id]
        if not user.installed:
            return _error(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        conversation = tenant.conversation_with(user_id)
        if conversation is None:
            conversation = SimConversation(self._new_id("a:"), tenant.id, user_id)
            tenant.conversations[conversation.id] = conversation
        result: dict[str, Any] = {"id": conversation.id}
        if isinstance(body.get("activity"), dict):
            result["activityId"] = self._store(app, conversation, body["activity"], None).id
        return ApiResponse(201, result)

    def _store(
        self, app: BotApp, conversation: SimConversation, body: dict[str, Any], reply_to: str | None
    ) -> SimActivity:
        activity = SimActivity(
            self._new_id(""),
            conversation.id,
            str(body.get("type")),
            app.bot_id,
            dict(body),
            reply_to,
        )
        if activity.type != "typing":
            conversation.activities[activity.id] = activity
        return activity

    def _act(
        self,
        name: str,
        app: BotApp,
        conversation: SimConversation,
        params: dict[str, str],
        body: dict[str, Any],
    ) -> ApiResponse:
        if name == "Conversations_SendToConversation":
            return ApiResponse(201, {"id": self._store(app, conversation, body, None).id})
        if name == "Conversations_GetConversationMembers":
            user = self.tenants[conversation.tenant_id].users[conversation.user_id]
            return ApiResponse(200, [_member(user)])
        existing = conversation.activities.get(params.get("activityId", ""))
        if name == "Conversations_ReplyToActivity":
            if existing is None:
                return _error(404, "ActivityNotFound", "Activity not found.")
            return ApiResponse(201, {"id": self._store(app, conversation, body, existing.id).id})
        if existing is None or existing.deleted or existing.from_id != app.bot_id:
            return _error(404, "ActivityNotFound", "Activity not found.")
        if name == "Conversations_UpdateActivity":
            existing.edits.append(existing.body)
            existing.body = dict(body)
            return ApiResponse(200, {"id": existing.id})
        if name == "Conversations_DeleteActivity":
            existing.deleted = True
            return ApiResponse(200)
        return _error(501, "NotImplemented", f"{name} is not simulated")


def _member(user: SimUser) -> dict[str, Any]:
    member = {
        "id": user.id,
        "name": user.name,
        "aadObjectId": user.aad_object_id,
        "tenantId": user.tenant_id,
        "userRole": "user",
    }
    if user.email:
        member["email"] = member["userPrincipalName"] = user.email
    return member
