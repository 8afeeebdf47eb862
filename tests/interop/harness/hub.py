"""
The real nextplane hub, in-process on the real reactor, as an interop peer
of XMPP servers (Prosody, ejabberd) or SIP ones (Kamailio, sipp, baresip).

L{HubUnderTest} builds the whole hub with L{nextplane.tap.build_hub} from a
configuration dict (validated by L{nextplane.config.parse_config}, like the
TOML file): one tenant (C{hub.test} by default) with a certificate from the
test CA, SQLite storage in the test's directory (so a restart keeps state),
C{[dns] servers} pointing at the harness DNS server, and one federation
connector (L{HubOptions.federation}) listening on the hub's own loopback
address: C{[connectors.xmpp]} on port 5269, or C{[connectors.sip]} for
mutual TLS on port 5061 (C{via_host} is that address, so peers need no DNS
to reach a Contact).

The tenant's platform is the C{recording} test connector
(L{nextplane.testing.connectors.TEST_CONNECTORS}), a L{RecordingConnector}
wired like any platform, which records what reaches the hub user and
injects what the hub user sends.

Diagnostics: the hub's log events (namespaces C{nextplane...}) go to
C{hub.log} in the hub's directory, and the federation traffic (plaintext,
both directions) to C{traffic.log}, through the
L{nextplane.connectors.xmpp.stream.BaseStream.trace} or
L{nextplane.connectors.sip.transport.SipTransport.trace} hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from twisted.internet import defer, task
from twisted.logger import ILogObserver, formatEvent, globalLogPublisher

from nextplane.config import Config, parse_config
from nextplane.connectors.sip import connector as sip_connector
from nextplane.devcerts import CertPaths
from nextplane.model.address import Address
from nextplane.model.events import Event
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
)
from nextplane.tap import build_hub
from nextplane.testing.connectors import TEST_CONNECTORS, RecordingConnector

from .process import tail, text_so_far

__all__ = ["HubOptions", "HubUnderTest", "poll", "sip_registry", "wait_for_contact_state"]

T = TypeVar("T")

#: A fixed secret, so dialback keys stay valid across a hub restart.
DIALBACK_SECRET = "interop-dialback-secret-0123456789"


def sip_registry() -> Mapping[str, Any]:
    """
    The test connector registry, with the SIP connector's entry (added
    while C{sip} is not in L{nextplane.testing.connectors.TEST_CONNECTORS}).
    """
    if "sip" in TEST_CONNECTORS:
        return TEST_CONNECTORS
    return {**TEST_CONNECTORS, "sip": sip_connector.ENTRY}


@defer.inlineCallbacks
def wait_for_contact_state(
    reactor: Any,
    store: Any,
    owner: Address,
    external: Address,
    state: Any,
    timeout: float = 20.0,
    explain: Callable[[], str] | None = None,
) -> Any:
    """
    Wait until C{store} holds C{state} for C{owner}'s contact C{external}:
    the router stores contact changes after delivery, so a peer may see the
    result first.

    @return: a Deferred firing with the contact record.
    """
    deadline = reactor.seconds() + timeout
    while True:
        contact = yield store.get_contact(owner, external)
        if contact is not None and contact.state == state:
            return contact
        if reactor.seconds() >= deadline:
            current = contact.state if contact is not None else None
            extra = f"\n\n{explain()}" if explain is not None else ""
            raise AssertionError(
                f"{owner}'s contact {external} is {current}, not {state}, after {timeout}s{extra}"
            )
        yield task.deferLater(reactor, 0.1, lambda: None)


@defer.inlineCallbacks
def poll(
    reactor: Any,
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> Any:
    """
    Call C{check} until it returns something other than L{None}.

    @param reactor: an C{IReactorTime} provider.
    @param check: returns the awaited value, or L{None} to keep waiting.
    @param timeout: seconds before failing with L{defer.TimeoutError}.
    @param what: what is awaited, for the failure message.
    @param interval: delay between checks.
    @param explain: more text for the failure message.
    @return: a Deferred firing with the value.
    """
    deadline = reactor.seconds() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if reactor.seconds() >= deadline:
            extra = f"\n{explain()}" if explain is not None else ""
            raise defer.TimeoutError(f"no {what} within {timeout}s{extra}")
        yield task.deferLater(reactor, interval, lambda: None)


@dataclass
class HubOptions:
    """
    What the hub under test looks like.

    @ivar domain: the tenant domain.
    @ivar address: loopback address its federation listener binds.
    @ivar cert: the tenant certificate.
    @ivar trusted_cas: CA certificates in C{[tls] ca_certificates}.
    @ivar federation: the federation connector, C{"xmpp"} or C{"sip"}.
    @ivar require_certificates: C{[connectors.xmpp] require_certificates}.
    @ivar secure_domains: C{[connectors.xmpp] secure_domains}.
    @ivar insecure_domains: C{[connectors.xmpp] insecure_domains}.
    @ivar xmpp: more C{[connectors.xmpp]} keys.
    @ivar s2s_port: the XMPP s2s port.
    @ivar sip: more C{[connectors.sip]} keys.
    @ivar sip_port: the SIP TLS port.
    @ivar partners: C{[[federation.partners]]} entries.
    @ivar more_tenants: further tenant domains with their certificates,
        on the same platform and listener.
    """

    domain: str
    address: str
    cert: CertPaths
    trusted_cas: Sequence[Path] = ()
    require_certificates: bool = False
    secure_domains: Sequence[str] = ()
    insecure_domains: Sequence[str] = ()
    xmpp: Mapping[str, Any] = field(default_factory=dict)
    s2s_port: int = 5269
    more_tenants: Mapping[str, CertPaths] = field(default_factory=dict)
    federation: str = "xmpp"
    sip: Mapping[str, Any] = field(default_factory=dict)
    sip_port: int = 5061
    partners: Sequence[Mapping[str, Any]] = ()

    def connector_section(self) -> dict[str, Any]:
        """
        The federation connector's section.

        @return: C{[connectors.xmpp]} or C{[connectors.sip]}.
        """
        if self.federation == "sip":
            return {
                "listen": f"tcp:{self.sip_port}:interface={self.address}",
                "via_host": self.address,
                "via_port": self.sip_port,
                "system_ca": False,
                "connect_timeout": 10,
                **self.sip,
            }
        return {
            "listen": f"tcp:{self.s2s_port}:interface={self.address}",
            "dialback_secret": DIALBACK_SECRET,
            "system_ca": False,
            "require_certificates": self.require_certificates,
            "secure_domains": list(self.secure_domains),
            "insecure_domains": list(self.insecure_domains),
            **self.xmpp,
        }


class HubUnderTest:
    """
    The hub, started and restartable, with its tenant platform recorded.

    @ivar options: how it is configured.
    @ivar directory: its directory (SQLite file, logs).
    @ivar config: the validated configuration.
    @ivar service: the running L{nextplane.service.HubService}, if started.
    @ivar recording: the tenant platform of the current run.
    @ivar starts: how many times it was started.
    """

    def __init__(
        self,
        reactor: Any,
        options: HubOptions,
        directory: Path,
        dns: tuple[str, int],
    ) -> None:
        self.reactor = reactor
        self.options = options
        self.directory = directory.absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dns = dns
        self.config: Config = parse_config(self.config_data(), environ={}, registry=sip_registry())
        self.service: Any = None
        self.recording: RecordingConnector | None = None
        self.starts = 0
        self._log: IO[str] | None = None
        self._traffic: IO[str] | None = None
        self._observer: ILogObserver | None = None

    # -- configuration ----------------------------------------------------

    def config_data(self) -> dict[str, Any]:
        """
        The configuration, as the TOML file would hold it.

        @return: the dict given to L{parse_config}.
        """
        o = self.options
        host, port = self.dns
        data: dict[str, Any] = {
            "hub": {"data_dir": str(self.directory)},
            "storage": {
                "backend": "sqlite",
                "sqlite_path": str(self.directory / "hub.sqlite3"),
            },
            "web": {
                "listen": f"tcp:0:interface={o.address}",
                "admin_listen": f"tcp:0:interface={o.address}",
            },
            "dns": {"servers": [f"{host}:{port}"], "timeout": 2, "cache_seconds": 5},
            "tls": {"ca_certificates": [str(p) for p in o.trusted_cas]},
            "router": {"delivery_timeout": 30},
            "tenants": [
                {
                    "domain": domain,
                    "platform": "recording",
                    "workspace": "interop",
                    "certificate": str(cert.cert),
                    "private_key": str(cert.key),
                    "display_name": f"interop {domain}",
                }
                for domain, cert in {o.domain: o.cert, **o.more_tenants}.items()
            ],
            "connectors": {"recording": {}, o.federation: o.connector_section()},
        }
        if o.partners:
            data["federation"] = {"partners": [dict(p) for p in o.partners]}
        return data

    # -- parts of the running hub -----------------------------------------

    @property
    def domain(self) -> str:
        """The tenant domain."""
        return self.options.domain

    @property
    def router(self) -> Any:
        """The running hub's router."""
        return self.service.router

    @property
    def store(self) -> Any:
        """The running hub's store."""
        return self.service.store

    @property
    def xmpp(self) -> Any:
        """The running hub's XMPP connector."""
        return self.service.connectors["xmpp"]

    @property
    def s2s(self) -> Any:
        """The running hub's S2SService."""
        return self.xmpp._s2s

    @property
    def sip(self) -> Any:
        """The running hub's SIP connector."""
        return self.service.connectors["sip"]

    @property
    def log_path(self) -> Path:
        """The hub's log."""
        return self.directory / "hub.log"

    @property
    def traffic_path(self) -> Path:
        """The federation traffic log."""
        return self.directory / "traffic.log"

    def address(self, local: str, domain: str | None = None) -> Address:
        """
        A hub user's address.

        @param local: local part.
        @param domain: a tenant domain (default: the first).
        @return: C{local@DOMAIN}.
        """
        return Address(local, domain or self.domain)

    # -- lifecycle ----------------------------------------------------------

    def _open_logs(self) -> None:
        if self._log is not None:
            return
        self._log = open(self.log_path, "a", encoding="utf-8")
        self._traffic = open(self.traffic_path, "a", encoding="utf-8")
        log_file = self._log

        def observe(event: dict[str, Any]) -> None:
            namespace = str(event.get("log_namespace", ""))
            if not namespace.startswith("nextplane"):
                return
            when = datetime.fromtimestamp(event.get("log_time", 0), UTC).strftime("%H:%M:%S.%f")
            text = formatEvent(event)
            failure = event.get("log_failure")
            if failure is not None:
                text += "\n" + failure.getTraceback()
            level = getattr(event.get("log_level"), "name", "?")
            log_file.write(f"{when} {level} [{namespace}] {text}\n")
            log_file.flush()

        self._observer = cast(ILogObserver, observe)
        globalLogPublisher.addObserver(self._observer)

    def _trace(self, stream: Any, direction: str, data: bytes) -> None:
        if self._traffic is None:
            return
        when = datetime.now(UTC).strftime("%H:%M:%S.%f")
        arrow = "<<" if direction == "in" else ">>"
        text = data.decode("utf-8", "replace")
        # SIP messages span lines: start each on its own.
        gap = "\n" if self.options.federation == "sip" else " "
        self._traffic.write(f"{when} {stream!r} {arrow}{gap}{text}\n")
        self._traffic.flush()

    def close_logs(self) -> None:
        """
        Stop writing the logs (at the end of the test).
        """
        if self._observer is not None:
            globalLogPublisher.removeObserver(self._observer)
            self._observer = None
        for f in (self._log, self._traffic):
            if f is not None:
                f.close()
        self._log = self._traffic = None

    @defer.inlineCallbacks
    def start(self) -> Any:
        """
        Build a new hub from the configuration and start it; fires once
        every service (storage, connectors, listeners) is up.

        @return: a Deferred firing with the L{RecordingConnector}.
        """
        if self.service is not None:
            raise RuntimeError("the hub is already running")
        self._open_logs()
        hub = build_hub(self.config, self.reactor, registry=sip_registry())
        # The tenant platform: what the hub user sees and does.
        recording: RecordingConnector = hub.connectors["recording"]  # type: ignore[attr-defined]
        if self.options.federation == "sip":
            hub.connectors["sip"].transport.trace = self._trace  # type: ignore[attr-defined]
        else:
            hub.connectors["xmpp"]._s2s.trace = self._trace  # type: ignore[attr-defined]
        self.service = hub
        self.recording = recording
        hub.startService()
        self.starts += 1
        self._mark(f"hub start #{self.starts}")
        try:
            yield hub.started
        except BaseException:
            self.service = None
            yield defer.maybeDeferred(hub.stopService)
            raise
        return recording

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """
        Stop the hub (streams closed gracefully, store closed).

        @return: a Deferred firing when everything stopped.
        """
        hub, self.service = self.service, None
        if hub is None:
            return None
        self._mark("hub stop")
        if self.recording is not None and self.recording.running:
            self.recording.stopService()
        yield hub.stopService()
        return None

    def _mark(self, text: str) -> None:
        when = datetime.now(UTC).strftime("%H:%M:%S.%f")
        for f in (self._log, self._traffic):
            if f is not None:
                f.write(f"{when} ===== {text} =====\n")
                f.flush()

    # -- the hub user's side ------------------------------------------------

    def inject(self, event: Event) -> defer.Deferred[Any]:
        """
        Route C{event} as if the hub user sent it on the platform.

        @param event: the event.
        @return: fires with the router's L{nextplane.router.Outcome}.
        """
        assert self.recording is not None, "the hub is not running"
        return self.recording.inject(event)

    def delivered(self, kind: str | None = None) -> list[Event]:
        """
        What reached the hub user in this run.

        @param kind: only events of this C{kind}.
        @return: the events, in order.
        """
        if self.recording is None:
            return []
        return [e for e in self.recording.delivered if kind is None or e.kind == kind]

    def wait_for_event(
        self,
        predicate: Callable[[Event], bool] | None = None,
        *,
        kind: str | None = None,
        timeout: float = 20.0,
    ) -> defer.Deferred[Event]:
        """
        Wait until an event matching C{kind} and C{predicate} reaches the
        hub user (events already delivered in this run count).

        @param predicate: extra test.
        @param kind: the event's C{kind}, e.g. C{"message"}.
        @param timeout: seconds.
        @return: fires with the event; fails with L{defer.TimeoutError}
            listing what did arrive.
        """

        def check() -> Event | None:
            for event in self.delivered(kind):
                if predicate is None or predicate(event):
                    return event
            return None

        def explain() -> str:
            seen = ", ".join(repr(e) for e in self.delivered()) or "nothing"
            return f"the hub user received: {seen}"

        return poll(
            self.reactor, check, timeout, f"{kind or 'event'} for the hub user", explain=explain
        )  # type: ignore[no-any-return]

    @defer.inlineCallbacks
    def befriend(self, pairs: Iterable[tuple[str, str]]) -> Any:
        """
        Store accepted contacts, skipping the subscription round trip.

        @param pairs: C{(hub user local part, remote JID)} pairs.
        @return: a Deferred firing when stored.
        """
        now = datetime.now(UTC)
        for local, remote in pairs:
            yield self.store.put_contact(
                ContactRecord(
                    self.address(local),
                    Address.parse(remote),
                    ContactState.ACCEPTED,
                    ContactDirection.OUTBOUND,
                    now,
                    now,
                )
            )

    def contact_state(self, local: str, remote: str) -> defer.Deferred[ContactState | None]:
        """
        The hub user's stored contact state for C{remote}.

        @param local: hub user's local part.
        @param remote: remote bare JID.
        @return: fires with the state or L{None}.
        """
        d = self.store.get_contact(self.address(local), Address.parse(remote))
        return d.addCallback(lambda record: record.state if record is not None else None)  # type: ignore[no-any-return]

    @defer.inlineCallbacks
    def block(self, domain: str) -> Any:
        """
        Put C{domain} on the tenant's block list (and reload the rules).

        @param domain: the remote domain.
        @return: a Deferred firing once the rules are reloaded.
        """
        yield self.store.put_domain_policy(DomainPolicy(self.domain, domain, DomainAction.BLOCK))
        yield self.service.connectors[self.options.federation].refresh_policy()

    # -- s2s state ----------------------------------------------------------

    def inbound_streams(self, remote: str) -> list[Any]:
        """
        The authenticated inbound streams from C{remote}.

        @param remote: the peer's domain.
        @return: the streams.
        """
        if self.service is None:
            return []
        return [
            s
            for s in self.s2s.inbound_streams()
            if any(r == remote for r, _ in s.authenticated_pairs)
        ]

    def outbound_stream(self, remote: str) -> Any:
        """
        The pooled, authenticated outbound stream to C{remote}, if any.

        @param remote: the peer's domain.
        @return: the L{OutboundStream} or L{None}.
        """
        if self.service is None:
            return None
        return self.s2s.pool.stream_for(self.domain, remote)

    def log_text(self) -> str:
        """
        The hub log so far.

        @return: the text.
        """
        return text_so_far(self.log_path)

    def traffic_text(self) -> str:
        """
        The federation traffic so far.

        @return: the text.
        """
        return text_so_far(self.traffic_path)

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> defer.Deferred[re.Match[str]]:
        """
        Wait until the hub log contains a match for C{pattern}.

        @param pattern: regular expression.
        @param timeout: seconds.
        @return: fires with the match.
        """
        regex = re.compile(pattern, re.MULTILINE)
        return poll(  # type: ignore[no-any-return]
            self.reactor,
            lambda: regex.search(self.log_text()),
            timeout,
            f"hub log line {pattern!r}",
            explain=lambda: tail(self.log_path, 30),
        )

    def diagnostics(self, lines: int = 80) -> str:
        """
        Recent hub log and traffic lines, for failure messages.

        @param lines: how many lines of each.
        @return: the text.
        """
        sip = self.options.federation == "sip"
        traffic = tail(self.traffic_path, lines * 2 if sip else lines)
        return (
            f"--- hub {self.domain} ({self.directory}) log:\n{tail(self.log_path, lines)}\n"
            f"--- hub {self.domain} {'SIP' if sip else 's2s'} traffic:\n{traffic}"
        )
