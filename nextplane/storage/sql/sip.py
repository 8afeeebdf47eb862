# -*- test-case-name: tests.storage.test_sqlite,tests.storage.test_postgres -*-
"""
SIP presence subscriptions' dialogs
(L{nextplane.storage.interfaces.ISipSubscriptions}) as SQL programs: ids,
routing, state and expiry, never a presence document.
"""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred

from ..records import SipSubscriptionRecord
from .runtime import Op, Query, Row, SQLBase, parse_address, to_datetime
from .schema import SIP_SUBSCRIPTIONS

__all__ = ["SipSubscriptionsSQL"]

_PUT = SIP_SUBSCRIPTIONS.upsert()


def _record(row: Row) -> SipSubscriptionRecord:
    (
        call_id,
        local_tag,
        role,
        hub_user,
        remote,
        remote_tag,
        local_uri,
        remote_uri,
        remote_target,
        route_set,
        local_seq,
        remote_seq,
        local_contact,
        secure,
        state,
        expires_at,
    ) = row
    return SipSubscriptionRecord(
        role=role,
        hub_user=parse_address(hub_user),
        remote=parse_address(remote),
        call_id=call_id,
        local_tag=local_tag,
        remote_tag=remote_tag,
        local_uri=local_uri,
        remote_uri=remote_uri,
        remote_target=remote_target,
        route_set=tuple(json.loads(route_set)),
        local_seq=None if local_seq is None else int(local_seq),
        remote_seq=None if remote_seq is None else int(remote_seq),
        local_contact=local_contact,
        secure=bool(secure),
        state=state,
        expires_at=to_datetime(expires_at),
    )


class SipSubscriptionsSQL(SQLBase):
    """
    L{ISipSubscriptions} for the SQL stores.
    """

    def put_sip_subscription(self, record: SipSubscriptionRecord) -> Deferred[None]:
        """
        Insert or replace C{record} by (call_id, local_tag).
        """

        def op() -> Op[None]:
            yield Query(_PUT, record.row())

        return self._write(op())

    def remove_sip_subscription(self, call_id: str, local_tag: str) -> Deferred[bool]:
        """
        @return: A L{Deferred} firing with whether a subscription was
            removed.
        """

        def op() -> Op[bool]:
            sql = (
                "DELETE FROM sip_subscriptions WHERE call_id = ? AND local_tag = ? "
                "RETURNING call_id"
            )
            return bool((yield Query(sql, (call_id, local_tag))))

        return self._write(op())

    def list_sip_subscriptions(self) -> Deferred[list[SipSubscriptionRecord]]:
        """
        @return: A L{Deferred} firing with every subscription, ordered by
            (call_id, local_tag).
        """

        def op() -> Op[list[SipSubscriptionRecord]]:
            rows = yield Query(f"{SIP_SUBSCRIPTIONS.select} ORDER BY call_id, local_tag")
            return [_record(row) for row in rows]

        return self._read(op())
