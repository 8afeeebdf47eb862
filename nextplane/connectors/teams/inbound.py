# -*- test-case-name: tests.teams.test_inbound -*-
"""
One inbound request to the bot endpoint, from bytes to a verified,
typed activity, and the answer the channel expects.

Order matters (C{../shared/notes/platforms.md} §B1, §D): the JSON is read
only to learn the C{serviceUrl} the token must name; the token is verified
before anything in the activity is used; only then is the activity parsed.

  - a body that is not JSON (by content type) is answered 415;
  - a token that fails any check is answered 401, nothing routed;
  - a JSON body that is not an activity is answered 400;
  - a non-invoke activity is answered 201 with an empty body;
  - an invoke is answered 200 with its InvokeResponse (L{invoke_answer}).

The platform kit's webhook wraps L{read_activity} in its Klein route.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

from .activity import Activity, ActivityError, parse_activity
from .auth import BotFrameworkAuthenticator, TokenRejected, ValidatedToken

__all__ = ["ACCEPTED", "InboundRefused", "Verified", "invoke_answer", "read_activity"]

#: The status of an accepted non-invoke activity (empty body).
ACCEPTED = 201


class InboundRefused(Exception):
    """
    The request is refused with C{status}; C{reason} is for logs (no content).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@frozen
class Verified:
    """
    A verified activity and the token that vouched for it.
    """

    activity: Activity
    token: ValidatedToken


def _is_json(content_type: str | bytes | None) -> bool:
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def read_activity(
    authenticator: BotFrameworkAuthenticator,
    content_type: str | bytes | None,
    authorization: str | bytes | None,
    body: bytes,
) -> Verified:
    """
    Verify and read one request.

    @raise InboundRefused: With the status to answer.
    """
    if not _is_json(content_type):
        raise InboundRefused(415, "not JSON")
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    service_url = data.get("serviceUrl") if isinstance(data, dict) else None
    try:
        token = await authenticator.validate(
            authorization, service_url if isinstance(service_url, str) else ""
        )
    except TokenRejected as e:
        raise InboundRefused(e.status, f"{type(e).__name__}: {e.detail}") from e
    try:
        return Verified(parse_activity(data), token)
    except ActivityError as e:
        raise InboundRefused(400, str(e)) from e


def invoke_answer(status: int = 200, body: Any = None) -> tuple[int, bytes]:
    """
    The HTTP answer to an invoke: C{status} and the InvokeResponse body.
    """
    return status, json.dumps(body if body is not None else {}).encode("utf-8")
