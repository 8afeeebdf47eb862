# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
Chat sessions, their platform references and message-id maps
(L{nextplane.storage.interfaces.ISessions}) as SQL programs.
"""

from __future__ import annotations

from datetime import datetime

from twisted.internet.defer import Deferred

from ...model.address import Address, ChatSessionId
from ..records import ChatSessionRecord
from .runtime import Op, Query, SQLBase, first_row, parse_address, to_datetime
from .schema import MESSAGE_MAP, SESSION_REFS, SESSIONS

__all__ = ["SessionsSQL"]


_PUT_SESSION_REF = SESSION_REFS.upsert()
_PUT_MESSAGE = MESSAGE_MAP.upsert()
_INSERT_SESSION = SESSIONS.insert(suffix=" ON CONFLICT (first_key, second_key) DO NOTHING")
_SELECT_SESSION = (
    "SELECT session_id, first, second, created_at FROM chat_sessions WHERE session_id = ?"
)


def _load_session(session_id: str) -> Op[ChatSessionRecord | None]:
    row = first_row((yield Query(_SELECT_SESSION, (session_id,))))
    if row is None:
        return None
    refs = yield Query(
        "SELECT platform, ref FROM session_refs WHERE session_id = ? ORDER BY platform",
        (session_id,),
    )
    return ChatSessionRecord(
        ChatSessionId(row[0]),
        parse_address(row[1]),
        parse_address(row[2]),
        to_datetime(row[3]),
        refs={platform: ref for platform, ref in refs},
    )


class SessionsSQL(SQLBase):
    """
    L{ISessions} for the SQL stores.
    """

    # chat sessions

    def get_or_create_session(
        self, first: Address, second: Address, now: datetime
    ) -> Deferred[ChatSessionRecord]:
        """
        The session between two addresses in either order, created at
        C{now} if missing. Safe against concurrent creators: the insert
        yields to an existing row and the row is then read back.
        """
        a, b = (first, second) if first.key <= second.key else (second, first)

        def op() -> Op[ChatSessionRecord]:
            new_id = ChatSessionId.new().value
            yield Query(_INSERT_SESSION, (new_id, a.key, b.key, str(a), str(b), now))
            rows = yield Query(
                "SELECT session_id FROM chat_sessions WHERE first_key = ? AND second_key = ?",
                (a.key, b.key),
            )
            record = yield from _load_session(rows[0][0])
            assert record is not None  # just read in this transaction
            return record

        return self._write(op())

    def get_session(self, session_id: ChatSessionId) -> Deferred[ChatSessionRecord | None]:
        """
        @return: A L{Deferred} firing with the session and its refs, or
            C{None}.
        """
        return self._read(_load_session(session_id.value))

    def set_session_ref(self, session_id: ChatSessionId, platform: str, ref: str) -> Deferred[None]:
        """
        Record C{platform}'s reference C{ref} for a session, replacing the
        session's earlier reference on that platform.
        """

        def op() -> Op[None]:
            yield Query(
                "DELETE FROM session_refs WHERE session_id = ? AND platform = ?",
                (session_id.value, platform),
            )
            yield Query(_PUT_SESSION_REF, (platform, ref, session_id.value))

        return self._write(op())

    def find_session_by_ref(self, platform: str, ref: str) -> Deferred[ChatSessionRecord | None]:
        """
        @return: A L{Deferred} firing with the session C{ref} refers to on
            C{platform}, or C{None}.
        """

        def op() -> Op[ChatSessionRecord | None]:
            sql = "SELECT session_id FROM session_refs WHERE platform = ? AND ref = ?"
            row = first_row((yield Query(sql, (platform, ref))))
            if row is None:
                return None
            return (yield from _load_session(row[0]))

        return self._read(op())

    # message-id maps

    def map_message(
        self, message_id: str, platform: str, native_id: str, session_id: ChatSessionId | None
    ) -> Deferred[None]:
        """
        Remember that hub message C{message_id} is C{native_id} on
        C{platform}. Idempotent; a later mapping of the same message on
        the same platform replaces the earlier one.
        """

        def op() -> Op[None]:
            yield Query(
                "DELETE FROM message_map WHERE message_id = ? AND platform = ? AND native_id <> ?",
                (message_id, platform, native_id),
            )
            session = None if session_id is None else session_id.value
            yield Query(_PUT_MESSAGE, (platform, native_id, message_id, session))

        return self._write(op())

    def find_message_id(self, platform: str, native_id: str) -> Deferred[str | None]:
        """
        @return: A L{Deferred} firing with the hub message id or C{None}.
        """

        def op() -> Op[str | None]:
            sql = "SELECT message_id FROM message_map WHERE platform = ? AND native_id = ?"
            row = first_row((yield Query(sql, (platform, native_id))))
            return None if row is None else str(row[0])

        return self._read(op())

    def find_native_id(self, message_id: str, platform: str) -> Deferred[str | None]:
        """
        @return: A L{Deferred} firing with the native id on C{platform} or
            C{None}.
        """

        def op() -> Op[str | None]:
            sql = "SELECT native_id FROM message_map WHERE message_id = ? AND platform = ?"
            row = first_row((yield Query(sql, (message_id, platform))))
            return None if row is None else str(row[0])

        return self._read(op())
