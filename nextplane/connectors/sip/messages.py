# -*- test-case-name: tests.sip.test_connector -*-
"""
Instant messages and typing, both ways: pager mode (RFC 3428, an
out-of-dialog MESSAGE per message) and MESSAGE inside the sessions of
L{nextplane.connectors.sip.sessions}.

Towards the domains in C{session_domains} (and towards a user who has a
session open with the hub user) messages go in a session, opening one with
the first message in C{ms-text-format}; elsewhere as pager MESSAGEs, and a
peer answering those with 405/501 is switched to session mode. An
in-dialog MESSAGE answered 408/480/481 ends the session, and the message is
sent again in a new one. Typing: RFC 3994 C{isComposing} MESSAGEs and
Microsoft's C{KeyboardActivity} INFO (INFO inside Microsoft sessions,
isComposing otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ...interfaces import DeliveryFailed
from ...model.address import Address
from ...model.events import (
    Event,
    TextMessage,
    Typing,
    TypingState,
)
from ...model.text import RichText
from ...ordering import KeyedSerializer
from ...router import Outcome
from ...storage.records import WorkRecord
from .addresses import address_uri
from .config import PLATFORM
from .core import SipCore
from .im import (
    ISCOMPOSING,
    BodyError,
    Content,
    build_is_composing,
    build_keyboard_activity,
    decode_text,
    encode_text,
    media_type,
    parse_is_composing,
    parse_keyboard_activity,
)
from .inbound_work import InboundWork
from .message import Request
from .sessions import ImSession, ImSessions
from .status import failed
from .transaction import ServerTransaction

__all__ = ["ImMessages"]

log = Logger(namespace="nextplane.sip.connector")


class SessionGone(Exception):
    """
    The session a message was sent in is gone; send it again.
    """


class ImMessages:
    """
    Messages and typing between hub users and SIP users.
    """

    def __init__(
        self, core: SipCore, sessions: ImSessions, inbound: InboundWork | None = None
    ) -> None:
        self._core = core
        self._ims = sessions
        self.inbound = inbound if inbound is not None else InboundWork(None)
        self._outbound = KeyedSerializer()
        self._no_typing: set[str] = set()

    def _event_for(self, content: Content, sender: Address, recipient: Address) -> Event:
        if content.media_type == ISCOMPOSING:
            return Typing(
                sender=sender,
                recipient=recipient,
                state=parse_is_composing(content.body),
                timestamp=self._core.now(),
            )
        if not content.body.strip():
            raise BodyError(400, "Empty message body")
        return TextMessage(
            sender=sender,
            recipient=recipient,
            body=decode_text(content.content_type or None, content.body),
            timestamp=self._core.now(),
        )

    async def route_content(
        self,
        request: Request,
        content: Content,
        sender: Address,
        recipient: Address,
        routed: Callable[[], None] = lambda: None,
    ) -> Outcome:
        """
        Route a message body (text or isComposing) from C{sender}. A text
        is routed once per request identity with its work record
        (L{InboundWork}), mapped to the request's id in the store first.

        @param routed: Called once the event is in the router's hands (its
            order among the pair's events is fixed), before its outcome.
        """
        event = self._event_for(content, sender, recipient)
        if not isinstance(event, TextMessage):
            return await self._handed(self._core.route(event), routed)
        session = await self._core.chat_session(sender, recipient)
        text = event.with_session(session)

        async def route(work: WorkRecord | None) -> Outcome:
            native = f"{session.value}:{request.call_id}:{request.cseq.number}"
            await self._core.store.map_message(event.message_id, PLATFORM, native, session)
            return await self._handed(self._core.route(text, work), routed)

        return await self.inbound.once(request, text, session, route)

    @staticmethod
    async def _handed(routing: Coroutine[Any, Any, Outcome], routed: Callable[[], None]) -> Outcome:
        # The router takes its place in the pair's order synchronously.
        outcome = Deferred.fromCoroutine(routing)
        routed()
        return await outcome

    async def message(
        self,
        tx: ServerTransaction,
        hub_user: Address,
        remote: Address,
        routed: Callable[[], None] = lambda: None,
    ) -> None:
        """
        Serve a MESSAGE (pager or in a session): route it, answer with the
        outcome. C{routed} is called once it is in the router's hands.
        """
        request = tx.request
        content = Content(request.headers.get("Content-Type") or "", request.body)
        outcome = await self.route_content(request, content, remote, hub_user, routed)
        self._core.answer(tx, outcome)

    async def info(self, tx: ServerTransaction, hub_user: Address, remote: Address) -> None:
        """
        Serve an INFO: Microsoft KeyboardActivity becomes typing; other packages are answered 200.
        """
        request = tx.request
        state: TypingState | None = None
        if request.body and media_type(request.headers.get("Content-Type"))[0].endswith("xml"):
            state = parse_keyboard_activity(request.body)
        if state is None:
            tx.reply(200)  # other INFO packages carry nothing for the hub
            return
        outcome = await self._core.route(
            Typing(sender=remote, recipient=hub_user, state=state, timestamp=self._core.now())
        )
        self._core.answer(tx, outcome)

    async def send_text(
        self, sender: Address, recipient: Address, body: RichText, message_id: str | None
    ) -> None:
        """
        Send a text to a SIP user (pager or session; once more if the session died), and map its id.

        @raise DeliveryFailed: It could not be delivered.
        """
        content = encode_text(body, self._core.settings.message_format)
        for attempt in range(2):
            try:
                request = await self._send_content(sender, recipient, content, retry=attempt == 0)
            except SessionGone:
                continue
            if request is not None and message_id is not None:
                session = await self._core.chat_session(sender, recipient)
                native = f"{session.value}:{request.call_id}:{request.cseq.number}"
                await self._core.store.map_message(message_id, PLATFORM, native, session)
            return
        raise DeliveryFailed("recipient-unavailable", f"no IM session with {recipient}")

    async def _send_content(
        self, sender: Address, recipient: Address, content: Content, retry: bool
    ) -> Request | None:
        """
        Send one message (or typing notification); return the request that
        carried it.

        @raise SessionGone: The session died under it (retry once).
        """
        key = (sender.key, recipient.key)
        release = await self._outbound.acquire(key)
        session: ImSession | None = None
        try:
            session = self._ims.usable(key)
            if session is None and recipient.domain in self._ims.session_mode:
                session = self._ims.open(sender, recipient, content)
                assert session.opening is not None
                taken = await session.opening
                if taken:
                    return session.invite  # the INVITE carried it
            if session is not None:
                if session.opening is not None and not session.confirmed:
                    await session.opening
                if session.ended or session.dialog is None:
                    # An inbound session that never came up (refused,
                    # cancelled, not ACKed): send another way.
                    raise SessionGone()
                tx, flow = await self._core.send_in_dialog(
                    session.dialog,
                    session.flow,
                    sender.domain,
                    recipient.domain,
                    "MESSAGE",
                    content,
                )
                session.flow = flow
                self._ims.touch(session)
            else:
                flow = await self._core.connect(recipient.domain, sender.domain)
                tx = self._core.send(
                    self._core.pager(sender, address_uri(recipient), content), flow
                )
        finally:
            release()
        response = await self._core.final(tx, recipient.domain)
        if 200 <= response.status < 300:
            return tx.request
        if session is not None and response.status in (408, 480, 481):
            self._ims.end(session, bye=response.status != 481)
            if retry:
                raise SessionGone()
        if (
            session is None
            and response.status in (405, 501)
            and recipient.domain not in self._ims.session_mode
        ):
            # A Skype for Business style peer: no pager mode, use sessions.
            log.info("{domain} refuses pager MESSAGE; using IM sessions", domain=recipient.domain)
            self._ims.session_mode.add(recipient.domain)
            if retry:
                raise SessionGone()
        raise failed(response, recipient.domain)

    async def send_typing(self, event: Typing) -> None:
        """
        Send a typing notification: INFO in a Microsoft session, else isComposing (not to peers that
        refused it).
        """
        key = (event.sender.key, event.recipient.key)
        session = self._ims.usable(key)
        if session is not None and session.confirmed and session.dialog is not None:
            if session.microsoft:
                content = build_keyboard_activity(event.state)
                tx, flow = await self._core.send_in_dialog(
                    session.dialog,
                    session.flow,
                    event.sender.domain,
                    event.recipient.domain,
                    "INFO",
                    content,
                )
                session.flow = flow
                response = await self._core.final(tx, event.recipient.domain)
                if not 200 <= response.status < 300:
                    raise failed(response, event.recipient.domain)
                return
        elif event.recipient.domain in self._ims.session_mode:
            return  # no session is opened for typing alone
        if event.recipient.domain in self._no_typing:
            return
        try:
            await self._send_content(
                event.sender, event.recipient, build_is_composing(event.state), retry=False
            )
        except DeliveryFailed as e:
            if e.condition == "feature-not-implemented":
                # RFC 3994 is optional: a peer refusing it (415) gets no more.
                self._no_typing.add(event.recipient.domain)
            raise
