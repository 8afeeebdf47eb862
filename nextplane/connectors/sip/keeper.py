# -*- test-case-name: tests.sip.test_restart -*-
"""
Presence subscriptions that survive a restart (issue 16).

L{SubscriptionKeeper} writes each subscription dialog's ids, routing,
state and expiry to the store (L{ISipSubscriptions}; never a presence
document) when it starts, is refreshed or changes state, and removes it
when it ends. At start-up the connector reads them back: the peers'
subscriptions to hub users are served again (their refreshes get 200, not
481) and the hub's own are refreshed at once.

Writes for one dialog run in order (L{KeyedSerializer}); a failed write is
logged and never fails the SIP exchange it follows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...model.address import Address
from ...ordering import KeyedSerializer
from ...storage.interfaces import ISipSubscriptions
from ...storage.records import SipSubscriptionRecord
from .dialog import Dialog, DialogState
from .uri import NameAddr, Params, parse_uri

__all__ = ["CSEQ_GAP", "SubscriptionKeeper", "restore_dialog"]

log = Logger(namespace="nextplane.sip.connector")

#: How far our CSeq jumps after a restart: requests we sent after the
#: last write (NOTIFYs) must not be reused (RFC 3261 12.2.1.1 only asks
#: for an increase).
CSEQ_GAP = 10_000


def restore_dialog(record: SipSubscriptionRecord) -> Dialog:
    """
    The dialog of a stored subscription, with our CSeq moved on by
    L{CSEQ_GAP}.
    """
    local_seq = record.local_seq + CSEQ_GAP if record.local_seq is not None else None
    return Dialog(
        call_id=record.call_id,
        local_party=NameAddr(parse_uri(record.local_uri), params=Params.of(tag=record.local_tag)),
        remote_party=NameAddr(
            parse_uri(record.remote_uri), params=Params.of(tag=record.remote_tag)
        ),
        remote_target=record.remote_target,
        route_set=record.route_set,
        local_seq=local_seq,
        remote_seq=record.remote_seq,
        secure=record.secure,
        local_contact=record.local_contact,
        usage="SUBSCRIBE",
        state=DialogState.CONFIRMED,
    )


class SubscriptionKeeper:
    """
    Stores and forgets subscription dialogs; see the module docstring.
    """

    def __init__(self, store: ISipSubscriptions) -> None:
        """
        @param store: Where the records go.
        """
        self._store = store
        self._writes = KeyedSerializer()

    def save(
        self,
        role: str,
        hub_user: Address,
        remote: Address,
        dialog: Dialog,
        state: str,
        expires_at: float,
    ) -> Deferred[None]:
        """
        Store (or replace) the record of C{dialog}.

        @param role: C{subscriber} or C{notifier}.
        @param state: C{pending} or C{active}.
        @param expires_at: When it ends unless refreshed (clock seconds).
        """
        if dialog.local_seq is None:
            # Fix our first CSeq now, so the stored one is a floor for
            # every request this dialog sends before the next write.
            dialog.next_cseq()
            assert dialog.local_seq is not None
            dialog.local_seq -= 1
        record = SipSubscriptionRecord(
            role=role,
            hub_user=hub_user,
            remote=remote,
            call_id=dialog.call_id,
            local_tag=dialog.local_tag,
            remote_tag=dialog.remote_tag,
            local_uri=dialog.local_party.uri.format(),
            remote_uri=dialog.remote_party.uri.format(),
            remote_target=dialog.remote_target,
            route_set=dialog.route_set,
            local_seq=dialog.local_seq,
            remote_seq=dialog.remote_seq,
            local_contact=dialog.local_contact or "",
            secure=dialog.secure,
            state=state,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
        return self._queue(dialog, lambda: self._store.put_sip_subscription(record))

    def forget(self, dialog: Dialog) -> Deferred[None]:
        """
        Remove the record of C{dialog}, if any.
        """
        call_id, tag = dialog.call_id, dialog.local_tag
        return self._queue(dialog, lambda: self._store.remove_sip_subscription(call_id, tag))

    def _queue(self, dialog: Dialog, write: Callable[[], Deferred[Any]]) -> Deferred[None]:
        def logged(failure: Failure) -> None:
            log.failure("Storing a SIP subscription failed", failure)

        done = self._writes.submit((dialog.call_id, dialog.local_tag), write)
        return done.addCallbacks(lambda _: None, logged)

    def load(self) -> Deferred[list[SipSubscriptionRecord]]:
        """
        Every stored subscription.
        """
        return self._store.list_sip_subscriptions()  # type: ignore[no-any-return]
