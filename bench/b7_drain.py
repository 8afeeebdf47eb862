#!/usr/bin/env python3
"""
B7: a backlog drains into Slack under Slack's real limits (issue 7).

  python -m bench.b7_drain [--quick] [--conversations C] [--per-conversation M] [--burst]

The hub is built in this process by L{nextplane.tap.build_hub} (SQLite
store in a temporary directory, read cache as configured by default, one
Slack tenant C{hub.test}, the real treq client, its web listener on
loopback) and runs on the real reactor and real time, pinned to core 0.
The Slack simulator (L{nextplane.testing.slack_sim}, C{REAL_LIMITS}: one
C{chat.postMessage} per second per channel, method tiers, 429 with
C{Retry-After}) runs in a child process pinned to core 1 and serves the
Web API over HTTP on 127.0.0.1; it records every call with its arrival
time (both processes read the host's wall clock).

Set-up (not timed): C conversations, each a Slack user of the tenant with
one accepted external contact C{c<i>@r<i mod 10>.test} (an XMPP address),
its private conversation already created in the simulator (the app and
the user are members) and stored as the chat session's Slack reference,
so draining posts only messages (C{conversations.create} is tier 2, 20
per minute: creating 500 conversations would take 25 minutes and is not
what this measures).

The backlog: M messages per conversation, C x M in all, routed as
C{router.route(TextMessage)} from each contact to its Slack user in
round-robin order (message k of every conversation before message k+1),
as an inbound federation stream would hand them over. By default at most
64 routes are in the routing stage at once (admitted again as each
reaches the Slack connector's queue), so routing keeps its order; with
C{--burst} all C x M routes are started in the same instant.

Theory: the first post of every conversation at once, then one per
second per conversation: (M - 1) seconds. Reported: drain time (start of
injection to the last post Slack accepted) vs theory, fairness (each
conversation's completion time, max/min and spread; each conversation's
intervals between posts), lost / duplicated / out of order (sequence
numbers in the text, checked at the simulator), 429s seen, hub RSS and
the connector's queue depth while queued, hub CPU.

Queue limits ([connectors.slack]): C{max_queued} (deliveries that may wait
per conversation, default 1000) must be >= M and is set to
max(1000, M); C{queue_ack_seconds} (default 10) only decides when the
router is answered (posted, or queued that long), not the pace.

Full run: 10,000 messages for 500 conversations (theory 19 s); C{--quick}:
60 messages for 20 conversations (theory 2 s). Results:
C{bench/results/B7.json}.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twisted.internet import defer, task  # noqa: E402

from bench.common import (  # noqa: E402
    HUB_CORE,
    LOAD_CORE,
    cpu_seconds,
    latency_summary,
    pinned,
    rss_kib,
    summary_line,
    write_result,
)

TEAM = "TBENCH0001"
TOKEN = "xoxb-bench-0000-SECRETTOKEN"
SECRET = "bench-signing-secret-0123456789"
DOMAIN = "hub.test"
REMOTE_DOMAINS = 10
WINDOW = 64
TARGET_RATIO = 1.10
FULL = (500, 20)
QUICK = (20, 3)
TEXT = re.compile(r"b7 (\d+) ")


# -- the simulator, in its own process -------------------------------------


def simulator_main(conversations: int, report_path: str, post_interval: float) -> None:
    """
    The child: a REAL_LIMITS simulator with one user and one private
    conversation per conversation index; prints its port and ids as one
    JSON line, then writes what it saw to C{report_path} when a line
    arrives on standard input (or it closes) and exits.
    """
    from twisted.internet import reactor, stdio
    from twisted.protocols.basic import LineReceiver
    from twisted.web.server import Site

    from nextplane.connectors.slack.connector import SCOPES
    from nextplane.testing.slack_sim import REAL_LIMITS, SlackSimulator, Workspace

    workspace = Workspace(
        team_id=TEAM,
        team_name="Bench",
        domain="bench",
        app_id="A0NEXTPLANE",
        bot_id="B0BENCHBOT",
        bot_user_id="U0BENCHBOT",
    )
    workspace.add_token(TOKEN, frozenset(SCOPES))
    users, channels = [], []
    for i in range(conversations):
        user = workspace.add_user(f"u{i}", f"u{i}@{DOMAIN}", f"User {i}")
        channel = workspace.add_channel(
            f"ext-c{i}-u{i}", {user.id, workspace.bot_user_id}, is_private=True
        )
        users.append(user.id)
        channels.append(channel.id)
    sim = SlackSimulator(reactor, workspace, mode=REAL_LIMITS, post_interval=post_interval)
    connections = 0

    class CountingSite(Site):
        def buildProtocol(self, addr: Any) -> Any:
            nonlocal connections
            connections += 1
            return super().buildProtocol(addr)

    # SlackSimulator.listen uses the default backlog of 50: hundreds of
    # simultaneous connects would then wait for SYN retransmissions (1 s,
    # 3 s), which real Slack does not make anyone do.
    site: Any = CountingSite(sim.resource())
    port = reactor.listenTCP(0, site, backlog=1024, interface="127.0.0.1")
    sim.base_url = f"http://127.0.0.1:{getattr(port.getHost(), 'port', 0)}"

    def report() -> None:
        posts = [
            (call.time, call.args.get("channel"), call.args.get("text"))
            for call in sim.calls
            if call.method == "chat.postMessage" and call.error is None
        ]
        data = {
            "posts": posts,
            "calls": Counter(f"{c.method} {c.status}" for c in sim.calls),
            "rate_limited": [
                (r.time, r.method, r.channel, r.retry_after) for r in sim.rate_limited
            ],
            "violations": [(v.method, list(v.messages)) for v in sim.violations],
            "rss_kib": rss_kib(os.getpid()),
            "connections": connections,
        }
        Path(report_path).write_text(json.dumps(data))
        port.stopListening()
        reactor.stop()

    class Control(LineReceiver):
        delimiter = b"\n"
        done = False

        def lineReceived(self, line: bytes) -> None:
            self.finish()

        def connectionLost(self, reason: Any = None) -> None:
            self.finish()

        def finish(self) -> None:
            if not Control.done:
                Control.done = True
                report()

    stdio.StandardIO(Control())
    print(json.dumps({"base_url": sim.base_url, "users": users, "channels": channels}), flush=True)
    reactor.run()


class SimulatorProcess:
    """
    The simulator child, pinned to the load core.
    """

    def __init__(self, directory: Path, conversations: int, post_interval: float) -> None:
        self.report_path = directory / "sim-report.json"
        self.process = subprocess.Popen(
            pinned(
                [
                    sys.executable,
                    "-m",
                    "bench.b7_drain",
                    "--simulator",
                    str(conversations),
                    str(post_interval),
                    str(self.report_path),
                ],
                LOAD_CORE,
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator exited ({self.process.wait()})")
        hello = json.loads(line)
        self.base_url: str = hello["base_url"]
        self.users: list[str] = hello["users"]
        self.channels: list[str] = hello["channels"]

    def report(self, timeout: float = 60.0) -> dict[str, Any]:
        """
        Ask for what it saw, and wait for it to exit.
        """
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b"report\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait(timeout)
        data: dict[str, Any] = json.loads(self.report_path.read_text())
        return data

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- the hub ---------------------------------------------------------------


def hub_config(directory: Path, base_url: str, per_conversation: int) -> dict[str, Any]:
    """
    The hub's configuration, as its TOML file would hold it.
    """
    # Only federation connectors load tenant certificates; none runs here.
    certificate, key = directory / "hub.test.crt", directory / "hub.test.key"
    certificate.write_text("unused\n")
    key.write_text("unused\n")
    return {
        "hub": {"data_dir": str(directory)},
        "storage": {"backend": "sqlite", "sqlite_path": str(directory / "hub.sqlite3")},
        "web": {
            "listen": "tcp:0:interface=127.0.0.1",
            "admin_listen": "tcp:0:interface=127.0.0.1",
        },
        "router": {"delivery_timeout": 60},
        "tenants": [
            {
                "domain": DOMAIN,
                "platform": "slack",
                "workspace": TEAM,
                "certificate": str(certificate),
                "private_key": str(key),
            }
        ],
        "connectors": {
            "slack": {
                "signing_secret": SECRET,
                "api_base_url": f"{base_url}/api/",
                "file_hosts": [],
                "max_queued": max(1000, per_conversation),
                "queue_ack_seconds": 10,
                "workspaces": {TEAM: {"bot_token": TOKEN}},
            }
        },
    }


async def populate(hub: Any, sim: SimulatorProcess, now: datetime) -> list[tuple[Any, Any]]:
    """
    Users, accepted contacts, sessions and their Slack conversations;
    returns (contact, user) address pairs by conversation index.
    """
    from nextplane.model.address import Address
    from nextplane.storage.records import (
        ContactDirection,
        ContactRecord,
        ContactState,
        UserRecord,
    )

    store = hub.store
    pairs = []

    async def one(i: int) -> None:
        user = Address(f"u{i}", DOMAIN)
        contact = Address(f"c{i}", f"r{i % REMOTE_DOMAINS}.test")
        await store.put_user(
            UserRecord(user, DOMAIN, "slack", f"{TEAM}:{sim.users[i]}", f"User {i}")
        )
        await store.put_contact(
            ContactRecord(user, contact, ContactState.ACCEPTED, ContactDirection.OUTBOUND, now, now)
        )
        session = await store.get_or_create_session(user, contact, now)
        await store.set_session_ref(session.session_id, f"slack:{TEAM}", sim.channels[i])

    for i in range(len(sim.channels)):
        pairs.append((Address(f"c{i}", f"r{i % REMOTE_DOMAINS}.test"), Address(f"u{i}", DOMAIN)))
    await defer.gatherResults([defer.Deferred.fromCoroutine(one(i)) for i in range(len(pairs))])
    return pairs


class Sampler:
    """
    Hub RSS and the Slack connector's queue depth, every 0.25 s.
    """

    def __init__(self, reactor: Any, slack: Any) -> None:
        self.samples: list[tuple[float, int, int]] = []
        self._slack = slack
        self._start = time.monotonic()
        self._loop = task.LoopingCall(self.sample)
        self._loop.clock = reactor
        self._loop.start(0.25)

    def sample(self) -> None:
        queued = int(self._slack.health()["queued"])
        self.samples.append((time.monotonic() - self._start, rss_kib(os.getpid()), queued))

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()


async def drain(
    reactor: Any,
    conversations: int,
    per_conversation: int,
    burst: bool,
    post_interval: float,
    directory: Path,
) -> dict[str, Any]:
    from nextplane.config import parse_config
    from nextplane.connectors.registry import CONNECTORS
    from nextplane.model.events import TextMessage
    from nextplane.model.text import RichText
    from nextplane.tap import build_hub

    # One more conversation, for warming up the hub and the simulator.
    sim = SimulatorProcess(directory, conversations + 1, post_interval)
    hub: Any = None
    try:
        config = parse_config(
            hub_config(directory, sim.base_url, per_conversation), environ={}, registry=CONNECTORS
        )
        hub = build_hub(config, reactor)
        hub.startService()
        await hub.started
        slack = hub.connectors["slack"]
        await slack.ready
        workspace_state = slack.health()["workspaces"][TEAM]["state"]
        if workspace_state != "ok":
            raise RuntimeError(f"the Slack workspace is {workspace_state}, not ok")
        everyone = await populate(hub, sim, datetime.now(UTC))
        pairs, warm_pair = everyone[:conversations], everyone[conversations]
        router = hub.router

        # Warm up: three posts in the spare conversation (code paths, the
        # simulator's first-call costs, the connection pool), then wait.
        warm_up = [
            router.route(
                TextMessage(
                    sender=warm_pair[0],
                    recipient=warm_pair[1],
                    body=RichText.plain(f"b7w {n}"),
                )
            )
            for n in range(3)
        ]
        await defer.gatherResults(warm_up)
        while slack.health()["queued"]:
            await task.deferLater(reactor, 0.05, lambda: None)
        await task.deferLater(reactor, 1.0, lambda: None)

        # The backlog, built before the clock starts: round-robin order.
        events = []
        for k in range(per_conversation):
            for i, (contact, user) in enumerate(pairs):
                sequence = k * conversations + i
                body = RichText.plain(f"b7 {sequence} " + "x" * 90)
                events.append(TextMessage(sender=contact, recipient=user, body=body))
        conversation_of = {e.event_id: n % conversations for n, e in enumerate(events)}
        sequence_of = {e.event_id: n for n, e in enumerate(events)}

        handed: dict[str, float] = {}
        slots: list[defer.Deferred[None]] = []
        in_routing = 0

        def release() -> None:
            nonlocal in_routing
            in_routing -= 1
            if slots:
                slots.pop(0).callback(None)

        original_deliver = slack.deliver

        handed_order: dict[int, list[int]] = {}

        def deliver(event: Any) -> Any:
            if event.event_id in conversation_of and event.event_id not in handed:
                handed[event.event_id] = reactor.seconds()
                sequence = sequence_of[event.event_id]
                handed_order.setdefault(sequence % conversations, []).append(sequence)
                if not burst:
                    release()
            return original_deliver(event)

        slack.deliver = deliver

        rss_before = rss_kib(os.getpid())
        cpu_before = cpu_seconds(os.getpid())
        sim_cpu_before = cpu_seconds(sim.process.pid)
        sampler = Sampler(reactor, slack)
        start = reactor.seconds()
        outcomes: list[defer.Deferred[Any]] = []
        admitted: dict[str, float] = {}
        for event in events:
            if not burst:
                while in_routing >= WINDOW:
                    slot: defer.Deferred[None] = defer.Deferred()
                    slots.append(slot)
                    await slot
                in_routing += 1

            def routed(outcome: Any, event_id: str = event.event_id) -> Any:
                if not burst and event_id not in handed:
                    handed[event_id] = -1.0  # refused or failed before the connector
                    release()
                return outcome

            admitted[event.event_id] = reactor.seconds()
            outcomes.append(router.route(event).addCallback(routed))
        injected = reactor.seconds() - start
        results = await defer.gatherResults(outcomes)
        acknowledged = reactor.seconds() - start
        # Everything was acknowledged (posted or queued long enough); wait
        # for the queue to empty, bounded.
        deadline = reactor.seconds() + per_conversation * 3 + 60
        while slack.health()["queued"] and reactor.seconds() < deadline:
            await task.deferLater(reactor, 0.1, lambda: None)
        emptied = reactor.seconds() - start
        sampler.stop()
        cpu_used = cpu_seconds(os.getpid()) - cpu_before
        sim_cpu_used = cpu_seconds(sim.process.pid) - sim_cpu_before
        health = slack.health()
        cache = hub.store.stats() if hasattr(hub.store, "stats") else None
        slack.deliver = original_deliver
        await hub.stopService()
        hub = None
        report = sim.report()
    finally:
        if hub is not None:
            await hub.stopService()
        sim.kill()

    not_delivered = Counter(
        f"{o.condition}: {o.reason}" for o in results if not getattr(o, "delivered", False)
    )
    handed_times = [t - start for t in handed.values() if t >= 0]
    return analyse(
        report,
        conversations=conversations,
        per_conversation=per_conversation,
        start=start,
        sim_channels=sim.channels[:conversations],
        extra={
            "injection": {
                "mode": "burst (all at once)" if burst else f"window of {WINDOW} in routing",
                "injected_s": injected,
                "all_handed_to_slack_s": max(handed_times) if handed_times else None,
                "all_acknowledged_s": acknowledged,
                "queue_empty_s": emptied,
            },
            "router_outcomes": {
                "delivered": sum(1 for o in results if getattr(o, "delivered", False)),
                "not_delivered": dict(not_delivered),
            },
            "connector": {
                "late_failures": health["late_failures"],
                "messages_out": health["messages_out"],
                "queued_at_end": health["queued"],
            },
            "hub": {
                "rss_before_kib": rss_before,
                "rss_peak_kib": max((s[1] for s in sampler.samples), default=rss_before),
                "queued_peak": max((s[2] for s in sampler.samples), default=0),
                "samples": sampler.samples,
                "cpu_seconds": cpu_used,
                "cpu_percent": 100 * cpu_used / emptied if emptied else None,
                "cache": cache,
            },
            "simulator": {
                "rss_kib": report.get("rss_kib"),
                "http_connections": report.get("connections"),
                "cpu_seconds": sim_cpu_used,
                "cpu_percent": 100 * sim_cpu_used / emptied if emptied else None,
            },
            "handed_to_connector_out_of_order": sum(
                1 for order in handed_order.values() for a, b in pairwise(order) if b < a
            ),
            "handed_out_of_order_examples": [
                {
                    "sequences": [a, b],
                    "admitted_s": [
                        admitted[events[a].event_id] - start,
                        admitted[events[b].event_id] - start,
                    ],
                    "handed_s": [
                        handed[events[a].event_id] - start,
                        handed[events[b].event_id] - start,
                    ],
                }
                for order in handed_order.values()
                for a, b in pairwise(order)
                if b < a
            ][:10],
        },
    )


def analyse(
    report: dict[str, Any],
    *,
    conversations: int,
    per_conversation: int,
    start: float,
    sim_channels: list[str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """
    Drain time, fairness, loss and pacing from the simulator's record.
    """
    index = {channel: i for i, channel in enumerate(sim_channels)}
    per_channel: dict[int, list[tuple[float, int]]] = {i: [] for i in range(conversations)}
    seen: Counter[int] = Counter()
    foreign = 0
    for when, channel, text in report["posts"]:
        match = TEXT.match(text or "")
        if match is None or channel not in index:
            foreign += 1
            continue
        sequence = int(match.group(1))
        seen[sequence] += 1
        per_channel[index[channel]].append((when - start, sequence))
    sent = conversations * per_conversation
    lost = sum(1 for s in range(sent) if seen[s] == 0)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    misplaced = sum(
        1
        for i, posts in per_channel.items()
        for _, sequence in posts
        if sequence % conversations != i
    )
    out_of_order = sum(
        1 for posts in per_channel.values() for (_, a), (_, b) in pairwise(sorted(posts)) if b < a
    )
    completions = [max(t for t, _ in posts) for posts in per_channel.values() if posts]
    firsts = [min(t for t, _ in posts) for posts in per_channel.values() if posts]
    intervals = [
        (b - a) * 1000
        for posts in per_channel.values()
        for (a, _), (b, _) in pairwise(sorted(posts))
    ]
    theory = float(per_conversation - 1)
    drain_time = max(completions) if completions else float("nan")
    rate_limited = report["rate_limited"]
    return {
        "conversations": conversations,
        "per_conversation": per_conversation,
        "messages": sent,
        "theory_s": theory,
        "drain_s": drain_time,
        "ratio": drain_time / theory if theory else None,
        "excess_s": drain_time - theory,
        "posts_seen": sum(seen.values()),
        "lost": lost,
        "duplicated": duplicated,
        "misplaced": misplaced,
        "out_of_order": out_of_order,
        "other_posts": foreign,
        "fairness": {
            "completion_min_s": min(completions) if completions else None,
            "completion_max_s": max(completions) if completions else None,
            "completion_max_over_min": max(completions) / min(completions)
            if completions and min(completions) > 0
            else None,
            "completion": latency_summary(c * 1000 for c in completions),
            "first_post": latency_summary(f * 1000 for f in firsts),
            "interval": latency_summary(intervals),
        },
        "rate_limited_429": len(rate_limited),
        "rate_limited_by_method": dict(Counter(r[1] for r in rate_limited)),
        "per_second": _per_second(
            [when - start for when, _, _ in report["posts"]], [r[0] - start for r in rate_limited]
        ),
        "rate_limited_examples": [
            {"at_s": r[0] - start, "method": r[1], "channel": r[2], "retry_after": r[3]}
            for r in rate_limited[:20]
        ],
        "timeline_examples": {
            sim_channels[i]: sorted(per_channel[i])[:10] for i in range(min(3, conversations))
        },
        "spec_violations": len(report["violations"]),
        "violation_examples": report["violations"][:5],
        "simulator_calls": report["calls"],
        **extra,
    }


def _per_second(posts: list[float], limited: list[float]) -> list[tuple[int, int, int]]:
    """
    (second since the start, posts accepted, 429s) for every second.
    """
    accepted = Counter(int(t // 1) for t in posts if t >= 0)
    refused = Counter(int(t // 1) for t in limited if t >= 0)
    last = max([*accepted, *refused], default=-1)
    return [(second, accepted[second], refused[second]) for second in range(last + 1)]


def summarise(
    name: str, result: dict[str, Any], memory: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """
    Summary lines and targets of one run; the memory line only when
    C{memory} (a later run in the same process starts with the first
    one's memory).
    """
    fairness = result["fairness"]
    interval = fairness["interval"]
    hub = result["hub"]
    met = result["ratio"] is not None and result["ratio"] <= TARGET_RATIO
    intact = result["lost"] == 0 and result["duplicated"] == 0
    ordered = result["out_of_order"] == 0
    lines = [
        summary_line(
            f"B7-{name}",
            result["drain_s"],
            f"s drain, {result['messages']} msgs / {result['conversations']} convs",
            {"theory": result["ratio"]},
            f"theory {result['theory_s']:.0f} s, target <= {TARGET_RATIO:.2f}: "
            f"{'met' if met else 'MISSED'}  lost {result['lost']}  dup {result['duplicated']}  "
            f"out-of-order {result['out_of_order']} (router handed "
            f"{result['handed_to_connector_out_of_order']} out of order)  "
            f"429s {result['rate_limited_429']}/{result['posts_seen']} posts",
        ),
        summary_line(
            f"B7-{name}-fair",
            fairness["completion_max_over_min"] or float("nan"),
            "max/min conversation completion",
            {},
            f"completion {fairness['completion_min_s']:.1f}-{fairness['completion_max_s']:.1f} s  "
            f"first post p50/max {fairness['first_post']['p50_ms']:.0f}/"
            f"{fairness['first_post']['max_ms']:.0f} ms  interval p50/p90/p99/max "
            f"{interval['p50_ms']:.0f}/{interval['p90_ms']:.0f}/{interval['p99_ms']:.0f}/"
            f"{interval['max_ms']:.0f} ms",
        ),
    ]
    if memory:
        lines.append(
            summary_line(
                f"B7-{name}-mem",
                (hub["rss_peak_kib"] - hub["rss_before_kib"]) / 1024,
                "MiB hub RSS growth while queued",
                {},
                f"RSS {hub['rss_before_kib'] / 1024:.0f} -> peak "
                f"{hub['rss_peak_kib'] / 1024:.0f} MiB"
                f"  queued peak {hub['queued_peak']}  CPU hub {hub['cpu_percent']:.0f}% "
                f"sim {result['simulator']['cpu_percent']:.0f}%  all in the Slack queue at "
                f"{result['injection']['all_handed_to_slack_s'] or float('nan'):.2f} s",
            )
        )
    targets = {
        f"{name}_drain_vs_theory": {
            "what": f"drain time <= {TARGET_RATIO:.2f} x theory ((M - 1) s)",
            "figure": result["ratio"],
            "limit": TARGET_RATIO,
            "met": met,
        },
        f"{name}_nothing_lost": {
            "what": "no message lost or duplicated",
            "figure": {"lost": result["lost"], "duplicated": result["duplicated"]},
            "met": intact,
        },
        f"{name}_in_order": {
            "what": "each conversation's messages posted in the order they were routed",
            "figure": result["out_of_order"],
            "met": ordered,
        },
    }
    return lines, targets


def _option(argv: tuple[str, ...], name: str, default: int) -> int:
    if name in argv:
        return int(argv[argv.index(name) + 1])
    return default


#: The simulator's C{post_interval} per run: Slack's documented limit as
#: the simulator enforces it (strictly: the next post's arrival at least
#: 1 s after the previous one's), and the same with 50 ms of tolerance,
#: which tells the hub's own pace apart from 429s caused by jitter.
RUNS = {"strict": 1.0, "tolerant": 0.95}


def main(reactor: Any, *argv: str) -> defer.Deferred[None]:
    quick = "--quick" in argv
    conversations, per_conversation = QUICK if quick else FULL
    conversations = _option(argv, "--conversations", conversations)
    per_conversation = _option(argv, "--per-conversation", per_conversation)
    burst = "--burst" in argv
    runs = {"strict": RUNS["strict"]} if quick else dict(RUNS)
    pinned_to = None
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {HUB_CORE})
        pinned_to = HUB_CORE

    async def run() -> None:
        started = time.monotonic()
        results: dict[str, Any] = {}
        lines: list[str] = []
        targets: dict[str, Any] = {}
        for name, post_interval in runs.items():
            print(
                f"B7 {name}: {conversations * per_conversation} messages for {conversations} "
                f"conversations, simulator post interval {post_interval} s, "
                f"theory {per_conversation - 1} s",
                flush=True,
            )
            with tempfile.TemporaryDirectory(prefix="nextplane-b7-") as directory:
                result = await drain(
                    reactor, conversations, per_conversation, burst, post_interval, Path(directory)
                )
            result["simulator_post_interval"] = post_interval
            run_lines, run_targets = summarise(name, result, memory=not results)
            results[name] = result
            for line in run_lines:
                print(line, flush=True)
            lines.extend(run_lines)
            targets.update(run_targets)
        write_result(
            "B7",
            {
                "quick": quick,
                "summary": lines,
                "targets": targets,
                "method": {
                    "hub": "in process (build_hub, SQLite, default read cache), real reactor",
                    "simulator": "slack_sim REAL_LIMITS in a child process over HTTP on loopback",
                    "runs": {name: {"simulator_post_interval": v} for name, v in runs.items()},
                    "injection": "router.route(TextMessage) from each XMPP contact to its Slack "
                    "user, round-robin over conversations; "
                    + ("all at once" if burst else f"at most {WINDOW} routes before hand-over"),
                    "pinned": {"hub": pinned_to, "simulator": LOAD_CORE if pinned_to else None},
                    "queue_limits": {
                        "max_queued": max(1000, per_conversation),
                        "queue_ack_seconds": 10,
                        "note": "max_queued (per conversation) >= messages per conversation",
                    },
                },
                "runs": results,
                "seconds": time.monotonic() - started,
            },
        )

    return defer.Deferred.fromCoroutine(run())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--simulator":
        simulator_main(int(sys.argv[2]), sys.argv[4], float(sys.argv[3]))
    else:
        task.react(main, sys.argv[1:])
