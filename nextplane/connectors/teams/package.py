# -*- test-case-name: tests.teams.test_package -*-
"""
The Teams app package for one tenant's nextplane bot.

A Teams admin uploads a zip holding C{manifest.json} and two icons: a
192x192 full-colour C{color.png} and a 32x32 white-on-transparent
C{outline.png}. The manifest (schema L{MANIFEST_VERSION}, validated in the
tests against the official schema from npm C{@microsoft/app-manifest})
declares the bot in personal scope with C{supportsFiles}, its typed
commands, and the hub's public host under C{validDomains}.

Single-tenant bots are the norm (C{../shared/notes/platforms.md} §B4), so
each tenant gets its own package naming its own bot id. L{main} is the
command: C{python -m nextplane.connectors.teams.package --bot-id GUID
--domain hub.example.com --out nextplane-teams.zip}.

Icons are drawn here (a ring around a dot, the hub) and written as PNG with
C{zlib}, so no imaging library is needed for two fixed pictures.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from attrs import field, frozen

__all__ = [
    "COMMANDS",
    "MANIFEST_VERSION",
    "AppPackage",
    "build_package",
    "color_icon",
    "main",
    "manifest",
    "outline_icon",
    "png",
]

#: The manifest schema version written.
MANIFEST_VERSION = "1.17"
_SCHEMA_URL = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/"
    f"v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d+)?$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")

#: The bot's typed commands, as the Teams command menu shows them.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("invite", "invite alice@example.org: ask someone on another network to chat"),
    ("chat", "chat alice@example.org: send your next messages to this contact"),
    ("list", "list your contacts and pending requests"),
    ("remove", "remove alice@example.org: end a contact"),
    ("block", "block alice@example.org: refuse all requests and messages"),
    ("help", "show what nextplane can do"),
)


def _guid(instance: Any, attribute: Any, value: str) -> None:
    if not _GUID.match(value):
        raise ValueError(f"{attribute.name} must be a GUID (the app registration's id)")


def _domain(instance: Any, attribute: Any, value: str) -> None:
    if not _DOMAIN.match(value):
        raise ValueError(f"{attribute.name} must be a host name without scheme or path")


def _https(instance: Any, attribute: Any, value: str) -> None:
    if not value.lower().startswith("https://"):
        raise ValueError(f"{attribute.name} must be an https URL")


def _color(instance: Any, attribute: Any, value: str) -> None:
    if not _COLOR.match(value):
        raise ValueError(f"{attribute.name} must look like #1a2b3c")


@frozen
class AppPackage:
    """
    What goes into one tenant's package.

    @ivar bot_id: The bot's Microsoft app id (the app registration).
    @ivar domain: The hub's public host name (its C{/teams/messages} endpoint).
    @ivar app_id: The Teams app id; the bot id unless given.
    @ivar organization: Shown as the developer and in the full name.
    """

    bot_id: str = field(validator=_guid)
    domain: str = field(validator=_domain)
    organization: str = "nextplane"
    app_id: str | None = None
    version: str = "1.0.0"
    short_name: str = "nextplane"
    website_url: str = field(default="https://github.com/nextplane/nextplane", validator=_https)
    privacy_url: str | None = None
    terms_url: str | None = None
    accent_color: str = field(default="#2B5797", validator=_color)

    def __attrs_post_init__(self) -> None:
        if self.app_id is not None and not _GUID.match(self.app_id):
            raise ValueError("app_id must be a GUID")


def manifest(package: AppPackage) -> dict[str, Any]:
    """
    The C{manifest.json} content.
    """
    commands = [{"title": title, "description": text} for title, text in COMMANDS]
    base = f"https://{package.domain}"
    return {
        "$schema": _SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": package.version,
        "id": package.app_id or package.bot_id,
        "developer": {
            "name": package.organization[:32],
            "websiteUrl": package.website_url,
            "privacyUrl": package.privacy_url or f"{base}/privacy",
            "termsOfUseUrl": package.terms_url or f"{base}/terms",
        },
        "name": {
            "short": package.short_name[:30],
            "full": f"{package.short_name} for {package.organization}"[:100],
        },
        "description": {
            "short": "Chat with contacts on XMPP, SIP, Slack, Webex and other Teams.",
            "full": (
                "nextplane connects your Teams chats to people on other networks: XMPP, "
                "SIP, Slack, Webex and other organisations' Teams. Invite a contact with "
                "'invite name@example.org'; once they accept, chat with them here. Each "
                "message shows who sent it; reply to a message to answer its sender."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": package.accent_color,
        "bots": [
            {
                "botId": package.bot_id,
                "scopes": ["personal"],
                "supportsFiles": True,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": ["personal"], "commands": commands}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [package.domain],
    }


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """
    An RGBA PNG of C{width} x C{height} whose pixels come from C{pixel(x, y)}.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows.extend(pixel(x, y))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def _hub(size: int, x: int, y: int) -> bool:
    # A ring and a centre dot: the hub with its spokes' ends.
    centre = (size - 1) / 2
    distance = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
    ring = size * 0.30 <= distance <= size * 0.42
    return ring or distance <= size * 0.13


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def color_icon(accent: str = "#2B5797") -> bytes:
    """
    The 192x192 full-colour icon: a white hub on the accent colour.
    """
    red, green, blue = _rgb(accent)

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        return (255, 255, 255, 255) if _hub(192, x, y) else (red, green, blue, 255)

    return png(192, 192, pixel)


def outline_icon() -> bytes:
    """
    The 32x32 outline icon: the white hub on a transparent background.
    """

    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        return (255, 255, 255, 255) if _hub(32, x, y) else (255, 255, 255, 0)

    return png(32, 32, pixel)


def build_package(package: AppPackage) -> bytes:
    """
    The zipped app package: C{manifest.json}, C{color.png}, C{outline.png}.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(package), indent=2) + "\n")
        archive.writestr("color.png", color_icon(package.accent_color))
        archive.writestr("outline.png", outline_icon())
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """
    The command: write the app package for one tenant's bot.
    """
    parser = argparse.ArgumentParser(
        prog="python -m nextplane.connectors.teams.package",
        description="Write the Teams app package (manifest.json and icons, zipped).",
    )
    parser.add_argument("--bot-id", required=True, help="the bot's Microsoft app id (GUID)")
    parser.add_argument("--domain", required=True, help="the hub's public host name")
    parser.add_argument("--organization", default="nextplane", help="your organisation's name")
    parser.add_argument("--app-id", help="the Teams app id (default: the bot id)")
    parser.add_argument("--version", default="1.0.0", help="the package version (semver)")
    parser.add_argument("--privacy-url", help="privacy statement (default: https://DOMAIN/privacy)")
    parser.add_argument("--terms-url", help="terms of use (default: https://DOMAIN/terms)")
    parser.add_argument("--out", default="nextplane-teams.zip", help="where to write the zip")
    options = parser.parse_args(argv)
    try:
        package = AppPackage(
            options.bot_id,
            options.domain,
            organization=options.organization,
            app_id=options.app_id,
            version=options.version,
            privacy_url=options.privacy_url,
            terms_url=options.terms_url,
        )
    except ValueError as e:
        parser.error(str(e))
    with open(options.out, "wb") as f:
        f.write(build_package(package))
    print(f"wrote {options.out}: upload it in Teams (Apps > Manage your apps > Upload an app)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
