# -*- test-case-name: tests.sip.test_resolve -*-
"""
Tests for L{nextplane.connectors.sip.resolve}, against a fake resolver.
"""

from __future__ import annotations

import random

from twisted.internet.defer import fail
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.resolve import (
    ResolutionError,
    SipResolver,
    Target,
    expected_identities,
    parse_route,
)
from nextplane.connectors.sip.uri import SipURI, parse_uri
from tests.xmpp.fakenet import FakeResolver


class TargetTests(SynchronousTestCase):
    """
    Tests for L{SipResolver.targets}.
    """

    def setUp(self) -> None:
        self.dns = FakeResolver()
        self.resolver = SipResolver(self.dns, rng=random.Random(4))

    def targets(self, domain: str) -> list[Target]:
        return self.successResultOf(self.resolver.targets(domain))

    def test_federation_srv(self) -> None:
        """
        C{_sipfederationtls._tcp} wins, ordered by priority; C{_sips._tcp}
        is then not asked.
        """
        self.dns.srv["_sipfederationtls._tcp.contoso.com"] = [
            (20, 0, 5061, "sip2.contoso.com"),
            (10, 0, 5061, "sip.contoso.com"),
        ]
        self.dns.srv["_sips._tcp.contoso.com"] = [(0, 0, 5061, "other.contoso.com")]
        self.assertEqual(
            self.targets("Contoso.COM."),
            [Target("sip.contoso.com", 5061), Target("sip2.contoso.com", 5061)],
        )
        self.assertEqual(self.dns.queries, [("SRV", "_sipfederationtls._tcp.contoso.com")])

    def test_weights(self) -> None:
        """
        Within one priority, every record is tried once (RFC 2782 weights).
        """
        self.dns.srv["_sipfederationtls._tcp.big.test"] = [
            (10, 60, 5061, "a.big.test"),
            (10, 30, 5061, "b.big.test"),
            (10, 10, 5061, "c.big.test"),
            (5, 0, 5062, "first.big.test"),
        ]
        targets = self.targets("big.test")
        self.assertEqual(targets[0], Target("first.big.test", 5062))
        self.assertEqual({t.host for t in targets[1:]}, {"a.big.test", "b.big.test", "c.big.test"})

    def test_sips_srv(self) -> None:
        """
        Without federation records, C{_sips._tcp} is used.
        """
        self.dns.srv["_sips._tcp.b.test"] = [(0, 0, 5061, "proxy.b.test.")]
        self.assertEqual(self.targets("b.test"), [Target("proxy.b.test", 5061)])

    def test_no_service_then_sips(self) -> None:
        """
        A "." federation record is skipped when C{_sips._tcp} offers service.
        """
        self.dns.srv["_sipfederationtls._tcp.b.test"] = [(0, 0, 0, ".")]
        self.dns.srv["_sips._tcp.b.test"] = [(0, 0, 5061, "proxy.b.test")]
        self.assertEqual(self.targets("b.test"), [Target("proxy.b.test", 5061)])

    def test_no_service(self) -> None:
        """
        A "." record and nothing else: the domain has no SIP service.
        """
        self.dns.srv["_sipfederationtls._tcp.b.test"] = [(0, 0, 0, ".")]
        self.failureResultOf(self.resolver.targets("b.test"), ResolutionError)

    def test_address_fallback(self) -> None:
        """
        Without SRV records the domain itself is tried on 5061.
        """
        self.assertEqual(self.targets("plain.test"), [Target("plain.test", 5061, True, "address")])

    def test_lookup_error(self) -> None:
        """
        A failing SRV lookup counts as no records.
        """
        self.dns.lookupService = lambda name, timeout=None: fail(OSError("timeout"))  # type: ignore[method-assign]
        self.assertEqual(self.targets("x.test"), [Target("x.test", 5061, True, "address")])

    def test_ip_literal(self) -> None:
        """
        An IP address is its own target.
        """
        self.assertEqual(self.targets("192.0.2.7"), [Target("192.0.2.7", 5061, True, "address")])
        self.assertEqual(self.dns.queries, [])

    def test_static_route(self) -> None:
        """
        A configured route beats DNS.
        """
        resolver = SipResolver(self.dns, {"B.test": "127.0.0.1:5070;transport=tcp"})
        self.assertEqual(
            self.successResultOf(resolver.targets("b.test")),
            [Target("127.0.0.1", 5070, False, "route")],
        )
        self.assertEqual(self.dns.queries, [])


class PeerServesTests(SynchronousTestCase):
    """
    Tests for L{SipResolver.peer_serves} (inbound From-domain authorization).
    """

    def setUp(self) -> None:
        self.dns = FakeResolver()
        self.dns.srv["_sipfederationtls._tcp.contoso.com"] = [(0, 0, 5061, "sip.contoso.com")]
        self.dns.srv["_sips._tcp.b.test"] = [(0, 0, 5061, "proxy.b.test")]
        self.resolver = SipResolver(self.dns, {"partner.test": "edge.partner.net:5061"})

    def serves(self, domain: str, *identities: str) -> bool:
        return self.successResultOf(self.resolver.peer_serves(domain, identities))

    def test_own_name(self) -> None:
        """
        A certificate naming the domain speaks for it, without DNS.
        """
        self.assertTrue(self.serves("Contoso.com", "contoso.com"))
        self.assertEqual(self.dns.queries, [])

    def test_srv_target(self) -> None:
        """
        An Edge certificate naming the domain's SRV target speaks for it.
        """
        self.assertTrue(self.serves("contoso.com", "sip.contoso.com"))
        self.assertTrue(self.serves("b.test", "PROXY.b.test."))
        self.assertFalse(self.serves("contoso.com", "sip.evil.test"))
        self.assertFalse(self.serves("other.test", "sip.contoso.com"))

    def test_route(self) -> None:
        """
        For a configured partner, the route's host counts.
        """
        self.assertTrue(self.serves("partner.test", "edge.partner.net"))
        self.assertFalse(self.serves("partner.test", "sip.partner.test"))


class URITargetTests(SynchronousTestCase):
    """
    Tests for L{SipResolver.targets_for_uri} (RFC 3263 section 4.2).
    """

    def setUp(self) -> None:
        self.dns = FakeResolver()
        self.resolver = SipResolver(self.dns)

    def uri_targets(self, text: str) -> list[Target]:
        uri = parse_uri(text)
        assert isinstance(uri, SipURI)
        return self.successResultOf(self.resolver.targets_for_uri(uri))

    def test_port(self) -> None:
        """
        An explicit port skips SRV.
        """
        self.assertEqual(
            self.uri_targets("sip:sip.contoso.com:5061;transport=tls;lr"),
            [Target("sip.contoso.com", 5061, True, "uri")],
        )
        self.assertEqual(self.dns.queries, [])

    def test_ip(self) -> None:
        """
        An IP host uses 5061 without SRV; transport=tcp means no TLS.
        """
        self.assertEqual(
            self.uri_targets("sip:[2001:db8::5]"), [Target("2001:db8::5", 5061, True, "uri")]
        )
        self.assertEqual(
            self.uri_targets("sip:192.0.2.1;transport=tcp"),
            [Target("192.0.2.1", 5061, False, "uri")],
        )

    def test_maddr(self) -> None:
        """
        maddr replaces the host.
        """
        self.assertEqual(
            self.uri_targets("sip:bob@b.test;maddr=192.0.2.44"),
            [Target("192.0.2.44", 5061, True, "uri")],
        )

    def test_domain(self) -> None:
        """
        A bare domain is resolved like a SIP domain.
        """
        self.dns.srv["_sips._tcp.b.test"] = [(0, 0, 5061, "proxy.b.test")]
        self.assertEqual(self.uri_targets("sip:alice@b.test"), [Target("proxy.b.test", 5061)])


class AddressTests(SynchronousTestCase):
    """
    Tests for L{SipResolver.addresses}.
    """

    def test_order(self) -> None:
        """
        A records come before AAAA records, or after with prefer_ipv6.
        """
        dns = FakeResolver()
        dns.a["sip.b.test"] = ["192.0.2.1"]
        dns.aaaa["sip.b.test"] = ["2001:db8::1"]
        self.assertEqual(
            self.successResultOf(SipResolver(dns).addresses("sip.b.test")),
            ["192.0.2.1", "2001:db8::1"],
        )
        self.assertEqual(
            self.successResultOf(SipResolver(dns, prefer_ipv6=True).addresses("sip.b.test")),
            ["2001:db8::1", "192.0.2.1"],
        )
        self.assertEqual(self.successResultOf(SipResolver(dns).addresses("none.test")), [])
        self.assertEqual(self.successResultOf(SipResolver(dns).addresses("::1")), ["::1"])


class RouteTests(SynchronousTestCase):
    """
    Tests for L{parse_route} and L{expected_identities}.
    """

    def test_routes(self) -> None:
        """
        Host, host:port, IPv6 and transport forms.
        """
        self.assertEqual(parse_route("edge.b.test"), Target("edge.b.test", 5061, True, "route"))
        self.assertEqual(parse_route("[::1]:5071"), Target("::1", 5071, True, "route"))
        self.assertEqual(
            parse_route("10.0.0.1:5070;transport=TCP"), Target("10.0.0.1", 5070, False, "route")
        )
        for bad in ("", "a b", "x.test:0", "x.test;transport=udp", "2001:db8::1"):
            with self.assertRaises(ValueError, msg=bad):
                parse_route(bad)

    def test_expected(self) -> None:
        """
        The domain is always acceptable; the SRV target only inside the
        domain; a route's host and configured names too.
        """
        self.assertEqual(
            expected_identities("contoso.com", Target("sip.contoso.com")),
            frozenset({"contoso.com", "sip.contoso.com"}),
        )
        self.assertEqual(
            expected_identities("contoso.com", Target("sip.evil.example")),
            frozenset({"contoso.com"}),
        )
        self.assertEqual(
            expected_identities(
                "contoso.com", Target("edge.partner.net", source="route"), ["Edge.Partner.net."]
            ),
            frozenset({"contoso.com", "edge.partner.net"}),
        )
