"""
Tests for L{nextplane.connectors.federation.wiring}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.base import ConnectorContext
from nextplane.connectors.federation.wiring import (
    Listener,
    needs_resolver,
    trusted_ca_paths,
    wire,
)

from ..helpers import CoreFixture


class WiringTests(SynchronousTestCase):
    def context(self, resolver: Any = None) -> tuple[ConnectorContext, list[Any], list[Any]]:
        core = CoreFixture()
        revocations: list[Any] = []
        policy: list[Any] = []
        context = ConnectorContext(
            reactor=MemoryReactorClock(),
            store=core.store,
            sink=core.router,
            config=None,  # type: ignore[arg-type]
            resolver=resolver,
            mount=lambda segment, resource: None,
            on_revoke=revocations.append,
            on_policy_change=policy.append,
        )
        return context, revocations, policy

    def test_wire(self) -> None:
        """
        Listeners with an endpoint become child services; revocations and
        policy changes refresh the rules.
        """
        context, revocations, policy = self.context()
        connector = MultiService()
        refreshed: list[None] = []
        factory = Factory()
        wire(
            context,
            connector,
            lambda: refreshed.append(None),
            [
                Listener("a", "tcp:15061", factory, "(a)"),
                Listener("b", None, factory, "(b)"),
            ],
        )
        self.assertEqual([service.name for service in connector], ["a"])
        revocations[0](object())
        policy[0](object())
        self.assertEqual(len(refreshed), 2)

    def test_needs_resolver(self) -> None:
        context, _, _ = self.context()
        with self.assertRaises(ValueError) as caught:
            needs_resolver(context, "SIP")
        self.assertIn("SIP connector needs a DNS resolver", str(caught.exception))
        resolver = object()
        self.assertIs(needs_resolver(self.context(resolver)[0], "SIP"), resolver)

    def test_trusted_ca_paths(self) -> None:
        """
        The configured CAs, plus the system bundle when asked and present.
        """
        bundle = Path(self.mktemp())
        bundle.write_text("")

        class Hub:
            class tls:  # noqa: N801 - mimics Config.tls
                ca_certificates = ("/ca.pem",)

        hub: Any = Hub()
        self.assertEqual(trusted_ca_paths(hub, False, str(bundle)), ["/ca.pem"])
        self.assertEqual(trusted_ca_paths(hub, True, str(bundle)), ["/ca.pem", str(bundle)])
        self.assertEqual(trusted_ca_paths(hub, True, str(bundle) + ".absent"), ["/ca.pem"])
