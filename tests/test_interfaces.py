"""
Every connector and store provides its interface (zope verifyObject).
"""

from __future__ import annotations

from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from nextplane.config import parse_config
from nextplane.connectors.registry import CONNECTORS, ConnectorContext
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.interfaces import IConnector, IEventSink, IStore
from nextplane.router import Router
from nextplane.storage.memory import MemoryStore
from nextplane.testing.connectors import RecordingConnector

from .helpers import CoreFixture
from .test_locate import FakeResolver

#: The least each connector's section needs to build.
MINIMAL_SECTIONS = {
    "slack": {"signing_secret": "test-signing-secret-0123"},
    "teams": {
        "app_id": "c9e8c047-2a74-40a2-b28a-b162d5f5327c",
        "app_password": "test-app-password",
        "multi_tenant": True,
    },
    "webex": {"bot_token": "test-bot-token", "webhook_secret": "test-webhook-secret-0123"},
}


class InterfaceTests(SynchronousTestCase):
    def test_every_registered_connector(self) -> None:
        """Each connector in the registry, built from its default config, provides IConnector."""
        directory = Path(self.mktemp())
        cert = ensure_domain_cert(directory, "acme.test", ensure_ca(directory))
        config = parse_config(
            {
                "tls": {"ca_certificates": [str(directory / "ca.crt")]},
                "tenants": [
                    {
                        "domain": "acme.test",
                        "platform": "echo",
                        "workspace": "w",
                        "certificate": str(cert.cert),
                        "private_key": str(cert.key),
                    }
                ],
                "connectors": {name: MINIMAL_SECTIONS.get(name, {}) for name in CONNECTORS},
            },
            environ={},
            registry=CONNECTORS,
        )
        core = CoreFixture()
        context = ConnectorContext(
            reactor=MemoryReactorClock(),
            store=core.store,
            sink=core.router,
            config=config,
            resolver=FakeResolver({}),  # type: ignore[arg-type]
            mount=lambda segment, resource: None,
        )
        for name, entry in CONNECTORS.items():
            connector = entry.build(context, config.connectors[name])
            self.assertTrue(verifyObject(IConnector, connector), name)
            self.assertEqual(connector.connector_name, name)
            self.assertIn(connector.role, ("platform", "federation"))

    def test_test_doubles(self) -> None:
        """The recording connector, the router and the memory store provide their interfaces."""
        self.assertTrue(verifyObject(IConnector, RecordingConnector("x")))
        self.assertTrue(verifyObject(IStore, MemoryStore()))
        self.assertIsInstance(CoreFixture().router, Router)
        self.assertTrue(verifyObject(IEventSink, CoreFixture().router))
