# -*- test-case-name: tests.admin.test_api -*-
"""
Tests for L{nextplane.admin.api.AdminAPI}, mounted on a real
L{nextplane.web.app.HubWebApp} and driven through StubTreq over a
L{MemoryStore}, so the paths tested are the public ones (C{/admin/...}).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from attrs import frozen
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, TimeoutError, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from nextplane.admin import access as access_module
from nextplane.admin.api import AdminAPI, PolicyChange, Revocation, parse_domain_pattern
from nextplane.admin.csvexport import CSV_FIELDS, csv_safe
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactRequest,
    FileShare,
    Presence,
    TextMessage,
)
from nextplane.model.text import RichText
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    Decision,
    DomainAction,
    DomainPolicy,
    FederationMode,
    MetadataRecord,
    TenantPolicy,
    TenantRecord,
    UserPolicy,
    UserRecord,
)
from nextplane.web.app import HubWebApp

from ..helpers import CoreFixture, addr

TOKEN = "admin-token-" + "0123456789abcdef"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@frozen
class Reply:
    """
    One HTTP response: status, headers and body.
    """

    code: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[-1] if values else None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def csv_rows(self) -> list[list[str]]:
        return list(csv.reader(io.StringIO(self.body.decode("utf-8"))))


def contact(owner: str, external: str, state: str = "accepted") -> ContactRecord:
    return ContactRecord(
        addr(owner),
        addr(external),
        ContactState(state),
        ContactDirection.OUTBOUND,
        T0 - 30 * DAY,
        T0 - 30 * DAY,
    )


def record(when: datetime, sender: str, receiver: str, **fields: Any) -> MetadataRecord:
    tenant = fields.pop("tenant", "acme.test")
    values: dict[str, Any] = {
        "category": "im",
        "kind": "message",
        "session_id": "s1",
        "decision": Decision.DELIVERED,
        "reason": "",
        "tenant": tenant,
        "remote_domain": "widget.test",
        "platform": "alpha",
    }
    values.update(fields)
    return MetadataRecord(timestamp=when, sender=sender, receiver=receiver, **values)


def seed(store: MemoryStore) -> None:
    """
    Two tenants, three users, a few contacts, one domain rule.
    """
    store.put_tenant(TenantRecord("acme.test", "alpha", "W1", "Acme"))
    store.put_tenant(TenantRecord("beta.test", "beta", "W2", "Beta"))
    store.put_user(
        UserRecord(addr("john@acme.test"), "acme.test", "alpha", "U1", "John", None, "Engineer")
    )
    store.put_user(UserRecord(addr("mary@acme.test"), "acme.test", "alpha", "U2", "Mary"))
    store.put_user(UserRecord(addr("bob@beta.test"), "beta.test", "beta", "U3", "Bob"))
    for owner, external, state in [
        ("john@acme.test", "peter@widget.test", "accepted"),
        ("john@acme.test", "ann@sipco.test", "pending"),
        ("john@acme.test", "eve@sub.widget.test", "accepted"),
        ("mary@acme.test", "paul@widget.test", "accepted"),
        ("bob@beta.test", "peter@widget.test", "accepted"),
    ]:
        store.put_contact(contact(owner, external, state))
    store.put_domain_policy(DomainPolicy("acme.test", "spam.test", DomainAction.BLOCK))


class AdminCase(SynchronousTestCase):
    """
    An admin API over a seeded store, mounted at /admin/ of a hub web app.
    """

    token: str | None = TOKEN

    def setUp(self) -> None:
        self.store = MemoryStore()
        seed(self.store)
        self.clock = Clock()
        self.clock.advance(T0.timestamp())
        self.revocations: list[Revocation] = []
        self.listeners: list[Any] = [self.revocations.append]
        self.api = AdminAPI(self.store, self.token, self.clock, self.listeners)
        self.web = HubWebApp({}, "test")
        self.web.mount("admin", self.api.resource())
        self.client = StubTreq(self.web.resource())

    def start(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        raw: bytes | None = None,
    ) -> Deferred[Reply]:
        sent = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        sent.update(headers or {})
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        d = self.client.request(method, f"http://hub.test{path}", data=data, headers=sent)

        def read(response: Any) -> Deferred[Reply]:
            return response.content().addCallback(
                lambda content: Reply(response.code, response.headers, content)
            )

        return d.addCallback(read)

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> Reply:
        reply = self.successResultOf(self.start(method, path, body, **options))
        content_type = reply.header("content-type") or ""
        # Every answer is JSON but the CSV export, errors included.
        if not content_type.startswith("text/csv"):
            self.assertEqual(content_type, "application/json", (method, path, reply))
            reply.json  # noqa: B018 - parses, or fails the test
        self.assertEqual(reply.header("cache-control"), "no-store")
        return reply

    def get(self, path: str, **options: Any) -> Reply:
        return self.call("GET", path, **options)

    def rules(self, tenant: str = "acme.test") -> list[tuple[str, str]]:
        return [
            (r.pattern, r.action.value)
            for r in self.successResultOf(self.store.list_domain_policies(tenant))
        ]

    def assertError(self, reply: Reply, code: int, *words: str) -> None:
        self.assertEqual(reply.code, code, reply)
        self.assertEqual(set(reply.json), {"error", "detail"})
        for word in words:
            self.assertIn(word, reply.json["detail"])


class AuthTests(AdminCase):
    def test_missing_token(self) -> None:
        """A request without Authorization is a 401 with a Bearer challenge."""
        reply = self.get("/admin/api/tenants", auth=False)
        self.assertError(reply, 401)
        self.assertEqual(reply.header("www-authenticate"), 'Bearer realm="nextplane admin"')

    def test_wrong_token(self) -> None:
        """A wrong token is a 401 saying invalid_token in the challenge."""
        reply = self.get("/admin/api/tenants", auth=False, headers={"Authorization": "Bearer no"})
        self.assertError(reply, 401, "wrong")
        self.assertIn('error="invalid_token"', reply.header("www-authenticate") or "")

    def test_wrong_scheme(self) -> None:
        """The right token under another scheme is refused."""
        reply = self.get(
            "/admin/api/tenants", auth=False, headers={"Authorization": f"Basic {TOKEN}"}
        )
        self.assertError(reply, 401)

    def test_right_token(self) -> None:
        """The configured token, scheme in any case, is let in."""
        for scheme in ("Bearer", "bearer"):
            reply = self.get(
                "/admin/api/tenants", auth=False, headers={"Authorization": f"{scheme} {TOKEN}"}
            )
            self.assertEqual(reply.code, 200)

    def test_constant_time_comparison(self) -> None:
        """The token is compared with hmac.compare_digest."""
        compared: list[tuple[bytes, bytes]] = []

        def compare(a: bytes, b: bytes) -> bool:
            compared.append((a, b))
            return a == b

        self.patch(access_module.hmac, "compare_digest", compare)
        self.assertEqual(self.get("/admin/api/tenants").code, 200)
        self.assertEqual(compared, [(TOKEN.encode(), TOKEN.encode())])

    def test_every_route_needs_the_token(self) -> None:
        """Every /api/ route, and unknown paths under it, answer 401 without the token."""
        for method, path in [
            ("GET", "/admin/api/tenants"),
            ("GET", "/admin/api/tenants/acme.test/users"),
            ("PUT", "/admin/api/tenants/acme.test/policy"),
            ("DELETE", "/admin/api/tenants/acme.test/domains/spam.test"),
            ("POST", "/admin/api/revoke"),
            ("GET", "/admin/api/metadata"),
            ("GET", "/admin/api/usage"),
            ("GET", "/admin/api/no-such-thing"),
            ("PATCH", "/admin/api/tenants"),
        ]:
            self.assertError(self.call(method, path, auth=False), 401)
        self.assertEqual(
            self.successResultOf(self.store.list_domain_policies("acme.test"))[0].pattern,
            "spam.test",
        )

    def test_openapi_needs_no_token(self) -> None:
        """The OpenAPI document is served without a token."""
        reply = self.get("/admin/openapi.json", auth=False, headers={})
        self.assertEqual(reply.code, 200)
        self.assertTrue(reply.json["openapi"].startswith("3."))
        self.assertEqual(reply.json["servers"], [{"url": "/admin"}])


class NoTokenConfiguredTests(AdminCase):
    token = None

    def test_refuses_everything(self) -> None:
        """Without a configured token every API request is a 401, whatever is sent."""
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Bearer {TOKEN}"}):
            reply = self.get("/admin/api/tenants", auth=False, headers=headers)
            self.assertError(reply, 401, "disabled")
            self.assertTrue((reply.header("www-authenticate") or "").startswith("Bearer"))

    def test_document_still_served(self) -> None:
        """The OpenAPI document does not depend on the token."""
        self.assertEqual(self.get("/admin/openapi.json", auth=False).code, 200)


class RoutingTests(AdminCase):
    def test_public_paths(self) -> None:
        """Routes are exactly /admin/api/... and /admin/openapi.json through the mount."""
        self.assertEqual(self.get("/admin/api/tenants").code, 200)
        self.assertEqual(self.get("/admin/openapi.json").code, 200)
        for path in ("/api/tenants", "/openapi.json", "/admin/admin/api/tenants"):
            reply = self.successResultOf(self.start("GET", path))
            self.assertEqual(reply.code, 404, path)

    def test_unknown_resource(self) -> None:
        """Unknown paths are a JSON 404, including trailing and doubled slashes."""
        for path in (
            "/admin/api/nothing",
            "/admin/api/tenants/",
            "/admin/api//tenants",
            "/admin/api/tenants/acme.test/users/extra",
            "/admin/",
            "/admin/nothing",
        ):
            self.assertError(self.get(path), 404)

    def test_wrong_method(self) -> None:
        """A known path with a wrong method is a JSON 405 with an Allow header."""
        reply = self.call("DELETE", "/admin/api/tenants")
        self.assertError(reply, 405, "DELETE")
        self.assertEqual(reply.header("allow"), "GET, HEAD, POST")
        reply = self.call("GET", "/admin/api/revoke")
        self.assertEqual((reply.code, reply.header("allow")), (405, "POST"))
        reply = self.call("POST", "/admin/api/tenants/acme.test/policy")
        self.assertEqual((reply.code, reply.header("allow")), (405, "GET, HEAD, PUT"))

    def test_unknown_query_parameter(self) -> None:
        """A query parameter the route does not know is a 400 naming it."""
        self.assertError(self.get("/admin/api/tenants?tenat=acme.test"), 400, "tenat")
        self.assertError(self.get("/admin/api/contacts?ownr=x"), 400, "ownr")

    def test_repeated_and_empty_parameters(self) -> None:
        """A repeated or empty parameter is a 400."""
        self.assertError(self.get("/admin/api/metadata?limit=1&limit=2"), 400, "limit")
        self.assertError(self.get("/admin/api/contacts?owner="), 400, "owner")

    def test_non_utf8_query(self) -> None:
        """A query string that is not UTF-8 is a 400, not a 500."""
        self.assertError(self.get("/admin/api/contacts?owner=%ff"), 400, "UTF-8")
        self.assertError(self.get("/admin/api/contacts?%ff=x"), 400, "UTF-8")

    def test_too_many_parameters(self) -> None:
        """More than 50 query parameters is a 400."""
        query = "&".join(f"p{i}=x" for i in range(51))
        self.assertError(self.get(f"/admin/api/metadata?{query}"), 400, "too many")

    def test_form_body_is_not_query(self) -> None:
        """Form fields in a POST body are not taken for query parameters."""
        reply = self.call(
            "POST",
            "/admin/api/revoke",
            raw=b"user=john%40acme.test",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertError(reply, 400, "not valid JSON")


class TenantTests(AdminCase):
    def test_list_tenants(self) -> None:
        """The tenants in the store, ordered by domain."""
        reply = self.get("/admin/api/tenants")
        self.assertEqual(
            reply.json,
            [
                {
                    "domain": "acme.test",
                    "platform": "alpha",
                    "workspace": "W1",
                    "display_name": "Acme",
                },
                {
                    "domain": "beta.test",
                    "platform": "beta",
                    "workspace": "W2",
                    "display_name": "Beta",
                },
            ],
        )

    def test_list_users(self) -> None:
        """A tenant's users with their profiles; the domain is case-insensitive."""
        reply = self.get("/admin/api/tenants/ACME.test/users")
        self.assertEqual(reply.code, 200)
        self.assertEqual([u["address"] for u in reply.json], ["john@acme.test", "mary@acme.test"])
        self.assertEqual(
            reply.json[0],
            {
                "address": "john@acme.test",
                "tenant": "acme.test",
                "platform": "alpha",
                "platform_id": "U1",
                "display_name": "John",
                "avatar_url": None,
                "title": "Engineer",
                "last_active": None,
            },
        )

    def test_unknown_tenant(self) -> None:
        """An unknown tenant is a 404 on every tenant route."""
        for path in ("users", "policy", "domains"):
            self.assertError(self.get(f"/admin/api/tenants/nope.test/{path}"), 404, "nope.test")
        reply = self.call("PUT", "/admin/api/tenants/nope.test/domains/x.test", {"action": "block"})
        self.assertError(reply, 404)

    def test_bad_domain(self) -> None:
        """A malformed tenant domain is a 400 naming the parameter."""
        for bad in ("nodot", "a..b", "-x.test", "x_y.test", "%20"):
            self.assertError(self.get(f"/admin/api/tenants/{bad}/users"), 400, "domain")

    def test_default_policy(self) -> None:
        """A tenant without a stored policy shows the defaults."""
        reply = self.get("/admin/api/tenants/acme.test/policy")
        self.assertEqual(
            reply.json,
            {
                "tenant": "acme.test",
                "federation": "all",
                "files": True,
                "presence": True,
                "channel_invites": True,
            },
        )

    def test_put_policy(self) -> None:
        """PUT replaces the policy, which the store and a later GET reflect."""
        body = {
            "federation": "allow-list",
            "files": False,
            "presence": True,
            "channel_invites": False,
        }
        reply = self.call("PUT", "/admin/api/tenants/acme.test/policy", body)
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json, {"tenant": "acme.test", **body})
        self.assertEqual(
            self.successResultOf(self.store.get_tenant_policy("acme.test")),
            TenantPolicy("acme.test", FederationMode.ALLOW_LIST, False, True, False),
        )
        self.assertEqual(self.get("/admin/api/tenants/acme.test/policy").json, reply.json)

    def test_put_policy_validation(self) -> None:
        """Bad policy bodies are 400s saying what is wrong; nothing is stored."""
        good = {"federation": "all", "files": True, "presence": True, "channel_invites": True}
        cases: list[tuple[Any, str]] = [
            ({**good, "federation": "some"}, "federation"),
            ({**good, "files": "yes"}, "files"),
            ({**good, "presence": 1}, "presence"),
            ({k: v for k, v in good.items() if k != "channel_invites"}, "channel_invites"),
            ({**good, "extra": 1}, "extra"),
            ([good], "object"),
            ("all", "object"),
        ]
        for body, word in cases:
            reply = self.call("PUT", "/admin/api/tenants/acme.test/policy", body)
            self.assertError(reply, 400, word)
        for raw in (b"", b"{", b"\xff\xfe", b'{"files": NaN}'):
            reply = self.call("PUT", "/admin/api/tenants/acme.test/policy", raw=raw)
            self.assertError(reply, 400)
        self.assertEqual(
            self.successResultOf(self.store.get_tenant_policy("acme.test")),
            TenantPolicy("acme.test"),
        )

    def test_body_too_large(self) -> None:
        """A body over 64 KiB is a 413."""
        raw = json.dumps({"federation": "all", "pad": "x" * 70_000}).encode()
        reply = self.call("PUT", "/admin/api/tenants/acme.test/policy", raw=raw)
        self.assertError(reply, 413)


class UserTests(AdminCase):
    def test_get_user(self) -> None:
        """A user's profile and federation switch (null when never set)."""
        reply = self.get("/admin/api/users/John@ACME.test")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json["address"], "john@acme.test")
        self.assertEqual(reply.json["tenant"], "acme.test")
        self.assertEqual(reply.json["profile"]["platform_id"], "U1")
        self.assertEqual(reply.json["policy"], {"enabled": None})

    def test_put_policy(self) -> None:
        """PUT stores the user's switch, shown by GET."""
        reply = self.call("PUT", "/admin/api/users/mary@acme.test/policy", {"enabled": False})
        self.assertEqual(reply.json, {"address": "mary@acme.test", "enabled": False})
        self.assertEqual(
            self.successResultOf(self.store.get_user_policy(addr("mary@acme.test"))),
            UserPolicy(addr("mary@acme.test"), False),
        )
        self.assertEqual(
            self.get("/admin/api/users/mary@acme.test").json["policy"], {"enabled": False}
        )

    def test_policy_before_first_sight(self) -> None:
        """A tenant user never seen can be enabled ahead (allow-lists); GET then shows no profile."""
        reply = self.call("PUT", "/admin/api/users/new@acme.test/policy", {"enabled": True})
        self.assertEqual(reply.code, 200)
        shown = self.get("/admin/api/users/new@acme.test").json
        self.assertEqual((shown["profile"], shown["policy"]), (None, {"enabled": True}))

    def test_unknown(self) -> None:
        """An unknown user is a 404; a policy for a non-tenant domain is a 404."""
        self.assertError(self.get("/admin/api/users/nobody@acme.test"), 404, "nobody@acme.test")
        reply = self.call("PUT", "/admin/api/users/peter@widget.test/policy", {"enabled": False})
        self.assertError(reply, 404, "widget.test")

    def test_validation(self) -> None:
        """Bad addresses and bodies are 400s."""
        for bad in ("nobody", "@acme.test", "a@b", "a%20b@acme.test"):
            self.assertError(self.get(f"/admin/api/users/{bad}"), 400, "address")
        for body in ({}, {"enabled": "true"}, {"enabled": True, "admin": True}, [True]):
            reply = self.call("PUT", "/admin/api/users/mary@acme.test/policy", body)
            self.assertError(reply, 400)


class ContactTests(AdminCase):
    def test_all(self) -> None:
        """Every contact, ordered by owner then external, with its state and times."""
        reply = self.get("/admin/api/contacts")
        self.assertEqual(len(reply.json), 5)
        self.assertEqual(
            reply.json[0],
            {
                "owner": "bob@beta.test",
                "external": "peter@widget.test",
                "state": "accepted",
                "direction": "outbound",
                "created_at": "2026-10-02T12:00:00+00:00",
                "updated_at": "2026-10-02T12:00:00+00:00",
            },
        )

    def test_filters(self) -> None:
        """owner, domain and state filter; limit and offset page."""

        def pairs(query: str) -> list[tuple[str, str]]:
            reply = self.get(f"/admin/api/contacts?{query}")
            self.assertEqual(reply.code, 200)
            return [(c["owner"], c["external"]) for c in reply.json]

        self.assertEqual(
            pairs("owner=john@acme.test&state=accepted"),
            [("john@acme.test", "eve@sub.widget.test"), ("john@acme.test", "peter@widget.test")],
        )
        self.assertEqual(
            pairs("domain=widget.test"),
            [
                ("bob@beta.test", "peter@widget.test"),
                ("john@acme.test", "peter@widget.test"),
                ("mary@acme.test", "paul@widget.test"),
            ],
        )
        self.assertEqual(pairs("state=pending"), [("john@acme.test", "ann@sipco.test")])
        self.assertEqual(
            pairs("domain=widget.test&limit=1&offset=1"), [("john@acme.test", "peter@widget.test")]
        )

    def test_validation(self) -> None:
        """Bad filters are 400s naming the parameter."""
        for query, word in [
            ("state=friendly", "state"),
            ("owner=not-an-address", "owner"),
            ("domain=bad_domain", "domain"),
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("offset=x", "offset"),
        ]:
            self.assertError(self.get(f"/admin/api/contacts?{query}"), 400, word)


class DomainRuleTests(AdminCase):
    def test_list(self) -> None:
        """A tenant's rules, ordered by pattern."""
        reply = self.get("/admin/api/tenants/acme.test/domains")
        self.assertEqual(
            reply.json, [{"tenant": "acme.test", "pattern": "spam.test", "action": "block"}]
        )
        self.assertEqual(self.get("/admin/api/tenants/beta.test/domains").json, [])

    def test_put(self) -> None:
        """PUT makes a rule (201) or replaces one (200); patterns are normalised."""
        reply = self.call(
            "PUT", "/admin/api/tenants/acme.test/domains/*.Widget.test", {"action": "allow"}
        )
        self.assertEqual(reply.code, 201)
        self.assertEqual(
            reply.json, {"tenant": "acme.test", "pattern": "*.widget.test", "action": "allow"}
        )
        reply = self.call(
            "PUT", "/admin/api/tenants/acme.test/domains/spam.test", {"action": "allow"}
        )
        self.assertEqual(reply.code, 200)
        self.assertEqual(self.rules(), [("*.widget.test", "allow"), ("spam.test", "allow")])

    def test_delete(self) -> None:
        """DELETE removes a rule; a missing rule is a 404."""
        reply = self.call("DELETE", "/admin/api/tenants/acme.test/domains/spam.test")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json, {"tenant": "acme.test", "pattern": "spam.test", "removed": True}
        )
        self.assertEqual(self.rules(), [])
        reply = self.call("DELETE", "/admin/api/tenants/acme.test/domains/spam.test")
        self.assertError(reply, 404, "spam.test")

    def test_bad_patterns(self) -> None:
        """Patterns other than an exact domain or *.domain are 400s explaining the syntax."""
        for bad in (
            "*widget.test",
            "a.*.test",
            "*.",
            "*.*.test",
            "*",
            "widget",
            "wid%20get.test",
            "**.test",
        ):
            for method, body in (("PUT", {"action": "block"}), ("DELETE", None)):
                reply = self.call(method, f"/admin/api/tenants/acme.test/domains/{bad}", body)
                self.assertError(reply, 400, "exact domain")
        self.assertEqual(self.rules(), [("spam.test", "block")])

    def test_bad_action(self) -> None:
        """An action other than allow or block is a 400."""
        for body in ({"action": "deny"}, {}, {"action": "block", "why": "x"}):
            reply = self.call("PUT", "/admin/api/tenants/acme.test/domains/x.test", body)
            self.assertError(reply, 400)

    def test_pattern_syntax(self) -> None:
        """parse_domain_pattern accepts exact domains and wildcards, lower-cased, TLDs included."""
        self.assertEqual(parse_domain_pattern("Widget.TEST"), "widget.test")
        self.assertEqual(parse_domain_pattern("*.Widget.test"), "*.widget.test")
        self.assertEqual(parse_domain_pattern("*.test"), "*.test")
        for bad in ("*.1", "*.-x", "a*.test", ""):
            with self.assertRaises(ValueError):
                parse_domain_pattern(bad)


class PolicyListenerTests(AdminCase):
    """
    Changes of a tenant's domain rules tell the policy listeners, so a
    block takes effect at once where rules are cached (XMPP and SIP
    refuse streams of blocked domains).
    """

    def setUp(self) -> None:
        super().setUp()
        self.changes: list[PolicyChange] = []
        self.api.add_policy_listener(self.changes.append)

    def test_put_and_delete(self) -> None:
        """PUT and DELETE each notify once, with the tenant, pattern and new action."""
        self.call("PUT", "/admin/api/tenants/acme.test/domains/Widget.test", {"action": "block"})
        self.call("PUT", "/admin/api/tenants/acme.test/domains/*.spam.test", {"action": "allow"})
        self.call("DELETE", "/admin/api/tenants/acme.test/domains/widget.test")
        self.assertEqual(
            self.changes,
            [
                PolicyChange("acme.test", "widget.test", DomainAction.BLOCK),
                PolicyChange("acme.test", "*.spam.test", DomainAction.ALLOW),
                PolicyChange("acme.test", "widget.test", None),
            ],
        )
        # Revocations tell the revocation listeners only.
        self.assertEqual(self.revocations, [])

    def test_refused_changes_not_notified(self) -> None:
        """Bad requests, unknown tenants and missing rules notify nobody."""
        self.call("PUT", "/admin/api/tenants/acme.test/domains/x.test", {"action": "mute"})
        self.call("PUT", "/admin/api/tenants/nope.test/domains/x.test", {"action": "block"})
        self.call("DELETE", "/admin/api/tenants/acme.test/domains/x.test")
        self.assertEqual(self.changes, [])

    def test_waits_for_listener(self) -> None:
        """The answer waits for a listener's Deferred, so the rule is in force when it comes."""
        waiting: Deferred[None] = Deferred()
        self.api.add_policy_listener(lambda change: waiting)
        d = self.start("PUT", "/admin/api/tenants/acme.test/domains/x.test", {"action": "block"})
        self.assertNoResult(d)
        waiting.callback(None)
        self.client.flush()
        self.assertEqual(self.successResultOf(d).code, 201)

    def test_listener_failure_and_timeout(self) -> None:
        """A failing or hung listener is logged; the rule stands and the answer is normal."""
        api = AdminAPI(
            self.store,
            TOKEN,
            self.clock,
            on_policy_change=[lambda change: fail(RuntimeError("down")), lambda change: Deferred()],
        )
        self.web = HubWebApp({}, "test")
        self.web.mount("admin", api.resource())
        self.client = StubTreq(self.web.resource())
        d = self.start("PUT", "/admin/api/tenants/acme.test/domains/x.test", {"action": "block"})
        self.assertNoResult(d)
        self.clock.advance(30)
        self.client.flush()
        self.assertEqual(self.successResultOf(d).code, 201)
        self.assertIn(("x.test", "block"), self.rules())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(self.flushLoggedErrors(TimeoutError)), 1)


class RevokeTests(AdminCase):
    def contact_state(self, owner: str, external: str) -> str:
        found = self.successResultOf(self.store.get_contact(addr(owner), addr(external)))
        assert found is not None
        return found.state.value

    def revoke(self, body: Any) -> Reply:
        return self.call("POST", "/admin/api/revoke", body)

    def test_contact(self) -> None:
        """Revoking a contact marks it revoked now and tells the listeners."""
        reply = self.revoke(
            {"contact": {"owner": "john@acme.test", "external": "peter@widget.test"}}
        )
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json,
            {
                "scope": "contact",
                "contacts_revoked": 1,
                "user_policies_set": 0,
                "domain_rules_set": 0,
                "listeners_notified": 1,
                "listeners_failed": 0,
            },
        )
        self.assertEqual(self.contact_state("john@acme.test", "peter@widget.test"), "revoked")
        self.assertEqual(self.contact_state("bob@beta.test", "peter@widget.test"), "accepted")
        [revocation] = self.revocations
        self.assertEqual(revocation.scope, "contact")
        self.assertEqual(
            (revocation.user, revocation.external),
            (addr("john@acme.test"), addr("peter@widget.test")),
        )
        self.assertEqual([c.updated_at for c in revocation.contacts], [T0])
        self.assertEqual([c.state for c in revocation.contacts], [ContactState.REVOKED])

    def test_contact_again(self) -> None:
        """Revoking a revoked contact changes nothing but still tells the listeners."""
        body = {"contact": {"owner": "john@acme.test", "external": "peter@widget.test"}}
        self.revoke(body)
        reply = self.revoke(body)
        self.assertEqual(reply.json["contacts_revoked"], 0)
        self.assertEqual(len(self.revocations), 2)

    def test_missing_contact(self) -> None:
        """Revoking a contact that does not exist is a 404 and tells no one."""
        reply = self.revoke({"contact": {"owner": "john@acme.test", "external": "zed@widget.test"}})
        self.assertError(reply, 404)
        self.assertEqual(self.revocations, [])

    def test_user(self) -> None:
        """Revoking a user revokes all their contacts and turns their federation off."""
        reply = self.revoke({"user": "john@acme.test"})
        self.assertEqual((reply.json["contacts_revoked"], reply.json["user_policies_set"]), (3, 1))
        for external in ("peter@widget.test", "ann@sipco.test", "eve@sub.widget.test"):
            self.assertEqual(self.contact_state("john@acme.test", external), "revoked")
        self.assertEqual(self.contact_state("mary@acme.test", "paul@widget.test"), "accepted")
        self.assertEqual(
            self.successResultOf(self.store.get_user_policy(addr("john@acme.test"))),
            UserPolicy(addr("john@acme.test"), False),
        )
        [revocation] = self.revocations
        self.assertEqual((revocation.scope, revocation.user), ("user", addr("john@acme.test")))
        self.assertEqual(len(revocation.contacts), 3)
        self.assertEqual(self.revoke({"user": "john@acme.test"}).json["user_policies_set"], 0)

    def test_user_of_unknown_tenant(self) -> None:
        """Revoking a user outside every tenant is a 404."""
        self.assertError(self.revoke({"user": "peter@widget.test"}), 404)

    def test_domain_one_tenant(self) -> None:
        """Revoking a domain for one tenant revokes its contacts there and blocks the domain there."""
        reply = self.revoke({"domain": "widget.test", "tenant": "acme.test"})
        self.assertEqual((reply.json["contacts_revoked"], reply.json["domain_rules_set"]), (2, 1))
        self.assertEqual(self.contact_state("john@acme.test", "peter@widget.test"), "revoked")
        self.assertEqual(self.contact_state("mary@acme.test", "paul@widget.test"), "revoked")
        self.assertEqual(self.contact_state("john@acme.test", "eve@sub.widget.test"), "accepted")
        self.assertEqual(self.contact_state("bob@beta.test", "peter@widget.test"), "accepted")
        self.assertIn(("widget.test", "block"), self.rules())
        self.assertEqual(self.rules("beta.test"), [])
        [revocation] = self.revocations
        self.assertEqual((revocation.domain, revocation.tenants), ("widget.test", ("acme.test",)))

    def test_domain_every_tenant(self) -> None:
        """Without a tenant, a domain revocation covers every tenant; a wildcard covers subdomains."""
        reply = self.revoke({"domain": "*.widget.test"})
        self.assertEqual((reply.json["contacts_revoked"], reply.json["domain_rules_set"]), (1, 2))
        self.assertEqual(self.contact_state("john@acme.test", "eve@sub.widget.test"), "revoked")
        self.assertEqual(self.contact_state("john@acme.test", "peter@widget.test"), "accepted")
        reply = self.revoke({"domain": "widget.test"})
        self.assertEqual((reply.json["contacts_revoked"], reply.json["domain_rules_set"]), (3, 2))
        self.assertEqual(self.revoke({"domain": "widget.test"}).json["domain_rules_set"], 0)
        self.assertEqual(self.revocations[-1].tenants, ("acme.test", "beta.test"))

    def test_validation(self) -> None:
        """Revoke bodies that are not exactly one well-formed target are 400s."""
        for body, word in [
            ({}, "exactly one"),
            ({"user": "john@acme.test", "domain": "widget.test"}, "exactly one"),
            ({"user": "john@acme.test", "tenant": "acme.test"}, "tenant"),
            ({"user": ["john@acme.test"]}, "user"),
            ({"user": "john"}, "user"),
            ({"contact": "john@acme.test"}, "contact"),
            ({"contact": {"owner": "john@acme.test"}}, "contact.external"),
            ({"contact": {"owner": "x", "external": "peter@widget.test"}}, "contact.owner"),
            ({"contact": {"owner": "john@acme.test", "external": "p@widget.test", "x": 1}}, "x"),
            ({"domain": "*widget.test"}, "exact domain"),
            ({"domain": 5}, "domain"),
            ({"domain": "widget.test", "tenant": 5}, "tenant"),
            ({"domain": "widget.test", "tenant": None}, "tenant"),
            ({"domain": "widget.test", "tenant": "bad_tenant"}, "tenant"),
        ]:
            self.assertError(self.revoke(body), 400, word)
        self.assertError(self.revoke({"domain": "widget.test", "tenant": "nope.test"}), 404)
        self.assertEqual(self.revocations, [])

    def test_listener_deferred(self) -> None:
        """The answer waits for a listener's Deferred."""
        waiting: Deferred[None] = Deferred()
        self.listeners.append(lambda revocation: waiting)
        self.api = AdminAPI(self.store, TOKEN, self.clock, self.listeners)
        self.web = HubWebApp({}, "test")
        self.web.mount("admin", self.api.resource())
        self.client = StubTreq(self.web.resource())
        d = self.start("POST", "/admin/api/revoke", {"user": "mary@acme.test"})
        self.assertNoResult(d)
        waiting.callback(None)
        self.client.flush()
        reply = self.successResultOf(d)
        self.assertEqual((reply.json["listeners_notified"], reply.json["listeners_failed"]), (2, 0))

    def test_listener_failure_and_timeout(self) -> None:
        """A failing or hung listener is logged and counted; the revocation stands."""
        self.api.add_revocation_listener(lambda revocation: fail(RuntimeError("connector down")))
        self.api.add_revocation_listener(lambda revocation: Deferred())
        d = self.start("POST", "/admin/api/revoke", {"user": "mary@acme.test"})
        self.assertNoResult(d)
        self.clock.advance(30)
        self.client.flush()
        reply = self.successResultOf(d)
        self.assertEqual(reply.code, 200)
        self.assertEqual((reply.json["listeners_notified"], reply.json["listeners_failed"]), (3, 2))
        self.assertEqual(self.contact_state("mary@acme.test", "paul@widget.test"), "revoked")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(len(self.flushLoggedErrors(TimeoutError)), 1)


class MetadataTests(AdminCase):
    def setUp(self) -> None:
        super().setUp()
        self.records = [
            record(T0 - 2 * DAY, "john@acme.test", "peter@widget.test", session_id="s1"),
            record(T0 - DAY, "peter@widget.test", "john@acme.test", session_id="s1", kind="file"),
            record(
                T0 - DAY + timedelta(hours=1),
                "mary@acme.test",
                "x@spam.test",
                session_id="s2",
                decision=Decision.REFUSED,
                reason="blocked: spam.test is on acme.test's block list (rule spam.test)",
                remote_domain="spam.test",
            ),
            record(
                T0,
                "bob@beta.test",
                "peter@widget.test",
                category="presence",
                kind="presence",
                session_id="s3",
                tenant="beta.test",
                platform="beta",
            ),
        ]
        for r in self.records:
            self.store.append_metadata(r)

    def ids(self, query: str) -> list[int]:
        reply = self.get(f"/admin/api/metadata?{query}")
        self.assertEqual(reply.code, 200, reply)
        return [r["id"] for r in reply.json]

    def test_json(self) -> None:
        """Without filters, every record in time order with all its fields."""
        reply = self.get("/admin/api/metadata")
        self.assertEqual(len(reply.json), 4)
        self.assertEqual(
            reply.json[2],
            {
                "id": 3,
                "time": "2026-10-31T13:00:00+00:00",
                "sender": "mary@acme.test",
                "receiver": "x@spam.test",
                "type": "im",
                "kind": "message",
                "session_id": "s2",
                "decision": "refused",
                "reason": "blocked: spam.test is on acme.test's block list (rule spam.test)",
                "tenant": "acme.test",
                "remote_domain": "spam.test",
                "platform": "alpha",
            },
        )

    def test_filters(self) -> None:
        """Each filter narrows the records; times are ISO 8601, UTC when naive."""
        self.assertEqual(self.ids("session_id=s1"), [1, 2])
        self.assertEqual(self.ids("user=JOHN@acme.test"), [1, 2])
        self.assertEqual(self.ids("remote_domain=spam.test"), [3])
        self.assertEqual(self.ids("tenant=beta.test"), [4])
        self.assertEqual(self.ids("type=presence"), [4])
        self.assertEqual(self.ids("kind=file"), [2])
        self.assertEqual(self.ids("since=2026-10-31"), [2, 3, 4])
        self.assertEqual(self.ids("until=2026-10-31T13:00:00Z"), [1, 2])
        self.assertEqual(
            self.ids("since=2026-10-31T14:00:00%2B01:00&until=2026-10-31T13:00:01"), [3]
        )
        self.assertEqual(self.ids("limit=2&offset=1"), [2, 3])

    def test_validation(self) -> None:
        """Bad filters are 400s naming the parameter, never 500s."""
        for query, word in [
            ("since=yesterday", "since"),
            ("until=2026-13-01", "until"),
            ("since=0001-01-01T00:00:00%2B01:00", "since"),
            ("since=2026-11-02&until=2026-11-01", "since"),
            ("limit=0", "limit"),
            ("limit=100001", "limit"),
            ("limit=%D9%A3", "limit"),
            ("offset=-1", "offset"),
            ("type=chat", "type"),
            ("kind=Message!", "kind"),
            ("user=john", "user"),
            ("tenant=acme", "tenant"),
            ("remote_domain=a..b", "remote_domain"),
            ("session_id=%01", "session_id"),
            ("format=xml", "format"),
        ]:
            self.assertError(self.get(f"/admin/api/metadata?{query}"), 400, word)

    def test_json_by_default(self) -> None:
        """Without format or an Accept preferring CSV, the answer is JSON."""
        for headers in ({}, {"Accept": "*/*"}, {"Accept": "text/html"}):
            reply = self.get("/admin/api/metadata", headers=headers)
            self.assertEqual(reply.header("content-type"), "application/json")

    def test_csv(self) -> None:
        """Accept: text/csv or format=csv export the records as a CSV attachment."""
        for path, headers in [
            ("/admin/api/metadata?tenant=acme.test&format=csv", {}),
            ("/admin/api/metadata?tenant=acme.test", {"Accept": "text/csv"}),
            (
                "/admin/api/metadata?tenant=acme.test",
                {"Accept": "text/csv, application/json;q=0.5"},
            ),
        ]:
            reply = self.get(path, headers=headers)
            self.assertEqual(reply.code, 200)
            self.assertEqual(reply.header("content-type"), "text/csv; charset=utf-8")
            self.assertEqual(
                reply.header("content-disposition"), 'attachment; filename="nextplane-metadata.csv"'
            )
            rows = reply.csv_rows
            self.assertEqual(tuple(rows[0]), CSV_FIELDS)
            self.assertEqual(
                rows[1],
                [
                    "2026-10-30T12:00:00+00:00",
                    "john@acme.test",
                    "peter@widget.test",
                    "im",
                    "message",
                    "s1",
                    "delivered",
                    "",
                    "acme.test",
                    "widget.test",
                    "alpha",
                ],
            )
            self.assertEqual(len(rows), 4)
            self.assertTrue(reply.body.endswith(b"\r\n"))

    def test_format_json_overrides_accept(self) -> None:
        """format=json wins over Accept: text/csv."""
        reply = self.get("/admin/api/metadata?format=json", headers={"Accept": "text/csv"})
        self.assertEqual(len(reply.json), 4)

    def test_csv_formula_injection(self) -> None:
        """Cells that would start a spreadsheet formula are prefixed with a quote."""
        self.store.append_metadata(
            record(
                T0,
                "=HYPERLINK(1)@widget.test",
                "+cmd@acme.test",
                decision=Decision.REFUSED,
                reason="-2+3",
                platform="@SUM(A1)",
            )
        )
        reply = self.get("/admin/api/metadata?format=csv&session_id=s1&since=2026-11-01T12:00:00Z")
        [header, row] = reply.csv_rows
        shown = dict(zip(header, row))
        self.assertEqual(shown["sender"], "'=HYPERLINK(1)@widget.test")
        self.assertEqual(shown["receiver"], "'+cmd@acme.test")
        self.assertEqual(shown["reason"], "'-2+3")
        self.assertEqual(shown["platform"], "'@SUM(A1)")
        self.assertEqual(shown["kind"], "message")
        self.assertEqual(
            [csv_safe(v) for v in ("\tx", "\rx", "a=b", "", None)], ["'\tx", "'\rx", "a=b", "", ""]
        )


class UsageTests(AdminCase):
    def setUp(self) -> None:
        super().setUp()
        # The default period is 2025-11-02 to 2026-11-01 inclusive (clock: 2026-11-01).
        for when, sender, receiver, remote, tenant in [
            (
                datetime(2025, 11, 1, 23, tzinfo=UTC),
                "john@acme.test",
                "p@widget.test",
                "widget.test",
                "acme.test",
            ),
            (
                datetime(2025, 11, 2, 0, tzinfo=UTC),
                "john@acme.test",
                "p@widget.test",
                "widget.test",
                "acme.test",
            ),
            (T0, "john@acme.test", "p@widget.test", "widget.test", "acme.test"),
            (T0, "mary@acme.test", "a@sipco.test", "sipco.test", "acme.test"),
            (T0, "p@widget.test", "mary@acme.test", "widget.test", "acme.test"),
            (T0, "bob@beta.test", "p@widget.test", "widget.test", "beta.test"),
        ]:
            self.store.append_metadata(
                record(when, sender, receiver, remote_domain=remote, tenant=tenant)
            )

    def test_default_period(self) -> None:
        """By default the 365 days up to and including today, from the injected clock."""
        reply = self.get("/admin/api/usage")
        self.assertEqual(reply.code, 200)
        self.assertEqual(
            reply.json,
            {
                "since": "2025-11-02",
                "until": "2026-11-02",
                "group_by": [],
                "tenant": None,
                "rows": [
                    {"day": "2025-11-02", "unique_users": 1, "messages": 1},
                    {"day": "2026-11-01", "unique_users": 3, "messages": 4},
                ],
            },
        )
        self.clock.advance(86_400)
        self.assertEqual(self.get("/admin/api/usage").json["since"], "2025-11-03")

    def test_group_by(self) -> None:
        """group_by adds the named fields to each row, in a fixed order."""
        reply = self.get("/admin/api/usage?group_by=remote_domain,tenant&since=2026-11-01")
        self.assertEqual(reply.json["group_by"], ["tenant", "remote_domain"])
        self.assertEqual(
            reply.json["rows"],
            [
                {
                    "day": "2026-11-01",
                    "tenant": "acme.test",
                    "remote_domain": "sipco.test",
                    "unique_users": 1,
                    "messages": 1,
                },
                {
                    "day": "2026-11-01",
                    "tenant": "acme.test",
                    "remote_domain": "widget.test",
                    "unique_users": 2,
                    "messages": 2,
                },
                {
                    "day": "2026-11-01",
                    "tenant": "beta.test",
                    "remote_domain": "widget.test",
                    "unique_users": 1,
                    "messages": 1,
                },
            ],
        )
        reply = self.get("/admin/api/usage?group_by=platform&tenant=beta.test")
        self.assertEqual(
            reply.json["rows"],
            [{"day": "2026-11-01", "platform": "alpha", "unique_users": 1, "messages": 1}],
        )

    def test_explicit_period(self) -> None:
        """since is inclusive and until exclusive."""
        reply = self.get("/admin/api/usage?since=2025-11-01&until=2025-11-02")
        self.assertEqual(
            reply.json["rows"], [{"day": "2025-11-01", "unique_users": 1, "messages": 1}]
        )

    def test_validation(self) -> None:
        """Bad groupings, dates and periods are 400s."""
        for query, word in [
            ("group_by=user", "group_by"),
            ("group_by=tenant,", "group_by"),
            ("since=2026-02-30", "since"),
            ("until=tomorrow", "until"),
            ("since=2026-11-01&until=2026-11-01", "since"),
            ("until=0001-01-01", "until"),
            ("tenant=x", "tenant"),
        ]:
            self.assertError(self.get(f"/admin/api/usage?{query}"), 400, word)


class BrokenStore(MemoryStore):
    """A store whose every tenant query fails with internals in the message."""

    def list_tenants(self) -> Deferred[list[TenantRecord]]:
        return fail(RuntimeError("db password=hunter2 at /var/lib/secret.sqlite3"))


class ServerErrorTests(AdminCase):
    def test_unexpected_exception(self) -> None:
        """An unexpected store failure is a JSON 500 that reveals nothing; it is logged."""
        self.store = BrokenStore()
        api = AdminAPI(self.store, TOKEN, self.clock)
        self.web = HubWebApp({}, "test")
        self.web.mount("admin", api.resource())
        self.client = StubTreq(self.web.resource())
        reply = self.get("/admin/api/tenants")
        self.assertError(reply, 500)
        self.assertEqual(reply.json["error"], "internal-error")
        self.assertNotIn(b"hunter2", reply.body)
        self.assertNotIn(b"RuntimeError", reply.body)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class PrivacyTests(SynchronousTestCase):
    def test_no_content_in_any_output(self) -> None:
        """After routing content with a marker, no GET endpoint (JSON or CSV) shows the marker."""
        marker = f"MARKER-{secrets.token_hex(8)}"
        core = CoreFixture()
        store = core.store
        for tenant in core.tenants:
            store.put_tenant(TenantRecord(tenant.domain, tenant.platform, tenant.workspace))
        store.put_user(UserRecord(addr("john@acme.test"), "acme.test", "alpha", "U1", "John"))
        john, peter = addr("john@acme.test"), addr("peter@widget.test")
        for event in [
            ContactRequest(sender=peter, recipient=john, display_name=marker),
            ContactAccept(sender=john, recipient=peter),
            TextMessage(sender=john, recipient=peter, body=RichText.plain(marker)),
            TextMessage(sender=peter, recipient=john, body=RichText.plain(marker)),
            FileShare(sender=john, recipient=peter, name=marker, url=f"https://f.test/{marker}"),
            Presence(sender=peter, recipient=john, availability=Availability.AWAY, status=marker),
            TextMessage(sender=john, recipient=addr("x@widget.test"), body=RichText.plain(marker)),
        ]:
            self.successResultOf(core.router.route(event))
        delivered = [e for e in core.xmpp.delivered if isinstance(e, TextMessage)]
        self.assertIn(marker, delivered[0].body.plain_text())

        api = AdminAPI(store, TOKEN, core.clock)
        web = HubWebApp({}, "test")
        web.mount("admin", api.resource())
        client = StubTreq(web.resource())
        values = {"domain": "acme.test", "address": "john@acme.test"}
        paths = []
        for rule in AdminAPI.app.url_map.iter_rules():
            if "GET" in (rule.methods or ()):
                path = rule.rule
                for name, value in values.items():
                    path = path.replace(f"<{name}>", value)
                paths.append(f"/admin{path}")
        paths += [
            "/admin/api/metadata?format=csv",
            "/admin/api/usage?group_by=tenant,platform,remote_domain",
        ]
        self.assertIn("/admin/api/users/john@acme.test", paths)
        bodies = []
        for path in paths:
            response = self.successResultOf(
                client.get(f"http://hub.test{path}", headers={"Authorization": f"Bearer {TOKEN}"})
            )
            self.assertEqual(response.code, 200, path)
            bodies.append(self.successResultOf(response.content()))
        metadata = json.loads(bodies[paths.index("/admin/api/metadata")])
        self.assertGreaterEqual(len(metadata), 7)
        self.assertIn(b"delivered", b"".join(bodies))
        for path, body in zip(paths, bodies):
            self.assertNotIn(marker.encode(), body, path)

    def test_revocation_reaches_the_router(self) -> None:
        """A contact revoked through the API is refused by the router, naming the revocation."""
        core = CoreFixture()
        core.befriend("john@acme.test", "peter@widget.test")
        api = AdminAPI(core.store, TOKEN, core.clock)
        client = StubTreq(api.resource())
        response = self.successResultOf(
            client.post(
                "http://hub.test/api/revoke",
                json={"contact": {"owner": "john@acme.test", "external": "peter@widget.test"}},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        )
        self.assertEqual(response.code, 200)
        outcome = self.successResultOf(
            core.router.route(
                TextMessage(
                    sender=addr("john@acme.test"),
                    recipient=addr("peter@widget.test"),
                    body=RichText.plain("hi"),
                )
            )
        )
        self.assertEqual(outcome.decision, Decision.REFUSED)
        self.assertIn("revoked", outcome.reason)


class DayDefaultsTests(SynchronousTestCase):
    def test_today_from_clock(self) -> None:
        """The usage period follows the injected clock, not the wall clock."""
        clock = Clock()
        clock.advance(datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC).timestamp())
        client = StubTreq(AdminAPI(MemoryStore(), TOKEN, clock).resource())
        response = self.successResultOf(
            client.get("http://hub.test/api/usage", headers={"Authorization": f"Bearer {TOKEN}"})
        )
        body = json.loads(self.successResultOf(response.content()))
        # 2024 is a leap year: 365 days back from 2024-03-02 is 2023-03-03.
        self.assertEqual((body["since"], body["until"]), ("2023-03-03", "2024-03-02"))
        self.assertEqual(
            date.fromisoformat(body["until"]) - date.fromisoformat(body["since"]), timedelta(365)
        )
