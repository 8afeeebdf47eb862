"""
A hub with the real SIP connector and a scripted SIP peer, both over the
in-memory TLS network of L{tests.xmpp.fakenet}, for connector tests.

  - L{HubFixture}: the router of L{tests.helpers.CoreFixture} (tenants
    C{acme.test} on platform C{alpha} and C{beta.test}; partner
    C{sipco.test} reached over C{sip}) with a L{SipConnector} listening on
    C{HUB_IP:5061}; a fake clock drives every timer.
  - L{PeerUA}: C{sipco.test}, a SIP user agent with its own transport and
    transaction layer; tests build requests with L{PeerUA.request}, send
    them, and answer the hub's requests by hand or automatically.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.connector import SipConnector, SipSettings
from nextplane.connectors.sip.dialog import Dialog
from nextplane.connectors.sip.message import Headers, Request, Response, make_response
from nextplane.connectors.sip.resolve import SipResolver
from nextplane.connectors.sip.tls import (
    SipClientTLS,
    SipServerTLS,
    TenantTLS,
    TrustStore,
    load_credentials,
)
from nextplane.connectors.sip.transaction import (
    ClientTransaction,
    ServerTransaction,
    TransactionError,
    TransactionLayer,
    new_tag,
)
from nextplane.connectors.sip.transport import SipConnection, SipTransport
from tests.helpers import CoreFixture
from tests.xmpp.certs import write_tenant
from tests.xmpp.fakenet import FakeResolver, Network

from .certs import issue, sip_pki

HUB_IP = "192.0.2.5"
PEER_IP = "192.0.2.9"


class ConnectorPKI:
    """
    Certificates for the connector tests, from the CA of L{sip_pki}.

    @ivar acme: Tenant C{acme.test} (C{URI:sip:acme.test}, C{DNS:sip.acme.test}).
    @ivar beta: Tenant C{beta.test}.
    @ivar sipco: The peer C{sipco.test} (C{URI:sip:sipco.test},
        C{DNS:sip.sipco.test}).
    @ivar rogue: C{sipco.test} from a CA nobody trusts.
    """

    def __init__(self) -> None:
        base = sip_pki()
        self.ca_path = base.ca_path
        self.directory: Path = base.directory
        self.acme = self._issue("acme", "sip.acme.test", ("sip.acme.test",), ("sip:acme.test",))
        self.beta = self._issue("beta", "beta.test", ("beta.test",), ("sip:beta.test",))
        self.sipco = self._issue(
            "sipco", "sip.sipco.test", ("sip.sipco.test",), ("sip:sipco.test",)
        )
        certificate, key = issue(base.rogue_ca, "sipco.test", ("sipco.test",), ("sip:sipco.test",))
        self.rogue = write_tenant(self.directory, "sipco-rogue", certificate, key)

    def _issue(
        self, name: str, common_name: str, dns_names: tuple[str, ...], uris: tuple[str, ...]
    ) -> TenantTLS:
        certificate, key = issue(sip_pki().ca, common_name, dns_names, uris)
        return write_tenant(self.directory, name, certificate, key)


@cache
def connector_pki() -> ConnectorPKI:
    """
    The shared connector PKI (built on first use).
    """
    return ConnectorPKI()


class PeerUA:
    """
    A scripted SIP peer for C{sipco.test}; see the module docstring.

    @ivar requests: Every server transaction the hub started with us.
    @ivar answer: Called with each new request; the default answers 200.
        Set it to L{None} to answer by hand.
    @ivar acks: ACKs received.
    """

    def __init__(self, hub: HubFixture, domain: str = "sipco.test", ip: str = PEER_IP) -> None:
        pki = connector_pki()
        self.hub = hub
        self.domain = domain
        self.layer = TransactionLayer(hub.clock, self)
        credentials = load_credentials({domain: pki.sipco})
        self.transport = SipTransport(
            hub.clock,
            self.layer,
            via_host=f"sip.{domain}",
            trust=TrustStore(paths=[pki.ca_path]),
            server_tls=SipServerTLS(credentials),
            client_tls=SipClientTLS(credentials),
            resolver=SipResolver(hub.dns),
            endpoint_factory=hub.network.endpoint,
        )
        hub.network.listen(ip, 5061, self.transport.server_factory())
        self.requests: list[ServerTransaction] = []
        self.acks: list[Request] = []
        self.answer: Callable[[ServerTransaction], Any] | None = lambda tx: tx.reply(200)
        self._connection: SipConnection | None = None

    # -- the transaction user ------------------------------------------------

    def request_received(self, transaction: ServerTransaction) -> None:
        self.requests.append(transaction)
        if self.answer is not None:
            self.answer(transaction)

    def ack_received(self, ack: Request, flow: Any) -> None:
        self.acks.append(ack)

    def stray_response(self, response: Response, flow: Any) -> None:
        pass

    def cancelled(self, transaction: ServerTransaction) -> None:
        pass

    def server_failed(self, transaction: ServerTransaction, reason: TransactionError) -> None:
        pass

    # -- sending ---------------------------------------------------------------

    def connection(self) -> SipConnection:
        """
        Our connection to the hub (made on first use).
        """
        if self._connection is None or self._connection.closed:
            d = self.transport.connect("acme.test", self.domain)
            self.hub.network.flush()
            self._connection = self.hub.test.successResultOf(d)
        return self._connection

    def request(
        self,
        method: str,
        body: bytes = b"",
        content_type: str | None = None,
        *,
        sender: str = "alice@sipco.test",
        to: str = "john@acme.test",
        headers: list[tuple[str, str]] | None = None,
        call_id: str | None = None,
        cseq: int = 1,
        uri: str | None = None,
    ) -> Request:
        """
        An out-of-dialog request from C{sender} to C{to}.
        """
        items = [
            ("From", f"<sip:{sender}>;tag={new_tag()}"),
            ("To", f"<sip:{to}>"),
            ("Call-ID", call_id or f"{new_tag()}@sip.sipco.test"),
            ("CSeq", f"{cseq} {method}"),
        ]
        if method in ("INVITE", "SUBSCRIBE"):
            items.append(
                ("Contact", f"<sip:{sender.partition('@')[0]}@sip.sipco.test;transport=tls>")
            )
        items.extend(headers or [])
        if content_type is not None:
            items.append(("Content-Type", content_type))
        return Request(method, uri or f"sip:{to}", Headers(items), body)

    def send(self, request: Request, flow: SipConnection | None = None) -> ClientTransaction:
        """
        Send C{request} on our connection and let the network settle.
        """
        tx = self.layer.send_request(request, flow or self.connection())
        self.hub.network.flush()
        return tx

    def final(self, tx: ClientTransaction) -> Response:
        """
        The final response C{tx} got (the test fails if none yet).
        """
        response: Response = self.hub.test.successResultOf(tx.final)
        return response

    def dialog(self, tx: ClientTransaction, response: Response) -> Dialog:
        """
        The dialog a 2xx to our INVITE or SUBSCRIBE created.
        """
        return Dialog.as_uac(tx.request, response)

    def uas_dialog(self, tx: ServerTransaction) -> Dialog:
        """
        The dialog the hub's SUBSCRIBE (or INVITE) creates on our side,
        with the To tag we answer (or will answer) with.
        """
        response = tx.final_response or make_response(tx.request, 200, to_tag=tx.local_tag)
        return Dialog.as_uas(
            tx.request, response, local_contact=f"<sip:alice@sip.{self.domain};transport=tls>"
        )

    def ack(self, tx: ClientTransaction, response: Response) -> Dialog:
        """
        ACK a 2xx to our INVITE; return the dialog.
        """
        dialog = Dialog.as_uac(tx.request, response)
        self.layer.send_ack(dialog.create_ack(tx.request.cseq.number), self.connection())
        self.hub.network.flush()
        return dialog

    def in_dialog(
        self,
        dialog: Dialog,
        method: str,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> ClientTransaction:
        """
        Send an in-dialog request on our connection.
        """
        request = dialog.create_request(
            method, headers=headers or [], body=body, content_type=content_type
        )
        return self.send(request)

    def notify(
        self, subscribe: ServerTransaction, state: str, body: bytes = b"", cseq: int = 1
    ) -> Response:
        """
        As notifier for the hub's C{subscribe}: send a presence NOTIFY
        (CSeq C{cseq}) with C{state} and a PIDF C{body}; its final response.
        """
        dialog = self.uas_dialog(subscribe)
        dialog.local_seq = cseq
        tx = self.in_dialog(
            dialog,
            "NOTIFY",
            body,
            "application/pidf+xml" if body else None,
            headers=[("Event", "presence"), ("Subscription-State", state)],
        )
        return self.final(tx)

    def of(self, method: str) -> list[ServerTransaction]:
        """
        The hub's requests of one method, in order.
        """
        return [tx for tx in self.requests if tx.request.method == method]

    def reply(self, tx: ServerTransaction, status: int, **kwargs: Any) -> Response:
        """
        Answer one of the hub's requests and let the network settle.
        """
        response = tx.reply(status, **kwargs)
        self.hub.network.flush()
        return response


class HubFixture:
    """
    The hub side; see the module docstring.
    """

    def __init__(self, test: SynchronousTestCase, **settings: Any) -> None:
        pki = connector_pki()
        self.test = test
        self.core = CoreFixture()
        self.clock = self.core.clock
        self.router = self.core.router
        self.store = self.core.store
        self.alpha = self.core.alpha
        self.network = Network(self.clock)
        self.dns = FakeResolver()
        for domain, ip in (("acme.test", HUB_IP), ("beta.test", HUB_IP), ("sipco.test", PEER_IP)):
            self.dns.srv[f"_sipfederationtls._tcp.{domain}"] = [(0, 0, 5061, f"sip.{domain}")]
            self.dns.a[f"sip.{domain}"] = [ip]
        self._pki = pki
        self._settings = settings
        self.start_connector()
        self.peer = PeerUA(self)

    def start_connector(self) -> None:
        """
        Build, attach and start a SIP connector on this hub's store,
        network and router (again after L{crash}: a restarted hub).
        """
        pki, test = self._pki, self.test
        credentials = load_credentials({"acme.test": pki.acme, "beta.test": pki.beta})
        options: dict[str, Any] = {"via_host": "sip.acme.test", "contact_host": "sip.acme.test"}
        options.update(self._settings)
        self.connector = SipConnector(
            sink=self.router,
            store=self.store,
            clock=self.clock,
            tenants=["acme.test", "beta.test"],
            settings=SipSettings(**options),
            presence=self.router.presence,
            work=self.router.work,
        )
        self.layer = TransactionLayer(self.clock, self.connector)
        self.resolver = SipResolver(self.dns)
        self.transport = SipTransport(
            self.clock,
            self.layer,
            via_host="sip.acme.test",
            trust=TrustStore(paths=[pki.ca_path]),
            server_tls=SipServerTLS(credentials),
            client_tls=SipClientTLS(credentials),
            resolver=self.resolver,
            endpoint_factory=self.network.endpoint,
        )
        self.connector.attach(self.layer, self.transport, self.resolver)
        self.network.listen(HUB_IP, 5061, self.transport.server_factory())
        test.successResultOf(self.connector.startService())
        self.router.add_connector(self.connector)

    def crash(self) -> None:
        """
        The hub process dies: its connector's timers stop and its
        connections drop, with no goodbye to anyone (no BYE, no NOTIFY).
        """
        self.connector.running = False
        self.connector._core.cancel_calls()
        for call in list(self.clock.getDelayedCalls()):
            call.cancel()
        assert self.transport is not None
        self.transport.close_all()
        self.network.flush()

    def befriend(self, owner: str = "john@acme.test", external: str = "alice@sipco.test") -> None:
        self.test.successResultOf(self.core.befriend(owner, external))

    def route(self, event: Any) -> Any:
        """
        Route an event from the platform side and let everything settle;
        returns the router's Deferred.
        """
        d: Deferred[Any] = self.router.route(event)
        self.network.flush()
        return d

    def advance(self, seconds: float) -> None:
        """
        Move the clock and let the network settle, in steps, so that a
        connection closed on the way (idle deadlines) is seen closed by the
        other side before it sends on it again.
        """
        while seconds > 0:
            step = min(seconds, 5.0)
            self.clock.advance(step)
            self.network.flush()
            seconds -= step

    def delivered(self, kind: str | None = None) -> list[Any]:
        """
        What reached the hub users (platform C{alpha}).
        """
        return [e for e in self.alpha.delivered if kind is None or e.kind == kind]
