"""
C{nextplane check} against the local DNS server and real peers in the
network namespace (Prosody for XMPP, Kamailio for SIP mutual TLS): it finds
each planted fault - missing SRV records, an SRV record leading elsewhere,
an expired tenant certificate, a partner whose certificate names another
domain - and passes what is right.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from nextplane.check.findings import ERROR, OK, Finding
from nextplane.cli.check import check
from nextplane.config import load_config
from nextplane.connectors.registry import CONNECTORS
from tests.certfaults import issue

from .harness import InteropEnvironment
from .harness.kamailio import KAMAILIO, KamailioOptions, start_kamailio


class CheckTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_finds_planted_faults(self) -> Any:
        env = yield InteropEnvironment.create(self, programs=("prosody", KAMAILIO))
        hub = next(env.addresses)
        sip_address = next(env.addresses)
        kamailio = yield start_kamailio(
            reactor,
            KamailioOptions(
                domain="sipfed.test",
                address=sip_address,
                cert=env.cert_for("sipfed.test"),
                ca=env.ca.cert,
                hub_domain="good.test",
                hub_address=hub,
            ),
            env.directory / "kamailio",
        )
        self.addCleanup(kamailio.stop)
        yield env.start_prosody("prosody1.test")
        elsewhere = yield env.start_prosody(
            "wrongname.test", s2s_cert=env.cert_for("wrongname.test", identity="other.test")
        )
        for domain in ("good.test", "expired.test"):
            env.zone.add_srv(f"_xmpp-server._tcp.{domain}", f"hub.{domain}", 5269)
            env.zone.add_srv(f"_sipfederationtls._tcp.{domain}", f"hub.{domain}", 5061)
            env.zone.add_a(f"hub.{domain}", hub)
        env.zone.add_srv("_xmpp-server._tcp.wrongtarget.test", "xmpp.wrongtarget.test", 5269)
        env.zone.add_a("xmpp.wrongtarget.test", elsewhere.options.address)
        tenants = []
        for domain in ("good.test", "missing.test", "wrongtarget.test", "expired.test"):
            if domain == "expired.test":
                cert = issue(env.certs_directory, "expired", domain, env.ca, days=(-400, -3))
            else:
                cert = env.cert_for(domain)
            tenants.append(
                f'[[tenants]]\ndomain = "{domain}"\nplatform = "echo"\nworkspace = "w"\n'
                f'certificate = "{cert.cert}"\nprivate_key = "{cert.key}"\n'
            )
        path = env.directory / "nextplane.toml"
        path.write_text(
            f"""
[dns]
servers = ["{env.dns_address}:{env.dns_port}"]
timeout = 3
[tls]
ca_certificates = ["{env.ca.cert}"]
[connectors.echo]
[connectors.xmpp]
listen = "tcp:5269:interface={hub}"
system_ca = false
[connectors.sip]
listen = "tcp:5061:interface={hub}"
system_ca = false
[[federation.partners]]
domain = "prosody1.test"
protocol = "xmpp"
[[federation.partners]]
domain = "wrongname.test"
protocol = "xmpp"
[[federation.partners]]
domain = "sipfed.test"
protocol = "sip"
route = "{sip_address}:5061"
"""
            + "\n".join(tenants)
        )
        config = load_config(str(path), registry=CONNECTORS)
        findings: list[Finding] = yield defer.Deferred.fromCoroutine(
            check(config, reactor, timeout=10)
        )
        report = "\n".join(f"{f.level} {f.area} {f.subject}: {f.message}" for f in findings)

        def levels(area: str, subject: str) -> set[str]:
            return {f.level for f in findings if f.area == area and f.subject == subject}

        def has(level: str, area: str, subject: str, text: str) -> bool:
            return any(
                f.level == level and f.area == area and f.subject == subject and text in f.message
                for f in findings
            )

        self.assertEqual(levels("dns", "_xmpp-server._tcp.good.test"), {OK}, report)
        self.assertEqual(levels("dns", "_sipfederationtls._tcp.good.test"), {OK}, report)
        self.assertTrue(
            has(ERROR, "dns", "_sipfederationtls._tcp.missing.test", "no SRV record"), report
        )
        self.assertTrue(
            has(ERROR, "dns", "_xmpp-server._tcp.missing.test", "no SRV record"), report
        )
        self.assertTrue(
            has(ERROR, "dns", "_xmpp-server._tcp.wrongtarget.test", "not this hub"), report
        )
        self.assertTrue(has(ERROR, "certificate", "expired.test", "expired on"), report)
        self.assertEqual(levels("certificate", "good.test"), {OK}, report)
        self.assertEqual(levels("partner", "prosody1.test"), {OK}, report)
        self.assertEqual(levels("partner", "sipfed.test"), {OK}, report)
        self.assertTrue(has(OK, "partner", "sipfed.test", "TLS handshake completed"), report)
        self.assertTrue(
            has(ERROR, "partner", "wrongname.test", "does not name wrongname.test"), report
        )
        self.assertTrue(has(OK, "partner", "wrongname.test", "TLS handshake completed"), report)
