# -*- test-case-name: tests.xmpp.test_resolve -*-
"""
Tests for L{nextplane.connectors.xmpp.resolve}.
"""

from __future__ import annotations

import random
from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.xmpp.resolve import (
    ResolutionError,
    ServerResolver,
    SRVRecord,
    Target,
    order_srv,
    parse_route,
    targets_from_srv,
)
from tests.xmpp.fakenet import FakeResolver


class OrderTests(SynchronousTestCase):
    """
    Tests for the pure ordering functions.
    """

    def test_priority(self) -> None:
        """
        Lower priority values come first.
        """
        records = [SRVRecord(20, 0, 1, "b"), SRVRecord(10, 0, 2, "a"), SRVRecord(30, 0, 3, "c")]
        self.assertEqual([r.target for r in order_srv(records)], ["a", "b", "c"])

    def test_weights(self) -> None:
        """
        Within a priority, records are drawn in proportion to their weight.
        """
        records = [SRVRecord(10, 90, 1, "heavy"), SRVRecord(10, 10, 2, "light")]
        rng = random.Random(1)
        first = Counter(order_srv(records, rng)[0].target for _ in range(2000))
        self.assertGreater(first["heavy"], 1600)
        self.assertGreater(first["light"], 100)

    def test_all_records_kept(self) -> None:
        """
        Ordering is a permutation, zero weights included.
        """
        records = [SRVRecord(1, w, i, f"t{i}") for i, w in enumerate([0, 5, 0, 10, 1])]
        ordered = order_srv(records, random.Random(3))
        self.assertEqual(sorted(r.port for r in ordered), [0, 1, 2, 3, 4])

    def test_direct_tls_first(self) -> None:
        """
        _xmpps-server targets (direct TLS) come before _xmpp-server ones.
        """
        targets = targets_from_srv(
            "peer.test",
            [SRVRecord(10, 0, 5270, "tls.peer.test.")],
            [SRVRecord(0, 0, 5269, "xmpp.peer.test.")],
        )
        self.assertEqual(
            targets,
            [Target("tls.peer.test", 5270, True), Target("xmpp.peer.test", 5269, False)],
        )

    def test_fallback(self) -> None:
        """
        Without SRV records the domain itself is tried on port 5269.
        """
        self.assertEqual(targets_from_srv("peer.test", [], []), [Target("peer.test", 5269, False)])

    def test_no_service(self) -> None:
        """
        A lone '.' target means no service: no fallback to the domain.
        """
        with self.assertRaises(ResolutionError):
            targets_from_srv("peer.test", [], [SRVRecord(0, 0, 0, ".")])

    def test_no_direct_tls_service(self) -> None:
        """
        '.' for _xmpps-server just skips direct TLS.
        """
        self.assertEqual(
            targets_from_srv("peer.test", [SRVRecord(0, 0, 0, ".")], [SRVRecord(0, 0, 5269, "x.")]),
            [Target("x", 5269, False)],
        )

    def test_parse_route(self) -> None:
        """
        Static routes read host:port, [v6]:port and host.
        """
        self.assertEqual(parse_route("10.0.0.1:5270"), Target("10.0.0.1", 5270))
        self.assertEqual(parse_route("[::1]:5270"), Target("::1", 5270))
        self.assertEqual(parse_route("xmpp.peer.test"), Target("xmpp.peer.test", 5269))
        self.assertRaises(ValueError, parse_route, "host:99999")


class ServerResolverTests(SynchronousTestCase):
    """
    Tests for L{ServerResolver} against a fake DNS.
    """

    def setUp(self) -> None:
        self.dns = FakeResolver()

    def test_srv_lookups(self) -> None:
        """
        Both SRV names are asked and combined in order.
        """
        self.dns.srv["_xmpps-server._tcp.peer.test"] = [(0, 0, 5223, "direct.peer.test")]
        self.dns.srv["_xmpp-server._tcp.peer.test"] = [
            (20, 0, 5269, "b.peer.test"),
            (10, 0, 5269, "a.peer.test"),
        ]
        targets = self.successResultOf(ServerResolver(self.dns).targets("Peer.Test"))
        self.assertEqual(
            [(t.host, t.direct_tls) for t in targets],
            [("direct.peer.test", True), ("a.peer.test", False), ("b.peer.test", False)],
        )

    def test_static_route_first(self) -> None:
        """
        A static route is used without asking DNS.
        """
        resolver = ServerResolver(self.dns, {"peer.test": "10.1.1.1:5999"})
        self.assertEqual(
            self.successResultOf(resolver.targets("peer.test")), [Target("10.1.1.1", 5999)]
        )
        self.assertEqual(self.dns.queries, [])

    def test_fallback_to_domain(self) -> None:
        """
        NXDOMAIN for both SRV names falls back to the domain on 5269.
        """
        targets = self.successResultOf(ServerResolver(self.dns).targets("peer.test"))
        self.assertEqual(targets, [Target("peer.test", 5269)])

    def test_no_service(self) -> None:
        """
        An explicit '.' SRV target fails resolution.
        """
        self.dns.srv["_xmpp-server._tcp.peer.test"] = [(0, 0, 0, ".")]
        self.failureResultOf(ServerResolver(self.dns).targets("peer.test"), ResolutionError)

    def test_addresses(self) -> None:
        """
        A then AAAA addresses, through the injected resolver; IP literals
        pass through.
        """
        self.dns.a["x.peer.test"] = ["192.0.2.5"]
        self.dns.aaaa["x.peer.test"] = ["2001:db8::5"]
        resolver = ServerResolver(self.dns)
        self.assertEqual(
            self.successResultOf(resolver.addresses("x.peer.test")), ["192.0.2.5", "2001:db8::5"]
        )
        self.assertEqual(
            self.successResultOf(
                ServerResolver(self.dns, prefer_ipv6=True).addresses("x.peer.test")
            ),
            ["2001:db8::5", "192.0.2.5"],
        )
        self.assertEqual(self.successResultOf(resolver.addresses("::1")), ["::1"])

    def test_no_addresses(self) -> None:
        """
        A host without addresses yields an empty list.
        """
        self.assertEqual(self.successResultOf(ServerResolver(self.dns).addresses("nx.test")), [])
