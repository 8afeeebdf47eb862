"""
The outage suite (issue 16) on real processes: a real C{twistd nextplane}
on SQLite among real Prosody and the Slack simulator (the crash suite's
world, L{world}). XMPP users send 200 messages to Slack users, 3 a second
over 20 conversations, while for 60 s Slack's Web API answers every call
with the next of a cycle of faults (L{outage.FAULTS}): 429 with
C{Retry-After}, 503, 500, no answer within the hub's C{request_timeout},
and connection resets before or after acting. Then it recovers. Meanwhile
Slack users post a few messages to XMPP users.

  - every XMPP message is posted exactly once or its sender is told (a
    message error with its stanza id); none lost, none posted twice;
  - a sender is told only after a fault that leaves Slack's action
    unknown (a 500, a timeout, a reset); 429s and 503s are waited out:
    the outage deadline (180 s) is not what fails a message;
  - posted and told both (an ambiguous failure: Slack acted, its answer
    was lost) is counted and reported, not a failure;
  - in each conversation the posts keep the order they were sent in;
  - no XEP-0184 receipt for a message not posted;
  - the Slack -> XMPP messages arrive during the outage;
  - afterwards the marker is in none of the hub's files.

The figures go to C{figures.json} in the test's directory and are printed
on one line.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import TestCase

from .ledger import MARKER
from .outage import Outage, OutageRun
from .world import CrashWorld

#: Slack, XMPP and SIP users.
USERS = (4, 5, 0)
#: A hang outlives this (the default is 10 s; shorter keeps the run short).
REQUEST_TIMEOUT = 3


class OutageTests(TestCase):
    """
    A minute-long Slack Web API outage; see the module docstring.
    """

    timeout = 200

    async def test_outage(self) -> None:
        """
        Through a minute of 429s, 5xx, timeouts and resets every message is
        posted once, in order, or its sender told; inbound keeps flowing.
        """
        world = await CrashWorld.create(self, USERS, slack={"request_timeout": REQUEST_TIMEOUT})
        outage = Outage()
        figures = await OutageRun(world, outage).through_outage()
        marker = MARKER.encode()
        figures["privacy"] = [p.name for p in world.hub_files() if marker in p.read_bytes()]
        (world.env.directory / "figures.json").write_text(json.dumps(figures, indent=2))
        print(f"\noutage figures: {json.dumps(figures)}")
        explain = f"{json.dumps(figures, indent=2)}\n{world.diagnostics()}"
        xmpp, slack = figures["legs"]["xmpp"], figures["legs"]["slack"]
        self.assertEqual(xmpp["sent"], outage.messages, explain)
        for name, leg in figures["legs"].items():
            for outcome in ("lost", "duplicated", "early_success", "strays", "unaccepted"):
                self.assertEqual(leg[outcome], 0, f"{name} {outcome}: {explain}")
        self.assertTrue(figures["settled"], explain)
        self.assertEqual(xmpp["delivered"] + xmpp["told"] + xmpp["ambiguous"], xmpp["sent"])
        self.assertEqual(figures["told_without_ambiguous_fault"], [], explain)
        # The hub counted each ambiguous failure (each one a message told).
        told = xmpp["told"] + xmpp["ambiguous"]
        self.assertEqual(figures["hub_ambiguous_failures"], told, explain)
        self.assertEqual(figures["out_of_order"], 0, explain)
        self.assertEqual(figures["conversations"], outage.lanes * USERS[1], explain)
        # Most messages wait the outage out and are posted afterwards.
        self.assertGreater(xmpp["delivered"], outage.messages // 2, explain)
        self.assertGreater(figures["simulator"]["post_retries"], 0, explain)
        self.assertEqual(slack["delivered"], outage.inbound, explain)
        self.assertEqual(figures["inbound_in_outage"], outage.inbound, explain)
        self.assertEqual(figures["privacy"], [], explain)
