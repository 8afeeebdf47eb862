"""
One crash run: a mixed burst over a L{CrashWorld}, kill -9 at a chosen
moment, restart on the same database, then the ledger of every message.

    run = CrashRun(world, Burst(per_leg=100, rate=50.0, lanes=10))
    figures = await run.go(kill_when=run.webhooks_sent(33))

The three legs, message C{n} of each (see L{Burst} for who talks to whom):

  - C{slack}: a Slack user posts in their conversation with an XMPP user;
    the simulator sends the signed C{message} event to the hub, retrying
    as Slack does what was not acknowledged. Arrives at the XMPP client;
    told by a notice threaded to the post.
  - C{xmpp}: an XMPP user's client sends a chat message (stanza id
    C{xmpp<n>}, receipt requested) to a Slack user through Prosody.
    Arrives as a Slack post; told by a message error with the stanza id.
  - C{sip}: a SIP user sends a C{MESSAGE} through Kamailio to a Slack user.
    Arrives as a Slack post; told by a C{MESSAGE} saying "not delivered".

Accepted means: Slack event acknowledged; SIP answered 2xx; XMPP stanza
holding a work record in the hub's database (a stanza on the wire when
the hub dies was never the hub's; Prosody bounces it, as the hub never
acknowledged it, XEP-0198).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast
from xml.sax.saxutils import escape

from attrs import define
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from .ledger import Leg, sequence, text
from .world import HUB_DOMAIN, CrashWorld

__all__ = ["Burst", "CrashRun"]

NS_RECEIPTS = "urn:xmpp:receipts"


@define(frozen=True)
class Burst:
    """
    What one run sends.

    @ivar per_leg: Messages on each leg.
    @ivar rate: Messages a second on each leg.
    @ivar lanes: How many Slack users take part (fewer: more messages per
        Slack conversation, so posts queue behind Slack's one a second).
    """

    per_leg: int
    rate: float
    lanes: int


class _Events:
    """
    The simulator's event sender, keeping each event's delivery.
    """

    def __init__(self, sender: Any) -> None:
        self.sender = sender
        self.pending: list[Deferred[Any]] = []

    def send_event(self, event: Any) -> Deferred[Any]:
        d = self.sender.send_event(event)
        self.pending.append(d)
        return d


async def sleep(reactor: Any, seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


class CrashRun:
    """
    The burst, the kill, the restart and the ledger; see the module docstring.

    @ivar legs: The ledger of each leg, by name.
    @ivar timings: Seconds of each phase.
    """

    def __init__(self, world: CrashWorld, burst: Burst) -> None:
        self.world = world
        self.burst = burst
        self.reactor = world.reactor
        self.legs = {name: Leg(name) for name in ("slack", "xmpp", "sip")}
        self.timings: dict[str, float] = {}
        self._ts: dict[str, int] = {}
        self._calls: dict[str, int] = {}
        self._events = _Events(world.events)
        world.slack.simulator.events = cast(Any, self._events)
        world.on_post = self._posted
        self._restarted: Deferred[None] | None = None
        self._warm: set[tuple[str, int]] = set()
        #: The stanza error condition of each XMPP message bounced.
        self._xmpp_errors: dict[int, str] = {}
        self._started = time.monotonic()
        #: Whether the kill came at its moment (not at the deadline).
        self.met = True

    # -- sending ------------------------------------------------------------

    def _recipient(self, n: int, remotes: int) -> tuple[int, int]:
        """
        (Slack user, remote user) of message C{n} on a leg with C{remotes}
        remote users: spread over every pair of the lanes.
        """
        return (n // remotes) % self.burst.lanes, n % remotes

    def send(self, leg: str, n: int) -> None:
        """
        Send message C{n} of C{leg}.
        """
        self.legs[leg].sent.add(n)
        remotes = self.world.xmpp_users if leg != "sip" else self.world.sip_users
        self._send(leg, n, *self._recipient(n, remotes))

    def _send(self, leg: str, n: int, i: int, j: int, label: str = "") -> None:
        """
        Send message C{n} of C{leg} between Slack user C{i} and remote user
        C{j}, its text labelled C{label} (default: the leg).
        """
        world = self.world
        words = text(label or leg, n)
        if leg == "slack":
            channel = world.channels[(i, world.xmpp_address(j))]
            posted = world.slack.simulator.user_posts(world.slack.user_ids[i], channel, words)
            if not label:
                self._ts[posted.ts] = n
        elif leg == "xmpp":
            world.xmpp[j].send_raw(
                f"<message to='user{i}@{HUB_DOMAIN}' type='chat' id='{label or leg}{n}'>"
                f"<body>{escape(words)}</body>"
                f"<request xmlns='{NS_RECEIPTS}'/></message>"
            )
        else:
            sender, recipient = world.sip_address(j), f"user{i}@{HUB_DOMAIN}"
            call_id = world.sip.send(sender, recipient, words)
            if not label:
                self._calls[call_id] = n
                self.legs["sip"].conversation[n] = f"{sender}|{recipient}"

    async def warm_up(self, timeout: float = 30.0, slack_users: int = 1) -> None:
        """
        One message from and to every remote user (and each of the first
        C{slack_users} Slack users), not counted, and wait until they
        arrived: the s2s streams, the SIP connection and the senders'
        profiles are in place before the burst, as in a hub that has been
        running.
        """
        world, seen = self.world, self._warm
        for i in range(slack_users):
            for j in range(world.xmpp_users):
                pair = i * world.xmpp_users + j
                self._send("slack", pair, i, j, "warmslack")
                self._send("xmpp", pair, i, j, "warmxmpp")
        for k in range(world.sip_users):
            self._send("sip", k, 0, k, "warmsip")
        expected = 2 * slack_users * world.xmpp_users + world.sip_users
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for client in world.xmpp:
                seen.update(
                    ("warmslack", n)
                    for m in client.messages
                    if (n := sequence("warmslack", m.body)) is not None
                )
            if len(seen) >= expected:
                return
            await sleep(self.reactor, 0.1)
        raise AssertionError(f"warm-up: {len(seen)} of {expected} arrived: {sorted(seen)}")

    # -- kill moments ---------------------------------------------------------

    def webhooks_acknowledged(self, count: int) -> Callable[[], bool]:
        """
        Kill once C{count} Slack events were acknowledged, while the rest
        still arrive.
        """

        def ready() -> bool:
            self._collect_slack()
            return len(self.legs["slack"].accepted) >= count

        return ready

    def posts_queued(self, posted: int, answered: int) -> Callable[[], bool]:
        """
        Kill once every message for Slack was sent, C{answered} SIP ones
        were answered 2xx and C{posted} messages are on Slack: the rest
        wait in the hub's queues for Slack's pace.
        """

        def ready() -> bool:
            self._collect_sip()
            sent = len(self.legs["xmpp"].sent) + len(self.legs["sip"].sent)
            on_slack = len(self.legs["xmpp"].arrivals) + len(self.legs["sip"].arrivals)
            accepted = len(self.legs["sip"].accepted)
            return sent == 2 * self.burst.per_leg and accepted >= answered and on_slack >= posted

        return ready

    def streams_carrying(self, arrived: int) -> Callable[[], bool]:
        """
        Kill once C{arrived} Slack messages reached the XMPP users while
        the XMPP users still send: both s2s streams open and busy.
        """

        def ready() -> bool:
            self._collect_xmpp()
            return len(self.legs["slack"].arrivals) >= arrived

        return ready

    # -- the run ---------------------------------------------------------------

    async def go(self, kill_when: Callable[[], bool], settle: float = 30.0) -> dict[str, Any]:
        """
        Send the burst, kill the hub when C{kill_when()} holds (checked
        between messages and every 20 ms after), start it again, wait until
        every message is settled (or C{settle} seconds), and account.

        @return: The figures by leg and the timings.
        """
        await self.warm_up()
        started = self._started = time.monotonic()
        sending = Deferred.fromCoroutine(self._send_all(kill_when))
        give_up = started + 30.0
        while self._restarted is None:
            if kill_when() or time.monotonic() > give_up:
                self.met = kill_when()
                self._kill()
            else:
                await sleep(self.reactor, 0.02)
        await sending
        await self._restarted
        restarted = time.monotonic()
        deadline = restarted + settle
        settled = False
        while time.monotonic() < deadline and not settled:
            settled = await self._settled(patience=time.monotonic() > restarted + 10.0)
            await sleep(self.reactor, 0.25)
        # Late duplicates would arrive now.
        await sleep(self.reactor, 1.0)
        await self._settled(patience=True)
        self.timings["restart"] = round(restarted - started - self.timings["killed_at"], 1)
        self.timings["total"] = round(time.monotonic() - started, 1)
        records = await deferToThread(self.world.work_records)
        return {
            "legs": {name: leg.figures() for name, leg in self.legs.items()},
            # Why Prosody bounced the XMPP messages the hub never accepted:
            # recipient-unavailable (not acknowledged, XEP-0198) or
            # remote-server-not-found / -timeout (no stream while down).
            "xmpp_bounced": dict(
                Counter(
                    condition
                    for n, condition in self._xmpp_errors.items()
                    if n not in self.legs["xmpp"].accepted
                )
            ),
            "slack_events_retried": sum(
                1 for d in self._events.sender.deliveries if len(d.attempts) > 1
            ),
            "work_records": dict(Counter(f"{source} {state}" for source, _, state in records)),
            "seconds": dict(self.timings),
            "hub_starts": self.world.starts,
            "kill_moment_reached": self.met,
            "settled": settled,
        }

    async def _send_all(self, kill_when: Callable[[], bool]) -> None:
        interval = 1.0 / self.burst.rate
        began = time.monotonic()
        for n in range(self.burst.per_leg):
            for leg in ("slack", "xmpp", "sip"):
                if self._restarted is None and kill_when():
                    self._kill()
                self.send(leg, n)
            delay = began + (n + 1) * interval - time.monotonic()
            await sleep(self.reactor, max(0.0, delay))
        self.timings["sending"] = round(time.monotonic() - began, 1)

    def _kill(self) -> None:
        self.world.kill_hub()
        self.timings["killed_at"] = round(time.monotonic() - self._started, 1)
        self._restarted = Deferred.fromCoroutine(self.world.start_hub())

    # -- accounting --------------------------------------------------------------

    async def _settled(self, patience: bool) -> bool:
        """
        Collect what arrived and was told; whether nothing is owed any more
        and every sender has its answer (with C{patience}: XMPP stanzas
        neither answered nor recorded are taken as never read by the hub).
        """
        self._collect_xmpp()
        self._collect_slack()
        self._collect_sip()
        records = await deferToThread(self.world.work_records)
        xmpp = self.legs["xmpp"]
        xmpp.accepted |= {
            n
            for source, native, _ in records
            if source == "xmpp" and (n := _number("xmpp", native)) is not None
        }
        events_done = all(d.called for d in self._events.pending)
        sip_done = len(self.world.sip.finals) >= len(self.legs["sip"].sent)
        owed = any(leg.figures()["lost"] for leg in self.legs.values())
        unread = patience or not self.legs["xmpp"].figures()["unaccepted"]
        return events_done and sip_done and not owed and unread

    def _collect_xmpp(self) -> None:
        slack, xmpp = self.legs["slack"], self.legs["xmpp"]
        slack.arrivals.clear()
        for client in self.world.xmpp:
            for message in list(client.messages):
                number = _number("xmpp", message.id)
                if message.type == "error":
                    if number is not None:
                        xmpp.told.add(number)
                        self._xmpp_errors[number] = message.error_condition or "?"
                    continue
                slack.arrived(sequence("slack", message.body))
                receipt = message.child(NS_RECEIPTS, "received")
                if receipt is not None:
                    confirmed = _number("xmpp", receipt.get("id", ""))
                    if confirmed is not None:
                        xmpp.succeeded.add(confirmed)

    def _collect_slack(self) -> None:
        slack = self.legs["slack"]
        for delivery in self._events.sender.deliveries:
            n = self._ts.get(str(delivery.envelope["event"].get("ts")))
            if n is not None and delivery.delivered:
                slack.accepted.add(n)
        for conversation in self.world.slack.workspace.conversations.values():
            for message in conversation.messages:
                n = self._ts.get(message.thread_ts or "")
                if n is not None and "not delivered" in message.text.lower():
                    slack.told.add(n)

    def _collect_sip(self) -> None:
        sip = self.legs["sip"]
        for call_id, status in self.world.sip.finals.items():
            n = self._calls.get(call_id)
            if n is not None and 200 <= status < 300:
                sip.accepted.add(n)
                if status == 200:
                    sip.succeeded.add(n)
        sip.notices_in(
            f"{m.recipient}|{m.sender}"
            for m in self.world.inbox.messages
            if "not delivered" in m.text.lower()
        )

    def _posted(self, channel: str, posted: str, received_ns: int) -> None:
        for label in ("warmxmpp", "warmsip"):
            if (n := sequence(label, posted)) is not None:
                self._warm.add((label, n))
        self.legs["xmpp"].arrived(sequence("xmpp", posted))
        self.legs["sip"].arrived(sequence("sip", posted))


def _number(prefix: str, value: str) -> int | None:
    if value.startswith(prefix) and value[len(prefix) :].isdigit():
        return int(value[len(prefix) :])
    return None
