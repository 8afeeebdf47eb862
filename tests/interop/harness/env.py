"""
One interop test's world: certificates, DNS, servers and clients.

L{InteropEnvironment} ties the harness pieces together for a trial test and
registers every cleanup with the test case, so a test reads as::

    env = yield InteropEnvironment.create(self)  # skips/fails if not isolated
    p1 = yield env.start_prosody("prosody1.test", users={"alice": "pw"})
    p2 = yield env.start_prosody("prosody2.test", users={"bob": "pw"})
    alice = yield env.client("alice@prosody1.test", "pw", p1)
    bob = yield env.client("bob@prosody2.test", "pw", p2)
    yield alice.send_message("bob@prosody2.test", "hello")
    yield env.with_diagnostics(bob.wait_for_message(body="hello"))

Each server gets its own loopback address (127.0.0.11, .12, ...) and is
published in the zone as C{_xmpp-server._tcp.DOMAIN SRV 0 0 5269
xmpp.DOMAIN} plus C{xmpp.DOMAIN A address}, with no A record for the domain
itself: s2s only works if the peer honours SRV.  Certificates come from
L{nextplane.devcerts}; a second CA (C{rogue_ca}) is there for "untrusted
CA" tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from nextplane import devcerts

from .dns import DnsServer, DnsZone
from .ejabberd import ERL, EjabberdOptions, EjabberdServer, start_ejabberd
from .hub import HubOptions, HubUnderTest
from .netns import DNS_ADDRESS, LoopbackAllocator, acquire_namespace_lock, require_isolation
from .prosody import PROSODY, PROSODYCTL, ProsodyOptions, ProsodyServer, start_prosody
from .xmppclient import AsyncioThread, XmppTestClient

__all__ = ["InteropEnvironment", "InteropFailure"]

#: Programs each kind of peer needs.
PROGRAMS = {"prosody": (PROSODY, PROSODYCTL), "ejabberd": (ERL,)}


class InteropFailure(AssertionError):
    """
    An interop expectation failed; the message carries server logs.
    """


class InteropEnvironment:
    """
    Certificates, DNS server, address allocation and cleanup for one test.

    @ivar directory: the test's scratch directory (kept by trial afterwards).
    @ivar ca: the test CA that servers trust by default.
    @ivar zone: DNS records served to the peers.
    @ivar dns: the running DNS server (its C{queries} record every lookup).
    @ivar servers: servers started so far.
    """

    def __init__(
        self,
        testcase: SynchronousTestCase,
        reactor: Any,
        directory: Path,
        dns_address: str = DNS_ADDRESS,
        dns_port: int = 53,
    ) -> None:
        """
        Prefer L{create}, which checks isolation and starts DNS.

        @param testcase: owner of every cleanup.
        @param reactor: the reactor.
        @param directory: scratch directory.
        @param dns_address: where the DNS server listens.
        @param dns_port: its port.
        """
        self.testcase = testcase
        self.reactor = reactor
        self.directory = directory
        self.dns_address = dns_address
        self.dns_port = dns_port
        self.certs_directory = directory / "certs"
        self.ca = devcerts.ensure_ca(self.certs_directory)
        self.zone = DnsZone()
        self.dns = DnsServer(self.zone)
        self.addresses = LoopbackAllocator(reserved=[dns_address])
        self.servers: list[ProsodyServer | EjabberdServer] = []
        self.hubs: list[HubUnderTest] = []
        self._runner: AsyncioThread | None = None

    @classmethod
    @defer.inlineCallbacks
    def create(
        cls,
        testcase: SynchronousTestCase,
        reactor: Any = None,
        programs: tuple[str, ...] = ("prosody",),
    ) -> Any:
        """
        Check isolation, take the namespace lock, start the DNS server on
        C{127.0.0.53:53}.

        @param testcase: the running test.
        @param reactor: the reactor (the global one if L{None}).
        @param programs: kinds of peers the test will start (C{"prosody"},
            C{"ejabberd"}); their programs must be installed.
        @return: a Deferred firing with the environment.
        @raise SkipTest: outside the network namespace (a failure under CI).
        """
        needed = [p for kind in programs for p in PROGRAMS.get(kind, (kind,))]
        require_isolation(needed)
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        # Released last (cleanups run in reverse), after every server stopped.
        release = yield acquire_namespace_lock(reactor)
        testcase.addCleanup(release)
        directory = Path(testcase.mktemp()).absolute()
        directory.mkdir(parents=True)
        env = cls(testcase, reactor, directory)
        env.dns.listen(reactor, env.dns_address, env.dns_port)
        testcase.addCleanup(env.dns.stop)
        return env

    # -- certificates -----------------------------------------------------

    @property
    def rogue_ca(self) -> devcerts.CertPaths:
        """A second CA nobody trusts, for "untrusted certificate" tests."""
        return devcerts.ensure_ca(self.certs_directory, name="rogue-ca")

    def cert_for(
        self,
        domain: str,
        *,
        identity: str | None = None,
        ca: devcerts.CertPaths | None = None,
        xmpp_addr: bool = False,
        stem: str | None = None,
    ) -> devcerts.CertPaths:
        """
        A certificate for C{domain} (default: valid, from the test CA).

        @param domain: the domain.
        @param identity: another name to put in it ("wrong name" tests).
        @param ca: another issuer, e.g. L{rogue_ca}.
        @param xmpp_addr: include an xmppAddr otherName (ejabberd quirk).
        @param stem: file stem; derived from the arguments if L{None}.
        @return: its paths.
        """
        issuer = ca or self.ca
        if stem is None:
            stem = domain
            if identity is not None:
                stem += f"-as-{identity}"
            if ca is not None:
                stem += f"-by-{issuer.cert.stem}"
            if xmpp_addr:
                stem += "-xmppaddr"
        return devcerts.ensure_domain_cert(
            self.certs_directory, domain, issuer, identity=identity, stem=stem, xmpp_addr=xmpp_addr
        )

    # -- servers ----------------------------------------------------------

    def publish(self, domain: str, address: str, port: int = 5269) -> None:
        """
        Publish C{domain}'s s2s service in DNS (SRV to C{xmpp.DOMAIN}).

        @param domain: the XMPP domain.
        @param address: server address.
        @param port: s2s port.
        """
        self.zone.add_xmpp_server(domain, address, port)

    def start_prosody(
        self,
        domain: str,
        users: dict[str, str] | None = None,
        *,
        trusted: bool = True,
        cert: devcerts.CertPaths | None = None,
        publish: bool = True,
        **options: Any,
    ) -> defer.Deferred[ProsodyServer]:
        """
        Start a Prosody for C{domain} on the next loopback address.

        @param domain: its VirtualHost.
        @param users: accounts to create.
        @param trusted: trust the test CA for s2s (SASL EXTERNAL); if false,
            peers need C{s2s_insecure_domains} (dialback) or fail.
        @param cert: its certificate (default: valid for C{domain}).
        @param publish: add its SRV/A records to the zone.
        @param options: further L{ProsodyOptions} fields.
        @return: a Deferred firing with the L{ProsodyServer}; stopped in
            cleanup.
        """
        return self._start_server(
            "prosody", ProsodyOptions, start_prosody, domain, users, trusted, cert, publish, options
        )

    def start_ejabberd(
        self,
        domain: str,
        users: dict[str, str] | None = None,
        *,
        trusted: bool = True,
        cert: devcerts.CertPaths | None = None,
        publish: bool = True,
        **options: Any,
    ) -> defer.Deferred[EjabberdServer]:
        """
        Start an ejabberd for C{domain} on the next loopback address.

        @param domain: its host.
        @param users: accounts to create.
        @param trusted: trust the test CA (C{s2s_cafile}, C{ca_file}).
        @param cert: its certificate (default: valid for C{domain}).
        @param publish: add its SRV/A records to the zone.
        @param options: further L{EjabberdOptions} fields.
        @return: a Deferred firing with the L{EjabberdServer}; stopped in
            cleanup.
        """

        def start(reactor: Any, server_options: Any, directory: Path) -> Any:
            return start_ejabberd(reactor, server_options, directory, dns_address=self.dns_address)

        return self._start_server(
            "ejabberd", EjabberdOptions, start, domain, users, trusted, cert, publish, options
        )

    @defer.inlineCallbacks
    def _start_server(
        self,
        product: str,
        options_type: Callable[..., Any],
        start: Callable[[Any, Any, Path], defer.Deferred[Any]],
        domain: str,
        users: dict[str, str] | None,
        trusted: bool,
        cert: devcerts.CertPaths | None,
        publish: bool,
        options: dict[str, Any],
    ) -> Any:
        """
        Start an XMPP server for C{domain} on the next loopback address,
        stopped in cleanup and, with C{publish}, in the zone.
        """
        address = next(self.addresses)
        server_options = options_type(
            domain=domain,
            address=address,
            cert=cert or self.cert_for(domain),
            trusted_ca=self.ca.cert if trusted else None,
            users=users or {},
            **options,
        )
        server = yield start(self.reactor, server_options, self.directory / f"{product}-{domain}")
        self.testcase.addCleanup(server.stop)
        self.servers.append(server)
        if publish:
            self.publish(domain, address, server_options.s2s_port)
        return server

    @defer.inlineCallbacks
    def start_hub(
        self,
        domain: str = "hub.test",
        *,
        cert: devcerts.CertPaths | None = None,
        trusted: bool = True,
        publish: bool = True,
        more_domains: tuple[str, ...] = (),
        **options: Any,
    ) -> Any:
        """
        Start the nextplane hub (in this process) for C{domain} on the next
        loopback address, port 5269.

        @param domain: the tenant domain.
        @param cert: its certificate (default: valid for C{domain}).
        @param trusted: trust the test CA for peers' certificates.
        @param publish: add its SRV/A records to the zone.
        @param more_domains: more tenant domains on the same hub, each with
            a valid certificate and published the same way.
        @param options: further L{HubOptions} fields.
        @return: a Deferred firing with the started L{HubUnderTest};
            stopped in cleanup.
        """
        address = next(self.addresses)
        hub_options = HubOptions(
            domain=domain,
            address=address,
            cert=cert or self.cert_for(domain),
            trusted_cas=[self.ca.cert] if trusted else [],
            more_tenants={d: self.cert_for(d) for d in more_domains},
            **options,
        )
        hub = HubUnderTest(
            self.reactor,
            hub_options,
            self.directory / f"hub-{domain}",
            (self.dns_address, self.dns_port),
        )
        self.testcase.addCleanup(hub.close_logs)
        self.testcase.addCleanup(hub.stop)
        self.hubs.append(hub)
        if publish:
            for name in (domain, *more_domains):
                self.publish(name, address, hub_options.s2s_port)
        yield self.with_diagnostics(hub.start())
        return hub

    # -- clients ----------------------------------------------------------

    def _asyncio(self) -> AsyncioThread:
        if self._runner is None:
            self._runner = AsyncioThread(self.reactor, self.directory / "slixmpp.log")
            self.testcase.addCleanup(self._runner.stop)
        return self._runner

    @defer.inlineCallbacks
    def client(
        self,
        jid: str,
        password: str,
        server: ProsodyServer | EjabberdServer,
        timeout: float = 20.0,
        ca_cert: Path | None = None,
    ) -> Any:
        """
        A logged-in slixmpp client for C{jid} on C{server}'s c2s port.

        @param jid: account JID.
        @param password: its password.
        @param server: where to connect (no DNS lookup).
        @param timeout: seconds for the login.
        @param ca_cert: CA file to verify the server with (default: the test CA).
        @return: a Deferred firing with an L{XmppTestClient}; disconnected in
            cleanup.
        """
        client = XmppTestClient(
            self._asyncio(), jid, password, ca_cert or self.ca.cert, server.c2s_endpoint()
        )
        # Registered first so a half-open client is closed too.
        self.testcase.addCleanup(client.disconnect)
        yield self.with_diagnostics(client.connect(timeout))
        return client

    # -- failure reporting --------------------------------------------------

    def diagnostics(self) -> str:
        """
        Server log tails and the DNS query log, for failure messages.

        @return: the text.
        """
        parts = [server.diagnostics() for server in self.servers]
        parts += [hub.diagnostics() for hub in self.hubs]
        queries = "\n".join(
            f"  {q.transport} {q.type} {q.name} -> {q.rcode}" for q in self.dns.queries
        )
        parts.append(f"--- DNS queries:\n{queries or '  none'}")
        parts.append(f"--- files under {self.directory}")
        return "\n".join(parts)

    def with_diagnostics(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        """
        On failure, fail with L{InteropFailure} whose message appends
        L{diagnostics} to the original error.

        @param d: the Deferred to watch.
        @return: C{d}, with the errback added.
        """

        def explain(failure: Failure) -> None:
            if failure.check(InteropFailure, defer.CancelledError):
                failure.raiseException()
            raise InteropFailure(
                f"{failure.type.__name__}: {failure.getErrorMessage()}\n\n{self.diagnostics()}"
            ) from failure.value

        return d.addErrback(explain)
