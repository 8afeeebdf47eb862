# -*- test-case-name: tests.teams.test_inbound_work -*-
"""
Work records for messages from Teams users (L{nextplane.work}).

  - L{claim}: a C{message} activity claims the record
    C{tenant:conversation:activity id} before the channel is answered
    (L{acknowledged}), so a message is never acknowledged and then lost,
    and the channel's retry of it (after a restart too) is handled once.
    Other activities are not claimed: edits and deletions reuse the id of
    their message, and typing or reactions owe nobody a notice.
  - L{not_delivered}: after a restart, the notice posted into the Teams
    chat as a reply to an unfinished message (C{replyToId}), naming it by
    time, never by content.
"""

from __future__ import annotations

from collections.abc import Mapping

from twisted.internet.defer import Deferred

from ...notices import not_delivered_text
from ...storage.records import WorkRecord
from ...work import WorkLog
from .activity import Message
from .api import ConversationRef, message_activity, reply_to_activity
from .tenant import TeamsTenant

__all__ = ["ACK_BUDGET", "SOURCE", "claim", "not_delivered"]

#: The work records' source name.
SOURCE = "teams"

#: Seconds the channel waits for a durable claim before it is answered
#: anyway (it gives 15 s; a slow store must not make it resend).
ACK_BUDGET = 5.0


def claim(work: WorkLog, tenant_id: str, message: Message) -> Deferred[WorkRecord | None]:
    """
    Claim C{message}'s work record; see the module docstring.
    """
    conversation = f"{tenant_id}:{message.conversation.conversation_id}"
    return work.accept(
        source=SOURCE,
        origin=f"{conversation}:{message.id}",
        work_id=message.id,
        sender=message.sender.id,
        conversation=conversation,
        native_id=message.id,
    )


async def not_delivered(tenants: Mapping[str, TeamsTenant], record: WorkRecord) -> bool:
    """
    Post the notice for unfinished C{record} as a reply to its message.

    @return: Whether it was posted.
    """
    tenant_id, _, conversation = record.conversation.partition(":")
    tenant = tenants.get(tenant_id)
    if tenant is None or not conversation or not record.native_id:
        return False
    ref = ConversationRef(tenant.service_url, conversation, tenant_id, tenant.bot_id)
    notice = message_activity(f"⚠️ {not_delivered_text(record.accepted_at)}")
    await tenant.rest.call(reply_to_activity(ref, record.native_id, notice))
    return True
