# -*- test-case-name: tests.slack.test_simulator -*-
"""
Signed deliveries to the hub, the way Slack makes them.

Events API (U{https://docs.slack.dev/apis/events-api/}): each event is
wrapped in an C{event_callback} envelope (checked against
C{slack_common_event_wrapper_schema.json}, with C{authorizations} instead
of the legacy C{authed_users}) and POSTed as compact JSON with
C{X-Slack-Request-Timestamp} and C{X-Slack-Signature}. The hub must answer
2xx within three seconds; otherwise Slack retries up to three times
(about at once, after a minute, after five minutes) with
C{X-Slack-Retry-Num} and C{X-Slack-Retry-Reason} (C{http_timeout},
C{http_error}, C{connection_failed}), unless the answer carried
C{X-Slack-No-Retry: 1}. Each attempt is signed afresh.

Slash commands and interactivity payloads are form posts signed the same
way (U{https://docs.slack.dev/interactivity/implementing-slash-commands},
U{https://docs.slack.dev/interactivity/handling-user-interaction}).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from attrs import define, field, frozen
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from nextplane.connectors.slack.api import within
from nextplane.connectors.slack.signature import sign

from .state import Workspace

__all__ = ["Attempt", "Delivery", "EventSender", "load_wrapper_schema"]


def load_wrapper_schema(path: Path | None = None) -> dict[str, Any]:
    """
    The envelope schema, with C{authed_users} no longer required.
    """
    if path is None:
        from .spec import default_spec_path

        path = default_spec_path().parent / "slack_common_event_wrapper_schema.json"
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    schema["required"] = [r for r in schema.get("required", []) if r != "authed_users"]
    return schema


@frozen
class Attempt:
    """
    One POST to the hub.

    @ivar status: The HTTP status, or C{None} when there was no answer.
    @ivar reason: Why it counts as failed (the next retry's reason), or
        C{None} for success.
    """

    time: float
    retry_num: int
    status: int | None
    reason: str | None
    body: bytes = b""


@define
class Delivery:
    """
    One event and its attempts.
    """

    event_id: str
    envelope: dict[str, Any]
    attempts: list[Attempt] = field(factory=list)

    @property
    def delivered(self) -> bool:
        """
        Whether an attempt was acknowledged.
        """
        return any(a.reason is None for a in self.attempts)


class EventSender:
    """
    Sends signed requests to the hub's Slack endpoints.

    @ivar deliveries: Every event sent, with its attempts.
    """

    def __init__(
        self,
        http: Any,
        clock: IReactorTime,
        signing_secret: str,
        base_url: str,
        workspace: Workspace,
        *,
        events_path: str = "/slack/events",
        commands_path: str = "/slack/commands",
        interactivity_path: str = "/slack/interactivity",
        verification_token: str = "sim-verification-token",  # noqa: S107 (simulated)
        ack_timeout: float = 3.0,
        retry_delays: Sequence[float] = (1.0, 60.0, 300.0),
        validate: bool = True,
    ) -> None:
        """
        @param http: A treq-like client reaching the hub.
        @param base_url: The hub's base URL.
        @param retry_delays: Waits before retries 1, 2, 3.
        @param validate: Check each envelope against the wrapper schema.
        """
        self._http = http
        self._clock = clock
        self._secret = signing_secret
        self._base = base_url.rstrip("/")
        self._workspace = workspace
        self._paths = (events_path, commands_path, interactivity_path)
        self.verification_token = verification_token
        self.ack_timeout = ack_timeout
        self.retry_delays = tuple(retry_delays)
        self.deliveries: list[Delivery] = []
        self._sequence = 0
        self._validator: Any = None
        if validate:
            import jsonschema

            self._validator = jsonschema.Draft7Validator(load_wrapper_schema())

    def envelope(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """
        Wrap C{event} in an C{event_callback} envelope.
        """
        ws = self._workspace
        self._sequence += 1
        now = int(self._clock.seconds())
        envelope = {
            "token": self.verification_token,
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": ws.app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": f"Ev{self._sequence:010d}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-sim-{self._sequence}",
        }
        if self._validator is not None:
            self._validator.validate(envelope)
        return envelope

    def signed_headers(self, body: bytes, content_type: str) -> dict[str, str]:
        """
        The headers of a signed request with the current time.
        """
        timestamp = str(int(self._clock.seconds()))
        return {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(self._secret, timestamp, body),
        }

    async def _post(
        self, path: str, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
    ) -> tuple[int | None, str | None, bytes, bool]:
        headers = self.signed_headers(body, content_type)
        headers.update(extra or {})
        try:
            response = await within(
                self._http.request("POST", self._base + path, data=body, headers=headers),
                self.ack_timeout,
                self._clock,
            )
            content = await within(response.content(), self.ack_timeout, self._clock)
        except (TimeoutError, CancelledError):
            return None, "http_timeout", b"", False
        except Exception:
            return None, "connection_failed", b"", False
        no_retry = response.headers.getRawHeaders(b"x-slack-no-retry", [b""])[0] == b"1"
        if 200 <= response.code < 300:
            return response.code, None, content, no_retry
        return response.code, "http_error", content, no_retry

    def send_event(self, event: Mapping[str, Any]) -> Deferred[Delivery]:
        """
        Deliver one event, retrying as Slack does.

        @return: Fires with the L{Delivery} after the last attempt.
        """
        delivery = Delivery("", self.envelope(event))
        delivery.event_id = delivery.envelope["event_id"]
        self.deliveries.append(delivery)
        return Deferred.fromCoroutine(self._deliver(delivery))

    async def _deliver(self, delivery: Delivery) -> Delivery:
        body = json.dumps(delivery.envelope, separators=(",", ":")).encode("utf-8")
        reason: str | None = None
        for retry_num in range(len(self.retry_delays) + 1):
            extra = {}
            if retry_num:
                await deferLater(self._clock, self.retry_delays[retry_num - 1])
                extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason or ""}
            status, reason, content, no_retry = await self._post(
                self._paths[0], body, "application/json", extra
            )
            delivery.attempts.append(
                Attempt(self._clock.seconds(), retry_num, status, reason, content)
            )
            if reason is None or no_retry:
                break
        return delivery

    def url_verification(self, challenge: str) -> Deferred[tuple[int | None, bytes]]:
        """
        Send the C{url_verification} handshake.

        @return: Fires with (status, body).
        """
        body = json.dumps(
            {"token": self.verification_token, "challenge": challenge, "type": "url_verification"},
            separators=(",", ":"),
        ).encode("utf-8")
        return Deferred.fromCoroutine(self._once(self._paths[0], body, "application/json"))

    async def _once(self, path: str, body: bytes, content_type: str) -> tuple[int | None, bytes]:
        status, _, content, _ = await self._post(path, body, content_type)
        return status, content

    def slash_command(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        command: str = "/nextplane",
        user_name: str = "user",
        channel_name: str = "general",
    ) -> Deferred[tuple[int | None, bytes]]:
        """
        Send a slash command form post. @return: Fires with (status, body).
        """
        ws = self._workspace
        self._sequence += 1
        form = {
            "token": self.verification_token,
            "team_id": ws.team_id,
            "team_domain": ws.domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": ws.app_id,
            "response_url": f"{self._base}/sim/response/{self._sequence}",
            "trigger_id": f"{self._sequence}.{self._sequence}.sim",
        }
        body = urlencode(form).encode("ascii")
        return Deferred.fromCoroutine(
            self._once(self._paths[1], body, "application/x-www-form-urlencoded")
        )

    def interaction(self, payload: Mapping[str, Any]) -> Deferred[tuple[int | None, bytes]]:
        """
        Send an interactivity payload (C{payload=<JSON>} form post).
        @return: Fires with (status, body).
        """
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode("ascii")
        return Deferred.fromCoroutine(
            self._once(self._paths[2], body, "application/x-www-form-urlencoded")
        )
