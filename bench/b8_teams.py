"""
B8: Teams <-> XMPP s2s through the hub (issue 11).

  python -m bench.b8_teams [--quick]

Topology (loopback; the hub on core 0, this load process on core 1)::

    TeamsChannel --signed POST /teams/messages--> hub --s2s--> XmppSink (widget.test)
    XmppPeer (widget.test) --s2s--> hub --Connector REST--> Teams simulator

The Teams simulator (CAPACITY mode: no 429s, so the hub's own pace is
measured) serves the token endpoint, OpenID keys and Connector API on
loopback; tenant C{contoso.test} has users C{user<i>}, each with one
accepted contact C{peter<i>@widget.test} seeded in the hub's database.
Each user first installs the app and picks the contact (C{chat ...}), so
plain messages go to them. The hub keeps Teams' per-conversation windows
(7/1 s, 8/2 s, 60/30 s), so rates are spread over enough users; its
per-tenant rate is raised to measure the hub, not the configured pace.

Two directions, open loop, fixed rate steps (L{bench.b2_b3_common}):
  - C{in}: Teams webhook -> s2s: scheduled send -> the stanza at the sink;
    C{ack} is the webhook's answer (the channel allows 15 s);
  - C{out}: s2s -> Teams: scheduled send -> the Connector POST at the
    simulator.

Baseline in the same run: L{bench.b8_bare_relay} (PyJWT check, JSON, one
s2s stream; s2s in, one POST), on the hub's core, same steps.
Results: C{bench/results/B8.json}; summary lines with ratios to the baseline.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from treq.client import HTTPClient  # noqa: E402
from twisted.internet import defer, task  # noqa: E402
from twisted.internet.threads import deferToThread  # noqa: E402
from twisted.web.client import Agent, HTTPConnectionPool  # noqa: E402

from bench.b2_b3_common import (  # noqa: E402
    BaselineProcess,
    both_ways,
    certificates,
    free_port,
    pin_load_core,
    run_steps,
)
from bench.common import HubProcess, now_ns, write_result  # noqa: E402
from bench.slack_side import marker  # noqa: E402
from bench.two_way import Plan, Target, seed  # noqa: E402
from bench.xmpp_peer import PeerStream, XmppPeer, message_bytes  # noqa: E402
from bench.xmpp_sink import XmppSink  # noqa: E402
from nextplane.storage.records import (  # noqa: E402
    TenantRecord,
)
from nextplane.testing.teams_sim import CAPACITY, SimUser, TeamsChannel, TeamsSimulator  # noqa: E402

TENANT = "contoso.test"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
REMOTE = "widget.test"
APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"
APP_PASSWORD = "bench-teams-secret-0123456789"
PADDING = " lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"


class Teams:
    """
    The simulated Teams in this process: users, their chats, the channel,
    and a hook on every Connector send (the C{out} arrivals).
    """

    def __init__(self, reactor: Any, users: int) -> None:
        self.sim = TeamsSimulator(reactor, mode=CAPACITY)
        self.app = self.sim.add_app(APP_ID, APP_PASSWORD, TENANT_ID)
        self.users: list[SimUser] = [
            self.sim.add_user(TENANT_ID, f"User {i}", email=f"user{i}@{TENANT}")
            for i in range(users)
        ]
        self.target: Target | None = None
        handle = self.sim.api.handle

        def hooked(verb: str, uri: str, authorization: str | None, raw: bytes) -> Any:
            if verb == "POST" and uri.endswith("/activities") and self.target is not None:
                self.target.on_text(raw.decode("utf-8", "replace"), now_ns())
            return handle(verb, uri, authorization, raw)

        self.sim.api.handle = hooked  # type: ignore[method-assign]

    def listen(self, reactor: Any) -> Any:
        port = self.sim.listen(reactor, 0)
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 16
        self.http: Any = HTTPClient(Agent(reactor, pool=pool))
        return port

    def channel(self, web_port: int) -> TeamsChannel:
        return TeamsChannel(
            self.sim, self.app, self.http, f"http://127.0.0.1:{web_port}/teams/messages"
        )

    def conversations(self, channel: TeamsChannel) -> dict[str, list[str]]:
        return {
            channel.conversation(user).id: [f"user{i}@{TENANT}", f"peter{i}@{REMOTE}"]
            for i, user in enumerate(self.users)
        }


async def drive(
    reactor: Any,
    plan: Plan,
    name: str,
    pid: int,
    teams: Teams,
    channel: TeamsChannel,
    stream: PeerStream,
    sequence: int,
    sink_target: list[Target],
) -> tuple[dict[str, Any], int]:
    """
    Both directions against one system. @return: (reports, next sequence).
    """
    users = teams.users
    inbound, outbound = Target(f"{name}-in"), Target(f"{name}-out")
    sink_target[0] = inbound

    def send_in(seq: int, scheduled: int) -> None:
        d = channel.message(users[seq % len(users)], marker(seq, scheduled) + PADDING)
        d.addCallback(lambda _: inbound.on_ack(seq, scheduled))
        d.addErrback(lambda _: None)

    in_steps, sequence = await run_steps(
        reactor, plan, inbound, pid, send_in, sequence, ack_label="ack", at_end=dict
    )
    teams.target = outbound

    def send_out(seq: int, scheduled: int) -> None:
        i = seq % len(users)
        text = marker(seq, scheduled) + PADDING
        stream.write(message_bytes(f"peter{i}@{REMOTE}/r", f"user{i}@{TENANT}", text, f"b{seq}"))

    out_steps, sequence = await run_steps(
        reactor, plan, outbound, pid, send_out, sequence, ack_label="-", at_end=dict
    )
    teams.target = None
    return {"in": in_steps, "out": out_steps}, sequence


async def prepare(reactor: Any, teams: Teams, channel: TeamsChannel) -> None:
    """
    Each user installs the app and picks their contact.
    """
    for i, user in enumerate(teams.users):
        await channel.install(user)
        await channel.message(user, f"chat peter{i}@{REMOTE}")
    await task.deferLater(reactor, 1.0 if len(teams.users) < 100 else 5.0)


async def run(reactor: Any, quick: bool) -> None:
    plan = Plan(quick, users=600)
    directory = Path(tempfile.mkdtemp(prefix="nextplane-b8-"))
    ca, certs = certificates(directory / "certs", TENANT, REMOTE)
    current: list[Target] = [Target("none")]
    sink = XmppSink(REMOTE, certs[REMOTE], ca, lambda text, ns: current[0].on_text(text, ns))
    sink_port = free_port()
    sink_listener = sink.listen(reactor, sink_port)
    teams = Teams(reactor, plan.users)
    sim_port = teams.listen(reactor)
    hub_dir = directory / "hub"
    hub_dir.mkdir()
    await seed(
        reactor,
        hub_dir / "hub.sqlite3",
        TenantRecord(TENANT, "teams", TENANT_ID, "bench contoso"),
        [(f"{TENANT_ID}/{u.id}", u.name) for u in teams.users],
        REMOTE,
    )
    web_port, s2s_port = free_port(), free_port()
    print(
        f"B8: {plan.users} Teams users; steps {plan.rates} msg/s x {plan.duration:.0f} s "
        f"each way; work dir {directory}",
        flush=True,
    )
    teams_section = {
        "app_id": APP_ID,
        "app_password": APP_PASSWORD,
        "tenant_id": TENANT_ID,
        "authority": teams.sim.base_url,
        "openid_metadata_url": teams.sim.metadata_url,
        "service_url": teams.sim.service_url,
        "message_style": "text",
        "requests_per_second": 1000,
        "max_queued": 100_000,
    }
    config = {
        "hub": {"data_dir": str(hub_dir), "log_format": "json"},
        "storage": {"backend": "sqlite", "sqlite_path": str(hub_dir / "hub.sqlite3")},
        "web": {
            "listen": f"tcp:{web_port}:interface=127.0.0.1",
            "public_url": f"http://127.0.0.1:{web_port}",
            "admin_listen": "tcp:0:interface=127.0.0.1",
        },
        "tls": {"ca_certificates": [str(ca.cert)]},
        "tenants": [
            {
                "domain": TENANT,
                "platform": "teams",
                "workspace": TENANT_ID,
                "certificate": str(certs[TENANT].cert),
                "private_key": str(certs[TENANT].key),
            }
        ],
        "federation": {
            "partners": [
                {
                    "domain": REMOTE,
                    "protocol": "xmpp",
                    "route": f"127.0.0.1:{sink_port}",
                    "require_certificates": True,
                }
            ]
        },
        "connectors": {
            "teams": teams_section,
            "xmpp": {
                "listen": f"tcp:{s2s_port}:interface=127.0.0.1",
                "dialback_secret": "bench-dialback-secret-0123456789",
                "require_certificates": True,
                "system_ca": False,
            },
        },
    }

    def peer(port: int) -> XmppPeer:
        return XmppPeer(reactor, REMOTE, certs[REMOTE], ca.cert, {TENANT: f"127.0.0.1:{port}"})

    hub = HubProcess(hub_dir, config)
    await deferToThread(hub.start)
    hub_peer = peer(s2s_port)
    stream: PeerStream | None = None
    try:
        channel = teams.channel(web_port)
        await prepare(reactor, teams, channel)
        stream = await hub_peer.connect(TENANT)
        hub_steps, sequence = await drive(
            reactor, plan, "hub", hub.pid, teams, channel, stream, 0, current
        )
    finally:
        await hub_peer.stop([stream] if stream is not None else [])
        await deferToThread(hub.stop)

    bare_port, bare_s2s = free_port(), free_port()
    bare_config = {
        "app_id": APP_ID,
        "app_password": APP_PASSWORD,
        "tenant_id": TENANT_ID,
        "authority": teams.sim.base_url,
        "service_url": teams.sim.service_url,
        "jwk": teams.sim.key.jwk(),
        "domain": TENANT,
        "remote": REMOTE,
        "sink": f"127.0.0.1:{sink_port}",
        "certificate": str(certs[TENANT].cert),
        "private_key": str(certs[TENANT].key),
        "ca_certificate": str(ca.cert),
        "conversations": teams.conversations(teams.channel(bare_port)),
    }
    (directory / "bare.json").write_text(json.dumps(bare_config))
    baseline = BaselineProcess(
        "bench.b8_bare_relay",
        [
            "--port",
            str(bare_port),
            "--s2s-port",
            str(bare_s2s),
            "--config",
            str(directory / "bare.json"),
        ],
        directory / "bare-relay.log",
    )
    await deferToThread(baseline.start)
    bare_peer = peer(bare_s2s)
    stream = None
    try:
        stream = await bare_peer.connect(TENANT)
        bare_steps, _ = await drive(
            reactor,
            plan,
            "bare",
            baseline.pid,
            teams,
            teams.channel(bare_port),
            stream,
            sequence,
            current,
        )
    finally:
        await bare_peer.stop([stream] if stream is not None else [])
        baseline.stop()
    for listening in (sink_listener, sim_port):
        stopped = listening.stopListening()
        if stopped is not None:
            await stopped

    lines, result = both_ways(
        "B8", hub_steps, bare_steps, {"in": "Teams webhook -> XMPP s2s", "out": "XMPP s2s -> Teams"}
    )
    for line in lines:
        print(line)
    write_result(
        "B8",
        {
            "summary": lines,
            "quick": quick,
            "method": {
                "open_loop": True,
                "step_seconds": plan.duration,
                "users": plan.users,
                "simulator_mode": CAPACITY,
                "holds_when": "achieved >= 99% offered, no loss, e2e p99 <= 200 ms",
            },
            **result,
            "sink": {"streams_authenticated": sink.authenticated, "other": sink.other_stanzas},
            "connector_calls": len(teams.sim.api.calls),
            "spec_violations": len(teams.sim.api.violations),
            "work_dir": str(directory),
        },
    )


def main(argv: list[str]) -> None:
    pin_load_core()
    quick = "--quick" in argv

    def start(reactor: Any) -> Any:
        return defer.ensureDeferred(run(reactor, quick))

    task.react(start)


if __name__ == "__main__":
    main(sys.argv[1:])
