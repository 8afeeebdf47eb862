"""
The Slack platform connector, an adapter on the platform kit
(L{nextplane.connectors.platform}): request signatures, mrkdwn and Block
Kit translation, the Web API's shapes, the Events API webhook, OAuth
installs, the Home tab, and the connector that serves tenants' Slack
workspaces (L{nextplane.connectors.slack.connector}).

Slack documentation: U{https://docs.slack.dev/}.
"""

__all__: list[str] = []
