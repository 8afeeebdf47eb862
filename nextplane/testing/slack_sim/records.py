# -*- test-case-name: tests.slack.test_simulator -*-
"""
The Slack simulator's vocabulary: modes, rate-limit tiers, the records it
keeps for assertions, and the error a Web API method raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen
from twisted.web.iweb import IRequest

__all__ = [
    "CAPACITY",
    "REAL_LIMITS",
    "SIM_TIERS",
    "CallRecord",
    "Fault",
    "RateLimitRecord",
    "SlackApiError",
    "Violation",
    "content_type_of",
    "header_value",
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


@frozen
class Fault:
    """
    A failure to inject into the next call of a method.

    @ivar kind: C{"status"} (answer C{status} without acting), C{"error"}
        (C{ok:false} with C{error}, without acting), C{"hang"} (never answer,
        without acting), C{"hang_after"} (act, then never answer),
        C{"status_after"} (act, then answer C{status}), C{"ratelimit"} (429
        with C{retry_after}), C{"reset"} (reset the connection without
        acting), C{"reset_after"} (act, then reset the connection).
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
    @ivar status: The HTTP status answered (C{0} for a hang or a reset).
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


class SlackApiError(Exception):
    """
    A Web API method's C{ok: false} answer: C{error} plus extra fields.
    """

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def content_type_of(request: IRequest) -> str | None:
    """
    The media type of a request body, lower-cased, without parameters.
    """
    raw = request.getHeader(b"content-type")
    if raw is None:
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.split(";")[0].strip().lower() or None


def header_value(request: IRequest, name: bytes) -> str | None:
    """
    A request header as text, or C{None}.
    """
    raw = request.getHeader(name)
    if raw is None:
        return None
    return raw.decode("latin-1") if isinstance(raw, bytes) else raw
