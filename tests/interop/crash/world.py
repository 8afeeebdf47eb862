"""
The crash suite's world: a real C{twistd nextplane} hub on SQLite (tenant
C{acme.test} on Slack) that the suite may kill -9 and start again, with
real peers around it in the private network namespace:

    Slack simulator   127.0.0.1:<any>     the tenant's workspace (this process)
    hub acme.test     HUB:8080 (webhooks) HUB:5269 (XMPP s2s) HUB:5061 (SIP TLS)
    Prosody           widget.test, users peter0..             (XMPP, SRV in DNS)
    Kamailio          b.test: KAM:5060 (TCP) KAM:5061 (TLS)   (SIP, SRV in DNS)
    SIP users         alice0.. @b.test: L{SipSenders} -> KAM:5060,
                      L{SipInbox} <- KAM on 127.0.0.1:5080

Every Slack user has an accepted contact with every XMPP and SIP user,
seeded into the database before the first start with its private Slack
conversation (L{bench.slack_side.SlackTenant.seed}). The XMPP users are
slixmpp clients logged in to Prosody (L{XmppTestClient}).

The harness launchers are reused: L{InteropEnvironment} (DNS, Prosody,
clients), L{start_kamailio}, and L{bench.common.HubProcess} (the hub as
operators run it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.internet import defer
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from bench.common import HubProcess
from bench.slack_side import SIGNING_SECRET, SlackTenant
from nextplane.model.address import Address
from nextplane.testing.slack_sim import EventSender
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.kamailio import KamailioOptions, start_kamailio
from tests.interop.harness.xmppclient import XmppTestClient
from tests.interop.sip.world import UAS_PORT, issue_certificate

from .sippeer import SipInbox, SipSenders

__all__ = ["HUB_DOMAIN", "SIP_DOMAIN", "XMPP_DOMAIN", "CrashWorld"]

HUB_DOMAIN = "acme.test"
XMPP_DOMAIN = "widget.test"
SIP_DOMAIN = "b.test"
PASSWORD = "crash-password"
WEB_PORT = 8080
#: The hub's admin listener (portal, admin API, /metrics), loopback only.
ADMIN_URL = "http://127.0.0.1:8081"
ADMIN_TOKEN = "crash-admin-token-0123456789"
#: Slack's retry schedule, shortened so a retry lands within a test.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)


class CrashWorld:
    """
    The hub and its peers for one crash test; see the module docstring.

    @ivar slack: The Slack workspace (simulator) of tenant C{acme.test}.
    @ivar xmpp: The XMPP users' clients, C{peter<j>} at index j.
    @ivar sip: The SIP users' sending side; C{inbox} their receiving side.
    @ivar hub: The hub process (its C{process} is C{None} while down).
    @ivar channels: Slack channel of (Slack user index, remote address).
    """

    def __init__(
        self,
        testcase: TestCase,
        env: InteropEnvironment,
        users: tuple[int, int, int],
        slack: Mapping[str, Any] | None = None,
    ):
        self.testcase = testcase
        self.slack_settings = dict(slack or {})
        self.env = env
        self.reactor = env.reactor
        self.slack_users, self.xmpp_users, self.sip_users = users
        self.hub_address = next(env.addresses)
        self.kamailio_address = next(env.addresses)
        self.hub_cert = issue_certificate(env, HUB_DOMAIN, self.hub_address)
        self.kamailio_cert = issue_certificate(env, SIP_DOMAIN, self.kamailio_address)
        self.directory = env.directory / "hub"
        self.database = self.directory / "hub.sqlite3"
        self.on_post: Any = None
        self.slack = SlackTenant(
            self.reactor,
            domain=HUB_DOMAIN,
            users=self.slack_users,
            on_post=lambda *post: self.on_post and self.on_post(*post),
            keep_history=True,
        )
        self.xmpp: list[XmppTestClient] = []
        self.sip = SipSenders(self.reactor, (self.kamailio_address, 5060))
        self.inbox = SipInbox(self.reactor, UAS_PORT)
        self.channels: dict[tuple[int, str], str] = {}
        self.hub: HubProcess | None = None
        self.starts = 0

    @classmethod
    async def create(
        cls,
        testcase: TestCase,
        users: tuple[int, int, int],
        slack: Mapping[str, Any] | None = None,
    ) -> CrashWorld:
        """
        Start everything; C{users} is how many Slack, XMPP and SIP users,
        C{slack} settings of the hub's C{[connectors.slack]} to override.
        """
        env = await InteropEnvironment.create(testcase, programs=("prosody", "kamailio"))
        world = cls(testcase, env, users, slack)
        await world._start()
        return world

    def xmpp_address(self, index: int) -> str:
        """
        The bare JID of XMPP user C{index}.
        """
        return f"peter{index}@{XMPP_DOMAIN}"

    def sip_address(self, index: int) -> str:
        """
        The address of SIP user C{index}.
        """
        return f"alice{index}@{SIP_DOMAIN}"

    async def _start(self) -> None:
        env, reactor = self.env, self.reactor
        env.publish(HUB_DOMAIN, self.hub_address)
        for domain, address in (
            (HUB_DOMAIN, self.hub_address),
            (SIP_DOMAIN, self.kamailio_address),
        ):
            env.zone.add_srv(f"_sipfederationtls._tcp.{domain}", f"sip.{domain}", 5061)
            env.zone.add_a(f"sip.{domain}", address)
        users = {f"peter{j}": PASSWORD for j in range(self.xmpp_users)}
        prosody = await env.start_prosody(XMPP_DOMAIN, users=users)
        kamailio = await start_kamailio(
            reactor,
            KamailioOptions(
                domain=SIP_DOMAIN,
                address=self.kamailio_address,
                cert=self.kamailio_cert,
                ca=env.ca.cert,
                hub_domain=HUB_DOMAIN,
                hub_address=self.hub_address,
                uas_port=UAS_PORT,
            ),
            env.directory / "kamailio",
        )
        self.testcase.addCleanup(kamailio.stop)
        await self.inbox.listen()
        self.testcase.addCleanup(self.inbox.stop)
        await self.sip.connect()
        self.testcase.addCleanup(self.sip.close)
        self.slack.listen()
        self.testcase.addCleanup(self.slack.stop)
        contacts = [
            (i, Address(f"{name}{j}", domain))
            for i in range(self.slack_users)
            for name, domain, count in (
                ("peter", XMPP_DOMAIN, self.xmpp_users),
                ("alice", SIP_DOMAIN, self.sip_users),
            )
            for j in range(count)
        ]
        self.channels = await self.slack.seed(self.database, contacts)
        self.hub = HubProcess(self.directory, self._config(), core=0)
        self.testcase.addCleanup(self.stop_hub)
        await self.start_hub()
        for j in range(self.xmpp_users):
            self.xmpp.append(await env.client(self.xmpp_address(j), PASSWORD, prosody))
        self.http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
        self.events = EventSender(
            self.http,
            reactor,
            SIGNING_SECRET,
            f"http://{self.hub_address}:{WEB_PORT}",
            self.slack.workspace,
            retry_delays=RETRY_DELAYS,
            validate=False,
        )
        self.slack.simulator.events = self.events

    def _config(self) -> dict[str, Any]:
        env = self.env
        config: dict[str, Any] = {
            "hub": {"data_dir": str(self.directory), "log_format": "json"},
            "storage": {"backend": "sqlite", "sqlite_path": str(self.database)},
            "web": {
                "listen": f"tcp:{WEB_PORT}:interface={self.hub_address}",
                "admin_token": ADMIN_TOKEN,
            },
            "dns": {"servers": [f"{env.dns_address}:{env.dns_port}"], "timeout": 2},
            "tls": {"ca_certificates": [str(env.ca.cert)]},
            "router": {"delivery_timeout": 30},
            **self.slack.hub_config(self.hub_cert),
        }
        connectors = config["connectors"]
        # SIP messages of one conversation are answered one after the
        # other: a short wait for Slack's pace before the 202 keeps the
        # last of a burst inside Kamailio's 10 s transaction timer.
        connectors["slack"]["queue_ack_seconds"] = 0.5
        connectors["slack"].update(self.slack_settings)
        connectors["xmpp"] = {
            "listen": f"tcp:5269:interface={self.hub_address}",
            "dialback_secret": "crash-dialback-secret-0123456789",
            "system_ca": False,
            "require_certificates": True,
        }
        connectors["sip"] = {
            "listen": f"tcp:5061:interface={self.hub_address}",
            "via_host": self.hub_address,
            "via_port": 5061,
            "system_ca": False,
            "connect_timeout": 10,
        }
        return config

    # -- the hub's life ---------------------------------------------------

    async def start_hub(self) -> None:
        """
        Start the hub on its database; fires once C{/healthz} answers.
        """
        assert self.hub is not None
        await deferToThread(self.hub.start)
        self.starts += 1

    def kill_hub(self) -> None:
        """
        kill -9 the hub and reap it.
        """
        assert self.hub is not None
        self.hub.kill()

    def stop_hub(self) -> defer.Deferred[None]:
        """
        Stop the hub (SIGINT), if it runs.
        """
        assert self.hub is not None
        return deferToThread(self.hub.stop)

    async def metrics(self) -> str:
        """
        The hub's C{/metrics} (Prometheus text).
        """
        headers: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = await self.http.get(f"{ADMIN_URL}/metrics", headers=headers)
        return str(await response.text())

    # -- what the hub left behind -------------------------------------------

    def work_records(self) -> list[tuple[str, str, str]]:
        """
        (source, native id, state) of every work record (read-only; ids only).
        """
        uri = f"file:{self.database}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as connection:
            rows = connection.execute("SELECT source, native_id, state FROM work_records")
            return [(str(s), str(n), str(t)) for s, n, t in rows]

    def hub_files(self) -> list[Path]:
        """
        The hub's database files (-wal and -shm included) and its log.
        """
        return sorted(p for p in self.directory.iterdir() if p.is_file())

    def diagnostics(self) -> str:
        """
        The hub's log tail and the peers' logs, for failure messages.
        """
        hub = self.hub.log_tail(40) if self.hub is not None else ""
        return f"--- hub log:\n{hub}\n{self.env.diagnostics()}"
