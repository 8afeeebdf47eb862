"""
The remote SIP domain's users for the crash suite, behind Kamailio.

L{SipSenders} is a user agent client on one TCP connection to Kamailio's
port 5060 (as sipp is, see L{tests.interop.harness.kamailio}): it sends
pager C{MESSAGE}s to hub users and keeps each one's final status, so the
suite knows which messages the hub answered 2xx (accepted) and which it
never did. L{SipInbox} is the user agent server Kamailio relays the
remote domain's requests to (C{127.0.0.1:UAS_PORT}, TCP): it answers 200
to every request and keeps the C{MESSAGE}s, where the hub's "not
delivered" notices arrive.

Written here rather than as sipp scenarios because the suite needs the
final status of each of a hundred messages, and sipp reports only totals.
"""

from __future__ import annotations

import secrets
from typing import Any, cast

from attrs import define, field
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory, Protocol

from nextplane.connectors.sip.message import Request, Response, make_response, serialize
from nextplane.connectors.sip.parser import StreamParser

__all__ = ["SipInbox", "SipSenders"]


@define
class _Framed(Protocol):
    """
    A TCP connection carrying SIP; hands each parsed message to C{on_message}.
    """

    on_message: Any
    parser: StreamParser = field(factory=StreamParser)

    def dataReceived(self, data: bytes) -> None:
        for message in self.parser.feed(data):
            if isinstance(message, Request | Response):
                self.on_message(self, message)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


class SipSenders:
    """
    Sends C{MESSAGE}s through Kamailio; see the module docstring.

    @ivar finals: Final status by Call-ID (absent: no final answer yet).
    """

    def __init__(self, reactor: Any, proxy: tuple[str, int]) -> None:
        self.reactor = reactor
        self.proxy = proxy
        self.finals: dict[str, int] = {}
        self._connection: _Framed | None = None
        self._local = ("127.0.0.1", 0)

    async def connect(self) -> None:
        """
        Open the TCP connection to Kamailio.
        """
        endpoint = TCP4ClientEndpoint(self.reactor, *self.proxy, timeout=5)
        connection = cast(
            _Framed, await endpoint.connect(Factory.forProtocol(lambda: _Framed(self._response)))
        )
        host = cast(Any, connection.transport).getHost()
        self._local = (host.host, host.port)
        self._connection = connection

    def send(self, sender: str, recipient: str, text: str) -> str:
        """
        Send one C{MESSAGE} from C{sender} to C{recipient} (addresses
        C{user@domain}). @return: Its Call-ID.
        """
        assert self._connection is not None, "connect() first"
        call_id = f"{secrets.token_hex(10)}@crash.b.test"
        host, port = self._local
        request = Request(
            "MESSAGE",
            f"sip:{recipient}",
            body=text.encode(),
        )
        headers = request.headers
        for name, value in (
            ("Via", f"SIP/2.0/TCP {host}:{port};branch=z9hG4bK{secrets.token_hex(8)}"),
            ("From", f"<sip:{sender}>;tag={secrets.token_hex(4)}"),
            ("To", f"<sip:{recipient}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 MESSAGE"),
            ("Max-Forwards", "70"),
            ("Content-Type", "text/plain;charset=UTF-8"),
        ):
            headers = headers.add(name, value)
        self._connection.write(serialize(request.with_headers(headers)))
        return call_id

    def _response(self, connection: _Framed, message: Request | Response) -> None:
        if isinstance(message, Response) and not message.provisional:
            self.finals.setdefault(message.call_id, message.status)

    def close(self) -> None:
        """
        Close the connection.
        """
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _address(uri: Any) -> str:
    return str(getattr(uri, "address_of_record", uri))


@define
class Received:
    """
    One C{MESSAGE} the remote domain's users received.
    """

    sender: str
    recipient: str
    text: str


class SipInbox:
    """
    Receives what Kamailio relays to the remote domain's users; see the
    module docstring.

    @ivar messages: The C{MESSAGE}s received.
    """

    def __init__(self, reactor: Any, port: int) -> None:
        self.reactor = reactor
        self.port = port
        self.messages: list[Received] = []
        self._listening: IListeningPort | None = None
        self._connections: list[_Framed] = []

    async def listen(self) -> None:
        """
        Listen on C{127.0.0.1:port}.
        """
        endpoint = TCP4ServerEndpoint(self.reactor, self.port, interface="127.0.0.1")
        self._listening = await endpoint.listen(Factory.forProtocol(self._connection))

    def _connection(self) -> _Framed:
        connection = _Framed(self._request)
        self._connections.append(connection)
        return connection

    def _request(self, connection: _Framed, message: Request | Response) -> None:
        if not isinstance(message, Request) or message.method == "ACK":
            return
        if message.method == "MESSAGE":
            self.messages.append(
                Received(
                    _address(message.from_.uri),
                    _address(message.to.uri),
                    message.body.decode("utf-8", "replace"),
                )
            )
        response = make_response(message, 200, "OK", to_tag=secrets.token_hex(4))
        connection.write(serialize(response))

    def stop(self) -> defer.Deferred[Any]:
        """
        Stop listening and close the connections Kamailio opened.
        """
        for connection in self._connections:
            connection.close()
        listening, self._listening = self._listening, None
        if listening is None:
            return defer.succeed(None)
        return defer.maybeDeferred(listening.stopListening)
