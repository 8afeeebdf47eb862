# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Platform app installations (L{nextplane.storage.interfaces.IInstallations})
as SQL programs. Their credentials are written but never dumped, and a
failed write never quotes them.

Scopes are stored comma-separated; attributes as a JSON object.
"""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred

from ..records import PlatformInstallation
from .runtime import Op, Query, Row, SQLBase, first_row, hide_values, to_datetime, where_clause
from .schema import INSTALLATIONS

__all__ = ["InstallationsSQL"]


_PUT_INSTALLATION = INSTALLATIONS.upsert()
_KEY = "platform = ? AND workspace = ?"


def _installation(row: Row) -> PlatformInstallation:
    platform, workspace, credentials, scopes, installed_at, attributes = row
    return PlatformInstallation(
        platform,
        workspace,
        credentials,
        tuple(s for s in scopes.split(",") if s),
        to_datetime(installed_at),
        json.loads(attributes),
    )


class InstallationsSQL(SQLBase):
    """
    L{IInstallations} for the SQL stores.
    """

    def put_installation(self, installation: PlatformInstallation) -> Deferred[None]:
        """
        Insert or replace C{installation} by (platform, workspace).
        """

        def op() -> Op[None]:
            i = installation
            params = (
                i.platform,
                i.workspace,
                i.credentials,
                ",".join(i.scopes),
                i.installed_at,
                i.attributes_json,
            )
            yield Query(_PUT_INSTALLATION, params)

        what = f"storing the {installation.platform} installation of {installation.workspace}"
        return self._write(op()).addErrback(hide_values(what))

    def get_installation(
        self, platform: str, workspace: str
    ) -> Deferred[PlatformInstallation | None]:
        """
        @return: A L{Deferred} firing with the installation or C{None}.
        """

        def op() -> Op[PlatformInstallation | None]:
            sql = f"{INSTALLATIONS.select} WHERE {_KEY}"
            row = first_row((yield Query(sql, (platform, workspace))))
            return None if row is None else _installation(row)

        return self._read(op())

    def list_installations(
        self, platform: str | None = None
    ) -> Deferred[list[PlatformInstallation]]:
        """
        @return: A L{Deferred} firing with the installations of C{platform}
            (of all for C{None}), ordered by (platform, workspace).
        """
        where, params = where_clause([("platform = ?", platform)])

        def op() -> Op[list[PlatformInstallation]]:
            rows = yield Query(
                f"{INSTALLATIONS.select}{where} ORDER BY platform, workspace", params
            )
            return [_installation(row) for row in rows]

        return self._read(op())

    def remove_installation(self, platform: str, workspace: str) -> Deferred[bool]:
        """
        @return: A L{Deferred} firing with whether an installation was
            removed.
        """

        def op() -> Op[bool]:
            sql = f"DELETE FROM platform_installations WHERE {_KEY} RETURNING platform"
            return bool((yield Query(sql, (platform, workspace))))

        return self._write(op())
