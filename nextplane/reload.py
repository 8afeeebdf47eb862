# -*- test-case-name: tests.test_reload -*-
"""
Reloading the configuration on SIGHUP (C{systemctl reload nextplane}).

A reload rereads the configuration file and applies what can change while
the hub runs, keeping every stream and session that is still allowed:

  - C{[hub] log_level}, and the log file is reopened (after logrotate);
  - tenants' display names (written to the store);
  - C{[[federation.partners]]}: which protocol reaches a partner domain;
  - policy: the tenants' domain rules are reloaded from the store at once
    by every connector that caches them, and the streams and sessions of
    domains they now refuse are closed.

Everything else (listeners, storage, TLS trust, tenants' certificates,
connector sections...) is compared with the running configuration and each
difference is logged as needing a restart. An invalid file is refused with
one error line and the running configuration stays.

L{restart_needed} is the pure comparison; L{Reloader} applies a reload and
L{ReloadService} turns SIGHUP into one.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from attrs import frozen
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorThreads
from twisted.logger import Logger

from .config import Config, ConfigError, PartnerConfig, TenantConfig, load_config
from .connectors.registry import CONNECTORS
from .interfaces import IStore
from .locate import FederationLocator
from .logs import HubLogging, parse_level
from .ordering import KeyedSerializer
from .sdnotify import Notifier, reloading_state
from .storage.records import TenantRecord

__all__ = ["PolicyCache", "ReloadResult", "ReloadService", "Reloader", "restart_needed"]

log = Logger()

#: Reads a configuration file for this build's connectors.
_LOAD: Callable[[str], Config] = functools.partial(load_config, registry=CONNECTORS)


@runtime_checkable
class PolicyCache(Protocol):
    """
    A connector that caches the tenants' domain rules (XMPP, SIP).
    """

    def refresh_policy(self) -> Deferred[None]:
        """
        Reload the rules now and close what they refuse.
        """


@frozen
class ReloadResult:
    """
    What a reload did.

    @ivar applied: What changed and took effect.
    @ivar restart: What changed but takes effect only after a restart.
    """

    applied: tuple[str, ...]
    restart: tuple[str, ...]


def _tenant_identity(tenant: TenantConfig) -> tuple[str, str, str, str]:
    # All but the display name: these are wired into connectors at start.
    return (tenant.platform, tenant.workspace, tenant.certificate, tenant.private_key)


def _fixed_partners(partners: Iterable[PartnerConfig], protocol: str) -> set[Any]:
    # Routes and certificate demands feed the connectors' settings at start;
    # a partner with neither only steers the locator, which reloads.
    return {
        (p.domain, p.route, p.require_certificates)
        for p in partners
        if p.protocol == protocol and (p.route or p.require_certificates)
    }


def restart_needed(running: Config, new: Config) -> list[str]:
    """
    The settings that differ between C{running} and C{new} and take effect
    only after a restart, each named as in the file.
    """
    notes = []
    for name in ("storage", "web", "dns", "tls", "router"):
        if getattr(running, name) != getattr(new, name):
            notes.append(f"[{name}]")
    if running.hub.data_dir != new.hub.data_dir:
        notes.append("hub.data_dir")
    if running.hub.log_format != new.hub.log_format:
        notes.append("hub.log_format")
    if (running.hub.log_file is None) != (new.hub.log_file is None):
        notes.append("hub.log_file (between standard output and a file)")
    old_tenants = {t.domain: t for t in running.tenants}
    new_tenants = {t.domain: t for t in new.tenants}
    for domain in sorted(old_tenants.keys() - new_tenants.keys()):
        notes.append(f"tenants: {domain} removed")
    for domain in sorted(new_tenants.keys() - old_tenants.keys()):
        notes.append(f"tenants: {domain} added")
    for domain in sorted(old_tenants.keys() & new_tenants.keys()):
        if _tenant_identity(old_tenants[domain]) != _tenant_identity(new_tenants[domain]):
            notes.append(f"tenants: {domain} (platform, workspace, certificate or key)")
    for name in sorted(running.connectors.keys() | new.connectors.keys()):
        if running.connectors.get(name) != new.connectors.get(name):
            notes.append(f"[connectors.{name}]")
    protocols = {p.protocol for p in (*running.partners, *new.partners)}
    for protocol in sorted(protocols):
        if _fixed_partners(running.partners, protocol) != _fixed_partners(new.partners, protocol):
            notes.append(f"federation.partners: routes or require_certificates of {protocol}")
    return notes


class Reloader:
    """
    Applies reloads of the configuration file at C{running.path}.

    @param running: The configuration the hub started with.
    @param logging: The hub's logging (level, file); C{None} when the
        application logs elsewhere (tests).
    @param log_path_pinned: The log file was named on the command line
        (twistd's C{--logfile}): reopen that one, whatever C{[hub] log_file}
        says.
    @param connectors: The running connectors by name.
    @param load: Reads and validates a configuration file.
    """

    def __init__(
        self,
        running: Config,
        *,
        store: IStore,
        locator: FederationLocator,
        connectors: Mapping[str, Any],
        logging: HubLogging | None = None,
        log_path_pinned: bool = False,
        notifier: Notifier | None = None,
        load: Callable[[str], Config] = _LOAD,
    ) -> None:
        if running.path is None:
            raise ValueError("the running configuration was not read from a file")
        self._path = running.path
        self._running = running
        self._applied = running
        self._store = store
        self._locator = locator
        self._connectors = connectors
        self._logging = logging
        self._log_path_pinned = log_path_pinned
        self._notifier = notifier if notifier is not None else Notifier({})
        self._load = load
        self._turns = KeyedSerializer()
        self.reloads = 0

    @property
    def config(self) -> Config:
        """
        The configuration last applied.
        """
        return self._applied

    def reload(self) -> Deferred[ReloadResult | None]:
        """
        Reread and apply the configuration; a reload asked for while one is
        under way runs after it.

        @return: Fires with what was done, or C{None} if the new file was
            refused. Never fails.
        """
        return self._turns.submit("reload", self._reload)

    async def _reload(self) -> ReloadResult | None:
        self._notifier.notify(reloading_state())
        try:
            return await self._apply()
        except Exception:
            # E.g. the store failed: what was applied stays, and so does the hub.
            log.failure("reload failed")
            return None
        finally:
            self._notifier.notify("READY=1")

    async def _apply(self) -> ReloadResult | None:
        try:
            new = self._load(self._path)
        except ConfigError as e:
            log.error(
                "reload refused: configuration error: {error}; the running configuration is kept",
                error=str(e),
            )
            return None
        old, self._applied = self._applied, new
        applied = self._apply_logging(old, new)
        applied += await self._apply_tenants(old, new)
        if old.partners != new.partners:
            self._locator.set_partners(new.partners)
            applied.append("federation.partners")
        restart = restart_needed(self._running, new)
        for what in restart:
            log.warn("reload: {what} changed; it takes effect after a restart", what=what)
        refreshed = await self._refresh_policy()
        self.reloads += 1
        log.info(
            "reloaded {path}: {applied}; domain rules reloaded by {refreshed}",
            path=self._path,
            applied=", ".join(applied) or "no live setting changed",
            refreshed=", ".join(refreshed) or "no connector",
        )
        return ReloadResult(tuple(applied), tuple(restart))

    def _apply_logging(self, old: Config, new: Config) -> list[str]:
        applied: list[str] = []
        if self._logging is None:
            return applied
        if old.hub.log_level != new.hub.log_level:
            self._logging.set_level(parse_level(new.hub.log_level))
            applied.append(f"hub.log_level {new.hub.log_level}")
        try:
            path = None if self._log_path_pinned else new.hub.log_file
            reopened = self._logging.reopen(path)
        except OSError as e:
            log.error("reload: cannot reopen the log file: {error}", error=e.strerror)
        else:
            if reopened:
                applied.append("log file reopened")
        return applied

    async def _apply_tenants(self, old: Config, new: Config) -> list[str]:
        kept = {t.domain: t for t in old.tenants}
        renamed = [
            t
            for t in new.tenants
            if t.domain in kept
            and _tenant_identity(t) == _tenant_identity(kept[t.domain])
            and t.display_name != kept[t.domain].display_name
        ]
        for tenant in renamed:
            await self._store.put_tenant(
                TenantRecord(tenant.domain, tenant.platform, tenant.workspace, tenant.display_name)
            )
        return [f"tenants: {t.domain} display name" for t in renamed]

    async def _refresh_policy(self) -> list[str]:
        names = [n for n, c in self._connectors.items() if isinstance(c, PolicyCache)]
        waits = [self._connectors[n].refresh_policy() for n in names]
        await DeferredList(waits, consumeErrors=True)
        return names


class ReloadService(Service):
    """
    Turns SIGHUP into L{Reloader.reload} while running; a SIGHUP that
    arrives before the hub finished starting is applied once it has.

    @param ready: Fires once the hub has started.
    @param install: Installs a signal handler (L{signal.signal}); tests
        pass a fake.
    """

    def __init__(
        self,
        reloader: Reloader,
        reactor: IReactorThreads,
        ready: Deferred[None],
        install: Callable[[int, Any], Any] = signal.signal,
    ) -> None:
        self.setName("reload")
        self._reloader = reloader
        self._reactor = reactor
        self._ready = ready
        self._install = install
        self._previous: Any = None
        self._installed = False
        self._waiting = False

    def privilegedStartService(self) -> None:
        # Before any child starts: a SIGHUP during start-up must not kill.
        Service.privilegedStartService(self)
        self._handle()

    def startService(self) -> None:
        Service.startService(self)
        self._handle()

    def _handle(self) -> None:
        if not self._installed:
            self._previous = self._install(signal.SIGHUP, self._on_signal)
            self._installed = True

    def stopService(self) -> None:
        Service.stopService(self)
        if self._installed:
            self._install(signal.SIGHUP, self._previous or signal.SIG_DFL)
            self._installed = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        # A signal handler may interrupt the reactor anywhere: hand over.
        self._reactor.callFromThread(self.hangup)

    def hangup(self) -> None:
        """
        Reload now, or once started.
        """
        if self._ready.called:
            self._reloader.reload()
        elif not self._waiting:
            self._waiting = True
            log.info("SIGHUP: the configuration is reloaded once the hub has started")
            self._ready.addCallback(self._after_start)

    def _after_start(self, result: Any) -> Any:
        self._waiting = False
        if self.running:
            self._reloader.reload()
        return result
