# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
The metadata log and usage aggregates (L{nextplane.storage.interfaces.IMetadata})
as SQL programs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from twisted.internet.defer import Deferred

from ..memory import check_group_by, group_usage
from ..records import MetadataQuery, MetadataRecord, UsageRow, usage_contribution
from .runtime import Op, Query, Row, SQLBase, to_date, to_datetime, where_clause
from .schema import METADATA, USAGE_MESSAGES, USAGE_USERS

__all__ = ["MetadataSQL"]


_INSERT_METADATA = METADATA.insert(METADATA.columns[1:], " RETURNING id")
_COUNT_USER = USAGE_USERS.upsert()
_COUNT_MESSAGES = USAGE_MESSAGES.upsert(add=("messages",))


def _metadata(row: Row) -> MetadataRecord:
    record_id, ts, sender, receiver, category, kind, session_id, decision, reason, *rest = row
    tenant, remote_domain, platform = rest
    return MetadataRecord(
        timestamp=to_datetime(ts),
        sender=sender,
        receiver=receiver,
        category=category,
        kind=kind,
        session_id=session_id,
        decision=decision,
        reason=reason,
        tenant=tenant,
        remote_domain=remote_domain,
        platform=platform,
        record_id=int(record_id),
    )


_GROUP_FIELDS = ("tenant", "remote_domain", "platform")


class MetadataSQL(SQLBase):
    """
    L{IMetadata} for the SQL stores.
    """

    # metadata log and usage

    def append_metadata(self, record: MetadataRecord) -> Deferred[int]:
        """
        Append C{record} and add its L{usage_contribution} to the daily
        aggregates, in one transaction.

        @return: A L{Deferred} firing with the new record's id.
        """
        contribution = usage_contribution(record)

        def op() -> Op[int]:
            r = record
            rows = yield Query(
                _INSERT_METADATA,
                (
                    r.timestamp,
                    r.sender,
                    r.receiver,
                    r.category,
                    r.kind,
                    r.session_id,
                    r.decision.value,
                    r.reason,
                    r.tenant,
                    r.remote_domain,
                    r.platform,
                ),
            )
            if contribution is not None:
                c = contribution
                group = (c.day, c.tenant, c.remote_domain, c.platform)
                yield Query(_COUNT_USER, (*group, c.user))
                yield Query(_COUNT_MESSAGES, (*group, c.messages))
            return int(rows[0][0])

        return self._write(op())

    def query_metadata(self, query: MetadataQuery) -> Deferred[list[MetadataRecord]]:
        """
        @return: A L{Deferred} firing with the records passing every filter
            of C{query}, ordered by time then id, paged by its limit and
            offset.
        """
        q = query
        where, params = where_clause(
            [
                ("session_id = ?", q.session_id),
                # Both sides through lower() so exact case always matches.
                ("(lower(sender) = lower(?) OR lower(receiver) = lower(?))", q.user, q.user),
                ("remote_domain = ?", q.remote_domain),
                ("tenant = ?", q.tenant),
                ("category = ?", q.category),
                ("kind = ?", q.kind),
                ("ts >= ?", q.since),
                ("ts < ?", q.until),
            ]
        )

        def op() -> Op[list[MetadataRecord]]:
            sql = f"{METADATA.select}{where} ORDER BY ts, id LIMIT ? OFFSET ?"
            rows = yield Query(sql, (*params, q.limit, q.offset))
            return [_metadata(row) for row in rows]

        return self._read(op())

    def usage(
        self, since: date, until: date, group_by: Iterable[str], tenant: str | None = None
    ) -> Deferred[list[UsageRow]]:
        """
        Daily unique users and messages from C{since} (inclusive) to
        C{until} (exclusive), grouped by day and the fields in C{group_by}.
        The database narrows the rows to the wanted grouping;
        L{group_usage} folds them exactly as the memory store does.

        @raise ValueError: If C{group_by} names an unknown field.
        @return: A L{Deferred} firing with L{UsageRow}s ordered by day then
            group.
        """
        fields = check_group_by(group_by)
        where, params = where_clause(
            [("day >= ?", since), ("day < ?", until), ("tenant = ?", tenant)]
        )
        columns = ", ".join(("day", *fields))

        def group(row: Row) -> tuple[date, str, str, str]:
            # Back to (day, tenant, remote_domain, platform) for group_usage.
            values = dict(zip(fields, row[1:-1]))
            by_tenant, by_remote, by_platform = (values.get(f, "") for f in _GROUP_FIELDS)
            return (to_date(row[0]), by_tenant, by_remote, by_platform)

        def op() -> Op[list[UsageRow]]:
            users = yield Query(
                f"SELECT DISTINCT {columns}, user_key FROM usage_users{where}", params
            )
            messages = yield Query(
                f"SELECT {columns}, SUM(messages) FROM usage_messages{where} GROUP BY {columns}",
                params,
            )
            return group_usage(
                [(*group(row), str(row[-1])) for row in users],
                [(*group(row), int(row[-1])) for row in messages],
                fields,
            )

        return self._read(op())
