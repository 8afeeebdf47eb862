# -*- test-case-name: tests.sip.test_connector -*-
"""
SIP statuses and the hub's delivery conditions (XMPP stanza-error
vocabulary), both ways.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...interfaces import DeliveryFailed
from .message import Response

__all__ = ["condition_for", "failed", "phrase", "status_for"]

_STATUS_FOR_CONDITION: Mapping[str, int] = {
    "not-allowed": 403,
    "forbidden": 403,
    "policy-violation": 403,
    "not-authorized": 403,
    "subscription-required": 403,
    "item-not-found": 404,
    "remote-server-not-found": 404,
    "recipient-unavailable": 480,
    "service-unavailable": 480,
    "remote-server-timeout": 408,
    "feature-not-implemented": 488,
    "not-acceptable": 488,
    "bad-request": 400,
    "resource-constraint": 503,
    "internal-server-error": 500,
    "undefined-condition": 500,
}


def status_for(condition: str | None) -> int:
    """
    The SIP status answering an inbound request the router refused or
    could not deliver, for its condition (XMPP stanza-error vocabulary).
    """
    return _STATUS_FOR_CONDITION.get(condition or "", 500)


def condition_for(status: int) -> str:
    """
    The delivery condition for a SIP error status our request got.
    """
    if status in (401, 407):
        return "not-authorized"
    if status in (403, 603):
        return "forbidden"
    if status in (404, 410, 484, 604):
        return "item-not-found"
    if status in (480, 486, 600):
        return "recipient-unavailable"
    if status in (408, 504):
        return "remote-server-timeout"
    if status in (405, 415, 420, 488, 489, 501, 606):
        return "feature-not-implemented"
    return "service-unavailable"


def phrase(text: str, limit: int = 200) -> str:
    """
    C{text} fit for a reason phrase or a quoted header value: printable,
    at most C{limit} characters.
    """
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned[:limit]


def failed(response: Response, domain: str) -> DeliveryFailed:
    """
    The delivery failure for an error C{response} from C{domain}, with the
    text of its C{Warning} header when it has one.
    """
    detail = response.reason
    for warning in response.headers.get_all("Warning"):
        _, _, text = warning.partition('"')
        if text:
            detail = text.rstrip('"')
            break
    return DeliveryFailed(
        condition_for(response.status),
        phrase(f"{domain} refused it: {response.status} {detail}"),
    )
