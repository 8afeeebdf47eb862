"""
Tests for L{nextplane.config}: the example parses; each kind of mistake is
one clear error naming the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import ConfigError, load_config, parse_config
from nextplane.connectors.registry import CONNECTORS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "etc" / "nextplane.example.toml"


class ConfigTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = Path(self.mktemp())
        directory.mkdir()
        self.cert = directory / "t.crt"
        self.key = directory / "t.key"
        self.cert.write_text("cert")
        self.key.write_text("key")
        self.ca = directory / "ca.crt"
        self.ca.write_text("ca")

    def base(self) -> dict[str, Any]:
        return {
            "tls": {"ca_certificates": [str(self.ca)]},
            "tenants": [
                {
                    "domain": "Acme.Test",
                    "platform": "echo",
                    "workspace": "W1",
                    "certificate": str(self.cert),
                    "private_key": str(self.key),
                }
            ],
            "connectors": {"echo": {}},
        }

    def error(self, data: dict[str, Any], environ: dict[str, str] | None = None) -> str:
        with self.assertRaises(ConfigError) as caught:
            parse_config(data, environ=environ or {}, registry=CONNECTORS)
        text = str(caught.exception)
        self.assertNotIn("\n", text)
        return text

    def test_example_documents_and_parses(self) -> None:
        """The shipped example parses once its certificate files exist, with the documented defaults."""
        data = tomllib.loads(EXAMPLE.read_text())
        for tenant in data["tenants"]:
            tenant["certificate"], tenant["private_key"] = str(self.cert), str(self.key)
        data["tls"]["ca_certificates"] = [str(self.ca)]
        config = parse_config(data, environ={}, registry=CONNECTORS)
        self.assertEqual(config.storage.backend, "sqlite")
        self.assertEqual(config.web.listen, "tcp:8080:interface=127.0.0.1")
        self.assertEqual([t.domain for t in config.tenants], ["acme.test"])
        self.assertEqual(list(config.connectors), ["echo", "xmpp", "sip"])

    def test_example_comments_every_key(self) -> None:
        """Every key set in the example is preceded by a comment line."""
        lines = EXAMPLE.read_text().splitlines()
        for index, line in enumerate(lines):
            if "=" in line and not line.lstrip().startswith("#"):
                self.assertTrue(lines[index - 1].lstrip().startswith("#"), line)

    def test_minimal(self) -> None:
        """A tenant and its connector suffice; domains are normalised."""
        config = parse_config(self.base(), environ={}, registry=CONNECTORS)
        self.assertEqual(config.tenants[0].domain, "acme.test")
        self.assertEqual(config.tenant("acme.test"), config.tenants[0])
        self.assertEqual(config.hub.log_format, "text")

    def test_missing_certificate(self) -> None:
        """A missing certificate file names the tenant's key and the path."""
        data = self.base()
        data["tenants"][0]["certificate"] = "/nonexistent/x.crt"
        self.assertEqual(
            self.error(data), "tenants[0].certificate: file not found: /nonexistent/x.crt"
        )

    def test_unknown_key(self) -> None:
        """A misspelt key is refused by name."""
        data = self.base()
        data["web"] = {"lisen": "tcp:80"}
        self.assertEqual(self.error(data), "web.lisen: unknown key")

    def test_unknown_top_level_key(self) -> None:
        """An unknown top-level table is refused."""
        data = self.base()
        data["extra"] = {}
        self.assertEqual(self.error(data), "extra: unknown key")

    def test_unknown_connector(self) -> None:
        """An unknown connector name lists the known ones."""
        data = self.base()
        data["connectors"]["telex"] = {}
        self.assertEqual(
            self.error(data),
            "connectors.telex: unknown connector (known: echo, sip, slack, teams, webex, xmpp)",
        )

    def test_unknown_connector_key(self) -> None:
        """A connector's own section rejects unknown keys."""
        data = self.base()
        data["connectors"]["echo"] = {"prefix": ">"}
        self.assertEqual(self.error(data), "connectors.echo.prefix: unknown key")

    def test_tenant_platform_not_configured(self) -> None:
        """A tenant bound to a platform with no connector section is refused."""
        data = self.base()
        data["tenants"][0]["platform"] = "slack"
        self.assertIn("tenants[0].platform: no platform connector 'slack'", self.error(data))

    def test_malformed_domain(self) -> None:
        """A malformed tenant domain is refused."""
        data = self.base()
        data["tenants"][0]["domain"] = "bad domain!"
        self.assertEqual(self.error(data), "tenants[0].domain: malformed domain 'bad domain!'")

    def test_duplicate_tenant(self) -> None:
        """The same domain twice is refused."""
        data = self.base()
        data["tenants"].append(dict(data["tenants"][0]))
        self.assertIn("tenants[1].domain: duplicate tenant domain", self.error(data))

    def test_bad_listen_endpoint(self) -> None:
        """A listen address that is not a Twisted endpoint string is refused."""
        data = self.base()
        data["web"] = {"listen": "tcp:notaport"}
        self.assertIn("web.listen: bad listen endpoint 'tcp:notaport'", self.error(data))
        data["web"] = {"listen": "carrier-pigeon:1"}
        self.assertIn("web.listen: bad listen endpoint", self.error(data))

    def test_wrong_type(self) -> None:
        """A value of the wrong type says what was expected."""
        data = self.base()
        data["router"] = {"require_accepted_contact": "yes"}
        self.assertEqual(
            self.error(data), "router.require_accepted_contact: must be true or false, not str"
        )

    def test_environment_reference(self) -> None:
        """${NAME} references are expanded from the environment; defaults apply."""
        data = self.base()
        data["web"] = {"admin_token": "${TOKEN}", "public_url": "${URL:-https://hub.test}"}
        config = parse_config(
            data, environ={"TOKEN": "s3cret-token-0123456789"}, registry=CONNECTORS
        )
        self.assertEqual(config.web.admin_token, "s3cret-token-0123456789")
        self.assertEqual(config.web.public_url, "https://hub.test")
        self.assertIn("s3cret-token-0123456789", config.secrets())
        self.assertNotIn("s3cret", repr(config))

    def test_missing_environment_variable(self) -> None:
        """An unset variable names the key and the variable."""
        data = self.base()
        data["storage"] = {"backend": "postgresql", "postgresql_dsn": "${PG_DSN}"}
        self.assertEqual(
            self.error(data), "storage.postgresql_dsn: environment variable PG_DSN is not set"
        )

    def test_postgresql_needs_dsn(self) -> None:
        """The PostgreSQL backend requires a DSN."""
        data = self.base()
        data["storage"] = {"backend": "postgresql"}
        self.assertEqual(
            self.error(data), "storage.postgresql_dsn: required when backend is postgresql"
        )

    def test_backend_choice(self) -> None:
        """An unknown backend lists the choices."""
        data = self.base()
        data["storage"] = {"backend": "mongo"}
        self.assertEqual(
            self.error(data), "storage.backend: must be one of sqlite, postgresql, not 'mongo'"
        )

    def test_partner_protocol_must_be_configured(self) -> None:
        """A federation partner needs its protocol's connector."""
        data = self.base()
        data["federation"] = {"partners": [{"domain": "widget.test", "protocol": "xmpp"}]}
        self.assertIn(
            "federation.partners[0].protocol: no federation connector 'xmpp'", self.error(data)
        )

    def test_dns_servers(self) -> None:
        """DNS servers are host or host:port."""
        data = self.base()
        data["dns"] = {"servers": ["127.0.0.53", "[::1]:5353"]}
        config = parse_config(data, environ={}, registry=CONNECTORS)
        self.assertEqual(config.dns.servers, (("127.0.0.53", 53), ("::1", 5353)))
        data["dns"] = {"servers": ["h:99999"]}
        self.assertEqual(self.error(data), "dns.servers[0]: port out of range in 'h:99999'")

    def test_short_admin_token(self) -> None:
        """A guessable admin token is refused."""
        data = self.base()
        data["web"] = {"admin_token": "short"}
        self.assertEqual(self.error(data), "web.admin_token: must be at least 16 characters")

    def test_load_missing_file(self) -> None:
        """A missing config file is one line."""
        with self.assertRaises(ConfigError) as caught:
            load_config("/nonexistent/nextplane.toml", registry=CONNECTORS)
        self.assertEqual(
            str(caught.exception), "config file not found: /nonexistent/nextplane.toml"
        )

    def test_load_invalid_toml(self) -> None:
        """A file that is not TOML says so."""
        path = Path(self.mktemp())
        path.write_text("[hub\n")
        with self.assertRaises(ConfigError) as caught:
            load_config(str(path), registry=CONNECTORS)
        self.assertIn("is not valid TOML", str(caught.exception))


class ImportTests(SynchronousTestCase):
    def test_config_imports_no_connector(self) -> None:
        """
        Configuration imports no connector (connectors import it: no
        cycle); the registry is given to it at parse time.
        """
        import subprocess
        import sys

        probe = (
            "import sys, nextplane.config; "
            "print(sorted(m for m in sys.modules if m.startswith('nextplane.')))"
        )
        loaded = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout
        self.assertNotIn("nextplane.connectors", loaded)
        self.assertIn("nextplane.config", loaded)
