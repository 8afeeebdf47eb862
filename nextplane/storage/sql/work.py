# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Work records (L{nextplane.storage.interfaces.IWork}) as SQL programs: ids
and state of each accepted message, never its content.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet.defer import Deferred

from ..records import WorkRecord, WorkState
from .runtime import Op, Query, Row, SQLBase, to_datetime
from .schema import WORK

__all__ = ["WorkSQL"]


_CLAIM = WORK.insert(suffix=" ON CONFLICT (source, origin) DO NOTHING RETURNING work_id")
_UNFINISHED = (
    f"{WORK.select} WHERE state IN ('{WorkState.ACCEPTED.value}', "
    f"'{WorkState.HANDED_OVER.value}') ORDER BY accepted_at, source, origin"
)
_FIND = f"{WORK.select} WHERE source = ? AND origin = ?"
_FINISHED = ", ".join(f"'{s.value}'" for s in WorkState if s.finished)


def _work(row: Row) -> WorkRecord:
    source, origin, work_id, sender, recipient, conversation, native, delivered, state, at, up = row
    return WorkRecord(
        source=source,
        origin=origin,
        work_id=work_id,
        sender=sender,
        recipient=recipient,
        conversation=conversation,
        native_id=native,
        delivered_id=delivered,
        state=state,
        accepted_at=to_datetime(at),
        updated_at=to_datetime(up),
    )


class WorkSQL(SQLBase):
    """
    L{IWork} for the SQL stores.
    """

    def claim_work(self, record: WorkRecord) -> Deferred[bool]:
        """
        Insert C{record} unless its (source, origin) is known.
        @return: A L{Deferred} firing with C{False} for a duplicate.
        """

        def op() -> Op[bool]:
            r = record
            params = (
                r.source,
                r.origin,
                r.work_id,
                r.sender,
                r.recipient,
                r.conversation,
                r.native_id,
                r.delivered_id,
                r.state.value,
                r.accepted_at,
                r.updated_at,
            )
            return bool((yield Query(_CLAIM, params)))

        return self._write(op())

    def update_work(
        self, source: str, origin: str, state: WorkState, now: datetime, delivered_id: str = ""
    ) -> Deferred[None]:
        """
        Move the record of (C{source}, C{origin}) to C{state}.
        """

        def op() -> Op[None]:
            yield Query(
                "UPDATE work_records SET state = ?, updated_at = ?, "
                "delivered_id = CASE WHEN ? = '' THEN delivered_id ELSE ? END "
                "WHERE source = ? AND origin = ?",
                (state.value, now, delivered_id, delivered_id, source, origin),
            )

        return self._write(op())

    def unfinished_work(self) -> Deferred[list[WorkRecord]]:
        """
        @return: A L{Deferred} firing with the unfinished records, oldest
            first.
        """

        def op() -> Op[list[WorkRecord]]:
            return [_work(row) for row in (yield Query(_UNFINISHED))]

        return self._read(op())

    def find_work(self, source: str, origin: str) -> Deferred[WorkRecord | None]:
        """
        @return: A L{Deferred} firing with the record of (C{source},
            C{origin}), or C{None}.
        """

        def op() -> Op[WorkRecord | None]:
            rows = yield Query(_FIND, (source, origin))
            return _work(rows[0]) if rows else None

        return self._read(op())

    def prune_work(self, before: datetime) -> Deferred[int]:
        """
        Delete finished records last updated before C{before}.
        """

        def op() -> Op[int]:
            sql = (
                f"DELETE FROM work_records WHERE state IN ({_FINISHED}) AND updated_at < ? "
                "RETURNING source"
            )
            return len((yield Query(sql, (before,))))

        return self._write(op())
