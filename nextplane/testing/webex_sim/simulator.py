# -*- test-case-name: tests.webex.test_simulator -*-
"""
A local Webex: the Messaging REST API below C{/v1}, checked against the
published spec, over a simulated L{WebexState}, with signed webhook
deliveries to the hub.

Use it in memory through L{treq.testing.StubTreq} (C{StubTreq(sim.resource())})
with C{base_url} pointing at C{http://webex.test/v1}, or on a real port.

  - Every request is checked by L{MessagingSpec}; violations are recorded
    in L{WebexSimulator.violations} (tests assert there are none) and
    answered 400.
  - Tokens come from C{Authorization: Bearer}; an unknown or missing one
    is answered 401.
  - In L{REAL_LIMITS} mode each token may make L{WebexSimulator.per_minute}
    requests per sliding minute; more are answered 429 with
    C{Retry-After}. Webex publishes no numbers: the default of 300 is an
    assumption, chosen to be met by bursts. L{CAPACITY} mode has no limits.
  - L{WebexSimulator.inject} queues answers (a status, with or without
    C{Retry-After}) for the next calls of an operation.
  - Message file URLs (C{/v1/contents/<id>}, which the spec does not
    describe) serve the file to members of a space it was posted in.
  - Changes fire webhooks through a L{WebhookSender}, as
    L{nextplane.testing.webex_sim.world} describes; people act through
    C{sim.world.user_posts} and friends.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

from attrs import frozen
from klein import Klein
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from ..listen import listen_http
from .deliveries import WebhookSender
from .spec import MessagingSpec, load_spec
from .state import SimPerson, SimWebhook, WebexState
from .world import Refused, WebexWorld

__all__ = ["CAPACITY", "REAL_LIMITS", "CallRecord", "Fault", "WebexSimulator"]

#: Rate limits enforced.
REAL_LIMITS = "real"
#: No rate limits (capacity measurements).
CAPACITY = "capacity"

Handler = Callable[[SimPerson, Mapping[str, str], Mapping[str, str], Any], tuple[int, Any]]


@frozen
class Fault:
    """
    An answer to give instead of acting: C{status}, and C{Retry-After} if set.
    """

    status: int
    retry_after: str | None = None


@frozen
class CallRecord:
    """
    One request: operation name (or path), verb, status.
    """

    time: float
    operation: str
    verb: str
    status: int


class WebexSimulator:
    """
    The simulator; see the module docstring.

    @ivar world: State and behaviour; C{world.state} for set-up and checks,
        C{world.user_posts} and friends for people acting.
    @ivar calls: Every request, in order.
    @ivar violations: Spec violations, as text.
    """

    app = Klein()

    def __init__(
        self,
        clock: IReactorTime,
        state: WebexState | None = None,
        *,
        mode: str = REAL_LIMITS,
        sender: WebhookSender | None = None,
        spec: MessagingSpec | None = None,
        per_minute: int = 300,
        bots_hear_all: bool = False,
        base_url: str = "http://webex.test/v1",
    ) -> None:
        """
        @param clock: The time (rate limits, timestamps, webhook failures).
        @param mode: L{REAL_LIMITS} or L{CAPACITY}.
        @param sender: Delivers webhooks; none are sent when C{None}.
        @param per_minute: Requests per token per minute in L{REAL_LIMITS}.
        @param bots_hear_all: Deliver all group messages to bots.
        @param base_url: How clients reach this simulator (file URLs).
        """
        if mode not in (REAL_LIMITS, CAPACITY):
            raise ValueError(f"unknown mode {mode!r}")
        self.clock = clock
        self.world = WebexWorld(clock, state, sender, bots_hear_all, base_url)
        self.state = self.world.state
        self.mode = mode
        self.spec = spec if spec is not None else load_spec()
        self.per_minute = per_minute
        self.calls: list[CallRecord] = []
        self.violations: list[str] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._windows: dict[str, deque[float]] = {}
        self._handlers: dict[tuple[str, str], Handler] = {
            ("GET", "/people/me"): self._get_me,
            ("GET", "/people/{personId}"): self._get_person,
            ("POST", "/rooms"): self._create_room,
            ("GET", "/rooms/{roomId}"): self._get_room,
            ("POST", "/memberships"): self._create_membership,
            ("GET", "/memberships"): self._list_memberships,
            ("POST", "/messages"): self._create_message,
            ("GET", "/messages"): self._list_messages,
            ("GET", "/messages/direct"): self._list_direct,
            ("GET", "/messages/{messageId}"): self._get_message,
            ("PUT", "/messages/{messageId}"): self._edit_message,
            ("DELETE", "/messages/{messageId}"): self._delete_message,
            ("GET", "/attachment/actions/{id}"): self._get_action,
            ("GET", "/webhooks"): self._list_webhooks,
            ("POST", "/webhooks"): self._create_webhook,
            ("GET", "/webhooks/{webhookId}"): self._get_webhook,
            ("PUT", "/webhooks/{webhookId}"): self._update_webhook,
            ("DELETE", "/webhooks/{webhookId}"): self._delete_webhook,
        }

    def resource(self) -> IResource:
        """
        The Klein resource serving C{/v1/...}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    def listen(
        self, reactor: IReactorTCP, port: int = 0, interface: str = "127.0.0.1"
    ) -> IListeningPort:
        """
        Serve on a real port (loopback by default), for benchmarks; file
        URLs then point at it.

        @return: The listening port; stop it with C{stopListening()}.
        """
        listening, base = listen_http(reactor, self.resource(), port, interface)
        self.world.base_url = base + "/v1"
        return listening

    def inject(self, operation: str, *faults: Fault) -> None:
        """
        Answer the next calls of C{operation} (its spec name, e.g. C{"Create
        a Message"}) with C{faults}, one per call.
        """
        self._faults.setdefault(operation, deque()).extend(faults)

    # --- HTTP ---------------------------------------------------------------

    @app.route("/v1/", branch=True, methods=["GET", "POST", "PUT", "DELETE"])
    def api(self, request: IRequest) -> bytes:
        """
        Check, authenticate, rate-limit and answer one request.
        """
        verb = request.method.decode("ascii")
        raw_path = request.path.decode("ascii", "replace")[len("/v1") :]
        query = parse_qsl(request.uri.decode("ascii", "replace").partition("?")[2])
        content = request.content.read() if request.content is not None else b""
        if verb == "GET" and raw_path.startswith("/contents/"):
            return self._download(request, unquote(raw_path[len("/contents/") :]))
        operation, problems = self.spec.match(verb, raw_path)
        name = operation.name if operation is not None else raw_path
        body: Any = None
        if content:
            try:
                body = json.loads(content)
            except ValueError:
                problems.append(f"{name}: body is not JSON")
        if operation is not None and not problems:
            problems = self.spec.check(operation, query, body, bool(content))
        try:
            person = self._authenticate(request)
            if problems:
                self.violations.extend(problems)
                raise Refused(400, "; ".join(problems))
            assert operation is not None
            self._rate_limit(request, person)
            fault = self._faults.get(name)
            if fault:
                injected = fault.popleft()
                if injected.retry_after is not None:
                    request.setHeader(b"Retry-After", injected.retry_after.encode("ascii"))
                raise Refused(injected.status, "injected fault")
            handler = self._handlers.get((verb, operation.template))
            if handler is None:
                raise Refused(501, f"{name} is not simulated")
            found = operation.pattern.match(raw_path)
            params = {k: unquote(v) for k, v in (found.groupdict() if found else {}).items()}
            status, answer = handler(person, params, dict(query), body)
        except Refused as refused:
            status = refused.status
            answer = {"message": refused.message, "trackingId": f"SIM_{len(self.calls)}"}
        self.calls.append(CallRecord(self.clock.seconds(), name, verb, status))
        request.setResponseCode(status)
        if answer is None:
            return b""
        request.setHeader(b"Content-Type", b"application/json;charset=UTF-8")
        return json.dumps(answer).encode("utf-8")

    def _download(self, request: IRequest, file_id: str) -> bytes:
        # Not in the spec: message file URLs, readable with a member's token.
        try:
            shared = self.world.file_for(self._authenticate(request), file_id)
        except Refused as refused:
            self.calls.append(CallRecord(self.clock.seconds(), "contents", "GET", refused.status))
            request.setResponseCode(refused.status)
            return b""
        self.calls.append(CallRecord(self.clock.seconds(), "contents", "GET", 200))
        request.setHeader(b"Content-Type", shared.content_type.encode("ascii"))
        disposition = f'attachment; filename="{shared.name}"'
        request.setHeader(b"Content-Disposition", disposition.encode("utf-8"))
        return shared.data

    def _authenticate(self, request: IRequest) -> SimPerson:
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        person = self.state.by_token(token) if scheme.lower() == "bearer" and token else None
        if person is None:
            raise Refused(401, "The request requires a valid access token set in the header.")
        return person

    def _rate_limit(self, request: IRequest, person: SimPerson) -> None:
        if self.mode == CAPACITY:
            return
        now = self.clock.seconds()
        window = self._windows.setdefault(person.id, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            wait = max(1, math.ceil(window[0] + 60 - now))
            request.setHeader(b"Retry-After", str(wait).encode("ascii"))
            raise Refused(429, "Too Many Requests")
        window.append(now)

    def _hook(self, person: SimPerson, webhook_id: str) -> Any:
        hook = self.state.webhooks.get(webhook_id)
        if hook is None or hook.owner_id != person.id:
            raise Refused(404, "Webhook not found.")
        return hook

    # --- handlers -------------------------------------------------------------

    def _get_me(self, person: SimPerson, *_: Any) -> tuple[int, Any]:
        return 200, person.json()

    def _get_person(self, person: SimPerson, params: Mapping[str, str], *_: Any) -> tuple[int, Any]:
        found = self.state.people.get(params["personId"])
        if found is None:
            raise Refused(404, "Person not found.")
        return 200, found.json()

    def _create_room(self, person: SimPerson, _p: Any, _q: Any, body: Any) -> tuple[int, Any]:
        room = self.world.create_room(person, body["title"])
        return 200, room.json()

    def _get_room(self, person: SimPerson, params: Mapping[str, str], *_: Any) -> tuple[int, Any]:
        return 200, self.world.room(person, params["roomId"]).json()

    def _create_membership(self, person: SimPerson, _p: Any, _q: Any, body: Any) -> tuple[int, Any]:
        room = self.world.room(person, body.get("roomId"))
        if body.get("personId"):
            member = self.state.people.get(body["personId"])
        else:
            member = self.state.by_email(str(body.get("personEmail", "")))
        if member is None:
            raise Refused(404, "Person not found.")
        if self.state.membership(room.id, member.id) is not None:
            raise Refused(409, "Person is already in the room.")
        return 200, self.world.membership_json(self.world.join(room, member, actor=person))

    def _list_memberships(
        self, person: SimPerson, _p: Any, query: Mapping[str, str], _b: Any
    ) -> tuple[int, Any]:
        room = self.world.room(person, query.get("roomId"))
        items = self.state.room_memberships(room.id)
        return 200, {"items": [self.world.membership_json(m) for m in items]}

    def _create_message(self, person: SimPerson, _p: Any, _q: Any, body: Any) -> tuple[int, Any]:
        if body.get("roomId"):
            room = self.world.room(person, body["roomId"])
        else:
            room = self.world.direct_room(person, body.get("toPersonId"), body.get("toPersonEmail"))
        parent = body.get("parentId")
        if parent is not None and self.world.message(person, parent).room_id != room.id:
            raise Refused(400, "Parent message is in another room.")
        message = self.world.post(
            person,
            room,
            text=body.get("text"),
            markdown=body.get("markdown"),
            files=list(body.get("files", [])),
            attachments=list(body.get("attachments", [])),
            parent_id=parent,
        )
        return 200, self.world.message_json(message)

    def _list_messages(
        self, person: SimPerson, _p: Any, query: Mapping[str, str], _b: Any
    ) -> tuple[int, Any]:
        room = self.world.room(person, query.get("roomId"))
        items = list(reversed(self.state.room_messages(room.id)))[: int(query.get("max", 50))]
        return 200, {"items": [self.world.message_json(m) for m in items]}

    def _list_direct(
        self, person: SimPerson, _p: Any, query: Mapping[str, str], _b: Any
    ) -> tuple[int, Any]:
        # The caller's 1:1 space with personId, newest first.
        other = query.get("personId")
        shared = self.state.rooms_of(person.id) & self.state.rooms_of(other or "")
        rooms = [r for r in shared if self.state.rooms[r].type == "direct"]
        if not rooms:
            return 200, {"items": []}
        items = reversed(self.state.room_messages(rooms[0]))
        return 200, {"items": [self.world.message_json(m) for m in items]}

    def _get_message(
        self, person: SimPerson, params: Mapping[str, str], *_: Any
    ) -> tuple[int, Any]:
        return 200, self.world.message_json(self.world.message(person, params["messageId"]))

    def _edit_message(
        self, person: SimPerson, params: Mapping[str, str], _q: Any, body: Any
    ) -> tuple[int, Any]:
        message = self.world.message(person, params["messageId"])
        if message.person_id != person.id or body["roomId"] != message.room_id:
            raise Refused(403, "You can only edit your own messages.")
        message.text = body.get("text")
        message.markdown = body.get("markdown")
        message.updated = self.world.now()
        return 200, self.world.message_json(message)

    def _delete_message(
        self, person: SimPerson, params: Mapping[str, str], *_: Any
    ) -> tuple[int, Any]:
        message = self.world.message(person, params["messageId"])
        if message.person_id != person.id:
            raise Refused(403, "You can only delete your own messages.")
        self.world.remove(message, person)
        return 204, None

    def _get_action(self, person: SimPerson, params: Mapping[str, str], *_: Any) -> tuple[int, Any]:
        action = self.state.actions.get(params["id"])
        if action is None or self.state.membership(action.room_id, person.id) is None:
            raise Refused(404, "Attachment action not found.")
        return 200, {
            "id": action.id,
            "type": "submit",
            "messageId": action.message_id,
            "inputs": action.inputs,
            "personId": action.person_id,
            "roomId": action.room_id,
            "created": action.created,
        }

    def _list_webhooks(self, person: SimPerson, *_: Any) -> tuple[int, Any]:
        hooks = [h for h in self.state.webhooks.values() if h.owner_id == person.id]
        return 200, {"items": [h.json() for h in hooks]}

    def _create_webhook(self, person: SimPerson, _p: Any, _q: Any, body: Any) -> tuple[int, Any]:
        hook = SimWebhook(
            self.state.new_id("WEBHOOK"),
            person.id,
            body["name"],
            body["targetUrl"],
            body["resource"],
            body["event"],
            self.world.now(),
            filter=body.get("filter"),
            secret=body.get("secret"),
        )
        self.state.webhooks[hook.id] = hook
        return 200, hook.json()

    def _get_webhook(
        self, person: SimPerson, params: Mapping[str, str], *_: Any
    ) -> tuple[int, Any]:
        return 200, self._hook(person, params["webhookId"]).json()

    def _update_webhook(
        self, person: SimPerson, params: Mapping[str, str], _q: Any, body: Any
    ) -> tuple[int, Any]:
        hook = self._hook(person, params["webhookId"])
        hook.name = body["name"]
        hook.target_url = body["targetUrl"]
        if "secret" in body:
            hook.secret = body["secret"]
        if body.get("status") == "active":
            hook.status = "active"
        return 200, hook.json()

    def _delete_webhook(
        self, person: SimPerson, params: Mapping[str, str], *_: Any
    ) -> tuple[int, Any]:
        del self.state.webhooks[self._hook(person, params["webhookId"]).id]
        return 204, None
