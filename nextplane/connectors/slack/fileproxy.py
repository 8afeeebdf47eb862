# -*- test-case-name: tests.slack.test_connector -*-
"""
Slack files behind the hub's signed links: C{files.info}, then Slack's
C{url_private} opened with the bot token and streamed through
(L{nextplane.connectors.platform.files}); the token never leaves the hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ..platform.files import FileLinks
from .api import SlackApiError
from .people import text_of
from .webhook import WebAnswer
from .workspace import SlackWorkspace

__all__ = ["SlackFiles"]

log = Logger()

_INLINE_TYPES = frozenset({"image", "audio", "video"})
_INLINE_MEDIA = frozenset({"application/pdf", "text/plain"})


class SlackFiles:
    """
    Serves C{/slack/files/...} links.
    """

    def __init__(self, links: FileLinks, workspaces: Mapping[str, SlackWorkspace]) -> None:
        self._links = links
        self._workspaces = workspaces

    def on_file(self, team: str, file_id: str, expires: str, signature: str) -> Deferred[WebAnswer]:
        """
        The webhook's file handler.
        """
        return Deferred.fromCoroutine(self._serve(team, file_id, expires, signature))

    async def _serve(self, team: str, file_id: str, expires: str, signature: str) -> WebAnswer:
        problem = self._links.check(team, file_id, expires, signature)
        if problem == "expired":
            return WebAnswer(410, b"This file link has expired.\n")
        ws = self._workspaces.get(team)
        if problem is not None or ws is None:
            return WebAnswer(404, b"not found\n")
        if ws.client is None:
            return WebAnswer(503, b"The file is not available now.\n")
        try:
            info = (await ws.client.file_info(file_id)).get("file")
            if not isinstance(info, Mapping):
                return WebAnswer(404, b"not found\n")
            url = text_of(info.get("url_private_download")) or text_of(info.get("url_private"))
            if url is None:
                return WebAnswer(404, b"not found\n")
            response = await ws.client.open_file(url)
        except SlackApiError as e:
            log.info(
                "serving Slack file {file} of {team} failed: {reason}",
                file=file_id,
                team=team,
                reason=e.reason,
            )
            if e.condition == "item-not-found" or e.error == "file_not_found":
                return WebAnswer(404, b"not found\n")
            return WebAnswer(502, b"Slack did not hand over the file.\n")
        media = text_of(info.get("mimetype")) or "application/octet-stream"
        inline = media.split("/")[0] in _INLINE_TYPES or media in _INLINE_MEDIA
        name = text_of(info.get("name")) or "file"
        return WebAnswer(
            200,
            b"",
            media if inline else "application/octet-stream",
            {
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
                "Content-Security-Policy": "sandbox",
            },
            stream=response,
        )
