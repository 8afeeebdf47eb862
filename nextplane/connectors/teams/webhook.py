# -*- test-case-name: tests.teams.test_connector -*-
"""
The hub's Teams endpoints, a Klein app mounted at C{/teams/}:

  - C{POST /messages}: the bot's messaging endpoint. The channel's token is
    verified before anything in the activity is used
    (L{nextplane.connectors.teams.inbound.read_activity}); every refused
    request (no, unsigned, forged, expired, wrong-audience, wrong-issuer,
    unknown-key, wrong-serviceUrl token) gets 401 and nothing is routed.
    A message is answered (201) once its work record is durable (at the
    latest after a few seconds), other activities at once; they are handled
    after, so the channel's 15 s budget is never at risk; invokes are
    answered with their InvokeResponse (L{nextplane.connectors.teams.handler}).
  - C{GET /files/<tenant>/<file>/<expires>/<signature>/<name>}: a signed,
    expiring link through which a contact fetches a file a Teams user sent;
    the file is streamed from Teams, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.iweb import IRequest

from ..platform.files import FileLinks, pipe
from .auth import BotFrameworkAuthenticator
from .inbound import InboundRefused, Verified, read_activity

__all__ = ["TeamsWebhook"]

log = Logger()

#: Opens a Teams download URL: (tenant, file id) -> response with unread body, or None.
OpenFile = Callable[[str, str], Deferred[Any]]


class TeamsWebhook:
    """
    See the module docstring.

    @ivar refused: Requests refused, by reason class (for tests and health).
    """

    app = Klein()

    def __init__(
        self,
        authenticator: BotFrameworkAuthenticator,
        on_activity: Callable[[Verified], Deferred[tuple[int, bytes]]],
        links: FileLinks,
        open_file: OpenFile,
    ) -> None:
        self._authenticator = authenticator
        self._on_activity = on_activity
        self._links = links
        self._open_file = open_file
        self.refused: dict[str, int] = {}

    def resource(self) -> Any:
        """
        The resource to mount.
        """
        return self.app.resource()

    @app.route("/messages", methods=["POST"])
    def messages(self, request: IRequest) -> Deferred[bytes]:
        return Deferred.fromCoroutine(self._messages(request))

    async def _messages(self, request: IRequest) -> bytes:
        body = request.content.read() if request.content is not None else b""
        try:
            verified = await read_activity(
                self._authenticator,
                request.getHeader(b"content-type"),
                request.getHeader(b"authorization"),
                body,
            )
        except InboundRefused as e:
            kind = e.reason.split(":")[0]
            self.refused[kind] = self.refused.get(kind, 0) + 1
            log.info("refused a Teams request: {status} {reason}", status=e.status, reason=kind)
            request.setResponseCode(e.status)
            return b""
        status, answer = await self._on_activity(verified)
        request.setResponseCode(status)
        if answer:
            request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return answer

    @app.route(
        "/files/<string:scope>/<string:file_id>/<string:expires>/<string:signature>/<string:name>",
        methods=["GET"],
    )
    def files(
        self, request: IRequest, scope: str, file_id: str, expires: str, signature: str, name: str
    ) -> Deferred[bytes]:
        return Deferred.fromCoroutine(self._file(request, scope, file_id, expires, signature, name))

    async def _file(
        self, request: IRequest, scope: str, file_id: str, expires: str, signature: str, name: str
    ) -> bytes:
        problem = self._links.check(scope, file_id, expires, signature)
        if problem is not None:
            request.setResponseCode(410 if problem == "expired" else 404)
            return b"This file link has expired.\n" if problem == "expired" else b"not found\n"
        try:
            response = await self._open_file(scope, file_id)
        except Exception as e:
            log.info("fetching a Teams file failed: {error}", error=type(e).__name__)
            response = None
        if response is None or response.code != 200:
            request.setResponseCode(404 if response is None else 502)
            return b"The file is not available.\n"
        request.setHeader(b"content-type", b"application/octet-stream")
        request.setHeader(b"content-security-policy", b"sandbox")
        request.setHeader(
            b"content-disposition",
            f"attachment; filename*=UTF-8''{quote(name, safe='')}".encode("ascii"),
        )
        await pipe(response, request)
        return b""
