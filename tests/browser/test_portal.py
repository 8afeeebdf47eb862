# -*- test-case-name: tests.browser.test_portal -*-
"""
The admin portal in Debian's headless Chromium, driven by Playwright for
Python (no browser is downloaded): log in, read the 12-month charts drawn
from seeded usage (the plotted values and the tables), block a domain and
see the refusal in the trace, a tenant admin kept to their tenant, a state
change without the CSRF token refused, log out. Screenshots of every page
go to C{build/screenshots/}.

Under C{CI=true} a missing browser or Playwright is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.threads import blockingCallFromThread, deferToThread
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.server import Site

from nextplane.model.events import TextMessage
from nextplane.model.text import RichText
from nextplane.storage.records import Decision

from ..admin.seed import PASSWORD, AdminSite, seed_usage
from ..helpers import CoreFixture, addr

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHARTJS = ROOT / "nextplane" / "admin" / "portal" / "static" / "vendor" / "chart.umd.js"


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (make browser-deps installs Debian's chromium)"
    if not CHARTJS.exists():
        return "Chart.js is not vendored (make venv runs scripts/vendor-chartjs.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


class PortalInChromium(TestCase):
    """
    The whole flow of issue 13 in one browser session per admin.
    """

    timeout = 240

    def setUp(self) -> None:
        missing = _missing()
        if missing is not None:
            if os.environ.get("CI") == "true":
                self.fail(missing)
            raise SkipTest(missing)
        self.core = CoreFixture()
        self.today = self.core.clock.seconds()
        from datetime import UTC, datetime

        self.expected = seed_usage(self.core.store, datetime.fromtimestamp(self.today, UTC).date())
        self.site = AdminSite(self.core.store, self.core.clock)
        self.successResultOf(self.site.add_accounts())
        self.core.befriend("john@acme.test", "peter@widget.test")
        port = reactor.listenTCP(0, Site(self.site.web.resource()), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        self.base = f"http://127.0.0.1:{port.getHost().port}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _in_reactor(self, f: Callable[[], Any]) -> Any:
        return blockingCallFromThread(reactor, f)

    def _route_from_widget(self) -> Deferred[Any]:
        event = TextMessage(
            sender=addr("peter@widget.test"),
            recipient=addr("john@acme.test"),
            body=RichText.plain("hello after the block"),
        )
        return self.core.router.route(event)

    def browse(self) -> dict[str, Any]:
        """
        The flow, in the browser thread; returns what the test asserts.
        """
        from playwright.sync_api import sync_playwright

        seen: dict[str, Any] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
            )
            try:
                seen.update(self._as_global_admin(browser))
                seen.update(self._as_tenant_admin(browser))
                seen.update(self._on_a_phone(browser))
            finally:
                browser.close()
        return seen

    def _login(self, page: Any, name: str) -> None:
        page.goto(f"{self.base}/portal/")
        page.get_by_label("Account name").fill(name)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{self.base}/portal/")

    def _as_global_admin(self, browser: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        self._login(page, "root")
        # 1. The overview's charts, plotted from the seeded usage.
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-unique-users')")
        plotted = page.evaluate(
            """() => Object.fromEntries(['chart-unique-users', 'chart-messages',
                  'chart-messages-by-remote-domain', 'chart-messages-by-tenant'].map(id => {
                const chart = Chart.getChart(id);
                return [id, {labels: chart.data.labels,
                             series: chart.data.datasets.map(d => [d.label, d.data])}];
            }))"""
        )
        seen["plotted"] = plotted
        seen["top_domains"] = page.locator("#top-domains tbody th").all_inner_texts()
        page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)
        # The text alternative, opened as a person would.
        page.get_by_text("Numbers: unique users", exact=True).click()
        seen["users_table"] = page.locator("#chart-unique-users-table tbody tr").all_inner_texts()
        # 2. Block widget.test for acme.test on the federation page.
        page.get_by_role("link", name="Federation").click()
        page.get_by_label("Domain or *.domain").fill("widget.test")
        page.get_by_label("Policy").select_option("block")
        page.get_by_role("button", name="Save policy").click()
        page.wait_for_url("**/portal/federation?tenant=acme.test")
        seen["policy"] = page.locator('tr[data-domain="widget.test"] td').first.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "federation.png"), full_page=True)
        # A message from widget.test now is refused by the router.
        outcome = self._in_reactor(self._route_from_widget)
        seen["decision"] = outcome.decision
        # 3. The refusal, with its rule, in the trace.
        page.get_by_role("link", name="Trace").click()
        page.get_by_label("Remote domain").fill("widget.test")
        page.get_by_label("Decision").select_option("refused")
        page.get_by_role("button", name="Search").click()
        refused = page.locator("#trace tr.decision-refused")
        seen["refusals"] = refused.all_inner_texts()
        page.screenshot(path=str(SCREENSHOTS / "trace.png"), full_page=True)
        for name in ("Users", "Contacts", "Tenants", "Audit"):
            page.get_by_role("link", name=name, exact=True).click()
            page.screenshot(path=str(SCREENSHOTS / f"{name.lower()}.png"), full_page=True)
        seen["audit"] = page.locator("#audit tbody").inner_text()
        # 4. A state change without the CSRF token is refused (portal and API).
        seen["forged"] = page.evaluate(
            """async () => {
                const form = new URLSearchParams({tenant: 'acme.test', domain: 'evil.test', action: 'block'});
                const portal = await fetch('/portal/federation/rule', {method: 'POST', body: form});
                const api = await fetch('/admin/api/tenants/acme.test/domains/evil.test', {
                    method: 'PUT', headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify({action: 'block'})});
                return [portal.status, api.status];
            }"""
        )
        # 5. Log out.
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/portal/login")
        page.goto(f"{self.base}/portal/trace")
        seen["after_logout"] = page.url
        context.close()
        return seen

    def _as_tenant_admin(self, browser: Any) -> dict[str, Any]:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        self._login(page, "acme")
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-messages')")
        seen = {
            "tenant_heading": page.locator("h1").inner_text(),
            "tenant_messages": page.evaluate(
                "() => Chart.getChart('chart-messages').data.datasets[0].data"
            ),
            "tenant_has_by_tenant": page.locator("#chart-messages-by-tenant").count(),
        }
        response = page.goto(f"{self.base}/portal/users?tenant=beta.test")
        seen["other_tenant"] = (response.status, page.locator("main").inner_text())
        page.goto(f"{self.base}/portal/tenants")
        seen["tenant_list"] = page.locator("#tenants tbody").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "tenant-admin-tenants.png"), full_page=True)
        context.close()
        return seen

    def _on_a_phone(self, browser: Any) -> dict[str, Any]:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        self._login(page, "root")
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-messages')")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        page.screenshot(path=str(SCREENSHOTS / "overview-phone.png"), full_page=True)
        # Keyboard: the skip link is the first stop and reaches the content.
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.textContent")
        context.close()
        return {"phone_width": width, "first_tab": focused}

    async def test_portal_flow(self) -> None:
        """Log in, read the charts, block, see the refusal, stay in one's tenant, no CSRF-less changes, log out."""
        seen = await deferToThread(self.browse)
        e = self.expected
        plotted = seen["plotted"]
        self.assertEqual(plotted["chart-unique-users"]["labels"], e["labels"])
        self.assertEqual(plotted["chart-unique-users"]["series"], [["all", e["unique_users"]]])
        self.assertEqual(plotted["chart-messages"]["series"], [["all", e["messages"]]])
        by_domain = dict(plotted["chart-messages-by-remote-domain"]["series"])
        self.assertEqual(by_domain["widget.test"], e["widget_messages"])
        self.assertEqual(
            set(dict(plotted["chart-messages-by-tenant"]["series"])), {"acme.test", "beta.test"}
        )
        # The text alternative: one row per month with the same numbers.
        rows = [r.split("\t") for r in seen["users_table"]]
        self.assertEqual([r[0] for r in rows], e["labels"])
        self.assertEqual([int(r[1]) for r in rows], e["unique_users"])
        self.assertEqual(seen["top_domains"][0], "widget.test")
        self.assertEqual(seen["policy"], "block")
        self.assertEqual(seen["decision"], Decision.REFUSED)
        self.assertEqual(len(seen["refusals"]), 1, seen["refusals"])
        self.assertIn("refused", seen["refusals"][0])
        self.assertIn("acme.test's block list (rule widget.test)", seen["refusals"][0])
        self.assertIn("domain.block", seen["audit"])
        self.assertEqual(seen["forged"], [403, 403])
        self.assertTrue(seen["after_logout"].endswith("/portal/login"), seen["after_logout"])
        self.assertEqual(seen["tenant_heading"], "Overview of acme.test")
        self.assertEqual(seen["tenant_messages"], e["acme_messages"])
        self.assertEqual(seen["tenant_has_by_tenant"], 0)
        self.assertEqual(seen["other_tenant"][0], 404)
        self.assertIn("No tenant beta.test", seen["other_tenant"][1])
        self.assertIn("acme.test", seen["tenant_list"])
        self.assertNotIn("beta.test", seen["tenant_list"])
        self.assertLessEqual(seen["phone_width"], 390, "no sideways scrolling on a phone")
        self.assertEqual(seen["first_tab"], "Skip to content")
        for name in ("overview", "federation", "trace", "users", "contacts", "tenants", "audit"):
            self.assertTrue((SCREENSHOTS / f"{name}.png").exists(), name)
