# -*- test-case-name: tests.slack.test_connector -*-
"""
Signed, expiring values the Slack connector hands out and later checks.

  - L{FileLinks}: the URL an external contact gets for a file a Slack user
    shared. Slack's C{url_private} only opens with the bot token, which
    must never leave the hub, so the contact gets
    C{<public_url>/slack/files/<team>/<file>/<expires>/<signature>/<name>}
    instead; the hub checks the signature and the expiry, fetches the file
    with the bot token and passes the bytes on (never storing them).
  - L{OAuthStates}: the C{state} of an OAuth install, so a callback is only
    accepted for an install this hub started (CSRF), once.

Signatures are HMAC-SHA256 with keys derived from one secret, truncated
to 128 bits, compared in constant time. Time comes from an injected clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from twisted.internet.interfaces import IReactorTime

from .signature import ReplayGuard, SignatureError

__all__ = ["FileLinks", "OAuthStates", "derive_key"]


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """
    A key for one C{purpose}, derived from C{secret}.
    """
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, f"nextplane slack {purpose} v1".encode(), hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class FileLinks:
    """
    Makes and checks file links; see the module docstring.

    @param base_url: The hub's public URL (C{[web] public_url}); without
        one no link can be made.
    @param ttl: Seconds a link stays valid.
    """

    def __init__(
        self, key: bytes, base_url: str | None, clock: IReactorTime, ttl: float = 7 * 86400.0
    ) -> None:
        self._key = key
        self._base = base_url.rstrip("/") if base_url else None
        self._clock = clock
        self._ttl = ttl

    @property
    def enabled(self) -> bool:
        """
        Whether links can be made (a public URL is configured).
        """
        return self._base is not None

    def make(self, team: str, file_id: str, name: str) -> str | None:
        """
        The link for file C{file_id} of workspace C{team}, or C{None}
        without a public URL.
        """
        if self._base is None:
            return None
        expires = str(int(self._clock.seconds() + self._ttl))
        signature = _mac(self._key, f"{team}:{file_id}:{expires}")
        shown = quote(name.replace("/", "_"), safe="") or "file"
        return f"{self._base}/slack/files/{team}/{file_id}/{expires}/{signature}/{shown}"

    def check(self, team: str, file_id: str, expires: str, signature: str) -> str | None:
        """
        Why a link is not valid, or C{None} when it is.
        """
        expected = _mac(self._key, f"{team}:{file_id}:{expires}")
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        if not expires.isdigit() or int(expires) < self._clock.seconds():
            return "expired"
        return None


class OAuthStates:
    """
    One-time, expiring C{state} values for OAuth installs.
    """

    def __init__(self, key: bytes, clock: IReactorTime, ttl: float = 600.0) -> None:
        self._key = key
        self._clock = clock
        self._ttl = ttl
        self._used = ReplayGuard(clock, ttl + 60.0, 10_000)

    def make(self) -> str:
        """
        A fresh state.
        """
        expires = str(int(self._clock.seconds() + self._ttl))
        nonce = secrets.token_urlsafe(12)
        return f"{expires}.{nonce}.{_mac(self._key, f'{expires}.{nonce}')}"

    def check(self, state: str | None) -> bool:
        """
        Whether C{state} was made here, is fresh and was not used before
        (it is used up now).
        """
        if not state or state.count(".") != 2:
            return False
        expires, nonce, signature = state.split(".")
        if not hmac.compare_digest(_mac(self._key, f"{expires}.{nonce}"), signature):
            return False
        if not expires.isdigit() or int(expires) < self._clock.seconds():
            return False
        try:
            self._used.check(nonce)
        except SignatureError:
            return False
        return True
