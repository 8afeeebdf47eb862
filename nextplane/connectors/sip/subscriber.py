# -*- test-case-name: tests.sip.test_connector -*-
"""
The hub as presence subscriber (RFC 6665, RFC 3856): hub users'
subscriptions to SIP users' presence.

A hub user's L{ContactRequest} to a SIP user is a SUBSCRIBE (delivered
once the peer answers 2xx); the first NOTIFY C{active} is the SIP user's
L{ContactAccept}, each NOTIFY with a body a L{Presence};
C{terminated;reason=rejected} is a L{ContactDecline} (or L{ContactRemove}
for an accepted contact), other terminations re-subscribe. Subscriptions
are refreshed before they expire; one that cannot be renewed reports the
SIP user's presence as C{unknown}.
"""

from __future__ import annotations

from attrs import define
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from ...interfaces import DeliveryFailed
from ...model.address import Address
from ...model.events import (
    Availability,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    Presence,
)
from ...storage.records import ContactDirection, ContactState, SipSubscriptionRecord
from .addresses import address_uri
from .core import Pair, SipCore, cancel, conn
from .dialog import Dialog, DialogId
from .headers import (
    EVENT,
    event_type,
    int_or,
    state_params,
)
from .keeper import restore_dialog
from .message import Headers, Request
from .presence import PIDF, PresenceDocument, parse_pidf
from .resubscribe import Resubscriptions, still_wanted
from .status import failed
from .transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionError,
    new_tag,
)
from .transport import SipConnection
from .uri import SipSyntaxError

__all__ = ["PresenceSubscriber", "Subscription"]

log = Logger(namespace="nextplane.sip.connector")

_ANNOUNCE_DELAY = 0.05
_ANNOUNCE_ATTEMPTS = 8


@define(eq=False)
class Subscription(Pair):
    """
    A hub user's subscription to a SIP user's presence (we subscribe).
    """

    call_id: str
    local_tag: str
    contact: str = ""
    request: Request | None = None
    dialog: Dialog | None = None
    flow: SipConnection | None = None
    state: str = "subscribing"
    timer: IDelayedCall | None = None
    announced: bool = False
    requested: bool = False
    document: PresenceDocument | None = None
    ended: bool = False
    expires_at: float = 0.0


class PresenceSubscriber:
    """
    Hub users' subscriptions to SIP users' presence.
    """

    def __init__(self, core: SipCore) -> None:
        self._core = core
        self._subscriptions: dict[tuple[str, str], Subscription] = {}
        self._by_tag: dict[tuple[str, str], Subscription] = {}
        self._by_dialog: dict[DialogId, Subscription] = {}
        self._ending: dict[DialogId, Dialog] = {}
        self.retries = Resubscriptions(core, self.subscribe_quietly)

    def __len__(self) -> int:
        return len(self._subscriptions)

    def all(self) -> list[Subscription]:
        """
        The subscriptions now live.
        """
        return list(self._subscriptions.values())

    def live(self, hub_user: Address, remote: Address) -> Subscription | None:
        """
        The live subscription of C{hub_user} to C{remote}, if any.
        """
        subscription = self._subscriptions.get((hub_user.key, remote.key))
        return None if subscription is None or subscription.ended else subscription

    def end(self, hub_user: Address, remote: Address) -> None:
        """
        End C{hub_user}'s subscription to C{remote} and any retry of it.
        """
        subscription = self._subscriptions.get((hub_user.key, remote.key))
        if subscription is not None:
            self.unsubscribe(subscription)
        self.retries.cancel((hub_user.key, remote.key))

    def stop(self) -> None:
        """
        Forget every subscription and retry (the connector stops).
        """
        for subscription in list(self._subscriptions.values()):
            # Kept in the store: the next start renews them.
            self.forget(subscription, keep_record=True)
        self.retries.stop()
        self._ending.clear()

    async def subscribe_quietly(self, hub_user: Address, remote: Address) -> None:
        """
        Subscribe, logging a failure and retrying later unless the peer has no presence.
        """
        try:
            await self.subscribe(hub_user, remote)
        except DeliveryFailed as e:
            log.info(
                "Subscribing {user} to {remote} failed: {error}",
                user=str(hub_user),
                remote=str(remote),
                error=e,
            )
            if e.condition != "feature-not-implemented":
                # A peer without presence (489, 405, 501) is not asked again.
                self.retries.later(hub_user, remote)

    async def subscribe(self, hub_user: Address, remote: Address, requested: bool = False) -> None:
        """
        Subscribe C{hub_user} to C{remote}'s presence (unless a live subscription exists).

        @raise DeliveryFailed: The SUBSCRIBE failed.
        """
        key = (hub_user.key, remote.key)
        existing = self._subscriptions.get(key)
        if existing is not None and not existing.ended:
            existing.requested = existing.requested or requested
            return
        self.retries.cancel(key)
        subscription = Subscription(
            hub_user=hub_user,
            remote=remote,
            call_id=self._core.new_call_id(),
            local_tag=new_tag(),
            requested=requested,
        )
        self._subscriptions[key] = subscription
        self._by_tag[(subscription.call_id, subscription.local_tag)] = subscription
        try:
            await self._send_subscribe(subscription, self._core.settings.subscription_expires)
        except BaseException:
            self.forget(subscription)
            raise

    async def _send_subscribe(self, subscription: Subscription, expires: int) -> None:
        hub_user, remote = subscription.hub_user, subscription.remote
        flow = await self._core.connect(remote.domain, hub_user.domain)
        subscription.flow = flow
        subscription.contact = self._core.contact(hub_user, flow)
        target = address_uri(remote)
        request = Request(
            "SUBSCRIBE",
            target,
            Headers(
                [
                    ("From", f"<{address_uri(hub_user)}>;tag={subscription.local_tag}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", subscription.call_id),
                    ("CSeq", "1 SUBSCRIBE"),
                    ("Contact", subscription.contact),
                    ("Event", EVENT),
                    ("Accept", PIDF),
                    ("Expires", str(expires)),
                ]
            ),
        )
        tx = self._core.send(request, flow)
        subscription.request = tx.request
        response = await self._core.final(tx, remote.domain)
        if subscription.ended:
            return
        if response.status == 423:
            minimum = int_or(response.headers.get("Min-Expires"), 0)
            if expires < minimum <= 86400 * 7:
                subscription.call_id = self._core.new_call_id()
                self._by_tag[(subscription.call_id, subscription.local_tag)] = subscription
                await self._send_subscribe(subscription, minimum)
                return
        if not 200 <= response.status < 300:
            raise failed(response, remote.domain)
        if subscription.dialog is None:
            dialog = Dialog.as_uac(tx.request, response, local_contact=subscription.contact)
            self._core.dialogs.add(dialog)
            subscription.dialog = dialog
            self._by_dialog[dialog.id] = subscription
        else:
            dialog = subscription.dialog
            if not dialog.route_set:
                # The dialog came from a NOTIFY that overtook this 2xx (RFC
                # 6665 4.1.2.4) without Record-Route: proxies that
                # record-route the SUBSCRIBE but route that NOTIFY as
                # in-dialog (Kamailio) still want our requests; without
                # their route the unsubscribe goes astray (404).
                dialog.route_set = tuple(reversed(response.headers.get_all("Record-Route")))
            dialog.receive_response(tx.request, response)
        if subscription.state == "subscribing":
            subscription.state = "pending"
        self._refresh_later(subscription, int_or(response.headers.get("Expires"), expires))

    def early_notify(self, notify: Request) -> None:
        """
        A NOTIFY for our SUBSCRIBE that arrived before its 2xx creates the
        dialog (RFC 6665 section 4.1.2.4).
        """
        try:
            key = (notify.call_id, notify.to.tag or "")
        except SipSyntaxError:
            return
        subscription = self._by_tag.get(key)
        if subscription is None or subscription.dialog is not None or subscription.request is None:
            return
        try:
            dialog = Dialog.from_notify(
                subscription.request, notify, local_contact=subscription.contact
            )
        except SipSyntaxError:
            return
        # The NOTIFY's CSeq is checked (and recorded) by the dispatch.
        dialog.remote_seq = None
        self._core.dialogs.add(dialog)
        subscription.dialog = dialog
        self._by_dialog[dialog.id] = subscription

    def _refresh_later(self, subscription: Subscription, expires: int) -> None:
        cancel(subscription.timer)
        if expires <= 0:
            return
        subscription.expires_at = self._core.clock.seconds() + expires
        self._keep(subscription)
        delay = max(1.0, min(expires * 0.8, expires - 5.0))
        subscription.timer = self._core.clock.callLater(
            delay,
            lambda: self._core.background(
                self._refresh_out(subscription), "refreshing a subscription"
            ),
        )

    async def _in_dialog_subscribe(
        self, subscription: Subscription, expires: int
    ) -> tuple[ClientTransaction, SipConnection]:
        """
        Refresh (or with C{expires} 0, end) C{subscription} in its dialog.
        """
        assert subscription.dialog is not None
        return await self._core.send_in_dialog(
            subscription.dialog,
            subscription.flow,
            subscription.hub_user.domain,
            subscription.remote.domain,
            "SUBSCRIBE",
            headers=[("Event", EVENT), ("Accept", PIDF), ("Expires", str(expires))],
        )

    async def _refresh_out(self, subscription: Subscription) -> bool:
        """
        Refresh C{subscription} in its dialog (or subscribe again).

        @return: Whether the refresh was taken.
        """
        subscription.timer = None
        dialog = subscription.dialog
        if subscription.ended or dialog is None:
            return False
        expires = self._core.settings.subscription_expires
        s = subscription
        try:
            s.flow = await self._core.dialog_flow(
                dialog, s.flow, s.hub_user.domain, s.remote.domain
            )
            if s.ended:
                return False  # unsubscribed while connecting: no refresh after Expires 0
            tx, s.flow = await self._in_dialog_subscribe(s, expires)
            response = await self._core.final(tx, s.remote.domain)
        except DeliveryFailed as e:
            log.info("Refreshing a subscription failed: {error}", error=e)
            response = None
        if s.ended:
            return False
        if response is not None and 200 <= response.status < 300:
            self._refresh_later(s, int_or(response.headers.get("Expires"), expires))
            return True
        await self._lost(s)
        return False

    async def _lost(self, subscription: Subscription, retry: bool = True) -> None:
        """
        The subscription is gone: say the SIP user's presence is unknown,
        and subscribe again if the hub user still wants it.
        """
        self.forget(subscription)
        hub_user, remote = subscription.hub_user, subscription.remote
        await route_unknown(self._core, subscription)
        if retry and await still_wanted(self._core, hub_user, remote):
            # Not awaited: the new subscription's NOTIFY may need this lane.
            self._core.background(self.subscribe_quietly(hub_user, remote), "subscribing again")

    def forget(
        self, subscription: Subscription, keep_dialog: bool = False, keep_record: bool = False
    ) -> None:
        """
        Forget a subscription and its timers (and its dialog unless
        C{keep_dialog}, its stored record unless C{keep_record}).
        """
        if subscription.dialog is not None and not keep_record and not subscription.ended:
            forgetting = self._core.keeper.forget(subscription.dialog)
            self._core.track(forgetting, "forgetting a SIP subscription")
        subscription.ended = True
        cancel(subscription.timer)
        subscription.timer = None
        if self._subscriptions.get(subscription.key) is subscription:
            del self._subscriptions[subscription.key]
        for key, value in list(self._by_tag.items()):
            if value is subscription:
                del self._by_tag[key]
        if subscription.dialog is not None:
            self._by_dialog.pop(subscription.dialog.id, None)
            if not keep_dialog:
                self._core.dialogs.remove(subscription.dialog)

    def unsubscribe(self, subscription: Subscription) -> None:
        """
        End a subscription with SUBSCRIBE Expires 0; the dialog waits for the last NOTIFY.
        """
        dialog = subscription.dialog
        self.forget(subscription, keep_dialog=True)
        if dialog is None:
            return
        # RFC 6665 4.1.2.3: the notifier answers with a last NOTIFY
        # (terminated), which still gets its 200; the dialog is kept until
        # then, or Timer F.
        self._ending[dialog.id] = dialog
        self._core.later(self._core.layer.timers.timeout, lambda: self._ended(dialog))

        async def send() -> None:
            try:
                tx, _ = await self._in_dialog_subscribe(subscription, 0)
                await tx.final
            except (DeliveryFailed, TransactionError) as e:
                log.info("Unsubscribing failed: {error}", error=e)

        self._core.background(send(), "unsubscribing")

    def _keep(self, subscription: Subscription) -> None:
        s = subscription
        if s.dialog is None or s.ended or s.state not in ("pending", "active"):
            return
        saving = self._core.keeper.save(
            "subscriber", s.hub_user, s.remote, s.dialog, s.state, s.expires_at
        )
        self._core.track(saving, "storing a SIP subscription")

    def restore(self, record: SipSubscriptionRecord) -> None:
        """
        Take back a hub user's subscription stored before a restart and
        refresh it at once (if the notifier forgot it, subscribe again).
        """
        subscription = restored(record)
        assert subscription.dialog is not None
        self._subscriptions[subscription.key] = subscription
        self._by_tag[(subscription.call_id, subscription.local_tag)] = subscription
        self._by_dialog[self._core.dialogs.add(subscription.dialog).id] = subscription
        self._core.background(self._renew(subscription), "renewing a subscription")

    async def _renew(self, subscription: Subscription) -> None:
        if await self._refresh_out(subscription):
            log.info(
                "Renewed the presence subscription of {user} to {remote} after a restart",
                user=str(subscription.hub_user),
                remote=str(subscription.remote),
            )

    def _ended(self, dialog: Dialog) -> None:
        if self._ending.pop(dialog.id, None) is not None:
            self._core.dialogs.remove(dialog)

    async def notify_in(self, tx: ServerTransaction, dialog: Dialog) -> None:
        """
        Serve a NOTIFY for one of our subscriptions: acceptance, presence, or its end.
        """
        request = tx.request
        subscription = self._by_dialog.get(dialog.id)
        if subscription is None and dialog.id in self._ending:
            tx.reply(200)
            state = state_params(request.headers.get("Subscription-State") or "")[0]
            if state == "terminated":
                self._ended(dialog)
            return
        if subscription is None or subscription.ended:
            tx.reply(481)
            return
        if event_type(request.headers.get("Event")) != EVENT:
            tx.reply(489, headers=[("Allow-Events", EVENT)])
            return
        state_header = request.headers.get("Subscription-State")
        if state_header is None:
            tx.reply(400, "Missing Subscription-State header")
            return
        hub_user, remote = subscription.hub_user, subscription.remote
        refusal = self._core.refusal_reason(hub_user.domain, remote.domain)
        if refusal is not None:
            self._core.refuse(tx, 403, refusal)
            self.unsubscribe(subscription)
            return
        document = None
        if request.body.strip():
            if request.content_type != PIDF:
                tx.reply(415, headers=[("Accept", PIDF)])
                return
            document = parse_pidf(request.body)
        tx.reply(200)
        subscription.flow = conn(tx)
        state, params = state_params(state_header)
        if state == "terminated":
            reason = params.get("reason", "")
            if reason in ("rejected", "noresource", "invariant"):
                self.forget(subscription)
                await route_rejection(self._core, subscription, reason)
            elif reason in ("probation", "giveup"):
                self.forget(subscription)
                self.retries.later(hub_user, remote)
            else:
                await self._lost(subscription)
            return
        if state == "active":
            expires = int_or(params.get("expires"), 0)
            changed = subscription.state != "active"
            subscription.state = "active"
            if expires:
                self._refresh_later(subscription, expires)
            elif changed:
                self._keep(subscription)
            if document is not None:
                subscription.document = document
            if not subscription.announced:
                await announce(self._core, subscription)
            elif document is not None:
                await route_document(self._core, subscription)


async def announce(core: SipCore, subscription: Subscription, attempt: int = 0) -> None:
    """
    The first NOTIFY active: the SIP user accepted the hub user's
    request (if one is pending). The router records the hub user's
    request only once its delivery (our SUBSCRIBE's 2xx) is done; a
    NOTIFY may come first, so look again a little later.
    """
    if subscription.ended or subscription.announced:
        return
    hub_user, remote = subscription.hub_user, subscription.remote
    record = await core.store.get_contact(hub_user, remote)
    state = record.state if record is not None else None
    if state is None and subscription.requested and attempt < _ANNOUNCE_ATTEMPTS:
        core.later(
            _ANNOUNCE_DELAY * 2**attempt,
            lambda: core.background(
                announce(core, subscription, attempt + 1), "announcing acceptance"
            ),
        )
        return
    subscription.announced = True
    # Only the hub user's own request is accepted by this NOTIFY; one of
    # theirs that is pending is being answered by the hub user (our
    # SUBSCRIBE back may be faster than that answer is stored).
    if (
        state == ContactState.PENDING
        and record is not None
        and record.direction == ContactDirection.OUTBOUND
    ):
        await core.route(ContactAccept(sender=remote, recipient=hub_user, timestamp=core.now()))
    await route_document(core, subscription)


def restored(record: SipSubscriptionRecord) -> Subscription:
    """
    The subscription of a record stored before a restart.
    """
    return Subscription(
        hub_user=record.hub_user,
        remote=record.remote,
        call_id=record.call_id,
        local_tag=record.local_tag,
        contact=record.local_contact,
        dialog=restore_dialog(record),
        state=record.state,
        announced=record.state == "active",
        expires_at=record.expires_at.timestamp(),
    )


async def route_document(core: SipCore, subscription: Subscription) -> None:
    """
    Route the SIP user's presence from the last NOTIFY's document.
    """
    document = subscription.document
    if document is None:
        return
    await core.route(
        Presence(
            sender=subscription.remote,
            recipient=subscription.hub_user,
            availability=document.availability,
            status=document.note,
            timestamp=core.now(),
        )
    )


async def route_rejection(core: SipCore, subscription: Subscription, reason: str) -> None:
    """
    The SIP user ended the subscription (C{reason}): a decline or removal
    of the contact, else an unknown presence.
    """
    hub_user, remote = subscription.hub_user, subscription.remote
    record = await core.store.get_contact(hub_user, remote)
    if reason == "rejected" and record is not None:
        if record.state == ContactState.PENDING:
            await core.route(
                ContactDecline(sender=remote, recipient=hub_user, timestamp=core.now())
            )
            return
        if record.state == ContactState.ACCEPTED:
            await core.route(ContactRemove(sender=remote, recipient=hub_user, timestamp=core.now()))
            return
    await route_unknown(core, subscription)


async def route_unknown(core: SipCore, subscription: Subscription) -> None:
    """
    The SIP user's presence is no longer known to the hub user.
    """
    await core.route(
        Presence(
            sender=subscription.remote,
            recipient=subscription.hub_user,
            availability=Availability.UNKNOWN,
            timestamp=core.now(),
        )
    )
