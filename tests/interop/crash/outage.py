"""
One outage run over a L{CrashWorld}: XMPP users send a steady stream to
Slack users while the Slack simulator's Web API fails every call for a
while (a cycle of 429s with C{Retry-After}, 503s, 500s, hangs longer than
the hub's C{request_timeout} and connection resets, before or after
acting), then recovers. A few Slack users post to XMPP users meanwhile.

    run = OutageRun(world, Outage(messages=200, rate=3.0, lanes=4, ...))
    figures = await run.through_outage()

Accounting reuses the crash suite's ledger (L{CrashRun}): each XMPP
message is delivered (posted once), told (a message error with its stanza
id), ambiguous (posted and told: Slack acted, then its answer was lost) or
lost. Added here: the order of the posts in each Slack conversation, the
faults each post met at the simulator, and when the stream drained.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from typing import Any

from attrs import define
from twisted.internet.defer import Deferred

from nextplane.testing.slack_sim import Fault

from .drive import Burst, CrashRun, sleep
from .ledger import sequence
from .world import CrashWorld

__all__ = ["AMBIGUOUS_FAULTS", "FAULTS", "Outage", "OutageRun"]

#: Slack's Retry-After in the outage (Slack's own are 30 s and more).
RETRY_AFTER = 10

#: The outage's faults, in turn: mostly refusals Slack did not act on (429
#: with Retry-After, 503), and 5 in 22 after which Slack may have acted
#: (500, no answer, reset; before or after acting).
FAULTS = tuple(
    fault
    for other in (
        Fault("status", status=503),
        Fault("status", status=500),
        Fault("status", status=503),
        Fault("hang"),
        Fault("status", status=503),
        Fault("reset"),
        Fault("status", status=503),
        Fault("reset_after"),
        Fault("status", status=503),
        Fault("hang_after"),
        Fault("status", status=503),
    )
    for fault in (Fault("ratelimit", retry_after=RETRY_AFTER), other)
)

#: How the simulator records each fault kind (error, status) after which
#: Slack may have acted, as the hub sees it: 500s, hangs, resets.
AMBIGUOUS_FAULTS = frozenset({("internal_error", 500), ("hang", 0), ("reset", 0)})


@define(frozen=True)
class Outage:
    """
    What one outage run sends and breaks.

    @ivar messages: XMPP -> Slack messages.
    @ivar rate: Of them, a second.
    @ivar lanes: Slack users they go to (each of them talks with every
        XMPP user: lanes x XMPP users conversations).
    @ivar inbound: Slack -> XMPP messages, spread over the outage.
    @ivar starts: Seconds into the stream when the outage starts.
    @ivar seconds: How long it lasts.
    """

    messages: int = 200
    rate: float = 3.0
    lanes: int = 4
    inbound: int = 8
    starts: float = 3.0
    seconds: float = 60.0


class OutageRun(CrashRun):
    """
    The stream, the outage, the drain and the ledger; see the module
    docstring.
    """

    def __init__(self, world: CrashWorld, outage: Outage) -> None:
        super().__init__(
            world, Burst(per_leg=outage.messages, rate=outage.rate, lanes=outage.lanes)
        )
        self.outage = outage
        #: Per Slack conversation, the XMPP message numbers in post order.
        self.order: defaultdict[str, list[int]] = defaultdict(list)
        #: Slack -> XMPP messages arrived before the outage ended.
        self.inbound_in_outage = 0
        self._last_post = 0.0

    def _posted(self, channel: str, posted: str, received_ns: int) -> None:
        super()._posted(channel, posted, received_ns)
        n = sequence("xmpp", posted)
        if n is not None:
            self.order[channel].append(n)
            self._last_post = time.monotonic()

    async def through_outage(self, settle: float = 30.0) -> dict[str, Any]:
        """
        Warm up, stream through the outage, wait until every message is
        posted or told (or C{settle} seconds after the stream and the
        outage ended), and account.
        """
        world, outage = self.world, self.outage
        simulator = world.slack.simulator
        await self.warm_up(slack_users=outage.lanes)
        warm_calls = len(simulator.calls)
        started = self._started = time.monotonic()
        sending = Deferred.fromCoroutine(self._stream())
        await sleep(self.reactor, outage.starts)
        simulator.outage(self.reactor.seconds() + outage.seconds, *FAULTS)
        await sleep(self.reactor, outage.seconds)
        self._collect_xmpp()
        self.inbound_in_outage = len(self.legs["slack"].arrivals)
        recovered = time.monotonic()
        await sending
        deadline = time.monotonic() + settle
        settled = False
        while time.monotonic() < deadline and not settled:
            settled = await self._settled(patience=False)
            if not settled:
                await sleep(self.reactor, 0.25)
        drained = time.monotonic()
        # Late duplicates would arrive now.
        await sleep(self.reactor, 2.0)
        await self._settled(patience=True)
        self.timings["drain_after_recovery"] = round(drained - recovered, 1)
        self.timings["last_post_after_recovery"] = round(self._last_post - recovered, 1)
        self.timings["total"] = round(time.monotonic() - started, 1)
        metrics = await world.metrics()
        return {
            "legs": {name: leg.figures() for name, leg in self.legs.items()},
            "receipts": len(self.legs["xmpp"].succeeded),
            "out_of_order": self.out_of_order(),
            "conversations": len(self.order),
            "inbound_in_outage": self.inbound_in_outage,
            "told_without_ambiguous_fault": sorted(self.told_without_ambiguous_fault()),
            "hub_ambiguous_failures": _ambiguous_failures(metrics),
            "simulator": self.simulator_figures(warm_calls),
            "seconds": dict(self.timings),
            "settled": settled,
        }

    async def _stream(self) -> None:
        """
        The XMPP messages at the burst's rate; the Slack ones spread over
        the outage, from its fifth second on.
        """
        outage = self.outage
        interval = 1.0 / self.burst.rate
        inbound_every = (outage.seconds - 10.0) / max(1, outage.inbound)
        inbound_at = [outage.starts + 5.0 + k * inbound_every for k in range(outage.inbound)]
        began = time.monotonic()
        for n in range(outage.messages):
            while inbound_at and time.monotonic() - began >= inbound_at[0]:
                k = outage.inbound - len(inbound_at)
                inbound_at.pop(0)
                self.legs["slack"].sent.add(k)
                self._send("slack", k, k % outage.lanes, k % self.world.xmpp_users)
            self.send("xmpp", n)
            delay = began + (n + 1) * interval - time.monotonic()
            await sleep(self.reactor, max(0.0, delay))
        self.timings["sending"] = round(time.monotonic() - began, 1)

    async def _settled(self, patience: bool) -> bool:
        """
        Whether every XMPP message was posted or told and every Slack one
        arrived (no kill here: the hub reads every stanza).
        """
        await super()._settled(patience=True)
        xmpp, slack = self.legs["xmpp"], self.legs["slack"]
        answered = set(xmpp.arrivals) | xmpp.told
        return xmpp.sent <= answered and slack.sent <= set(slack.arrivals)

    # -- figures ---------------------------------------------------------------

    def out_of_order(self) -> int:
        """
        Posts that came after a later message of their conversation.
        """
        late = 0
        for numbers in self.order.values():
            highest = -1
            for n in numbers:
                late += n < highest
                highest = max(highest, n)
        return late

    def _post_faults(self) -> dict[int, list[tuple[str | None, int]]]:
        """
        Per XMPP message, what the simulator answered each attempt to post it.
        """
        faults: dict[int, list[tuple[str | None, int]]] = defaultdict(list)
        for call in self.world.slack.simulator.calls:
            if call.method == "chat.postMessage":
                n = sequence("xmpp", str(call.args.get("text") or ""))
                if n is not None:
                    faults[n].append((call.error, call.status))
        return faults

    def told_without_ambiguous_fault(self) -> set[int]:
        """
        XMPP messages whose sender was told although no attempt to post
        them met a fault after which Slack may have acted (e.g. told for
        a 429 or 503: a failure the hub should have waited out).
        """
        faults = self._post_faults()
        return {n for n in self.legs["xmpp"].told if not AMBIGUOUS_FAULTS & set(faults.get(n, []))}

    def simulator_figures(self, since: int) -> dict[str, Any]:
        """
        What the simulator saw from call C{since} on: Web API answers by
        (method, error, status), post attempts and retries.
        """
        simulator = self.world.slack.simulator
        calls = simulator.calls[since:]
        attempts = Counter(len(a) for a in self._post_faults().values())
        return {
            "answers": {
                f"{c[0]} {c[1] or 'ok'} {c[2]}": count
                for c, count in Counter((c.method, c.error, c.status) for c in calls).most_common()
            },
            "post_attempts": sum(k * v for k, v in attempts.items()),
            "post_retries": sum((k - 1) * v for k, v in attempts.items()),
            "posts_by_attempts": dict(sorted(attempts.items())),
        }


def _ambiguous_failures(metrics: str) -> int | None:
    """
    The hub's count of Slack calls that failed ambiguously, from its
    C{/metrics}.
    """
    found = re.search(
        r'^nextplane_platform_ambiguous_failures_total\{platform="slack"\} (\S+)$',
        metrics,
        re.MULTILINE | re.IGNORECASE,
    )
    return int(float(found.group(1))) if found else None
