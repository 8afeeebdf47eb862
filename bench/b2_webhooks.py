"""
Signed Slack Events API deliveries for B2, as Slack sends them, from a
lean HTTP/1.1 client.

L{MessageEvents} builds the C{event_callback} envelope of a C{message}
event in a contact's private conversation (the fields Slack sends: the
user's C{rich_text} block, C{client_msg_id}, C{channel_type: group},
C{authorizations}) as compact JSON, and signs it the way Slack does
(C{X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:<ts>:<body>")},
U{https://docs.slack.dev/authentication/verifying-requests-from-slack/}).
A retry is the same body (same C{event_id}) signed afresh with
C{X-Slack-Retry-Num} and C{X-Slack-Retry-Reason}.

L{WebhookPool} POSTs them over keep-alive connections, one request in
flight per connection (Slack does not pipeline), opening connections up
to a cap when requests are waiting; a request queued for a connection
keeps its scheduled time, so queueing shows up in the ack latency
(open loop, no coordinated omission). treq/Agent would cost the load core
several times more per request than this client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure

from bench.common import now_ns

__all__ = ["MessageEvents", "WebhookPool"]


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """
    Slack's request signature of C{body} sent at C{timestamp}.
    """
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


class MessageEvents:
    """
    Envelopes and signed requests for one workspace's message events.
    """

    def __init__(
        self,
        *,
        team_id: str,
        app_id: str,
        bot_user_id: str,
        secret: str,
        host: str,
        path: str = "/slack/events",
    ) -> None:
        self._team = team_id
        self._app = app_id
        self._bot = bot_user_id
        self._secret = secret.encode()
        self._head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"

    def body(self, sequence: int, channel: str, user: str, text: str) -> bytes:
        """
        The compact JSON envelope of message C{sequence} by C{user} in
        C{channel}; C{event_id} and C{ts} derive from C{sequence}.
        """
        ts = f"{1_700_000_000 + sequence // 1_000_000}.{sequence % 1_000_000:06d}"
        event = {
            "client_msg_id": f"00000000-0000-4000-8000-{sequence:012d}",
            "type": "message",
            "text": text,
            "user": user,
            "ts": ts,
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": f"b{sequence % 100000}",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
            "team": self._team,
            "channel": channel,
            "event_ts": ts,
            "channel_type": "group",
        }
        envelope = {
            "token": "bench-verification-token",
            "team_id": self._team,
            "context_team_id": self._team,
            "context_enterprise_id": None,
            "api_app_id": self._app,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{sequence:012d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self._team,
                    "user_id": self._bot,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-bench-{sequence}",
        }
        return json.dumps(envelope, separators=(",", ":")).encode()

    def request(self, body: bytes, retry_num: int = 0) -> bytes:
        """
        The whole HTTP request for C{body}, signed now; a retry
        (C{retry_num} > 0) carries Slack's retry headers.
        """
        timestamp = str(int(time.time()))
        retry = (
            f"X-Slack-Retry-Num: {retry_num}\r\nX-Slack-Retry-Reason: http_timeout\r\n"
            if retry_num
            else ""
        )
        head = (
            f"{self._head}Content-Type: application/json\r\n"
            "User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)\r\n"
            f"X-Slack-Request-Timestamp: {timestamp}\r\n"
            f"X-Slack-Signature: {sign(self._secret, timestamp, body)}\r\n"
            f"{retry}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


#: Called when a response is complete: (tag, status, scheduled ns, done ns).
Done = Callable[[Any, int, int, int], None]


class _Connection(Protocol):
    """
    One keep-alive connection, one request at a time; parses status line,
    headers, and a Content-Length or chunked body.
    """

    def __init__(self, pool: WebhookPool) -> None:
        self._pool = pool
        self._buffer = b""
        self._current: tuple[Any, int] | None = None

    def connectionMade(self) -> None:
        self._pool._connected(self)

    def submit(self, request: bytes, tag: Any, scheduled_ns: int) -> None:
        self._current = (tag, scheduled_ns)
        self.transport.write(request)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while self._current is not None:
            complete = self._complete()
            if complete is None:
                return
            status, consumed = complete
            self._buffer = self._buffer[consumed:]
            (tag, scheduled), self._current = self._current, None
            self._pool._done(self, tag, status, scheduled, now_ns())

    def _complete(self) -> tuple[int, int] | None:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            lower = name.strip().lower()
            if lower == "content-length":
                length = int(value)
            elif lower == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        start = end + 4
        if not chunked:
            return (status, start + length) if len(buffer) >= start + length else None
        position = start
        while True:
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(buffer[position:line_end].split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if len(buffer) < position:
                return None
            if size == 0:
                return status, position

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        self._pool._lost(self, self._current)


class _Factory(ClientFactory):
    def __init__(self, pool: WebhookPool) -> None:
        self._pool = pool

    def buildProtocol(self, addr: Any) -> Protocol:
        return _Connection(self._pool)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self._pool._connect_failed()


class WebhookPool:
    """
    Keep-alive HTTP connections to one server; see the module docstring.

    @ivar statuses: HTTP status -> count.
    @ivar errors: Requests whose connection closed before the answer.
    @ivar opened: Connections opened.
    """

    def __init__(
        self, reactor: Any, host: str, port: int, on_done: Done, max_connections: int = 64
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._on_done = on_done
        self._max = max_connections
        self._idle: list[_Connection] = []
        self._waiting: deque[tuple[bytes, Any, int]] = deque()
        self._connecting = 0
        self._count = 0
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.opened = 0

    def warm(self, connections: int) -> None:
        """
        Open C{connections} connections ahead of the load.
        """
        for _ in range(connections):
            self._open()

    def _open(self) -> None:
        self._connecting += 1
        self._count += 1
        self.opened += 1
        self._reactor.connectTCP(self._host, self._port, _Factory(self), timeout=10)

    def post(self, request: bytes, tag: Any, scheduled_ns: int) -> None:
        """
        Send C{request} on an idle connection, or queue it (opening another
        connection when under the cap).
        """
        if self._idle:
            self._idle.pop().submit(request, tag, scheduled_ns)
            return
        self._waiting.append((request, tag, scheduled_ns))
        if self._count < self._max and self._connecting < len(self._waiting):
            self._open()

    @property
    def queued(self) -> int:
        """
        Requests waiting for a connection.
        """
        return len(self._waiting)

    def _next(self, connection: _Connection) -> None:
        if self._waiting:
            connection.submit(*self._waiting.popleft())
        else:
            self._idle.append(connection)

    def _connected(self, connection: _Connection) -> None:
        self._connecting -= 1
        self._next(connection)

    def _connect_failed(self) -> None:
        self._connecting -= 1
        self._count -= 1

    def _done(
        self, connection: _Connection, tag: Any, status: int, scheduled: int, done: int
    ) -> None:
        self.statuses[status] += 1
        self._on_done(tag, status, scheduled, done)
        self._next(connection)

    def _lost(self, connection: _Connection, current: tuple[Any, int] | None) -> None:
        self._count -= 1
        if connection in self._idle:
            self._idle.remove(connection)
        if current is not None:
            self.errors += 1

    def close(self) -> None:
        """
        Close the idle connections.
        """
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.loseConnection()
        self._idle = []
