"""
Crash test (issue 16): kill -9 the hub while Slack posts are queued,
restart it, and account for every message.

  python -m bench.crash [--messages N] [--result PATH]

A real C{twistd nextplane} on SQLite with tenant C{acme.test} on Slack (the
simulator served on loopback, L{bench.slack_side}) and a remote XMPP
server (L{bench.xmpp_peer}: nextplane's own s2s stack as C{widget.test};
not Prosody). The peer sends N chat messages, each with a stanza id and a
receipt request, to one Slack user: the hub posts to one conversation one
per second (Slack's pace), so most wait in its queue. Once a few are
posted, the hub is killed with SIGKILL and started again on the same
database. Then every message must be accounted for:

  - posted to Slack (exactly once), or
  - answered with a message error carrying its stanza id (the restarted
    hub's "not delivered"), or both only for the one post that may have
    been under way at the kill (counted as ambiguous);
  - lost silently (neither) must be 0, and no message posted twice.

Receipts are counted too: a receipt for a message that was not posted
would be a success before success.

Writes a JSON result (C{--result}) and prints one summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.web.client import Agent
from twisted.words.xish import domish

from bench.common import HubProcess
from bench.slack_side import SIGNING_SECRET, SlackTenant, marker, parse_marker
from bench.xmpp_peer import XmppPeer
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.model.address import Address
from nextplane.testing.slack_sim import EventSender

HUB_DOMAIN = "acme.test"
PEER_DOMAIN = "widget.test"
SENDER = f"peter@{PEER_DOMAIN}/phone"


def free_port() -> int:
    """
    A TCP port free on 127.0.0.1 right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def sleep(reactor: Any, seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


async def until(reactor: Any, condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await sleep(reactor, 0.1)
    return True


def message(sequence: int, recipient: str) -> bytes:
    body = marker(sequence, 0)
    return (
        f"<message from='{SENDER}' to='{recipient}' type='chat' id='crash-{sequence}'>"
        f"<body>{body}</body><request xmlns='urn:xmpp:receipts'/></message>"
    ).encode()


class Tally:
    """
    What reached each side: Slack posts by sequence, errors and receipts
    by stanza id.
    """

    def __init__(self) -> None:
        self.posts: dict[int, int] = {}
        self.errors: set[int] = set()
        self.receipts: set[int] = set()
        self.received: dict[int, int] = {}

    def slack_post(self, channel: str, text: str, received_ns: int) -> None:
        found = parse_marker(text)
        if found is not None:
            self.posts[found[0]] = self.posts.get(found[0], 0) + 1

    def stanza(self, element: domish.Element) -> None:
        if element.name != "message":
            return
        for child in element.elements():
            if child.name == "body":
                found = parse_marker(str(child))
                if found is not None:
                    self.received[found[0]] = self.received.get(found[0], 0) + 1
        if element.getAttribute("type") == "error":
            stanza_id = element.getAttribute("id") or ""
            if stanza_id.startswith("crash-"):
                self.errors.add(int(stanza_id[6:]))
            return
        for child in element.elements():
            if child.name == "received":
                stanza_id = child.getAttribute("id") or ""
                if stanza_id.startswith("crash-"):
                    self.receipts.add(int(stanza_id[6:]))


async def run(reactor: Any, count: int, scenario: str = "queued") -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="nextplane-crash-"))
    certs = directory / "certs"
    ca = ensure_ca(certs)
    hub_certs = ensure_domain_cert(certs, HUB_DOMAIN, ca)
    peer_certs = ensure_domain_cert(certs, PEER_DOMAIN, ca)
    tally = Tally()
    tenant = SlackTenant(
        reactor, domain=HUB_DOMAIN, users=1, on_post=tally.slack_post, keep_history=True
    )
    tenant.listen()
    hub_dir = directory / "hub"
    channels = await tenant.seed(hub_dir / "hub.sqlite3", [(0, Address("peter", PEER_DOMAIN))])
    hub_port = free_port()
    peer = XmppPeer(
        reactor,
        PEER_DOMAIN,
        peer_certs,
        ca.cert,
        {HUB_DOMAIN: f"127.0.0.1:{hub_port}"},
        on_stanza=tally.stanza,
    )
    peer_port = await peer.listen()
    config: dict[str, Any] = {
        "hub": {"data_dir": str(hub_dir), "log_format": "json"},
        "storage": {"backend": "sqlite", "sqlite_path": str(hub_dir / "hub.sqlite3")},
        "web": {"listen": f"tcp:{free_port()}:interface=127.0.0.1"},
        "tls": {"ca_certificates": [str(ca.cert)]},
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
        **tenant.hub_config(hub_certs),
    }
    config["connectors"]["xmpp"] = {
        "listen": f"tcp:{hub_port}:interface=127.0.0.1",
        "dialback_secret": "crash-dialback-secret-0123456789",
        "require_certificates": True,
        "system_ca": False,
    }
    recipient = str(tenant.address(0))
    hub = HubProcess(hub_dir, config, core=0)
    await deferToThread(hub.start)
    if scenario == "webhooks":
        [channel] = channels.values()
        try:
            return await webhooks(reactor, hub, tenant, channel, tally, count)
        finally:
            await peer.stop()
            await deferToThread(hub.stop)
            tenant.stop()
    started = time.monotonic()
    try:
        stream = await peer.connect(HUB_DOMAIN)
        stream.write(b"".join(message(n, recipient) for n in range(count)))
        # Killed while the Slack posts are queued: a few went out.
        await until(reactor, lambda: len(tally.posts) >= 3, 30)
        assert hub.process is not None
        hub.process.send_signal(signal.SIGKILL)
        hub.process.wait()
        posted_at_kill = len(tally.posts)
        receipts_at_kill = set(tally.receipts)
        hub.process = None
        await deferToThread(hub.start)
        settled = await until(reactor, lambda: len(set(tally.posts) | tally.errors) >= count, 60)
    finally:
        await peer.stop()
        await deferToThread(hub.stop)
        tenant.stop()
    sequences = set(range(count))
    posted = set(tally.posts)
    both = posted & tally.errors
    result = {
        "scenario": "kill -9 while Slack posts are queued (XMPP -> Slack)",
        "messages": count,
        "posted": len(posted),
        "posted_before_kill": posted_at_kill,
        "told_not_delivered": len(tally.errors),
        "ambiguous": len(both),
        "lost": len(sequences - posted - tally.errors),
        "duplicated": sum(1 for n in tally.posts.values() if n > 1),
        "receipts": len(tally.receipts),
        "receipts_without_post": len(tally.receipts - posted),
        "receipts_before_kill": len(receipts_at_kill),
        "settled": settled,
        "seconds": round(time.monotonic() - started, 1),
    }
    return result


async def webhooks(
    reactor: Any, hub: HubProcess, tenant: SlackTenant, channel: str, tally: Tally, count: int
) -> dict[str, Any]:
    """
    Slack -> XMPP: signed message events arrive at 20 a second; the hub is
    killed after a third of them, then started again. Slack retries what
    was not acknowledged (1, 2, 4 s). Every acknowledged event must reach
    the XMPP peer once, or its sender get a notice threaded to its C{ts}.
    """
    http = HTTPClient(Agent(reactor))
    sender = EventSender(
        http,
        reactor,
        SIGNING_SECRET,
        hub.web_url,
        tenant.workspace,
        retry_delays=(1.0, 2.0, 4.0),
        validate=False,
    )
    user = tenant.user_ids[0]
    started = time.monotonic()
    deliveries: list[Deferred[Any]] = []
    for n in range(count):
        if n == count // 3:
            assert hub.process is not None
            hub.process.send_signal(signal.SIGKILL)
            hub.process.wait()
            hub.process = None
            restart = deferToThread(hub.start)
        event = {
            "type": "message",
            "channel": channel,
            "channel_type": "group",
            "user": user,
            "text": marker(n, 0),
            "ts": f"1700000000.{n:06d}",
            "event_ts": f"1700000000.{n:06d}",
        }
        deliveries.append(sender.send_event(event))
        await sleep(reactor, 0.05)
    await restart
    results = [await d for d in deliveries]
    acknowledged = {n for n, r in enumerate(results) if r.delivered}

    def notices() -> set[int]:
        messages = tenant.workspace.conversations[channel].messages
        return {
            int(m.thread_ts.split(".")[1])
            for m in messages
            if m.thread_ts and "not delivered" in m.text
        }

    await until(reactor, lambda: acknowledged <= (set(tally.received) | notices()), 30)
    told = notices()
    arrived = set(tally.received)
    return {
        "scenario": "kill -9 while webhooks arrive (Slack -> XMPP)",
        "messages": count,
        "acknowledged": len(acknowledged),
        "never_acknowledged": count - len(acknowledged),
        "arrived": len(arrived),
        "told_not_delivered": len(told),
        "ambiguous": len(arrived & told),
        "lost": len(acknowledged - arrived - told),
        "duplicated": sum(1 for n in tally.received.values() if n > 1),
        "arrived_unacknowledged": len(arrived - acknowledged),
        "settled": acknowledged <= arrived | told,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(reactor: Any, *argv: str) -> Deferred[None]:
    parser = argparse.ArgumentParser(prog="python -m bench.crash")
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--result", default="")
    parser.add_argument("--scenario", choices=("queued", "webhooks"), default="queued")
    args = parser.parse_args(argv)

    async def go() -> None:
        result = await run(reactor, args.messages, args.scenario)
        text = json.dumps(result, indent=2)
        if args.result:
            Path(args.result).write_text(text)
        print(text, flush=True)

    return Deferred.fromCoroutine(go())


if __name__ == "__main__":
    import sys

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    task.react(main, sys.argv[1:])
