"""
Tests for L{nextplane.connectors.federation.resolve.RoutedResolver}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.federation.resolve import RoutedResolver

from ..xmpp.fakenet import FakeResolver


class _Upper(RoutedResolver[str]):
    def read_route(self, route: str) -> str:
        if not route:
            raise ValueError("empty route")
        return route.upper()


class RoutedResolverTests(SynchronousTestCase):
    def test_routes(self) -> None:
        """
        Routes are read once and found by normalised domain.
        """
        resolver = _Upper(FakeResolver(), {"Peer.Test.": "edge:5061"})
        self.assertEqual(resolver.route_for("peer.test"), "EDGE:5061")
        self.assertEqual(resolver.route_for("PEER.test."), "EDGE:5061")
        self.assertIsNone(resolver.route_for("other.test"))

    def test_bad_route(self) -> None:
        with self.assertRaises(ValueError):
            _Upper(FakeResolver(), {"peer.test": ""})

    def test_addresses(self) -> None:
        """
        A and AAAA records, AAAA first when preferred; IP literals as is.
        """
        dns = FakeResolver()
        dns.a["edge.test"] = ["192.0.2.1"]
        dns.aaaa["edge.test"] = ["2001:db8::1"]
        self.assertEqual(
            self.successResultOf(_Upper(dns).addresses("edge.test")), ["192.0.2.1", "2001:db8::1"]
        )
        self.assertEqual(
            self.successResultOf(_Upper(dns, prefer_ipv6=True).addresses("edge.test")),
            ["2001:db8::1", "192.0.2.1"],
        )
        self.assertEqual(self.successResultOf(_Upper(dns).addresses("::1")), ["::1"])
