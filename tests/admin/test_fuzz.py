# -*- test-case-name: tests.admin.test_fuzz -*-
"""
Schemathesis against the admin API: the OpenAPI document is loaded from a
real Twisted server listening on 127.0.0.1 (port 0) in this process, and
schemathesis's engine (examples, coverage, fuzzing and stateful phases)
runs in a thread while the reactor serves it.

Derandomized (fixed seed, deterministic generation, no example database)
and bounded (a few examples per operation), so a run is reproducible and
takes seconds. Failing checks are reported with schemathesis's own words.

Checks: everything schemathesis has except C{positive_data_acceptance}:
some schema-valid inputs are rightly refused with a 400, because calendar
dates, the 253-character limit of a domain inside an address and C{since}
before C{until} are beyond what the JSON Schema patterns express.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, ITCPTransport
from twisted.internet.protocol import Protocol
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.server import Site

from nextplane.admin.api import AdminAPI
from nextplane.storage.memory import MemoryStore
from nextplane.web.app import HubWebApp

from .test_api import TOKEN, seed

try:
    import schemathesis
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import Status, events
except ImportError:  # pragma: no cover - dev extra missing
    schemathesis = None  # type: ignore[assignment]

#: Examples per operation and generation mode: enough to find crashes,
#: small enough for a unit suite on two cores.
MAX_EXAMPLES = 15
SEED = 20261101


class TrackingSite(Site):
    """
    A L{Site} that knows its open connections, so a test can close them
    all and wait until they are gone (leaving a clean reactor).
    """

    def __init__(self, resource: Any) -> None:
        # No idle timeout: it would leave delayed calls in the reactor.
        super().__init__(resource, timeout=None)
        self.open: dict[Protocol, ITCPTransport] = {}
        self._waiting: list[Deferred[None]] = []

    def buildProtocol(self, addr: IAddress | None) -> Any:
        protocol = super().buildProtocol(addr)
        if protocol is None:
            return None
        # Hook the protocol the transport talks to (Site wraps its channel).
        make, lost = protocol.makeConnection, protocol.connectionLost

        def make_connection(transport: ITCPTransport) -> None:
            self.open[protocol] = transport
            make(transport)

        def connection_lost(reason: Failure) -> None:
            lost(reason)
            self.open.pop(protocol, None)
            if not self.open:
                waiting, self._waiting = self._waiting, []
                for d in waiting:
                    d.callback(None)

        protocol.makeConnection = make_connection  # type: ignore[method-assign]
        protocol.connectionLost = connection_lost  # type: ignore[method-assign]
        return protocol

    def close_all(self) -> Deferred[None]:
        """
        Abort every open connection; fires once all are lost.
        """
        if not self.open:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        for transport in list(self.open.values()):
            transport.abortConnection()
        return d


def run_schemathesis(server: str) -> tuple[list[str], dict[int, int]]:
    """
    Run schemathesis (blocking) against the admin API at C{server}.

    @return: The failures, one line each, and how many responses of each
        status code were seen.
    """
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": f"{server}/admin",
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"positive_data_acceptance": {"enabled": False}},
            "phases": {"stateful": {"max-steps": 6}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{server}/admin/openapi.json", config=config)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    code = interaction.response.status_code
                    statuses[code] = statuses.get(code, 0) + 1
            for checks in recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{recorder.label}: {check.name}: {failure.title}: {failure.message}"
                        )
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: error: {event.value!r}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
    return failures, statuses


class SchemathesisTests(TestCase):
    """
    The admin API as schemathesis sees it over a real socket.
    """

    timeout = 300

    def setUp(self) -> None:
        if schemathesis is None:
            if os.environ.get("CI") == "true":
                self.fail("schemathesis is not installed (pip install -e '.[dev]')")
            raise SkipTest("schemathesis is not installed (pip install -e '.[dev]')")

    async def test_no_server_errors_and_schema_conformance(self) -> None:
        """Generated requests get no 5xx, and every response conforms to the OpenAPI document."""
        store = MemoryStore()
        seed(store)
        api = AdminAPI(store, TOKEN, reactor)  # type: ignore[arg-type]
        web = HubWebApp({}, "fuzz")
        web.mount("admin", api.resource())
        site = TrackingSite(web.resource())
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined,arg-type]
        # Cleanups run last-in first-out: connections go first, then the port.
        self.addCleanup(port.stopListening)
        self.addCleanup(site.close_all)

        failures, statuses = await deferToThread(
            run_schemathesis,
            f"http://127.0.0.1:{port.getHost().port}",  # type: ignore[attr-defined]
        )

        self.assertEqual(failures, [], "\n".join(failures))
        # It did reach the handlers, with and without valid data and auth.
        self.assertGreater(statuses.get(200, 0), 20, statuses)
        self.assertGreater(statuses.get(400, 0), 20, statuses)
        self.assertGreater(statuses.get(401, 0), 0, statuses)
        self.assertFalse([code for code in statuses if code >= 500], statuses)
