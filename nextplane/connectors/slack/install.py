# -*- test-case-name: tests.slack.test_connector -*-
"""
Installations of the Slack app.

A workspace's bot token comes from the configuration
(C{[connectors.slack.workspaces.<team>] bot_token}) or from an OAuth v2
install (C{/slack/install}, then C{/slack/oauth/callback} exchanges the
code with C{oauth.v2.access}). An install is stored in the hub's store
(L{SlackInstallation}: token, bot ids, scopes, time) and the workspace is
served at once; on start the stored installations are loaded, so installed
workspaces stay served across restarts. When both exist the configured
token wins (logged, naming the team). C{app_uninstalled}, or a
C{tokens_revoked} naming the bot, stops serving the workspace and deletes
its stored installation; so does an C{auth.test} answering
C{token_revoked} or C{account_inactive} for an installed token (the
uninstall happened while the hub was down). An install for a workspace
that is no tenant is refused and not stored.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from ...storage.interfaces import IInstallations
from ..platform.delivery import Delivery
from .api import SlackApiError, SlackOAuthClient, SlackWebClient
from .config import SCOPES, SlackConfig
from .installation import SlackInstallation
from .links import OAuthStates
from .people import text_of
from .webhook import SlackWebhook, WebAnswer
from .workspace import PLATFORM, SlackWorkspace

__all__ = ["SlackInstaller", "page"]

log = Logger()

_TRANSIENT = frozenset({"service-unavailable", "remote-server-timeout", "resource-constraint"})
#: C{auth.test} errors saying a token is gone for good (not C{invalid_auth}:
#: IP allow-lists give it too).
_REVOKED = frozenset({"token_revoked", "account_inactive"})
_TITLE = "nextplane for Slack"


def page(status: int, title: str, text: str) -> WebAnswer:
    """
    A small HTML page.
    """
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p></body></html>\n"
    )
    return WebAnswer(status, body.encode("utf-8"), "text/html; charset=utf-8")


def _scopes(value: Any) -> tuple[str, ...]:
    # oauth.v2.access's "scope": comma-separated, e.g. "chat:write,commands".
    if not isinstance(value, str):
        return ()
    return tuple(s for s in (part.strip() for part in value.split(",")) if s)


class SlackInstaller:
    """
    Tokens of workspaces: configured, installed, checked, uninstalled.
    """

    def __init__(
        self,
        *,
        store: IInstallations,
        clock: IReactorTime,
        config: SlackConfig,
        delivery: Delivery,
        workspaces: Mapping[str, SlackWorkspace],
        client: Callable[[str | None], SlackWebClient | None],
        oauth: SlackOAuthClient | None,
        states: OAuthStates,
        public_url: str | None,
        running: Callable[[], bool],
    ) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._delivery = delivery
        self._workspaces = workspaces
        self._client = client
        self.oauth = oauth
        self._states = states
        self._public_url = public_url.rstrip("/") if public_url else None
        self._running = running
        self.webhook: SlackWebhook | None = None

    def _identify(self, ws: SlackWorkspace) -> None:
        if self.webhook is not None:
            self.webhook.set_identity(ws.team_id, ws.bot_user_id, ws.bot_id)

    async def load(self) -> None:
        """
        Serve the workspaces installed with OAuth whose token is not
        configured.
        """
        stored = await self._store.list_installations(PLATFORM)
        for installation in map(SlackInstallation.from_stored, stored):
            ws = self._workspaces.get(installation.team_id)
            if ws is None:
                log.warn(
                    "the Slack app is installed in workspace {team}, which no tenant uses; "
                    "it is not served",
                    team=installation.team_id,
                )
            elif ws.installed_by == "config":
                log.info(
                    "Slack workspace {team} ({domain}) has a configured bot_token and a stored "
                    "OAuth installation; the configured token is used",
                    team=ws.team_id,
                    domain=ws.domain,
                )
            else:
                log.info(
                    "Slack workspace {team} ({domain}) uses its stored OAuth installation",
                    team=ws.team_id,
                    domain=ws.domain,
                )
                ws.client = self._client(installation.bot_token)
                ws.installed_by = "oauth"
                ws.state = "starting"
                ws.bot_user_id = installation.bot_user_id
                ws.bot_id = installation.bot_id
                # The bot's own events are dropped even before auth.test answers.
                self._identify(ws)

    async def authenticate(self, ws: SlackWorkspace) -> None:
        """
        C{auth.test} for C{ws}: learn the bot's ids, or find the token gone.
        """
        client = ws.client
        if client is None:
            return
        try:
            answer = await client.auth_test()
        except SlackApiError as e:
            if e.error in _REVOKED and ws.installed_by == "oauth" and ws.client is client:
                # Uninstalled while the hub was not listening.
                await self.uninstalled(ws, e.reason)
                return
            ws.state = f"auth failed: {e.reason}"
            log.error(
                "Slack auth.test failed for {team} ({domain}): {reason}",
                team=ws.team_id,
                domain=ws.domain,
                reason=e.reason,
            )
            if e.condition in _TRANSIENT and self._running():
                self._delivery.schedule(
                    ("auth", ws.team_id), 60.0, lambda: self.authenticate(ws), "Slack auth.test"
                )
            return
        team = answer.get("team_id")
        if team != ws.team_id:
            ws.state = f"auth failed: the token is for workspace {team}"
            ws.client = None
            log.error(
                "the Slack bot token {source} for {team} belongs to workspace {other}; "
                "{domain} is not served",
                source="installed" if ws.installed_by == "oauth" else "configured",
                team=ws.team_id,
                other=team,
                domain=ws.domain,
            )
            ws.installed_by = None
            return
        ws.bot_user_id = text_of(answer.get("user_id"))
        ws.bot_id = text_of(answer.get("bot_id"))
        self._identify(ws)
        ws.state = "ok"
        log.info(
            "Slack workspace {team} serves {domain} (bot user {bot})",
            team=ws.team_id,
            domain=ws.domain,
            bot=ws.bot_user_id,
        )

    async def uninstalled(self, ws: SlackWorkspace, why: str) -> None:
        """
        Stop serving C{ws} and forget its stored installation: its token is
        gone (the app was uninstalled or the bot token revoked).
        """
        if ws.state == "uninstalled" and ws.client is None:
            return  # Slack sends tokens_revoked and app_uninstalled
        configured = ws.installed_by == "config"
        ws.client = None
        ws.installed_by = None
        ws.state = "uninstalled"
        removed = await self._store.remove_installation(PLATFORM, ws.team_id)
        log.warn(
            "the Slack app was uninstalled from {team} ({why}); {domain} is not served until "
            "it is installed again{stored}{configured}",
            team=ws.team_id,
            why=why,
            domain=ws.domain,
            stored="; its stored installation was deleted" if removed else "",
            configured=(
                f"; remove [connectors.slack.workspaces.{ws.team_id}] bot_token"
                if configured
                else ""
            ),
        )

    # -- OAuth -----------------------------------------------------------------

    def _redirect_uri(self) -> str | None:
        return f"{self._public_url}/slack/oauth/callback" if self._public_url else None

    def install_url(self) -> str:
        """
        Where C{/slack/install} sends the installing administrator.
        """
        params = {
            "client_id": self._config.client_id or "",
            "scope": ",".join(SCOPES),
            "state": self._states.make(),
        }
        redirect = self._redirect_uri()
        if redirect is not None:
            params["redirect_uri"] = redirect
        return f"{self._config.authorize_url}?{urlencode(params)}"

    def on_oauth(
        self, code: str | None, state: str | None, error: str | None
    ) -> Deferred[WebAnswer]:
        """
        The webhook's C{/slack/oauth/callback} handler.
        """
        return Deferred.fromCoroutine(self._oauth_callback(code, state, error))

    async def _oauth_callback(
        self, code: str | None, state: str | None, error: str | None
    ) -> WebAnswer:
        if error:
            return page(200, _TITLE, f"The installation was cancelled in Slack ({error}).")
        if not self._states.check(state) or not code:
            return page(
                400, _TITLE, "This installation link expired or was already used: start again."
            )
        assert self.oauth is not None
        try:
            answer = await self.oauth.access(code, self._redirect_uri())
        except SlackApiError as e:
            log.warn("Slack OAuth exchange failed: {reason}", reason=e.reason)
            return page(502, _TITLE, f"Slack refused the installation: {e.reason}")
        token = answer.get("access_token")
        team = answer.get("team")
        team_id = text_of(team.get("id")) if isinstance(team, Mapping) else None
        if not isinstance(token, str) or not token.startswith("xoxb-") or team_id is None:
            return page(502, _TITLE, "Slack did not return a bot token.")
        ws = self._workspaces.get(team_id)
        if ws is None:
            log.warn(
                "the Slack app was installed in workspace {team}, which is no tenant of this hub",
                team=team_id,
            )
            return page(
                403,
                _TITLE,
                f"This workspace ({team_id}) is not a tenant of this hub. Ask the hub's "
                f'operator to add a tenant with workspace = "{team_id}", then install again.',
            )
        ws.client = self._client(token)
        ws.installed_by = "oauth"
        ws.state = "starting"
        ws.bot_user_id = text_of(answer.get("bot_user_id"))
        ws.bot_id = None
        ws.forget_users()
        ws.dms.clear()
        await self.authenticate(ws)
        if ws.client is None:
            # auth.test said the token is not this workspace's.
            return page(502, _TITLE, "Slack's new bot token did not work: install again.")
        return await self._store_installation(ws, token, answer)

    async def _store_installation(
        self, ws: SlackWorkspace, token: str, answer: Mapping[str, Any]
    ) -> WebAnswer:
        enterprise = answer.get("enterprise")
        installation = SlackInstallation(
            ws.team_id,
            token,
            ws.bot_user_id,
            ws.bot_id,
            _scopes(answer.get("scope")),
            datetime.fromtimestamp(self._clock.seconds(), UTC),
            text_of(enterprise.get("id")) if isinstance(enterprise, Mapping) else None,
        )
        try:
            await self._store.put_installation(installation.stored())
        except Exception as e:
            # Not the error's text: it could echo the statement's values.
            log.error(
                "the Slack app was installed in workspace {team} for {domain}, but storing the "
                "installation failed ({error}); it is served until the hub restarts",
                team=ws.team_id,
                domain=ws.domain,
                error=type(e).__name__,
            )
            return page(
                500,
                _TITLE,
                f"nextplane serves {ws.domain} now, but could not save the installation: "
                "install again later.",
            )
        log.info(
            "the Slack app was installed in workspace {team} for {domain}; installation stored",
            team=ws.team_id,
            domain=ws.domain,
        )
        if ws.team_id in self._config.workspaces:
            log.info(
                "Slack workspace {team} also has a configured bot_token, which is used again "
                "after a restart; remove it to keep the installed one",
                team=ws.team_id,
            )
        return page(200, _TITLE, f"nextplane is installed and serves {ws.domain}.")
