# -*- test-case-name: tests.admin.test_openapi -*-
"""
Tests for L{nextplane.admin.openapi}: the document is valid OpenAPI, is
what C{/admin/openapi.json} serves, and documents exactly the routes of the
Klein app.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from nextplane.admin.api import AdminAPI, parse_domain_pattern
from nextplane.admin.openapi import (
    ADDRESS_PATTERN,
    DOMAIN_PATTERN,
    OPENAPI_VERSION,
    RULE_PATTERN,
    build_openapi,
)
from nextplane.model.address import Address, validate_domain
from nextplane.storage.memory import MemoryStore
from nextplane.web.app import HubWebApp

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """
    (path template, upper-case method) for every operation in C{document}.
    """
    return {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method in _METHODS
    }


def routed_operations() -> set[tuple[str, str]]:
    """
    (path template, method) for every route of the admin Klein app, with
    Werkzeug's C{<name>} turned into OpenAPI's C{{name}}; HEAD and OPTIONS
    come with GET and are not documented.
    """
    found = set()
    for rule in AdminAPI.app.url_map.iter_rules():
        template = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found.add((template, method))
    return found


class DocumentTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.document = build_openapi()

    def test_valid_openapi(self) -> None:
        """openapi-spec-validator accepts the document as OpenAPI 3.1."""
        try:
            from openapi_spec_validator import validate
            from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
        except ImportError:
            if os.environ.get("CI") == "true":
                self.fail("openapi-spec-validator is not installed (pip install -e '.[dev]')")
            raise SkipTest("openapi-spec-validator is not installed") from None
        self.assertEqual(self.document["openapi"], OPENAPI_VERSION)
        validate(self.document)
        # The validator really validates: a broken document is refused.
        broken = json.loads(json.dumps(self.document))
        broken["paths"]["/api/tenants"]["get"]["responses"]["200"]["content"] = 5
        with self.assertRaises(OpenAPIValidationError):
            validate(broken)

    def test_routes_documented(self) -> None:
        """Every route of the Klein app is documented, and every documented operation is routed."""
        routed, documented = routed_operations(), documented_operations(self.document)
        self.assertEqual(routed - documented, set(), "routes missing from the document")
        self.assertEqual(documented - routed, set(), "documented operations without a route")
        self.assertEqual(len(routed), 19)

    def test_path_parameters_declared(self) -> None:
        """Each path's template parameters are exactly its declared path parameters."""
        parameters = self.document["components"]["parameters"]
        for path, item in self.document["paths"].items():
            in_template = set(re.findall(r"{([a-z_]+)}", path))
            for method, operation in item.items():
                declared = set()
                for parameter in operation.get("parameters", []):
                    if "$ref" in parameter:
                        parameter = parameters[parameter["$ref"].rpartition("/")[2]]
                    if parameter["in"] == "path":
                        self.assertTrue(parameter["required"])
                        declared.add(parameter["name"])
                self.assertEqual(declared, in_template, (path, method))

    def test_operations_complete(self) -> None:
        """Every operation has a unique id and a summary, documents 500, and 401 unless public."""
        ids = []
        for path, item in self.document["paths"].items():
            for method, operation in item.items():
                ids.append(operation["operationId"])
                self.assertTrue(operation["summary"])
                if path.startswith("/api/"):
                    self.assertNotIn("security", operation)  # the global bearer scheme
                    self.assertIn("401", operation["responses"], (path, method))
                    self.assertIn("500", operation["responses"], (path, method))
                    self.assertIn("400", operation["responses"], (path, method))
                else:
                    self.assertEqual(operation["security"], [])
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(self.document["security"], [{"bearerAuth": []}])
        self.assertEqual(
            self.document["components"]["securitySchemes"]["bearerAuth"],
            {"type": "http", "scheme": "bearer"},
        )

    def test_base_path(self) -> None:
        """The server URL is the mount point given."""
        self.assertEqual(build_openapi("/ops/admin")["servers"], [{"url": "/ops/admin"}])

    def test_patterns_agree_with_validators(self) -> None:
        """Values matching the documented patterns are ones the API's validators accept."""
        for domain in ("acme.test", "A-1.b2.Example", "xn--ls8h.test", "a.b.c.d.e.f"):
            self.assertRegex(domain, DOMAIN_PATTERN)
            validate_domain(domain)
        for pattern in ("*.test", "*.Widget.test", "widget.test"):
            self.assertRegex(pattern, RULE_PATTERN)
            parse_domain_pattern(pattern)
        for address in ("john@acme.test", "J.o+h=n@x.y", "ünï@acme.test"):
            self.assertRegex(address, ADDRESS_PATTERN)
            local, _, domain = address.rpartition("@")
            Address(local, domain)
        for bad, pattern in [
            ("acme", DOMAIN_PATTERN),
            ("-a.test", DOMAIN_PATTERN),
            ("a.1", DOMAIN_PATTERN),
            ("*widget.test", RULE_PATTERN),
            ("widget", RULE_PATTERN),
            ("jo hn@acme.test", ADDRESS_PATTERN),
            ("a/b@acme.test", ADDRESS_PATTERN),
            ("a@acme", ADDRESS_PATTERN),
        ]:
            self.assertIsNone(re.match(pattern, bad), (bad, pattern))


class ServedDocumentTests(SynchronousTestCase):
    def test_served_at_admin_openapi_json(self) -> None:
        """GET /admin/openapi.json through the hub's web app serves the built document as JSON."""
        web = HubWebApp({}, "test")
        web.mount("admin", AdminAPI(MemoryStore(), "t" * 20, Clock()).resource())
        client = StubTreq(web.resource())
        response = self.successResultOf(client.get("http://hub.test/admin/openapi.json?v=1"))
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders("content-type"), ["application/json"])
        body = self.successResultOf(response.content())
        self.assertEqual(json.loads(body), build_openapi("/admin"))
