# -*- test-case-name: tests.check.test_check -*-
"""
Platform credential checks, one per platform connector that has
credentials: L{PLATFORM_CHECKS} maps a connector's configuration name to
its L{PlatformCheck}, which lives with the connector.

Slack asks C{auth.test} with each configured bot token. Teams (a token from
its token endpoint) and Webex (C{people/me}) add one line here when those
connectors land.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..connectors.slack.credentials import check_slack
from .hooks import PlatformCheck, PlatformCheckContext

__all__ = ["PLATFORM_CHECKS", "PlatformCheck", "PlatformCheckContext"]

#: Connector name to its credential check.
PLATFORM_CHECKS: Mapping[str, PlatformCheck] = {"slack": check_slack}
