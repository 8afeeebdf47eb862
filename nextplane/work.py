# -*- test-case-name: tests.test_work -*-
"""
Work records: what the hub owes for each message it accepted.

L{WorkLog} is the one writer of work records
(L{nextplane.storage.records.WorkRecord}, ids and state only). A connector
claims a record when it accepts a message, before it answers its peer
(L{WorkLog.accept}); the claim is also the dedupe, so a retry with the same
source id, even after a restart, is refused. The router moves the record
along as the message goes: C{accepted} -> C{handed_over} (held by a
platform's rate limit) -> C{delivered} | C{told} (the sender was told it
was not delivered) | C{failed} (not delivered, and telling failed too).

At start-up L{WorkLog.recover} finds the records the previous process left
unfinished and has the source connector tell each sender that the message
was not delivered (naming it by time and conversation, never content), then
closes them. Finished records are kept for C{keep} seconds, longer than any
platform's retry schedule, then pruned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from .storage.interfaces import IWork
from .storage.records import WorkRecord, WorkState

__all__ = ["Teller", "WorkLog", "WorkService"]

log = Logger()

#: Tells the sender of an unfinished record that it was not delivered;
#: fires with whether the notice went out.
Teller = Callable[[WorkRecord], Awaitable[bool]]


class WorkLog:
    """
    The one writer of work records; see the module docstring.

    @param keep: Seconds a finished record is kept (the dedupe window).
    """

    def __init__(self, store: IWork, clock: IReactorTime, keep: float = 3600.0) -> None:
        self._store = store
        self._clock = clock
        self.keep = keep

    def now(self) -> datetime:
        """
        The clock's time, as records hold it.
        """
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def accept(
        self,
        *,
        source: str,
        origin: str,
        work_id: str,
        sender: str,
        recipient: str = "",
        conversation: str = "",
        native_id: str = "",
    ) -> Deferred[WorkRecord | None]:
        """
        Claim the record of a message just accepted from C{source}.

        @param origin: Its id at the source, unique there (see
            L{WorkRecord.origin}).
        @return: A L{Deferred} firing, once the record is durable, with it;
            or with C{None} when C{origin} was seen before (a duplicate,
            not to be routed again).
        """
        now = self.now()
        record = WorkRecord(
            source=source,
            origin=origin,
            work_id=work_id,
            sender=sender,
            recipient=recipient,
            conversation=conversation,
            native_id=native_id,
            accepted_at=now,
            updated_at=now,
        )

        def claimed(fresh: bool) -> WorkRecord | None:
            if not fresh:
                log.info(
                    "{source} {origin} was seen before: not routed again",
                    source=source,
                    origin=origin,
                )
            return record if fresh else None

        return self._store.claim_work(record).addCallback(claimed)  # type: ignore[no-any-return]

    def move(
        self, record: WorkRecord | None, state: WorkState, delivered_id: str = ""
    ) -> Deferred[None]:
        """
        Move C{record} to C{state} (nothing for C{None}: a message with no
        record, such as a notice the hub made itself).
        """
        if record is None:
            d: Deferred[None] = Deferred()
            d.callback(None)
            return d
        return self._store.update_work(  # type: ignore[no-any-return]
            record.source, record.origin, state, self.now(), delivered_id
        )

    def find(self, source: str, origin: str) -> Deferred[WorkRecord | None]:
        """
        The record of C{origin} from C{source} as it stands (what became of
        a message whose duplicate just came in), or C{None} if none is kept.
        """
        return self._store.find_work(source, origin)  # type: ignore[no-any-return]

    def prune(self) -> Deferred[int]:
        """
        Delete finished records older than C{keep}. @return: How many.
        """
        cut = self.now() - timedelta(seconds=self.keep)
        return self._store.prune_work(cut)  # type: ignore[no-any-return]

    def recover(self, tellers: Mapping[str, Teller], before: datetime) -> Deferred[dict[str, int]]:
        """
        Tell the sender of every unfinished record accepted C{before} (by
        an earlier process: this one's own are under way) that their
        message was not delivered, through the teller of its source, then
        close it: C{told}, or C{failed} when there is no teller or telling
        failed.

        @return: A L{Deferred} firing with counts by final state.
        """
        return Deferred.fromCoroutine(self._recover(tellers, before))

    async def _recover(self, tellers: Mapping[str, Teller], before: datetime) -> dict[str, int]:
        counts = {WorkState.TOLD.value: 0, WorkState.FAILED.value: 0}
        unfinished = await self._store.unfinished_work()
        for record in (r for r in unfinished if r.accepted_at < before):
            teller = tellers.get(record.source)
            told = False
            if teller is not None:
                try:
                    told = await teller(record)
                except Exception:
                    log.failure(
                        "telling the sender of {source} {origin} failed",
                        source=record.source,
                        origin=record.origin,
                    )
            state = WorkState.TOLD if told else WorkState.FAILED
            counts[state.value] += 1
            await self.move(record, state)
        if any(counts.values()):
            log.info(
                "after the restart: {told} senders told of undelivered messages, "
                "{failed} could not be told",
                told=counts[WorkState.TOLD.value],
                failed=counts[WorkState.FAILED.value],
            )
        return counts


class WorkService(Service):
    """
    Recovery at start-up and pruning of old records, for the hub's
    service tree.

    @param tellers: By source name, what tells a sender (looked up when
        recovery runs, so connectors may be added after this is made).
    @param recover_after: Seconds after start before recovery runs, so
        connectors have their streams and tokens.
    @param prune_every: Seconds between prunings.
    """

    def __init__(
        self,
        work: WorkLog,
        clock: IReactorTime,
        tellers: Mapping[str, Teller],
        recover_after: float = 2.0,
        prune_every: float = 600.0,
    ) -> None:
        self._work = work
        self._clock = clock
        self._tellers = tellers
        self._recover_after = recover_after
        self._prune = LoopingCall(self._prune_once)
        self._prune.clock = clock
        self._prune_every = prune_every
        self._pending: IDelayedCall | None = None
        #: Fires with recovery's counts once it ran.
        self.recovered: Deferred[dict[str, int]] = Deferred()

    def startService(self) -> None:
        """
        Schedule recovery and start pruning.
        """
        super().startService()
        # Records from before this start are the previous process's.
        started = self._work.now()
        self._pending = self._clock.callLater(self._recover_after, self._recover, started)
        self._prune.start(self._prune_every, now=False)

    def stopService(self) -> None:
        """
        Cancel what has not run yet.
        """
        super().stopService()
        if self._pending is not None and self._pending.active():
            self._pending.cancel()
        if self._prune.running:
            self._prune.stop()

    def _recover(self, started: datetime) -> None:
        self._pending = None

        def failed(failure: Failure) -> dict[str, int]:
            log.failure("recovering work records failed", failure)
            return {}

        recovering = self._work.recover(self._tellers, started)
        recovering.addErrback(failed).chainDeferred(self.recovered)

    def _prune_once(self) -> Deferred[None]:
        def done(count: int) -> None:
            if count:
                log.debug("pruned {count} finished work records", count=count)

        d = self._work.prune().addCallback(done)
        return d.addErrback(lambda f: log.failure("pruning work records failed", f))
