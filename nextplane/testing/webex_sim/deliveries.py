# -*- test-case-name: tests.webex.test_simulator -*-
"""
Webhook deliveries from the simulated Webex to the hub.

L{WebhookSender.deliver} wraps an event in the envelope of the webhooks
guide (C{../shared/notes/platforms.md} §C1), serialises it compactly, signs
exactly those bytes (C{X-Spark-Signature}, hex HMAC-SHA1 with the webhook's
secret) and POSTs them to the webhook's C{targetUrl} through an injected
treq client. A delivery fails on a non-2xx answer or a transport error.
As Webex does, L{FAILURE_LIMIT} failures within L{FAILURE_WINDOW} seconds
disable the webhook (status C{disabled}); it stays disabled until someone
re-enables it with C{PUT}, and its recent failures still count, so the
next failure within the window disables it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from .state import SimWebhook

__all__ = ["FAILURE_LIMIT", "FAILURE_WINDOW", "Attempt", "WebhookSender", "envelope"]

#: Failed deliveries within L{FAILURE_WINDOW} that disable a webhook.
FAILURE_LIMIT = 100
#: Seconds over which failures are counted.
FAILURE_WINDOW = 300.0


@frozen
class Attempt:
    """
    One delivery attempt: webhook, event, outcome (status or error text).
    """

    webhook_id: str
    resource: str
    event: str
    status: int | None
    error: str | None


def envelope(hook: SimWebhook, org_id: str, actor_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """
    The delivery body for C{hook} (key order as in the guide's example).
    """
    document: dict[str, Any] = {
        "id": hook.id,
        "name": hook.name,
        "targetUrl": hook.target_url,
        "resource": hook.resource,
        "event": hook.event,
    }
    if hook.filter:
        document["filter"] = hook.filter
    document.update(
        {
            "orgId": org_id,
            "createdBy": hook.owner_id,
            "appId": "Y2lzY29zcGFyazovL3VzL0FQUExJQ0FUSU9OL3NpbQ",
            "ownedBy": "creator",
            "status": hook.status,
            "created": hook.created,
            "actorId": actor_id,
            "data": data,
        }
    )
    return document


class WebhookSender:
    """
    Signs and posts deliveries; see the module docstring.

    @ivar attempts: Every attempt, in order.
    """

    def __init__(self, http: Any, clock: IReactorTime) -> None:
        """
        @param http: A treq client (or L{treq.testing.StubTreq}) reaching the hub.
        @param clock: The time, for the failure window.
        """
        self._http = http
        self._clock = clock
        self.attempts: list[Attempt] = []

    def deliver(self, hook: SimWebhook, body: dict[str, Any]) -> Deferred[None]:
        """
        Deliver C{body} to C{hook}; failures count towards disabling it.
        """
        raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {b"Content-Type": [b"application/json"]}
        if hook.secret:
            digest = hmac.new(hook.secret.encode("utf-8"), raw, hashlib.sha1).hexdigest()
            headers[b"X-Spark-Signature"] = [digest.encode("ascii")]
        return Deferred.fromCoroutine(self._post(hook, raw, headers))

    async def _post(self, hook: SimWebhook, raw: bytes, headers: dict[bytes, list[bytes]]) -> None:
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http.post(hook.target_url, data=raw, headers=headers)
            status = response.code
            await response.content()
        except Exception as e:  # any transport failure counts as a failed delivery
            error = type(e).__name__
        self.attempts.append(Attempt(hook.id, hook.resource, hook.event, status, error))
        if status is not None and 200 <= status < 300:
            return
        now = self._clock.seconds()
        hook.failures.append(now)
        while hook.failures and hook.failures[0] <= now - FAILURE_WINDOW:
            hook.failures.popleft()
        if len(hook.failures) >= FAILURE_LIMIT:
            hook.status = "disabled"
