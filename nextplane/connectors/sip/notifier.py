# -*- test-case-name: tests.sip.test_connector -*-
"""
The hub as presence notifier (RFC 6665, RFC 3856): SIP users' SUBSCRIBEs
to hub users' presence.

A SUBSCRIBE from a SIP user who is an accepted contact is answered 200
and a NOTIFY C{active} with the hub user's last known presence; from
anyone else it is a L{ContactRequest} to the hub user (a refusal by the
router is the SUBSCRIBE's error status), answered 200 and NOTIFY
C{pending}; the hub user's L{ContactAccept} makes it C{active}, a
L{ContactDecline} or L{ContactRemove} ends it
(C{terminated;reason=rejected}). Refreshes re-send the state;
subscriptions end at their expiry (C{terminated;reason=timeout}).
"""

from __future__ import annotations

from attrs import Factory, define
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from ...interfaces import DeliveryFailed
from ...model.address import Address
from ...model.events import (
    ContactRequest,
    Presence,
)
from ...ordering import KeyedSerializer
from ...presence import PresenceBook
from ...storage.records import ContactDirection, ContactState, SipSubscriptionRecord
from .addresses import address_uri
from .core import Pair, SipCore, cancel, conn
from .dialog import Dialog, DialogId
from .headers import (
    EVENT,
    event_type,
    int_or,
)
from .im import (
    Content,
)
from .keeper import restore_dialog
from .presence import PIDF, accepts_pidf, build_pidf
from .transaction import (
    ServerTransaction,
    TransactionError,
)
from .transport import SipConnection

__all__ = ["PresenceNotifier", "Watcher"]

log = Logger(namespace="nextplane.sip.connector")


@define(eq=False)
class Watcher(Pair):
    """
    A SIP user's subscription to a hub user's presence (we notify).
    """

    dialog: Dialog
    flow: SipConnection | None
    state: str = "pending"
    expires_at: float = 0.0
    timer: IDelayedCall | None = None


@define(eq=False)
class _Arrival:
    """
    A new SUBSCRIBE from a SIP user whose contact request is being routed:
    the hub user's answer may reach the connector before the watcher
    exists, so it is kept here for the watcher's first NOTIFY.
    """

    answer: str | None = None
    told: list[Deferred[bool]] = Factory(list)

    def settle(self, told: bool) -> None:
        waiting, self.told = self.told, []
        for d in waiting:
            d.callback(told)


class PresenceNotifier:
    """
    The watchers of hub users' presence, keyed by dialog.
    """

    def __init__(self, core: SipCore, presence: PresenceBook) -> None:
        self._core = core
        self._book = presence
        self._watchers: dict[DialogId, Watcher] = {}
        self._notifying = KeyedSerializer()
        self._arrivals: dict[tuple[str, str], _Arrival] = {}

    def __len__(self) -> int:
        return len(self._watchers)

    def reject(self, hub_user: Address, remote: Address) -> None:
        """
        End C{remote}'s subscriptions to C{hub_user} (C{rejected}).
        """
        for watcher in self._watchers_of(hub_user, remote):
            self.end(watcher, "rejected")
        arrival = self._arrivals.get((hub_user.key, remote.key))
        if arrival is not None:
            arrival.answer = "rejected"

    def all(self) -> list[Watcher]:
        """
        The watchers now subscribed.
        """
        return list(self._watchers.values())

    def _presence_body(self, hub_user: Address) -> bytes:
        availability, status = self._book.lookup(hub_user)
        return build_pidf(address_uri(hub_user), availability, status)

    def _watchers_of(self, hub_user: Address, remote: Address) -> list[Watcher]:
        key = (hub_user.key, remote.key)
        return [w for w in self._watchers.values() if w.key == key]

    async def send_presence(self, event: Presence) -> None:
        """
        Record a hub user's presence and NOTIFY the SIP users actively watching it.
        """
        # The router records hub users' presence in the shared book; record
        # here too for a connector used without one.
        self._book.record(event)
        sends = [
            self.notify(watcher)
            for watcher in self._watchers_of(event.sender, event.recipient)
            if watcher.state == "active"
        ]
        # Without a subscription there is nothing to send on: the presence
        # is kept for the first NOTIFY once the SIP user subscribes.
        for send in sends:
            await send

    def _expires(self, tx: ServerTransaction, new: bool) -> int | None:
        """
        The expiry granted to a SUBSCRIBE (a C{new} one must also accept
        PIDF), or L{None} once it is answered with an error (489, 406, 423).
        """
        request = tx.request
        settings = self._core.settings
        if event_type(request.headers.get("Event")) != EVENT:
            tx.reply(489, headers=[("Allow-Events", EVENT)])
            return None
        if new and not accepts_pidf(request.headers.get_all("Accept")):
            tx.reply(406, headers=[("Accept", PIDF)])
            return None
        expires = int_or(request.headers.get("Expires"), settings.subscription_expires)
        if 0 < expires < settings.min_expires:
            tx.reply(423, headers=[("Min-Expires", str(settings.min_expires))])
            return None
        return min(expires, settings.subscription_expires)

    async def subscribe_in(self, tx: ServerTransaction, hub_user: Address, remote: Address) -> None:
        """
        Serve a new SUBSCRIBE from C{remote} to C{hub_user}'s presence (a contact request unless
        they are contacts).
        """
        expires = self._expires(tx, new=True)
        if expires is None:
            return
        contact_record = await self._core.store.get_contact(hub_user, remote)
        state = contact_record.state if contact_record is not None else None
        direction = contact_record.direction if contact_record is not None else None
        if state == ContactState.ACCEPTED:
            granted = "active"
        elif state == ContactState.PENDING and direction == ContactDirection.INBOUND:
            granted = "pending"
        elif expires == 0:
            granted = "terminated"
        else:
            key = (hub_user.key, remote.key)
            arrival = self._arrivals.setdefault(key, _Arrival())
            handed = False
            try:
                asked = await self._ask(tx, hub_user, remote, arrival)
                if asked is not None:
                    handed = self._start_watcher(tx, hub_user, remote, expires, asked, arrival)
            finally:
                if self._arrivals.get(key) is arrival:
                    del self._arrivals[key]
                if not handed:
                    arrival.settle(False)
            return
        self._start_watcher(tx, hub_user, remote, expires, granted, None)

    async def _ask(
        self, tx: ServerTransaction, hub_user: Address, remote: Address, arrival: _Arrival
    ) -> str | None:
        """
        Route C{remote}'s contact request to C{hub_user}; return the state
        to grant, or L{None} once C{tx} is answered with the refusal.
        """
        outcome = await self._core.route(
            ContactRequest(
                sender=remote,
                recipient=hub_user,
                display_name=tx.request.from_.display_name,
                timestamp=self._core.now(),
            )
        )
        if not outcome.delivered:
            self._core.answer(tx, outcome)
            return None
        # The hub user may have answered while the request was routed.
        if arrival.answer is not None:
            return arrival.answer
        updated = await self._core.store.get_contact(hub_user, remote)
        if arrival.answer is not None:
            return arrival.answer
        accepted = updated is not None and updated.state == ContactState.ACCEPTED
        return "active" if accepted else "pending"

    def _start_watcher(
        self,
        tx: ServerTransaction,
        hub_user: Address,
        remote: Address,
        expires: int,
        granted: str,
        arrival: _Arrival | None,
    ) -> bool:
        """
        Answer a new SUBSCRIBE 200 and send its first NOTIFY (C{granted}:
        active, pending, or rejected or terminated, which end it at once).

        @return: Whether the first NOTIFY will settle C{arrival}.
        """
        request = tx.request
        contact = self._core.contact(hub_user, conn(tx))
        response = tx.reply(
            200,
            headers=[("Contact", contact), ("Expires", str(expires))],
            copy_record_route=True,
        )
        if tx.final_response is not response:
            return False
        dialog = Dialog.as_uas(request, response, local_contact=contact, over_tls=conn(tx).tls)
        watcher = Watcher(
            hub_user=hub_user,
            remote=remote,
            dialog=dialog,
            flow=conn(tx),
            state=granted,
            expires_at=self._core.clock.seconds() + expires,
        )
        if expires == 0 or granted in ("terminated", "rejected"):
            # A fetch (RFC 6665 4.4.3) or a request declined while it was
            # routed: one NOTIFY that ends it at once.
            reason = "rejected" if granted == "rejected" else "timeout"
            watcher.state = "terminated" if granted == "rejected" else granted
            self._core.background(
                self.notify(watcher, reason, with_body=granted == "active"), "sending NOTIFY"
            )
            return False
        self._core.dialogs.add(dialog)
        self._watchers[dialog.id] = watcher
        self._expire_later(watcher)
        self._keep(watcher)

        async def first() -> None:
            told = await self.notify(watcher)
            if arrival is not None:
                # An acceptance may wait to know whether it was taken.
                arrival.settle(told)

        self._core.background(first(), "sending NOTIFY")
        return True

    def _expire_later(self, watcher: Watcher) -> None:
        cancel(watcher.timer)
        delay = max(0.0, watcher.expires_at - self._core.clock.seconds())
        watcher.timer = self._core.clock.callLater(delay, self.end, watcher, "timeout")

    async def refresh_in(self, tx: ServerTransaction, dialog: Dialog) -> None:
        """
        Serve a SUBSCRIBE refreshing (or, with Expires 0, ending) a watcher's subscription.
        """
        watcher = self._watchers.get(dialog.id)
        if watcher is None:
            tx.reply(481)
            return
        expires = self._expires(tx, new=False)
        if expires is None:
            return
        tx.reply(200, headers=[("Contact", dialog.local_contact or ""), ("Expires", str(expires))])
        watcher.flow = conn(tx)
        if expires == 0:
            self.end(watcher, "timeout")
            return
        watcher.expires_at = self._core.clock.seconds() + expires
        self._expire_later(watcher)
        self._keep(watcher)
        self._core.background(self.notify(watcher), "sending NOTIFY")

    def _keep(self, watcher: Watcher) -> None:
        w = watcher
        saving = self._core.keeper.save(
            "notifier", w.hub_user, w.remote, w.dialog, w.state, w.expires_at
        )
        self._core.track(saving, "storing a SIP subscription")

    def _drop(self, watcher: Watcher) -> None:
        self._core.track(self._core.keeper.forget(watcher.dialog), "forgetting a SIP subscription")

    def restore(self, record: SipSubscriptionRecord) -> None:
        """
        Serve again a SIP user's subscription stored before a restart: its
        refreshes are answered, presence goes out as NOTIFY.
        """
        dialog = restore_dialog(record)
        watcher = Watcher(
            hub_user=record.hub_user,
            remote=record.remote,
            dialog=dialog,
            flow=None,
            state=record.state,
            expires_at=record.expires_at.timestamp(),
        )
        self._core.dialogs.add(dialog)
        self._watchers[dialog.id] = watcher
        self._expire_later(watcher)

    def end(self, watcher: Watcher, reason: str) -> None:
        """
        End a watcher's subscription with a NOTIFY C{terminated;reason=REASON}.
        """
        if self._watchers.pop(watcher.dialog.id, None) is None:
            return
        self._drop(watcher)
        cancel(watcher.timer)
        watcher.timer = None
        self._core.dialogs.remove(watcher.dialog)
        watcher.state = "terminated"
        self._core.background(self.notify(watcher, reason), "sending NOTIFY")

    async def notify(
        self, watcher: Watcher, reason: str | None = None, with_body: bool | None = None
    ) -> bool:
        """
        Send the watcher its subscription's state (and the hub user's
        presence when active); C{reason} ends the subscription.

        @return: Whether the watcher took the NOTIFY (a 2xx).
        """
        remaining = max(0, int(watcher.expires_at - self._core.clock.seconds()))
        if reason is not None or watcher.state == "terminated":
            state = f"terminated;reason={reason or 'timeout'}"
        elif watcher.state == "active":
            state = f"active;expires={remaining}"
        else:
            state = f"pending;expires={remaining}"
        if with_body is None:
            with_body = state.startswith("active")
        content: Content | None = None
        if with_body:
            content = Content(PIDF, self._presence_body(watcher.hub_user))
        # One NOTIFY at a time per subscription: the next waits for the
        # previous one's final response (subscribers such as sipp, and
        # RFC 6665's ordering, expect no overlap).
        release = await self._notifying.acquire(watcher.dialog.id)
        try:
            return await self._send_notify(watcher, state, content)
        finally:
            release()

    async def _send_notify(self, watcher: Watcher, state: str, content: Content | None) -> bool:
        try:
            tx, flow = await self._core.send_in_dialog(
                watcher.dialog,
                watcher.flow,
                watcher.hub_user.domain,
                watcher.remote.domain,
                "NOTIFY",
                content,
                headers=[("Event", EVENT), ("Subscription-State", state)],
            )
            watcher.flow = flow
            response = await tx.final
        except (DeliveryFailed, TransactionError) as e:
            log.info("NOTIFY to {watcher} failed: {error}", watcher=str(watcher.remote), error=e)
            return False
        if response.status == 481 and watcher.dialog.id in self._watchers:
            # RFC 6665 4.2.2: the subscriber has forgotten the subscription.
            self._watchers.pop(watcher.dialog.id, None)
            cancel(watcher.timer)
            self._core.dialogs.remove(watcher.dialog)
            self._drop(watcher)
        return 200 <= response.status < 300

    def activate(self, hub_user: Address, remote: Address) -> None:
        """
        Make C{remote}'s pending subscriptions to C{hub_user} active, in
        the background.
        """
        for watcher in self._watchers_of(hub_user, remote):
            if watcher.state == "pending":
                watcher.state = "active"
                self._keep(watcher)
                self._core.background(self.notify(watcher), "sending NOTIFY")

    async def accept(self, hub_user: Address, remote: Address) -> bool:
        """
        The hub user accepted C{remote}: make their pending subscriptions
        active and wait for the NOTIFYs.

        @return: Whether C{remote} knows: a NOTIFY C{active} was taken, or
            a subscription of theirs was active already.
        """
        told = False
        watchers = self._watchers_of(hub_user, remote)
        arrival = self._arrivals.get((hub_user.key, remote.key))
        if arrival is not None:
            # Their SUBSCRIBE is still being answered: its first NOTIFY
            # will say active.
            arrival.answer = "active"
            waiting: Deferred[bool] = Deferred()
            arrival.told.append(waiting)
            told = await waiting
        for watcher in watchers:
            if watcher.state == "pending":
                watcher.state = "active"
                self._keep(watcher)
                told = await self.notify(watcher) or told
            elif watcher.state == "active":
                told = True
        return told
