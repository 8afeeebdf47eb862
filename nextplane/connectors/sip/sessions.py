# -*- test-case-name: tests.sip.test_connector -*-
"""
Session-mode IM as Skype for Business does it (MS-OCSPROT): INVITE with
an C{m=message} SDP whose C{ms-text-format} header may carry the first
message, 200/ACK, MESSAGE inside the dialog, BYE; sessions end after
C{session_idle_timeout} seconds without traffic. This module keeps the
sessions (both ways); L{nextplane.connectors.sip.messages} sends and
receives the messages in them.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from attrs import define
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from ...interfaces import DeliveryFailed
from ...model.address import Address
from ...router import Outcome
from .addresses import address_uri
from .core import Pair, SipCore, cancel, conn
from .dialog import Dialog, DialogId
from .headers import (
    is_microsoft,
    offers_im,
    supported_tags,
)
from .im import (
    ISCOMPOSING,
    Content,
    decode_ms_text_format,
    encode_ms_text_format,
)
from .message import Headers, Request, Response
from .status import failed
from .transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionError,
    new_tag,
)
from .transport import SipConnection

__all__ = ["ImSession", "ImSessions"]

log = Logger(namespace="nextplane.sip.connector")

#: Methods the hub answers (ACK and CANCEL are handled by the transaction
#: layer).
ALLOW = "INVITE, ACK, CANCEL, BYE, MESSAGE, INFO, SUBSCRIBE, NOTIFY, OPTIONS"


@define(eq=False)
class ImSession(Pair):
    """
    An INVITE session between a hub user and a SIP user.

    @ivar opening: While our INVITE is under way, fires with whether the
        peer took the first message from C{ms-text-format}; for a peer's
        INVITE carrying a first message, fires with whether the session came
        up (our 200 was ACKed), so that replies wait to go inside it.
    """

    outbound: bool
    dialog: Dialog | None = None
    flow: SipConnection | None = None
    confirmed: bool = False
    microsoft: bool = True
    opening: Deferred[bool] | None = None
    invite: Request | None = None
    idle_call: IDelayedCall | None = None
    ended: bool = False


class ImSessions:
    """
    The INVITE sessions between hub users and SIP users.

    @ivar session_mode: Remote domains reached with sessions rather than
        pager MESSAGEs (configured, or learnt from a 405/501).
    """

    def __init__(self, core: SipCore) -> None:
        self._core = core
        self._by_key: dict[tuple[str, str], ImSession] = {}
        self._by_dialog: dict[DialogId, ImSession] = {}
        self.session_mode: set[str] = set(core.settings.session_domains)

    def __len__(self) -> int:
        return len(self._by_key)

    def all(self) -> list[ImSession]:
        """
        The sessions now open or opening.
        """
        return list(self._by_key.values())

    def for_dialog(self, dialog_id: DialogId) -> ImSession | None:
        """
        The session of a dialog, if it is one.
        """
        return self._by_dialog.get(dialog_id)

    def acknowledged(self, dialog: Dialog) -> None:
        """
        The ACK for our 2xx to an INVITE came in.
        """
        session = self._by_dialog.get(dialog.id)
        if session is not None:
            session.confirmed = True
            self.touch(session)
            _settle(session, True)

    def unacknowledged(self, dialog_id: DialogId) -> None:
        """
        No ACK came for our 2xx to an INVITE: end the session with a BYE.
        """
        session = self._by_dialog.get(dialog_id)
        if session is not None and not session.confirmed:
            self.end(session, bye=True)

    async def invite(
        self,
        tx: ServerTransaction,
        hub_user: Address,
        remote: Address,
        route_first: Callable[[Request, Content, Address, Address], Awaitable[Outcome]],
    ) -> None:
        """
        Answer an INVITE from C{remote} to C{hub_user}: an IM session is
        set up, its first message (in C{ms-text-format}) routed with
        C{route_first}.
        """
        request = tx.request
        if request.body:
            if request.content_type != "application/sdp":
                tx.reply(415, headers=[("Accept", "application/sdp")])
                return
            if not offers_im(request.body):
                tx.reply(
                    488,
                    headers=[("Warning", f'304 {self._core.settings.via_host} "Only IM sessions"')],
                )
                return
        refusal = self._core.refusal_reason(hub_user.domain, remote.domain)
        if refusal is not None:
            self._core.refuse(tx, 403, refusal)
            return
        first: Content | None = None
        header = request.headers.get("ms-text-format")
        if header:
            first = decode_ms_text_format(header)
        headers = [("Allow", ALLOW)]
        session = ImSession(
            hub_user=hub_user, remote=remote, outbound=False, microsoft=is_microsoft(request)
        )
        if first is not None:
            # Known before the first message is routed: a reply to it (an
            # echo, a quick user) waits for the 200/ACK and goes inside this
            # session, not as a pager MESSAGE ahead of our 200.
            session.opening = Deferred()
            self._take_key(session)
            outcome = await route_first(request, first, remote, hub_user)
            if not outcome.delivered:
                self.end(session, bye=False)
                self._core.answer(tx, outcome)
                return
            headers.append(("Supported", "ms-text-format"))
        contact = self._core.contact(hub_user, conn(tx))
        response = tx.reply(
            200,
            headers=[("Contact", contact), *headers, ("Content-Type", "application/sdp")],
            body=self.sdp(hub_user, conn(tx), answer=True),
            copy_record_route=True,
        )
        if tx.final_response is not response or session.ended:
            self.end(session, bye=False)
            return  # cancelled meanwhile
        dialog = Dialog.as_uas(request, response, local_contact=contact, over_tls=conn(tx).tls)
        self._core.dialogs.add(dialog)
        session.dialog = dialog
        session.flow = conn(tx)
        self._take_key(session)
        self._by_dialog[dialog.id] = session
        self.touch(session)

    def _take_key(self, session: ImSession) -> None:
        """
        Make C{session} the one of its key, ending (BYE) another.
        """
        old = self._by_key.get(session.key)
        if old is not None and old is not session:
            self.end(old, bye=True)
        self._by_key[session.key] = session

    def sdp(self, user: Address, flow: Any, answer: bool) -> bytes:
        """
        The session description offering (or answering) an C{m=message} stream.
        """
        host = "0.0.0.0"  # noqa: S104 - an address in a session description, nothing binds it
        transport = getattr(flow, "transport", None)
        if transport is not None:
            found = getattr(transport.getHost(), "host", None)
            if isinstance(found, str) and found:
                host = found
        kind = "IP6" if ":" in host else "IP4"
        target = address_uri(user) if answer else "null"
        return (
            f"v=0\r\no=- 0 0 IN {kind} {host}\r\ns=session\r\nc=IN {kind} {host}\r\nt=0 0\r\n"
            f"m=message {self._core.settings.via_port} sip {target}\r\n"
            f"a=accept-types:text/plain text/html multipart/alternative {ISCOMPOSING}\r\n"
        ).encode()

    def usable(self, key: tuple[str, str]) -> ImSession | None:
        """
        The live session of a C{(hub user, SIP user)} key, if any.
        """
        session = self._by_key.get(key)
        if session is None or session.ended:
            return None
        return session

    def open(self, sender: Address, recipient: Address, first: Content) -> ImSession:
        """
        Start an outbound session carrying C{first} in C{ms-text-format}; its C{opening} fires with
        whether the peer took it.
        """
        session = ImSession(hub_user=sender, remote=recipient, outbound=True)
        session.opening = Deferred()
        self._by_key[session.key] = session
        opening = session.opening

        def done(result: Any) -> None:
            if isinstance(result, Failure):
                self.end(session, bye=False)
                opening.errback(result)
            else:
                opening.callback(result)

        Deferred.fromCoroutine(self._invite_out(session, first)).addBoth(done)
        return session

    async def _invite_out(self, session: ImSession, first: Content) -> bool:
        sender, recipient = session.hub_user, session.remote
        flow = await self._core.connect(recipient.domain, sender.domain)
        contact = self._core.contact(sender, flow)
        target = address_uri(recipient)
        invite = Request(
            "INVITE",
            target,
            Headers(
                [
                    ("From", f"<{address_uri(sender)}>;tag={new_tag()}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", self._core.new_call_id()),
                    ("CSeq", "1 INVITE"),
                    ("Contact", contact),
                    ("Allow", ALLOW),
                    ("Supported", "ms-sender"),
                    ("Ms-Conversation-ID", secrets.token_urlsafe(16)),
                    ("ms-text-format", encode_ms_text_format(first)),
                    ("Content-Type", "application/sdp"),
                ]
            ),
            self.sdp(sender, flow, answer=False),
        )
        holder: list[ClientTransaction] = []

        def on_response(response: Response) -> None:
            # A further 2xx (the peer did not see our ACK yet): ACK again.
            if 200 <= response.status < 300 and session.dialog is not None and holder:
                try:
                    self._core.layer.send_ack(
                        session.dialog.create_ack(holder[0].request.cseq.number), flow
                    )
                except Exception as e:
                    log.info("Could not send ACK: {error}", error=e)

        tx = self._core.send(invite, flow, on_response)
        holder.append(tx)
        session.invite = tx.request
        response = await self._core.final(tx, recipient.domain)
        if not 200 <= response.status < 300:
            raise failed(response, recipient.domain)
        dialog = Dialog.as_uac(tx.request, response, local_contact=contact)
        self._core.dialogs.add(dialog)
        session.dialog = dialog
        session.flow = flow
        session.confirmed = True
        self._by_dialog[dialog.id] = session
        self._core.layer.send_ack(dialog.create_ack(tx.request.cseq.number), flow)
        self.touch(session)
        return "ms-text-format" in supported_tags(response)

    def touch(self, session: ImSession) -> None:
        """
        Restart the session's idle timer.
        """
        cancel(session.idle_call)
        if session.ended:
            return
        session.idle_call = self._core.clock.callLater(
            self._core.settings.session_idle_timeout, self.end, session, True
        )

    def end(self, session: ImSession, bye: bool) -> None:
        """
        End a session (sending BYE if C{bye}) and forget its dialog.
        """
        if session.ended:
            return
        session.ended = True
        if not session.outbound:
            _settle(session, False)
        cancel(session.idle_call)
        session.idle_call = None
        if self._by_key.get(session.key) is session:
            del self._by_key[session.key]
        dialog = session.dialog
        if dialog is None:
            return
        self._by_dialog.pop(dialog.id, None)
        self._core.dialogs.remove(dialog)
        if bye:
            self._core.background(self._bye(session, dialog), "sending BYE")
        dialog.terminate()

    async def _bye(self, session: ImSession, dialog: Dialog) -> None:
        try:
            tx, _ = await self._core.send_in_dialog(
                dialog, session.flow, session.hub_user.domain, session.remote.domain, "BYE"
            )
            await tx.final
        except (DeliveryFailed, TransactionError) as e:
            log.info("BYE to {remote} failed: {error}", remote=str(session.remote), error=e)


def _settle(session: ImSession, up: bool) -> None:
    """
    Fire an inbound session's C{opening} (replies waiting for it go on).
    """
    opening = session.opening
    if opening is not None and not opening.called:
        opening.callback(up)
