"""
Tests for L{nextplane.web.app.HubWebApp} through StubTreq, without sockets.
"""

from __future__ import annotations

import json

from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from nextplane.web.app import HubWebApp


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request):  # type: ignore[no-untyped-def]
        return b"hello " + request.path


class HealthTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.state = {"storage": "ok", "echo": "ok"}
        self.app = HubWebApp(
            {name: (lambda name=name: {"state": self.state[name]}) for name in self.state}, "1.2.3"
        )
        self.client = StubTreq(self.app.resource())

    def get(self, path: str) -> tuple[int, dict]:
        response = self.successResultOf(self.client.get(f"http://hub.test{path}"))
        body = self.successResultOf(response.content())
        return response.code, json.loads(body) if body.startswith(b"{") else body

    def test_healthy(self) -> None:
        """All components ok: 200 with each component's state."""
        code, body = self.get("/healthz")
        self.assertEqual(code, 200)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["components"], {"storage": {"state": "ok"}, "echo": {"state": "ok"}})
        self.assertEqual(body["version"], "1.2.3")

    def test_degraded(self) -> None:
        """A component not ok makes /healthz answer 503, naming it."""
        self.state["echo"] = "starting"
        code, body = self.get("/healthz")
        self.assertEqual((code, body["status"]), (503, "degraded"))
        self.assertEqual(body["components"]["echo"], {"state": "starting"})

    def test_broken_health_source(self) -> None:
        """A health source that raises is reported as an error, not a crash."""

        def broken() -> dict:
            raise RuntimeError("boom")

        self.app.add_health_source("broken", broken)
        code, body = self.get("/healthz")
        self.assertEqual((code, body["components"]["broken"]), (503, {"state": "error"}))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_mount(self) -> None:
        """Mounted resources serve their subtree; unknown paths are 404."""
        self.app.mount("hooks", Hello())
        response = self.successResultOf(self.client.get("http://hub.test/hooks/slack/events"))
        self.assertEqual(response.code, 200)
        self.assertEqual(self.successResultOf(response.content()), b"hello /hooks/slack/events")
        missing = self.successResultOf(self.client.get("http://hub.test/nothing/here"))
        self.assertEqual(missing.code, 404)

    def test_mount_conflicts(self) -> None:
        """A taken or invalid mount point is refused."""
        self.app.mount("slack", Hello())
        for segment in ("slack", "healthz", "a/b", ""):
            with self.assertRaises(ValueError):
                self.app.mount(segment, Hello())

    def test_non_utf8_path(self) -> None:
        """A path that is not UTF-8 once decoded gets a JSON 400 and logs no error."""
        self.app.mount("admin", Hello())
        for path in ("/admin/api/users/%ff@x.test", "/%ff/x", "/healthz%ff"):
            code, body = self.get(path)
            self.assertEqual(code, 400)
            self.assertEqual(body["error"], "bad request")
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_errors_are_json(self) -> None:
        """Unknown paths, empty path segments and wrong methods get JSON errors, never HTML or redirects."""
        self.app.mount("admin", Hello())
        for path in ("/nothing", "/nothing/deeper", "/admin//x"):
            code, body = self.get(path)
            self.assertIn(code, (404,))
            self.assertEqual(body["error"], "not found")
        response = self.successResultOf(self.client.post("http://hub.test/healthz"))
        self.assertIn(response.code, (404, 405))
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/json"])


class AccessLogTests(SynchronousTestCase):
    """
    C{[web] access_log}: one line per request when on, none when off.
    """

    def requests_logged(self, access_log: bool) -> list[str]:
        from twisted.internet.testing import StringTransport
        from twisted.logger import formatEvent, globalLogPublisher

        from nextplane.web.app import hub_site

        lines: list[str] = []

        def observe(event: dict[str, object]) -> None:
            text = formatEvent(event)
            if "GET /healthz" in text:
                lines.append(text)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        site = hub_site(HubWebApp({}, "1").resource(), access_log)
        site.doStart()
        self.addCleanup(site.doStop)
        protocol = site.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
        self.assertIn(b"200", transport.value().split(b"\r\n")[0])
        return lines

    def test_off(self) -> None:
        """
        Off (the default): no line.
        """
        self.assertEqual(self.requests_logged(False), [])

    def test_on(self) -> None:
        """
        On: one line for the request.
        """
        self.assertEqual(len(self.requests_logged(True)), 1)
