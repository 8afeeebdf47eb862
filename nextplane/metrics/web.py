# -*- test-case-name: tests.test_metrics -*-
"""
C{GET /metrics}: the Prometheus text exposition of the hub's registry.

Until the admin listener exists it is mounted on the hub's one HTTP
listener next to the admin API, and like the admin API it asks for the
admin bearer token (C{[web] admin_token}; none configured: refused).
L{mount_metrics} is the one place that decides where it is served.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource

__all__ = ["MetricsResource", "mount_metrics"]


class MetricsResource(Resource):
    """
    Serves C{registry} to a client presenting C{token} as a bearer token.
    """

    isLeaf = True

    def __init__(self, registry: CollectorRegistry, token: str | None) -> None:
        super().__init__()
        self._registry = registry
        self._token = token

    def render_GET(self, request: IRequest) -> bytes:
        presented = request.getHeader(b"authorization") or b""
        expected = f"Bearer {self._token}".encode() if self._token else None
        if expected is None or not hmac.compare_digest(presented, expected):
            request.setResponseCode(401)
            request.setHeader(b"www-authenticate", b'Bearer realm="nextplane"')
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"a bearer token ([web] admin_token) is required\n"
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        request.setHeader(b"cache-control", b"no-store")
        return generate_latest(self._registry)


def mount_metrics(
    mount: Callable[[str, IResource], None], registry: CollectorRegistry, token: str | None
) -> None:
    """
    Serve C{registry} at C{/metrics} through C{mount} (the HTTP app's).
    """
    mount("metrics", MetricsResource(registry, token))
