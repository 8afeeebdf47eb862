"""
slixmpp test clients driven from trial tests.

slixmpp is asyncio; trial runs Twisted's default reactor.  Rather than
switching the whole suite to the asyncio reactor (which every other test and
the runner command would then depend on), each L{AsyncioThread} runs its own
asyncio event loop in a daemon thread.  Every slixmpp object is created and
used only on that loop; the test side calls methods returning Deferreds,
which are resolved on the reactor thread via C{callFromThread}.  Timeouts are
enforced on the asyncio side (C{asyncio.wait_for}), so a stuck peer fails the
test with a message saying what did arrive, instead of hanging it.

Usage from a test::

    runner = AsyncioThread(reactor)
    self.addCleanup(runner.stop)
    alice = XmppTestClient(runner, "alice@prosody1.test", "pw", ca_path, ("127.0.0.11", 5222))
    yield alice.connect()
    self.addCleanup(alice.disconnect)
    alice.send_message("bob@prosody2.test", "hi")
    msg = yield bob.wait_for_message(body="hi")
"""

from __future__ import annotations

import asyncio
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet import defer

__all__ = ["AsyncioThread", "ReceivedMessage", "ReceivedPresence", "XmppTestClient"]

T = TypeVar("T")

_STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class AsyncioThread:
    """
    An asyncio event loop in a daemon thread, bridged to Deferreds.
    """

    def __init__(self, reactor: Any, log_path: Path | None = None) -> None:
        """
        Start the thread.

        @param reactor: the Twisted reactor (for C{callFromThread}).
        @param log_path: if given, slixmpp's debug log is written there.
        """
        self._reactor = reactor
        self.loop = asyncio.new_event_loop()
        self._stopped: defer.Deferred[None] = defer.Deferred()
        self._handler: logging.Handler | None = None
        if log_path is not None:
            self._handler = logging.FileHandler(log_path)
            self._handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            logger = logging.getLogger("slixmpp")
            logger.addHandler(self._handler)
            logger.setLevel(logging.DEBUG)
        self._thread = threading.Thread(target=self._run, name="slixmpp-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            # Let cancelled tasks run their cleanup before closing.
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()
            self._reactor.callFromThread(self._stopped.callback, None)

    def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> defer.Deferred[T]:
        """
        Run a coroutine on the loop; its result arrives on the reactor thread.

        @param make: called on the loop thread to create the coroutine, so
            that objects it creates belong to that loop.
        @return: fires with the coroutine's result or failure; cancelling it
            cancels the coroutine.
        """

        async def run() -> T:
            return await make()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self.loop)

        def cancel(_: defer.Deferred[T]) -> None:
            future.cancel()

        result: defer.Deferred[T] = defer.Deferred(cancel)

        def deliver(done: Future[T]) -> None:
            if result.called:
                return
            if done.cancelled():
                result.errback(defer.CancelledError())
            elif (exc := done.exception()) is not None:
                result.errback(exc)
            else:
                result.callback(done.result())

        future.add_done_callback(lambda done: self._reactor.callFromThread(deliver, done))
        return result

    def stop(self) -> defer.Deferred[None]:
        """
        Stop the loop (cancelling what still runs) and let the thread end.

        @return: fires when the loop is closed.
        """
        if self._handler is not None:
            logging.getLogger("slixmpp").removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        return self._stopped


@dataclass(frozen=True)
class ReceivedMessage:
    """
    A message stanza a client received.

    @ivar sender: C{from} (full JID).
    @ivar to: C{to}.
    @ivar type: C{chat}, C{normal}, C{error}, ...
    @ivar body: body text (empty if none).
    @ivar id: stanza id.
    @ivar error_condition: the stanza error condition for C{type='error'}
        (e.g. C{remote-server-not-found}), else L{None}.
    @ivar xml: the stanza as XML text.
    """

    sender: str
    to: str
    type: str
    body: str
    id: str
    error_condition: str | None
    xml: str

    def child(self, namespace: str, name: str) -> ET.Element | None:
        """
        The first child element C{{namespace}name} of the stanza.

        @param namespace: its namespace.
        @param name: its local name.
        @return: the element or L{None}.
        """
        return ET.fromstring(self.xml).find(f"{{{namespace}}}{name}")


@dataclass(frozen=True)
class ReceivedPresence:
    """
    A presence stanza a client received.

    @ivar sender: C{from}.
    @ivar type: C{available}, C{unavailable}, C{subscribe}, ...
    @ivar xml: the stanza as XML text.
    """

    sender: str
    type: str
    xml: str

    @property
    def status(self) -> str | None:
        """
        The C{<status>} text, if any.
        """
        for child in ET.fromstring(self.xml):
            if child.tag.endswith("}status"):
                return child.text or ""
        return None


def _error_condition(element: ET.Element) -> str | None:
    # Read the raw XML: touching msg["error"] in slixmpp creates an error
    # plugin and changes the stanza (shared/notes/xmpp-s2s.md 3.6).
    for child in element:
        if child.tag.endswith("}error"):
            for condition in child:
                if condition.tag.startswith(
                    "{" + _STANZA_ERRORS + "}"
                ) and not condition.tag.endswith("}text"):
                    return condition.tag.split("}", 1)[1]
    return None


class _Waiter:
    def __init__(self, predicate: Callable[[Any], bool], future: asyncio.Future[Any]) -> None:
        self.predicate = predicate
        self.future = future


class XmppTestClient:
    """
    One slixmpp c2s client, logged in for a test.

    @ivar jid: bare JID.
    @ivar messages: messages received so far (appended on the loop thread).
    @ivar presences: presences received so far.
    """

    def __init__(
        self,
        runner: AsyncioThread,
        jid: str,
        password: str,
        ca_cert: Path,
        address: tuple[str, int],
    ) -> None:
        """
        @param runner: the asyncio thread the client lives on.
        @param jid: account JID, e.g. C{alice@prosody1.test}.
        @param password: its password.
        @param ca_cert: CA to verify the server certificate with; the name
            checked is the JID's domain, whatever C{address} is.
        @param address: (host, port) of the c2s listener; no DNS lookups.
        """
        self.jid = jid
        self._password = password
        self._ca_cert = ca_cert
        self._address = address
        self._runner = runner
        self._xmpp: Any = None
        self.messages: list[ReceivedMessage] = []
        self.presences: list[ReceivedPresence] = []
        self._message_waiters: list[_Waiter] = []
        self._presence_waiters: list[_Waiter] = []

    # -- running on the asyncio loop ------------------------------------

    def _on_message(self, msg: Any) -> None:
        element = msg.xml
        body = element.find("{jabber:client}body")
        received = ReceivedMessage(
            sender=str(element.get("from", "")),
            to=str(element.get("to", "")),
            type=str(element.get("type", "normal")),
            body=(body.text or "") if body is not None else "",
            id=str(element.get("id", "")),
            error_condition=_error_condition(element),
            xml=ET.tostring(element, encoding="unicode"),
        )
        self.messages.append(received)
        self._resolve(self._message_waiters, received)

    def _on_presence(self, presence: Any) -> None:
        element = presence.xml
        received = ReceivedPresence(
            sender=str(element.get("from", "")),
            type=str(element.get("type", "available")),
            xml=ET.tostring(element, encoding="unicode"),
        )
        self.presences.append(received)
        self._resolve(self._presence_waiters, received)

    @staticmethod
    def _resolve(waiters: list[_Waiter], item: Any) -> None:
        for waiter in list(waiters):
            if not waiter.future.done() and waiter.predicate(item):
                waiter.future.set_result(item)
                waiters.remove(waiter)

    async def _connect(self, timeout: float) -> None:
        # Imported lazily: only interop tests need slixmpp.
        import slixmpp
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        loop = asyncio.get_running_loop()
        xmpp = slixmpp.ClientXMPP(self.jid, self._password)
        xmpp.loop = loop
        xmpp.ca_certs = self._ca_cert
        # c2s on 5222: STARTTLS only; no direct TLS attempt, no plaintext.
        xmpp.enable_direct_tls = False
        xmpp.enable_starttls = True
        xmpp.enable_plaintext = False
        # Subscriptions are answered by the test, never automatically.
        xmpp.auto_authorize = None
        xmpp.auto_subscribe = False
        self._xmpp = xmpp
        started: asyncio.Future[None] = loop.create_future()

        def fail(reason: str) -> Callable[[Any], None]:
            def handler(event: Any) -> None:
                if not started.done():
                    started.set_exception(ConnectionError(f"{self.jid}: {reason}: {event}"))

            return handler

        def session_start(event: Any) -> None:
            if not started.done():
                started.set_result(None)

        xmpp.add_event_handler("session_start", session_start)
        xmpp.add_event_handler("failed_auth", fail("authentication failed"))
        xmpp.add_event_handler("connection_failed", fail("connection failed"))
        xmpp.add_event_handler("stream_error", fail("stream error"))
        # Every message stanza: slixmpp's "message" event only fires for
        # messages with a body, and bounces come as "message_error", but
        # chat states and reactions have neither.
        xmpp.register_handler(
            Callback(
                "interop: all messages",
                MatchXPath(f"{{{xmpp.default_ns}}}message"),
                self._on_message,
            )
        )
        xmpp.add_event_handler("presence", self._on_presence)
        host, port = self._address
        xmpp.connect(host=host, port=port)
        try:
            await asyncio.wait_for(started, timeout)
            xmpp.send_presence()
            await xmpp.get_roster(timeout=timeout)
        except BaseException:
            # Stop slixmpp's reconnect loop before reporting the failure.
            xmpp.cancel_connection_attempt()
            xmpp.abort()
            raise

    async def _wait(
        self,
        items: list[Any],
        waiters: list[_Waiter],
        predicate: Callable[[Any], bool],
        timeout: float,
        what: str,
    ) -> Any:
        for item in items:
            if predicate(item):
                return item
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, future)
        waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            seen = "\n  ".join(i.xml for i in items) or "nothing"
            raise defer.TimeoutError(
                f"{self.jid}: no {what} within {timeout}s; received:\n  {seen}"
            ) from None
        finally:
            if waiter in waiters:
                waiters.remove(waiter)

    async def _disconnect(self, timeout: float) -> None:
        xmpp = self._xmpp
        if xmpp is None:
            return
        self._xmpp = None
        xmpp.cancel_connection_attempt()
        if xmpp.transport is not None:
            try:
                await asyncio.wait_for(xmpp.disconnect(wait=timeout), timeout + 1)
            except TimeoutError:
                xmpp.abort()

    # -- called from the reactor thread ---------------------------------

    def connect(self, timeout: float = 20.0) -> defer.Deferred[None]:
        """
        Connect, STARTTLS (verifying the server certificate), authenticate,
        bind, send initial presence and fetch the roster.

        @param timeout: seconds for the whole login.
        @return: fires when the session is ready.
        """
        return self._runner.submit(lambda: self._connect(timeout))

    def send_message(
        self, to: str, body: str, mtype: str = "chat", id: str | None = None
    ) -> defer.Deferred[None]:
        """
        Send a message stanza.

        @param to: recipient JID.
        @param body: body text.
        @param mtype: message type.
        @param id: stanza id (a random one if L{None}).
        @return: fires once the stanza is queued for sending.
        """

        async def send() -> None:
            if self._xmpp is None:
                raise ConnectionError(f"{self.jid} is not connected")
            msg = self._xmpp.make_message(mto=to, mbody=body, mtype=mtype)
            if id is not None:
                msg["id"] = id
            msg.send()

        return self._runner.submit(send)

    def send_raw(self, data: str) -> defer.Deferred[None]:
        """
        Send raw XML on the stream (for protocol-level tests).

        @param data: XML text.
        @return: fires once queued.
        """

        async def send() -> None:
            if self._xmpp is None:
                raise ConnectionError(f"{self.jid} is not connected")
            self._xmpp.send_raw(data)

        return self._runner.submit(send)

    def send_presence(self, to: str, ptype: str) -> defer.Deferred[None]:
        """
        Send a directed presence, e.g. C{subscribe} or C{subscribed}.

        @param to: recipient JID.
        @param ptype: presence type.
        @return: fires once queued.
        """

        async def send() -> None:
            if self._xmpp is None:
                raise ConnectionError(f"{self.jid} is not connected")
            self._xmpp.send_presence(pto=to, ptype=ptype)

        return self._runner.submit(send)

    def iq(
        self, to: str, payload: str, type: str = "get", timeout: float = 20.0
    ) -> defer.Deferred[tuple[str, ET.Element]]:
        """
        Send an IQ with one payload element and wait for the answer.

        @param to: recipient JID.
        @param payload: the child element as XML text.
        @param type: C{get} or C{set}.
        @param timeout: seconds.
        @return: fires with the answer's C{type} (C{result} or C{error})
            and the answer as an element; fails with
            L{defer.TimeoutError}.
        """

        async def send() -> tuple[str, ET.Element]:
            from slixmpp.exceptions import IqError, IqTimeout

            if self._xmpp is None:
                raise ConnectionError(f"{self.jid} is not connected")
            iq = self._xmpp.make_iq(ito=to, itype=type)
            iq.append(ET.fromstring(payload))
            try:
                answer = await iq.send(timeout=timeout)
            except IqError as e:
                answer = e.iq
            except IqTimeout:
                raise defer.TimeoutError(
                    f"{self.jid}: no answer from {to} within {timeout}s"
                ) from None
            return str(answer["type"]), answer.xml

        return self._runner.submit(send)

    def roster_item(self, jid: str, refresh: bool = False) -> defer.Deferred[dict[str, Any]]:
        """
        The client's roster entry for C{jid} as the server pushed it.

        @param jid: bare JID.
        @param refresh: fetch the roster from the server first.
        @return: fires with C{subscription}, C{pending_out}, C{pending_in}
            (C{subscription} is C{"none"} for an unknown contact).
        """

        async def read() -> dict[str, Any]:
            if self._xmpp is None:
                raise ConnectionError(f"{self.jid} is not connected")
            if refresh:
                await self._xmpp.get_roster()
            roster = self._xmpp.client_roster
            if not roster.has_jid(jid):
                return {"subscription": "none", "pending_out": False, "pending_in": False}
            item = roster[jid]
            return {key: item[key] for key in ("subscription", "pending_out", "pending_in")}

        return self._runner.submit(read)

    def wait_for_message(
        self,
        predicate: Callable[[ReceivedMessage], bool] | None = None,
        *,
        body: str | None = None,
        sender: str | None = None,
        type: str | None = None,
        timeout: float = 20.0,
    ) -> defer.Deferred[ReceivedMessage]:
        """
        The first received message (already or later) matching all criteria.

        @param predicate: extra test on a L{ReceivedMessage}.
        @param body: exact body.
        @param sender: bare or full JID the message must come from.
        @param type: message type, e.g. C{"error"}.
        @param timeout: seconds.
        @return: fires with the message; fails with L{defer.TimeoutError}
            listing what did arrive.
        """

        def matches(m: ReceivedMessage) -> bool:
            return (
                (body is None or m.body == body)
                and (sender is None or m.sender == sender or m.sender.split("/")[0] == sender)
                and (type is None or m.type == type)
                and (predicate is None or predicate(m))
            )

        what = f"message (body={body!r}, sender={sender!r}, type={type!r})"
        return self._runner.submit(
            lambda: self._wait(self.messages, self._message_waiters, matches, timeout, what)
        )

    def wait_for_presence(
        self,
        sender: str,
        type: str = "available",
        timeout: float = 20.0,
        status: str | None = None,
    ) -> defer.Deferred[ReceivedPresence]:
        """
        The first presence of C{type} from C{sender} (bare or full JID).

        @param sender: JID.
        @param type: presence type.
        @param timeout: seconds.
        @param status: if given, the C{<status>} text it must carry.
        @return: fires with the presence.
        """

        def matches(p: ReceivedPresence) -> bool:
            return (
                p.type == type
                and (p.sender == sender or p.sender.split("/")[0] == sender)
                and (status is None or p.status == status)
            )

        what = f"presence (sender={sender!r}, type={type!r}, status={status!r})"
        return self._runner.submit(
            lambda: self._wait(self.presences, self._presence_waiters, matches, timeout, what)
        )

    def disconnect(self, timeout: float = 5.0) -> defer.Deferred[None]:
        """
        Close the stream (waiting up to C{timeout} for the server), then the
        socket.  Safe to call twice.

        @param timeout: seconds.
        @return: fires when disconnected.
        """
        return self._runner.submit(lambda: self._disconnect(timeout))
