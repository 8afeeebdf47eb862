"""
C{nextplane teams-package}: the Teams app package from the hub's configuration.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from nextplane.cli import parser, teamspackage
from nextplane.devcerts import ensure_ca, ensure_domain_cert

APP = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"


class TeamsPackageTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.directory = Path(self.mktemp())
        ca = ensure_ca(self.directory)
        cert = ensure_domain_cert(self.directory, "contoso.test", ca)
        self.config = self.directory / "nextplane.toml"
        self.config.write_text(
            f"""
[web]
public_url = "https://hub.example.com"
[[tenants]]
domain = "contoso.test"
platform = "teams"
workspace = "72f988bf-86f1-41af-91ab-2d7cd011db47"
display_name = "Contoso"
certificate = "{cert.cert}"
private_key = "{cert.key}"
[connectors.teams]
app_id = "{APP}"
app_password = "secret"
multi_tenant = true
"""
        )

    def run_command(self, *argv: str) -> tuple[int, str, str]:
        args = parser().parse_args(["teams-package", "--config", str(self.config), *argv])
        out, err = io.StringIO(), io.StringIO()
        return teamspackage.run(args, out, err), out.getvalue(), err.getvalue()

    def test_writes_package(self) -> None:
        """The zip holds the manifest (bot, files, the hub's domain) and both icons."""
        target = self.directory / "app.zip"
        status, out, _ = self.run_command("--tenant", "contoso.test", "--out", str(target))
        self.assertEqual(status, 0)
        self.assertIn("wrote", out)
        with zipfile.ZipFile(target) as archive:
            self.assertEqual(
                sorted(archive.namelist()), ["color.png", "manifest.json", "outline.png"]
            )
            manifest = json.loads(archive.read("manifest.json"))
        self.assertEqual(manifest["bots"][0]["botId"], APP)
        self.assertTrue(manifest["bots"][0]["supportsFiles"])
        self.assertIn("hub.example.com", manifest["validDomains"])
        self.assertIn("Contoso", json.dumps(manifest))

    def test_refusals(self) -> None:
        """Another platform's tenant is refused in one line."""
        status, _, err = self.run_command("--tenant", "other.test")
        self.assertEqual(status, 2)
        self.assertEqual(
            err, "nextplane teams-package: other.test is not a Teams tenant of this hub\n"
        )
