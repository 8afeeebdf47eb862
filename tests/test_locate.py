"""
Tests for L{nextplane.locate.FederationLocator} with a fake resolver and a
fake clock: no DNS query ever leaves the test.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.names import dns
from twisted.names.error import DNSNameError
from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import PartnerConfig
from nextplane.interfaces import DeliveryFailed
from nextplane.locate import FederationLocator, route_protocols


class FakeResolver:
    """Answers SRV questions from a dict; records every question."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.asked: list[str] = []

    def lookupService(self, name: str, timeout: object = None) -> Deferred:
        self.asked.append(name)
        target = self.records.get(name)
        if target is None:
            return fail(DNSNameError(name))
        answer = dns.RRHeader(name, dns.SRV, payload=dns.Record_SRV(0, 0, 5269, target))
        return succeed(([answer], [], []))


class LocatorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()

    def locator(
        self, resolver: FakeResolver | None, partners: list[PartnerConfig] | None = None
    ) -> FederationLocator:
        return FederationLocator(
            partners or [], ["xmpp", "sip"], resolver, self.clock, cache_seconds=60
        )

    def test_partner_first(self) -> None:
        """Configured partners are answered without any DNS question."""
        resolver = FakeResolver({})
        found = self.locator(resolver, [PartnerConfig("widget.test", "sip")]).locate("widget.test")
        self.assertEqual(self.successResultOf(found), "sip")
        self.assertEqual(resolver.asked, [])

    def test_connector_routes(self) -> None:
        """
        A domain a connector routes statically (C{[connectors.sip.routes]})
        is answered without DNS, even when its SRV records say otherwise;
        partners still come first.
        """
        resolver = FakeResolver({"_xmpp-server._tcp.lync.test": "xmpp.lync.test"})
        locator = FederationLocator(
            [PartnerConfig("both.test", "xmpp")],
            ["xmpp", "sip"],
            resolver,
            self.clock,
            routes={"Lync.Test": "sip", "both.test": "sip"},
        )
        self.assertEqual(self.successResultOf(locator.locate("lync.test")), "sip")
        self.assertEqual(self.successResultOf(locator.locate("LYNC.test")), "sip")
        self.assertEqual(self.successResultOf(locator.locate("both.test")), "xmpp")
        self.assertEqual(locator.known_protocol("lync.test"), "sip")
        self.assertEqual(resolver.asked, [])

    def test_route_protocols(self) -> None:
        """
        L{route_protocols} maps each statically routed domain to its
        connector; the preferred protocol wins a domain both route.
        """
        self.assertEqual(
            route_protocols(
                {"xmpp": ["both.test", "x.test"], "sip": ["both.test", "S.test"]},
                ["xmpp", "sip"],
            ),
            {"both.test": "xmpp", "x.test": "xmpp", "s.test": "sip"},
        )
        self.assertEqual(route_protocols({}, ["xmpp"]), {})

    def test_xmpp_srv(self) -> None:
        """An _xmpp-server._tcp record means XMPP."""
        resolver = FakeResolver({"_xmpp-server._tcp.widget.test": "xmpp.widget.test"})
        self.assertEqual(self.successResultOf(self.locator(resolver).locate("widget.test")), "xmpp")

    def test_sip_srv(self) -> None:
        """A _sipfederationtls._tcp record means SIP."""
        resolver = FakeResolver({"_sipfederationtls._tcp.lync.test": "sip.lync.test"})
        self.assertEqual(self.successResultOf(self.locator(resolver).locate("lync.test")), "sip")

    def test_preference_order(self) -> None:
        """When a domain offers both, the first configured protocol wins."""
        resolver = FakeResolver(
            {
                "_xmpp-server._tcp.both.test": "x.both.test",
                "_sipfederationtls._tcp.both.test": "s.both.test",
            }
        )
        self.assertEqual(self.successResultOf(self.locator(resolver).locate("both.test")), "xmpp")

    def test_nothing_found(self) -> None:
        """No records fail as remote-server-not-found, naming the domain."""
        failure = self.failureResultOf(
            self.locator(FakeResolver({})).locate("void.test"), DeliveryFailed
        )
        self.assertEqual(failure.value.condition, "remote-server-not-found")
        self.assertIn("void.test", failure.value.reason)

    def test_cache(self) -> None:
        """Answers are cached until the TTL passes on the injected clock."""
        resolver = FakeResolver({"_xmpp-server._tcp.widget.test": "x.widget.test"})
        locator = self.locator(resolver)
        self.successResultOf(locator.locate("widget.test"))
        asked = len(resolver.asked)
        self.successResultOf(locator.locate("widget.test"))
        self.assertEqual(len(resolver.asked), asked)
        self.clock.advance(61)
        self.successResultOf(locator.locate("widget.test"))
        self.assertEqual(len(resolver.asked), 2 * asked)

    def test_null_target_means_no_service(self) -> None:
        """An SRV target of '.' says the service is decidedly not available."""
        resolver = FakeResolver({"_xmpp-server._tcp.no.test": ""})
        self.failureResultOf(self.locator(resolver).locate("no.test"), DeliveryFailed)
