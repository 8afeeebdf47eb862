"""
The Slack platform connector: request signatures, mrkdwn and Block Kit
translation, the Web API client, the Events API webhook and the connector
that serves tenants' Slack workspaces
(L{nextplane.connectors.slack.connector}).

Slack documentation: U{https://docs.slack.dev/}.
"""

__all__: list[str] = []
