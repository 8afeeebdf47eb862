"""
B9: Webex <-> XMPP s2s through the hub (issue 12).

  python -m bench.b9_webex [--quick] [--rates 100,250,500] [--step 5]

Topology (loopback; the hub on core 0, this load process on core 1)::

    Webex simulator --signed webhook POST /webex/events--> hub --GET /messages/{id}-->
        Webex simulator; hub --s2s--> XmppSink (widget.test)
    XmppPeer (widget.test) --s2s--> hub --POST /messages--> Webex simulator

The Webex simulator (CAPACITY mode: no 429s, so the hub's own pace is
measured) serves the REST API on loopback and signs and posts the webhook
deliveries; tenant C{acme.test} has users C{user<i>}, each with one
accepted contact C{peter<i>@widget.test} seeded in the hub's database.

Two directions, open loop, fixed rate steps (L{bench.b2_b3_common}):
  - C{in}: a Webex user's message -> s2s: scheduled post -> the stanza at
    the sink; C{ack} is the webhook delivery's answer;
  - C{out}: s2s -> Webex: scheduled send -> the C{POST /messages} at the
    simulator. (Each post fires a webhook back to the hub, which drops the
    bot's own messages, as Webex does.)

Baseline in the same run: L{bench.b9_bare_relay} (HMAC check, one GET, one
s2s stream; s2s in, one POST), on the hub's core, same steps; the
webhooks are pointed at it for its run.
Results: C{bench/results/B9.json}; summary lines with ratios to the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import defer, task  # noqa: E402
from twisted.internet.threads import deferToThread  # noqa: E402

from bench.b2_b3_common import (  # noqa: E402
    BaselineProcess,
    both_ways,
    certificates,
    free_port,
    pin_load_core,
    run_steps,
)
from bench.common import HubProcess, now_ns, write_result  # noqa: E402
from bench.gated_http import GatedClient  # noqa: E402
from bench.slack_side import marker  # noqa: E402
from bench.two_way import Plan, Target, seed  # noqa: E402
from bench.xmpp_peer import PeerStream, XmppPeer, message_bytes  # noqa: E402
from bench.xmpp_sink import XmppSink  # noqa: E402
from nextplane.storage.records import (  # noqa: E402
    TenantRecord,
)
from nextplane.testing.webex_sim import CAPACITY, WebexSimulator, WebhookSender  # noqa: E402
from nextplane.testing.webex_sim.state import SimPerson  # noqa: E402

TENANT = "acme.test"
REMOTE = "widget.test"
BOT_TOKEN = "bench-webex-bot-token"
SECRET = "bench-webex-hook-secret-0123"
PADDING = " lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor"


class Webex:
    """
    The simulated Webex in this process: the bot, the users and their
    direct spaces, and a hook on every C{POST /messages} (C{out} arrivals).
    """

    def __init__(self, reactor: Any, users: int) -> None:
        self.sender = WebhookSender(GatedClient(reactor, 32), reactor)
        self.sim = WebexSimulator(reactor, mode=CAPACITY, sender=self.sender)
        state = self.sim.state
        self.bot = state.add_person("nextplane@webex.bot", "nextplane", bot=True, token=BOT_TOKEN)
        self.users: list[SimPerson] = [
            state.add_person(f"user{i}@{TENANT}", f"User {i}", token=f"user{i}")
            for i in range(users)
        ]
        self.rooms = [self.sim.world.direct_room(self.bot, u.id, None).id for u in self.users]
        self.target: Target | None = None
        create = self.sim._handlers[("POST", "/messages")]

        def hooked(person: Any, params: Any, query: Any, body: Any) -> Any:
            if self.target is not None and isinstance(body, dict):
                self.target.on_text(str(body.get("text", "")), now_ns())
            return create(person, params, query, body)

        self.sim._handlers[("POST", "/messages")] = hooked

    def listen(self, reactor: Any) -> Any:
        return self.sim.listen(reactor, 0)

    def point_webhooks(self, url: str) -> None:
        """
        Deliver every webhook to C{url} (the bare relay's run), re-enabled
        with a clean failure window, as the hub's keeper does at start: the
        hub's run, if overloaded, may have had one disabled (100 failed
        deliveries in 5 minutes), which left the bare relay nothing to relay.
        """
        for hook in self.sim.state.webhooks.values():
            hook.target_url = url
            hook.status = "active"
            hook.failures.clear()


async def drive(
    reactor: Any,
    plan: Plan,
    name: str,
    pid: int,
    webex: Webex,
    stream: PeerStream,
    sequence: int,
    sink_target: list[Target],
) -> tuple[dict[str, Any], int]:
    """
    Both directions against one system. @return: (reports, next sequence).
    """
    users, world = webex.users, webex.sim.world
    inbound, outbound = Target(f"{name}-in"), Target(f"{name}-out")
    sink_target[0] = inbound

    def send_in(seq: int, scheduled: int) -> None:
        i = seq % len(users)
        before = len(world.deliveries)
        world.user_posts(users[i].id, webex.rooms[i], text=marker(seq, scheduled) + PADDING)
        for d in world.deliveries[before:]:
            d.addCallback(lambda _: inbound.on_ack(seq, scheduled))
        del world.deliveries[:]  # bounded: the load keeps no history

    in_steps, sequence = await run_steps(
        reactor, plan, inbound, pid, send_in, sequence, ack_label="ack", at_end=dict
    )
    webex.target = outbound

    def send_out(seq: int, scheduled: int) -> None:
        i = seq % len(users)
        text = marker(seq, scheduled) + PADDING
        stream.write(message_bytes(f"peter{i}@{REMOTE}/r", f"user{i}@{TENANT}", text, f"b{seq}"))

    out_steps, sequence = await run_steps(
        reactor, plan, outbound, pid, send_out, sequence, ack_label="-", at_end=dict
    )
    webex.target = None
    del world.deliveries[:]
    return {"in": in_steps, "out": out_steps}, sequence


async def run(
    reactor: Any, quick: bool, rates: list[float] | None = None, step: float | None = None
) -> None:
    plan = Plan(quick, users=500)
    if rates:
        plan.rates, plan.profile_rate = rates, rates[0]
    if step:
        plan.duration = step
    directory = Path(tempfile.mkdtemp(prefix="nextplane-b9-"))
    ca, certs = certificates(directory / "certs", TENANT, REMOTE)
    current: list[Target] = [Target("none")]
    sink = XmppSink(REMOTE, certs[REMOTE], ca, lambda text, ns: current[0].on_text(text, ns))
    sink_port = free_port()
    sink_listener = sink.listen(reactor, sink_port)
    webex = Webex(reactor, plan.users)
    sim_port = webex.listen(reactor)
    hub_dir = directory / "hub"
    hub_dir.mkdir()
    await seed(
        reactor,
        hub_dir / "hub.sqlite3",
        TenantRecord(TENANT, "webex", "org", "bench acme"),
        [(u.id, u.display_name) for u in webex.users],
        REMOTE,
    )
    web_port, s2s_port = free_port(), free_port()
    print(
        f"B9: {plan.users} Webex users; steps {plan.rates} msg/s x {plan.duration:.0f} s "
        f"each way; work dir {directory}",
        flush=True,
    )
    config = {
        "hub": {"data_dir": str(hub_dir), "log_format": "json"},
        "storage": {"backend": "sqlite", "sqlite_path": str(hub_dir / "hub.sqlite3")},
        "web": {
            "listen": f"tcp:{web_port}:interface=127.0.0.1",
            "public_url": f"http://127.0.0.1:{web_port}",
        },
        "tls": {"ca_certificates": [str(ca.cert)]},
        "tenants": [
            {
                "domain": TENANT,
                "platform": "webex",
                "workspace": "org",
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
            "webex": {
                "bot_token": BOT_TOKEN,
                "webhook_secret": SECRET,
                "api_base_url": webex.sim.world.base_url,
                "max_queued": 100_000,
            },
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
        await task.deferLater(reactor, 1.0)  # the hub keeps its webhooks at start
        stream = await hub_peer.connect(TENANT)
        hub_steps, sequence = await drive(reactor, plan, "hub", hub.pid, webex, stream, 0, current)
    finally:
        await hub_peer.stop([stream] if stream is not None else [])
        await deferToThread(hub.stop)

    bare_port, bare_s2s = free_port(), free_port()
    bare_config = {
        "bot_token": BOT_TOKEN,
        "bot_id": webex.bot.id,
        "secret": SECRET,
        "base_url": webex.sim.world.base_url,
        "domain": TENANT,
        "remote": REMOTE,
        "sink": f"127.0.0.1:{sink_port}",
        "certificate": str(certs[TENANT].cert),
        "private_key": str(certs[TENANT].key),
        "ca_certificate": str(ca.cert),
        "people": {
            u.id: [f"user{i}@{TENANT}", f"peter{i}@{REMOTE}"] for i, u in enumerate(webex.users)
        },
    }
    (directory / "bare.json").write_text(json.dumps(bare_config))
    hook_status = {h.resource + ":" + h.event: h.status for h in webex.sim.state.webhooks.values()}
    print(f"B9: webhooks after the hub's run: {hook_status}", flush=True)
    webex.point_webhooks(f"http://127.0.0.1:{bare_port}/webex/events")
    baseline = BaselineProcess(
        "bench.b9_bare_relay",
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
            reactor, plan, "bare", baseline.pid, webex, stream, sequence, current
        )
    finally:
        await bare_peer.stop([stream] if stream is not None else [])
        baseline.stop()
    bare_errors = [
        line
        for line in (directory / "bare-relay.log").read_text(errors="replace").splitlines()
        if line.startswith("errors ")
    ]
    print(f"B9: bare relay {bare_errors[-1] if bare_errors else 'printed no error totals'}")
    for listening in (sink_listener, sim_port):
        stopped = listening.stopListening()
        if stopped is not None:
            await stopped

    lines, result = both_ways(
        "B9", hub_steps, bare_steps, {"in": "Webex webhook -> XMPP s2s", "out": "XMPP s2s -> Webex"}
    )
    for line in lines:
        print(line)
    write_result(
        "B9",
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
            "rest_calls": len(webex.sim.calls),
            "webhook_attempts": len(webex.sender.attempts),
            "webhook_failures": sum(
                1 for a in webex.sender.attempts if a.status is None or not 200 <= a.status < 300
            ),
            "spec_violations": len(webex.sim.violations),
            "webhooks_after_hub_run": hook_status,
            "bare_relay_errors": bare_errors[-1] if bare_errors else None,
            "work_dir": str(directory),
        },
    )


def main(argv: list[str]) -> None:
    pin_load_core()
    parser = argparse.ArgumentParser(prog="python -m bench.b9_webex")
    parser.add_argument("--quick", action="store_true", help="20 users, one 40 msg/s step")
    parser.add_argument("--rates", help="comma-separated msg/s steps (default 100,250,500,1000)")
    parser.add_argument("--step", type=float, help="seconds per step (default 8)")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")] if args.rates else None

    def start(reactor: Any) -> Any:
        return defer.ensureDeferred(run(reactor, args.quick, rates, args.step))

    task.react(start)


if __name__ == "__main__":
    main(sys.argv[1:])
