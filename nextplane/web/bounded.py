# -*- test-case-name: tests.test_web_bounded -*-
"""
Bounded request bodies for the hub's HTTP listeners.

Twisted reads a whole request body before any resource sees it, with no
limit, and spills bodies over 100 kB (and every chunked one) to a
temporary file. L{BoundedRequest} refuses a body over the site's limit
with C{413} as soon as its size is known - from C{Content-Length} before
any of it is read, or once a chunked body passes the limit - then closes
the connection, so the rest is never read. Bodies are kept in memory only:
they carry message content, which never touches disk.

Use it with L{bounded_site}: C{Site(resource)} with the limit attached.
"""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from twisted.logger import Logger
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

__all__ = ["DEFAULT_MAX_BODY", "BoundedRequest", "bounded_site"]

log = Logger()

#: The default limit: platform webhooks never need more than about 1 MB.
DEFAULT_MAX_BODY = 1 << 20

_TOO_LARGE = json.dumps(
    {"error": "payload too large", "detail": "the request body is over this server's limit"}
).encode("utf-8")


class BoundedRequest(Request):
    """
    A request whose body is refused with C{413} past its site's
    C{max_body} bytes (see the module docstring).

    @ivar refused: Whether the body was refused (the resource is then never
        rendered).
    """

    refused = False
    _received = 0

    def _limit(self) -> int:
        site = getattr(self.channel, "site", None)
        return int(getattr(site, "max_body", DEFAULT_MAX_BODY))

    def gotLength(self, length: int | None) -> None:
        # In memory even when large: the limit bounds it, and bodies hold
        # message content.
        self.content = BytesIO()  # type: ignore[assignment]
        if length is not None and length > self._limit():
            # No "100 Continue" after the refusal: the client must not send.
            self.requestHeaders.removeHeader(b"expect")
            self._refuse(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self._received += len(data)
        if self._received > self._limit():
            self._refuse(None)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self.refused:
            return
        super().requestReceived(command, path, version)

    def _refuse(self, length: int | None) -> None:
        self.refused = True
        self.content = BytesIO()  # type: ignore[assignment]
        log.info(
            "refused an HTTP request body of {size} bytes (limit {limit})",
            size=length if length is not None else f"over {self._limit()} (chunked)",
            limit=self._limit(),
        )
        transport: Any = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\n"
            b"Content-Type: application/json\r\n"
            b"Connection: close\r\n"
            b"Content-Length: " + str(len(_TOO_LARGE)).encode("ascii") + b"\r\n\r\n" + _TOO_LARGE
        )
        # Stops reading at once: the rest of the body is never read.
        transport.loseConnection()


class _QuietBoundedSite(Site):
    def log(self, request: Any) -> None:
        pass


def bounded_site(
    resource: IResource, max_body: int = DEFAULT_MAX_BODY, access_log: bool = True
) -> Site:
    """
    A L{Site} serving C{resource} whose request bodies are at most
    C{max_body} bytes; without C{access_log}, no log line per request.
    """
    site = Site(resource) if access_log else _QuietBoundedSite(resource)
    site.requestFactory = BoundedRequest
    site.max_body = max_body  # type: ignore[attr-defined]
    return site
