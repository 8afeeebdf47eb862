# -*- test-case-name: tests.test_web -*-
"""
The root Klein application of each of the hub's HTTP listeners.

The public listener carries the connectors' webhooks and file links and a
minimal C{GET /healthz} (C{{"status": "ok"}} or C{"degraded"}, 200 or 503;
no versions, no components). The admin listener carries the portal, the
admin API and the detailed C{/healthz} that reports each component's state
and the version. Resources are mounted under a top-level path segment with
L{HubWebApp.mount}, e.g. C{/slack/...}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from klein import Klein
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site
from werkzeug.exceptions import MethodNotAllowed, NotFound

from .bounded import DEFAULT_MAX_BODY, bounded_site

__all__ = ["HealthSource", "HubWebApp", "hub_site"]

#: Reports one component's health as a JSON-able dict with a "state" key.
HealthSource = Callable[[], Mapping[str, Any]]

log = Logger()


def hub_site(resource: IResource, access_log: bool, max_body: int = DEFAULT_MAX_BODY) -> Site:
    """
    The HTTP site serving C{resource}; with C{access_log}, one log line per
    request (C{[web] access_log}); bodies over C{max_body} bytes are refused
    with 413 unread (C{[web] max_request_body}, L{nextplane.web.bounded}).
    """
    return bounded_site(resource, max_body, access_log)


class HubWebApp:
    """
    Routes of the hub's HTTP listener.

    @param health_sources: Component name to a callable returning its health.
    @param public: Whether this is the public listener, whose /healthz
        reveals no internals or versions.
    @param home: Where C{GET /} redirects, if anywhere (the portal).
    """

    app = Klein()
    # An API answers with JSON, never with werkzeug's HTML redirects: "//"
    # and a missing trailing slash are not rewritten.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    def __init__(
        self,
        health_sources: Mapping[str, HealthSource],
        version: str,
        *,
        public: bool = False,
        home: str | None = None,
    ) -> None:
        self._health_sources = dict(health_sources)
        self._version = version
        self._public = public
        self._home = home
        self._mounts: dict[str, IResource] = {}

    def add_health_source(self, name: str, source: HealthSource) -> None:
        """
        Report C{name}'s health on /healthz too.
        """
        self._health_sources[name] = source

    def mount(self, segment: str, resource: IResource) -> None:
        """
        Serve C{resource} for every path under C{/segment/}.

        @raise ValueError: If the segment is taken or not a plain name.
        """
        if not segment or "/" in segment or segment in self._mounts or segment == "healthz":
            raise ValueError(f"cannot mount at /{segment}/")
        self._mounts[segment] = resource

    def resource(self) -> IResource:
        """
        The IResource for a L{twisted.web.server.Site}.
        """
        return _ValidPathsOnly(self.app.resource())

    def health(self) -> tuple[bool, dict[str, Any]]:
        """
        Every component's health, and whether all are ok.
        """
        components: dict[str, Any] = {}
        for name, source in self._health_sources.items():
            try:
                components[name] = dict(source())
            except Exception:
                log.failure("health check of {name} failed", name=name)
                components[name] = {"state": "error"}
        healthy = all(c.get("state") == "ok" for c in components.values())
        return healthy, components

    @app.route("/healthz", methods=["GET", "HEAD"])
    def healthz(self, request: IRequest) -> bytes:
        healthy, components = self.health()
        request.setResponseCode(200 if healthy else 503)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        body: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
        if not self._public:
            body.update(version=self._version, components=components)
        return json.dumps(body, sort_keys=True).encode("utf-8") + b"\n"

    @app.route("/", methods=["GET", "HEAD"])
    def home(self, request: IRequest) -> bytes:
        if self._home is None:
            return _json_error(request, 404, "not found", "no such resource")
        request.redirect(self._home.encode("ascii"))
        return b""

    @app.handle_errors(NotFound)
    def not_found(self, request: IRequest, failure: Any) -> bytes:
        return _json_error(request, 404, "not found", "no such resource")

    @app.handle_errors(MethodNotAllowed)
    def method_not_allowed(self, request: IRequest, failure: Any) -> bytes:
        return _json_error(
            request, 405, "method not allowed", "this resource does not allow that method"
        )

    @app.route("/<string:segment>/", branch=True)
    def mounted(self, request: IRequest, segment: str) -> IResource | bytes:
        resource = self._mounts.get(segment)
        if resource is None:
            return _json_error(request, 404, "not found", "no such resource")
        return resource


def _json_error(request: IRequest, code: int, error: str, detail: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    return json.dumps({"error": error, "detail": detail}).encode("utf-8") + b"\n"


class _ValidPathsOnly(Resource):
    """
    Answers requests whose path is not UTF-8 once percent-decoded with a
    JSON 400, before Klein (which would log a traceback for each) sees them.
    """

    isLeaf = True

    def __init__(self, inner: IResource) -> None:
        super().__init__()
        self._inner = inner

    def render(self, request: IRequest) -> Any:
        # No "Server: TwistedWeb/<version>": the listeners reveal no versions.
        request.responseHeaders.removeHeader(b"server")
        try:
            unquote_to_bytes(request.path).decode("utf-8")
        except UnicodeDecodeError:
            return _json_error(request, 400, "bad request", "the path is not UTF-8 once decoded")
        return self._inner.render(request)
