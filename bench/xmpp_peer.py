"""
A remote XMPP server in the load process: the s2s load peer of benchmarks.

L{XmppPeer} is nextplane's own s2s stack (L{S2SService}) serving one
remote domain (C{widget.test}) with a certificate from the bench CA:

  - as initiator it opens authenticated streams to the hub (STARTTLS,
    SASL EXTERNAL with its certificate as client certificate) and writes
    pre-serialised stanzas on them (L{PeerStream.write}): the load side
    spends nothing on building or serialising elements;
  - as receiver (L{XmppPeer.listen}) it accepts the streams the hub opens
    to it and answers vCard requests (XEP-0054) with a display name, as a
    real server would for the hub's Slack display of a sender (otherwise
    the first message of each sender waits for the hub's profile timeout);
    other stanzas go to C{on_stanza} or are ignored.

The hub reaches the peer through a C{[[federation.partners]]} route to
L{XmppPeer.listen}'s port (no DNS).

Usage::

    peer = XmppPeer(reactor, "widget.test", certs, ca_cert, {"acme.test": "127.0.0.1:5269"})
    port = peer.listen()                    # hub route: widget.test -> 127.0.0.1:<port>
    stream = await peer.connect("acme.test")
    stream.write(message_bytes("peter@widget.test/r", "user0@acme.test", "hello", "id1"))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from xml.sax.saxutils import escape, quoteattr

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.names.resolve import ResolverChain
from twisted.words.xish import domish

from nextplane.connectors.xmpp.namespaces import NS_SERVER, NS_VCARD
from nextplane.connectors.xmpp.s2s import S2SService, S2SSettings
from nextplane.connectors.xmpp.s2s_out import OutboundStream, StreamPurpose
from nextplane.connectors.xmpp.tls import TenantTLS
from nextplane.devcerts import CertPaths

__all__ = ["PeerStream", "XmppPeer", "message_bytes"]

#: Long enough that no idle or negotiation timer fires during a benchmark.
_FOREVER = 10 * 86400.0


def message_bytes(sender: str, recipient: str, body: str, stanza_id: str) -> bytes:
    """
    One serialised C{<message type='chat'>} in the stream's default
    namespace (C{jabber:server}), as a server relays a user's message.
    """
    return (
        f"<message from={quoteattr(sender)} to={quoteattr(recipient)} type='chat' "
        f"id={quoteattr(stanza_id)}><body>{escape(body)}</body></message>"
    ).encode()


class PeerStream:
    """
    One authenticated outbound s2s stream from the peer to the hub.
    """

    def __init__(self, stream: OutboundStream) -> None:
        self.stream = stream
        # The hub acknowledges stanzas (XEP-0198) as it would Prosody's; raw
        # writes are not counted by the stream, so the load side does not
        # track those acknowledgements (they would count more than it sent).
        stream.acks = None

    def write(self, data: bytes) -> None:
        """
        Write serialised stanzas (one or several) on the stream.
        """
        self.stream.send_raw(data)

    @property
    def connected(self) -> bool:
        """
        Whether the stream is still usable.
        """
        return bool(self.stream.is_ready and not self.stream.disconnected)

    def close(self) -> Deferred[None]:
        """
        Close the stream; fires once the connection is gone.
        """
        lost = self.stream.when_lost()
        self.stream.close()
        return lost


class XmppPeer:
    """
    A remote XMPP server for benchmarks; see the module docstring.

    @ivar s2s: Its L{S2SService}.
    @ivar vcards_answered: vCard requests answered.
    @ivar received: Other stanzas received.
    """

    def __init__(
        self,
        reactor: Any,
        domain: str,
        certs: CertPaths,
        ca_certificate: Path | str,
        routes: Mapping[str, str],
        *,
        on_stanza: Callable[[domish.Element], object] | None = None,
        display_name: Callable[[str], str] | None = None,
    ) -> None:
        """
        @param domain: The peer's domain (its certificate's name).
        @param certs: Its certificate and key.
        @param ca_certificate: The CA the hub's certificates chain to.
        @param routes: Hub domain -> C{"host:port"} of the hub's s2s listener.
        @param on_stanza: Receives stanzas other than vCard requests.
        @param display_name: The vCard C{FN} for a local part (default:
            capitalised local part).
        """
        self.reactor = reactor
        self.domain = domain
        self.on_stanza = on_stanza
        self.display_name = display_name or (lambda local: local.capitalize())
        self.vcards_answered = 0
        self.received = 0
        self.s2s = S2SService(
            domains={domain: TenantTLS(str(certs.cert), str(certs.key))},
            ca_paths=[str(ca_certificate)],
            resolver=cast(Any, ResolverChain([])),
            reactor=reactor,
            on_stanza=self._stanza,
            settings=S2SSettings(
                require_certificates=True,
                static_routes=dict(routes),
                idle_timeout=_FOREVER,
                max_streams_per_address=100_000,
                max_queue=100_000,
            ),
        )
        self._port: IListeningPort | None = None

    def listen(self, port: int = 0, interface: str = "127.0.0.1") -> Deferred[int]:
        """
        Accept s2s streams (STARTTLS) on C{interface}:C{port}.

        @return: Fires with the port.
        """
        endpoint = TCP4ServerEndpoint(self.reactor, port, interface=interface)

        def listening(listening_port: IListeningPort) -> int:
            self._port = listening_port
            return int(listening_port.getHost().port)  # type: ignore[attr-defined]

        return endpoint.listen(self.s2s.listen_factory()).addCallback(listening)

    async def connect(self, hub_domain: str) -> PeerStream:
        """
        Open one new authenticated stream to C{hub_domain} (not pooled:
        each call is another TCP + TLS connection).
        """
        opened = await self.s2s._opener.open(self.domain, hub_domain, StreamPurpose.DELIVER)
        return PeerStream(cast(OutboundStream, opened))

    async def connect_many(
        self, hub_domain: str, count: int, concurrency: int = 20
    ) -> list[PeerStream]:
        """
        Open C{count} streams, at most C{concurrency} negotiating at once.
        """
        streams: list[PeerStream] = []
        for start in range(0, count, concurrency):
            batch = [
                Deferred.fromCoroutine(self.connect(hub_domain))
                for _ in range(min(concurrency, count - start))
            ]
            streams.extend(await gatherResults(batch, consumeErrors=True))
        return streams

    def send(self, stanza: domish.Element) -> Deferred[None]:
        """
        Send an element through the pooled stream to its C{to} domain.
        """
        return self.s2s.send(stanza)

    async def stop(self, streams: Sequence[PeerStream] = ()) -> None:
        """
        Close C{streams}, stop listening and close the pooled streams.
        """
        await gatherResults([s.close() for s in streams if s.connected], consumeErrors=True)
        if self._port is not None:
            stopped = self._port.stopListening()
            self._port = None
            if stopped is not None:
                await stopped
        await self.s2s.stopService()

    def _stanza(self, element: domish.Element) -> None:
        if (
            element.name == "iq"
            and element.getAttribute("type") == "get"
            and any(child.uri == NS_VCARD for child in element.elements())
        ):
            self._answer_vcard(element)
            return
        self.received += 1
        if self.on_stanza is not None:
            self.on_stanza(element)

    def _answer_vcard(self, request: domish.Element) -> None:
        target = request.getAttribute("to") or ""
        local = target.partition("@")[0] if "@" in target else ""
        reply = domish.Element((NS_SERVER, "iq"))
        reply["type"] = "result"
        reply["from"] = target.partition("/")[0]
        reply["to"] = request.getAttribute("from") or ""
        reply["id"] = request.getAttribute("id") or ""
        vcard = reply.addElement((NS_VCARD, "vCard"))
        if local:
            name = self.display_name(local)
            vcard.addElement("FN", content=name)
            vcard.addElement("NICKNAME", content=name)
        self.vcards_answered += 1
        self.s2s.send(reply).addErrback(lambda f: None)
