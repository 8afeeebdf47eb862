"""
The Slack platform connector: request signatures, mrkdwn and Block Kit
translation, the Web API client and (later) the Events API webhook.

Slack documentation: U{https://docs.slack.dev/}.
"""

__all__: list[str] = []
