# -*- test-case-name: tests.slack.test_webhook -*-
"""
The hub's Slack endpoints: a Klein class app to mount at C{/slack/}.

  - C{POST /events} - the Events API
    (U{https://docs.slack.dev/apis/events-api/}): C{url_verification} is
    answered with the challenge; C{event_callback} is acknowledged at once
    and handed to the event callback after the response, because Slack
    retries any delivery not acknowledged within three seconds, even while
    the slow answer is still on its way. While the hub has no room for
    more (C{has_room}), an event is answered 503 without being remembered,
    so Slack delivers it again later. Deliveries are deduplicated on
    C{event_id} (retries carry the same one), and the app's own messages -
    events whose C{user} is the bot user or whose C{bot_id} is the app's
    bot, as in Bolt's C{ignoring_self_events} middleware - are dropped,
    except C{member_joined_channel}/C{member_left_channel}.
  - C{POST /commands} - the C{/nextplane} slash command
    (U{https://docs.slack.dev/interactivity/implementing-slash-commands}):
    C{invite ADDRESS}, C{remove ADDRESS}, C{block DOMAIN-OR-ADDRESS},
    C{list}, C{help}. Help and malformed commands are answered here; the
    others are parsed into a L{SlashCommand} for the command callback, whose
    L{CommandReply} is the ephemeral answer (a placeholder is sent if the
    callback takes longer than the acknowledgement budget, and the reply is
    then handed to the late-reply callback).
  - C{POST /interactivity} - button clicks
    (U{https://docs.slack.dev/interactivity/handling-user-interaction}):
    C{block_actions} payloads become an L{Interaction} whose Accept/Decline
    buttons (C{action_id} L{ACCEPT_ACTION}/L{DECLINE_ACTION}) are typed as
    contact decisions; acknowledged at once, handled after the response.

Every request's signature is verified over the raw body first
(L{nextplane.connectors.slack.signature}); a failure is a 401 with no side
effect at all. Slash commands and interactions carry no unique id, so a
verbatim replay of one within the signature window is refused as well.

One app serves many workspaces: the bot's own user and bot ids are kept
per team (L{SlackWebhook.set_identity}, from C{auth.test}), and event ids
are remembered per team.

Optional routes, served only when their handler is given (they are not
signed by Slack, so each handler checks its own credentials):

  - C{GET /install} - redirects to Slack's OAuth v2 consent page;
  - C{GET /oauth/callback} - where Slack sends the installer back with a
    C{code} (U{https://docs.slack.dev/authentication/installing-with-oauth});
  - C{GET /files/<team>/<file>/<expires>/<signature>/<name>} - a signed,
    expiring link through which external contacts fetch a file a Slack
    user shared, without ever seeing the bot token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from attrs import evolve, field, frozen
from klein import Klein
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from ...model.address import Address
from ...storage.records import WorkRecord
from ..platform.claims import acknowledged
from ..platform.commands import CommandAction, parse_command_text
from ..platform.delivery import track
from ..platform.files import pipe
from .signature import ReplayGuard, SignatureError, SignatureVerifier
from .style import help_text

__all__ = [
    "ACCEPT_ACTION",
    "DECLINE_ACTION",
    "Action",
    "CommandAction",
    "CommandReply",
    "Interaction",
    "SlackEvent",
    "SlackWebhook",
    "SlashCommand",
    "WebAnswer",
    "help_text",
    "parse_command_text",
]

log = Logger()

#: The C{action_id} of the Accept button of a contact request.
ACCEPT_ACTION = "nextplane_accept"
#: The C{action_id} of the Decline button.
DECLINE_ACTION = "nextplane_decline"

_MEMBERSHIP_EVENTS = frozenset({"member_joined_channel", "member_left_channel"})


@frozen
class SlackEvent:
    """
    One verified, new C{event_callback} delivery.

    @ivar event: The inner event, as Slack sent it.
    @ivar retry_num: C{X-Slack-Retry-Num} of the delivery that got through.
    @ivar work: Its durable work record (L{nextplane.work}), when claimed.
    """

    event_id: str
    team_id: str
    api_app_id: str
    event_time: int
    event: Mapping[str, Any]
    retry_num: int = 0
    retry_reason: str | None = None
    work: WorkRecord | None = None

    @property
    def type(self) -> str:
        """
        The inner event's C{type} (and C{subtype}, as C{message.message_changed}).
        """
        kind = str(self.event.get("type", ""))
        subtype = self.event.get("subtype")
        return f"{kind}.{subtype}" if subtype else kind


@frozen
class SlashCommand:
    """
    A parsed, verified C{/nextplane} command.

    @ivar address: The contact, for C{invite}, C{remove} (and C{block} of
        one address).
    @ivar domain: The domain, for C{block} of a whole domain.
    """

    action: CommandAction
    team_id: str
    user_id: str
    user_name: str
    channel_id: str
    command: str
    text: str
    response_url: str
    trigger_id: str
    address: Address | None = None
    domain: str | None = None


@frozen
class CommandReply:
    """
    The answer shown to the user who typed the command.

    @ivar response_type: C{"ephemeral"} (only them) or C{"in_channel"}.
    """

    text: str
    response_type: str = "ephemeral"

    def as_json(self) -> bytes:
        """
        The response body.
        """
        return json.dumps({"response_type": self.response_type, "text": self.text}).encode()


@frozen
class Action:
    """
    One button (or other element) the user used.

    @ivar accept: C{True} for Accept, C{False} for Decline, C{None} for any
        other action.
    """

    action_id: str
    value: str | None
    block_id: str | None = None
    accept: bool | None = None


@frozen
class Interaction:
    """
    A verified interactivity payload.

    @ivar kind: The payload C{type} (C{block_actions}, C{view_submission}, ...).
    @ivar payload: The whole payload, for what the typed fields leave out.
    """

    kind: str
    team_id: str
    user_id: str
    actions: tuple[Action, ...]
    response_url: str | None
    trigger_id: str | None
    channel_id: str | None
    message_ts: str | None
    payload: Mapping[str, Any]


@frozen
class WebAnswer:
    """
    A plain HTTP answer from an optional route's handler.

    @ivar stream: A response whose body is streamed as the answer's body
        (a file through the hub), instead of C{body}.
    """

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(factory=dict)
    stream: Any = None


def _form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


EventCallback = Callable[[SlackEvent], Any]
#: Makes an event's work record durable: fires with it, or C{None} for a
#: duplicate.
ClaimCallback = Callable[[SlackEvent], "Deferred[WorkRecord | None]"]
CommandCallback = Callable[[SlashCommand], "CommandReply | Deferred[CommandReply] | None"]
InteractionCallback = Callable[[Interaction], Any]
#: Gives the URL of Slack's consent page to redirect an installer to.
InstallCallback = Callable[[], str]
#: Handles the OAuth redirect: (code, state, error) -> page.
OAuthCallback = Callable[[str | None, str | None, str | None], "WebAnswer | Deferred[WebAnswer]"]
#: Shows a command's reply that missed the acknowledgement budget.
LateReplyCallback = Callable[[SlashCommand, CommandReply], Any]
#: Serves a signed file link: (team, file, expires, signature) -> file.
FileCallback = Callable[[str, str, str, str], "WebAnswer | Deferred[WebAnswer]"]


class SlackWebhook:
    """
    The Slack endpoints; see the module docstring.

    @ivar in_flight: Callbacks still running.
    """

    app = Klein()

    def __init__(
        self,
        verifier: SignatureVerifier,
        clock: IReactorTime,
        on_event: EventCallback,
        on_command: CommandCallback,
        on_interaction: InteractionCallback,
        *,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        dedupe_window: float = 3600.0,
        max_remembered: int = 100_000,
        ack_budget: float = 2.5,
        on_install: InstallCallback | None = None,
        on_oauth: OAuthCallback | None = None,
        on_file: FileCallback | None = None,
        on_late_reply: LateReplyCallback | None = None,
        claim: ClaimCallback | None = None,
        has_room: Callable[[], bool] = lambda: True,
    ) -> None:
        """
        @param verifier: Checks signatures with the app's signing secret.
        @param clock: For scheduling after the response and for windows.
        @param bot_user_id: The app's bot user (from C{auth.test}).
        @param bot_id: The app's bot id (from C{auth.test}).
        @param dedupe_window: How long C{event_id}s are remembered; Slack's
            last retry comes about five minutes after the first attempt.
        @param ack_budget: How long a command callback may take before a
            placeholder answer is sent.
        @param on_install: Serves C{GET /install} when given.
        @param on_oauth: Serves C{GET /oauth/callback} when given.
        @param on_file: Serves C{GET /files/...} when given.
        @param on_late_reply: Given a command's reply that came after the
            placeholder was sent (to show it some other way).
        @param claim: Makes an event's work record durable (firing with it,
            or with C{None} for an event seen before, even by an earlier
            process). When given, an event is acknowledged once its record
            is durable (or after C{ack_budget}, carrying on), and dedupe is
            the store's; without it, dedupe is in memory.
        @param has_room: Whether the hub can take another event now; when
            not, events are answered 503 and Slack retries them later.
        """
        self._verifier = verifier
        self._clock = clock
        self._on_event = on_event
        self._on_command = on_command
        self._on_interaction = on_interaction
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self._identities: dict[str, tuple[str | None, str | None]] = {}
        self._on_install = on_install
        self._on_oauth = on_oauth
        self._on_file = on_file
        self._on_late_reply = on_late_reply
        self._claim = claim
        self._events_seen = ReplayGuard(clock, dedupe_window, max_remembered)
        self._signatures_seen = ReplayGuard(clock, max_entries=max_remembered)
        self._ack_budget = ack_budget
        self._has_room = has_room
        self.refused_busy = 0
        self.in_flight: set[Deferred[Any]] = set()

    def set_identity(self, team_id: str, bot_user_id: str | None, bot_id: str | None) -> None:
        """
        The app's bot user and bot ids in workspace C{team_id}, whose own
        events are then dropped.
        """
        self._identities[team_id] = (bot_user_id, bot_id)

    def resource(self) -> IResource:
        """
        The resource to mount, e.g. C{web_app.mount("slack", hook.resource())}.
        """
        return self.app.resource()  # type: ignore[no-any-return]

    # --- helpers ------------------------------------------------------------

    def _verified_body(self, request: IRequest, once: bool) -> bytes | None:
        body = request.content.read() if request.content is not None else b""
        headers = {
            name: values[0] for name, values in request.requestHeaders.getAllRawHeaders() if values
        }
        try:
            verified = self._verifier.verify_headers(body, headers)
            if once:
                self._signatures_seen.check(verified.signature)
        except SignatureError as e:
            log.warn("refused a Slack request: {reason}", reason=e.reason.value)
            request.setResponseCode(401)
            return None
        return body

    def _later(self, name: str, callback: Callable[[Any], Any], argument: Any) -> None:
        def run() -> None:
            track(self.in_flight, maybeDeferred(callback, argument), f"Slack {name} handler")

        self._clock.callLater(0, run)

    def _from_self(self, event: Mapping[str, Any], team_id: str = "") -> bool:
        if event.get("type") in _MEMBERSHIP_EVENTS:
            return False
        candidates = [event]
        inner = event.get("message")
        if isinstance(inner, Mapping):
            candidates.append(inner)
        identities = [(self.bot_user_id, self.bot_id)]
        if team_id in self._identities:
            identities.append(self._identities[team_id])
        for candidate in candidates:
            for bot_user_id, bot_id in identities:
                if bot_user_id and candidate.get("user") == bot_user_id:
                    return True
                if bot_id and candidate.get("bot_id") == bot_id:
                    return True
        return False

    # --- routes -------------------------------------------------------------

    @app.route("/events", methods=["POST"])
    def events(self, request: IRequest) -> bytes | Deferred[bytes]:
        """
        Events API deliveries.
        """
        body = self._verified_body(request, once=False)
        if body is None:
            return b""
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            request.setResponseCode(400)
            return b""
        kind = envelope.get("type")
        if kind == "url_verification":
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"challenge": str(envelope.get("challenge", ""))}).encode()
        if kind == "app_rate_limited":
            log.warn(
                "Slack stopped sending events for a minute: over 30,000 an hour (team {team})",
                team=envelope.get("team_id"),
            )
            return b""
        if kind != "event_callback":
            return b""
        event = envelope.get("event")
        event_id = envelope.get("event_id")
        if not isinstance(event, dict) or not isinstance(event_id, str) or not event_id:
            request.setResponseCode(400)
            return b""
        if not self._has_room():
            # Not remembered: Slack's retry of it must get through.
            self.refused_busy += 1
            request.setResponseCode(503)
            return b""
        team_id = str(envelope.get("team_id", ""))
        # Event ids are Slack's, but remembered per team: one app, many
        # workspaces, and nothing lost if two workspaces ever shared one.
        if self._claim is None and self._events_seen.seen(f"{team_id}:{event_id}"):
            return b""
        if self._from_self(event, team_id):
            return b""
        retry = request.getHeader(b"x-slack-retry-num")
        retry_num = int(retry) if retry is not None and retry.isdigit() else 0
        reason = request.getHeader(b"x-slack-retry-reason")
        event_time = envelope.get("event_time")
        slack_event = SlackEvent(
            event_id=event_id,
            team_id=team_id,
            api_app_id=str(envelope.get("api_app_id", "")),
            event_time=event_time if isinstance(event_time, int) else 0,
            event=event,
            retry_num=retry_num,
            retry_reason=reason.decode("latin-1") if reason else None,
        )
        if self._claim is None:
            self._later("event", self._on_event, slack_event)
            return b""
        return self._claimed_then_acknowledged(request, slack_event)

    def _claimed_then_acknowledged(
        self, request: IRequest, slack_event: SlackEvent
    ) -> Deferred[bytes]:
        # Acknowledged once the record is durable, so an event Slack stops
        # retrying is never lost; past the budget, acknowledged anyway (a
        # slow store must not make Slack retry what is being handled).
        assert self._claim is not None

        def take(record: WorkRecord) -> None:
            self._later("event", self._on_event, evolve(slack_event, work=record))

        def answer(durable: bool) -> bytes:
            if not durable:
                request.setResponseCode(503)  # not durable: let Slack retry
            return b""

        claimed = maybeDeferred(self._claim, slack_event)
        acking = acknowledged(claimed, self._clock, self._ack_budget, take, "a Slack event")
        return acking.addCallback(answer)

    @app.route("/commands", methods=["POST"])
    def commands(self, request: IRequest) -> bytes | Deferred[bytes]:
        """
        The C{/nextplane} slash command.
        """
        body = self._verified_body(request, once=True)
        if body is None:
            return b""
        form = _form(body)
        if form.get("ssl_check") == "1":
            return b""
        request.setHeader(b"content-type", b"application/json")
        command = form.get("command", "/nextplane")
        action, address, domain, problem = parse_command_text(form.get("text", ""))
        if action is CommandAction.HELP:
            text = help_text(command)
            if problem:
                text = f"Sorry, {problem}.\n{text}"
            return CommandReply(text).as_json()
        parsed = SlashCommand(
            action=action,
            team_id=form.get("team_id", ""),
            user_id=form.get("user_id", ""),
            user_name=form.get("user_name", ""),
            channel_id=form.get("channel_id", ""),
            command=command,
            text=form.get("text", ""),
            response_url=form.get("response_url", ""),
            trigger_id=form.get("trigger_id", ""),
            address=address,
            domain=domain,
        )
        return self._reply_within_budget(parsed)

    def _reply_within_budget(self, parsed: SlashCommand) -> bytes | Deferred[bytes]:
        outcome = maybeDeferred(self._on_command, parsed)
        answer: Deferred[bytes] = Deferred()
        placeholder = CommandReply("Working on it…")

        def finish(result: Any) -> None:
            if timer.active():
                timer.cancel()
            reply: CommandReply | None
            if isinstance(result, Failure):
                log.failure("Slack command handler failed", result)
                reply = CommandReply("Sorry, that did not work; please try again later.")
            else:
                reply = result if isinstance(result, CommandReply) else None
            if not answer.called:
                answer.callback(reply.as_json() if reply is not None else b"")
            elif reply is not None and self._on_late_reply is not None:
                late = self._on_late_reply
                self._later("late reply", lambda r: late(parsed, r), reply)

        def expire() -> None:
            if not answer.called:
                self.in_flight.add(outcome)
                outcome.addBoth(lambda result: self.in_flight.discard(outcome))
                answer.callback(placeholder.as_json())

        timer = self._clock.callLater(self._ack_budget, expire)
        outcome.addBoth(finish)
        return answer

    @app.route("/interactivity", methods=["POST"])
    def interactivity(self, request: IRequest) -> bytes:
        """
        Button clicks and other interactions.
        """
        body = self._verified_body(request, once=True)
        if body is None:
            return b""
        try:
            payload = json.loads(_form(body).get("payload", ""))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            request.setResponseCode(400)
            return b""
        actions: list[Action] = []
        raw_actions = payload.get("actions")
        if isinstance(raw_actions, list):
            for raw in raw_actions:
                if not isinstance(raw, Mapping) or not isinstance(raw.get("action_id"), str):
                    continue
                action_id = raw["action_id"]
                accept = {ACCEPT_ACTION: True, DECLINE_ACTION: False}.get(action_id)
                actions.append(
                    Action(action_id, _text(raw.get("value")), _text(raw.get("block_id")), accept)
                )
        interaction = Interaction(
            kind=str(payload.get("type", "")),
            team_id=str(_dig(payload, "team", "id") or _dig(payload, "user", "team_id") or ""),
            user_id=str(_dig(payload, "user", "id") or ""),
            actions=tuple(actions),
            response_url=_text(payload.get("response_url")),
            trigger_id=_text(payload.get("trigger_id")),
            channel_id=_text(_dig(payload, "channel", "id")),
            message_ts=_text(_dig(payload, "message", "ts"))
            or _text(_dig(payload, "container", "message_ts")),
            payload=payload,
        )
        self._later("interaction", self._on_interaction, interaction)
        return b""

    # --- optional routes ----------------------------------------------------

    def _answer(self, request: IRequest, result: Any) -> bytes:
        if isinstance(result, Failure):
            log.failure("Slack {path} handler failed", result, path=request.path)
            result = WebAnswer(500, b"internal error\n")
        request.setResponseCode(result.status)
        request.setHeader(b"content-type", result.content_type.encode("latin-1"))
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        for name, value in result.headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        return bytes(result.body)

    @app.route("/install", methods=["GET"])
    def install(self, request: IRequest) -> bytes:
        """
        Send the installer to Slack's consent page.
        """
        if self._on_install is None:
            request.setResponseCode(404)
            return b"not found\n"
        request.setHeader(b"cache-control", b"no-store")
        request.redirect(self._on_install().encode("utf-8"))
        return b""

    @app.route("/oauth/callback", methods=["GET"])
    def oauth_callback(self, request: IRequest) -> bytes | Deferred[bytes]:
        """
        Slack's OAuth redirect, with C{code} and C{state} (or C{error}).
        """
        if self._on_oauth is None:
            request.setResponseCode(404)
            return b"not found\n"
        args = request.args or {}

        def first(name: bytes) -> str | None:
            values = args.get(name)
            return values[0].decode("utf-8", "replace") if values else None

        d = maybeDeferred(self._on_oauth, first(b"code"), first(b"state"), first(b"error"))
        return d.addBoth(lambda result: self._answer(request, result))

    @app.route(
        "/files/<string:team>/<string:file_id>/<string:expires>/<string:signature>/<string:name>",
        methods=["GET"],
    )
    def files(
        self, request: IRequest, team: str, file_id: str, expires: str, signature: str, name: str
    ) -> bytes | Deferred[bytes]:
        """
        A signed file link.
        """
        if self._on_file is None:
            request.setResponseCode(404)
            return b"not found\n"
        d = maybeDeferred(self._on_file, team, file_id, expires, signature)
        return d.addBoth(lambda result: self._stream(request, result))

    def _stream(self, request: IRequest, result: Any) -> bytes | Deferred[bytes]:
        if not isinstance(result, WebAnswer) or result.stream is None:
            return self._answer(request, result)
        self._answer(request, result)

        def cut(failure: Failure) -> bytes:
            # The headers are out: only a cut connection says it failed.
            log.info("a Slack file stopped streaming: {error}", error=failure.value)
            request.loseConnection()  # type: ignore[attr-defined]
            return b""

        return pipe(result.stream, request).addCallbacks(lambda _: b"", cut)
