"""
A Slack workspace and the Slack connector attached to another platform's
test hub (Teams, Webex), for cross-platform tests through one router.
"""

from __future__ import annotations

from typing import Any

from treq.testing import StubTreq

from nextplane.config import Section
from nextplane.connectors.slack.connector import SCOPES, SlackConnector
from nextplane.connectors.slack.connector import build as build_slack
from nextplane.connectors.slack.connector import parse_config as parse_slack
from nextplane.testing.slack_sim import EventSender, SimUser, SlackCloud, SlackSimulator, Workspace

from .helpers import ZeroRandom

__all__ = ["SlackSide", "attach_slack"]

TOKEN = "xoxb-other-0000-SECRETTOKENAAAA"
SECRET = "hub-signing-secret-0123456789"


class SlackSide:
    """
    The attached Slack: its simulator, its one user and the connector.
    """

    def __init__(self, sim: SlackSimulator, user: SimUser, connector: SlackConnector) -> None:
        self.sim = sim
        self.user = user
        self.connector = connector


def attach_slack(
    hub: Any, public_url: str, team: str, name: str, user: tuple[str, str, str]
) -> SlackSide:
    """
    Add workspace C{team} (tenant of the hub's config, platform C{slack})
    with one C{user} (handle, e-mail, name) and start its connector on
    C{hub} (a test hub with C{clock}, C{hub_http}, C{http_clients},
    C{context}, C{router} and C{settle}).
    """
    workspace = Workspace(
        team_id=team,
        team_name=name.title(),
        domain=name,
        app_id="A0NEXTPLANE",
        bot_id=f"B{team}",
        bot_user_id=f"U{team}",
    )
    sim = SlackSimulator(hub.clock, workspace, base_url="https://slack.test")
    sim.events = EventSender(hub.hub_http, hub.clock, SECRET, public_url, workspace)
    person = workspace.add_user(*user)
    workspace.add_token(TOKEN, frozenset(SCOPES))
    slack_http = StubTreq(SlackCloud(sim))
    hub.http_clients.append(slack_http)
    section = Section(
        {
            "signing_secret": SECRET,
            "api_base_url": "https://slack.test/api/",
            "file_hosts": [],
            "workspaces": {team: {"bot_token": TOKEN}},
        },
        "connectors.slack",
        {},
    )
    connector = build_slack(hub.context, parse_slack(section), http=slack_http, rng=ZeroRandom())
    hub.router.add_connector(connector)
    hub.settle(connector.startService())
    return SlackSide(sim, person, connector)
