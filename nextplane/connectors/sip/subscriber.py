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
from ...storage.records import ContactDirection, ContactState
from .addresses import address_uri
from .core import Pair, SipCore, cancel, conn
from .dialog import Dialog, DialogId
from .headers import (
    EVENT,
    event_type,
    int_or,
    state_params,
)
from .message import Headers, Request
from .presence import PIDF, PresenceDocument, parse_pidf
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

_MAX_RESUBSCRIBE_DELAY = 3600.0
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
        self._retries: dict[tuple[str, str], tuple[IDelayedCall, float]] = {}

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
        self.cancel_retry((hub_user.key, remote.key))

    def stop(self) -> None:
        """
        Forget every subscription and retry (the connector stops).
        """
        for subscription in list(self._subscriptions.values()):
            self.forget(subscription)
        for call, _ in self._retries.values():
            cancel(call)
        self._retries.clear()
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
                self._retry_later(hub_user, remote)

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
        self.cancel_retry(key)
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
            subscription.dialog.receive_response(tx.request, response)
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

    async def _refresh_out(self, subscription: Subscription) -> None:
        subscription.timer = None
        if subscription.ended or subscription.dialog is None:
            return
        expires = self._core.settings.subscription_expires
        try:
            tx, flow = await self._in_dialog_subscribe(subscription, expires)
            subscription.flow = flow
            response = await self._core.final(tx, subscription.remote.domain)
        except DeliveryFailed as e:
            log.info("Refreshing a subscription failed: {error}", error=e)
            response = None
        if subscription.ended:
            return
        if response is not None and 200 <= response.status < 300:
            self._refresh_later(subscription, int_or(response.headers.get("Expires"), expires))
            return
        await self._lost(subscription)

    async def _lost(self, subscription: Subscription, retry: bool = True) -> None:
        """
        The subscription is gone: say the SIP user's presence is unknown,
        and subscribe again if the hub user still wants it.
        """
        self.forget(subscription)
        hub_user, remote = subscription.hub_user, subscription.remote
        await route_unknown(self._core, subscription)
        if retry and await self._still_wanted(hub_user, remote):
            # Not awaited: the new subscription's NOTIFY may need this lane.
            self._core.background(self.subscribe_quietly(hub_user, remote), "subscribing again")

    async def _still_wanted(self, hub_user: Address, remote: Address) -> bool:
        record = await self._core.store.get_contact(hub_user, remote)
        if record is None:
            return False
        return record.state == ContactState.ACCEPTED or (
            record.state == ContactState.PENDING and record.direction == ContactDirection.OUTBOUND
        )

    def _retry_later(self, hub_user: Address, remote: Address) -> None:
        key = (hub_user.key, remote.key)
        if not self._core.running:
            return
        previous = self._retries.get(key)
        delay = min(previous[1] * 2 if previous else 60.0, _MAX_RESUBSCRIBE_DELAY)
        if previous:
            cancel(previous[0])

        def again() -> None:
            self._retries.pop(key, None)

            async def attempt() -> None:
                if await self._still_wanted(hub_user, remote):
                    await self.subscribe_quietly(hub_user, remote)
                    if key in self._retries:
                        call, _ = self._retries[key]
                        self._retries[key] = (call, delay)

            self._core.background(attempt(), "subscribing again")

        self._retries[key] = (self._core.clock.callLater(delay, again), delay)

    def cancel_retry(self, key: tuple[str, str]) -> None:
        """
        Cancel a pending re-subscription of the key.
        """
        previous = self._retries.pop(key, None)
        if previous is not None:
            cancel(previous[0])

    def forget(self, subscription: Subscription, keep_dialog: bool = False) -> None:
        """
        Forget a subscription and its timers (and its dialog unless C{keep_dialog}).
        """
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
                self._retry_later(hub_user, remote)
            else:
                await self._lost(subscription)
            return
        if state == "active":
            expires = int_or(params.get("expires"), 0)
            if expires:
                self._refresh_later(subscription, expires)
            subscription.state = "active"
            if document is not None:
                subscription.document = document
            if not subscription.announced:
                await self._announce(subscription, 0)
            elif document is not None:
                await route_document(self._core, subscription)

    async def _announce(self, subscription: Subscription, attempt: int) -> None:
        """
        The first NOTIFY active: the SIP user accepted the hub user's
        request (if one is pending). The router records the hub user's
        request only once its delivery (our SUBSCRIBE's 2xx) is done; a
        NOTIFY may come first, so look again a little later.
        """
        if subscription.ended or subscription.announced:
            return
        hub_user, remote = subscription.hub_user, subscription.remote
        record = await self._core.store.get_contact(hub_user, remote)
        state = record.state if record is not None else None
        if state is None and subscription.requested and attempt < _ANNOUNCE_ATTEMPTS:
            self._core.later(
                _ANNOUNCE_DELAY * 2**attempt,
                lambda: self._core.background(
                    self._announce(subscription, attempt + 1), "announcing acceptance"
                ),
            )
            return
        subscription.announced = True
        if state == ContactState.PENDING:
            await self._core.route(
                ContactAccept(sender=remote, recipient=hub_user, timestamp=self._core.now())
            )
        await route_document(self._core, subscription)


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
