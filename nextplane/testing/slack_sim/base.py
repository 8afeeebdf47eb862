# -*- test-case-name: tests.slack.test_simulator -*-
"""
The Slack simulator's state and the helpers its parts share.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.web.resource import IResource
from twisted.web.server import Site

from .events import EventSender
from .records import (
    CAPACITY,
    REAL_LIMITS,
    CallRecord,
    Fault,
    RateLimitRecord,
    SlackApiError,
    Violation,
)
from .spec import WebApiSpec, load_spec
from .state import Conversation, SimFile, SimMessage, SimToken, Workspace

__all__ = ["SIM_APP", "SimulatorBase"]

#: The routes of every L{SimulatorBase}: the parts register on it.
SIM_APP = Klein()


class SimulatorBase:
    """
    What every part of L{nextplane.testing.slack_sim.SlackSimulator}
    shares: configuration, state and lookups.
    """

    app = SIM_APP

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

    # --- shared by the parts -----------------------------------------------

    def _next_fault(self, method: str) -> Fault | None:
        if self._outage is not None and method != "upload":
            until, faults = self._outage
            if self.clock.seconds() < until:
                return next(faults)
        queue = self._faults.get(method)
        return queue.popleft() if queue else None

    def _new_ts(self) -> str:
        self._ts_seq += 1
        return f"{int(self.clock.seconds())}.{self._ts_seq:06d}"

    def _conversation(self, channel: Any) -> Conversation:
        ident = str(channel or "")
        conversation = self.workspace.conversations.get(ident)
        if conversation is None and ident:
            conversation = self.workspace.channel_named(ident.lstrip("#"))
        if conversation is None:
            raise SlackApiError("channel_not_found")
        return conversation

    def _member(self, token: SimToken, conversation: Conversation) -> None:
        if token.user_id not in conversation.members:
            if conversation.is_private or conversation.is_im or conversation.is_mpim:
                raise SlackApiError("channel_not_found")
            if "chat:write.public" not in token.scopes:
                raise SlackApiError("not_in_channel")

    def _own(self, token: SimToken, message: SimMessage) -> None:
        if message.user != token.user_id and (
            message.bot_id is None or message.bot_id != token.bot_id
        ):
            raise SlackApiError("cant_update_message")

    def _user(self, ident: Any) -> Any:
        user = self.workspace.users.get(str(ident or ""))
        if user is None:
            raise SlackApiError("user_not_found")
        return user

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

    def file_url(self, file_id: str) -> str:
        """
        The C{url_private} of a file.
        """
        return str(self._file_json(self.workspace.files[file_id])["url_private"])

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
