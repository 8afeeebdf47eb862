"""
baresip 1.0 sending MESSAGE to the hub over TLS, with and without a client
certificate.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.model.events import TextMessage
from tests.interop.harness.baresip import BaresipOptions, start_baresip
from tests.interop.harness.process import tail, wait_for_text

from .world import HUB_DOMAIN, HUB_USER, REMOTE_USER, SipWorld


class BaresipTests(TestCase):
    """
    baresip connects straight to the hub's mutual-TLS listener.
    """

    timeout = 90

    def options(self, world: SipWorld, certificate: bool) -> BaresipOptions:
        combined = world.remote_cert.combined
        return BaresipOptions(
            user=REMOTE_USER,
            outbound=f"sip:{world.hub_address}:5061;transport=tls",
            ca=world.env.ca.cert,
            certificate=combined if certificate else None,
            contact=f"{HUB_USER}@{HUB_DOMAIN}",
        )

    @defer.inlineCallbacks
    def test_message_with_client_certificate(self) -> Any:
        """
        baresip's MESSAGE over TLS with its client certificate reaches the
        hub user; baresip gets 200.
        """
        world = yield SipWorld.create(self, kamailio=False)
        hub = world.hub_()
        process = start_baresip(
            world.reactor,
            self.options(world, certificate=True),
            world.env.directory / "baresip",
            ["/message Hello over TLS from baresip marker-b1"],
        )
        self.addCleanup(process.stop, 3.0)
        event = yield world.check(
            self.explained(hub.wait_for_event(kind="message", timeout=30), process)
        )
        assert isinstance(event, TextMessage)
        self.assertEqual(event.body.plain_text(), "Hello over TLS from baresip marker-b1")
        self.assertEqual(event.sender, Address.parse(REMOTE_USER))
        yield world.check(hub.wait_for_log(r"SIP connection from 127\.0\.0\.1:\d+ ready \(b\.test"))
        yield world.check(
            self.explained(wait_for_text(world.reactor, process.output, "SIP/2.0 200 OK"), process)
        )

    @defer.inlineCallbacks
    def test_no_client_certificate(self) -> Any:
        """
        Without a client certificate baresip is refused at TLS and its
        message never reaches the hub user.
        """
        world = yield SipWorld.create(self, kamailio=False)
        hub = world.hub_()
        process = start_baresip(
            world.reactor,
            self.options(world, certificate=False),
            world.env.directory / "baresip",
            ["/message this must not arrive"],
        )
        self.addCleanup(process.stop, 3.0)
        yield world.check(
            self.explained(
                hub.wait_for_log(r"from 127\.0\.0\.1:\d+ closed before it was verified", 30),
                process,
            )
        )
        self.assertEqual(hub.delivered(), [])
        self.assertNotIn("MESSAGE sip:", hub.traffic_text())

    def explained(self, d: defer.Deferred[Any], process: Any) -> defer.Deferred[Any]:
        def add_log(failure: Any) -> Any:
            failure.value.args = (
                f"{failure.getErrorMessage()}\n--- baresip output:\n{tail(process.output, 60)}",
            )
            return failure

        return d.addErrback(add_log)
