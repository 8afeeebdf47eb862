"""
Tests for the C{nextplane} command: the dispatcher, C{slack-manifest} and
C{check}'s handling of a bad configuration.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from twisted.trial.unittest import SynchronousTestCase

from nextplane.cli import check, main, parser, slackmanifest
from nextplane.devcerts import ensure_ca, ensure_domain_cert


class CliTests(SynchronousTestCase):
    def setUp(self) -> None:
        directory = Path(self.mktemp())
        ca = ensure_ca(directory)
        cert = ensure_domain_cert(directory, "acme.test", ca)
        self.config = directory / "nextplane.toml"
        self.config.write_text(
            f"""
[web]
public_url = "https://hub.example.com"
[[tenants]]
domain = "acme.test"
platform = "slack"
workspace = "T1"
display_name = "Acme"
certificate = "{cert.cert}"
private_key = "{cert.key}"
[connectors.slack]
signing_secret = "0123456789abcdef"
"""
        )

    def manifest(self, *argv: str) -> tuple[int, str, str]:
        args = parser().parse_args(["slack-manifest", "--config", str(self.config), *argv])
        out, err = io.StringIO(), io.StringIO()
        return slackmanifest.run(args, out, err), out.getvalue(), err.getvalue()

    def test_subcommands(self) -> None:
        """The dispatcher knows check, slack-manifest and copy-store."""
        for name in ("check", "slack-manifest", "copy-store"):
            self.assertIn(name, parser().format_help())
        with self.assertRaises(SystemExit):
            main(["nonsense"])

    def test_manifest_json_and_yaml(self) -> None:
        """JSON by default, YAML on request, named after the tenant."""
        status, out, _ = self.manifest("--tenant", "acme.test")
        self.assertEqual(status, 0)
        document = json.loads(out)
        self.assertEqual(document["display_information"]["name"], "nextplane Acme")
        self.assertNotIn("redirect_urls", document["oauth_config"])
        status, out, _ = self.manifest("--format", "yaml")
        self.assertEqual(yaml.safe_load(out)["display_information"]["name"], "nextplane")

    def test_manifest_refusals(self) -> None:
        """An unknown tenant or a missing public URL is one line, status 2."""
        status, _, err = self.manifest("--tenant", "other.test")
        self.assertEqual(
            (status, err),
            (2, "nextplane slack-manifest: other.test is not a Slack tenant of this hub\n"),
        )
        self.config.write_text(self.config.read_text().replace("public_url", "# public_url"))
        status, _, err = self.manifest()
        self.assertEqual(status, 2)
        self.assertIn("public_url is not set", err)

    def test_check_bad_config(self) -> None:
        """check reports an invalid configuration as one error finding, status 2."""
        self.config.write_text("[hub]\ncolour = 1\n")
        args = parser().parse_args(["check", "--config", str(self.config), "--json"])
        out = io.StringIO()
        self.assertEqual(check.run(args, out), 2)
        document = json.loads(out.getvalue())
        self.assertEqual(document["findings"][0]["message"], "hub.colour: unknown key")
