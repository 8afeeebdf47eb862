# -*- test-case-name: tests.slack.test_api -*-
"""
A Slack Web API client on an injected treq-like HTTP client and clock.

Every method is C{https://slack.com/api/<method>} with
C{Authorization: Bearer xoxb-...}. How calls are made, retried and read is
L{nextplane.connectors.slack.calls} (on the platform kit's caller); files
are L{nextplane.connectors.slack.filetransfer}. Calls that name a channel
go through that channel's queue, one at a time, in the order they were
made. The token never appears in logs, C{repr}s or exception messages.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.interfaces import IReactorTime

from ..platform.httpapi import (
    CONDITION_UNCERTAIN,
    CallLanes,
    HTTPClient,
    RetryPolicy,
    within,
)
from .calls import DEFAULT_BASE_URL, MAX_TEXT, METHODS, MethodSpec, SlackApiError, SlackCaller
from .filetransfer import SlackFileTransfer
from .ratelimit import POST_MESSAGE, RateLimiter

__all__ = [
    "CONDITION_UNCERTAIN",
    "DEFAULT_BASE_URL",
    "MAX_TEXT",
    "METHODS",
    "HTTPClient",
    "MethodSpec",
    "RetryPolicy",
    "SlackApiError",
    "SlackOAuthClient",
    "SlackWebClient",
    "within",
]


class SlackWebClient:
    """
    The Web API for one bot token (one workspace installation).

    All methods return L{Deferred}s firing with Slack's decoded JSON answer
    (a C{dict} with C{"ok": True}) or failing with L{SlackApiError}.
    """

    def __init__(
        self,
        token: str,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        file_hosts: Sequence[str] = ("files.slack.com", "slack.com"),
        max_download: int = 100 * 1024 * 1024,
        gate: DeferredSemaphore | None = None,
    ) -> None:
        """
        @param token: The bot token (C{xoxb-...}). Never logged.
        @param http: A treq-like client (L{treq.testing.StubTreq} in tests).
        @param clock: For pacing, backoff and timeouts.
        @param rng: For backoff jitter.
        @param base_url: The API base (the simulator's in tests).
        @param file_hosts: Hosts (besides the API base's) that may receive
            the token when downloading a file.
        @param max_download: The largest file L{download_file} accepts.
        @param gate: Bounds the exchanges in flight (shared by the clients
            of one connection pool).
        """
        if not token:
            raise ValueError("empty Slack token")
        self._token = token
        self._caller = SlackCaller(
            http,
            clock,
            rng if rng is not None else random.Random(),
            base_url,
            policy if policy is not None else RetryPolicy(),
            limiter if limiter is not None else RateLimiter(),
            gate,
        )
        api_host = urlsplit(self._caller.base_url).hostname or ""
        self._file_hosts = frozenset({api_host, *file_hosts})
        self._max_download = max_download
        self._lanes = CallLanes()
        self._files = SlackFileTransfer(
            self._caller, self._auth, self._lanes, self._file_hosts, max_download
        )

    def __repr__(self) -> str:
        return f"<SlackWebClient {self._caller.base_url} token=***>"

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def queued(self, channel: str) -> int:
        """
        How many calls wait or run in C{channel}'s queue.
        """
        return self._lanes.queued(channel)

    def call(
        self, method: str, params: Mapping[str, Any], channel: str | None = None
    ) -> Deferred[dict[str, Any]]:
        """
        Call any Web API method with the bot token.

        @param params: Arguments; C{None} values are left out.
        @param channel: Run in this channel's ordered queue. Cancelling
            the returned L{Deferred} before the request is sent (while it is
            queued, paced or backing off) drops it.
        """
        return self._lanes.run(
            channel,
            lambda cancelled: self._caller.call(
                method, params, channel=channel, headers=self._auth, cancelled=cancelled
            ),
        )

    # --- messages -----------------------------------------------------------

    def post_message(
        self,
        channel: str,
        text: str | None = None,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool | None = None,
        username: str | None = None,
        icon_url: str | None = None,
        icon_emoji: str | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        C{chat.postMessage}: post C{text} (mrkdwn; the fallback when
        C{blocks} are given). C{username} and C{icon_url} show an external
        contact as itself (scope C{chat:write.customize}).

        @return: Slack's answer, with C{channel} and C{ts}.
        """
        params: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": list(blocks) if blocks is not None else None,
            "thread_ts": thread_ts,
            "reply_broadcast": reply_broadcast,
            "username": username,
            "icon_url": icon_url,
            "icon_emoji": icon_emoji,
            "unfurl_links": unfurl_links,
            "unfurl_media": unfurl_media,
        }
        return self.call(POST_MESSAGE, params, channel=channel)

    def update_message(
        self,
        channel: str,
        ts: str,
        text: str | None = None,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        C{chat.update}: replace a message's text (and blocks).
        """
        params = {
            "channel": channel,
            "ts": ts,
            "text": text,
            "blocks": list(blocks) if blocks is not None else None,
        }
        return self.call("chat.update", params, channel=channel)

    def delete_message(self, channel: str, ts: str) -> Deferred[dict[str, Any]]:
        """
        C{chat.delete}. A message already gone after an ambiguous first try
        counts as deleted.
        """
        return self.call("chat.delete", {"channel": channel, "ts": ts}, channel=channel)

    def add_reaction(self, channel: str, timestamp: str, name: str) -> Deferred[dict[str, Any]]:
        """
        C{reactions.add}: C{name} is a shortcode without colons
        (C{+1::skin-tone-2} for a skin tone). Already reacted is success.
        """
        params = {"channel": channel, "timestamp": timestamp, "name": name.strip(":")}
        return self.call("reactions.add", params, channel=channel)

    def remove_reaction(self, channel: str, timestamp: str, name: str) -> Deferred[dict[str, Any]]:
        """
        C{reactions.remove}. No such reaction is success.
        """
        params = {"channel": channel, "timestamp": timestamp, "name": name.strip(":")}
        return self.call("reactions.remove", params, channel=channel)

    # --- conversations ------------------------------------------------------

    def create_conversation(self, name: str, is_private: bool = False) -> Deferred[dict[str, Any]]:
        """
        C{conversations.create}. @return: The answer, with C{channel.id}.
        """
        return self.call("conversations.create", {"name": name, "is_private": is_private})

    def invite_to_conversation(
        self, channel: str, users: Sequence[str]
    ) -> Deferred[dict[str, Any]]:
        """
        C{conversations.invite}. Users already in the channel are success.
        """
        return self.call("conversations.invite", {"channel": channel, "users": ",".join(users)})

    def open_conversation(
        self,
        users: Sequence[str] | None = None,
        channel: str | None = None,
        return_im: bool | None = None,
    ) -> Deferred[dict[str, Any]]:
        """
        C{conversations.open}: a DM with one user, a group DM with several,
        or resume C{channel}. @return: The answer, with C{channel.id}.
        """
        params = {
            "users": ",".join(users) if users else None,
            "channel": channel,
            "return_im": return_im,
        }
        return self.call("conversations.open", params)

    # --- users --------------------------------------------------------------

    def user_info(self, user: str, include_locale: bool | None = None) -> Deferred[dict[str, Any]]:
        """
        C{users.info}. @return: The answer, with C{user}.
        """
        return self.call("users.info", {"user": user, "include_locale": include_locale})

    def lookup_user_by_email(self, email: str) -> Deferred[dict[str, Any]]:
        """
        C{users.lookupByEmail} (scope C{users:read.email}).
        """
        return self.call("users.lookupByEmail", {"email": email})

    def get_presence(self, user: str) -> Deferred[dict[str, Any]]:
        """
        C{users.getPresence}. @return: The answer, with C{presence}.
        """
        return self.call("users.getPresence", {"user": user})

    def publish_view(self, user_id: str, view: Mapping[str, Any]) -> Deferred[dict[str, Any]]:
        """
        C{views.publish}: show C{view} (a C{home} view) as C{user_id}'s
        Home tab of the app. Publishing again replaces it.
        """
        return self.call("views.publish", {"user_id": user_id, "view": dict(view)})

    def file_info(self, file: str) -> Deferred[dict[str, Any]]:
        """
        C{files.info} (scope C{files:read}). @return: The answer, with
        C{file} (C{url_private}, C{name}, C{mimetype}, C{size}).
        """
        return self.call("files.info", {"file": file})

    def auth_test(self) -> Deferred[dict[str, Any]]:
        """
        C{auth.test}: the token's C{team_id}, C{user_id} and C{bot_id}.
        """
        return self.call("auth.test", {})

    # --- files --------------------------------------------------------------

    def upload_file(
        self, channel: str, filename: str, content: bytes, **options: str | None
    ) -> Deferred[dict[str, Any]]:
        """
        Share a file in C{channel}, in the channel's queue
        (L{SlackFileTransfer.upload_file}: C{title}, C{initial_comment},
        C{thread_ts}, C{alt_txt}).
        """
        return self._files.upload_file(channel, filename, content, **options)

    def download_file(self, url: str) -> Deferred[bytes]:
        """
        Fetch a shared file into memory (L{SlackFileTransfer.download_file}).
        """
        return self._files.download_file(url)

    def open_file(self, url: str) -> Deferred[Any]:
        """
        Open a shared file for streaming (L{SlackFileTransfer.open_file}).
        """
        return self._files.open_file(url)


class SlackOAuthClient:
    """
    C{oauth.v2.access}: exchanges an OAuth code for a bot token when a
    workspace installs the app
    (U{https://docs.slack.dev/authentication/installing-with-oauth}).

    The client id and secret go in HTTP Basic authentication, Slack's
    preferred form; the secret never appears in logs or messages.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        http: HTTPClient,
        clock: IReactorTime,
        rng: random.Random | None = None,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
        gate: DeferredSemaphore | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._caller = SlackCaller(
            http,
            clock,
            rng if rng is not None else random.Random(),
            base_url,
            policy if policy is not None else RetryPolicy(),
            RateLimiter(),
            gate,
        )

    def __repr__(self) -> str:
        return f"<SlackOAuthClient {self._client_id} secret=***>"

    def access(self, code: str, redirect_uri: str | None = None) -> Deferred[dict[str, Any]]:
        """
        Exchange C{code}. @return: The answer, with C{access_token},
        C{scope}, C{bot_user_id}, C{app_id} and C{team}.
        """
        return Deferred.fromCoroutine(
            self._caller.call(
                "oauth.v2.access",
                {"code": code, "redirect_uri": redirect_uri},
                auth=(self._client_id, self._client_secret),
            )
        )
