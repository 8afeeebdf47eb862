"""
Tests for L{nextplane.connectors.slack.installation}: Slack's view of a
stored platform installation.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.slack.installation import SlackInstallation

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class SlackInstallationTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        """
        A Slack installation is stored as platform C{slack}, team id as
        workspace, token as credentials, bot ids as attributes, and read
        back the same.
        """
        grid = SlackInstallation("T1", "xoxb-secret", "U1", None, ["chat:write"], T0, "E1")
        stored = grid.stored()
        self.assertEqual(
            (stored.platform, stored.workspace, stored.credentials, stored.attributes),
            ("slack", "T1", "xoxb-secret", {"bot_user_id": "U1", "enterprise_id": "E1"}),
        )
        self.assertEqual(SlackInstallation.from_stored(stored), grid)
        self.assertNotIn("xoxb-secret", repr(grid))
