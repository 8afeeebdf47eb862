"""
The nextplane hub with its SIP connector, in-process on the real reactor,
as the peer of Kamailio, sipp and baresip.

L{SipHub} builds the whole hub with L{nextplane.tap.build_hub} from a
configuration dict validated by L{nextplane.config.parse_config}: one
tenant (C{a.test}) with a certificate from the test CA, SQLite storage in
the test's directory, C{[dns] servers} at the harness DNS server, and
C{[connectors.sip]} listening for mutual TLS on the hub's own loopback
address, port 5061 (C{via_host} is that address, so peers need no DNS to
reach a Contact).

The tenant's platform is the C{recording} test connector
(L{nextplane.testing.connectors.TEST_CONNECTORS}), a L{RecordingConnector}
wired like any platform: what reaches the hub user is recorded, what the
hub user sends is injected, as in the XMPP hub harness.

Until C{sip} is in L{nextplane.connectors.registry.CONNECTORS}, the SIP
connector's registry entry is added to the registry this hub is parsed and
built with (L{sip_registry}).

Diagnostics: the hub's log events go to C{hub.log}, every SIP message sent
and every chunk received (plaintext) to C{traffic.log}, through the
L{nextplane.connectors.sip.transport.SipTransport.trace} hook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

from twisted.internet import defer, task
from twisted.logger import formatEvent, globalLogPublisher

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

from .process import tail

__all__ = ["SipHub", "SipHubOptions", "poll", "sip_registry"]

T = TypeVar("T")


def sip_registry() -> Mapping[str, Any]:
    """
    The test connector registry, with the SIP connector's entry.
    """
    if "sip" in TEST_CONNECTORS:
        return TEST_CONNECTORS
    return {**TEST_CONNECTORS, "sip": sip_connector.ENTRY}


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

    @return: a Deferred firing with the value, or failing with
        L{defer.TimeoutError} after C{timeout} seconds.
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
class SipHubOptions:
    """
    What the hub under test looks like.

    @ivar domain: the tenant domain.
    @ivar address: loopback address of its SIP listener.
    @ivar cert: the tenant certificate.
    @ivar trusted_cas: CA certificates in C{[tls] ca_certificates}.
    @ivar port: its TLS port.
    @ivar sip: more C{[connectors.sip]} keys.
    @ivar partners: C{[[federation.partners]]} entries.
    """

    domain: str
    address: str
    cert: CertPaths
    trusted_cas: Sequence[Path] = ()
    port: int = 5061
    sip: Mapping[str, Any] = field(default_factory=dict)
    partners: Sequence[Mapping[str, Any]] = ()


class SipHub:
    """
    The hub, started and stoppable, with its tenant platform recorded.

    @ivar options: how it is configured.
    @ivar directory: its directory (SQLite file, logs).
    @ivar config: the validated configuration.
    @ivar service: the running L{nextplane.service.HubService}, if started.
    @ivar recording: the tenant platform of the current run.
    """

    def __init__(self, reactor: Any, options: SipHubOptions, directory: Path, dns: tuple[str, int]):
        self.reactor = reactor
        self.options = options
        self.directory = directory.absolute()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.dns = dns
        self.config: Config = parse_config(self.config_data(), environ={}, registry=sip_registry())
        self.service: Any = None
        self.recording: RecordingConnector | None = None
        self._log: IO[str] | None = None
        self._traffic: IO[str] | None = None
        self._observer: Callable[[dict[str, Any]], None] | None = None

    def config_data(self) -> dict[str, Any]:
        """
        The configuration, as the TOML file would hold it.
        """
        o = self.options
        host, port = self.dns
        sip: dict[str, Any] = {
            "listen": f"tcp:{o.port}:interface={o.address}",
            "via_host": o.address,
            "via_port": o.port,
            "system_ca": False,
            "connect_timeout": 10,
        }
        sip.update(o.sip)
        return {
            "hub": {"data_dir": str(self.directory)},
            "storage": {"backend": "sqlite", "sqlite_path": str(self.directory / "hub.sqlite3")},
            "web": {
                "listen": f"tcp:0:interface={o.address}",
                "admin_listen": f"tcp:0:interface={o.address}",
            },
            "dns": {"servers": [f"{host}:{port}"], "timeout": 2, "cache_seconds": 5},
            "tls": {"ca_certificates": [str(p) for p in o.trusted_cas]},
            "router": {"delivery_timeout": 30},
            "tenants": [
                {
                    "domain": o.domain,
                    "platform": "recording",
                    "workspace": "interop",
                    "certificate": str(o.cert.cert),
                    "private_key": str(o.cert.key),
                    "display_name": f"interop {o.domain}",
                }
            ],
            "federation": {"partners": [dict(p) for p in o.partners]},
            "connectors": {"recording": {}, "sip": sip},
        }

    # -- parts ----------------------------------------------------------------

    @property
    def domain(self) -> str:
        """The tenant domain."""
        return self.options.domain

    @property
    def store(self) -> Any:
        """The running hub's store."""
        return self.service.store

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
        """The SIP traffic log."""
        return self.directory / "traffic.log"

    def address(self, local: str) -> Address:
        """
        A hub user's address.
        """
        return Address(local, self.domain)

    # -- lifecycle ------------------------------------------------------------

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

        self._observer = observe
        globalLogPublisher.addObserver(observe)

    def _trace(self, connection: Any, direction: str, data: bytes) -> None:
        if self._traffic is None:
            return
        when = datetime.now(UTC).strftime("%H:%M:%S.%f")
        arrow = "<<" if direction == "in" else ">>"
        self._traffic.write(f"{when} {connection!r} {arrow}\n{data.decode('utf-8', 'replace')}\n")
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
        Build a hub from the configuration and start it; fires once every
        service (storage, connectors, listeners) is up.

        @return: a Deferred firing with the L{RecordingConnector}.
        """
        if self.service is not None:
            raise RuntimeError("the hub is already running")
        self._open_logs()
        hub = build_hub(self.config, self.reactor, registry=sip_registry())
        # The tenant platform: what the hub user sees and does.
        recording: RecordingConnector = hub.connectors["recording"]  # type: ignore[attr-defined]
        hub.connectors["sip"].transport.trace = self._trace  # type: ignore[attr-defined]
        self.service = hub
        self.recording = recording
        hub.startService()
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
        Stop the hub (sessions and subscriptions ended, store closed).
        """
        hub, self.service = self.service, None
        if hub is None:
            return None
        yield hub.stopService()
        return None

    # -- the hub user's side ----------------------------------------------------

    def inject(self, event: Event) -> defer.Deferred[Any]:
        """
        Route C{event} as if the hub user sent it on the platform.

        @return: fires with the router's L{nextplane.router.Outcome}.
        """
        assert self.recording is not None, "the hub is not running"
        return self.recording.inject(event)

    def delivered(self, kind: str | None = None) -> list[Event]:
        """
        What reached the hub user, in order (C{kind}: only those).
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
        Wait until a matching event reached the hub user.
        """

        def check() -> Event | None:
            for event in self.delivered(kind):
                if predicate is None or predicate(event):
                    return event
            return None

        def explain() -> str:
            seen = ", ".join(repr(e) for e in self.delivered()) or "nothing"
            return f"the hub user received: {seen}"

        return poll(  # type: ignore[no-any-return]
            self.reactor, check, timeout, f"{kind or 'event'} for the hub user", explain=explain
        )

    @defer.inlineCallbacks
    def befriend(self, pairs: Iterable[tuple[str, str]]) -> Any:
        """
        Store accepted contacts: C{(hub user local part, remote address)}.
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

    @defer.inlineCallbacks
    def block(self, domain: str) -> Any:
        """
        Put C{domain} on the tenant's block list (and reload the rules).
        """
        yield self.store.put_domain_policy(DomainPolicy(self.domain, domain, DomainAction.BLOCK))
        yield self.sip.refresh_policy()

    def contact_state(self, local: str, remote: str) -> defer.Deferred[ContactState | None]:
        """
        The hub user's stored contact state for C{remote}.
        """
        d = self.store.get_contact(self.address(local), Address.parse(remote))
        return d.addCallback(lambda record: record.state if record is not None else None)  # type: ignore[no-any-return]

    # -- logs -------------------------------------------------------------------

    def log_text(self) -> str:
        """
        The hub log so far.
        """
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def traffic_text(self) -> str:
        """
        The SIP traffic so far.
        """
        try:
            return self.traffic_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> defer.Deferred[re.Match[str]]:
        """
        Wait until the hub log matches C{pattern}.
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
        """
        return (
            f"--- hub {self.domain} ({self.directory}) log:\n{tail(self.log_path, lines)}\n"
            f"--- hub {self.domain} SIP traffic:\n{tail(self.traffic_path, lines * 2)}"
        )
