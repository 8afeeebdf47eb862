"""
One SIP interop test's world: the hub (C{a.test}), Kamailio for the remote
domain (C{b.test}) and sipp runs behind it.

    hub a.test     HUB:5061 (TLS, mutual)        via_host HUB
    kamailio b.test  KAM:5060 (TCP, sipp) KAM:5061 (TLS, mutual)
    sipp UAC       127.0.0.1:PORT --TCP--> KAM:5060
    sipp UAS       127.0.0.1:5080 <--TCP-- KAM

DNS: C{_sipfederationtls._tcp.b.test SRV -> sip.b.test:5061}, C{sip.b.test A
KAM} (the hub finds Kamailio through SRV), and the same for C{a.test} and
the hub. Certificates come from the test CA; each names its domain
(C{DNS:} and C{URI:sip:}) and, for clients that check addresses, its IP.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from nextplane.devcerts import CertPaths
from tests.interop.harness.env import InteropEnvironment, InteropFailure
from tests.interop.harness.kamailio import KamailioOptions, KamailioServer, start_kamailio
from tests.interop.harness.siphub import SipHub, SipHubOptions
from tests.interop.harness.sipp import SippRun, start_sipp

HUB_DOMAIN = "a.test"
REMOTE_DOMAIN = "b.test"
HUB_USER = "bob"
REMOTE_USER = f"alice@{REMOTE_DOMAIN}"
UAS_PORT = 5080
PROGRAMS = ("kamailio", "sipp", "baresip")


def issue_certificate(
    env: InteropEnvironment, domain: str, address: str, stem: str | None = None, ca: Any = None
) -> CertPaths:
    """
    A certificate for SIP domain C{domain} served at C{address}: SAN
    C{DNS:domain}, C{DNS:sip.domain}, C{URI:sip:domain}, C{IP:address};
    EKU serverAuth and clientAuth; signed by the test CA (or C{ca}).
    """
    issuer = ca or env.ca
    ca_cert = issuer.load_certificate()
    ca_key = issuer.load_private_key()
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(domain),
                    x509.DNSName(f"sip.{domain}"),
                    x509.UniformResourceIdentifier(f"sip:{domain}"),
                    x509.IPAddress(ipaddress.ip_address(address)),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = env.certs_directory
    stem = stem or f"sip-{domain}"
    paths = CertPaths(
        directory / f"{stem}.crt", directory / f"{stem}.key", directory / f"{stem}.pem"
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    paths.cert.write_bytes(cert_pem)
    paths.key.write_bytes(key_pem)
    paths.key.chmod(0o600)
    assert paths.combined is not None
    paths.combined.write_bytes(cert_pem + key_pem)
    paths.combined.chmod(0o600)
    return paths


class SipWorld:
    """
    The hub, Kamailio and sipp for one test; see the module docstring.
    """

    def __init__(self, testcase: TestCase, env: InteropEnvironment) -> None:
        self.testcase = testcase
        self.env = env
        self.reactor = env.reactor
        self.hub_address = next(env.addresses)
        self.kamailio_address = next(env.addresses)
        self.hub_cert = issue_certificate(env, HUB_DOMAIN, self.hub_address)
        self.remote_cert = issue_certificate(env, REMOTE_DOMAIN, self.kamailio_address)
        self.hub: SipHub | None = None
        self.kamailio: KamailioServer | None = None
        self.sipps: list[SippRun] = []
        self._next_port = 5100
        zone = env.zone
        for domain, address in (
            (HUB_DOMAIN, self.hub_address),
            (REMOTE_DOMAIN, self.kamailio_address),
        ):
            zone.add_srv(f"_sipfederationtls._tcp.{domain}", f"sip.{domain}", 5061)
            zone.add_a(f"sip.{domain}", address)

    @classmethod
    @defer.inlineCallbacks
    def create(
        cls,
        testcase: TestCase,
        *,
        kamailio: bool = True,
        befriend: bool = True,
        sip: dict[str, Any] | None = None,
    ) -> Any:
        """
        Start the hub (and Kamailio); store C{bob@a.test} and
        C{alice@b.test} as accepted contacts unless C{befriend} is false.

        @return: a Deferred firing with the L{SipWorld}.
        """
        env = yield InteropEnvironment.create(testcase, programs=PROGRAMS)
        world = cls(testcase, env)
        yield world.check(world.start_hub(sip or {}))
        if kamailio:
            yield world.check(world.start_kamailio())
        if befriend:
            yield world.hub_().befriend([(HUB_USER, REMOTE_USER)])
        return world

    def hub_(self) -> SipHub:
        assert self.hub is not None, "the hub is not started"
        return self.hub

    @defer.inlineCallbacks
    def start_hub(self, sip: dict[str, Any]) -> Any:
        hub = SipHub(
            self.reactor,
            SipHubOptions(
                domain=HUB_DOMAIN,
                address=self.hub_address,
                cert=self.hub_cert,
                trusted_cas=[self.env.ca.cert],
                sip=sip,
            ),
            self.env.directory / "hub",
            (self.env.dns_address, self.env.dns_port),
        )
        self.testcase.addCleanup(hub.close_logs)
        self.testcase.addCleanup(hub.stop)
        self.hub = hub
        yield hub.start()
        return hub

    @defer.inlineCallbacks
    def start_kamailio(self) -> Any:
        server = yield start_kamailio(
            self.reactor,
            KamailioOptions(
                domain=REMOTE_DOMAIN,
                address=self.kamailio_address,
                cert=self.remote_cert,
                ca=self.env.ca.cert,
                hub_domain=HUB_DOMAIN,
                hub_address=self.hub_address,
                uas_port=UAS_PORT,
            ),
            self.env.directory / "kamailio",
        )
        self.testcase.addCleanup(server.stop)
        self.kamailio = server
        return server

    # -- sipp -----------------------------------------------------------------

    @defer.inlineCallbacks
    def sipp_uac(self, name: str, scenario: str, timeout: float = 45.0) -> Any:
        """
        Start a sipp client towards Kamailio's TCP port, sending to
        C{bob@a.test}.

        @return: a Deferred firing with the L{SippRun}.
        """
        self._next_port += 1
        run = yield start_sipp(
            self.reactor,
            name,
            scenario,
            self.env.directory / f"sipp-{name}",
            remote=f"{self.kamailio_address}:5060",
            local_port=self._next_port,
            keys={"domain": HUB_DOMAIN},
            service=HUB_USER,
            timeout=timeout,
        )
        self._own(run)
        return run

    @defer.inlineCallbacks
    def sipp_uas(self, name: str, scenario: str, calls: int = 1, timeout: float = 45.0) -> Any:
        """
        Start a sipp server on 127.0.0.1:5080 (where Kamailio sends
        requests for C{b.test}), answering as C{alice}.

        @return: a Deferred firing with the L{SippRun} once it listens.
        """
        run = yield start_sipp(
            self.reactor,
            name,
            scenario,
            self.env.directory / f"sipp-{name}",
            remote=None,
            local_port=UAS_PORT,
            calls=calls,
            service="alice",
            timeout=timeout,
            listen=True,
        )
        self._own(run)
        return run

    def _own(self, run: SippRun) -> None:
        self.sipps.append(run)
        self.testcase.addCleanup(run.stop)

    def finished(self, run: SippRun, timeout: float = 60.0) -> defer.Deferred[Any]:
        """
        Wait for C{run} to succeed; fail with every log if it does not.
        """
        return self.check(run.wait(self.reactor, timeout))

    # -- diagnostics ------------------------------------------------------------

    def diagnostics(self) -> str:
        """
        Hub, Kamailio and sipp logs and the DNS queries.
        """
        parts = []
        if self.hub is not None:
            parts.append(self.hub.diagnostics())
        if self.kamailio is not None:
            parts.append(self.kamailio.diagnostics())
        parts += [run.diagnostics() for run in self.sipps]
        queries = "\n".join(
            f"  {q.transport} {q.type} {q.name} -> {q.rcode}" for q in self.env.dns.queries
        )
        parts.append(f"--- DNS queries:\n{queries or '  none'}")
        parts.append(f"--- files under {self.env.directory}")
        return "\n".join(parts)

    def check(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        """
        On failure, fail with L{InteropFailure} carrying L{diagnostics}.
        """

        def explain(failure: Failure) -> None:
            if failure.check(InteropFailure, defer.CancelledError):
                failure.raiseException()
            raise InteropFailure(
                f"{failure.type.__name__}: {failure.getErrorMessage()}\n\n{self.diagnostics()}"
            ) from failure.value

        return d.addErrback(explain)


@defer.inlineCallbacks
def platform_hub_behind_kamailio(
    testcase: Any, env: InteropEnvironment, hub: Any, hub_domain: str, remote_domain: str
) -> Any:
    """
    Start a platform test hub (Teams, Webex: C{address}, C{cert},
    C{connectors}, C{start}) for C{hub_domain} with the SIP connector, and
    Kamailio for C{remote_domain} federating with it over mutual TLS (SRV
    and A records for both). @return: Kamailio's address.
    """
    kamailio_address = next(env.addresses)
    hub.cert = issue_certificate(env, hub_domain, hub.address)
    remote_cert = issue_certificate(env, remote_domain, kamailio_address)
    for domain, address in ((hub_domain, hub.address), (remote_domain, kamailio_address)):
        env.zone.add_srv(f"_sipfederationtls._tcp.{domain}", f"sip.{domain}", 5061)
        env.zone.add_a(f"sip.{domain}", address)
    hub.connectors["sip"] = {
        "listen": f"tcp:5061:interface={hub.address}",
        "via_host": hub.address,
        "via_port": 5061,
        "system_ca": False,
        "connect_timeout": 10,
    }
    yield hub.start(testcase)
    kamailio = yield start_kamailio(
        env.reactor,
        KamailioOptions(
            domain=remote_domain,
            address=kamailio_address,
            cert=remote_cert,
            ca=env.ca.cert,
            hub_domain=hub_domain,
            hub_address=hub.address,
            uas_port=UAS_PORT,
        ),
        env.directory / "kamailio",
    )
    testcase.addCleanup(kamailio.stop)
    return kamailio_address
