# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Message refs (L{nextplane.storage.interfaces.IMessageRefs}) as SQL
programs: platform message ids, their contacts and threads, never content.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet.defer import Deferred

from ...model.address import Address
from ..records import MessageRef
from .runtime import Op, Query, Row, SQLBase
from .schema import MESSAGE_REFS

__all__ = ["MessageRefsSQL"]

_PUT = MESSAGE_REFS.upsert()
_FIND = f"{MESSAGE_REFS.select} WHERE platform = ? AND conversation = ? AND native_id = ?"
_BY_HUB = (
    f"{MESSAGE_REFS.select} WHERE platform = ? AND hub_id = ? "
    "ORDER BY created_at, native_id LIMIT 1"
)
_THREAD = (
    f"{MESSAGE_REFS.select} WHERE platform = ? AND conversation = ? AND contact = ? "
    "AND starts_thread = 1 ORDER BY created_at DESC, native_id DESC LIMIT 1"
)


def _first(rows: list[Row]) -> MessageRef | None:
    return MessageRef.from_row(rows[0]) if rows else None


class MessageRefsSQL(SQLBase):
    """
    L{IMessageRefs} for the SQL stores.
    """

    def put_message_ref(self, ref: MessageRef) -> Deferred[None]:
        """
        Insert or replace C{ref}.
        """

        def op() -> Op[None]:
            yield Query(_PUT, ref.row())

        return self._write(op())

    def find_message_ref(
        self, platform: str, conversation: str, native_id: str
    ) -> Deferred[MessageRef | None]:
        """
        @return: A L{Deferred} firing with the ref of a platform message.
        """

        def op() -> Op[MessageRef | None]:
            return _first((yield Query(_FIND, (platform, conversation, native_id))))

        return self._read(op())

    def message_ref_by_hub(self, platform: str, hub_id: str) -> Deferred[MessageRef | None]:
        """
        @return: A L{Deferred} firing with the first ref of a hub message.
        """

        def op() -> Op[MessageRef | None]:
            return _first((yield Query(_BY_HUB, (platform, hub_id))))

        return self._read(op())

    def thread_start(
        self, platform: str, conversation: str, contact: Address
    ) -> Deferred[MessageRef | None]:
        """
        @return: A L{Deferred} firing with the newest thread start.
        """

        def op() -> Op[MessageRef | None]:
            return _first((yield Query(_THREAD, (platform, conversation, str(contact)))))

        return self._read(op())

    def prune_message_refs(self, before: datetime) -> Deferred[int]:
        """
        Delete refs created before C{before}.
        """

        def op() -> Op[int]:
            sql = "DELETE FROM message_refs WHERE created_at < ? RETURNING native_id"
            return len((yield Query(sql, (before,))))

        return self._write(op())
