"""
Peer restart (issue 16): Prosody dies in the middle of a burst flowing
both ways between its users and the Slack users of a real C{twistd
nextplane} hub, and is started again.

Timeline (seconds from the first burst message), with Slack messages at
25/s and XMPP messages at 8/s round-robin over 16 conversations:

  - 0 to 1.5: both directions flow;
  - 1.5: Prosody hangs (SIGSTOP): the hub keeps writing to its stream,
    the clients keep sending into theirs, nobody reads;
  - 2.5: Prosody is killed (SIGKILL) and started again at once; the
    clients log in as soon as it listens;
  - until 6, and at least 1.5 after the clients are back (a slow
    start-up does not leave the test without traffic after it): both
    directions flow again; then everything settles.

What must hold, for every message the hub accepted (a Slack webhook it
acknowledged, an XMPP message it read and recorded):

  - it arrived exactly once, or its sender was told, on their own
    platform, that it was not delivered (a Slack notice in the message's
    thread; an XMPP message error with its stanza id), or both for a
    message the peer may have taken just before it died (ambiguous);
  - none lost silently, none duplicated, no work record left open.

Messages Prosody took from its own clients and never passed on (it
died with them) never reached the hub; they are counted, not judged.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import TestCase

from .burst import BurstWorld

#: The burst: (messages/s, seconds), Slack side and XMPP side.
SLACK_RATE, XMPP_RATE, DURATION = 25.0, 8.0, 6.0
FREEZE_AT, KILL_AT = 1.5, 2.5
#: Seconds the burst goes on once the clients are back, at least.
AFTER_BACK = 1.5


class PeerRestartTests(TestCase):
    timeout = 120

    async def test_prosody_killed_mid_burst(self) -> None:
        """
        Prosody hangs, is killed and started again during a two-way burst:
        every message the hub accepted is delivered once or its sender is
        told; the hub tells Slack senders of what the dead stream did not
        confirm, and both directions work again afterwards.
        """
        world = BurstWorld(self)
        await world.start()
        reactor = world.reactor
        started = reactor.seconds()
        timeline: dict[str, float] = {}

        def going(n: int, rate: float) -> bool:
            back = timeline.get("back_at")
            return n < rate * DURATION or back is None or n / rate < back + AFTER_BACK

        async def send(rate: float, say: Any) -> None:
            n = 0
            while going(n, rate):
                due = started + n / rate
                if reactor.seconds() < due:
                    await task.deferLater(reactor, due - reactor.seconds(), lambda: None)
                say(n)
                n += 1

        async def restart() -> None:
            await task.deferLater(reactor, FREEZE_AT, lambda: None)
            world.freeze_prosody()
            await task.deferLater(reactor, KILL_AT - FREEZE_AT, lambda: None)
            await world.kill_prosody()
            timeline["killed_at"] = round(reactor.seconds() - started, 2)
            await world.bring_prosody_back()
            timeline["back_at"] = round(reactor.seconds() - started, 2)

        await gatherResults(
            [
                Deferred.fromCoroutine(restart()),
                Deferred.fromCoroutine(send(SLACK_RATE, world.slack_says)),
                Deferred.fromCoroutine(send(XMPP_RATE, world.xmpp_says)),
            ],
            consumeErrors=True,
        )
        to_xmpp, to_slack = await world.settle(timeout=40)
        report = {
            "timeline": timeline,
            "slack_to_xmpp": to_xmpp.summary(),
            "xmpp_to_slack": to_slack.summary(),
            "seconds": round(reactor.seconds() - started, 1),
        }
        print(f"\npeer restart: {json.dumps(report)}")
        explain = f"{json.dumps(report, indent=2)}\n{world.diagnostics()}"
        for direction in (to_xmpp, to_slack):
            summary = direction.summary()
            self.assertEqual(summary["lost"], 0, explain)
            self.assertEqual(summary["duplicated"], 0, explain)
            self.assertEqual(summary["arrived_unaccepted"], 0, explain)
            self.assertEqual(summary["unfinished"], 0, explain)
        # The hub stayed up: Slack had every webhook acknowledged.
        self.assertEqual(to_xmpp.accepted, to_xmpp.sent, explain)
        # The hub's stream to Prosody used stream management, and the
        # stanzas the hung Prosody never confirmed were told as such.
        self.assertIn("stanzas are sent once acknowledged", world.hub_log(), explain)
        reasons = world.notices().values()
        self.assertTrue(any("ended before prosody1.test confirmed" in r for r in reasons), explain)
        # The outage was hit, and both directions work after it.
        self.assertGreater(len(to_xmpp.told), 0, explain)
        self.assertIn(max(to_xmpp.sent), to_xmpp.arrived, explain)
        self.assertIn(max(to_slack.sent), to_slack.arrived, explain)
