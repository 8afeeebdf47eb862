# -*- test-case-name: tests.sip.test_inbound_work -*-
"""
Work records for messages received over SIP (L{nextplane.work}).

  - L{InboundWork.once}: a text a SIP request carried (a pager or in-dialog
    MESSAGE, the first message of an INVITE) claims the record of the
    request's transaction identity (L{origin_of}: Call-ID, CSeq and From
    tag) before it is routed, and the record goes to the router with it.
    A request with that identity again (a retransmission the transaction
    layer did not absorb, the same request re-sent after a restart) is a
    duplicate: never routed twice, it gets the answer the first one got
    (remembered in this process; after a restart, told by the record's
    state: delivered 200, still held for a platform 202, else not
    delivered).
  - L{not_delivered}: after a restart, what the sender of an unfinished
    record is owed. A message answered 202 (the router had it queued for a
    platform: the record was handed over) is owed a notice: an
    out-of-dialog C{text/plain} MESSAGE to the original From URI, from the
    hub user it was for (L{nextplane.notices.not_delivered_text}: time and
    recipient, never content). A message never answered 2xx (the record
    was only accepted) needs none: its peer saw no success.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cachetools import LRUCache
from twisted.logger import Logger

from ...interfaces import DeliveryFailed
from ...model.address import Address, ChatSessionId, InvalidAddress
from ...model.events import Event
from ...notices import RESTARTED, not_delivered_text
from ...router import Outcome
from ...storage.records import Decision, WorkRecord, WorkState
from ...work import WorkLog
from .addresses import address_of
from .core import SipCore
from .im import Content
from .message import Request
from .uri import SipSyntaxError, parse_uri

__all__ = ["SOURCE", "InboundWork", "not_delivered", "origin_of"]

log = Logger(namespace="nextplane.sip.connector")

#: The work records' source name.
SOURCE = "sip"

#: The condition a duplicate of a message that was not delivered is answered with.
_NOT_DELIVERED = "recipient-unavailable"

#: What a duplicate's first arrival became: decision, condition, reason.
Answer = tuple[Decision, str | None, str]


def origin_of(request: Request) -> str:
    """
    The transaction identity of C{request}, which a retransmission and a
    re-sent request share: C{Call-ID CSeq-number From-tag}.

    @raise SipSyntaxError: A header it needs is malformed.
    """
    return f"{request.call_id} {request.cseq.number} {request.from_.tag or ''}"


class InboundWork:
    """
    Claims the work record of each text received over SIP and answers its
    duplicates; see the module docstring.

    @param work: The hub's work log; without it nothing is claimed (every
        request is routed).
    @param remembered: How many answers are kept for duplicates in this
        process.
    """

    def __init__(self, work: WorkLog | None, remembered: int = 10_000) -> None:
        self._work = work
        self._answers: LRUCache[str, Answer] = LRUCache(remembered)
        #: Duplicates answered without routing.
        self.duplicates = 0

    async def once(
        self,
        request: Request,
        event: Event,
        session: ChatSessionId,
        route: Callable[[WorkRecord | None], Awaitable[Outcome]],
    ) -> Outcome:
        """
        Route C{event} (the text C{request} carried, in chat C{session})
        with C{route(record)} unless C{request} is a duplicate; a duplicate
        gets an outcome answering it as its first arrival was.
        """
        if self._work is None:
            return await route(None)
        origin = origin_of(request)
        record = await self._work.accept(
            source=SOURCE,
            origin=origin,
            work_id=event.event_id,
            sender=request.from_.uri.format(),
            recipient=str(event.recipient),
            conversation=session.value,
        )
        if record is None:
            self.duplicates += 1
            return await self._again(origin, event)
        try:
            outcome = await route(record)
        except BaseException:
            # It never reached the router; its peer is answered with an error.
            await self._work.move(record, WorkState.TOLD)
            raise
        self._answers[origin] = (outcome.decision, outcome.condition, outcome.reason)
        return outcome

    async def _again(self, origin: str, event: Event) -> Outcome:
        answer = self._answers.get(origin)
        if answer is None:
            assert self._work is not None
            answer = _answer_for(await self._work.find(SOURCE, origin))
        decision, condition, reason = answer
        return Outcome(event, decision, condition, reason)


def _answer_for(record: WorkRecord | None) -> Answer:
    # What a duplicate from before a restart is answered, by its record.
    if record is not None and record.state == WorkState.DELIVERED:
        return Decision.DELIVERED, None, ""
    if record is not None and record.state == WorkState.HANDED_OVER:
        return Decision.QUEUED, None, ""
    return Decision.FAILED, _NOT_DELIVERED, f"not delivered: {RESTARTED}"


async def not_delivered(core: SipCore, record: WorkRecord) -> bool:
    """
    After a restart: tell the sender of unfinished C{record} what it is
    owed; see the module docstring.

    @return: Whether it was told (C{True} also when nothing is owed).
    """
    if record.state != WorkState.HANDED_OVER:
        return True  # never answered 2xx: the peer saw no success
    try:
        target = parse_uri(record.sender)
        remote = address_of(target)
        hub_user = Address.parse(record.recipient)
    except (SipSyntaxError, InvalidAddress, ValueError):
        log.info("no SIP sender to tell of an undelivered message ({origin})", origin=record.origin)
        return False
    text = not_delivered_text(record.accepted_at, record.recipient)
    content = Content("text/plain;charset=UTF-8", text.encode("utf-8"))
    try:
        flow = await core.connect(remote.domain, hub_user.domain)
        tx = core.send(core.pager(hub_user, record.sender, content), flow)
        response = await core.final(tx, remote.domain)
    except DeliveryFailed as e:
        log.info(
            "could not tell {domain} of an undelivered message: {reason}",
            domain=remote.domain,
            reason=e.reason,
        )
        return False
    return 200 <= response.status < 300
