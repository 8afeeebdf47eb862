# -*- test-case-name: tests.slack.test_simulator -*-
"""
A local Slack: the Web API, the file upload host and file downloads, as a
Klein application over a simulated L{Workspace}.

Use it in memory through L{treq.testing.StubTreq} (C{StubTreq(sim.resource())})
or on a real port (C{Site(sim.resource())}) for benchmarks; pass the
matching C{base_url} so the URLs it hands out (upload URLs, C{url_private})
point back at it.

Every API request is checked against Slack's published description
(L{nextplane.testing.slack_sim.spec}); a violation gets Slack's
C{invalid_arguments} answer and is recorded in L{SlackSimulator.violations},
so a test can assert there were none. Tokens come from the
C{Authorization: Bearer} header and must hold a scope the method needs.

Rate limits: in L{REAL_LIMITS} mode each method is held to its tier per
token (per minute, sliding window) and C{chat.postMessage} to one message
per second per channel, answering HTTP 429 with C{Retry-After}
(U{https://docs.slack.dev/apis/web-api/rate-limits}); L{CAPACITY} mode has
no limits, to measure the hub. Time comes from an injected clock.

L{SlackSimulator.inject} queues faults per method (5xx, hangs before or
after acting, error codes, 429s) to exercise the client's retry rules.

Users acting in Slack (L{SlackSimulator.user_posts} and friends) change
the workspace and, with an L{EventSender} attached, reach the hub as signed
Events API deliveries.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import deque
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from attrs import frozen
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource
from twisted.web.server import Site

from .events import EventSender
from .spec import WebApiSpec, load_spec
from .state import Conversation, SimFile, SimMessage, SimToken, Workspace

__all__ = [
    "CAPACITY",
    "REAL_LIMITS",
    "SIM_TIERS",
    "CallRecord",
    "Fault",
    "RateLimitRecord",
    "SlackSimulator",
    "Violation",
]

#: Enforce Slack's documented limits.
REAL_LIMITS = "real"
#: No limits: measure the hub's own capacity.
CAPACITY = "capacity"

#: Calls per minute per token in L{REAL_LIMITS} mode (Slack's tier floors:
#: Tier 2 = 20, Tier 3 = 50, Tier 4 = 100); C{chat.postMessage} is paced per
#: channel instead. Methods not listed get 50.
SIM_TIERS: Mapping[str, int] = {
    "chat.update": 50,
    "chat.delete": 50,
    "reactions.add": 50,
    "reactions.remove": 20,
    "conversations.create": 20,
    "conversations.invite": 50,
    "conversations.open": 50,
    "users.info": 100,
    "users.lookupByEmail": 50,
    "users.getPresence": 50,
    "auth.test": 100,
    "oauth.v2.access": 100,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
    "files.info": 100,
    "views.publish": 100,
}

_CHANNEL_NAME = re.compile(r"[a-z0-9_-]{1,80}")
_REACTION = re.compile(r"[a-z0-9_+'-]+(::skin-tone-[2-6])?")


@frozen
class Fault:
    """
    A failure to inject into the next call of a method.

    @ivar kind: C{"status"} (answer C{status} without acting), C{"error"}
        (C{ok:false} with C{error}, without acting), C{"hang"} (never answer,
        without acting), C{"hang_after"} (act, then never answer),
        C{"status_after"} (act, then answer C{status}), C{"ratelimit"} (429
        with C{retry_after}).
    """

    kind: str
    status: int = 500
    error: str = "internal_error"
    retry_after: int = 1


@frozen
class Violation:
    """
    A request that broke the spec.
    """

    time: float
    method: str
    messages: tuple[str, ...]


@frozen
class CallRecord:
    """
    One API request as the simulator saw it (without the token).

    @ivar error: The C{error} answered, or C{None} for success.
    @ivar status: The HTTP status answered (C{0} for a hang).
    """

    time: float
    method: str
    verb: str
    args: Mapping[str, Any]
    error: str | None
    status: int


@frozen
class RateLimitRecord:
    """
    A request answered with 429.
    """

    time: float
    method: str
    channel: str | None
    retry_after: int


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _content_type(request: IRequest) -> str | None:
    raw = request.getHeader(b"content-type")
    if raw is None:
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.split(";")[0].strip().lower() or None


def _header(request: IRequest, name: bytes) -> str | None:
    raw = request.getHeader(name)
    if raw is None:
        return None
    return raw.decode("latin-1") if isinstance(raw, bytes) else raw


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


class SlackSimulator:
    """
    The simulator; see the module docstring.

    @ivar workspace: The state, for set-up and assertions.
    @ivar calls: Every API request, in order.
    @ivar violations: Requests that broke the spec.
    @ivar rate_limited: Requests answered 429.
    @ivar hung: Requests left without an answer by a hang fault.
    """

    app = Klein()

    def __init__(
        self,
        clock: IReactorTime,
        workspace: Workspace | None = None,
        *,
        mode: str = REAL_LIMITS,
        base_url: str = "https://slack.test",
        spec: WebApiSpec | None = None,
        client_id: str = "1111.2222",
        client_secret: str = "sim-client-secret",  # noqa: S107 (simulated)
        events: EventSender | None = None,
        post_interval: float = 1.0,
        post_per_minute: int | None = None,
        echo_bot_messages: bool = True,
    ) -> None:
        """
        @param clock: The time (rate limits, C{ts} values).
        @param mode: L{REAL_LIMITS} or L{CAPACITY}.
        @param base_url: How clients reach this simulator.
        @param events: Sends events to the hub; none when C{None}.
        @param post_per_minute: Optional workspace cap on C{chat.postMessage}.
        @param echo_bot_messages: Send the app's own posts back as events,
            as Slack does.
        """
        if mode not in (REAL_LIMITS, CAPACITY):
            raise ValueError(f"unknown mode {mode!r}")
        self.clock = clock
        self.workspace = workspace if workspace is not None else Workspace()
        self.mode = mode
        self.base_url = base_url.rstrip("/")
        self.spec = spec if spec is not None else load_spec()
        self.client_id = client_id
        self.client_secret = client_secret
        self.events = events
        self.post_interval = post_interval
        self.post_per_minute = post_per_minute
        self.echo_bot_messages = echo_bot_messages
        self.calls: list[CallRecord] = []
        self.violations: list[Violation] = []
        self.rate_limited: list[RateLimitRecord] = []
        self.hung: list[Deferred[bytes]] = []
        self.uploads: list[tuple[str, bool]] = []
        #: The Home tab last published for each user (C{views.publish}).
        self.home_views: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._outage: tuple[float, itertools.cycle[Fault]] | None = None
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._last_post: dict[str, float] = {}
        self._posts: deque[float] = deque()
        self._codes: dict[str, frozenset[str]] = {}
        self._ts_seq = 0

    def resource(self) -> IResource:
        """
        The Klein resource: C{/api/<method>}, C{/upload/v1/<file>},
        C{/files-pri/<team>-<file>/<name>}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    def listen(
        self, reactor: IReactorTCP, port: int = 0, interface: str = "127.0.0.1"
    ) -> IListeningPort:
        """
        Serve on a real TCP port (loopback by default), for benchmarks, and
        point L{base_url} at it.

        @return: The listening port; stop it with C{stopListening()}.
        """
        site: Any = Site(self.resource())
        listening = reactor.listenTCP(port, site, interface=interface)
        address = listening.getHost()
        self.base_url = f"http://{interface}:{getattr(address, 'port', port)}"
        return listening

    # --- test controls ------------------------------------------------------

    def inject(self, method: str, *faults: Fault) -> None:
        """
        Queue C{faults} for the next calls of C{method}, one per call; the
        name C{"upload"} targets the file upload host (C{"status"} only).
        """
        self._faults.setdefault(method, deque()).extend(faults)

    def outage(self, until: float, *faults: Fault) -> None:
        """
        A Slack outage: until clock time C{until}, every Web API call gets
        the next of C{faults} in turn (before any injected one).
        """
        self._outage = (until, itertools.cycle(faults))

    def issue_oauth_code(self, scopes: set[str]) -> str:
        """
        A one-time code that C{oauth.v2.access} exchanges for a bot token.
        """
        code = f"code-{self.workspace.new_id('')}"
        self._codes[code] = frozenset(scopes)
        return code

    def messages(self, channel: str) -> list[SimMessage]:
        """
        The messages of a conversation, oldest first.
        """
        return list(self.workspace.conversations[channel].messages)

    def successful(self, method: str) -> list[CallRecord]:
        """
        The calls of C{method} that succeeded.
        """
        return [c for c in self.calls if c.method == method and c.error is None]

    # --- rate limits --------------------------------------------------------

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

    @app.route("/api/<string:method>", methods=["GET", "POST", "PUT", "DELETE"])
    def api(self, request: IRequest, method: str) -> bytes | Deferred[bytes]:
        """
        One Web API call.
        """
        now = self.clock.seconds()
        verb = request.method.decode("ascii")
        query = dict(
            parse_qsl(urlsplit(request.uri.decode("latin-1")).query, keep_blank_values=True)
        )
        content_type = _content_type(request)
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
            except _SlackError as e:
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
        if fault is not None and fault.kind in ("status", "error", "hang"):
            if fault.kind == "hang":
                return self._hang(method, verb, safe_args)
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
        except _SlackError as e:
            data = {"ok": False, "error": e.error, **e.extra}
        if fault is not None and fault.kind == "hang_after":
            return self._hang(method, verb, safe_args)
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

    def _next_fault(self, method: str) -> Fault | None:
        if self._outage is not None and method != "upload":
            until, faults = self._outage
            if self.clock.seconds() < until:
                return next(faults)
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    def _authenticate(self, request: IRequest, method: str) -> SimToken:
        header = _header(request, b"authorization")
        if not header or not header.startswith("Bearer "):
            raise _SlackError("not_authed")
        token = self.workspace.tokens.get(header[len("Bearer ") :].strip())
        if token is None:
            raise _SlackError("invalid_auth")
        if token.revoked:
            raise _SlackError("token_revoked")
        if not self.spec.scope_allows(method, token.scopes):
            raise _SlackError(
                "missing_scope",
                needed=self.spec.needed_scope(method),
                provided=",".join(sorted(token.scopes)),
            )
        return token

    def _new_ts(self) -> str:
        self._ts_seq += 1
        return f"{int(self.clock.seconds())}.{self._ts_seq:06d}"

    def _conversation(self, channel: Any) -> Conversation:
        ident = str(channel or "")
        conversation = self.workspace.conversations.get(ident)
        if conversation is None and ident:
            conversation = self.workspace.channel_named(ident.lstrip("#"))
        if conversation is None:
            raise _SlackError("channel_not_found")
        return conversation

    def _member(self, token: SimToken, conversation: Conversation) -> None:
        if token.user_id not in conversation.members:
            if conversation.is_private or conversation.is_im or conversation.is_mpim:
                raise _SlackError("channel_not_found")
            if "chat:write.public" not in token.scopes:
                raise _SlackError("not_in_channel")

    def _own(self, token: SimToken, message: SimMessage) -> None:
        if message.user != token.user_id and (
            message.bot_id is None or message.bot_id != token.bot_id
        ):
            raise _SlackError("cant_update_message")

    # --- methods ------------------------------------------------------------

    def _m_auth_test(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        ws = self.workspace
        user = ws.users.get(token.user_id)
        result = {
            "url": f"{self.base_url}/",
            "team": ws.team_name,
            "user": user.name if user else token.user_id,
            "team_id": ws.team_id,
            "user_id": token.user_id,
            "is_enterprise_install": False,
        }
        if token.bot_id:
            result["bot_id"] = token.bot_id
        return result

    def _m_chat_postMessage(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        if conversation.is_archived:
            raise _SlackError("is_archived")
        self._member(token, conversation)
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise _SlackError("invalid_blocks") from None
        if blocks is not None and not isinstance(blocks, list):
            raise _SlackError("invalid_blocks")
        if not text and not blocks:
            raise _SlackError("no_text")
        if text and len(str(text)) > 40_000:
            raise _SlackError("msg_too_long")
        custom = any(args.get(k) for k in ("username", "icon_url", "icon_emoji"))
        if custom and "chat:write.customize" not in token.scopes:
            raise _SlackError("missing_scope", needed="chat:write.customize")
        thread_ts = args.get("thread_ts")
        if thread_ts and conversation.find(str(thread_ts)) is None:
            raise _SlackError("thread_not_found")
        message = SimMessage(
            ts=self._new_ts(),
            text=str(text or ""),
            user=token.user_id,
            bot_id=token.bot_id,
            username=args.get("username"),
            icon_url=args.get("icon_url"),
            icon_emoji=args.get("icon_emoji"),
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        conversation.messages.append(message)
        if self.echo_bot_messages:
            self._emit_message(conversation, message)
        return {"channel": conversation.id, "ts": message.ts, "message": message.as_json()}

    def _m_chat_update(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        message = conversation.find(str(args.get("ts")))
        if message is None:
            raise _SlackError("message_not_found")
        self._own(token, message)
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks) if blocks else None
        if text is not None:
            message.text = str(text)
        if blocks is not None:
            message.blocks = blocks
        message.edited_ts = self._new_ts()
        return {"channel": conversation.id, "ts": message.ts, "text": message.text}

    def _m_chat_delete(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        message = conversation.find(str(args.get("ts")))
        if message is None:
            raise _SlackError("message_not_found")
        if message.user != token.user_id:
            raise _SlackError("cant_delete_message")
        conversation.messages.remove(message)
        return {"channel": conversation.id, "ts": message.ts}

    def _reaction_target(self, args: Mapping[str, Any]) -> tuple[SimMessage, str]:
        conversation = self._conversation(args.get("channel"))
        message = conversation.find(str(args.get("timestamp")))
        if message is None:
            raise _SlackError("message_not_found")
        name = str(args.get("name", ""))
        if not _REACTION.fullmatch(name):
            raise _SlackError("invalid_name")
        return message, name

    def _m_reactions_add(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.setdefault(name, [])
        if token.user_id in users:
            raise _SlackError("already_reacted")
        users.append(token.user_id)
        return {}

    def _m_reactions_remove(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.get(name, [])
        if token.user_id not in users:
            raise _SlackError("no_reaction")
        users.remove(token.user_id)
        if not users:
            del message.reactions[name]
        return {}

    def _m_conversations_create(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if not _CHANNEL_NAME.fullmatch(name):
            raise _SlackError("invalid_name_specials")
        if self.workspace.channel_named(name) is not None:
            raise _SlackError("name_taken")
        conversation = self.workspace.add_channel(
            name, {token.user_id}, is_private=_flag(args.get("is_private", False))
        )
        conversation.created = int(self.clock.seconds())
        return {"channel": conversation.as_json(token.user_id)}

    def _m_conversations_invite(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        if token.user_id not in conversation.members:
            raise _SlackError("not_in_channel")
        users = _split(args.get("users"))
        for user in users:
            if user == token.user_id:
                raise _SlackError("cant_invite_self")
            if user not in self.workspace.users:
                raise _SlackError("user_not_found")
        if all(user in conversation.members for user in users):
            raise _SlackError("already_in_channel")
        conversation.members.update(users)
        return {"channel": conversation.as_json(token.user_id)}

    def _m_conversations_open(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        if args.get("channel"):
            conversation = self._conversation(args.get("channel"))
        else:
            users = _split(args.get("users"))
            if not users:
                raise _SlackError("users_list_not_supplied")
            for user in users:
                if user not in self.workspace.users:
                    raise _SlackError("user_not_found")
            if len(users) == 1:
                conversation = self.workspace.im_with(token.user_id, users[0])
            else:
                conversation = Conversation(
                    self.workspace.new_id("G"),
                    "mpdm-" + "--".join(users),
                    is_private=True,
                    is_mpim=True,
                    members={token.user_id, *users},
                )
                self.workspace.conversations[conversation.id] = conversation
        if _flag(args.get("return_im", False)):
            return {"channel": conversation.as_json(token.user_id)}
        return {"channel": {"id": conversation.id}}

    def _user(self, ident: Any) -> Any:
        user = self.workspace.users.get(str(ident or ""))
        if user is None:
            raise _SlackError("user_not_found")
        return user

    def _m_users_info(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        return {"user": self._user(args.get("user")).as_json(self.workspace.team_id)}

    def _m_users_lookupByEmail(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.workspace.users.values():
            if user.email and user.email.lower() == email:
                return {"user": user.as_json(self.workspace.team_id)}
        raise _SlackError("users_not_found")

    def _m_users_getPresence(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        user = self._user(args.get("user"))
        return {"presence": user.presence}

    def _m_oauth_v2_access(
        self, token: SimToken | None, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        client_id = args.get("client_id")
        client_secret = args.get("client_secret")
        user = request.getUser()
        if user:
            client_id = user.decode("utf-8")
            client_secret = request.getPassword().decode("utf-8")
        if client_id != self.client_id:
            raise _SlackError("invalid_client_id")
        if client_secret != self.client_secret:
            raise _SlackError("bad_client_secret")
        scopes = self._codes.pop(str(args.get("code")), None)
        if scopes is None:
            raise _SlackError("invalid_code")
        ws = self.workspace
        issued = ws.add_token(f"xoxb-sim-{ws.new_id('')}", scopes)
        return {
            "access_token": issued.token,
            "token_type": "bot",
            "scope": ",".join(sorted(scopes)),
            "bot_user_id": ws.bot_user_id,
            "app_id": ws.app_id,
            "team": {"id": ws.team_id, "name": ws.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": ws.new_id("U")},
        }

    def _m_files_getUploadURLExternal(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        length = int(args["length"])
        if length <= 0:
            raise _SlackError("invalid_arguments")
        file = SimFile(
            self.workspace.new_id("F"),
            str(args["filename"]),
            length,
            alt_txt=args.get("alt_txt"),
            user=token.user_id,
        )
        self.workspace.files[file.id] = file
        return {"upload_url": f"{self.base_url}/upload/v1/{file.id}", "file_id": file.id}

    def _file_json(self, file: SimFile) -> dict[str, Any]:
        team = self.workspace.team_id
        url = f"{self.base_url}/files-pri/{team}-{file.id}/{file.name}"
        return {
            "id": file.id,
            "name": file.name,
            "title": file.title or file.name,
            "mimetype": file.mimetype,
            "size": file.length,
            "user": file.user,
            "url_private": url,
            "url_private_download": url + "?download=1",
            "permalink": f"{self.base_url}/files/{file.user}/{file.id}/{file.name}",
            "channels": list(file.channels),
        }

    def _m_files_completeUploadExternal(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        raw = args.get("files")
        try:
            entries = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise _SlackError("invalid_arguments") from None
        if not isinstance(entries, list) or not entries:
            raise _SlackError("invalid_arguments")
        files: list[SimFile] = []
        for entry in entries:
            file = self.workspace.files.get(str(entry.get("id") if isinstance(entry, dict) else ""))
            if file is None or not file.uploaded:
                raise _SlackError("file_not_found")
            files.append(file)
        channel_id = args.get("channel_id")
        conversation = None
        if channel_id:
            conversation = self._conversation(channel_id)
            self._member(token, conversation)
        for file, entry in zip(files, entries):
            file.title = entry.get("title") or file.name
            file.completed = True
        if conversation is not None:
            message = SimMessage(
                ts=self._new_ts(),
                text=str(args.get("initial_comment") or ""),
                user=token.user_id,
                bot_id=token.bot_id,
                thread_ts=args.get("thread_ts"),
                files=[f.id for f in files],
            )
            conversation.messages.append(message)
            for file in files:
                file.channels.append(conversation.id)
        return {"files": [{"id": f.id, "title": f.title} for f in files]}

    def _m_files_info(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        file = self.workspace.files.get(str(args.get("file", "")))
        if file is None or not file.completed:
            raise _SlackError("file_not_found")
        return {"file": self._file_json(file)}

    def _m_views_publish(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        user = self._user(args.get("user_id"))
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise _SlackError("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _SlackError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or len(blocks) > 100:
            raise _SlackError("invalid_arguments")
        self.home_views[user.id] = view
        return {
            "view": {
                **view,
                "id": self.workspace.new_id("V"),
                "team_id": self.workspace.team_id,
                "app_id": self.workspace.app_id,
                "bot_id": token.bot_id,
            }
        }

    def file_url(self, file_id: str) -> str:
        """
        The C{url_private} of a file.
        """
        return str(self._file_json(self.workspace.files[file_id])["url_private"])

    # --- file hosts ---------------------------------------------------------

    @app.route("/upload/v1/<string:file_id>", methods=["POST"])
    def upload(self, request: IRequest, file_id: str) -> bytes:
        """
        The upload URL handed out by C{files.getUploadURLExternal}.
        """
        now = self.clock.seconds()
        credentials = request.getHeader(b"authorization") is not None
        self.uploads.append((file_id, credentials))
        if credentials:
            self.violations.append(
                Violation(now, "files.upload", ("[ERROR] credentials sent to the upload URL",))
            )
        fault = self._next_fault("upload")
        file = self.workspace.files.get(file_id)
        if file is None:
            request.setResponseCode(404)
            return b"not found"
        if fault is not None and fault.kind == "status":
            request.setResponseCode(fault.status)
            return b"error"
        content = request.content.read() if request.content is not None else b""
        if len(content) != file.length:
            self.violations.append(
                Violation(
                    now,
                    "files.upload",
                    (f"[ERROR] uploaded {len(content)} bytes, announced {file.length}",),
                )
            )
        file.content = content
        file.uploaded = True
        request.setResponseCode(200)
        return f"OK - {len(content)}".encode("ascii")

    @app.route("/files-pri/<string:team_file>/<string:name>", methods=["GET"])
    def download(self, request: IRequest, team_file: str, name: str) -> bytes:
        """
        C{url_private}: the file for a token with C{files:read}, Slack's
        login page otherwise.
        """
        header = _header(request, b"authorization") or ""
        token = self.workspace.tokens.get(header[len("Bearer ") :].strip())
        _, _, file_id = team_file.partition("-")
        file = self.workspace.files.get(file_id)
        if token is None or "files:read" not in token.scopes or file is None:
            request.setResponseCode(200)
            request.setHeader(b"content-type", b"text/html; charset=utf-8")
            return b"<html><body>Sign in to Slack</body></html>"
        request.setHeader(b"content-type", file.mimetype.encode("ascii"))
        return file.content or b""

    # --- users acting in Slack ----------------------------------------------

    def _emit(self, event: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.send_event(event)

    def _emit_message(self, conversation: Conversation, message: SimMessage) -> None:
        if self.workspace.bot_user_id not in conversation.members and message.bot_id is None:
            return
        event = message.as_json()
        event.update(
            channel=conversation.id,
            event_ts=message.ts,
            channel_type=conversation.channel_type,
            team=self.workspace.team_id,
        )
        self._emit(event)

    def user_posts(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        blocks: list[Any] | None = None,
        thread_ts: str | None = None,
    ) -> SimMessage:
        """
        C{user} posts C{text} (mrkdwn) in C{channel}, as a Slack client
        would: with a C{rich_text} block (built with the connector's
        translation unless C{blocks} are given) and a C{client_msg_id}. The
        app gets a C{message} event if it is a member.
        """
        from nextplane.connectors.slack.blocks import rich_text_block
        from nextplane.connectors.slack.mrkdwn import parse_mrkdwn

        conversation = self.workspace.conversations[channel]
        if blocks is None:
            blocks = [rich_text_block(parse_mrkdwn(text), lambda m: m.name)]
        message = SimMessage(
            ts=self._new_ts(), text=text, user=user, blocks=blocks, thread_ts=thread_ts
        )
        conversation.messages.append(message)
        self._emit_message(conversation, message)
        return message

    def user_edits(self, user: str, channel: str, ts: str, text: str) -> SimMessage:
        """
        C{user} edits their message: a C{message_changed} event.
        """
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        assert message is not None and message.user == user
        previous = message.as_json()
        message.text = text
        message.blocks = None
        message.edited_ts = self._new_ts()
        if self.workspace.bot_user_id in conversation.members:
            self._emit(
                {
                    "type": "message",
                    "subtype": "message_changed",
                    "hidden": True,
                    "channel": conversation.id,
                    "channel_type": conversation.channel_type,
                    "ts": message.edited_ts,
                    "event_ts": message.edited_ts,
                    "message": message.as_json(),
                    "previous_message": previous,
                }
            )
        return message

    def user_deletes(self, user: str, channel: str, ts: str) -> None:
        """
        C{user} deletes their message: a C{message_deleted} event.
        """
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        assert message is not None and message.user == user
        conversation.messages.remove(message)
        if self.workspace.bot_user_id in conversation.members:
            event_ts = self._new_ts()
            self._emit(
                {
                    "type": "message",
                    "subtype": "message_deleted",
                    "hidden": True,
                    "channel": conversation.id,
                    "channel_type": conversation.channel_type,
                    "ts": event_ts,
                    "event_ts": event_ts,
                    "deleted_ts": ts,
                    "previous_message": message.as_json(),
                }
            )

    def user_reacts(self, user: str, channel: str, ts: str, name: str, added: bool = True) -> None:
        """
        C{user} adds (or removes) a reaction: C{reaction_added}/C{reaction_removed}.
        """
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        assert message is not None
        users = message.reactions.setdefault(name, [])
        if added and user not in users:
            users.append(user)
        elif not added and user in users:
            users.remove(user)
        if not users:
            del message.reactions[name]
        event_ts = self._new_ts()
        self._emit(
            {
                "type": "reaction_added" if added else "reaction_removed",
                "user": user,
                "reaction": name,
                "item_user": message.user,
                "item": {"type": "message", "channel": conversation.id, "ts": ts},
                "event_ts": event_ts,
            }
        )

    def user_shares_file(
        self,
        user: str,
        channel: str,
        name: str,
        content: bytes,
        *,
        mimetype: str = "application/octet-stream",
        comment: str = "",
    ) -> SimMessage:
        """
        C{user} uploads a file into C{channel} from a Slack client: a
        C{message} event with subtype C{file_share} carrying the file
        object (C{url_private} needs a token with C{files:read}).
        """
        conversation = self.workspace.conversations[channel]
        file = SimFile(
            self.workspace.new_id("F"),
            name,
            len(content),
            content=content,
            uploaded=True,
            completed=True,
            channels=[conversation.id],
            user=user,
            mimetype=mimetype,
        )
        self.workspace.files[file.id] = file
        message = SimMessage(ts=self._new_ts(), text=comment, user=user, files=[file.id])
        conversation.messages.append(message)
        if self.workspace.bot_user_id in conversation.members:
            event = message.as_json()
            event.update(
                subtype="file_share",
                upload=False,
                files=[self._file_json(file)],
                channel=conversation.id,
                event_ts=message.ts,
                channel_type=conversation.channel_type,
                team=self.workspace.team_id,
            )
            self._emit(event)
        return message

    def user_opens_home(self, user: str) -> None:
        """
        C{user} opens the app's Home tab: an C{app_home_opened} event.
        """
        dm = self.workspace.im_with(self.workspace.bot_user_id, user)
        self._emit(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": dm.id,
                "tab": "home",
                "event_ts": self._new_ts(),
            }
        )

    def revoke_bot_tokens(self) -> None:
        """
        The app's bot tokens are revoked (C{auth.revoke}, or an admin in
        the workspace settings): they stop working and the app gets a
        C{tokens_revoked} event naming the bot user.
        """
        ws = self.workspace
        bots = sorted({t.user_id for t in ws.tokens.values() if t.bot_id and not t.revoked})
        for token in ws.tokens.values():
            if token.bot_id:
                token.revoked = True
        self._emit(
            {
                "type": "tokens_revoked",
                "tokens": {"oauth": [], "bot": bots},
                "event_ts": self._new_ts(),
            }
        )

    def uninstall_app(self) -> None:
        """
        A workspace admin removes the app: as Slack does, C{tokens_revoked}
        then C{app_uninstalled}; no token works afterwards.
        """
        self.revoke_bot_tokens()
        for token in self.workspace.tokens.values():
            token.revoked = True
        self._emit({"type": "app_uninstalled", "event_ts": self._new_ts()})

    def user_command(
        self, user: str, channel: str, text: str
    ) -> Deferred[tuple[int | None, bytes]]:
        """
        C{user} types C{/nextplane text} in C{channel}.

        @return: Fires with the hub's (status, body).
        """
        assert self.events is not None, "no EventSender attached"
        name = self.workspace.users[user].name
        return self.events.slash_command(user, channel, text, user_name=name)

    def user_clicks(
        self, user: str, channel: str, ts: str, action_id: str
    ) -> Deferred[tuple[int | None, bytes]]:
        """
        C{user} clicks the button C{action_id} of the app's message C{ts}
        in C{channel}: a C{block_actions} payload built from the message's
        blocks, as Slack sends it.

        @return: Fires with the hub's (status, body).
        @raise LookupError: If the message has no such button.
        """
        assert self.events is not None, "no EventSender attached"
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        if message is None:
            raise LookupError(f"no message {ts} in {channel}")
        for block in message.blocks or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    return self.events.interaction(
                        self._block_actions(user, block, element, conversation, message)
                    )
        raise LookupError(f"no button {action_id} on message {ts}")

    def _block_actions(
        self,
        user: str,
        block: Mapping[str, Any],
        element: Mapping[str, Any],
        conversation: Conversation,
        message: SimMessage,
    ) -> dict[str, Any]:
        ws = self.workspace
        self._ts_seq += 1
        return {
            "type": "block_actions",
            "user": {"id": user, "username": ws.users[user].name, "team_id": ws.team_id},
            "api_app_id": ws.app_id,
            "token": "sim-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": conversation.id,
                "is_ephemeral": False,
            },
            "trigger_id": f"{self._ts_seq}.{self._ts_seq}.sim",
            "team": {"id": ws.team_id, "domain": ws.domain},
            "channel": {"id": conversation.id, "name": conversation.name},
            "message": message.as_json(),
            "response_url": f"https://hooks.slack.test/actions/{ws.team_id}/{self._ts_seq}",
            "actions": [
                {
                    "action_id": element.get("action_id"),
                    "block_id": block.get("block_id", ""),
                    "text": element.get("text"),
                    "value": element.get("value"),
                    "style": element.get("style"),
                    "type": element.get("type", "button"),
                    "action_ts": f"{int(self.clock.seconds())}.{self._ts_seq:06d}",
                }
            ],
        }
