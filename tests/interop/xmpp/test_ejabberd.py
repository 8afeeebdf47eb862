"""
The hub federating with a real ejabberd 23.01 (Debian defaults, notably
C{s2s_use_starttls: required}), trusting the test CA: SASL EXTERNAL both
ways, and the whole conversation.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from .conversation import ConversationTests
from .scenario import Scenario, ejabberd_scenario

EJABBERD = "ejabberd1.test"


class EjabberdTests(ConversationTests, TestCase):
    """
    ejabberd with STARTTLS required and the test CA trusted.
    """

    def scenario(self, befriend: bool = True) -> defer.Deferred[Scenario]:
        return ejabberd_scenario(self, EJABBERD, befriend=befriend)

    @defer.inlineCallbacks
    def test_sasl_external_both_ways(self) -> Any:
        """
        With STARTTLS required, ejabberd and the hub authenticate each other
        with SASL EXTERNAL in both directions (ejabberd's log and the hub's
        stream state agree); DNS stayed inside the test domains.
        """
        s = yield self.scenario()
        self.assertIn("s2s_use_starttls: required", s.server.config_path.read_text())
        yield s.client_says("from ejabberd over EXTERNAL", id="ej-1")
        yield s.hub_says("to ejabberd over EXTERNAL")

        [inbound] = s.hub.inbound_streams(EJABBERD)
        self.assertEqual(inbound.sasl_domain, EJABBERD)
        outbound = s.hub.outbound_stream(EJABBERD)
        self.assertEqual(outbound.authentication, "EXTERNAL")
        yield s.check(
            s.server.wait_for_log(
                rf"Accepted inbound s2s EXTERNAL authentication hub\.test -> {EJABBERD}"
            )
        )
        yield s.check(
            s.server.wait_for_log(
                rf"Accepted outbound s2s EXTERNAL authentication {EJABBERD} -> hub\.test"
            )
        )
        self.assertTrue(s.env.dns.asked("_xmpp-server._tcp.hub.test", "SRV"))
        s.dns_stayed_inside(EJABBERD)

    @defer.inlineCallbacks
    def test_hub_restart(self) -> Any:
        """
        The hub stops and a new one starts on the same SQLite file:
        ejabberd reconnects on its own and messages flow both ways again,
        between contacts the new hub still knows.
        """
        s = yield self.scenario()
        yield s.client_says("before the restart", id="ejr-1")
        yield s.hub_says("hub before the restart")
        yield s.hub.stop()
        yield s.hub.start()
        yield s.client_says("after the restart", id="ejr-2")
        yield s.hub_says("hub after the restart")
        self.assertEqual(s.hub.starts, 2)


class EjabberdDialbackTests(TestCase):
    """
    ejabberd and the hub trusting neither's CA (ejabberd in the hub's
    C{insecure_domains}): dialback over TLS both ways, which ejabberd
    verifies over a dedicated connection to the hub.
    """

    timeout = 180

    @defer.inlineCallbacks
    def test_dialback_both_ways(self) -> Any:
        """
        Messages cross in both directions over dialback-authenticated
        streams; ejabberd falls back from EXTERNAL to dialback and logs it.
        """
        s = yield ejabberd_scenario(
            self,
            EJABBERD,
            ejabberd={"trusted": False},
            hub={"trusted": False, "insecure_domains": [EJABBERD]},
        )
        yield s.client_says("from ejabberd over dialback", id="ejdb-1")
        yield s.hub_says("to ejabberd over dialback")

        [inbound] = s.hub.inbound_streams(EJABBERD)
        self.assertIsNone(inbound.sasl_domain)
        outbound = s.hub.outbound_stream(EJABBERD)
        self.assertEqual(outbound.authentication, "dialback")
        yield s.check(s.hub.wait_for_log(f"Accepted dialback from {EJABBERD} to hub.test"))
        yield s.check(
            s.server.wait_for_log(
                rf"Accepted inbound s2s dialback authentication hub\.test -> {EJABBERD}"
            )
        )
        yield s.check(
            s.server.wait_for_log(
                rf"Accepted outbound s2s dialback authentication {EJABBERD} -> hub\.test"
            )
        )
        s.dns_stayed_inside(EJABBERD)
