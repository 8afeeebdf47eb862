"""
Tests for L{nextplane.check}: certificate inspection, DNS against the
listeners, partner certificates, the XMPP STARTTLS probe, Slack
credentials, and the rendering of findings.
"""

from __future__ import annotations

import datetime
import json
import tomllib
from pathlib import Path
from typing import Any

from cryptography.x509.oid import ExtendedKeyUsageOID
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from nextplane.check.certificates import inspect_tenant
from nextplane.check.dnscheck import Listener, check_domain, listeners_of
from nextplane.check.findings import (
    ERROR,
    OK,
    WARNING,
    Finding,
    exit_status,
    render_json,
    render_text,
)
from nextplane.check.hooks import PlatformCheckContext
from nextplane.check.partners import PeerCertificate, XmppStartTLS, judge_certificate
from nextplane.check.runner import run_checks
from nextplane.config import TenantConfig, parse_config
from nextplane.connectors.registry import CONNECTORS
from nextplane.connectors.slack.connector import SlackConfig
from nextplane.connectors.slack.credentials import check_slack
from nextplane.connectors.xmpp.tls import identity_matches
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.tls import TrustStore
from tests.certfaults import issue
from tests.xmpp.fakenet import FakeResolver

NOW = datetime.datetime.now(datetime.UTC)


def result(d: Any) -> Any:
    """The result of a coroutine that needs no reactor turn."""
    return SynchronousTestCase().successResultOf(Deferred.fromCoroutine(d))


class CertificateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.ca = ensure_ca(self.dir)
        self.trust = TrustStore(paths=[str(self.ca.cert)])

    def levels(self, domain: str, cert: Any, key: Any = None, trust: Any = None) -> dict[str, str]:
        issues = inspect_tenant(
            domain, str(cert.cert), str((key or cert).key), now=NOW, trust=trust
        )
        return {i.message: i.level for i in issues}

    def test_good(self) -> None:
        """A valid certificate from a trusted CA gives only OK findings."""
        good = ensure_domain_cert(self.dir, "acme.test", self.ca)
        levels = self.levels("acme.test", good, trust=self.trust)
        self.assertEqual(set(levels.values()), {OK}, levels)
        self.assertIn("chain verifies to a trusted CA", levels)

    def test_wrong_name_mismatch_untrusted(self) -> None:
        """Wrong name, wrong key and an unknown CA are each an error."""
        other = ensure_domain_cert(self.dir, "other.test", self.ca)
        good = ensure_domain_cert(self.dir, "acme.test", self.ca)
        rogue = ensure_ca(self.dir, name="rogue")
        levels = self.levels(
            "acme.test", other, key=good, trust=TrustStore(paths=[str(rogue.cert)])
        )
        errors = [m for m, level in levels.items() if level == ERROR]
        self.assertEqual(len(errors), 3, levels)
        self.assertTrue(
            any("does not cover acme.test (DNS names: other.test)" in m for m in errors)
        )
        self.assertTrue(any("does not match" in m for m in errors))
        self.assertTrue(any("chain does not verify" in m for m in errors))

    def test_unreadable(self) -> None:
        """A file that is not PEM is one fatal error naming the key it concerns."""
        good = ensure_domain_cert(self.dir, "acme.test", self.ca)
        junk = self.dir / "junk.pem"
        junk.write_text("not a certificate")
        [bad_cert] = inspect_tenant("acme.test", str(junk), str(good.key), now=NOW)
        [bad_key] = inspect_tenant("acme.test", str(good.cert), str(junk), now=NOW)
        self.assertEqual((bad_cert.field, bad_cert.fatal), ("certificate", True))
        self.assertEqual((bad_key.field, bad_key.fatal), ("private_key", True))
        self.assertIn("cannot read an unencrypted PEM private key", bad_key.message)

    def test_expiry_and_usages(self) -> None:
        """Expired is an error; under 30 days and no clientAuth are warnings."""
        expired = issue(self.dir, "old", "acme.test", self.ca, days=(-400, -1))
        self.assertIn(ERROR, self.levels("acme.test", expired).values())
        soon = issue(
            self.dir,
            "soon",
            "acme.test",
            self.ca,
            days=(-1, 10),
            usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        )
        levels = self.levels("acme.test", soon)
        self.assertEqual(sorted(levels.values()), [WARNING, WARNING], levels)


class DnsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.resolver = FakeResolver()
        self.listener = Listener("_xmpp-server._tcp", 5269, ("192.0.2.1",))

    def run_check(self) -> list[Finding]:
        return result(check_domain(self.resolver, "acme.test", [self.listener]))  # type: ignore[no-any-return]

    def test_right(self) -> None:
        """An SRV record to this hub's port and address is OK."""
        self.resolver.srv["_xmpp-server._tcp.acme.test"] = [(0, 5, 5269, "hub.acme.test")]
        self.resolver.a["hub.acme.test"] = ["192.0.2.1"]
        [finding] = self.run_check()
        self.assertEqual(finding.level, OK, finding)

    def test_missing(self) -> None:
        """No SRV record is an error with the record to publish."""
        [finding] = self.run_check()
        self.assertEqual(finding.level, ERROR)
        self.assertIn("SRV 0 5 5269", finding.hint)

    def test_wrong_port_address_and_no_address(self) -> None:
        """Another port, another address, or no A record are errors."""
        self.resolver.srv["_xmpp-server._tcp.acme.test"] = [
            (0, 5, 5270, "hub.acme.test"),
            (1, 5, 5269, "elsewhere.test"),
            (2, 5, 5269, "nowhere.test"),
        ]
        self.resolver.a["hub.acme.test"] = ["192.0.2.1"]
        self.resolver.a["elsewhere.test"] = ["198.51.100.7"]
        messages = [f.message for f in self.run_check() if f.level == ERROR]
        self.assertEqual(len(messages), 3, messages)
        self.assertIn("hub listens on port 5269", messages[0])
        self.assertIn("198.51.100.7, not this hub", messages[1])
        self.assertIn("no A or AAAA record", messages[2])

    def test_listeners(self) -> None:
        """Listeners come from the xmpp and sip configs; a bound interface is an address."""

        class Xmpp:
            listen = "tcp:5269:interface=127.0.0.5"
            direct_tls_listen = None

        class Sip:
            listen = "tcp:5061"

        found = listeners_of({"xmpp": Xmpp(), "sip": Sip()}, ["203.0.113.9"])
        self.assertEqual(
            found,
            [
                Listener("_xmpp-server._tcp", 5269, ("127.0.0.5", "203.0.113.9")),
                Listener("_sipfederationtls._tcp", 5061, ("203.0.113.9",)),
            ],
        )


class PartnerTests(SynchronousTestCase):
    def test_starttls_dialogue(self) -> None:
        """The probe asks for STARTTLS after the features and starts TLS on proceed."""
        probe = XmppStartTLS("acme.test", "widget.test")
        self.assertIn(b"to='widget.test'", probe.opening())
        self.assertEqual(probe.received(b"<stream:stream ...><stream:features>"), (b"", False))
        reply, start = probe.received(
            b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
        )
        self.assertIn(b"<starttls", reply)
        self.assertFalse(start)
        self.assertEqual(
            probe.received(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), (b"", True)
        )

    def test_no_starttls(self) -> None:
        """A server without STARTTLS is reported."""
        probe = XmppStartTLS("acme.test", "widget.test")
        with self.assertRaisesRegex(ValueError, "does not offer STARTTLS"):
            probe.received(b"<stream:features><dialback/></stream:features>")

    def test_judge(self) -> None:
        """A partner certificate for another name is an error naming what it has."""
        directory = Path(self.mktemp())
        ca = ensure_ca(directory)
        trust = TrustStore(paths=[str(ca.cert)])
        good = PeerCertificate(
            ensure_domain_cert(directory, "widget.test", ca).load_certificate(), ()
        )
        levels = [f.level for f in judge_certificate(good, "widget.test", identity_matches, trust)]
        self.assertEqual(levels, [OK, OK])
        wrong = PeerCertificate(ensure_domain_cert(directory, "x.test", ca).load_certificate(), ())
        [name, chain] = judge_certificate(wrong, "widget.test", identity_matches, trust)
        self.assertEqual(name.level, ERROR)
        self.assertIn("does not name widget.test", name.message)
        self.assertEqual(chain.level, OK)


class _AuthTest(Resource):
    isLeaf = True

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer
        self.tokens: list[bytes] = []

    def render_POST(self, request: Any) -> bytes:
        self.tokens.append(request.getHeader(b"authorization"))
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(self.answer).encode()


class SlackTests(SynchronousTestCase):
    def findings(self, answer: dict[str, Any], workspaces: dict[str, str]) -> list[Finding]:
        resource = _AuthTest(answer)
        context = PlatformCheckContext(MemoryReactorClock(), StubTreq(resource), 5.0)
        config = SlackConfig(
            signing_secret="0123456789abcdef",
            api_base_url="https://slack.test/api/",
            workspaces=workspaces,
        )
        tenant = TenantConfig("acme.test", "slack", "T1", "c", "k")
        self.resource = resource
        return result(check_slack(context, config, [tenant]))  # type: ignore[no-any-return]

    def test_accepted(self) -> None:
        """auth.test accepting the token for the tenant's team is OK."""
        [f] = self.findings({"ok": True, "team_id": "T1", "user_id": "U9"}, {"T1": "xoxb-1"})
        self.assertEqual(f.level, OK, f)
        self.assertEqual(self.resource.tokens, [b"Bearer xoxb-1"])

    def test_refused_and_wrong_team(self) -> None:
        """A refused token, or one of another team, is an error."""
        [f] = self.findings({"ok": False, "error": "invalid_auth"}, {"T1": "xoxb-1"})
        self.assertEqual(f.level, ERROR)
        self.assertIn("refused the token", f.message)
        [f] = self.findings({"ok": True, "team_id": "T2"}, {"T1": "xoxb-1"})
        self.assertIn("belongs to team T2", f.message)

    def test_no_token(self) -> None:
        """Without a configured token (and no OAuth), a warning says how to install."""
        [f] = self.findings({"ok": True}, {})
        self.assertEqual(f.level, WARNING)
        self.assertEqual(self.resource.tokens, [])


class RenderTests(SynchronousTestCase):
    def test_text_json_status(self) -> None:
        """One line per finding with its hint; JSON counts; errors make status 1."""
        findings = [
            Finding(OK, "dns", "a", "fine"),
            Finding(WARNING, "certificate", "b", "soon", "renew"),
        ]
        self.assertEqual(exit_status(findings), 0)
        text = render_text(findings)
        self.assertEqual(len(text.splitlines()), 2)
        self.assertIn("soon -- renew", text)
        findings.append(Finding(ERROR, "dns", "c", "bad", "fix"))
        self.assertEqual(exit_status(findings), 1)
        document = json.loads(render_json(findings))
        self.assertEqual((document["ok"], document["errors"], document["warnings"]), (False, 1, 1))
        self.assertEqual(document["findings"][2]["hint"], "fix")


class RunnerTests(SynchronousTestCase):
    def test_whole_run(self) -> None:
        """Config, certificates, DNS per listener and partners come in order; errors only where planted."""
        directory = Path(self.mktemp())
        ca = ensure_ca(directory)
        cert = ensure_domain_cert(directory, "acme.test", ca)
        config = parse_config(
            tomllib.loads(
                f"""
[tls]
ca_certificates = ["{ca.cert}"]
[[tenants]]
domain = "acme.test"
platform = "echo"
workspace = "w"
certificate = "{cert.cert}"
private_key = "{cert.key}"
[[federation.partners]]
domain = "widget.test"
protocol = "sip"
[connectors.echo]
[connectors.xmpp]
listen = "tcp:5269"
[connectors.sip]
listen = "tcp:5061"
"""
            ),
            registry=CONNECTORS,
        )
        resolver = FakeResolver()
        resolver.srv["_xmpp-server._tcp.acme.test"] = [(0, 5, 5269, "hub.acme.test")]
        resolver.srv["_sipfederationtls._tcp.acme.test"] = [(0, 5, 5061, "hub.acme.test")]
        resolver.a["hub.acme.test"] = ["203.0.113.9"]
        findings = result(
            run_checks(
                config,
                reactor=MemoryReactorClock(),
                resolver=resolver,
                http=None,
                now=NOW,
                addresses=["203.0.113.9"],
                system_ca=str(directory / "none"),
            )
        )
        self.assertEqual(
            [(f.level, f.area) for f in findings],
            [
                (OK, "config"),
                (OK, "certificate"),
                (OK, "certificate"),
                (OK, "dns"),
                (OK, "dns"),
                (ERROR, "partner"),
            ],
            render_text(findings),
        )
        self.assertIn("no route and no _sipfederationtls._tcp SRV record", findings[-1].message)
