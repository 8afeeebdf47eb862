# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Platform app installations (L{nextplane.storage.interfaces.IInstallations})
as SQL programs. Their secrets are written but never dumped.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from ..records import SlackInstallation
from .runtime import Op, Query, Row, SQLBase, first_row, hide_values, to_datetime
from .schema import INSTALLATIONS

__all__ = ["InstallationsSQL"]


_PUT_INSTALLATION = INSTALLATIONS.upsert()


def _installation(row: Row) -> SlackInstallation:
    team_id, bot_token, bot_user_id, bot_id, scopes, installed_at, enterprise_id = row
    return SlackInstallation(
        team_id,
        bot_token,
        bot_user_id,
        bot_id,
        tuple(s for s in scopes.split(",") if s),
        to_datetime(installed_at),
        enterprise_id,
    )


class InstallationsSQL(SQLBase):
    """
    L{IInstallations} for the SQL stores.
    """

    # Slack app installations

    def put_installation(self, installation: SlackInstallation) -> Deferred[None]:
        """
        Insert or replace C{installation} by team id.
        """

        def op() -> Op[None]:
            i = installation
            params = (
                i.team_id,
                i.bot_token,
                i.bot_user_id,
                i.bot_id,
                ",".join(i.scopes),
                i.installed_at,
                i.enterprise_id,
            )
            yield Query(_PUT_INSTALLATION, params)

        what = f"storing the Slack installation of {installation.team_id}"
        return self._write(op()).addErrback(hide_values(what))

    def get_installation(self, team_id: str) -> Deferred[SlackInstallation | None]:
        """
        @return: A L{Deferred} firing with the installation in C{team_id}
            or C{None}.
        """

        def op() -> Op[SlackInstallation | None]:
            sql = f"{INSTALLATIONS.select} WHERE team_id = ?"
            row = first_row((yield Query(sql, (team_id,))))
            return None if row is None else _installation(row)

        return self._read(op())

    def list_installations(self) -> Deferred[list[SlackInstallation]]:
        """
        @return: A L{Deferred} firing with every installation, ordered by
            team id.
        """

        def op() -> Op[list[SlackInstallation]]:
            rows = yield Query(f"{INSTALLATIONS.select} ORDER BY team_id")
            return [_installation(row) for row in rows]

        return self._read(op())

    def remove_installation(self, team_id: str) -> Deferred[bool]:
        """
        @return: A L{Deferred} firing with whether an installation was
            removed.
        """

        def op() -> Op[bool]:
            rows = yield Query(
                "DELETE FROM slack_installations WHERE team_id = ? RETURNING team_id", (team_id,)
            )
            return bool(rows)

        return self._write(op())
