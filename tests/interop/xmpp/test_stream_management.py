"""
Stream management (XEP-0198) on the s2s streams a real Prosody 0.12 opens
to the hub: Prosody enables it when the hub offers it after SASL EXTERNAL,
asks C{<r/>} after each stanza and drops what the hub's C{<a/>} covers
from its queue (what is left would be bounced if the stream died; the
crash suite, L{tests.interop.crash}, shows that). Over dialback, where
authentication brings no new features, it is never enabled and messages
flow as before.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.interop.harness.hub import poll

from .scenario import Scenario, prosody_scenario

PROSODY = "prosody1.test"
MESSAGES = 5


def answers(log: str) -> list[int]:
    """
    The C{h} of each C{<a/>} Prosody's outgoing streams received, in order
    (Lua orders attributes at random).
    """
    found = []
    for tag in re.findall(r"Received\[s2sout\]: <a ([^>]*)>", log):
        h = re.search(r"\bh='(\d+)'", tag)
        if "urn:xmpp:sm:3" in tag and h is not None:
            found.append(int(h.group(1)))
    return found


class ProsodyStreamManagementTests(TestCase):
    """
    Prosody's outgoing s2s stream to the hub, with and without stream
    management.
    """

    timeout = 120

    @defer.inlineCallbacks
    def conversation(self, s: Scenario) -> Any:
        """
        The client's messages reach the hub user; the hub answers one.
        """
        for n in range(MESSAGES):
            yield s.client_says(f"counted {n}", id=f"sm-{n}")
        yield s.hub_says("and back")

    @defer.inlineCallbacks
    def test_enabled_over_external(self) -> Any:
        """
        Prosody enables stream management on its stream to the hub; the
        hub's C{h} covers every stanza it received once enabled, and
        Prosody's queue drains to zero on the hub's acknowledgements.
        """
        s = yield prosody_scenario(self, PROSODY)
        yield self.conversation(s)
        [inbound] = s.hub.inbound_streams(PROSODY)
        self.assertEqual(inbound.sasl_domain, PROSODY)
        self.assertIsNotNone(inbound.sm.count)
        yield s.check(s.hub.wait_for_log("Stream management enabled on inbound s2s stream"))
        yield s.check(s.server.wait_for_log(r"Received\[s2sout\]: <enabled [^>]*urn:xmpp:sm:3"))
        # Each <r/> Prosody sent was answered; the last leaves nothing queued.
        yield s.check(s.server.wait_for_log(r"#queue = 0 \(acked: [1-9]"))
        count = inbound.sm.count

        def answered() -> list[int] | None:
            found = answers(s.server.log_text())
            covered = count.unconfirmed == 0 and found and found[-1] == count.h
            return found if covered else None

        found = yield s.check(poll(s.hub.reactor, answered, 10.0, "Prosody got the last h"))
        self.assertEqual(found, sorted(found))
        # Prosody flushes stanzas queued while connecting before it sends
        # <enable/>; those are not counted (nor kept for bouncing).
        self.assertGreaterEqual(count.h, MESSAGES - 1)

    @defer.inlineCallbacks
    def test_not_over_dialback(self) -> Any:
        """
        Over dialback the hub never offers stream management (no features
        after authentication); messages flow as before.
        """
        s = yield prosody_scenario(
            self,
            PROSODY,
            prosody=lambda env: {
                "trusted": False,
                "s2s_insecure_domains": ["hub.test"],
                "s2s_cert": env.cert_for(PROSODY, ca=env.rogue_ca),
            },
            hub={"insecure_domains": [PROSODY]},
        )
        yield self.conversation(s)
        [inbound] = s.hub.inbound_streams(PROSODY)
        self.assertIsNone(inbound.sasl_domain)
        self.assertIsNone(inbound.sm.count)
        self.assertNotIn("<sm xmlns='urn:xmpp:sm:3'", s.server.log_text())
        self.assertNotIn("Stream management enabled", s.hub.log_text())
