"""
B5: idle memory per authenticated TLS s2s stream and per stored contact
(issue 7).

  python -m bench.b5_idle_memory [--quick]

Streams: the hub (C{twistd nextplane}, SQLite, tenant C{acme.test} on the
Slack simulator of L{bench.slack_side}) accepts N authenticated s2s
streams from C{widget.test} (L{bench.xmpp_peer}: each its own TCP + TLS
connection, STARTTLS, SASL EXTERNAL), left idle; the hub's RSS is read
after each step has settled, and kB per stream is the least-squares slope
of RSS over N. Baseline in the same run: the bare relay process
(L{bench.bare_relay}: nextplane's s2s stack alone) under the same streams;
published anchors from performance.md as ratios: a Twisted TLS server
connection with C{CertificateOptions} 38 kB, Kamailio 61 kB per TLS
connection.

Contacts: N accepted contacts (hub user <-> remote address) are written to
the hub's SQLite database (1k / 10k / 100k; users user<i>, remotes
contact<j>@widget.test). Reported per contact:

  - database bytes: file size after a WAL checkpoint, slope over N
    (anchor: 65-74 B per row for a bare SQLite table);
  - hub RSS at idle after start-up with N stored contacts (slope over N:
    what the hub holds per stored contact without traffic);
  - hub RSS per active contact: the RSS growth after the hub routed one
    message to each of a sample of contacts (caches, sessions), divided by
    the sample size, after a warm-up sample.

The load process runs on core 1, the hub on core 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from bench.b1_xmpp_to_slack import HUB_DOMAIN, PEER_DOMAIN, Sink, drain, free_port, sleep
from bench.common import (
    HUB_CORE,
    LOAD_CORE,
    ROOT,
    HubProcess,
    OpenLoop,
    pinned,
    rss_kib,
    summary_line,
    write_result,
)
from bench.slack_side import SlackTenant, marker
from bench.xmpp_peer import PeerStream, XmppPeer, message_bytes
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.model.address import Address

#: Published / measured anchors (performance.md sections 0 and 1).
TLS_CERTIFICATE_OPTIONS_KB = 38.0
KAMAILIO_TLS_KB = 61.0
SQLITE_ROW_BYTES = (65.0, 74.0)
#: Target: kB per idle TLS stream.
TARGET_STREAM_KB = 50.0


def slope(points: Sequence[tuple[float, float]]) -> float:
    """
    The least-squares slope of (x, y) points.
    """
    n = len(points)
    if n < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else float("nan")


async def settled_rss(reactor: Any, pid: int, seconds: float = 2.0) -> int:
    """
    The RSS of C{pid} (KiB) once it stops changing for a moment (at most
    C{seconds} of waiting), so allocations under way are counted.
    """
    deadline = time.monotonic() + seconds
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        await sleep(reactor, 0.25)
        now = rss_kib(pid)
        if now == last:
            break
        last = now
    return last


def database_bytes(path: Path) -> int:
    """
    The size of a SQLite database once its WAL is checkpointed into it.
    """
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        return int(pages * size)
    finally:
        connection.close()


class Bench:
    """
    The B5 run; see the module docstring.
    """

    def __init__(self, reactor: Any, quick: bool) -> None:
        self.reactor = reactor
        self.quick = quick
        self.directory = Path(tempfile.mkdtemp(prefix="nextplane-b5-"))
        certs = self.directory / "certs"
        self.ca = ensure_ca(certs)
        self.hub_certs = ensure_domain_cert(certs, HUB_DOMAIN, self.ca)
        self.peer_certs = ensure_domain_cert(certs, PEER_DOMAIN, self.ca)
        self.stream_counts = (10, 40) if quick else (50, 200, 500)
        self.contact_counts = (500, 2_000) if quick else (1_000, 10_000, 100_000)
        self.sample = 200 if quick else 2_000
        self.users = 50 if quick else 500

    def peer(self, port: int) -> XmppPeer:
        return XmppPeer(
            self.reactor,
            PEER_DOMAIN,
            self.peer_certs,
            self.ca.cert,
            {HUB_DOMAIN: f"127.0.0.1:{port}"},
        )

    def hub_config(
        self, directory: Path, tenant: SlackTenant, s2s_port: int, peer_port: int | None
    ) -> dict[str, Any]:
        config: dict[str, Any] = {
            "hub": {"data_dir": str(directory), "log_format": "json"},
            "storage": {"backend": "sqlite", "sqlite_path": str(directory / "hub.sqlite3")},
            "web": {
                "listen": f"tcp:{free_port()}:interface=127.0.0.1",
                "admin_listen": "tcp:0:interface=127.0.0.1",
            },
            "tls": {"ca_certificates": [str(self.ca.cert)]},
            **tenant.hub_config(self.hub_certs),
        }
        if peer_port is not None:
            config["federation"] = {
                "partners": [
                    {
                        "domain": PEER_DOMAIN,
                        "protocol": "xmpp",
                        "route": f"127.0.0.1:{peer_port}",
                        "require_certificates": True,
                    }
                ]
            }
        config["connectors"]["xmpp"] = {
            "listen": f"tcp:{s2s_port}:interface=127.0.0.1",
            "dialback_secret": "bench-dialback-secret-0123456789",
            "require_certificates": True,
            "system_ca": False,
            # Every idle stream comes from the one loopback address.
            "max_streams_per_address": 100_000,
        }
        return config

    # -- streams -------------------------------------------------------------

    async def stream_slope(self, pid: int, port: int) -> dict[str, Any]:
        """
        Open the idle streams step by step against the server at C{port}
        (process C{pid}); RSS per step and the slope.
        """
        peer = self.peer(port)
        streams: list[PeerStream] = []
        points: list[tuple[float, float]] = []
        try:
            # One stream first: TLS contexts, session caches and the like
            # are paid once, not per stream.
            streams.extend(await peer.connect_many(HUB_DOMAIN, 1))
            points.append((1, await settled_rss(self.reactor, pid)))
            for count in self.stream_counts:
                streams.extend(await peer.connect_many(HUB_DOMAIN, count - len(streams)))
                await sleep(self.reactor, 0.5)
                alive = sum(1 for s in streams if s.connected)
                if alive != count:
                    raise RuntimeError(f"only {alive} of {count} streams stayed up")
                points.append((count, await settled_rss(self.reactor, pid)))
                print(f"    {count:5d} streams: RSS {points[-1][1] / 1024:7.1f} MiB", flush=True)
        finally:
            await peer.stop(streams)
        per_stream = slope(points)
        return {"points_streams_rss_kib": points, "kib_per_stream": per_stream}

    async def hub_streams(self) -> dict[str, Any]:
        directory = self.directory / "hub-streams"
        tenant = SlackTenant(self.reactor, domain=HUB_DOMAIN, users=2)
        tenant.listen()
        port = free_port()
        hub = HubProcess(directory, self.hub_config(directory, tenant, port, None), core=HUB_CORE)
        await deferToThread(hub.start)
        try:
            return await self.stream_slope(hub.pid, port)
        finally:
            await deferToThread(hub.stop)
            await tenant.stop()

    async def bare_streams(self) -> dict[str, Any]:
        directory = self.directory / "bare-streams"
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = {
            "listen_port": port,
            "domain": HUB_DOMAIN,
            "certificate": str(self.hub_certs.cert),
            "private_key": str(self.hub_certs.key),
            "ca_certificate": str(self.ca.cert),
            "api_base_url": "http://127.0.0.1:9/api/",
            "bot_token": "xoxb-unused",
            "channels": {},
        }
        (directory / "bare.json").write_text(json.dumps(config))
        log = open(directory / "bare.log", "wb")
        process = subprocess.Popen(
            pinned([sys.executable, "-m", "bench.bare_relay", str(directory / "bare.json")], 0),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        log.close()
        try:
            deadline = time.monotonic() + 30
            while "listening" not in (directory / "bare.log").read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((directory / "bare.log").read_text())
                await sleep(self.reactor, 0.1)
            return await self.stream_slope(process.pid, port)
        finally:
            process.terminate()
            await deferToThread(process.wait, 10)

    # -- contacts ------------------------------------------------------------

    def contact_pairs(self, count: int) -> list[tuple[int, Address]]:
        """
        C{count} distinct (user index, remote) pairs: remote C{contact<j>}
        is the contact of every user, C{j} growing once all users have it.
        """
        return [
            (i % self.users, Address(f"contact{i // self.users}", PEER_DOMAIN))
            for i in range(count)
        ]

    async def contacts(self, count: int, route: bool) -> dict[str, Any]:
        """
        Seed C{count} contacts, start the hub, read its idle RSS; with
        C{route}, route one message to each contact of three equal samples
        (after a warm-up touching each of their remotes once, so vCards are
        fetched then) and read the RSS after each: the slope is the memory
        the hub keeps per contact it has been active with.
        """
        directory = self.directory / f"hub-contacts-{count}"
        database = directory / "hub.sqlite3"
        sink = Sink()
        tenant = SlackTenant(
            self.reactor, domain=HUB_DOMAIN, users=self.users, on_post=sink.slack_post
        )
        tenant.listen()
        pairs = self.contact_pairs(count)
        started = time.monotonic()
        await tenant.seed(database, pairs, conversations=False)
        seed_s = time.monotonic() - started
        sample = min(self.sample, count // 4)
        # The first pairs: few remotes, each the contact of every user.
        touched = pairs[: 3 * sample + -(-3 * sample // (self.users - 1)) + 1] if route else []
        warm = [p for p in touched if p[0] == 0]
        rounds = [p for p in touched if p[0] != 0]
        sample = len(rounds) // 3
        if route:
            # Their conversations exist, as for contacts accepted earlier.
            await tenant.seed(database, touched, conversations=True)
        contacts_db_bytes = database_bytes(database)
        s2s_port = free_port()
        peer = self.peer(s2s_port)
        peer_port = await peer.listen()
        hub = HubProcess(
            directory, self.hub_config(directory, tenant, s2s_port, peer_port), core=HUB_CORE
        )
        started = time.monotonic()
        await deferToThread(hub.start)
        start_s = time.monotonic() - started
        stream: PeerStream | None = None
        points: list[tuple[float, float]] = []
        repeat = (0.0, 0.0)
        missing = 0
        try:
            idle = await settled_rss(self.reactor, hub.pid, 3.0)
            if route:
                stream = await peer.connect(HUB_DOMAIN)
                # A fourth round repeats the first round's contacts: what
                # stays per message rather than per contact.
                order = warm + rounds + rounds[:sample]
                messages = [
                    message_bytes(f"{remote}/load", f"user{index}@{HUB_DOMAIN}", "", f"b5-{n}")
                    for n, (index, remote) in enumerate(order)
                ]

                def send(sequence: int, scheduled_ns: int) -> None:
                    body = marker(sequence, scheduled_ns).encode()
                    assert stream is not None
                    stream.write(
                        messages[sequence].replace(b"<body></body>", b"<body>" + body + b"</body>")
                    )

                first = 0
                for size in (len(warm), sample, sample, sample, sample):
                    loop = OpenLoop(self.reactor, 500.0, size, send)
                    await loop.run(first)
                    first += size
                    await drain(self.reactor, sink, loop.sent, 20.0)
                    missing += sink.missing(loop.sent)
                    points.append((first - len(warm), await settled_rss(self.reactor, hub.pid)))
                repeat = points.pop()
        finally:
            await peer.stop([stream] if stream is not None else [])
            await deferToThread(hub.stop)
            await tenant.stop()
        per_active = slope(points) if route else None
        per_repeat = (repeat[1] - points[-1][1]) / sample if route and sample else None
        result = {
            "contacts": count,
            "seed_seconds": seed_s,
            "hub_start_seconds": start_s,
            "database_bytes": contacts_db_bytes,
            "idle_rss_kib": idle,
            "routed_rss_kib": points,
            "routed_missing": missing,
            "kib_per_active_contact": per_active,
            "kib_per_repeated_message": per_repeat,
        }
        print(
            f"    {count:7d} contacts: db {contacts_db_bytes / 1024:9.1f} KiB  "
            f"idle RSS {idle / 1024:7.1f} MiB  start {start_s:.1f} s"
            + (
                f"  active: {per_active * 1024:.0f} B/contact over {3 * sample} routed "
                f"({missing} missing); then {per_repeat * 1024:.0f} B per message repeated"
                if per_active is not None and per_repeat is not None
                else ""
            ),
            flush=True,
        )
        return result

    async def run(self) -> dict[str, Any]:
        print("  idle s2s streams, hub:", flush=True)
        hub = await self.hub_streams()
        print("  idle s2s streams, bare relay (baseline):", flush=True)
        try:
            bare: dict[str, Any] | None = await self.bare_streams()
        except Exception as e:
            print(f"  bare relay failed: {e!r}", flush=True)
            bare = {"error": repr(e)}
        print("  stored contacts:", flush=True)
        contacts = [
            await self.contacts(n, route=not self.quick or n == self.contact_counts[-1])
            for n in self.contact_counts
        ]
        return {"streams": {"hub": hub, "bare": bare}, "contacts": contacts}


def main(reactor: Any, *argv: str) -> Deferred[None]:
    parser = argparse.ArgumentParser(prog="python -m bench.b5_idle_memory")
    parser.add_argument("--quick", action="store_true", help="smoke run: small counts")
    args = parser.parse_args(argv)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOAD_CORE})

    async def run() -> None:
        result = await Bench(reactor, args.quick).run()
        hub_kb = result["streams"]["hub"]["kib_per_stream"] * 1.024
        bare = result["streams"]["bare"] or {}
        bare_kb = bare["kib_per_stream"] * 1.024 if "kib_per_stream" in bare else None
        contacts = result["contacts"]
        db_per_contact = slope([(c["contacts"], c["database_bytes"]) for c in contacts])
        idle_per_contact = slope([(c["contacts"], c["idle_rss_kib"] * 1024) for c in contacts])
        active = [c["kib_per_active_contact"] for c in contacts if c["kib_per_active_contact"]]
        active_bytes = 1024 * sorted(active)[len(active) // 2] if active else None
        lines = [
            summary_line(
                "B5-stream",
                hub_kb,
                "kB per idle TLS s2s stream",
                {
                    "bare-s2s": hub_kb / bare_kb if bare_kb else None,
                    "tls-38kB": hub_kb / TLS_CERTIFICATE_OPTIONS_KB,
                    "kamailio-61kB": hub_kb / KAMAILIO_TLS_KB,
                },
                f"bare s2s {bare_kb:.1f} kB" if bare_kb else "",
            ),
            summary_line(
                "B5-contact",
                db_per_contact,
                "B per stored contact (SQLite file)",
                {"sqlite-row-70B": db_per_contact / sum(SQLITE_ROW_BYTES) * 2},
                f"hub idle RSS {idle_per_contact:.1f} B/stored contact; "
                + (
                    f"{active_bytes:.0f} B RSS per active contact"
                    if active_bytes is not None
                    else "no active figure"
                ),
            ),
        ]
        targets = {
            "< 50 kB per idle TLS stream": {"figure": hub_kb, "met": hub_kb < TARGET_STREAM_KB},
            "<= 1 kB per in-memory routing entry (active contact)": {
                "figure": active_bytes,
                "met": active_bytes is not None and active_bytes <= 1024,
            },
        }
        for line in lines:
            print(line)
        path = write_result(
            "B5",
            {
                "quick": args.quick,
                "summary": lines,
                "targets": targets,
                "kb_per_stream": hub_kb,
                "bare_kb_per_stream": bare_kb,
                "db_bytes_per_contact": db_per_contact,
                "idle_rss_bytes_per_stored_contact": idle_per_contact,
                "rss_bytes_per_active_contact": active_bytes,
                "anchors": {
                    "tls_certificate_options_kb": TLS_CERTIFICATE_OPTIONS_KB,
                    "kamailio_tls_kb": KAMAILIO_TLS_KB,
                    "sqlite_row_bytes": SQLITE_ROW_BYTES,
                },
                **result,
            },
        )
        print(f"  -> {path}")

    return Deferred.fromCoroutine(run())


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
