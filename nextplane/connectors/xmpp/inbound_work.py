# -*- test-case-name: tests.xmpp.test_inbound_work -*-
"""
Work records for messages received over XMPP (L{nextplane.work}).

  - L{claim}: a received chat message with a stanza id claims the record
    C{full JID + stanza id} as soon as it is read; the same stanza sent
    again (a client's resend, a stream resumed after a restart) is then
    routed once. L{durable_once_claimed}: from then on a crash cannot
    lose it, so stream management may acknowledge it.
  - L{receipt_when_settled}: the XEP-0184 receipt goes out only once every
    event of the stanza was delivered, also when a platform held one back
    for its rate limit.
  - L{SenderJids}: while a message waits at its destination, the full
    JID that sent it, so a later failure's message error reaches that
    client (a server drops a message error addressed to a bare JID, RFC
    6121 8.5.2.1.1, and the router's late notice names only the bare
    address).
  - L{not_delivered}: after a restart, the message error that tells the
    sending client a message was not delivered: it carries the original
    stanza id, so clients mark that very message failed, and names the
    message by time, never content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.python.failure import Failure
from twisted.words.xish.domish import Element

from ...model.events import Category, DeliveryError, Event, new_event_id
from ...storage.records import WorkRecord, WorkState
from ...work import WorkLog
from .replies import build_error

__all__ = [
    "SenderJids",
    "claim",
    "durable_once_claimed",
    "handled_once",
    "not_delivered",
    "receipt_when_settled",
]

SOURCE = "xmpp"


def claim(work: WorkLog | None, element: Element) -> Deferred[WorkRecord | None] | None:
    """
    Claim the work record of a received chat message as soon as it is
    read (before it waits for its turn), so a crash loses none unrecorded.

    @return: C{None} when the stanza needs no record (not a message with a
        body, no stanza id or sender, no work log); else a L{Deferred}
        firing with the record, or with C{None} for a stanza seen before.
    """
    if work is None or element.name != "message":
        return None
    if element.getAttribute("type") not in (None, "chat", "normal"):
        return None
    sender, stanza_id = element.getAttribute("from"), element.getAttribute("id")
    recipient = element.getAttribute("to")
    if not sender or not stanza_id or not recipient:
        return None
    if not any(child.name == "body" for child in element.elements()):
        return None
    return work.accept(
        source=SOURCE,
        origin=f"{sender} {stanza_id}",
        work_id=new_event_id(),
        sender=sender,
        recipient=recipient,
        native_id=stanza_id,
    )


def durable_once_claimed(claiming: Deferred[WorkRecord | None]) -> Deferred[bool]:
    """
    Fires with C{True} once C{claiming} wrote (or found) the work record,
    C{False} if it failed. C{claiming}'s result is passed on untouched.
    """
    durable: Deferred[bool] = Deferred()

    def claimed(result: object) -> object:
        durable.callback(not isinstance(result, Failure))
        return result

    claiming.addBoth(claimed)
    return durable


async def handled_once(
    work: WorkLog | None,
    claiming: Deferred[WorkRecord | None] | None,
    handle: Callable[[WorkRecord | None, list[WorkRecord]], Awaitable[None]],
) -> None:
    """
    Run C{handle(record, routed)} for a stanza whose claim is C{claiming}
    unless it is a duplicate. C{handle} appends the record to C{routed}
    when it gives it to the router; one the router never got (the stanza
    was refused here, or gave no message) is closed: its sender was
    answered.
    """
    record = await claiming if claiming is not None else None
    if claiming is not None and record is None:
        return  # the same stanza again: routed once
    routed: list[WorkRecord] = []
    try:
        await handle(record, routed)
    finally:
        if record is not None and not routed and work is not None:
            await work.move(record, WorkState.TOLD)


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


class SenderJids:
    """
    The full JID that sent each message still queued at its destination,
    by hub message id, until the message is settled (at most C{limit}:
    past it the oldest is forgotten and its late error goes to the bare
    JID).
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._jids: dict[str, str] = {}
        self._limit = limit

    def __len__(self) -> int:
        return len(self._jids)

    def get(self, message_id: str) -> str | None:
        """
        The full JID that sent message C{message_id}, if it still waits.
        """
        return self._jids.get(message_id)

    def remember(self, outcomes: Sequence[Any], sender_jid: str | None) -> None:
        """
        Keep C{sender_jid} for each queued message of C{outcomes} (router
        outcomes) until it is settled.
        """
        for outcome in outcomes:
            message_id = getattr(outcome.event, "message_id", None)
            if not (outcome.queued and outcome.settled and message_id and sender_jid):
                continue
            if len(self._jids) >= self._limit:
                del self._jids[next(iter(self._jids))]
            self._jids[message_id] = sender_jid
            outcome.settled.addBoth(self._forget, message_id)

    def _forget(self, result: object, message_id: str) -> object:
        self._jids.pop(message_id, None)
        return result

    def address(self, event: Event, stanzas: Sequence[Element]) -> None:
        """
        Send the stanzas of a late L{DeliveryError} to the full JID that
        sent the failed message, when it is known.
        """
        if isinstance(event, DeliveryError) and event.message_id:
            jid = self._jids.get(event.message_id)
            for stanza in stanzas if jid is not None else ():
                stanza["to"] = jid


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
