# -*- test-case-name: tests.teams.test_package -*-
"""
Tests for L{nextplane.connectors.teams.package}: the manifest is checked
against the official Teams manifest schema from the pinned npm package
C{@microsoft/app-manifest} (installed by C{make test-deps}).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import jsonschema
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from nextplane.connectors.teams.package import (
    COMMANDS,
    MANIFEST_VERSION,
    AppPackage,
    build_package,
    color_icon,
    main,
    manifest,
    outline_icon,
)

BOT = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"
SCHEMAS = (
    Path(__file__).resolve().parents[1] / "npm" / "node_modules" / "@microsoft" / "app-manifest"
)


def schema(test: SynchronousTestCase) -> dict[str, Any]:
    """
    The official schema for L{MANIFEST_VERSION}; skipped without it, failed under CI.
    """
    path = (
        SCHEMAS
        / "build"
        / "json-schemas"
        / "teams"
        / f"v{MANIFEST_VERSION}"
        / "MicrosoftTeams.schema.json"
    )
    if not path.exists():
        reason = f"{path} missing: run `make test-deps`"
        if os.environ.get("CI", "").lower() == "true":
            test.fail(f"{reason} (CI=true: the schema test must run)")
        raise SkipTest(reason)
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    """Width, height and RGBA pixels of a PNG written without filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, {}
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        offset += 12 + length
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color_type) == (8, 6)
    raw = zlib.decompress(chunks[b"IDAT"])
    pixels = []
    for y in range(height):
        row = raw[y * (width * 4 + 1) : (y + 1) * (width * 4 + 1)]
        assert row[0] == 0
        pixels += [tuple(row[1 + 4 * x : 5 + 4 * x]) for x in range(width)]
    return width, height, pixels  # type: ignore[return-value]


class ManifestTests(SynchronousTestCase):
    """
    The manifest is valid and declares what the hub needs.
    """

    PACKAGE = AppPackage(BOT, "hub.acme.test", organization="Acme Corp")

    def test_valid_against_official_schema(self) -> None:
        """manifest.json validates against the official Teams schema of its version."""
        official = schema(self)
        document = manifest(self.PACKAGE)
        errors = [e.message for e in jsonschema.Draft7Validator(official).iter_errors(document)]
        self.assertEqual(errors, [])
        self.assertEqual(document["manifestVersion"], MANIFEST_VERSION)

    def test_schema_catches_mistakes(self) -> None:
        """The schema check is real: a broken manifest fails it."""
        official = schema(self)
        document = manifest(self.PACKAGE)
        document["bots"][0]["botId"] = "not-a-guid"
        del document["icons"]
        self.assertEqual(len(list(jsonschema.Draft7Validator(official).iter_errors(document))), 2)

    def test_bot(self) -> None:
        """The bot is personal-scope, supports files, lists the commands; the domain is valid."""
        document = manifest(self.PACKAGE)
        bot = document["bots"][0]
        self.assertEqual(
            (bot["botId"], bot["scopes"], bot["supportsFiles"]), (BOT, ["personal"], True)
        )
        self.assertEqual(
            [c["title"] for c in bot["commandLists"][0]["commands"]], [t for t, _ in COMMANDS]
        )
        self.assertEqual(document["validDomains"], ["hub.acme.test"])
        self.assertEqual(document["id"], BOT)
        self.assertEqual(document["developer"]["privacyUrl"], "https://hub.acme.test/privacy")
        self.assertEqual(document["name"]["full"], "nextplane for Acme Corp")

    def test_config_checked(self) -> None:
        """Bad ids, domains, URLs and colours are refused early."""
        self.assertRaises(ValueError, AppPackage, "x", "hub.test")
        self.assertRaises(ValueError, AppPackage, BOT, "https://hub.test/")
        self.assertRaises(ValueError, AppPackage, BOT, "hub.test", app_id="nope")
        self.assertRaises(ValueError, AppPackage, BOT, "hub.test", website_url="http://x.test")
        self.assertRaises(ValueError, AppPackage, BOT, "hub.test", accent_color="blue")


class IconTests(SynchronousTestCase):
    """
    The icons have Teams' sizes and colours.
    """

    def test_color(self) -> None:
        """The colour icon is 192x192, opaque, in the accent colour and white."""
        width, height, pixels = decode_png(color_icon("#102030"))
        self.assertEqual((width, height), (192, 192))
        self.assertEqual(set(pixels), {(16, 32, 48, 255), (255, 255, 255, 255)})

    def test_outline(self) -> None:
        """The outline icon is 32x32, white on transparent only."""
        width, height, pixels = decode_png(outline_icon())
        self.assertEqual((width, height), (32, 32))
        self.assertEqual(set(pixels), {(255, 255, 255, 0), (255, 255, 255, 255)})
        self.assertEqual(pixels[0][3], 0)
        self.assertEqual(pixels[16 * 32 + 16][3], 255)


class PackageTests(SynchronousTestCase):
    """
    The zip and the command.
    """

    def test_zip(self) -> None:
        """The zip holds the manifest and both icons at its root."""
        data = build_package(AppPackage(BOT, "hub.acme.test"))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            self.assertEqual(
                sorted(archive.namelist()), ["color.png", "manifest.json", "outline.png"]
            )
            document = json.loads(archive.read("manifest.json"))
            self.assertEqual(document["icons"], {"color": "color.png", "outline": "outline.png"})
            self.assertEqual(decode_png(archive.read("outline.png"))[:2], (32, 32))

    def test_command(self) -> None:
        """The command writes the package where told."""
        out = Path(self.mktemp())
        with redirect_stdout(io.StringIO()) as printed:
            status = main(["--bot-id", BOT, "--domain", "hub.acme.test", "--out", str(out)])
        self.assertEqual(status, 0)
        self.assertIn(str(out), printed.getvalue())
        with zipfile.ZipFile(out) as archive:
            self.assertEqual(json.loads(archive.read("manifest.json"))["bots"][0]["botId"], BOT)

    def test_command_refuses_bad_input(self) -> None:
        """A bad bot id is a usage error."""
        with redirect_stdout(io.StringIO()), self.assertRaises(SystemExit):
            import contextlib

            with contextlib.redirect_stderr(io.StringIO()):
                main(["--bot-id", "x", "--domain", "hub.acme.test", "--out", self.mktemp()])
