# -*- test-case-name: tests.check.test_check -*-
"""
C{nextplane check} for Slack: C{auth.test} with each Slack tenant's
configured bot token, which must be accepted and belong to the tenant's
workspace (team id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...check.findings import ERROR, OK, WARNING, Finding
from ...check.hooks import PlatformCheckContext
from ...config import TenantConfig
from .api import RetryPolicy, SlackApiError, SlackWebClient

__all__ = ["check_slack"]

#: Slack errors meaning the token itself is bad.
_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


async def check_slack(
    context: PlatformCheckContext, config: Any, tenants: Sequence[TenantConfig]
) -> list[Finding]:
    """
    C{auth.test} with each Slack tenant's configured bot token: it must be
    accepted and belong to the tenant's workspace (team id).
    """
    findings = []
    policy = RetryPolicy(
        max_attempts=1, max_rate_limited=1, outage_deadline=0.0, timeout=context.timeout
    )
    for tenant in tenants:
        subject = f"slack {tenant.workspace} ({tenant.domain})"
        token = config.workspaces.get(tenant.workspace)
        if token is None:
            findings.append(
                Finding(
                    WARNING if config.client_id is None else OK,
                    "platform",
                    subject,
                    "no bot_token configured; the hub uses the app's OAuth installation "
                    "kept in its database (not checked here)",
                    "install the app from <public_url>/slack/install, or set "
                    f"[connectors.slack.workspaces.{tenant.workspace}] bot_token",
                )
            )
            continue
        client = SlackWebClient(
            token, context.http, context.reactor, base_url=config.api_base_url, policy=policy
        )
        try:
            answer = await client.auth_test()
        except SlackApiError as e:
            refused = e.error in _REFUSED
            findings.append(
                Finding(
                    ERROR,
                    "platform",
                    subject,
                    f"auth.test {'refused the token' if refused else 'failed'}: {e.reason}",
                    "reinstall the app in the workspace and update bot_token"
                    if refused
                    else f"check outbound HTTPS to {config.api_base_url}",
                )
            )
            continue
        except Exception as e:
            findings.append(
                Finding(
                    ERROR,
                    "platform",
                    subject,
                    f"Slack's API cannot be reached: {e}",
                    f"check outbound HTTPS to {config.api_base_url}",
                )
            )
            continue
        team = answer.get("team_id")
        if team != tenant.workspace:
            findings.append(
                Finding(
                    ERROR,
                    "platform",
                    subject,
                    f"the bot token belongs to team {team}",
                    f"use the token of workspace {tenant.workspace}",
                )
            )
            continue
        findings.append(
            Finding(
                OK,
                "platform",
                subject,
                f"auth.test accepted the token (team {answer.get('team', team)}, "
                f"bot user {answer.get('user_id')})",
            )
        )
    return findings
