# -*- test-case-name: tests.xmpp.test_inbound_work -*-
"""
Work records for messages received over XMPP (L{nextplane.work}).

  - L{claim}: a received message with a stanza id claims the record
    C{full JID + stanza id}; the same stanza sent again (a client's resend,
    a stream resumed after a restart) is then routed once.
  - L{receipt_when_settled}: the XEP-0184 receipt goes out only once every
    event of the stanza was delivered, also when a platform held one back
    for its rate limit.
  - L{not_delivered}: after a restart, the message error that tells the
    sending client a message was not delivered: it carries the original
    stanza id, so clients mark that very message failed, and names the
    message by time, never content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.words.xish.domish import Element

from ...model.address import ChatSessionId
from ...model.events import Category, Event
from ...storage.records import WorkRecord
from ...work import WorkLog
from .received import Received
from .replies import build_error

__all__ = ["claim", "not_delivered", "receipt_when_settled"]

SOURCE = "xmpp"


def claim(
    work: WorkLog | None, received: Received, session: ChatSessionId
) -> Deferred[WorkRecord | None] | None:
    """
    Claim the work record of a received message.

    @return: C{None} when the stanza needs no record (not a message, no
        stanza id, no work log); else a L{Deferred} firing with the record,
        or with C{None} for a stanza seen before.
    """
    if work is None or received.stanza_id is None or received.sender_jid is None:
        return None
    if received.sender is None or received.recipient is None:
        return None
    if not any(p.event.category == Category.IM for p in received.pending):
        return None
    return work.accept(
        source=SOURCE,
        origin=f"{received.sender_jid} {received.stanza_id}",
        work_id=received.pending[0].event.event_id,
        sender=received.sender_jid,
        recipient=str(received.recipient),
        conversation=session.value,
        native_id=received.stanza_id,
    )


def receipt_when_settled(
    outcomes: Sequence[Any], receipt: Element | None, send: Callable[[Element], None]
) -> None:
    """
    Send C{receipt} once every one of C{outcomes} (router outcomes,
    delivered or queued) is delivered; never for one that failed (its
    sender gets an error instead).
    """
    if receipt is None:
        return
    pending = [o.settled for o in outcomes if o.queued and o.settled is not None]
    if not pending:
        send(receipt)
        return

    def settled(finals: list[Any]) -> None:
        if all(final.delivered for final in finals):
            send(receipt)

    gatherResults(pending).addCallback(settled)


def not_delivered(record: WorkRecord) -> Element:
    """
    The message error telling C{record}'s sender (its full JID) that the
    message with its stanza id was not delivered.
    """
    sent = record.accepted_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return build_error(
        "message",
        record.recipient,
        record.sender,
        record.native_id,
        "recipient-unavailable",
        f"not delivered: the hub restarted before {record.recipient} received "
        f"your message of {sent}; please send it again",
    )


def wants_record(event: Event) -> bool:
    """
    Whether C{event} is the message a claimed record follows.
    """
    return event.category == Category.IM
