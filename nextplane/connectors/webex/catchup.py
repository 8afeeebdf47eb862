# -*- test-case-name: tests.webex.test_security -*-
"""
Webex deliveries claimed as work records, and the catch-up at start.

Every delivery is claimed in the store before it is handled
(L{nextplane.work.WorkLog}, ids only): a posted message by its message
id, anything else by C{resource:event:data.id}. The claim is the dedupe,
so a replayed delivery, even after a restart, is handled once.

Webex offers no replay of webhook deliveries, and disables a webhook
after 100 failures within 5 minutes. So at start the hub lists each known
user's direct space with the bot (C{GET /messages/direct?personId=...},
newest first) and hands on, oldest first, the recent messages of users
that it has not claimed yet: at most L{PER_SPACE} per space, none older
than the work log keeps claims (older ones may have been handled and
their claims pruned). What cannot be caught up: edits and deletions made
meanwhile (Webex tells neither in a message list), card answers, and the
spaces of people the hub has never heard from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ...interfaces import IStore
from ...notices import not_delivered_text
from ...storage.records import WorkRecord
from ...work import WorkLog
from .api import (
    Message,
    OutgoingMessage,
    create_message,
    list_direct_messages,
    parse_messages,
)
from .events import Envelope, MessageCreated
from .rest import WebexRest

__all__ = ["PER_SPACE", "SOURCE", "catch_up", "claim", "not_delivered"]

log = Logger()

#: The work records' source name.
SOURCE = "webex"

#: The most messages caught up per direct space.
PER_SPACE = 50


def _origin(message_id: str) -> str:
    # One origin for a message, whether a webhook or the catch-up saw it.
    return f"message:{message_id}"


def claim(work: WorkLog, envelope: Envelope) -> Deferred[WorkRecord | None]:
    """
    Claim C{envelope}'s work record: fires with it, or C{None} for a replay.
    """
    item = envelope.item
    return work.accept(
        source=SOURCE,
        origin=_origin(item.message_id)
        if isinstance(item, MessageCreated)
        else envelope.dedupe_key,
        work_id=envelope.data_id,
        sender=envelope.actor_id or "",
        conversation=str(getattr(item, "room_id", "") or ""),
        # Only a message is ever told it was not delivered.
        native_id=item.message_id if isinstance(item, MessageCreated) else "",
    )


async def not_delivered(rest: WebexRest, record: WorkRecord) -> bool:
    """
    After a restart: tell the sender of unfinished C{record}, in a thread
    on their message, that it was not delivered (by time, never content).

    @return: Whether it was told (C{True} also for no message: nothing is owed).
    """
    if not record.native_id:
        return True
    if not record.conversation:
        return False
    text = not_delivered_text(record.accepted_at)
    outgoing = OutgoingMessage(
        room_id=record.conversation, markdown=text, text=text, parent_id=record.native_id
    )
    await rest.call(create_message(outgoing))
    return True


def _recent(message: Message, since: datetime) -> bool:
    try:
        created = datetime.fromisoformat(message.created or "")
    except ValueError:
        return False
    return created >= since


async def catch_up(
    *,
    rest: WebexRest,
    store: IStore,
    work: WorkLog,
    domains: Iterable[str],
    platform: str,
    me: str | None,
    handle: Callable[[MessageCreated, WorkRecord], None],
) -> int:
    """
    Hand the unclaimed recent messages of every known user's direct space
    to C{handle}, oldest first; see the module docstring.

    @return: How many were handed on.
    """
    since = work.now() - timedelta(seconds=work.keep)
    count = 0
    for domain in domains:
        for user in await store.list_users(domain):
            if user.platform != platform:
                continue
            try:
                page = parse_messages(await rest.call(list_direct_messages(user.platform_id)))
            except Exception:
                log.failure("Webex: the direct space of a user could not be caught up")
                continue
            recent = [
                m
                for m in page[:PER_SPACE]
                if m.person_id is not None and m.person_id != me and _recent(m, since)
            ]
            for message in reversed(recent):
                record = await work.accept(
                    source=SOURCE,
                    origin=_origin(message.id),
                    work_id=message.id,
                    sender=message.person_id or "",
                    conversation=message.room_id or "",
                    native_id=message.id,
                )
                if record is None:
                    continue  # handled before the webhooks stopped
                count += 1
                handle(
                    MessageCreated(
                        message.id,
                        message.room_id or "",
                        message.person_id,
                        message.person_email,
                        message.room_type or "direct",
                    ),
                    record,
                )
    if count:
        log.info("Webex: caught up on {count} messages missed while away", count=count)
    return count
