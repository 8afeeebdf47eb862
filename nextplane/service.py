# -*- test-case-name: tests.test_service -*-
"""
The hub's service tree.

L{HubService} is a C{MultiService} that, unlike Twisted's, waits for each
child's start-up Deferred before starting the next (storage must have its
migrations applied before connectors or the web listener start) and stops
children in reverse order, waiting for each. A start-up failure is fatal:
it is reported once and the process exits non-zero.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorCore
from twisted.logger import ILogObserver, Logger
from twisted.python.failure import Failure

from .interfaces import IStore
from .storage.records import TenantRecord

__all__ = ["EndpointService", "HubService", "StoreService", "TenantSyncService", "exit_on_fatal"]

log = Logger()


class StoreService(Service):
    """
    Opens the store (applying migrations) on start, closes it on stop.
    """

    def __init__(self, store: IStore) -> None:
        self.setName("storage")
        self.store = store
        self._version: int | None = None

    def startService(self) -> Deferred[None]:
        Service.startService(self)

        def opened(version: int) -> None:
            self._version = version
            log.info(
                "storage ready: {backend}, schema version {version}",
                backend=self.store.backend_name,
                version=version,
            )

        return self.store.open().addCallback(opened)  # type: ignore[no-any-return]

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        self._version = None
        return self.store.close()  # type: ignore[no-any-return]

    def health(self) -> dict[str, Any]:
        """
        State, backend and schema version.
        """
        ready = self.running and self._version is not None
        health: dict[str, Any] = {
            "state": "ok" if ready else ("starting" if self.running else "stopped"),
            "backend": self.store.backend_name,
            "schema_version": self._version,
        }
        stats = getattr(self.store, "stats", None)
        if callable(stats):
            health["cache"] = stats()
        return health


class TenantSyncService(Service):
    """
    Writes the configured tenants into the store at start-up, so the admin
    API and the metadata log see the same tenants as the configuration.
    """

    def __init__(self, store: IStore, tenants: Sequence[TenantRecord]) -> None:
        self.setName("tenants")
        self._store = store
        self._tenants = tuple(tenants)

    def startService(self) -> Deferred[None]:
        Service.startService(self)
        return Deferred.fromCoroutine(self._sync())

    async def _sync(self) -> None:
        for tenant in self._tenants:
            await self._store.put_tenant(tenant)


class EndpointService(Service):
    """
    Listens on a server endpoint; start-up fires once listening (or fails).

    @ivar port: The listening port, once started.
    """

    def __init__(
        self, name: str, endpoint: Any, factory: IProtocolFactory, describe: str = ""
    ) -> None:
        self.setName(name)
        self._endpoint = endpoint
        self._factory = factory
        self._describe = describe
        self.port: IListeningPort | None = None

    def startService(self) -> Deferred[None]:
        Service.startService(self)

        def listening(port: IListeningPort) -> None:
            self.port = port
            host = port.getHost()
            log.info(
                "{name} listening on {host}:{port} {describe}",
                name=self.name,
                host=getattr(host, "host", host),
                port=getattr(host, "port", ""),
                describe=self._describe,
            )

        return self._endpoint.listen(self._factory).addCallback(listening)  # type: ignore[no-any-return]

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        port, self.port = self.port, None
        stopped = port.stopListening() if port is not None else None
        return stopped if isinstance(stopped, Deferred) else succeed(None)

    def health(self) -> dict[str, Any]:
        """
        Listening or not.
        """
        if self.port is None:
            return {"state": "starting" if self.running else "stopped"}
        host = self.port.getHost()
        return {"state": "ok", "port": getattr(host, "port", None)}


def exit_on_fatal(reactor: IReactorCore) -> Callable[[Failure], None]:
    """
    A start-up failure handler for production: log one critical line, stop
    the reactor, and exit with status 1 once it has shut down.
    """

    def fatal(failure: Failure) -> None:
        log.critical(
            "nextplane could not start: {error}", error=failure.getErrorMessage() or failure.type
        )
        print(f"nextplane: could not start: {failure.getErrorMessage()}", file=sys.stderr)

        def leave() -> None:
            import os

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

        reactor.addSystemEventTrigger("after", "shutdown", leave)
        if reactor.running:
            reactor.stop()

    return fatal


class HubService(MultiService):
    """
    Starts children one after the other, each after the previous one's
    start-up Deferred fired; stops them in reverse order.

    @param on_fatal: Called with the failure if a child fails to start.
    @param log_observer: Installed as the application's log observer when
        this service is attached to a twistd application.
    @ivar started: Fires when every child has started.
    """

    def __init__(
        self,
        on_fatal: Callable[[Failure], None] | None = None,
        log_observer: ILogObserver | None = None,
    ) -> None:
        MultiService.__init__(self)
        self._on_fatal = on_fatal
        self._log_observer = log_observer
        self.started: Deferred[None] = Deferred()
        self._starting: Deferred[None] | None = None
        self.components: dict[str, Callable[[], Any]] = {}

    def setServiceParent(self, parent: Any) -> None:
        MultiService.setServiceParent(self, parent)
        # twistd reads an ILogObserver component of the application.
        if self._log_observer is not None and hasattr(parent, "setComponent"):
            parent.setComponent(ILogObserver, self._log_observer)

    def startService(self) -> None:
        Service.startService(self)
        self._starting = Deferred.fromCoroutine(self._start_children())

    async def _start_children(self) -> None:
        for child in list(self):
            try:
                await maybeDeferred(child.startService)
            except Exception:
                failure = Failure()
                log.failure("starting {name} failed", failure, name=child.name)
                if not self.started.called:
                    self.started.errback(failure)
                if self._on_fatal is not None:
                    self._on_fatal(failure)
                return
        log.info("nextplane started")
        if not self.started.called:
            self.started.callback(None)

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_children())

    async def _stop_children(self) -> None:
        if self._starting is not None:
            await self._starting
        for child in reversed(list(self)):
            if not IService(child).running:
                continue
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                log.failure("stopping {name} failed", name=child.name)
        log.info("nextplane stopped")
