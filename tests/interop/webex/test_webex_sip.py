"""
A Webex user of tenant C{a.test} and alice on SIP domain C{b.test}, through
Kamailio over mutual TLS (sipp behind it), inside the interop network
namespace: pager MESSAGEs both ways.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.storage.records import ContactDirection, ContactRecord, ContactState
from tests.interop.harness import sipp
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import poll
from tests.interop.harness.sipp import start_sipp
from tests.interop.sip.world import UAS_PORT, platform_hub_behind_kamailio

from .hub import WebexHub

HUB_DOMAIN = "a.test"
REMOTE_DOMAIN = "b.test"
ALICE = f"alice@{REMOTE_DOMAIN}"


class WebexKamailioTests(TestCase):
    """
    Webex user wendy@a.test and alice@b.test behind Kamailio.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_messages_both_ways(self) -> Any:
        """
        Alice's MESSAGE reaches wendy's direct space after alice's name;
        wendy's plain reply goes to her as a MESSAGE.
        """
        env = yield InteropEnvironment.create(self, programs=("kamailio", "sipp"))
        hub = WebexHub(env, {}, domain=HUB_DOMAIN)
        kamailio_address = yield platform_hub_behind_kamailio(
            self, env, hub, HUB_DOMAIN, REMOTE_DOMAIN
        )
        self.addCleanup(lambda: self.assertEqual(hub.sim.violations, []))
        # wendy meets the bot (the hub registers her), then alice is her contact.
        hub.says("help")
        yield poll(
            env.reactor, lambda: hub.posted("invite"), 20, "the help", explain=hub.diagnostics
        )
        now = datetime.now(UTC)
        wendy = Address.parse(f"wendy@{HUB_DOMAIN}")
        yield hub.service.store.put_contact(
            ContactRecord(
                wendy,
                Address.parse(ALICE),
                ContactState.ACCEPTED,
                ContactDirection.OUTBOUND,
                now,
                now,
            )
        )

        # SIP -> Webex.
        uac = yield start_sipp(
            env.reactor,
            "to-webex",
            sipp.message_uac("hello from SIP marker1"),
            env.directory / "sipp-to-webex",
            remote=f"{kamailio_address}:5060",
            local_port=5101,
            keys={"domain": HUB_DOMAIN},
            service="wendy",
            timeout=45,
        )
        self.addCleanup(uac.stop)
        yield env.with_diagnostics(uac.wait(env.reactor, 60))
        shown = yield poll(
            env.reactor,
            lambda: hub.posted("hello from SIP marker1"),
            20,
            "the MESSAGE in Webex",
            explain=hub.diagnostics,
        )
        self.assertIn("alice", shown.markdown or "")

        # Webex -> SIP: a plain message goes to the last contact heard from.
        uas = yield start_sipp(
            env.reactor,
            "from-webex",
            sipp.message_uas(["hello from Webex marker2"]),
            env.directory / "sipp-from-webex",
            remote=None,
            local_port=UAS_PORT,
            calls=1,
            service="alice",
            timeout=45,
            listen=True,
        )
        self.addCleanup(uas.stop)
        hub.says("hello from Webex marker2")
        yield env.with_diagnostics(uas.wait(env.reactor, 60))
