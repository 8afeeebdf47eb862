# -*- test-case-name: tests.slack.test_api -*-
"""
Files through Slack's Web API with the bot token: sharing a file with the
current flow (U{https://docs.slack.dev/messaging/working-with-files#upload}:
C{files.getUploadURLExternal}, a POST of the raw bytes to the returned
C{upload_url} without credentials, then C{files.completeUploadExternal}),
and opening a shared file's C{url_private} for streaming (the token only
goes to the API host and Slack's file hosts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred

from ..platform.httpapi import Caller, CallLanes, Retry, within
from .calls import SlackApiError, SlackCaller

__all__ = ["SlackFileTransfer"]


class SlackFileTransfer:
    """
    File uploads and downloads of one bot token.
    """

    def __init__(
        self,
        caller: SlackCaller,
        auth: Mapping[str, str],
        lanes: CallLanes,
        file_hosts: frozenset[str],
        max_download: int,
    ) -> None:
        self._caller = caller
        self._auth = dict(auth)
        self._lanes = lanes
        self._file_hosts = file_hosts
        self._max_download = max_download

    def upload_file(
        self,
        channel: str,
        filename: str,
        content: bytes,
        *,
        title: str | None = None,
        initial_comment: str | None = None,
        thread_ts: str | None = None,
        alt_txt: str | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        Share a file in C{channel}: C{files.getUploadURLExternal}, a POST of
        C{content} to the upload URL (no credentials), then
        C{files.completeUploadExternal}. Runs in the channel's queue, so it
        keeps its place among messages.

        @return: The C{files.completeUploadExternal} answer, with C{files}.
        """

        async def flow(cancelled: Callable[[], bool]) -> dict[str, Any]:
            ticket = await self._caller.call(
                "files.getUploadURLExternal",
                {"filename": filename, "length": len(content), "alt_txt": alt_txt},
                headers=self._auth,
                cancelled=cancelled,
            )
            upload_url, file_id = ticket.get("upload_url"), ticket.get("file_id")
            if not isinstance(upload_url, str) or not isinstance(file_id, str):
                raise SlackApiError(
                    "service-unavailable",
                    "Slack files.getUploadURLExternal gave no upload URL",
                    "files.getUploadURLExternal",
                    "malformed_response",
                )
            await self._upload(upload_url, content)
            return await self._caller.call(
                "files.completeUploadExternal",
                {
                    "files": [{"id": file_id, "title": title or filename}],
                    "channel_id": channel,
                    "initial_comment": initial_comment,
                    "thread_ts": thread_ts,
                },
                channel=channel,
                headers=self._auth,
                cancelled=cancelled,
            )

        return self._lanes.run(channel, flow)

    async def _upload(self, url: str, content: bytes) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                code, _, _ = await self._caller.caller.request(
                    "POST",
                    url,
                    data=content,
                    headers={"Content-Type": "application/octet-stream"},
                )
            except Retry as retry:
                error = retry.error
            else:
                if code == 200:
                    return
                error = f"http_{code}"
                if code < 500 and code != 429:
                    raise SlackApiError(
                        "service-unavailable",
                        f"Slack refused the file upload ({error})",
                        "files.upload",
                        error,
                    )
            # Uploading the same bytes to the same URL again is harmless.
            if attempts >= self._caller.caller.policy.max_attempts:
                raise SlackApiError(
                    "service-unavailable",
                    f"the file upload to Slack failed {attempts} times; last: {error}",
                    "files.upload",
                    error,
                )
            await self._caller.caller.sleep(self._caller.caller.backoff(attempts))

    def download_file(self, url: str) -> Deferred[bytes]:
        """
        Fetch a file's C{url_private} with the bot token, into memory (at
        most C{max_download} bytes); the hub's file links stream instead
        (L{open_file}).

        @raise SlackApiError: See L{open_file}; or the file is too large.
        """

        async def fetch() -> bytes:
            response = await self._open(url)
            caller = self._caller.caller
            body = await within(response.content(), caller.policy.timeout, caller.clock)
            if len(body) > self._max_download:
                raise _too_large()
            return bytes(body)

        return Deferred.fromCoroutine(fetch())

    def open_file(self, url: str) -> Deferred[Any]:
        """
        Open a file's C{url_private} with the bot token (scope
        C{files:read}): fires with the response once its headers arrived,
        the body unread, for streaming. The token is only sent to the API
        host and the configured file hosts, over HTTPS unless the host is
        the API's.

        @raise SlackApiError: For another host, a failure, a redirect to a
            login page or a file announced over C{max_download} bytes.
        """
        return Deferred.fromCoroutine(self._open(url))

    async def _open(self, url: str) -> Any:
        parts = urlsplit(url)
        api = urlsplit(self._caller.base_url)
        same_as_api = (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
        if parts.hostname not in self._file_hosts or (parts.scheme != "https" and not same_as_api):
            raise SlackApiError(
                "forbidden",
                "refusing to send the Slack token to that host",
                "files.download",
                "bad_host",
            )
        caller = self._caller.caller
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await caller.open("GET", url, headers=self._auth, allow_redirects=False)
            except Retry as retry:
                error = retry.error
            else:
                code = response.code
                content_type = (
                    response.headers.getRawHeaders(b"content-type", [b""])[0] or b""
                ).lower()
                if code == 200 and not content_type.startswith(b"text/html"):
                    length = response.length
                    if isinstance(length, int) and length > self._max_download:
                        await _discard(response, caller)
                        raise _too_large()
                    return response
                await _discard(response, caller)
                error = f"http_{code}" if code != 200 else "login_page"
                if code < 500:
                    raise SlackApiError(
                        "item-not-found",
                        f"the Slack file could not be fetched ({error})",
                        "files.download",
                        error,
                    )
            if attempts >= caller.policy.max_attempts:
                raise SlackApiError(
                    "service-unavailable",
                    f"fetching the Slack file failed {attempts} times; last: {error}",
                    "files.download",
                    error,
                )
            await caller.sleep(caller.backoff(attempts))


def _too_large() -> SlackApiError:
    return SlackApiError(
        "not-acceptable", "the Slack file is too large", "files.download", "too_large"
    )


async def _discard(response: Any, caller: Caller) -> None:
    # Read the (short) error page so the connection can be reused.
    with suppress(Exception):
        await within(response.content(), caller.policy.timeout, caller.clock)
