# -*- test-case-name: tests.slack.test_connector -*-
"""
The C{state} of an OAuth install (L{OAuthStates}), so a callback is only
accepted for an install this hub started (CSRF), once. File links are the
kit's (L{nextplane.connectors.platform.files.FileLinks}).
"""

from __future__ import annotations

import hmac
import secrets

from twisted.internet.interfaces import IReactorTime

from ..platform.files import mac
from .signature import ReplayGuard, SignatureError

__all__ = ["OAuthStates"]


class OAuthStates:
    """
    One-time, expiring C{state} values for OAuth installs, signed with
    C{key} (from L{nextplane.connectors.platform.files.derive_key}).
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
        return f"{expires}.{nonce}.{mac(self._key, f'{expires}.{nonce}')}"

    def check(self, state: str | None) -> bool:
        """
        Whether C{state} was made here, is fresh and was not used before
        (it is used up now).
        """
        if not state or state.count(".") != 2:
            return False
        expires, nonce, signature = state.split(".")
        if not hmac.compare_digest(mac(self._key, f"{expires}.{nonce}"), signature):
            return False
        if not expires.isdigit() or int(expires) < self._clock.seconds():
            return False
        try:
            self._used.check(nonce)
        except SignatureError:
            return False
        return True
