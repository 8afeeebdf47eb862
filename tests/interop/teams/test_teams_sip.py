"""
A Teams user of tenant C{a.test} and alice on SIP domain C{b.test}, through
Kamailio 5.6 over mutual TLS (sipp behind it), inside the interop network
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

from .hub import TeamsHub

HUB_DOMAIN = "a.test"
REMOTE_DOMAIN = "b.test"
ALICE = f"alice@{REMOTE_DOMAIN}"


class TeamsKamailioTests(TestCase):
    """
    Teams user tom@a.test and alice@b.test behind Kamailio.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_messages_both_ways(self) -> Any:
        """
        Alice's MESSAGE reaches tom's Teams chat under her address; tom's
        plain reply goes to her as a MESSAGE.
        """
        env = yield InteropEnvironment.create(self, programs=("kamailio", "sipp"))
        hub = TeamsHub(env, {}, domain=HUB_DOMAIN)
        kamailio_address = yield platform_hub_behind_kamailio(
            self, env, hub, HUB_DOMAIN, REMOTE_DOMAIN
        )
        now = datetime.now(UTC)
        tom = Address.parse(f"tom@{HUB_DOMAIN}")
        yield hub.channel.install(hub.tom)
        yield hub.service.store.put_contact(
            ContactRecord(
                tom,
                Address.parse(ALICE),
                ContactState.ACCEPTED,
                ContactDirection.OUTBOUND,
                now,
                now,
            )
        )

        # SIP -> Teams.
        uac = yield start_sipp(
            env.reactor,
            "to-teams",
            sipp.message_uac("hello from SIP marker1"),
            env.directory / "sipp-to-teams",
            remote=f"{kamailio_address}:5060",
            local_port=5101,
            keys={"domain": HUB_DOMAIN},
            service="tom",
            timeout=45,
        )
        self.addCleanup(uac.stop)
        yield env.with_diagnostics(uac.wait(env.reactor, 60))
        card = yield env.with_diagnostics(
            poll(
                env.reactor,
                lambda: hub.posted("hello from SIP marker1"),
                20,
                "the MESSAGE in Teams",
            )
        )
        self.assertIn(ALICE, repr(card.body))

        # Teams -> SIP: a plain message goes to the last contact heard from.
        uas = yield start_sipp(
            env.reactor,
            "from-teams",
            sipp.message_uas(["hello from Teams marker2"]),
            env.directory / "sipp-from-teams",
            remote=None,
            local_port=UAS_PORT,
            calls=1,
            service="alice",
            timeout=45,
            listen=True,
        )
        self.addCleanup(uas.stop)
        yield hub.channel.message(hub.tom, "hello from Teams marker2")
        yield env.with_diagnostics(uas.wait(env.reactor, 60))
        self.assertEqual(hub.sim.api.violations, [])
