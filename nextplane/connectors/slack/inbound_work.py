# -*- test-case-name: tests.slack.test_inbound_work -*-
"""
Work records for Slack events (L{nextplane.work}).

  - L{claim}: every event delivery claims the record C{team:event_id}
    before Slack is answered, so an event is never acknowledged and then
    lost, and a retry (after a restart too) is handled once. Messages note
    their channel and C{ts}, where a notice would go.
  - L{not_delivered}: after a restart, the notice threaded to an unfinished
    message, naming it by time, never by content.
"""

from __future__ import annotations

from collections.abc import Mapping

from twisted.internet.defer import Deferred

from ...notices import not_delivered_text
from ...storage.records import WorkRecord
from ...work import WorkLog
from .webhook import SlackEvent
from .workspace import SlackWorkspace

__all__ = ["SOURCE", "claim", "not_delivered"]

SOURCE = "slack"


def claim(work: WorkLog, slack_event: SlackEvent) -> Deferred[WorkRecord | None]:
    """
    Claim C{slack_event}'s work record; see the module docstring.
    """
    event = slack_event.event
    message = event.get("type") == "message"
    return work.accept(
        source=SOURCE,
        origin=f"{slack_event.team_id}:{slack_event.event_id}",
        work_id=slack_event.event_id,
        sender=str(event.get("user") or ""),
        conversation=f"{slack_event.team_id}:{event.get('channel') or ''}",
        # Only a message is ever told it was not delivered.
        native_id=str(event.get("ts") or "") if message else "",
    )


async def not_delivered(workspaces: Mapping[str, SlackWorkspace], record: WorkRecord) -> bool:
    """
    Post the notice for unfinished C{record}, threaded to its message.

    @return: Whether there was a message and it was told (C{True} also when
        the record is no message: nothing is owed).
    """
    if not record.native_id:
        return True
    team, _, channel = record.conversation.partition(":")
    ws = workspaces.get(team)
    if ws is None or not channel:
        return False
    text = f":warning: {not_delivered_text(record.accepted_at)}"
    await ws.api().post_message(channel, text, thread_ts=record.native_id)
    return True
