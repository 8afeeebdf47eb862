# -*- test-case-name: tests.test_metrics -*-
"""
C{GET /readyz}: whether the hub should get traffic, apart from C{/healthz}
(which reports every component's state for people).

Ready means: the storage is open and every connector has started. A load
balancer or an orchestrator polls it; it names no internals beyond the
components still waited for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

__all__ = ["ReadyResource", "hub_readiness"]

#: Returns the components not yet ready (empty: ready).
Readiness = Callable[[], list[str]]


def hub_readiness(
    started: Deferred[None], storage: Callable[[], Mapping[str, Any]], connectors: Mapping[str, Any]
) -> Readiness:
    """
    The readiness of a hub: C{started} fired, the storage's health is ok
    and every connector runs.
    """
    state = {"started": False}
    started.addCallback(lambda result: state.update(started=True) or result)

    def waiting() -> list[str]:
        missing = [] if state["started"] else ["start-up"]
        if storage().get("state") != "ok":
            missing.append("storage")
        missing.extend(name for name, c in connectors.items() if not c.running)
        return missing

    return waiting


class ReadyResource(Resource):
    """
    200 with C{{"status": "ready"}}, or 503 naming what is not ready.
    """

    isLeaf = True

    def __init__(self, readiness: Readiness) -> None:
        super().__init__()
        self._readiness = readiness

    def render_GET(self, request: IRequest) -> bytes:
        waiting = self._readiness()
        request.setResponseCode(503 if waiting else 200)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        body: dict[str, Any] = {"status": "not ready" if waiting else "ready"}
        if waiting:
            body["waiting"] = waiting
        return json.dumps(body).encode("utf-8") + b"\n"

    render_HEAD = render_GET
