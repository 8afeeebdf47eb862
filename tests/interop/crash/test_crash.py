"""
The crash suite (issue 16): a real C{twistd nextplane} on SQLite among real
peers (Prosody, Kamailio, the Slack simulator; see L{world}) takes a mixed
burst of 300 messages (100 each: Slack -> XMPP, XMPP -> Slack, SIP ->
Slack through Kamailio) and is killed with SIGKILL at one of three moments,
then started again on the same database. Every message is accounted for
(L{ledger}):

  - lost silently: 0 (accepted, yet neither delivered nor told);
  - duplicated: 0; a message under way at the kill may be delivered and
    told (ambiguous), which is counted and reported;
  - no success before success (an XMPP receipt or a SIP 200 for a message
    that never arrived);
  - every "not delivered" notice reached its sender: on XMPP a message
    error with the stanza id, on Slack a notice threaded to the post, on
    SIP a C{MESSAGE} to a sender the hub had answered 202;
  - afterwards the marker is in none of the hub's files (database, -wal,
    -shm, log).

Messages the hub never accepted are counted (C{unaccepted}) but owe
nothing: a Slack event never acknowledged, a SIP C{MESSAGE} never answered
2xx, an XMPP stanza Prosody wrote on the s2s stream that the hub never read
before it died. The last kind is lost to its sender all the same: s2s has
no acknowledgement unless the hub offers XEP-0198 (Prosody 0.12 asks for it
on s2s and would then bounce what was not acknowledged); the figures show
how many.

Each test writes its figures to C{figures.json} in its directory and prints
them on one line.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.trial.unittest import TestCase

from .drive import Burst, CrashRun
from .ledger import MARKER
from .world import CrashWorld

#: Slack, XMPP and SIP users.
USERS = (10, 5, 5)
PER_LEG = 100


class CrashTests(TestCase):
    """
    kill -9 at three moments; see the module docstring.
    """

    timeout = 150

    async def crash(self, moment: str, burst: Burst, kill_when: Any) -> dict[str, Any]:
        world = await CrashWorld.create(self, USERS)
        run = CrashRun(world, burst)
        figures = await run.go(kill_when(run))
        figures["moment"] = moment
        figures["files_checked"] = [p.name for p in world.hub_files()]
        figures["privacy"] = self.private(world)
        path = world.env.directory / "figures.json"
        path.write_text(json.dumps(figures, indent=2))
        print(f"\ncrash figures: {json.dumps(figures)}")
        explain = f"{json.dumps(figures, indent=2)}\n{world.diagnostics()}"
        self.assertEqual(figures["hub_starts"], 2, explain)
        self.assertTrue(figures["kill_moment_reached"], explain)
        for name, leg in figures["legs"].items():
            self.assertEqual(leg["sent"], burst.per_leg, f"{name}: {explain}")
            for outcome in ("lost", "duplicated", "early_success", "strays"):
                self.assertEqual(leg[outcome], 0, f"{name} {outcome}: {explain}")
        self.assertTrue(figures["settled"], explain)
        self.assertEqual(figures["privacy"], [], explain)
        return figures

    def private(self, world: CrashWorld) -> list[str]:
        """
        The hub's files holding the marker (none may).
        """
        marker = MARKER.encode()
        return [p.name for p in world.hub_files() if marker in p.read_bytes()]

    async def test_kill_while_webhooks_arrive(self) -> None:
        """
        Killed once a third of the Slack events were acknowledged (20 a
        second on each leg); Slack retries what was not acknowledged, into
        the restarted hub.
        """
        figures = await self.crash(
            "webhooks arriving",
            Burst(per_leg=PER_LEG, rate=20.0, lanes=10),
            lambda run: run.webhooks_acknowledged(PER_LEG // 3),
        )
        self.assertGreater(figures["legs"]["slack"]["accepted"], PER_LEG // 2, figures)
        self.assertGreater(figures["slack_events_retried"], 0, figures)

    async def test_kill_while_slack_posts_queued(self) -> None:
        """
        Killed with most messages for Slack waiting for Slack's one post a
        second per conversation (two Slack users take them all).
        """
        figures = await self.crash(
            "Slack posts queued",
            Burst(per_leg=PER_LEG, rate=100.0, lanes=2),
            lambda run: run.posts_queued(posted=10, answered=PER_LEG // 2),
        )
        legs = figures["legs"]
        self.assertGreater(legs["xmpp"]["told"] + legs["sip"]["told"], PER_LEG // 2, figures)

    async def test_kill_while_s2s_streams_open(self) -> None:
        """
        Killed while Slack messages stream out to Prosody and the XMPP
        users' messages stream in.
        """
        await self.crash(
            "s2s streams open",
            Burst(per_leg=PER_LEG, rate=100.0, lanes=10),
            lambda run: run.streams_carrying(10),
        )
