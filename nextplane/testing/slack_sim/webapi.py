# -*- test-case-name: tests.slack.test_simulator -*-
"""
The Slack simulator's Web API endpoint: spec checks, authentication,
rate limits, injected faults, dispatch to the method handlers.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest

from .base import SIM_APP, SimulatorBase
from .records import (
    CAPACITY,
    SIM_TIERS,
    CallRecord,
    RateLimitRecord,
    SlackApiError,
    Violation,
    content_type_of,
    header_value,
)
from .state import SimToken

__all__ = ["WebApi"]


class WebApi(SimulatorBase):
    """
    C{/api/<method>}: each call checked, limited and dispatched to the
    C{_m_<method>} handler of the composed simulator.
    """

    def _limit(self, token: str, method: str, channel: str | None, now: float) -> int:
        if self.mode == CAPACITY:
            return 0
        if method == "chat.postMessage":
            wait = 0.0
            if channel is not None and channel in self._last_post:
                wait = self._last_post[channel] + self.post_interval - now
            if self.post_per_minute is not None:
                while self._posts and self._posts[0] <= now - 60:
                    self._posts.popleft()
                if len(self._posts) >= self.post_per_minute:
                    wait = max(wait, self._posts[0] + 60 - now)
            if wait > 1e-6:
                return max(1, math.ceil(wait - 1e-6))
            if channel is not None:
                self._last_post[channel] = now
            self._posts.append(now)
            return 0
        limit = SIM_TIERS.get(method, 50)
        window = self._windows.setdefault((token, method), deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            return max(1, math.ceil(window[0] + 60 - now - 1e-6))
        window.append(now)
        return 0

    # --- HTTP ---------------------------------------------------------------

    def _answer(
        self,
        request: IRequest,
        method: str,
        verb: str,
        args: Mapping[str, Any],
        data: Mapping[str, Any],
        status: int = 200,
    ) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        error = None if data.get("ok") else str(data.get("error"))
        self.calls.append(CallRecord(self.clock.seconds(), method, verb, dict(args), error, status))
        return json.dumps(data).encode("utf-8")

    @SIM_APP.route("/api/<string:method>", methods=["GET", "POST", "PUT", "DELETE"])
    def api(self, request: IRequest, method: str) -> bytes | Deferred[bytes]:
        """
        One Web API call.
        """
        now = self.clock.seconds()
        verb = request.method.decode("ascii")
        query = dict(
            parse_qsl(urlsplit(request.uri.decode("latin-1")).query, keep_blank_values=True)
        )
        content_type = content_type_of(request)
        body = request.content.read() if request.content is not None else b""
        form: dict[str, str] = {}
        body_json: dict[str, Any] | None = None
        problems: list[str] = []
        if body and content_type == "application/json":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                body_json = parsed
            else:
                problems.append("[ERROR] the JSON body is not an object")
        elif body and content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif body:
            problems.append(f"[ERROR] unsupported body type {content_type}")
        args: dict[str, Any] = {**query, **form, **(body_json or {})}
        safe_args = {k: v for k, v in args.items() if k not in ("token", "client_secret")}
        if method not in self.spec.methods:
            self.violations.append(Violation(now, method, (f"[ERROR] unknown method: {method}",)))
            return self._answer(
                request, method, verb, safe_args, {"ok": False, "error": "unknown_method"}
            )
        problems.extend(self.spec.validate(method, verb, content_type, query, form, body_json))
        if problems:
            self.violations.append(Violation(now, method, tuple(problems)))
            return self._answer(
                request,
                method,
                verb,
                safe_args,
                {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": problems},
                },
            )
        token: SimToken | None = None
        if method != "oauth.v2.access":
            try:
                token = self._authenticate(request, method)
            except SlackApiError as e:
                return self._answer(
                    request, method, verb, safe_args, {"ok": False, "error": e.error, **e.extra}
                )
        channel = args.get("channel") or args.get("channel_id")
        fault = self._next_fault(method)
        if fault is not None and fault.kind == "ratelimit":
            retry_after = fault.retry_after
        else:
            retry_after = self._limit(
                token.token if token else "oauth", method, str(channel) if channel else None, now
            )
        if retry_after:
            self.rate_limited.append(RateLimitRecord(now, method, channel, retry_after))
            request.setHeader(b"retry-after", str(retry_after).encode("ascii"))
            return self._answer(
                request, method, verb, safe_args, {"ok": False, "error": "ratelimited"}, 429
            )
        if fault is not None and fault.kind in ("status", "error", "hang", "reset"):
            if fault.kind == "hang":
                return self._hang(method, verb, safe_args)
            if fault.kind == "reset":
                return self._reset(request, method, verb, safe_args)
            if fault.kind == "status":
                error = "service_unavailable" if fault.status == 503 else "internal_error"
                return self._answer(
                    request, method, verb, safe_args, {"ok": False, "error": error}, fault.status
                )
            return self._answer(
                request, method, verb, safe_args, {"ok": False, "error": fault.error}
            )
        try:
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                result: dict[str, Any] = dict(self.spec.methods[method].example or {"ok": True})
            else:
                result = handler(token, args, request)
            data = {"ok": True, **result}
        except SlackApiError as e:
            data = {"ok": False, "error": e.error, **e.extra}
        if fault is not None and fault.kind == "hang_after":
            return self._hang(method, verb, safe_args)
        if fault is not None and fault.kind == "reset_after":
            return self._reset(request, method, verb, safe_args)
        if fault is not None and fault.kind == "status_after":
            return self._answer(
                request,
                method,
                verb,
                safe_args,
                {"ok": False, "error": "internal_error"},
                fault.status,
            )
        return self._answer(request, method, verb, safe_args, data)

    def _hang(self, method: str, verb: str, args: Mapping[str, Any]) -> Deferred[bytes]:
        self.calls.append(CallRecord(self.clock.seconds(), method, verb, dict(args), "hang", 0))
        never: Deferred[bytes] = Deferred()
        self.hung.append(never)
        return never

    def _reset(
        self, request: IRequest, method: str, verb: str, args: Mapping[str, Any]
    ) -> Deferred[bytes]:
        """
        Drop the connection without an answer: a TCP reset where the
        transport is a socket (no linger), an abort elsewhere.
        """
        self.calls.append(CallRecord(self.clock.seconds(), method, verb, dict(args), "reset", 0))
        transport: Any = request.channel.transport  # type: ignore[attr-defined]
        handle = getattr(transport, "getHandle", lambda: None)()
        if isinstance(handle, socket.socket):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abortConnection()
        return Deferred()

    def _authenticate(self, request: IRequest, method: str) -> SimToken:
        header = header_value(request, b"authorization")
        if not header or not header.startswith("Bearer "):
            raise SlackApiError("not_authed")
        token = self.workspace.tokens.get(header[len("Bearer ") :].strip())
        if token is None:
            raise SlackApiError("invalid_auth")
        if token.revoked:
            raise SlackApiError("token_revoked")
        if not self.spec.scope_allows(method, token.scopes):
            raise SlackApiError(
                "missing_scope",
                needed=self.spec.needed_scope(method),
                provided=",".join(sorted(token.scopes)),
            )
        return token
