"""
B1: XMPP s2s inbound to Slack (issue 7), with its two baselines.

  python -m bench.b1_xmpp_to_slack [--quick] [--profile RATE] [--only hub,bare,prosody]
                                   [--knee K]

Load: a remote XMPP server (L{bench.xmpp_peer.XmppPeer}, C{widget.test})
opens one authenticated s2s stream (STARTTLS + SASL EXTERNAL) to the
system under test and writes 1:1 chat messages on a fixed schedule (open
loop, L{bench.common.OpenLoop}), round-robin over C conversations (S remote
senders x U Slack users). Each body carries its sequence number and
scheduled send time; the sink records latency from the scheduled time.

Systems, each on core 0 while the load process (generator + sink) runs on
core 1, all on loopback:

  hub      C{twistd nextplane} (SQLite), tenant C{acme.test} on Slack; the
           Slack simulator (CAPACITY mode, L{bench.slack_side}) is the sink.
           Contacts, users and their private conversations are seeded in
           the database first. The hub paces C{chat.postMessage} at one per
           second per conversation (Slack's limit), so C is chosen well
           above the highest rate (see L{conversations_for}).
  bare     L{bench.bare_relay}: nextplane's s2s inbound code, XML parse, one
           treq POST C{chat.postMessage} per message, no routing, policy or
           storage: the ceiling of this stack. Same simulator as sink.
  prosody  Debian Prosody (L{bench.prosody_relay}), rate limits raised,
           relaying the same s2s stream to c2s clients in the load process.

Rate steps: 100, 250, 500, 1000, 1500, 2000, 3000, ... msg/s; each step has
a short warm-up then a measured window; stepping stops when achieved < 99%
of offered, p99 > 200 ms, or messages are missing after the drain period.
Figures: the knee (highest step with achieved >= 99% of offered, p99 < 50
ms, all arrived in time, none duplicated) and p99 at 500 msg/s; the
system's CPU share per step. Results: C{bench/results/B1.json}.

Late or lost (L{bench.fates}): after each step's drain deadline the bench
keeps waiting, bounded, until every message arrived or its sender was
told (a stanza error back to the peer), or nothing moved for a few
seconds. Each step then reports C{arrived_in_time} (= C{received}),
C{arrived_late}, C{told}, C{lost} (never arrived, sender never told),
C{ambiguous} and C{settle_seconds}; C{missing_at_drain} is what was
missing at the deadline (what C{lost} counted before issue 16) and
C{missing_at_end} what was still missing once every step ran. A system's
C{lost} sums its steps' C{lost}; C{late} and C{told} likewise.

Overload (hub only, C{overload} in its result): one more step at twice
the measured knee (twice the first rate when no step passed), judged on
loss, not speed: C{lost} must be 0 (target "zero lost at 2x knee").
C{--knee K} skips the hub's rate steps and runs only that step, at 2 K.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from bench.common import (
    HUB_CORE,
    LOAD_CORE,
    RESULTS,
    ROOT,
    HubProcess,
    OpenLoop,
    SequenceTally,
    cpu_seconds,
    pinned,
    rss_kib,
    summary_line,
    write_result,
)
from bench.fates import fates, settle
from bench.profiling import top_functions
from bench.prosody_relay import ProsodyRelay
from bench.slack_side import SlackTenant, marker, parse_marker
from bench.xmpp_peer import PeerStream, XmppPeer
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.model.address import Address

HUB_DOMAIN = "acme.test"
PEER_DOMAIN = "widget.test"

FULL_RATES = (100, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000)
QUICK_RATES = (100,)
#: Stop stepping above this p99 (ms).
STOP_P99_MS = 200.0
#: The knee's latency objective (ms).
SLO_P99_MS = 50.0


def free_port() -> int:
    """
    A TCP port free on 127.0.0.1 right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def conversations_for(top_rate: float) -> tuple[int, int]:
    """
    (remote senders, Slack users) so that round-robin over all
    conversations keeps each under one post per 0.75 s at C{top_rate}: the
    hub's own Slack pacing (1/s per conversation) must not be what is
    measured.
    """
    senders = 50
    users = max(4, int(top_rate * 1.33 / senders) + 1)
    return senders, users


class Load:
    """
    The generator side: round-robin conversations, pre-built stanza
    templates, writes coalesced per reactor turn.
    """

    def __init__(self, reactor: Any, senders: int, users: int, padding: int = 60) -> None:
        self.reactor = reactor
        self.pairs = [
            (Address(f"sender{s}", PEER_DOMAIN), Address(f"user{u}", HUB_DOMAIN))
            for u in range(users)
            for s in range(senders)
        ]
        # Interleave so consecutive messages go to different users and senders.
        self.pairs.sort(key=lambda p: (int(p[0].local[6:]) + int(p[1].local[4:])) % senders)
        self.templates = [
            (
                f"<message from='{sender}/load' to='{user}' type='chat' id='b".encode(),
                b"'><body>",
                (" " + "x" * padding + "</body></message>").encode(),
            )
            for sender, user in self.pairs
        ]
        self.stream: PeerStream | None = None
        self.scheduled: dict[int, int] = {}
        self._buffer: list[bytes] = []
        self._flush_pending = False

    def send(self, sequence: int, scheduled_ns: int) -> None:
        """
        Queue message C{sequence} (OpenLoop's callback); flushed this turn.
        """
        head, middle, tail = self.templates[sequence % len(self.templates)]
        self.scheduled[sequence] = scheduled_ns
        self._buffer.append(
            head + str(sequence).encode() + middle + marker(sequence, scheduled_ns).encode() + tail
        )
        if not self._flush_pending:
            self._flush_pending = True
            self.reactor.callLater(0, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data, self._buffer = b"".join(self._buffer), []
        assert self.stream is not None
        self.stream.write(data)


class Sink:
    """
    The receiving side: counts each marked message once, with its latency,
    and the messages whose senders got an error back (L{told}).
    """

    def __init__(self) -> None:
        self.tally = SequenceTally()
        self.last_ns = 0
        self.unmarked = 0
        self.told: set[int] = set()

    def stanza(self, element: Any) -> None:
        """
        A stanza the hub sent the load peer: an error for message
        C{b<sequence>} tells its sender it was not delivered.
        """
        stanza_id = element.getAttribute("id") or ""
        if element.getAttribute("type") == "error" and stanza_id[1:].isdigit():
            self.told.add(int(stanza_id[1:]))

    def arrived(self) -> set[int]:
        """The sequence numbers that arrived so far (a snapshot)."""
        return set(self.tally.latencies_ms)

    def text(self, text: str, received_ns: int) -> None:
        found = parse_marker(text)
        if found is None:
            self.unmarked += 1
            return
        sequence, scheduled = found
        self.tally.arrived(sequence, scheduled, received_ns)
        self.last_ns = max(self.last_ns, received_ns)

    def slack_post(self, channel: str, text: str, received_ns: int) -> None:
        self.text(text, received_ns)

    def missing(self, sent: Sequence[int]) -> int:
        seen = self.tally.latencies_ms
        return sum(1 for s in sent if s not in seen)


async def sleep(reactor: Any, seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def drain(reactor: Any, sink: Sink, sent: Sequence[int], timeout: float) -> None:
    """
    Wait until every message of C{sent} arrived, or C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while sink.missing(sent) and time.monotonic() < deadline:
        await sleep(reactor, 0.05)


class Stepper:
    """
    Runs the rate steps against one system and judges each.
    """

    def __init__(
        self,
        reactor: Any,
        load: Load,
        sink: Sink,
        pid: int,
        *,
        measure_s: float,
        warmup_s: float,
        drain_s: float,
        quiet_s: float = 3.0,
        settle_s: float = 60.0,
        profile: Callable[[float, float], Deferred[Any] | None] | None = None,
    ) -> None:
        self.reactor = reactor
        self.load = load
        self.sink = sink
        self.pid = pid
        self.measure_s = measure_s
        self.warmup_s = warmup_s
        self.drain_s = drain_s
        self.quiet_s = quiet_s
        self.settle_s = settle_s
        self.profile = profile
        self.next_sequence = 0
        self.steps: list[dict[str, Any]] = []
        self.sent_by_step: list[list[int]] = []
        self.last_sent: list[int] = []

    async def _send(self, rate: float, count: int) -> OpenLoop:
        loop = OpenLoop(self.reactor, rate, count, self.load.send)
        await loop.run(first_sequence=self.next_sequence)
        self.next_sequence += count
        return loop

    async def warm_up(self, count: int, rate: float = 100.0) -> None:
        """
        First messages (one per remote sender at least): vCard fetches,
        connections, caches; not measured.
        """
        loop = await self._send(rate, count)
        await drain(self.reactor, self.sink, loop.sent, 15.0)

    async def step(self, rate: float, settle_s: float | None = None) -> dict[str, Any]:
        """
        One step: warm-up, measured window, drain; the judged figures;
        then, unjudged, the late, told and lost ones (L{bench.fates}).
        """
        if self.warmup_s > 0:
            await self._send(rate, max(1, int(rate * self.warmup_s)))
        count = max(1, int(rate * self.measure_s))
        duplicates_before = self.sink.tally.duplicates
        cpu_before, wall_before = cpu_seconds(self.pid), time.monotonic()
        load_before = os.times()
        profiling = self.profile(rate, self.measure_s) if self.profile else None
        loop = await self._send(rate, count)
        await drain(self.reactor, self.sink, loop.sent, self.drain_s)
        cpu_after, wall_after = cpu_seconds(self.pid), time.monotonic()
        load_after = os.times()
        if profiling is not None:
            await profiling
        self.last_sent = loop.sent
        in_time = self.sink.arrived()
        report = self.sink.tally.report(loop.sent)
        report["missing_at_drain"] = report.pop("lost")
        waited = await settle(
            self.reactor,
            loop.sent,
            self.sink.arrived,
            lambda: self.sink.told,
            quiet_s=self.quiet_s,
            max_s=self.settle_s if settle_s is None else settle_s,
        )
        fate = fates(loop.sent, in_time, self.sink.arrived(), self.sink.told, waited)
        report.update(fate.as_dict())
        report["duplicated"] = self.sink.tally.duplicates - duplicates_before
        first = self.load.scheduled[loop.sent[0]]
        last_scheduled = self.load.scheduled[loop.sent[-1]]
        last_receipt = max(
            (
                self.load.scheduled[s] + int(self.sink.tally.latencies_ms[s] * 1e6)
                for s in loop.sent
                if s in self.sink.tally.latencies_ms
            ),
            default=last_scheduled,
        )
        span_s = max(last_receipt, last_scheduled + int(1e9 / rate)) - first
        achieved = report["received"] / (span_s / 1e9)
        wall = wall_after - wall_before
        result = {
            "offered_per_s": rate,
            "achieved_per_s": achieved,
            "cpu_percent": 100.0 * (cpu_after - cpu_before) / wall,
            "load_cpu_percent": 100.0
            * ((load_after.user - load_before.user) + (load_after.system - load_before.system))
            / wall,
            "sender_lag_ms": (loop.finished_ns - last_scheduled) / 1e6,
            "rss_kib": rss_kib(self.pid),
            **report,
        }
        result["ok"] = (
            achieved >= 0.99 * rate
            and report["missing_at_drain"] == 0
            and report["duplicated"] == 0
            and report["p99_ms"] < SLO_P99_MS
        )
        print(
            f"    {rate:7.0f}/s  achieved {achieved:8.1f}/s  p50 {report['p50_ms']:7.2f}  "
            f"p99 {report['p99_ms']:8.2f}  max {report['max_ms']:8.2f} ms  "
            f"late {report['arrived_late']}  told {report['told']}  lost {report['lost']}  "
            f"dup {report['duplicated']}  "
            f"cpu {result['cpu_percent']:5.1f}%  load cpu {result['load_cpu_percent']:5.1f}%",
            flush=True,
        )
        return result

    async def overload(self, knee: float, first_rate: float) -> dict[str, Any]:
        """
        One step at twice C{knee} (or twice C{first_rate} when no step
        passed), given long to settle: judged on loss, not speed.
        """
        rate = 2 * (knee or first_rate)
        print(f"    overload: 2 x knee = {rate:.0f}/s", flush=True)
        result = await self.step(rate, settle_s=2 * self.settle_s)
        return {"knee_per_s": knee, "factor": 2.0, **result}

    async def run(self, rates: Sequence[float]) -> dict[str, Any]:
        """
        Step through C{rates} until a step fails the stop rule; the summary.
        """
        for rate in rates:
            result = await self.step(rate)
            self.steps.append(result)
            self.sent_by_step.append(self.last_sent)
            if (
                result["achieved_per_s"] < 0.99 * rate
                or result["p99_ms"] > STOP_P99_MS
                or result["missing_at_drain"] > 0
            ):
                break
        # Messages missing at a step's drain may have arrived later.
        for result, sent in zip(self.steps, self.sent_by_step, strict=True):
            result["missing_at_end"] = self.sink.missing(sent)
        return summarise(self.steps)


def summarise(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """
    The knee and the p99 at 500/s (or the nearest lower step) of a run.
    """
    good = [s for s in steps if s["ok"]]
    sustained = [
        s
        for s in steps
        if s["achieved_per_s"] >= 0.99 * s["offered_per_s"] and s["missing_at_drain"] == 0
    ]
    at_500 = [s for s in steps if s["offered_per_s"] <= 500]
    return {
        "knee_per_s": max((s["offered_per_s"] for s in good), default=0.0),
        "max_sustained_per_s": max((s["offered_per_s"] for s in sustained), default=0.0),
        "p99_at_500_ms": at_500[-1]["p99_ms"] if at_500 else None,
        "p99_at_500_rate": at_500[-1]["offered_per_s"] if at_500 else None,
        # The knee is only a lower bound when the top rate still passed.
        "knee_is_lower_bound": bool(steps) and steps[-1]["ok"] and len(steps) == len(FULL_RATES),
        # Never arrived and the sender never told (late ones are not lost).
        "lost": sum(s["lost"] for s in steps),
        "late": sum(s["arrived_late"] for s in steps),
        "told": sum(s["told"] for s in steps),
        "missing_at_end": sum(s["missing_at_end"] for s in steps),
        "duplicated": sum(s["duplicated"] for s in steps),
        "steps": list(steps),
    }


class Bench:
    """
    One B1 run: certificates, the Slack tenant, the peer; each system in
    turn.
    """

    def __init__(self, reactor: Any, args: argparse.Namespace) -> None:
        self.reactor = reactor
        self.quick: bool = args.quick
        self.args = args
        self.directory = Path(tempfile.mkdtemp(prefix="nextplane-b1-"))
        certs = self.directory / "certs"
        self.ca = ensure_ca(certs)
        self.hub_certs = ensure_domain_cert(certs, HUB_DOMAIN, self.ca)
        self.peer_certs = ensure_domain_cert(certs, PEER_DOMAIN, self.ca)
        self.rates: Sequence[float] = QUICK_RATES if self.quick else FULL_RATES
        self.senders, self.users = (
            (20, 10) if self.quick else conversations_for(max(r for r in self.rates if r <= 3000))
        )
        self.sink = Sink()
        self.tenant = SlackTenant(
            reactor, domain=HUB_DOMAIN, users=self.users, on_post=self.sink.slack_post
        )
        self.load = Load(reactor, self.senders, self.users)
        self.channels: dict[tuple[int, str], str] = {}

    def stepper(self, pid: int, profile: Any = None) -> Stepper:
        """
        A fresh sink (the Slack simulator's hook points at it) and stepper.
        """
        self.sink = Sink()
        self.tenant.on_post = self.sink.slack_post
        timing: dict[str, float]
        if self.quick:
            timing = {"measure_s": 2.0, "warmup_s": 0.5, "drain_s": 3.0}
            timing |= {"quiet_s": 2.0, "settle_s": 15.0}
        else:
            timing = {"measure_s": 8.0, "warmup_s": 1.5, "drain_s": 5.0}
            timing |= {"quiet_s": 3.0, "settle_s": 60.0}
        return Stepper(self.reactor, self.load, self.sink, pid, profile=profile, **timing)

    def peer(self, hub_port: int) -> XmppPeer:
        return XmppPeer(
            self.reactor,
            PEER_DOMAIN,
            self.peer_certs,
            self.ca.cert,
            {HUB_DOMAIN: f"127.0.0.1:{hub_port}"},
            # Errors the hub sends back: the senders it told.
            on_stanza=lambda element: self.sink.stanza(element),
        )

    async def run(self) -> dict[str, Any]:
        self.tenant.listen()
        pairs = [(int(u.local[4:]), s) for s, u in self.load.pairs]
        started = time.monotonic()
        self.channels = await self.tenant.seed(self.directory / "hub" / "hub.sqlite3", pairs)
        seed_s = time.monotonic() - started
        print(
            f"  {len(pairs)} conversations ({self.senders} senders x {self.users} users) "
            f"seeded in {seed_s:.1f} s",
            flush=True,
        )
        only = set(self.args.only.split(",")) if self.args.only else {"hub", "bare", "prosody"}
        systems: dict[str, dict[str, Any] | None] = {}
        for name, run in (
            ("hub", self.run_hub),
            ("bare", self.run_bare),
            ("prosody", self.run_prosody),
        ):
            if name not in only:
                continue
            print(f"  {name}:", flush=True)
            try:
                systems[name] = await run()
            except Exception as e:  # a baseline that cannot run is reported, not fatal
                print(f"  {name} failed: {e!r}", flush=True)
                systems[name] = {"error": repr(e)}
        return {
            "conversations": len(pairs),
            "senders": self.senders,
            "users": self.users,
            "seed_seconds": seed_s,
            "systems": systems,
        }

    async def run_hub(self) -> dict[str, Any]:
        hub_port = free_port()
        peer = self.peer(hub_port)
        peer_port = await peer.listen()
        directory = self.directory / "hub"
        config: dict[str, Any] = {
            "hub": {"data_dir": str(directory), "log_format": "json"},
            "storage": {"backend": "sqlite", "sqlite_path": str(directory / "hub.sqlite3")},
            "web": {
                "listen": f"tcp:{free_port()}:interface=127.0.0.1",
                "admin_listen": "tcp:0:interface=127.0.0.1",
            },
            "tls": {"ca_certificates": [str(self.ca.cert)]},
            "router": {"delivery_timeout": 30},
            "federation": {
                "partners": [
                    {
                        "domain": PEER_DOMAIN,
                        "protocol": "xmpp",
                        "route": f"127.0.0.1:{peer_port}",
                        "require_certificates": True,
                    }
                ]
            },
            **self.tenant.hub_config(self.hub_certs),
        }
        config["connectors"]["xmpp"] = {
            "listen": f"tcp:{hub_port}:interface=127.0.0.1",
            "dialback_secret": "bench-dialback-secret-0123456789",
            "require_certificates": True,
            "system_ca": False,
        }
        hub = HubProcess(directory, config, core=HUB_CORE)
        await deferToThread(hub.start)
        stream: PeerStream | None = None
        try:
            stream = await peer.connect(HUB_DOMAIN)
            self.load.stream = stream
            stepper = self.stepper(hub.pid, self.profiler(hub.pid))
            await stepper.warm_up(len(self.load.pairs) if self.quick else 2 * self.senders)
            if self.args.knee:
                # The knee of an earlier run: only the overload step.
                result = {**summarise([]), "knee_per_s": self.args.knee, "knee_given": True}
            else:
                result = await stepper.run(self.rates)
            result["overload"] = await stepper.overload(result["knee_per_s"], self.rates[0])
            result["vcards_answered"] = peer.vcards_answered
            result["peer_received"] = peer.received
            result["profile"] = self.profile_result
            return result
        finally:
            await peer.stop([stream] if stream is not None else [])
            await deferToThread(hub.stop)

    async def run_bare(self) -> dict[str, Any]:
        port = free_port()
        directory = self.directory / "bare"
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "listen_port": port,
            "domain": HUB_DOMAIN,
            "certificate": str(self.hub_certs.cert),
            "private_key": str(self.hub_certs.key),
            "ca_certificate": str(self.ca.cert),
            "api_base_url": self.tenant.api_base_url,
            "bot_token": self.tenant.connector_section()["workspaces"][self.tenant.team_id][
                "bot_token"
            ],
            "channels": {
                f"user{index}@{HUB_DOMAIN} {remote}": channel
                for (index, remote), channel in self.channels.items()
            },
        }
        config_path = directory / "bare.json"
        config_path.write_text(json.dumps(config))
        log = open(directory / "bare.log", "wb")
        process = subprocess.Popen(
            pinned([sys.executable, "-m", "bench.bare_relay", str(config_path)], HUB_CORE),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        log.close()
        peer = self.peer(port)
        stream: PeerStream | None = None
        try:
            await self.wait_for_text(directory / "bare.log", "listening", process)
            stream = await peer.connect(HUB_DOMAIN)
            self.load.stream = stream
            stepper = self.stepper(process.pid)
            await stepper.warm_up(len(self.load.pairs) if self.quick else 2 * self.senders)
            return await stepper.run(self.rates)
        finally:
            await peer.stop([stream] if stream is not None else [])
            process.terminate()
            await deferToThread(process.wait, 10)

    async def run_prosody(self) -> dict[str, Any]:
        if shutil.which("prosody") is None:
            raise RuntimeError("prosody is not installed (scripts/install-interop-deps.sh)")
        s2s_port = free_port()
        prosody_users = 10
        sink = Sink()
        relay = await ProsodyRelay.start(
            self.reactor,
            self.directory / "prosody",
            domain=HUB_DOMAIN,
            certs=self.hub_certs,
            ca_certificate=self.ca.cert,
            users=prosody_users,
            c2s_port=free_port(),
            s2s_port=s2s_port,
            on_body=sink.text,
        )
        peer = self.peer(s2s_port)
        stream: PeerStream | None = None
        saved = self.load
        # The same stanzas, to the users logged in to Prosody.
        self.load = Load(self.reactor, self.senders, prosody_users)
        try:
            stream = await peer.connect(HUB_DOMAIN)
            self.load.stream = stream
            stepper = self.stepper(relay.pid)
            stepper.sink = self.sink = sink
            await stepper.warm_up(self.senders)
            return await stepper.run(self.rates)
        finally:
            self.load = saved
            await peer.stop([stream] if stream is not None else [])
            await relay.stop()

    async def wait_for_text(
        self, path: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while text not in path.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"{path.name}: exited: {path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path.name}: no {text!r} after {timeout}s")
            await sleep(self.reactor, 0.1)

    profile_result: dict[str, Any] | None = None

    def profiler(self, pid: int) -> Callable[[float, float], Deferred[Any] | None] | None:
        """
        With C{--profile RATE}: py-spy samples the hub during that step's
        measured window; the top functions go into the result.
        """
        wanted = self.args.profile
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not wanted or not Path(spy).exists():
            return None

        def start(rate: float, seconds: float) -> Deferred[Any] | None:
            if rate != wanted:
                return None
            out = self.directory / f"hub-{int(rate)}.collapsed"
            command = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250"]
            command += ["--nonblocking", "-f", "raw", "-o", str(out)]

            def record() -> None:
                subprocess.run(command, capture_output=True, check=False)
                self.profile_result = top_functions(out)
                keep = RESULTS / "B1-hub-profile.collapsed"
                keep.parent.mkdir(parents=True, exist_ok=True)
                if out.exists():
                    shutil.copy(out, keep)

            return deferToThread(record)

        return start


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


def main(reactor: Any, *argv: str) -> Deferred[None]:
    parser = argparse.ArgumentParser(prog="python -m bench.b1_xmpp_to_slack")
    parser.add_argument("--quick", action="store_true", help="smoke run: one low rate")
    parser.add_argument("--profile", type=float, default=None, help="py-spy the hub at RATE")
    parser.add_argument("--only", default="", help="comma list of hub,bare,prosody")
    parser.add_argument(
        "--knee",
        type=float,
        default=None,
        help="skip the hub's rate steps: only its overload step, at twice this knee",
    )
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})

    async def run() -> None:
        bench = Bench(reactor, args)
        result = await bench.run()
        systems = result["systems"]

        def figure(name: str, key: str) -> float | None:
            system = systems.get(name) or {}
            value = system.get(key)
            return float(value) if isinstance(value, int | float) else None

        hub_knee = figure("hub", "knee_per_s")
        bare_knee = figure("bare", "knee_per_s")
        prosody_knee = figure("prosody", "knee_per_s")
        p99_500 = figure("hub", "p99_at_500_ms")
        hub = systems.get("hub") or {}
        lines = [
            summary_line(
                "B1",
                hub_knee or 0.0,
                "msg/s knee (given)"
                if hub.get("knee_given")
                else "msg/s knee (p99<50ms, all in time)",
                {
                    "bare-relay": ratio(hub_knee, bare_knee),
                    "prosody": ratio(hub_knee, prosody_knee),
                },
                f"p99@{hub.get('p99_at_500_rate')}/s "
                + (f"{p99_500:.1f}" if p99_500 is not None else "n/a")
                + f" ms  lost {hub.get('lost')}  dup {hub.get('duplicated')}",
            ),
        ]
        overload = hub.get("overload") or {}
        if overload:
            lines.append(
                summary_line(
                    "B1-2x",
                    float(overload["offered_per_s"]),
                    "msg/s offered (2 x knee)",
                    {},
                    f"in time {overload['arrived_in_time']}  late {overload['arrived_late']}  "
                    f"told {overload['told']}  lost {overload['lost']}  "
                    f"(of {overload['sent']}; settled in {overload['settle_seconds']} s)",
                )
            )
        for name in ("bare", "prosody"):
            knee = figure(name, "knee_per_s")
            if knee is not None:
                lines.append(summary_line(f"B1-{name}", knee, "msg/s knee (baseline)", {}))
        targets = {
            "knee >= 1000 msg/s": {"figure": hub_knee, "met": (hub_knee or 0) >= 1000},
            "p99 at 500 msg/s < 50 ms": {
                "figure": p99_500,
                "met": p99_500 is not None
                and p99_500 < SLO_P99_MS
                and hub.get("p99_at_500_rate") == 500,
            },
            "zero lost": {"figure": hub.get("lost"), "met": hub.get("lost") == 0},
            "zero lost at 2x knee": {
                "figure": overload.get("lost"),
                "met": overload.get("lost") == 0,
            },
            "zero duplicated": {
                "figure": hub.get("duplicated"),
                "met": hub.get("duplicated") == 0,
            },
            ">= 0.3 of bare relay": {
                "figure": ratio(hub_knee, bare_knee),
                "met": (ratio(hub_knee, bare_knee) or 0) >= 0.3,
            },
            ">= 1.0 of Prosody": {
                "figure": ratio(hub_knee, prosody_knee),
                "met": (ratio(hub_knee, prosody_knee) or 0) >= 1.0,
            },
        }
        for line in lines:
            print(line)
        path = write_result(
            "B1", {"quick": args.quick, "summary": lines, "targets": targets, **result}
        )
        print(f"  -> {path}")

    return Deferred.fromCoroutine(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
