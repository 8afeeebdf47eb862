"""
Tests for the C{[connectors.sip]} section and L{build}: configuration
checks, and a connector wired from a hub configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from nextplane.config import ConfigError, parse_config
from nextplane.connectors.base import ConnectorContext
from nextplane.connectors.echo import ENTRY as ECHO
from nextplane.connectors.sip.connector import ENTRY, SipConfig, SipConnector
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.interfaces import DeliveryFailed, IConnector
from nextplane.tap import build_hub

from ..helpers import CoreFixture
from ..xmpp.fakenet import FakeResolver

REGISTRY = {"echo": ECHO, "sip": ENTRY}


class ConfigTests(SynchronousTestCase):
    """
    C{[connectors.sip]} validation, through the hub's configuration reader.
    """

    def setUp(self) -> None:
        directory = Path(self.mktemp())
        self.ca = ensure_ca(directory)
        self.cert = ensure_domain_cert(directory, "acme.test", self.ca)

    def data(self, sip: dict[str, Any], **extra: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tls": {"ca_certificates": [str(self.ca.cert)]},
            "tenants": [
                {
                    "domain": "acme.test",
                    "platform": "echo",
                    "workspace": "w",
                    "certificate": str(self.cert.cert),
                    "private_key": str(self.cert.key),
                }
            ],
            "connectors": {"echo": {}, "sip": sip},
        }
        data.update(extra)
        return data

    def parse(self, sip: dict[str, Any], **extra: Any) -> Any:
        return parse_config(self.data(sip, **extra), environ={}, registry=REGISTRY)

    def error(self, sip: dict[str, Any]) -> str:
        with self.assertRaises(ConfigError) as caught:
            self.parse(sip)
        return str(caught.exception)

    def test_defaults(self) -> None:
        config = self.parse({}).connectors["sip"]
        self.assertEqual(config, SipConfig())
        self.assertEqual(config.listen, "tcp:5061")

    def test_everything(self) -> None:
        config = self.parse(
            {
                "listen": "tcp:5061:interface=127.0.0.1",
                "relay_listen": "tcp:5060:interface=127.0.0.1",
                "trusted_relays": ["127.0.0.1", "::1"],
                "via_host": "sip.acme.test",
                "via_port": 5062,
                "routes": {"Sipco.Test": "127.0.0.1:5070;transport=tcp"},
                "session_domains": ["contoso.com"],
                "message_format": "html",
                "session_idle_timeout": 120,
                "subscription_expires": 600,
                "min_expires": 30,
                "max_message_bytes": 65536,
                "connect_timeout": 5,
                "advertise_alias": True,
                "system_ca": False,
                "message_timeout": 2.5,
                "idle_timeout": 30,
                "max_headers": 100,
                "max_connections_per_address": 3,
            }
        ).connectors["sip"]
        self.assertEqual(
            (
                config.message_timeout,
                config.idle_timeout,
                config.max_headers,
                config.max_connections_per_address,
            ),
            (2.5, 30.0, 100, 3),
        )
        self.assertEqual(config.routes, {"sipco.test": "127.0.0.1:5070;transport=tcp"})
        self.assertEqual(config.session_domains, frozenset({"contoso.com"}))
        self.assertEqual(config.trusted_relays, frozenset({"127.0.0.1", "::1"}))
        self.assertEqual(config.via_port, 5062)

    def test_errors(self) -> None:
        self.assertEqual(self.error({"lisen": "tcp:5061"}), "connectors.sip.lisen: unknown key")
        self.assertIn(
            "connectors.sip.trusted_relays[0]: not an IP address",
            self.error({"trusted_relays": ["relay.example"]}),
        )
        self.assertIn("connectors.sip.routes.b.test", self.error({"routes": {"b.test": "x y"}}))
        self.assertIn("connectors.sip.via_host", self.error({"via_host": "bad host"}))
        self.assertIn("message_format", self.error({"message_format": "rtf"}))
        self.assertIn("subscription_expires", self.error({"subscription_expires": 10}))
        self.assertIn("session_domains[0]", self.error({"session_domains": ["-x-"]}))
        for key, value in [
            ("message_timeout", 0),
            ("idle_timeout", -1),
            ("max_headers", 5),
            ("max_connections_per_address", 0),
            ("idle_timeout", "soon"),
        ]:
            message = self.error({key: value})
            self.assertIn(f"connectors.sip.{key}:", message)
            self.assertNotIn("\n", message)

    def test_partner(self) -> None:
        """
        Partners may name the sip protocol once the connector is configured.
        """
        config = self.parse(
            {}, federation={"partners": [{"domain": "sipco.test", "protocol": "sip"}]}
        )
        self.assertEqual(config.partners[0].protocol, "sip")


class BuildTests(ConfigTests):
    """
    L{build} from a hub configuration.
    """

    def build(self, sip: dict[str, Any], **extra: Any) -> tuple[SipConnector, MemoryReactorClock]:
        config = self.parse({"system_ca": False, **sip}, **extra)
        reactor = MemoryReactorClock()
        core = CoreFixture()
        revocations: list[Any] = []
        policy_listeners: list[Any] = []
        context = ConnectorContext(
            reactor=reactor,
            store=core.store,
            sink=core.router,
            config=config,
            resolver=FakeResolver(),
            mount=lambda segment, resource: None,
            on_revoke=revocations.append,
            on_policy_change=policy_listeners.append,
        )
        connector = ENTRY.build(context, config.connectors["sip"])
        self.assertEqual(len(revocations), 1)
        self.assertEqual(len(policy_listeners), 1)
        return connector, reactor

    def test_interface(self) -> None:
        connector, _ = self.build({})
        self.assertTrue(verifyObject(IConnector, connector))
        self.assertEqual((connector.connector_name, connector.role), ("sip", "federation"))
        self.assertEqual(connector.health()["state"], "stopped")

    def test_listeners(self) -> None:
        """
        Starting listens on the TLS endpoint and the relay endpoint; the
        Via host defaults to the first tenant.
        """
        connector, reactor = self.build(
            {"listen": "tcp:15061", "relay_listen": "tcp:15060", "trusted_relays": ["127.0.0.1"]}
        )
        self.successResultOf(connector.startService())
        self.assertEqual(sorted(port for port, *_ in reactor.tcpServers), [15060, 15061])
        self.assertEqual(connector.health()["state"], "ok")
        assert connector.transport is not None
        self.assertEqual(connector.transport.via_host, "acme.test")
        self.assertEqual(connector.transport.trusted_relays, frozenset({"127.0.0.1"}))
        self.successResultOf(connector.stopService())

    def test_partner_routes(self) -> None:
        """
        Partner routes of protocol sip become static routes.
        """
        connector, _ = self.build(
            {"routes": {"other.test": "192.0.2.7:5071"}},
            federation={
                "partners": [{"domain": "sipco.test", "protocol": "sip", "route": "192.0.2.9:5061"}]
            },
        )
        resolver = connector._resolver
        assert resolver is not None
        self.assertEqual(
            [(t.host, t.port) for t in self.successResultOf(resolver.targets("sipco.test"))],
            [("192.0.2.9", 5061)],
        )
        self.assertEqual(
            [(t.host, t.port) for t in self.successResultOf(resolver.targets("other.test"))],
            [("192.0.2.7", 5071)],
        )

    def test_routes_reach_the_locator(self) -> None:
        """
        A domain of C{[connectors.sip.routes]} is located as SIP without
        DNS (it publishes no records), so a hub user's messages and accepts
        reach it (issue 14).
        """
        config = self.parse({"system_ca": False, "routes": {"other.test": "192.0.2.7:5071"}})
        resolver = FakeResolver()
        hub = build_hub(
            config,
            MemoryReactorClock(),
            store=CoreFixture().store,
            resolver=resolver,
            registry=REGISTRY,
        )
        locator = hub.router._locator  # type: ignore[attr-defined]
        self.assertEqual(self.successResultOf(locator.locate("other.test")), "sip")
        self.failureResultOf(locator.locate("elsewhere.test"), DeliveryFailed)

    def test_needs_resolver(self) -> None:
        config = self.parse({})
        core = CoreFixture()
        context = ConnectorContext(
            reactor=MemoryReactorClock(),
            store=core.store,
            sink=core.router,
            config=config,
            resolver=None,
            mount=lambda segment, resource: None,
        )
        with self.assertRaises(ValueError):
            ENTRY.build(context, config.connectors["sip"])
