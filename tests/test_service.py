"""
Tests for L{nextplane.service}: ordered asynchronous start-up, reverse
shutdown, fatal start-up failures.
"""

from __future__ import annotations

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from nextplane.service import HubService, StoreService
from nextplane.storage.memory import MemoryStore
from nextplane.storage.migrate import latest_version


class Step(Service):
    def __init__(self, name: str, log: list[str], hold: bool = False) -> None:
        self.name = name
        self.log = log
        self.gate: Deferred[None] | None = Deferred() if hold else None

    def startService(self) -> Deferred[None]:
        Service.startService(self)
        self.log.append(f"start {self.name}")
        return self.gate if self.gate is not None else succeed(None)

    def stopService(self) -> Deferred[None]:
        Service.stopService(self)
        self.log.append(f"stop {self.name}")
        return succeed(None)


class Broken(Service):
    name = "broken"

    def startService(self) -> Deferred[None]:
        raise RuntimeError("cannot open")


class HubServiceTests(SynchronousTestCase):
    def test_waits_for_each_child(self) -> None:
        """A child starts only after the previous child's start-up Deferred fired."""
        log: list[str] = []
        hub = HubService()
        first = Step("storage", log, hold=True)
        first.setServiceParent(hub)
        Step("web", log).setServiceParent(hub)
        hub.startService()
        self.assertEqual(log, ["start storage"])
        self.assertNoResult(hub.started)
        assert first.gate is not None
        first.gate.callback(None)
        self.assertEqual(log, ["start storage", "start web"])
        self.successResultOf(hub.started)

    def test_stops_in_reverse(self) -> None:
        """Children stop in reverse order of starting."""
        log: list[str] = []
        hub = HubService()
        for name in ("storage", "router", "web"):
            Step(name, log).setServiceParent(hub)
        hub.startService()
        self.successResultOf(hub.stopService())
        self.assertEqual(log[3:], ["stop web", "stop router", "stop storage"])

    def test_fatal_start_failure(self) -> None:
        """A failing child stops start-up, reaches the fatal handler, and later children never start."""
        log: list[str] = []
        fatal: list[Failure] = []
        hub = HubService(on_fatal=fatal.append)
        Broken().setServiceParent(hub)
        Step("web", log).setServiceParent(hub)
        hub.startService()
        self.failureResultOf(hub.started, RuntimeError)
        self.assertEqual([f.getErrorMessage() for f in fatal], ["cannot open"])
        self.assertEqual(log, [])
        self.flushLoggedErrors(RuntimeError)

    def test_store_service_health(self) -> None:
        """The storage service reports its backend and schema version once open."""
        store = MemoryStore()
        service = StoreService(store)
        self.assertEqual(service.health()["state"], "stopped")
        self.successResultOf(service.startService())
        self.assertEqual(
            service.health(),
            {"state": "ok", "backend": "memory", "schema_version": latest_version("sqlite")},
        )
        self.assertEqual(service.health()["schema_version"], latest_version("sqlite"))
        self.successResultOf(service.stopService())
        self.assertFalse(store.opened)
