"""
Tests for L{nextplane.tap} and the twistd plugin: options, the composition
root, and one-line failures for bad configurations.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from treq.testing import StubTreq
from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from nextplane import tap
from nextplane.config import parse_config
from nextplane.connectors.echo import EchoConnector
from nextplane.connectors.registry import CONNECTORS
from nextplane.devcerts import ensure_ca, ensure_domain_cert
from nextplane.storage.memory import MemoryStore
from tests.certfaults import issue


class PluginTests(SynchronousTestCase):
    def test_plugin_found(self) -> None:
        """twistd finds the nextplane plugin, which points at nextplane.tap."""
        import twisted.plugins

        makers = {p.tapname: p for p in getPlugins(IServiceMaker, twisted.plugins)}
        self.assertIn("nextplane", makers)
        self.assertEqual(makers["nextplane"].module, "nextplane.tap")  # type: ignore[attr-defined]

    def test_plugin_is_thin(self) -> None:
        """The plugin file is a single ServiceMaker and imports nothing of the hub."""
        source = (
            Path(__file__).parent.parent / "twisted" / "plugins" / "nextplane_plugin.py"
        ).read_text()
        self.assertNotIn("import nextplane", source)
        self.assertEqual(source.count("ServiceMaker("), 1)


class OptionsTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """--config defaults to etc/nextplane.toml; the log format defaults to the config's."""
        options = tap.Options()
        options.parseOptions([])
        self.assertEqual(options["config"], "etc/nextplane.toml")
        self.assertIsNone(options["log-format"])

    def test_help_lists_options(self) -> None:
        """The help text lists --config and --log-format."""
        text = str(tap.Options())
        self.assertIn("--config", text)
        self.assertIn("--log-format", text)

    def test_bad_log_format(self) -> None:
        """Only text and json are log formats."""
        with self.assertRaises(usage.UsageError):
            tap.Options().parseOptions(["--log-format", "xml"])


class MakeServiceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        self.directory.mkdir()
        ca = ensure_ca(self.directory)
        good = ensure_domain_cert(self.directory, "acme.test", ca, stem="t")
        self.other = ensure_domain_cert(self.directory, "other.test", ca)
        self.expired = issue(self.directory, "old", "acme.test", ca, days=(-400, -2))
        # The tests refer to t.crt and t.key.
        assert good.cert.name == "t.crt" and good.key.name == "t.key"

    def write_config(self, text: str) -> str:
        path = self.directory / "nextplane.toml"
        path.write_text(text)
        return str(path)

    def good_config(self) -> str:
        d = self.directory
        return f"""
[web]
listen = "tcp:0:interface=127.0.0.1"
[[tenants]]
domain = "acme.test"
platform = "echo"
workspace = "w"
certificate = "{d}/t.crt"
private_key = "{d}/t.key"
[connectors.echo]
"""

    def make(self, config_path: str) -> tuple[object, str]:
        options = tap.Options()
        options.parseOptions(["--config", config_path])
        stderr = io.StringIO()
        try:
            service = tap.makeService(options, reactor=MemoryReactorClock(), stderr=stderr)
        except SystemExit as e:
            self.assertEqual(e.code, 2)
            return None, stderr.getvalue()
        return service, stderr.getvalue()

    def test_missing_certificate_one_line(self) -> None:
        """A missing certificate file prints one line naming the key, and exits with status 2."""
        path = self.write_config(self.good_config().replace("t.crt", "missing.crt"))
        service, err = self.make(path)
        self.assertIsNone(service)
        self.assertEqual(err.count("\n"), 1)
        self.assertTrue(
            err.startswith(
                "nextplane: configuration error: tenants[0].certificate: file not found:"
            )
        )

    def test_key_mismatch_one_line(self) -> None:
        """A key that does not match the certificate is a configuration error, not a traceback."""
        path = self.write_config(self.good_config().replace("t.key", "other.test.key"))
        service, err = self.make(path)
        self.assertIsNone(service)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("configuration error: tenants[0].private_key: ", err)
        self.assertIn("does not match the certificate", err)

    def test_certificate_not_covering_domain_one_line(self) -> None:
        """A certificate for another domain stops start-up with one line naming it."""
        config = (
            self.good_config().replace("t.crt", "other.test.crt").replace("t.key", "other.test.key")
        )
        service, err = self.make(self.write_config(config))
        self.assertIsNone(service)
        self.assertEqual(
            err,
            "nextplane: configuration error: tenants[0].certificate: "
            "does not cover acme.test (DNS names: other.test)\n",
        )

    def test_expired_certificate_one_line(self) -> None:
        """An expired certificate stops start-up with one line."""
        config = self.good_config().replace("t.crt", "old.crt").replace("t.key", "old.key")
        service, err = self.make(self.write_config(config))
        self.assertIsNone(service)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("tenants[0].certificate: expired on ", err)

    def test_reload_refuses_what_start_up_refuses(self) -> None:
        """
        A reload checks the new file as start-up does: a certificate that
        does not cover the tenant is refused, and the running one is kept.
        """
        path = self.write_config(self.good_config())
        service, err = self.make(path)
        self.assertEqual(err, "")
        self.write_config(
            self.good_config().replace("t.crt", "other.test.crt").replace("t.key", "other.test.key")
        )
        reloader = service.reloader  # type: ignore[attr-defined]
        self.assertIsNone(self.successResultOf(reloader.reload()))
        self.assertIn("/t.crt", reloader.config.tenants[0].certificate)

    def test_port_out_of_range_one_line(self) -> None:
        """A listen port above 65535 is a configuration error naming the key."""
        config = self.good_config().replace("tcp:0:", "tcp:70000:")
        service, err = self.make(self.write_config(config))
        self.assertIsNone(service)
        self.assertEqual(
            err,
            "nextplane: configuration error: web.listen: port out of range in "
            "'tcp:70000:interface=127.0.0.1' (0-65535)\n",
        )

    def test_unknown_key_one_line(self) -> None:
        """An unknown key prints one line naming it."""
        path = self.write_config(self.good_config() + "\n[hub]\ncolour = 'blue'\n")
        _service, err = self.make(path)
        self.assertEqual(err, "nextplane: configuration error: hub.colour: unknown key\n")

    def test_missing_file(self) -> None:
        """A missing config file prints one line."""
        _service, err = self.make(str(self.directory / "nope.toml"))
        self.assertIn("config file not found", err)

    def test_builds_service_tree(self) -> None:
        """A good config builds storage, tenants, connectors and web in that order."""
        service, err = self.make(self.write_config(self.good_config()))
        self.assertEqual(err, "")
        self.assertEqual(
            [s.name for s in service],  # type: ignore[attr-defined]
            ["storage", "tenants", "contact-expiry", "echo", "web", "admin", "reload"],
        )


class BuildHubTests(SynchronousTestCase):
    def test_wired_and_healthy(self) -> None:
        """The composed hub starts on a memory reactor, registers tenants, and /healthz reports every component ok."""
        directory = Path(self.mktemp())
        directory.mkdir()
        (directory / "c").write_text("x")
        config = parse_config(
            {
                "web": {"listen": "tcp:0"},
                "tenants": [
                    {
                        "domain": "acme.test",
                        "platform": "echo",
                        "workspace": "w",
                        "certificate": str(directory / "c"),
                        "private_key": str(directory / "c"),
                    }
                ],
                "connectors": {"echo": {}},
            },
            environ={},
            registry=CONNECTORS,
        )
        reactor = MemoryReactorClock()
        store = MemoryStore()
        hub = tap.build_hub(config, reactor, store=store, resolver=None)
        hub.startService()
        self.successResultOf(hub.started)
        self.assertIsInstance(hub.connectors["echo"], EchoConnector)  # type: ignore[attr-defined]
        self.assertEqual(
            [t.domain for t in self.successResultOf(store.list_tenants())], ["acme.test"]
        )
        public = StubTreq(hub.web_app.resource())  # type: ignore[attr-defined]
        response = self.successResultOf(public.get("http://hub.test/healthz"))
        body = json.loads(self.successResultOf(response.content()))
        self.assertEqual((response.code, body), (200, {"status": "ok"}))
        self.assertFalse(response.headers.hasHeader("server"), "no software version is shown")
        response = self.successResultOf(public.get("http://hub.test/admin/openapi.json"))
        self.assertEqual(response.code, 404, "the public listener carries no admin API")
        client = StubTreq(hub.admin_web.resource())  # type: ignore[attr-defined]
        response = self.successResultOf(client.get("http://hub.test/healthz"))
        body = json.loads(self.successResultOf(response.content()))
        self.assertEqual(response.code, 200, body)
        self.assertEqual(set(body["components"]), {"storage", "echo", "web", "admin"})
        self.assertIn("version", body)
        self.successResultOf(hub.stopService())
        self.assertFalse(store.opened)

    def test_domain_rule_reaches_xmpp_at_once(self) -> None:
        """
        A domain blocked (then unblocked) through the admin API is in force
        in the XMPP connector's stream policy as soon as the API answers,
        not only at its next periodic refresh.
        """
        from tests.xmpp.certs import pki
        from tests.xmpp.fakenet import FakeResolver

        certs = pki()
        config = parse_config(
            {
                "web": {"listen": "tcp:0", "admin_token": "admin-" + "0123456789abcdef01234567"},
                "tls": {"ca_certificates": [certs.ca_path]},
                "tenants": [
                    {
                        "domain": "hub.test",
                        "platform": "echo",
                        "workspace": "w",
                        "certificate": certs.hub.certificate,
                        "private_key": certs.hub.private_key,
                    }
                ],
                "connectors": {"echo": {}, "xmpp": {"listen": "tcp:0", "system_ca": False}},
            },
            environ={},
            registry=CONNECTORS,
        )
        reactor = MemoryReactorClock()
        hub = tap.build_hub(config, reactor, store=MemoryStore(), resolver=FakeResolver())
        hub.startService()
        self.successResultOf(hub.started)
        xmpp = hub.connectors["xmpp"]  # type: ignore[attr-defined]
        self.assertIsNone(xmpp.refusal_reason("hub.test", "widget.test"))
        client = StubTreq(hub.admin_web.resource())  # type: ignore[attr-defined]
        headers = {"Authorization": "Bearer admin-0123456789abcdef01234567"}
        url = "http://hub.test/admin/api/tenants/hub.test/domains/widget.test"
        response = self.successResultOf(client.put(url, json={"action": "block"}, headers=headers))
        self.assertEqual(response.code, 201)
        self.assertIn("block list", xmpp.refusal_reason("hub.test", "widget.test") or "")
        response = self.successResultOf(client.delete(url, headers=headers))
        self.assertEqual(response.code, 200)
        self.assertIsNone(xmpp.refusal_reason("hub.test", "widget.test"))
        self.successResultOf(hub.stopService())
