# -*- test-case-name: tests.platform.test_files -*-
"""
Files shared on a platform, handed to external contacts through the hub.

A platform's file URL opens only with the bot's credentials, which must
never leave the hub, so the contact gets a link to the hub instead:
C{<public_url>/<prefix>/<scope>/<file>/<expires>/<signature>/<name>}
(L{FileLinks}). When it is opened the hub checks the signature and expiry,
fetches the file with the bot's credentials and streams it through
(L{pipe}): each chunk is written to the contact as it arrives, the platform
is read no faster than the contact takes it (the request is the response
body's consumer), and nothing is stored.

Signatures are HMAC-SHA256 with keys derived from one secret
(L{derive_key}), truncated to 128 bits, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.iweb import IRequest

__all__ = ["FileLinks", "TooLarge", "derive_key", "pipe"]


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """
    A key for one C{purpose} (e.g. C{"slack file links"}), derived from
    C{secret}.
    """
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, f"nextplane {purpose} v1".encode(), hashlib.sha256).digest()


def mac(key: bytes, text: str) -> str:
    """
    The truncated HMAC-SHA256 of C{text}.
    """
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class FileLinks:
    """
    Makes and checks file links; see the module docstring.
    """

    def __init__(
        self,
        key: bytes,
        base_url: str | None,
        clock: IReactorTime,
        ttl: float = 7 * 86400.0,
        prefix: str = "files",
    ) -> None:
        """
        @param base_url: The hub's public URL (C{[web] public_url}); without
            one no link can be made.
        @param ttl: Seconds a link stays valid.
        @param prefix: The path the links are served under (C{slack/files}).
        """
        self._key = key
        self._base = base_url.rstrip("/") if base_url else None
        self._clock = clock
        self._ttl = ttl
        self._prefix = prefix.strip("/")

    @property
    def enabled(self) -> bool:
        """
        Whether links can be made (a public URL is configured).
        """
        return self._base is not None

    def make(self, scope: str, file_id: str, name: str) -> str | None:
        """
        The link for file C{file_id} of C{scope} (a workspace or tenant),
        or C{None} without a public URL.
        """
        if self._base is None:
            return None
        expires = str(int(self._clock.seconds() + self._ttl))
        signature = mac(self._key, f"{scope}:{file_id}:{expires}")
        shown = quote(name.replace("/", "_"), safe="") or "file"
        return f"{self._base}/{self._prefix}/{scope}/{file_id}/{expires}/{signature}/{shown}"

    def check(self, scope: str, file_id: str, expires: str, signature: str) -> str | None:
        """
        Why a link is not valid (C{"bad signature"}, C{"expired"}), or
        C{None} when it is.
        """
        expected = mac(self._key, f"{scope}:{file_id}:{expires}")
        if not hmac.compare_digest(expected, signature):
            return "bad signature"
        if not expires.isdigit() or int(expires) < self._clock.seconds():
            return "expired"
        return None


class TooLarge(Exception):
    """
    The file grew past the limit while it was streamed.
    """


_DONE = Failure(ResponseDone())


class _Pipe(Protocol):
    def __init__(self, request: Any, limit: int, done: Deferred[int]) -> None:
        self._request = request
        self._limit = limit
        self._done = done
        self.sent = 0
        self._producing = False

    def connectionMade(self) -> None:
        # The request pauses the platform's response when the contact reads
        # slowly: memory holds one transport buffer, never the file.
        producer = self.transport
        if IPushProducer.providedBy(producer):
            self._request.registerProducer(producer, True)
            self._producing = True
        self._request.notifyFinish().addErrback(self._gone)

    def _gone(self, failure: Failure) -> None:
        # The contact went away: stop reading from the platform.
        self._stop()

    def _stop(self) -> None:
        stop = getattr(self.transport, "stopProducing", None)
        if stop is not None:
            stop()

    def dataReceived(self, data: bytes) -> None:
        self.sent += len(data)
        if self.sent > self._limit:
            self._stop()
            return
        self._request.write(data)

    def connectionLost(self, reason: Failure = _DONE) -> None:
        if self._producing:
            self._request.unregisterProducer()
        if self._done.called:
            return
        if self.sent > self._limit:
            self._done.errback(TooLarge(self.sent))
        elif reason.check(ResponseDone, PotentialDataLoss):
            self._done.callback(self.sent)
        else:
            self._done.errback(reason)


def pipe(response: Any, request: IRequest, limit: int = 1 << 40) -> Deferred[int]:
    """
    Stream C{response}'s body (a L{twisted.web.iweb.IResponse} whose body
    was not read) into C{request} (a L{twisted.web.server.Request}: a
    consumer that tells when it finished) chunk by chunk; the caller has set the
    status and headers and finishes the request.

    @param limit: Bytes after which the transfer is cut off.
    @return: Fires with the bytes sent, or fails (L{TooLarge}, a lost
        connection).
    """
    done: Deferred[int] = Deferred()
    response.deliverBody(_Pipe(request, limit, done))
    return done
