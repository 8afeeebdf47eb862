"""
Tests proving the interop harness before the hub enters the picture.

The DNS server and isolation guard tests run anywhere.  The others start
real Prosody/ejabberd and need C{scripts/in-netns} (skipped outside it,
failed under C{CI=true}).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from twisted.internet import defer, reactor, threads
from twisted.names import client, error
from twisted.names import dns as tdns
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from tests.interop.harness import netns
from tests.interop.harness.dns import DnsServer, DnsZone
from tests.interop.harness.ejabberd import render_config, render_inetrc
from tests.interop.harness.env import InteropEnvironment, InteropFailure
from tests.interop.harness.process import gather


def _zone() -> DnsZone:
    zone = DnsZone()
    zone.add_xmpp_server("prosody1.test", "127.0.0.11")
    zone.add_aaaa("xmpp.prosody1.test", "::1")
    return zone


class DnsServerTests(TestCase):
    """
    Tests for L{DnsServer} on an ephemeral port of 127.0.0.1.
    """

    def setUp(self) -> None:
        self.server = DnsServer(_zone())
        self.address = self.server.listen(reactor, "127.0.0.1", 0)
        self.addCleanup(self.server.stop)
        self.resolver = client.Resolver(servers=[self.address], reactor=reactor)

    def _dnspython(self, name: str, rdtype: str, tcp: bool = False, rd: bool = True) -> Any:
        """Ask with dnspython in a thread; returns the response message."""
        query = dns.message.make_query(name, rdtype)
        if not rd:
            query.flags &= ~dns.flags.RD
        ask = dns.query.tcp if tcp else dns.query.udp
        return threads.deferToThread(ask, query, self.address[0], timeout=5, port=self.address[1])

    @defer.inlineCallbacks
    def test_srv(self) -> Any:
        """An SRV query is answered authoritatively from the zone."""
        answers, _, _ = yield self.resolver.lookupService("_xmpp-server._tcp.prosody1.test")
        self.assertEqual(len(answers), 1)
        srv = answers[0].payload
        self.assertEqual((srv.priority, srv.weight, srv.port), (0, 0, 5269))
        self.assertEqual(srv.target.name, b"xmpp.prosody1.test")
        self.assertTrue(answers[0].auth)

    @defer.inlineCallbacks
    def test_a_and_aaaa(self) -> Any:
        """A and AAAA queries return only records of the asked type."""
        answers, _, _ = yield self.resolver.lookupAddress("xmpp.prosody1.test")
        self.assertEqual([a.payload.dottedQuad() for a in answers], ["127.0.0.11"])
        answers, _, _ = yield self.resolver.lookupIPV6Address("XMPP.Prosody1.Test")
        self.assertEqual([a.type for a in answers], [tdns.AAAA])

    @defer.inlineCallbacks
    def test_nxdomain(self) -> Any:
        """An unknown name, in or outside .test, is NXDOMAIN with an SOA."""
        yield self.assertFailure(self.resolver.lookupAddress("prosody1.test"), error.DNSNameError)
        response = yield self._dnspython("deb.debian.org", "A")
        self.assertEqual(response.rcode(), dns.rcode.NXDOMAIN)
        self.assertTrue(response.flags & dns.flags.AA)
        self.assertEqual([r.rdtype for r in response.authority], [dns.rdatatype.SOA])

    @defer.inlineCallbacks
    def test_nodata(self) -> Any:
        """A known name without records of the asked type is NOERROR, empty, with an SOA."""
        response = yield self._dnspython("xmpp.prosody1.test", "TXT")
        self.assertEqual(response.rcode(), dns.rcode.NOERROR)
        self.assertEqual(response.answer, [])
        self.assertEqual([r.rdtype for r in response.authority], [dns.rdatatype.SOA])

    @defer.inlineCallbacks
    def test_tcp(self) -> Any:
        """Queries over TCP are answered the same way and recorded as TCP."""
        response = yield self._dnspython("_xmpp-server._tcp.prosody1.test", "SRV", tcp=True)
        self.assertEqual(response.rcode(), dns.rcode.NOERROR)
        self.assertEqual(len(response.answer), 1)
        self.assertEqual(self.server.queries[-1].transport, "tcp")

    @defer.inlineCallbacks
    def test_rd_echoed(self) -> Any:
        """The RD flag of the query is echoed (Erlang inet_res insists)."""
        with_rd = yield self._dnspython("xmpp.prosody1.test", "A", rd=True)
        without_rd = yield self._dnspython("xmpp.prosody1.test", "A", rd=False)
        self.assertTrue(with_rd.flags & dns.flags.RD)
        self.assertFalse(without_rd.flags & dns.flags.RD)

    @defer.inlineCallbacks
    def test_records_queries(self) -> Any:
        """Every query is recorded with name, type, transport and rcode."""
        yield self.resolver.lookupService("_xmpp-server._tcp.prosody1.test")
        yield self.assertFailure(
            self.resolver.lookupAddress("elsewhere.example"), error.DNSNameError
        )
        self.assertEqual(
            [(q.name, q.type, q.transport, q.rcode) for q in self.server.queries],
            [
                ("_xmpp-server._tcp.prosody1.test", "SRV", "udp", "NOERROR"),
                ("elsewhere.example", "A", "udp", "NXDOMAIN"),
            ],
        )
        self.assertTrue(self.server.asked("_xmpp-server._tcp.prosody1.test", "SRV"))
        self.assertEqual(
            [q.name for q in self.server.unexpected(["prosody1.test"])], ["elsewhere.example"]
        )

    @defer.inlineCallbacks
    def test_zone_changes_apply(self) -> Any:
        """Records added or removed after start are served at once."""
        self.server.zone.add_a("late.test", "127.0.0.99")
        answers, _, _ = yield self.resolver.lookupAddress("late.test")
        self.assertEqual([a.payload.dottedQuad() for a in answers], ["127.0.0.99"])
        self.server.zone.remove("late.test")
        yield self.assertFailure(self.resolver.lookupAddress("late.test"), error.DNSNameError)


class IsolationGuardTests(SynchronousTestCase):
    """
    Tests for L{netns.require_isolation}.
    """

    def test_outside_skips(self) -> None:
        """Outside the namespace, tests with real peers are skipped with a reason."""
        self.patch(netns.os, "environ", {"PATH": os.environ.get("PATH", "")})
        exc = self.assertRaises(SkipTest, netns.require_isolation)
        self.assertIn("scripts/in-netns", str(exc))

    def test_outside_fails_in_ci(self) -> None:
        """Under CI=true the same situation is a failure, not a skip."""
        self.patch(netns.os, "environ", {"CI": "true"})
        self.assertRaises(netns.IsolationError, netns.require_isolation)

    def test_missing_program(self) -> None:
        """A missing program is reported with the install script's name."""
        problems = netns.isolation_problems(["/nonexistent/prosody"])
        self.assertIn("scripts/install-interop-deps.sh", problems[-1])

    def test_addresses(self) -> None:
        """Loopback addresses are distinct and skip the DNS address."""
        allocator = netns.LoopbackAllocator("127.0.0.52", reserved=["127.0.0.53"])
        self.assertEqual(
            [next(allocator) for _ in range(3)], ["127.0.0.52", "127.0.0.54", "127.0.0.55"]
        )


class ConfigRenderingTests(SynchronousTestCase):
    """
    Tests for generated ejabberd files.
    """

    def test_inetrc(self) -> None:
        """The inetrc sets resolv_conf before the nameserver, which it would otherwise wipe."""
        text = render_inetrc("127.0.0.53", 53)
        self.assertLess(text.index("resolv_conf"), text.index("nameserver"))
        self.assertIn("{nameserver, {127,0,0,53}, 53}.", text)

    def test_ejabberd_yaml(self) -> None:
        """Atoms stay plain and strings are quoted, as in Debian's example config."""
        from nextplane import devcerts
        from tests.interop.harness.ejabberd import EjabberdOptions

        certs = self.mktemp()
        ca = devcerts.ensure_ca(certs)
        cert = devcerts.ensure_domain_cert(certs, "ejabberd1.test", ca)
        text = render_config(EjabberdOptions("ejabberd1.test", "127.0.0.21", cert, ca.cert))
        self.assertIn("s2s_use_starttls: required\n", text)
        self.assertIn('  - "ejabberd1.test"\n', text)
        self.assertIn('    ip: "127.0.0.21"\n', text)
        self.assertIn("    module: ejabberd_s2s_in\n", text)


class NamespaceResolverTests(TestCase):
    """
    In the namespace, libc resolution reaches only the harness DNS server.
    """

    timeout = 30

    @defer.inlineCallbacks
    def test_libc_uses_harness_dns(self) -> Any:
        """getaddrinfo answers from our zone and fails for anything else, and we see both queries."""
        env = yield InteropEnvironment.create(self, programs=())
        env.zone.add_a("host.example.test", "127.0.0.77")
        infos = yield threads.deferToThread(
            socket.getaddrinfo, "host.example.test", 80, socket.AF_INET, socket.SOCK_STREAM
        )
        self.assertEqual({info[4][0] for info in infos}, {"127.0.0.77"})
        failure = yield self.assertFailure(
            threads.deferToThread(socket.getaddrinfo, "deb.debian.org", 80, socket.AF_INET),
            socket.gaierror,
        )
        self.assertIsInstance(failure, socket.gaierror)
        self.assertTrue(env.dns.asked("host.example.test", "A"))
        self.assertTrue(env.dns.asked("deb.debian.org", "A"))


class ProsodyTests(TestCase):
    """
    A private Prosody in the namespace, with slixmpp clients.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_message_between_local_users(self) -> Any:
        """Two users of one Prosody log in over STARTTLS and exchange messages, one to itself."""
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody("prosody1.test", users={"alice": "pw-a", "bob": "pw-b"})
        alice = yield env.client("alice@prosody1.test", "pw-a", server)
        bob = yield env.client("bob@prosody1.test", "pw-b", server)
        yield alice.send_message("alice@prosody1.test", "note to self")
        yield alice.send_message("bob@prosody1.test", "hello bob")
        mine = yield env.with_diagnostics(alice.wait_for_message(body="note to self"))
        received = yield env.with_diagnostics(bob.wait_for_message(body="hello bob"))
        self.assertEqual(mine.sender.split("/")[0], "alice@prosody1.test")
        self.assertEqual(received.sender.split("/")[0], "alice@prosody1.test")
        self.assertEqual(received.type, "chat")

    @defer.inlineCallbacks
    def test_wrong_password(self) -> Any:
        """A wrong password fails the login instead of hanging."""
        env = yield InteropEnvironment.create(self)
        server = yield env.start_prosody("prosody1.test", users={"alice": "pw-a"})
        failure = yield self.assertFailure(
            env.client("alice@prosody1.test", "nope", server, timeout=10), InteropFailure
        )
        self.assertIn("authentication failed", str(failure))


class ProsodyFederationTests(TestCase):
    """
    Two Prosody servers federating through our DNS and CA.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_sasl_external(self) -> Any:
        """prosody1.test and prosody2.test find each other by SRV and authenticate with SASL EXTERNAL."""
        env = yield InteropEnvironment.create(self)
        p1 = yield env.start_prosody("prosody1.test", users={"alice": "pw-a"})
        p2 = yield env.start_prosody("prosody2.test", users={"bob": "pw-b"})
        alice = yield env.client("alice@prosody1.test", "pw-a", p1)
        bob = yield env.client("bob@prosody2.test", "pw-b", p2)

        yield alice.send_message("bob@prosody2.test", "hello across s2s")
        received = yield env.with_diagnostics(bob.wait_for_message(body="hello across s2s"))
        self.assertEqual(received.sender.split("/")[0], "alice@prosody1.test")
        yield bob.send_message("alice@prosody1.test", "and back")
        yield env.with_diagnostics(alice.wait_for_message(body="and back"))

        # Both directions authenticated by certificate, not dialback.
        yield env.with_diagnostics(
            p2.wait_for_log("Accepting SASL EXTERNAL identity from prosody1.test")
        )
        yield env.with_diagnostics(
            p1.wait_for_log("Accepting SASL EXTERNAL identity from prosody2.test")
        )
        self.assertTrue(env.dns.asked("_xmpp-server._tcp.prosody2.test", "SRV"))
        self.assertTrue(env.dns.asked("_xmpp-server._tcp.prosody1.test", "SRV"))
        self.assertEqual(env.dns.unexpected(["prosody1.test", "prosody2.test"]), [])

    @defer.inlineCallbacks
    def test_dialback_for_untrusted_insecure_domain(self) -> Any:
        """With the CA untrusted and the peer in s2s_insecure_domains, dialback over TLS works."""
        env = yield InteropEnvironment.create(self)
        p1 = yield env.start_prosody(
            "prosody1.test",
            users={"alice": "pw-a"},
            trusted=False,
            s2s_insecure_domains=["prosody2.test"],
        )
        p2 = yield env.start_prosody(
            "prosody2.test",
            users={"bob": "pw-b"},
            trusted=False,
            s2s_insecure_domains=["prosody1.test"],
        )
        alice = yield env.client("alice@prosody1.test", "pw-a", p1)
        bob = yield env.client("bob@prosody2.test", "pw-b", p2)
        yield alice.send_message("bob@prosody2.test", "via dialback")
        yield env.with_diagnostics(bob.wait_for_message(body="via dialback"))
        self.assertNotIn("Accepting SASL EXTERNAL", p2.log_text())
        yield env.with_diagnostics(p1.wait_for_log("sent dialback key on outgoing s2s stream"))

    @defer.inlineCallbacks
    def test_untrusted_certificate_refused(self) -> Any:
        """Under s2s_secure_auth a peer with an untrusted certificate is refused and the message bounces."""
        env = yield InteropEnvironment.create(self)
        p1 = yield env.start_prosody("prosody1.test", users={"alice": "pw-a"})
        yield env.start_prosody(
            "prosody2.test",
            users={"bob": "pw-b"},
            cert=env.cert_for("prosody2.test", ca=env.rogue_ca),
        )
        alice = yield env.client("alice@prosody1.test", "pw-a", p1)
        yield alice.send_message("bob@prosody2.test", "should bounce", id="bounce-1")
        bounce = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: m.id == "bounce-1", type="error", timeout=30)
        )
        self.assertEqual(bounce.sender, "bob@prosody2.test")
        self.assertEqual(bounce.error_condition, "remote-server-timeout")
        yield env.with_diagnostics(p1.wait_for_log("certificate is not trusted|not trusted"))


class EjabberdProsodyFederationTests(TestCase):
    """
    ejabberd (STARTTLS required) federating with Prosody.
    """

    timeout = 90

    @defer.inlineCallbacks
    def test_messages_both_ways(self) -> Any:
        """carol@ejabberd1.test and alice@prosody1.test exchange messages over certificate-authenticated s2s."""
        env = yield InteropEnvironment.create(self, programs=("prosody", "ejabberd"))
        ej, p1 = yield gather(
            [
                env.start_ejabberd("ejabberd1.test", users={"carol": "pw-c"}),
                env.start_prosody("prosody1.test", users={"alice": "pw-a"}),
            ]
        )
        self.assertIn("s2s_use_starttls: required", ej.config_path.read_text())
        carol = yield env.client("carol@ejabberd1.test", "pw-c", ej)
        alice = yield env.client("alice@prosody1.test", "pw-a", p1)

        yield carol.send_message("alice@prosody1.test", "from ejabberd")
        yield env.with_diagnostics(alice.wait_for_message(body="from ejabberd"))
        yield alice.send_message("carol@ejabberd1.test", "from prosody")
        yield env.with_diagnostics(carol.wait_for_message(body="from prosody"))

        yield env.with_diagnostics(
            p1.wait_for_log("Accepting SASL EXTERNAL identity from ejabberd1.test")
        )
        yield env.with_diagnostics(
            ej.wait_for_log(
                r"Accepted inbound s2s EXTERNAL authentication prosody1\.test -> ejabberd1\.test"
            )
        )
        self.assertTrue(env.dns.asked("_xmpp-server._tcp.prosody1.test", "SRV"))
        self.assertTrue(env.dns.asked("_xmpp-server._tcp.ejabberd1.test", "SRV"))
        self.assertEqual(env.dns.unexpected(["prosody1.test", "ejabberd1.test"]), [])

    @defer.inlineCallbacks
    def test_xmppaddr_breaks_inbound_external(self) -> Any:
        """ejabberd 23.01 crashes on SASL EXTERNAL from a certificate with an xmppAddr, so devcerts omits it."""
        env = yield InteropEnvironment.create(self, programs=("prosody", "ejabberd"))
        ej, p1 = yield gather(
            [
                env.start_ejabberd("ejabberd1.test", users={"carol": "pw-c"}),
                env.start_prosody(
                    "prosody1.test",
                    users={"alice": "pw-a"},
                    cert=env.cert_for("prosody1.test", xmpp_addr=True),
                ),
            ]
        )
        alice = yield env.client("alice@prosody1.test", "pw-a", p1)
        yield alice.send_message("carol@ejabberd1.test", "never arrives", id="xmppaddr-1")
        bounce = yield env.with_diagnostics(
            alice.wait_for_message(lambda m: m.id == "xmppaddr-1", type="error", timeout=30)
        )
        self.assertEqual(bounce.error_condition, "remote-server-timeout")
        yield env.with_diagnostics(ej.wait_for_log(r"xmpp_stream_pkix,get_cert_domains"))
