"""
The world of the peer restart test (issue 16): a real C{twistd nextplane}
hub with one Slack tenant (the simulator, served by the test process) and
a real Prosody with logged-in slixmpp clients, chatting both ways in
numbered messages, and what each side saw of each message.

  - L{BurstWorld.start}: Prosody (C{prosody1.test}, users C{alice0..}),
    the Slack tenant C{acme.test} (users C{user0..}) with every pair an
    accepted contact and its private conversation seeded in the hub's
    SQLite database, the hub in its own process on its own loopback
    address (published in DNS), the clients, and one warm-up message
    each way so both s2s streams are up.
  - L{BurstWorld.slack_says} / L{BurstWorld.xmpp_says}: message C{n} of
    one direction (C{"burst s<n>"} posted in Slack, C{"burst x<n>"} sent
    by a Prosody client with stanza id C{x<n>}), round-robin over the
    conversations.
  - L{BurstWorld.kill_prosody} and L{BurstWorld.bring_prosody_back}: the
    peer restart, the clients logged in again after it.
  - L{BurstWorld.account}: every message, by what became of it.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.internet import defer, task
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from bench.common import HubProcess
from bench.slack_side import SIGNING_SECRET, SlackTenant
from nextplane.model.address import Address
from nextplane.testing.slack_sim import EventSender
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import DIALBACK_SECRET
from tests.interop.harness.prosody import ProsodyServer
from tests.interop.harness.xmppclient import XmppTestClient

__all__ = ["HUB_DOMAIN", "PROSODY", "BurstWorld"]

PROSODY = "prosody1.test"
HUB_DOMAIN = "acme.test"
PASSWORD = "pw-burst"
#: The hub's web listener, on its own loopback address.
WEB_PORT = 8080
_SLACK_MARK = re.compile(r"burst s(\d+)")
_XMPP_MARK = re.compile(r"burst x(\d+)")
_NOTICE = ":warning: Not delivered"
_UNFINISHED = ("accepted", "handed_over")


@dataclass
class SlackSent:
    """
    A message a Slack user posted: where, and its Slack C{ts}.
    """

    channel: str
    ts: str
    recipient: int
    delivery: Any = None


@dataclass
class Account:
    """
    What became of every message of one direction.

    @ivar sent: Sequence numbers sent.
    @ivar arrived: How often each arrived at its recipient.
    @ivar told: Those whose sender was told they were not delivered.
    @ivar accepted: Those the hub took responsibility for (a work record,
        or for Slack an acknowledged webhook).
    @ivar unfinished: Accepted, with a work record not yet closed.
    """

    sent: set[int] = field(default_factory=set)
    arrived: Counter[int] = field(default_factory=Counter)
    told: set[int] = field(default_factory=set)
    accepted: set[int] = field(default_factory=set)
    unfinished: set[int] = field(default_factory=set)

    @property
    def lost(self) -> set[int]:
        """Accepted, and neither arrived nor told: lost silently."""
        return self.accepted - set(self.arrived) - self.told

    #: Sent, and not yet known whether the hub accepted them (a webhook
    #: still waiting for its answer or retries).
    undecided: set[int] = field(default_factory=set)

    @property
    def settled(self) -> bool:
        """Nothing is still under way."""
        return not self.lost and not self.unfinished and not self.undecided

    def summary(self) -> dict[str, int]:
        """The counts, for the test's message and report."""
        arrived = set(self.arrived)
        return {
            "sent": len(self.sent),
            "accepted": len(self.accepted),
            "never_accepted": len(self.sent - self.accepted),
            "arrived": len(arrived),
            "told": len(self.told),
            "ambiguous": len(arrived & self.told),
            "lost": len(self.lost),
            "duplicated": sum(1 for count in self.arrived.values() if count > 1),
            "arrived_unaccepted": len(arrived - self.accepted),
            "unfinished": len(self.unfinished),
            "undecided": len(self.undecided),
        }


class BurstWorld:
    """
    See the module docstring.

    @ivar slack_sent: Slack messages by sequence number.
    @ivar xmpp_sent: XMPP messages sent, by sequence number: the Prosody
        user who sent it.
    @ivar posted: How often each XMPP message was posted in Slack.
    """

    def __init__(self, testcase: TestCase, slack_users: int = 4, xmpp_users: int = 4) -> None:
        self.testcase = testcase
        self.slack_users = slack_users
        self.xmpp_users = xmpp_users
        self.slack_sent: dict[int, SlackSent] = {}
        self.xmpp_sent: dict[int, int] = {}
        self.posted: Counter[int] = Counter()
        self.warm_posts = 0
        #: Every client each Prosody user had, old sessions included.
        self.clients: dict[int, list[XmppTestClient]] = {}
        self.online = False

    # -- set-up -------------------------------------------------------------

    async def start(self) -> None:
        """
        Start Prosody, the Slack tenant, the hub and the clients; one
        message each way.
        """
        testcase = self.testcase
        self.env = env = await InteropEnvironment.create(testcase)
        self.reactor = env.reactor
        users = {f"alice{j}": PASSWORD for j in range(self.xmpp_users)}
        self.prosody: ProsodyServer = await env.start_prosody(PROSODY, users=users)
        address = next(env.addresses)
        env.publish(HUB_DOMAIN, address)
        self.tenant = tenant = SlackTenant(
            self.reactor,
            domain=HUB_DOMAIN,
            users=self.slack_users,
            on_post=self._slack_post,
            keep_history=True,
        )
        tenant.listen()
        testcase.addCleanup(tenant.stop)
        directory = env.directory / "hub"
        self.database = directory / "hub.sqlite3"
        self.channels = await tenant.seed(
            self.database,
            [(i, self.alice(j)) for i in range(self.slack_users) for j in range(self.xmpp_users)],
        )
        self.hub = HubProcess(directory, self._config(address, directory))
        testcase.addCleanup(deferToThread, self.hub.stop)
        await env.with_diagnostics(deferToThread(self.hub.start))
        pool = HTTPConnectionPool(self.reactor)
        testcase.addCleanup(pool.closeCachedConnections)
        http = HTTPClient(Agent(self.reactor, pool=pool))
        tenant.simulator.events = self.events = EventSender(
            http,
            self.reactor,
            SIGNING_SECRET,
            self.hub.web_url,
            tenant.workspace,
            retry_delays=(1.0, 2.0, 4.0),
            validate=False,
        )
        await self._log_in()
        await self._warm_up()

    def _config(self, address: str, directory: Path) -> dict[str, Any]:
        env = self.env
        cert = env.cert_for(HUB_DOMAIN)
        config: dict[str, Any] = {
            "hub": {"data_dir": str(directory), "log_format": "json"},
            "storage": {"backend": "sqlite", "sqlite_path": str(self.database)},
            "web": {"listen": f"tcp:{WEB_PORT}:interface={address}"},
            "dns": {"servers": [f"{env.dns_address}:{env.dns_port}"], "timeout": 2},
            "tls": {"ca_certificates": [str(env.ca.cert)]},
            "router": {"delivery_timeout": 30},
            **self.tenant.hub_config(cert),
        }
        config["connectors"]["xmpp"] = {
            "listen": f"tcp:5269:interface={address}",
            "dialback_secret": DIALBACK_SECRET,
            "system_ca": False,
        }
        return config

    async def _log_in(self) -> None:
        logins = [
            self.env.client(str(self.alice(j)), PASSWORD, self.prosody)
            for j in range(self.xmpp_users)
        ]
        clients = await defer.gatherResults(logins, consumeErrors=True)
        for j, client in enumerate(clients):
            self.clients.setdefault(j, []).append(client)
        self.online = True

    async def _warm_up(self) -> None:
        user = self.tenant.user_ids[0]
        self.tenant.simulator.user_posts(user, self.channels[(0, str(self.alice(0)))], "warm up")
        await self.current(0).send_message(str(self.address(0)), "warm up too", id="warm")
        await self.env.with_diagnostics(
            self.current(0).wait_for_message(body="warm up", timeout=30)
        )
        await self.until(lambda: self.warm_posts > 0, 30, "the warm-up post in Slack")

    # -- parties ------------------------------------------------------------

    def alice(self, j: int) -> Address:
        """Prosody user C{j}."""
        return Address(f"alice{j}", PROSODY)

    def address(self, i: int) -> Address:
        """Slack user C{i}'s hub address."""
        return self.tenant.address(i)

    def current(self, j: int) -> XmppTestClient:
        """Prosody user C{j}'s latest client."""
        return self.clients[j][-1]

    # -- traffic ------------------------------------------------------------

    def slack_says(self, n: int) -> None:
        """
        Slack message C{n}: user C{n mod U} to alice C{(n div U) mod A}.
        """
        i, j = n % self.slack_users, (n // self.slack_users) % self.xmpp_users
        channel = self.channels[(i, str(self.alice(j)))]
        before = len(self.events.deliveries)
        posted = self.tenant.simulator.user_posts(self.tenant.user_ids[i], channel, f"burst s{n}")
        sent = SlackSent(channel, posted.ts, j)
        if len(self.events.deliveries) > before:
            sent.delivery = self.events.deliveries[before]
        self.slack_sent[n] = sent

    def xmpp_says(self, n: int) -> None:
        """
        XMPP message C{n}: alice C{n mod A} to user C{(n div A) mod U},
        while her client is logged in (it cannot send otherwise).
        """
        if not self.online:
            return
        j, i = n % self.xmpp_users, (n // self.xmpp_users) % self.slack_users
        self.xmpp_sent[n] = j
        sending = self.current(j).send_message(str(self.address(i)), f"burst x{n}", id=f"x{n}")
        sending.addErrback(lambda _: self.xmpp_sent.pop(n, None))

    def _slack_post(self, channel: str, text: str, received_ns: int) -> None:
        found = _XMPP_MARK.search(text)
        if found is not None:
            self.posted[int(found.group(1))] += 1
        elif text == "warm up too":
            self.warm_posts += 1

    # -- the peer restart ---------------------------------------------------

    def freeze_prosody(self) -> None:
        """Prosody hangs: it reads nothing more and answers nothing."""
        self.prosody.freeze()

    async def kill_prosody(self) -> None:
        """SIGKILL Prosody; its clients' sessions end with it."""
        self.online = False
        await self.prosody.kill()
        old = [self.current(j) for j in range(self.xmpp_users)]
        # Closed for good: a client reconnecting by itself would be a
        # second session receiving every message again.
        await defer.gatherResults([c.disconnect(timeout=1) for c in old], consumeErrors=True)

    async def bring_prosody_back(self) -> None:
        """Start Prosody again and log the clients in."""
        await self.prosody.start_again()
        await self._log_in()

    # -- accounting ---------------------------------------------------------

    def _received(self) -> tuple[Counter[int], set[int]]:
        """Slack messages received by the Prosody users; XMPP messages bounced."""
        arrived: Counter[int] = Counter()
        bounced: set[int] = set()
        for clients in self.clients.values():
            for client in clients:
                for message in list(client.messages):
                    if message.type == "error":
                        if re.fullmatch(r"x\d+", message.id):
                            bounced.add(int(message.id[1:]))
                        continue
                    found = _SLACK_MARK.fullmatch(message.body)
                    if found is not None:
                        arrived[int(found.group(1))] += 1
        return arrived, bounced

    def notices(self) -> dict[int, str]:
        """
        The "not delivered" notices in the threads of Slack messages, by
        the message's sequence number.
        """
        by_ts = {(s.channel, s.ts): n for n, s in self.slack_sent.items()}
        told = {}
        for channel in {s.channel for s in self.slack_sent.values()}:
            for message in self.tenant.workspace.conversations[channel].messages:
                n = by_ts.get((channel, message.thread_ts or ""))
                if n is not None and message.text.startswith(_NOTICE):
                    told[n] = message.text
        return told

    def hub_log(self) -> str:
        """The hub process's log (JSON lines)."""
        return (self.hub.directory / "hub.log").read_text(errors="replace")

    def _work_records(self) -> list[tuple[str, str, str]]:
        """(source, native id, state) of the hub's work records."""
        uri = f"file:{self.database}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as db:
            return list(db.execute("SELECT source, native_id, state FROM work_records"))

    async def account(self) -> tuple[Account, Account]:
        """
        What became of every message: (Slack to XMPP, XMPP to Slack).
        """
        records = await deferToThread(self._work_records)
        arrived, bounced = self._received()
        by_ts = {s.ts: n for n, s in self.slack_sent.items()}
        to_xmpp = Account(sent=set(self.slack_sent), arrived=arrived, told=set(self.notices()))
        retries = len(self.events.retry_delays)
        for n, sent in self.slack_sent.items():
            delivery = sent.delivery
            if delivery is not None and delivery.delivered:
                to_xmpp.accepted.add(n)
            elif delivery is None or len(delivery.attempts) <= retries:
                to_xmpp.undecided.add(n)
        to_slack = Account(sent=set(self.xmpp_sent), arrived=Counter(self.posted), told=bounced)
        for source, native_id, state in records:
            if source == "slack" and native_id in by_ts:
                if state in _UNFINISHED:
                    to_xmpp.unfinished.add(by_ts[native_id])
            elif source == "xmpp" and re.fullmatch(r"x\d+", native_id):
                n = int(native_id[1:])
                to_slack.accepted.add(n)
                if state in _UNFINISHED:
                    to_slack.unfinished.add(n)
        return to_xmpp, to_slack

    async def settle(self, timeout: float) -> tuple[Account, Account]:
        """
        Wait until every accepted message of both directions arrived or
        its sender was told, and no work record is still open (at most
        C{timeout} seconds).

        @return: The last accounting.
        """
        deadline = self.reactor.seconds() + timeout
        previous = None
        while True:
            to_xmpp, to_slack = await self.account()
            counts = (to_xmpp.summary(), to_slack.summary())
            # Settled, and still so a moment later: the last messages of
            # the burst had their time to arrive.
            if to_xmpp.settled and to_slack.settled and counts == previous:
                return to_xmpp, to_slack
            if self.reactor.seconds() > deadline:
                return to_xmpp, to_slack
            previous = counts
            await task.deferLater(self.reactor, 1.0, lambda: None)

    async def until(self, condition: Any, timeout: float, what: str) -> None:
        """Wait for C{condition()}; fail with the diagnostics after C{timeout}."""
        deadline = self.reactor.seconds() + timeout
        while not condition():
            if self.reactor.seconds() > deadline:
                self.testcase.fail(f"no {what} within {timeout}s\n{self.diagnostics()}")
            await task.deferLater(self.reactor, 0.05, lambda: None)

    def diagnostics(self) -> str:
        """Prosody's and the hub's logs, for failure messages."""
        return f"{self.env.diagnostics()}\n--- hub process log:\n{self.hub.log_tail(60)}"
