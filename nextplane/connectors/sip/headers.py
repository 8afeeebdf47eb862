# -*- test-case-name: tests.sip.test_connector -*-
"""
Small readings of request headers the transaction user needs.
"""

from __future__ import annotations

from .message import Request, Response

__all__ = [
    "EVENT",
    "event_type",
    "int_or",
    "is_microsoft",
    "offers_im",
    "state_params",
    "supported_tags",
]

#: The one event package served (RFC 3856).
EVENT = "presence"
_MICROSOFT_AGENTS = ("uccapi", "lync", "skype", "ocs", "communicator")


def event_type(value: str | None) -> str | None:
    """
    The package name of an C{Event} header value, lower-cased.
    """
    if value is None:
        return None
    return value.split(";", 1)[0].strip().lower()


def state_params(value: str) -> tuple[str, dict[str, str]]:
    """
    A C{Subscription-State} value as its state and parameters.
    """
    pieces = value.split(";")
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, _, raw = piece.partition("=")
        params[name.strip().lower()] = raw.strip()
    return pieces[0].strip().lower(), params


def int_or(value: str | None, default: int) -> int:
    """
    A small non-negative decimal header value, or C{default}.
    """
    if value is None:
        return default
    value = value.strip()
    return int(value) if value.isdigit() and value.isascii() and len(value) < 11 else default


def offers_im(sdp: bytes) -> bool:
    """
    Whether a session description offers an IM (C{m=message}) stream.
    """
    for line in sdp.decode("utf-8", "replace").splitlines():
        line = line.strip().lower()
        if line.startswith(("m=message", "m=x-ms-message")):
            return True
    return False


def is_microsoft(request: Request) -> bool:
    """
    Whether C{request} comes from a Microsoft client or Edge.
    """
    if request.headers.get("ms-text-format") or request.headers.get("Ms-Conversation-ID"):
        return True
    agent = (request.headers.get("User-Agent") or "").lower()
    return any(name in agent for name in _MICROSOFT_AGENTS)


def supported_tags(message: Request | Response) -> set[str]:
    """
    The option tags of C{Supported}, lower-cased.
    """
    return {tag.strip().lower() for tag in message.headers.get_all("Supported")}
