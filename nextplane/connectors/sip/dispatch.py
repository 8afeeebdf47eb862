# -*- test-case-name: tests.sip.test_connector -*-
"""
The transaction user's inbound side: check each request (method,
Request-URI, C{Require}, the tenant user, the From domain against the
peer's certificate) and hand it to the part that serves it, in arrival
order per SIP user and hub user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ...backpressure import Backpressure
from ...model.address import Address, InvalidAddress
from ...ordering import KeyedSerializer
from .addresses import address_of
from .core import SipCore, conn
from .dialog import Dialog, DialogId
from .headers import (
    EVENT,
)
from .im import (
    ACCEPT,
    BodyError,
)
from .message import Request, Response
from .messages import ImMessages
from .notifier import PresenceNotifier
from .presence import PIDF
from .sessions import ALLOW, ImSessions
from .subscriber import PresenceSubscriber
from .transaction import (
    ServerTransaction,
    TransactionError,
    TransactionTimeout,
)
from .uri import SipSyntaxError, SipURI, parse_uri

__all__ = ["RequestDispatcher"]

log = Logger(namespace="nextplane.sip.connector")

#: Serves one request; called with a function that lets the pair's next
#: request in early (once this one is in the router's hands).
Handler = Callable[[Callable[[], None]], Any]

#: Requests of one connection in hand at which it is no longer read.
MAX_IN_FLIGHT = 1000

_HANDLED = frozenset({"INVITE", "BYE", "MESSAGE", "INFO", "SUBSCRIBE", "NOTIFY", "OPTIONS"})
#: Methods the hub knows but does not serve: 405 (others: 501).
_NOT_ALLOWED = frozenset(
    {"REGISTER", "PUBLISH", "REFER", "UPDATE", "PRACK", "BENOTIFY", "SERVICE", "NEGOTIATE"}
)
#: Option tags a C{Require} header may name (RFC 3261 section 8.2.2.3).
_SUPPORTED: frozenset[str] = frozenset()


class RequestDispatcher:
    """
    Inbound requests, ACKs and stray responses to the parts that serve
    them (see L{nextplane.connectors.sip.transaction.TransactionUser}).
    """

    def __init__(
        self,
        core: SipCore,
        sessions: ImSessions,
        messages: ImMessages,
        notifier: PresenceNotifier,
        subscriber: PresenceSubscriber,
    ) -> None:
        self._core = core
        self._ims = sessions
        self._messages = messages
        self._notifier = notifier
        self._subscriber = subscriber
        self._inbound = KeyedSerializer()
        #: Stops reading a connection with too many requests in hand.
        self.backpressure = Backpressure(MAX_IN_FLIGHT, what="SIP connection")

    def request_received(self, transaction: ServerTransaction) -> None:
        """
        A request arrived (see L{TransactionUser}).
        """
        self._core.requests_in += 1
        try:
            self._dispatch(transaction)
        except Exception:
            log.failure("handling a {method} failed", method=transaction.request.method)
            if transaction.final_response is None:
                transaction.reply(500)

    def _dispatch(self, tx: ServerTransaction) -> None:
        request = tx.request
        method = request.method
        if method not in _HANDLED:
            tx.reply(405 if method in _NOT_ALLOWED else 501, headers=[("Allow", ALLOW)])
            return
        if not self._core.running or self._core.transport is None:
            tx.reply(503, headers=[("Retry-After", "30")])
            return
        try:
            uri = parse_uri(request.uri)
        except SipSyntaxError:
            tx.reply(400, "Malformed Request-URI")
            return
        if not isinstance(uri, SipURI):
            tx.reply(416)
            return
        required = [tag for tag in request.headers.get_all("Require") if tag]
        unsupported = [tag for tag in required if tag.lower() not in _SUPPORTED]
        if unsupported:
            tx.reply(420, headers=[("Unsupported", ", ".join(unsupported))])
            return
        if request.headers.get("Max-Forwards") == "0" and method != "OPTIONS":
            tx.reply(483)
            return
        if method == "OPTIONS":
            self._options(tx)
            return
        if request.to.tag is not None:
            self._dispatch_in_dialog(tx)
        else:
            self._dispatch_out_of_dialog(tx, uri)

    def _options(self, tx: ServerTransaction) -> None:
        tx.reply(
            200,
            headers=[
                ("Allow", ALLOW),
                ("Accept", f"{ACCEPT}, application/sdp, {PIDF}"),
                ("Allow-Events", EVENT),
            ],
        )

    def _local_user(self, uri: SipURI, request: Request) -> Address | None:
        candidates: list[object] = [uri]
        try:
            candidates.append(request.to.uri)
        except SipSyntaxError:
            pass
        for candidate in candidates:
            if isinstance(candidate, SipURI) and candidate.host.lower() in self._core.tenants:
                try:
                    return address_of(candidate)
                except (InvalidAddress, ValueError):
                    continue
        return None

    def _dispatch_out_of_dialog(self, tx: ServerTransaction, uri: SipURI) -> None:
        request = tx.request
        method = request.method
        if method in ("BYE", "INFO", "NOTIFY"):
            tx.reply(481)
            return
        hub_user = self._local_user(uri, request)
        if hub_user is None:
            tx.reply(404, "Not a user of this hub")
            return
        try:
            remote = address_of(request.from_.uri)
        except (InvalidAddress, ValueError):
            tx.reply(400, "Malformed From address")
            return
        if remote.domain in self._core.tenants:
            self._core.refuse(tx, 403, f"{remote.domain} is served by this hub")
            return
        if method in ("INVITE", "SUBSCRIBE") and not request.contacts:
            tx.reply(400, "Missing Contact header")
            return
        handler: Handler
        if method == "MESSAGE":
            handler = lambda routed: self._messages.message(tx, hub_user, remote, routed)  # noqa: E731
        elif method == "INVITE":
            handler = lambda _: self._ims.invite(tx, hub_user, remote, self._messages.route_content)  # noqa: E731
        else:
            handler = lambda _: self._notifier.subscribe_in(tx, hub_user, remote)  # noqa: E731
        self._enqueue((remote.key, hub_user.key), tx, remote, handler)

    def _dispatch_in_dialog(self, tx: ServerTransaction) -> None:
        request = tx.request
        if request.method == "NOTIFY":
            self._subscriber.early_notify(request)
        result = self._core.dialogs.dispatch(request)
        if isinstance(result, Response):
            tx.respond(result)
            return
        if result is None:
            tx.reply(481)
            return
        dialog = result
        try:
            hub_user = address_of(dialog.local_party.uri)
            remote = address_of(dialog.remote_party.uri)
        except (InvalidAddress, ValueError):
            tx.reply(481)
            return
        self._enqueue(
            (remote.key, hub_user.key),
            tx,
            remote,
            lambda routed: self._in_dialog(tx, dialog, hub_user, remote, routed),
        )

    def _enqueue(
        self,
        key: tuple[str, str],
        tx: ServerTransaction,
        remote: Address,
        handler: Handler,
    ) -> None:
        # The pair's lock keeps its requests in arrival order up to the
        # router, which keeps them in order from there: a MESSAGE lets the
        # next one in once routed, not once answered, so a burst held by a
        # platform's pace is not answered one platform call at a time.
        async def run() -> None:
            release = await self._inbound.acquire(key)
            try:
                if not await self._core.authorized(conn(tx), remote.domain):
                    self._core.refuse(
                        tx, 403, f"the peer's certificate does not speak for {remote.domain}"
                    )
                    return
                await handler(release)
            except BodyError as e:
                if tx.final_response is None:
                    headers = [("Accept", ACCEPT)] if e.status == 415 else []
                    tx.reply(e.status, e.reason, headers=headers)
            except Exception:
                log.failure("handling a {method} failed", method=tx.request.method)
                if tx.final_response is None:
                    tx.reply(500)
            finally:
                release()

        handled = Deferred.fromCoroutine(run())
        self._core.track(handled, f"handling a {tx.request.method}")
        # TCP backpressure: a connection feeding more than the hub can hold
        # is not read until its requests drain.
        self.backpressure.track(getattr(conn(tx), "transport", None), handled)

    async def _in_dialog(
        self,
        tx: ServerTransaction,
        dialog: Dialog,
        hub_user: Address,
        remote: Address,
        routed: Callable[[], None],
    ) -> None:
        method = tx.request.method
        session = self._ims.for_dialog(dialog.id)
        if session is not None:
            self._ims.touch(session)
        if method == "MESSAGE":
            await self._messages.message(tx, hub_user, remote, routed)
        elif method == "INFO":
            await self._messages.info(tx, hub_user, remote)
        elif method == "BYE":
            tx.reply(200)
            if session is not None:
                self._ims.end(session, bye=False)
            else:
                self._core.dialogs.remove(dialog)
        elif method == "INVITE":
            if session is None:
                tx.reply(405, headers=[("Allow", ALLOW)])
                return
            contact = dialog.local_contact or self._core.contact(hub_user, conn(tx))
            tx.reply(
                200,
                headers=[("Contact", contact), ("Content-Type", "application/sdp")],
                body=self._ims.sdp(hub_user, conn(tx), answer=True),
            )
        elif method == "SUBSCRIBE":
            await self._notifier.refresh_in(tx, dialog)
        elif method == "NOTIFY":
            await self._subscriber.notify_in(tx, dialog)
        else:  # pragma: no cover - filtered by _dispatch
            tx.reply(405, headers=[("Allow", ALLOW)])

    def ack_received(self, ack: Request, flow: Any) -> None:
        """
        The ACK for our 2xx to an INVITE.
        """
        dialog = self._core.dialogs.for_request(ack)
        if dialog is None:
            return
        self._ims.acknowledged(dialog)

    def stray_response(self, response: Response, flow: Any) -> None:
        """
        A response no transaction waits for: a late 2xx to our INVITE is
        acknowledged again.
        """
        try:
            is_invite_ok = response.cseq.method == "INVITE" and 200 <= response.status < 300
        except SipSyntaxError:
            return
        if not is_invite_ok:
            return
        dialog = self._core.dialogs.for_response(response)
        if dialog is not None:
            try:
                self._core.layer.send_ack(dialog.create_ack(response.cseq.number), flow)
            except Exception as e:
                log.info("Could not acknowledge a late 2xx: {error}", error=e)

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        """
        No ACK for our 2xx to an INVITE: end that session with a BYE.
        """
        response = transaction.final_response
        if transaction.request.method != "INVITE" or response is None:
            log.debug(
                "{method} transaction failed: {reason}",
                method=transaction.request.method,
                reason=reason,
            )
            return
        if 200 <= response.status < 300 and isinstance(reason, TransactionTimeout):
            try:
                dialog_id = DialogId(
                    response.call_id, response.to.tag or "", transaction.request.from_.tag or ""
                )
            except SipSyntaxError:
                return
            self._ims.unacknowledged(dialog_id)
