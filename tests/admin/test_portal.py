# -*- test-case-name: tests.admin.test_portal -*-
"""
The admin portal at the HTTP level, through StubTreq over a memory store:
sessions (no fixation, cookie flags, idle expiry, logout), CSRF on every
state change, login throttling, role checks in pages and API alike, the
overview's numbers, the trace and the audit.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Request
from twisted.web.test.requesthelper import DummyChannel

from nextplane.admin.access import SESSION_COOKIE
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import DomainAction, DomainPolicy, UserPolicy

from ..helpers import addr
from .seed import PASSWORD, AdminSite, seed_usage

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Reply:
    """
    One response, read.
    """

    def __init__(self, code: int, headers: Any, body: bytes) -> None:
        self.code = code
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[-1] if values else None

    def cookies(self) -> list[str]:
        return self.headers.getRawHeaders("set-cookie") or []


class Browser:
    """
    A cookie-keeping client of the admin listener.
    """

    def __init__(self, case: SynchronousTestCase, site: AdminSite) -> None:
        self.case = case
        self.stub = StubTreq(site.web.resource())
        self.cookie: str | None = None

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE.decode()}={self.cookie}"
        return headers

    def _read(self, response: Any) -> Reply:
        body = self.case.successResultOf(response.content())
        reply = Reply(response.code, response.headers, body)
        for cookie in reply.cookies():
            name, _, rest = cookie.partition("=")
            if name == SESSION_COOKIE.decode():
                value = rest.split(";")[0]
                self.cookie = value or None
        return reply

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        d = self.stub.get(
            f"http://admin.test{path}", headers=self._headers(headers), allow_redirects=False
        )
        return self._read(self.case.successResultOf(d))

    def post(self, path: str, data: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
        d = self.stub.post(
            f"http://admin.test{path}",
            data=data,
            headers=self._headers(headers),
            allow_redirects=False,
        )
        return self._read(self.case.successResultOf(d))

    def login(self, name: str, password: str = PASSWORD) -> Reply:
        return self.post("/portal/login", {"name": name, "password": password})

    def csrf(self, page: str = "/portal/") -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.get(page).text)
        assert match is not None, "no CSRF token on the page"
        return html.unescape(match.group(1))


class PortalCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW.timestamp())
        self.store = MemoryStore()
        self.expected = seed_usage(self.store, NOW.date())
        self.site = AdminSite(self.store, self.clock)
        self.successResultOf(self.site.add_accounts())
        self.browser = Browser(self, self.site)


class SessionTests(PortalCase):
    def test_pages_need_a_session(self) -> None:
        """Without a session every page redirects to the login form; / goes to the portal."""
        for path in ("/portal/", "/portal/trace", "/portal/users", "/portal/audit"):
            reply = self.browser.get(path)
            self.assertEqual((reply.code, reply.header("location")), (302, "/portal/login"), path)
        self.assertEqual(self.browser.get("/").header("location"), "/portal/")
        self.assertIn("Log in", self.browser.get("/portal/login").text)

    def test_cookie_flags(self) -> None:
        """The session cookie is HttpOnly, SameSite=Strict and path=/ (Secure only over TLS)."""
        reply = self.browser.login("root")
        self.assertEqual((reply.code, reply.header("location")), (302, "/portal/"))
        [cookie] = [c for c in reply.cookies() if c.startswith(SESSION_COOKIE.decode())]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        self.assertIn("httponly", flags)
        self.assertIn("samesite=strict", flags)
        self.assertIn("path=/", flags)
        self.assertNotIn("secure", flags)

    def test_secure_over_tls(self) -> None:
        """Over TLS the cookie is marked Secure."""
        request = Request(DummyChannel())
        request.isSecure = lambda: True  # type: ignore[method-assign]
        session = self.successResultOf(
            ensureDeferred(self.site.access.login(request, "root", PASSWORD))
        )
        self.assertNotIsInstance(session, str)
        [cookie] = request.cookies
        self.assertIn(b"Secure", cookie)

    def test_no_session_fixation(self) -> None:
        """A session id planted before login is not adopted: login issues a new one, and the old one is worthless."""
        self.browser.cookie = "planted-by-attacker"
        self.browser.login("root")
        self.assertNotEqual(self.browser.cookie, "planted-by-attacker")
        self.assertEqual(self.browser.get("/portal/").code, 200)
        first = self.browser.cookie
        self.browser.login("root")
        self.assertNotEqual(self.browser.cookie, first, "a second login gets a fresh id")
        self.assertIsNone(self.site.sessions.find(str(first)), "the earlier session ended")

    def test_wrong_password(self) -> None:
        """A wrong password is a 401 page with no cookie."""
        reply = self.browser.login("root", "wrong password!")
        self.assertEqual(reply.code, 401)
        self.assertIn("wrong name or password", reply.text)
        self.assertIsNone(self.browser.cookie)

    def test_throttled_per_account(self) -> None:
        """After 3 failures an account is locked out for the window, even with the right password."""
        for _ in range(3):
            self.browser.login("root", "nope nope nope")
        reply = self.browser.login("root")
        self.assertEqual(reply.code, 429)
        self.assertIn("too many failed logins", reply.text)
        self.clock.advance(901)
        self.assertEqual(self.browser.login("root").code, 302)

    def test_throttled_per_address(self) -> None:
        """After 5 failures from one address, every account is refused from it."""
        for n in range(5):
            self.browser.login(f"guess{n}", "nope nope nope")
        self.assertEqual(self.browser.login("acme").code, 429)

    def test_idle_expiry(self) -> None:
        """A session idle longer than the limit is gone."""
        self.browser.login("root")
        self.clock.advance(599)
        self.assertEqual(self.browser.get("/portal/").code, 200)
        self.clock.advance(601)
        self.assertEqual(self.browser.get("/portal/").code, 302)

    def test_logout(self) -> None:
        """Logging out ends the session and clears the cookie."""
        self.browser.login("root")
        session = self.browser.cookie
        reply = self.browser.post("/portal/logout", {"csrf_token": self.browser.csrf()})
        self.assertEqual(reply.header("location"), "/portal/login")
        self.assertIsNone(self.browser.cookie)
        self.browser.cookie = session
        self.assertEqual(self.browser.get("/portal/").code, 302)

    def test_security_headers(self) -> None:
        """Pages forbid framing and inline scripts."""
        self.browser.login("root")
        reply = self.browser.get("/portal/")
        self.assertIn("script-src 'self'", reply.header("content-security-policy") or "")
        self.assertEqual(reply.header("x-frame-options"), "DENY")
        self.assertEqual(reply.header("cache-control"), "no-store")


class CsrfTests(PortalCase):
    def test_portal_form_without_token_refused(self) -> None:
        """A state-changing portal form without the CSRF token is a 403 and changes nothing."""
        self.browser.login("root")
        for data in ({}, {"csrf_token": "forged"}):
            reply = self.browser.post(
                "/portal/federation/rule",
                {"tenant": "acme.test", "domain": "evil.test", "action": "block", **data},
            )
            self.assertEqual(reply.code, 403)
            self.assertIn("CSRF", reply.text)
        self.assertEqual(self.successResultOf(self.store.list_domain_policies("acme.test")), [])

    def test_api_with_cookie_needs_token(self) -> None:
        """The JSON API used with the session cookie needs X-CSRF-Token for changes, not for reads."""
        self.browser.login("root")
        self.assertEqual(self.browser.get("/admin/api/tenants").code, 200)
        url = "/admin/api/tenants/acme.test/domains/evil.test"
        body = json.dumps({"action": "block"}).encode()
        d = self.browser.stub.put(
            f"http://admin.test{url}",
            data=body,
            headers=self.browser._headers({"Content-Type": "application/json"}),
        )
        self.assertEqual(self.successResultOf(d).code, 403)
        token = self.browser.csrf()
        d = self.browser.stub.put(
            f"http://admin.test{url}",
            data=body,
            headers=self.browser._headers(
                {"Content-Type": "application/json", "X-CSRF-Token": token}
            ),
        )
        self.assertEqual(self.successResultOf(d).code, 201)

    def test_with_token_accepted_and_audited(self) -> None:
        """With the token the rule is saved, and the audit says who, what and from where."""
        self.browser.login("root")
        reply = self.browser.post(
            "/portal/federation/rule",
            {
                "tenant": "acme.test",
                "domain": "evil.test",
                "action": "block",
                "csrf_token": self.browser.csrf(),
            },
        )
        self.assertEqual(reply.code, 302)
        self.assertEqual(
            self.successResultOf(self.store.list_domain_policies("acme.test")),
            [DomainPolicy("acme.test", "evil.test", DomainAction.BLOCK)],
        )
        audit = self.browser.get("/admin/api/audit")
        [record] = [r for r in json.loads(audit.body) if r["action"] == "domain.block"]
        self.assertEqual(
            (record["actor"], record["target"], record["tenant"]),
            ("root", "evil.test", "acme.test"),
        )
        self.assertTrue(record["source"])
        self.assertIn("domain.block", self.browser.get("/portal/audit").text)


class RoleTests(PortalCase):
    def test_tenant_admin_sees_only_their_tenant_in_pages(self) -> None:
        """A tenant admin's pages show their tenant only; asking for another is a 404."""
        self.browser.login("acme")
        overview = self.browser.get("/portal/")
        self.assertIn("Overview of acme.test", overview.text)
        self.assertNotIn("by tenant", overview.text)
        self.assertEqual(self.browser.get("/portal/users?tenant=beta.test").code, 404)
        self.assertEqual(self.browser.get("/portal/federation?tenant=beta.test").code, 404)
        tenants = self.browser.get("/portal/tenants").text
        self.assertIn("acme.test", tenants)
        self.assertNotIn("beta.test", tenants)
        trace = self.browser.get("/portal/trace?domain=widget.test").text
        self.assertIn("john@acme.test", trace)
        self.assertNotIn("bob@beta.test", trace)

    def test_tenant_admin_cannot_change_another_tenant(self) -> None:
        """Portal forms for another tenant's users or rules are refused."""
        self.browser.login("acme")
        token = self.browser.csrf()
        reply = self.browser.post(
            "/portal/users/switch",
            {"user": "bob@beta.test", "enabled": "false", "csrf_token": token},
        )
        self.assertEqual(reply.code, 404)
        reply = self.browser.post(
            "/portal/federation/rule",
            {"tenant": "beta.test", "domain": "x.test", "action": "block", "csrf_token": token},
        )
        self.assertEqual(reply.code, 404)
        reply = self.browser.post(
            "/portal/tenants", {"domain": "beta.test", "action": "retire", "csrf_token": token}
        )
        self.assertEqual(reply.code, 404)
        self.assertIsNone(self.successResultOf(self.store.get_user_policy(addr("bob@beta.test"))))

    def test_tenant_admin_in_the_api(self) -> None:
        """In the API too: other tenants are invisible (404) or forbidden (403)."""
        self.browser.login("acme")
        self.assertEqual(
            [t["domain"] for t in json.loads(self.browser.get("/admin/api/tenants").body)],
            ["acme.test"],
        )
        self.assertEqual(self.browser.get("/admin/api/tenants/beta.test/users").code, 404)
        self.assertEqual(self.browser.get("/admin/api/usage?tenant=beta.test").code, 403)
        self.assertEqual(self.browser.get("/admin/api/metadata?tenant=beta.test").code, 403)
        records = json.loads(self.browser.get("/admin/api/metadata").body)
        self.assertEqual({r["tenant"] for r in records}, {"acme.test"})
        me = json.loads(self.browser.get("/admin/api/me").body)
        self.assertEqual(
            me, {"name": "acme", "role": "tenant", "tenant": "acme.test", "via": "session"}
        )

    def test_account_token_scoped(self) -> None:
        """An account's API token carries the account's role."""
        token = self.successResultOf(ensureDeferred(self.site.accounts.issue_token("acme")))
        headers = {"Authorization": f"Bearer {token}"}
        reply = self.browser.get("/admin/api/tenants/beta.test/policy", headers)
        self.assertEqual(reply.code, 404)
        self.assertEqual(self.browser.get("/admin/api/tenants/acme.test/policy", headers).code, 200)
        me = json.loads(self.browser.get("/admin/api/me", headers).body)
        self.assertEqual((me["name"], me["via"]), ("acme", "token"))

    def test_only_global_admins_manage_tenants(self) -> None:
        """Creating and retiring tenants is for global admins; a retired tenant is no longer listed as active."""
        self.browser.login("root")
        token = self.browser.csrf()
        reply = self.browser.post(
            "/portal/tenants",
            {
                "action": "create",
                "domain": "new.test",
                "platform": "slack",
                "workspace": "T9",
                "csrf_token": token,
            },
        )
        self.assertEqual(reply.code, 302)
        self.browser.post(
            "/portal/tenants", {"action": "retire", "domain": "new.test", "csrf_token": token}
        )
        listed = [t["domain"] for t in json.loads(self.browser.get("/admin/api/tenants").body)]
        self.assertEqual(listed, ["acme.test", "beta.test"])
        everything = self.browser.get("/admin/api/tenants?retired=true")
        self.assertEqual(everything.header("x-total-count"), "3")
        self.assertIn("retired", self.browser.get("/portal/tenants").text)


class OverviewTests(PortalCase):
    def chart_data(self, text: str) -> dict[str, Any]:
        match = re.search(
            r'<script type="application/json" id="chart-data">(.*?)</script>', text, re.S
        )
        assert match is not None
        return {c["id"]: c for c in json.loads(match.group(1))}

    def test_global_overview_numbers(self) -> None:
        """The charts' numbers are the seeded months: unique users per month (not summed days) and messages."""
        self.browser.login("root")
        reply = self.browser.get("/portal/")
        charts = self.chart_data(reply.text)
        users = charts["chart-unique-users"]
        self.assertEqual(users["labels"], self.expected["labels"])
        self.assertEqual(users["series"][0]["values"], self.expected["unique_users"])
        self.assertEqual(charts["chart-messages"]["series"][0]["values"], self.expected["messages"])
        by_domain = {
            s["name"]: s["values"] for s in charts["chart-messages-by-remote-domain"]["series"]
        }
        self.assertEqual(by_domain["widget.test"], self.expected["widget_messages"])
        self.assertIn("chart-messages-by-tenant", charts)
        self.assertIn("chart-unique-users-by-platform", charts)
        # The text alternative holds the same numbers.
        self.assertIn(f'<td class="num">{self.expected["messages"][-1]}</td>', reply.text)
        self.assertIn("widget.test", reply.text.split('id="top-domains"')[1])

    def test_this_month_against_last(self) -> None:
        """The overview compares this month with last."""
        self.browser.login("root")
        text = self.browser.get("/portal/").text
        self.assertIn(f'id="messages-this-month">{self.expected["messages"][-1]}<', text)
        self.assertIn(f"{self.expected['messages'][-2]} in {self.expected['labels'][-2]}", text)

    def test_tenant_overview(self) -> None:
        """A tenant admin's charts count their tenant only."""
        self.browser.login("acme")
        charts = self.chart_data(self.browser.get("/portal/").text)
        self.assertEqual(
            charts["chart-unique-users"]["series"][0]["values"], self.expected["acme_users"]
        )
        self.assertEqual(
            charts["chart-messages"]["series"][0]["values"], self.expected["acme_messages"]
        )

    def test_monthly_api_and_csv(self) -> None:
        """The API aggregates by month on the server, as JSON and CSV."""
        self.browser.login("root")
        body = json.loads(self.browser.get("/admin/api/usage/monthly").body)
        self.assertEqual(body["months"], self.expected["labels"])
        self.assertEqual([r["unique_users"] for r in body["rows"]], self.expected["unique_users"])
        csv = self.browser.get("/admin/api/usage/monthly?group_by=remote_domain&format=csv")
        self.assertEqual(csv.header("content-type"), "text/csv; charset=utf-8")
        lines = csv.text.splitlines()
        self.assertEqual(lines[0], "month,remote_domain,unique_users,messages")
        self.assertIn(f"{self.expected['labels'][-1]},widget.test,", csv.text)


class PageTests(PortalCase):
    def setUp(self) -> None:
        super().setUp()
        self.browser.login("root")

    def test_users_include_active_ones(self) -> None:
        """Users only seen active are listed (the [] bug), in the page and the API."""
        text = self.browser.get("/portal/users?tenant=acme.test").text
        for user in ("john@acme.test", "mary@acme.test", "ann@acme.test"):
            self.assertIn(user, text)
        body = json.loads(self.browser.get("/admin/api/tenants/acme.test/users").body)
        self.assertEqual(
            [u["address"] for u in body], ["ann@acme.test", "john@acme.test", "mary@acme.test"]
        )

    def test_user_switch(self) -> None:
        """The per-user switch turns federation off."""
        token = self.browser.csrf()
        self.browser.post(
            "/portal/users/switch",
            {"user": "john@acme.test", "enabled": "false", "csrf_token": token},
        )
        policy = self.successResultOf(self.store.get_user_policy(addr("john@acme.test")))
        self.assertEqual(policy, UserPolicy(addr("john@acme.test"), False))

    def test_trace_and_csv(self) -> None:
        """The trace finds records by user; the CSV has the same rows and no content."""
        text = self.browser.get("/portal/trace?user=bob@beta.test").text
        self.assertIn("bob@beta.test", text)
        self.assertNotIn("john@acme.test", text)
        csv = self.browser.get("/portal/trace.csv?user=bob@beta.test")
        self.assertEqual(csv.header("content-type"), "text/csv; charset=utf-8")
        self.assertEqual(len(csv.text.strip().splitlines()), 1 + 12)

    def test_federation_page(self) -> None:
        """Domains seen are listed with their policy and link health."""
        self.site.health.link_up(
            "xmpp", "acme.test", "widget.test", "EXTERNAL", datetime(2027, 1, 1, tzinfo=UTC)
        )
        self.site.health.link_failed("xmpp", "acme.test", "sipco.test", "certificate expired")
        text = self.browser.get("/portal/federation?tenant=acme.test").text
        self.assertIn("widget.test", text)
        self.assertIn("xmpp: EXTERNAL", text)
        self.assertIn("2027-01-01", text)
        self.assertIn("certificate expired", text)

    def test_pages_render(self) -> None:
        """Every page renders for a global admin."""
        for path in (
            "/portal/",
            "/portal/federation",
            "/portal/users",
            "/portal/contacts",
            "/portal/trace",
            "/portal/tenants",
            "/portal/audit",
        ):
            self.assertEqual(self.browser.get(path).code, 200, path)

    def test_bad_input_is_a_page(self) -> None:
        """Malformed filters are a 400 page, not a 500."""
        self.assertEqual(self.browser.get("/portal/trace?since=yesterday").code, 400)
        self.assertEqual(self.browser.get("/portal/contacts?state=nope").code, 400)
