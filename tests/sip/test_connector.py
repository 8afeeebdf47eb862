"""
Tests for L{nextplane.connectors.sip.connector}: the real connector with
the real router, an in-memory store, real TLS over the in-memory network
and a scripted SIP peer (L{tests.sip.helpers}); a fake clock drives every
timer.
"""

from __future__ import annotations

import base64
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.connector import (
    condition_for,
    status_for,
)
from nextplane.connectors.sip.im import ISCOMPOSING
from nextplane.connectors.sip.message import ParseError, Response
from nextplane.connectors.sip.presence import build_pidf, parse_pidf
from nextplane.connectors.sip.tls import SipClientTLS, load_credentials
from nextplane.interfaces import DeliveryFailed
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    Presence,
    TextMessage,
    Typing,
    TypingState,
)
from nextplane.model.text import Bold, RichText, Text
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    DomainAction,
    DomainPolicy,
)

from ..helpers import T0, addr
from .helpers import HUB_IP, HubFixture, connector_pki
from .test_transport import RawFactory

JOHN = addr("john@acme.test")
ALICE = addr("alice@sipco.test")


class ConnectorTestCase(SynchronousTestCase):
    settings: dict[str, Any] = {}

    def setUp(self) -> None:
        self.hub = HubFixture(self, **self.settings)
        self.peer = self.hub.peer

    def message(self, text: str = "Grüezi", **kwargs: Any) -> Response:
        tx = self.peer.send(
            self.peer.request("MESSAGE", text.encode(), "text/plain;charset=UTF-8", **kwargs)
        )
        return self.peer.final(tx)

    def text(self, event: Any) -> str:
        assert isinstance(event, TextMessage)
        return event.body.plain_text()


class PagerInboundTests(ConnectorTestCase):
    """
    RFC 3428 MESSAGEs from the SIP peer to hub users.
    """

    def test_message(self) -> None:
        """
        A MESSAGE to an accepted contact is routed to the platform and
        answered 200; the sender is the From address.
        """
        self.hub.befriend()
        response = self.message("Grüße aus Köln 👋")
        self.assertEqual(response.status, 200)
        [event] = self.hub.delivered("message")
        self.assertEqual(self.text(event), "Grüße aus Köln 👋")
        self.assertEqual((event.sender, event.recipient), (ALICE, JOHN))
        self.assertIsNotNone(event.session)

    def test_message_id_mapped_per_session(self) -> None:
        """
        The message's hub id is mapped to "<session>:<Call-ID>:<CSeq>".
        """
        self.hub.befriend()
        self.message(call_id="call-1@sipco", cseq=7)
        [event] = self.hub.delivered("message")
        native = self.successResultOf(self.hub.store.find_native_id(event.message_id, "sip"))
        self.assertEqual(native, f"{event.session.value}:call-1@sipco:7")

    def test_html(self) -> None:
        """
        A text/html body becomes rich text.
        """
        self.hub.befriend()
        self.peer.send(
            self.peer.request("MESSAGE", b"<b>bold</b> and <i>it</i>", "text/html; charset=UTF-8")
        )
        [event] = self.hub.delivered("message")
        self.assertEqual(event.body.nodes[0], Bold((Text("bold"),)))

    def test_multipart_alternative(self) -> None:
        """
        A multipart/alternative body is read from its HTML part.
        """
        self.hub.befriend()
        body = (
            b"--xyz\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
            b"--xyz\r\nContent-Type: text/html\r\n\r\n<strong>rich</strong>\r\n--xyz--\r\n"
        )
        self.peer.send(self.peer.request("MESSAGE", body, "multipart/alternative; boundary=xyz"))
        [event] = self.hub.delivered("message")
        self.assertEqual(event.body, RichText((Bold((Text("rich"),)),)))

    def test_unsupported_type(self) -> None:
        """
        Another body type is answered 415 with the accepted types.
        """
        self.hub.befriend()
        tx = self.peer.send(self.peer.request("MESSAGE", b"\x00\x01", "application/octet-stream"))
        response = self.peer.final(tx)
        self.assertEqual(response.status, 415)
        self.assertIn("text/plain", response.headers.get("Accept", ""))
        self.assertEqual(self.hub.delivered(), [])

    def test_not_a_contact(self) -> None:
        """
        A MESSAGE the router refuses gets 403 with the router's reason as
        reason phrase and in a Warning header.
        """
        response = self.message()
        self.assertEqual(response.status, 403)
        self.assertIn("not an accepted contact", response.reason)
        self.assertIn("not an accepted contact", response.headers.get("Warning", ""))
        self.assertEqual(self.hub.delivered(), [])

    def test_blocked_domain(self) -> None:
        """
        A tenant's blocked domain gets 403 naming the block list.
        """
        self.hub.befriend()
        self.successResultOf(
            self.hub.store.put_domain_policy(
                DomainPolicy("acme.test", "sipco.test", DomainAction.BLOCK)
            )
        )
        response = self.message()
        self.assertEqual(response.status, 403)
        self.assertIn("block list", response.reason)
        self.assertEqual(self.hub.delivered(), [])

    def test_unknown_user_domain(self) -> None:
        """
        A request for a domain the hub does not serve is answered 404.
        """
        response = self.message(to="bob@elsewhere.test")
        self.assertEqual(response.status, 404)

    def test_from_domain_not_proven(self) -> None:
        """
        A From domain the peer's certificate does not speak for gets 403.
        """
        self.hub.befriend("john@acme.test", "mallory@victim.test")
        response = self.message(sender="mallory@victim.test")
        self.assertEqual(response.status, 403)
        self.assertIn("does not speak for victim.test", response.reason)
        self.assertEqual(self.hub.delivered(), [])

    def test_from_tenant_domain(self) -> None:
        """
        A peer may not send as a user of one of the hub's own domains.
        """
        response = self.message(sender="mary@beta.test")
        self.assertEqual(response.status, 403)

    def test_typing(self) -> None:
        """
        An RFC 3994 isComposing MESSAGE becomes a Typing event.
        """
        self.hub.befriend()
        body = (
            b'<?xml version="1.0"?><isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing">'
            b"<state>active</state></isComposing>"
        )
        tx = self.peer.send(self.peer.request("MESSAGE", body, ISCOMPOSING))
        self.assertEqual(self.peer.final(tx).status, 200)
        [event] = self.hub.delivered("typing")
        assert isinstance(event, Typing)
        self.assertEqual(event.state, TypingState.COMPOSING)

    def test_order_kept(self) -> None:
        """
        Messages of one sender to one recipient reach the platform in
        arrival order, the next one without waiting for the first to be
        answered (the platform keeps the order from there), and each is
        answered once it is delivered.
        """
        self.hub.befriend()
        self.hub.alpha.hold = True
        first = self.peer.send(self.peer.request("MESSAGE", b"one", "text/plain"))
        second = self.peer.send(self.peer.request("MESSAGE", b"two", "text/plain"))
        self.hub.network.flush()
        self.assertEqual([self.text(e) for e, _ in self.hub.alpha.pending], ["one", "two"])
        self.assertNoResult(first.final)
        self.assertNoResult(second.final)
        self.hub.alpha.release()
        self.hub.network.flush()
        self.assertEqual(self.peer.final(first).status, 200)
        self.assertEqual(self.peer.final(second).status, 200)
        self.assertEqual([self.text(e) for e in self.hub.delivered("message")], ["one", "two"])

    def test_backpressure(self) -> None:
        """
        A connection with too many requests in hand is not read until they
        drain (TCP backpressure): nothing is refused or lost, and the
        waiting requests are served in order.
        """
        from nextplane.backpressure import Backpressure

        self.hub.befriend()
        pressure = Backpressure(high=2, low=1, what="SIP connection")
        self.hub.connector._dispatcher.backpressure = pressure
        self.hub.alpha.hold = True
        sent = [
            self.peer.send(self.peer.request("MESSAGE", str(i).encode(), "text/plain"))
            for i in range(4)
        ]
        self.assertEqual(pressure.pauses, 1)
        self.assertEqual(self.hub.connector.health()["requests_in"], 2)
        for _ in range(4):
            self.hub.alpha.release()
            self.hub.network.flush()
        self.assertEqual([self.peer.final(tx).status for tx in sent], [200] * 4)
        self.assertEqual(
            [self.text(e) for e in self.hub.delivered("message")], ["0", "1", "2", "3"]
        )


class PagerOutboundTests(ConnectorTestCase):
    """
    Hub users' messages to SIP users, as pager MESSAGEs.
    """

    def test_message(self) -> None:
        """
        A TextMessage becomes a MESSAGE from the hub user to the SIP user,
        over mutual TLS with the tenant's certificate; the peer's 200 is
        the delivery.
        """
        self.hub.befriend()
        outcome = self.successResultOf(
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("Hi ✓")))
        )
        self.assertTrue(outcome.delivered)
        [tx] = self.peer.of("MESSAGE")
        request = tx.request
        self.assertEqual(request.uri, "sip:alice@sipco.test")
        self.assertEqual(str(request.from_.uri), "sip:john@acme.test")
        self.assertIsNotNone(request.from_.tag)
        self.assertEqual(request.headers.get("Content-Type"), "text/plain;charset=UTF-8")
        self.assertEqual(request.body, "Hi ✓".encode())
        self.assertIn("acme.test", tx.flow.peer_identities)

    def test_formatted(self) -> None:
        """
        Formatted text goes as multipart/alternative (plain and HTML).
        """
        self.hub.befriend()
        body = RichText((Bold((Text("bold"),)), Text(" text")))
        self.successResultOf(self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=body)))
        [tx] = self.peer.of("MESSAGE")
        self.assertTrue(tx.request.content_type.startswith("multipart/alternative"))
        self.assertIn(b"<strong>bold</strong> text", tx.request.body)
        self.assertIn(b"bold text", tx.request.body)

    def test_refused(self) -> None:
        """
        An error status becomes a failed delivery with its condition, and
        the hub user hears about it.
        """
        self.hub.befriend()
        self.peer.answer = lambda tx: tx.reply(404, "No such user")
        outcome = self.successResultOf(
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("x")))
        )
        self.assertFalse(outcome.delivered)
        self.assertEqual(outcome.condition, "item-not-found")
        self.assertIn("404 No such user", outcome.reason)
        [error] = self.hub.delivered("delivery_error")
        self.assertEqual(error.condition, "item-not-found")

    def test_unreachable(self) -> None:
        """
        A SIP domain that cannot be reached fails as remote-server-not-found.
        """
        self.hub.befriend()
        del self.hub.dns.a["sip.sipco.test"]
        outcome = self.successResultOf(
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("x")))
        )
        self.assertEqual(outcome.condition, "remote-server-not-found")

    def test_connection_reused(self) -> None:
        """
        Further messages use the same connection.
        """
        self.hub.befriend()
        for text in ("a", "b", "c"):
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain(text)))
        self.assertEqual([tx.request.body for tx in self.peer.of("MESSAGE")], [b"a", b"b", b"c"])
        self.assertEqual(len({id(tx.flow) for tx in self.peer.of("MESSAGE")}), 1)
        self.assertEqual(self.hub.network.attempts.count((HUB_IP, 5061)), 0)

    def test_sent_in_order(self) -> None:
        """
        Messages are written in the order they were routed, without waiting
        for each other's answers.
        """
        self.hub.befriend()
        self.peer.answer = None
        deliveries = [
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain(t)))
            for t in ("1", "2", "3")
        ]
        self.assertEqual([tx.request.body for tx in self.peer.of("MESSAGE")], [b"1", b"2", b"3"])
        for tx in self.peer.of("MESSAGE"):
            self.peer.reply(tx, 200)
        for d in deliveries:
            self.assertTrue(self.successResultOf(d).delivered)

    def test_typing(self) -> None:
        """
        Typing goes as an isComposing MESSAGE.
        """
        self.hub.befriend()
        self.successResultOf(
            self.hub.route(Typing(sender=JOHN, recipient=ALICE, state=TypingState.COMPOSING))
        )
        [tx] = self.peer.of("MESSAGE")
        self.assertEqual(tx.request.content_type, ISCOMPOSING)
        self.assertIn(b"<state>active</state>", tx.request.body)

    def test_timeout(self) -> None:
        """
        No final answer within Timer F: remote-server-timeout.
        """
        self.hub.befriend()
        self.peer.answer = None
        d = self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("x")))
        self.hub.advance(33)
        outcome = self.successResultOf(d)
        self.assertEqual(outcome.condition, "remote-server-timeout")


class BadInputTests(ConnectorTestCase):
    """
    Malformed, unknown and oversized requests over a raw TLS connection:
    each gets its status, and the connection stays usable.
    """

    def setUp(self) -> None:
        super().setUp()
        self.hub.befriend()
        creator = SipClientTLS(load_credentials({"sipco.test": connector_pki().sipco})).creator(
            "sipco.test", "sip.acme.test"
        )
        d = self.hub.network.endpoint(HUB_IP, 5061).connect(RawFactory(creator))
        self.raw = self.successResultOf(d)
        self.hub.network.flush()
        self.count = 0

    def send(self, *chunks: bytes) -> Response:
        for chunk in chunks:
            self.raw.send(chunk)
            self.hub.network.flush()
        # A response echoing a malformed header is itself a parse error.
        responses = [
            r.message if isinstance(r, ParseError) else r
            for r in self.raw.responses()
            if isinstance(r, Response)
            or (isinstance(r, ParseError) and isinstance(r.message, Response))
        ]
        self.assertGreater(len(responses), self.count, "no response")
        self.count = len(responses)
        self.assertIsNone(self.raw.lost)
        return responses[-1]

    def wire(
        self,
        method: str = "MESSAGE",
        body: bytes = b"hello",
        *,
        uri: str = "sip:john@acme.test",
        extra: str = "",
        sender: str = "<sip:alice@sipco.test>;tag=a1",
        length: int | None = None,
    ) -> bytes:
        self.count_branch = getattr(self, "count_branch", 0) + 1
        head = (
            f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS sip.sipco.test:5061;branch=z9hG4bKraw{self.count_branch}\r\n"
            f"Max-Forwards: 70\r\nFrom: {sender}\r\nTo: <sip:john@acme.test>\r\n"
            f"Call-ID: raw-{self.count_branch}\r\nCSeq: 1 {method}\r\n{extra}"
            f"Content-Type: text/plain;charset=UTF-8\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
        )
        return head.encode() + body

    def assert_usable(self) -> None:
        response = self.send(self.wire(body=b"still here"))
        self.assertEqual(response.status, 200)
        self.assertEqual(self.text(self.hub.delivered("message")[-1]), "still here")

    def test_malformed_header(self) -> None:
        """
        A malformed From is answered 400 with the parser's reason.
        """
        response = self.send(self.wire(sender="<sip:alice@sipco.test;tag=a1"))
        self.assertEqual(response.status, 400)
        self.assertEqual(response.reason, "Malformed From header")
        self.assert_usable()

    def test_unknown_method(self) -> None:
        """
        An unknown method is answered 501, a known one the hub does not
        serve 405; both with Allow.
        """
        response = self.send(self.wire("FROBNICATE"))
        self.assertEqual(response.status, 501)
        self.assertIn("MESSAGE", response.headers.get_all("Allow"))
        response = self.send(self.wire("REGISTER"))
        self.assertEqual(response.status, 405)
        self.assert_usable()

    def test_oversized(self) -> None:
        """
        A body larger than the limit is answered 413 and skipped.
        """
        body = b"x" * (2 << 20)
        response = self.send(self.wire(body=body))
        self.assertEqual(response.status, 413)
        self.assert_usable()

    def test_split_utf8(self) -> None:
        """
        A UTF-8 body split inside a character across TLS records is framed
        by bytes.
        """
        data = self.wire(body="Grüße 👋".encode())
        cut = data.index("👋".encode()) + 2
        response = self.send(data[:cut], data[cut:] + self.wire(body=b"next"))
        self.assertEqual(response.status, 200)
        texts = [self.text(e) for e in self.hub.delivered("message")]
        self.assertEqual(texts, ["Grüße 👋", "next"])

    def test_require(self) -> None:
        """
        An unmet Require is answered 420 with Unsupported.
        """
        response = self.send(self.wire(extra="Require: 100rel\r\n"))
        self.assertEqual(response.status, 420)
        self.assertEqual(response.headers.get("Unsupported"), "100rel")
        self.assert_usable()

    def test_uri_scheme(self) -> None:
        """
        A non-SIP Request-URI is answered 416.
        """
        response = self.send(self.wire(uri="tel:+41441234567"))
        self.assertEqual(response.status, 416)
        self.assert_usable()

    def test_version(self) -> None:
        """
        Another SIP version is answered 505.
        """
        response = self.send(self.wire().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
        self.assertEqual(response.status, 505)
        self.assert_usable()

    def test_keepalive(self) -> None:
        """
        A CRLF CRLF ping is answered with CRLF, and the connection goes on.
        """
        self.raw.send(b"\r\n\r\n")
        self.hub.network.flush()
        self.assertEqual(self.raw.received, b"\r\n")
        self.assert_usable()


SDP = (
    b"v=0\r\no=- 0 0 IN IP4 192.0.2.9\r\ns=session\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"
    b"m=message 5061 sip null\r\na=accept-types:text/plain text/html\r\n"
)
KEYBOARD = b'<?xml version="1.0"?><KeyboardActivity><status status="type" /></KeyboardActivity>'


def ms_text_format(text: str) -> str:
    encoded = base64.b64encode(text.encode()).decode()
    return f"text/plain; charset=UTF-8;msgr=WAAtAE0ATQBTAA0ACgANAAoA;ms-body={encoded}"


class SessionInboundTests(ConnectorTestCase):
    """
    Skype for Business IM sessions opened by the SIP user.
    """

    def invite(self, first: str | None = "Hallo wörld!", sdp: bytes = SDP) -> Any:
        headers = [("Ms-Conversation-ID", "AdT9Lb3s8Uq4rV7xQ2w1"), ("Supported", "ms-sender")]
        if first is not None:
            headers.append(("ms-text-format", ms_text_format(first)))
        tx = self.peer.send(self.peer.request("INVITE", sdp, "application/sdp", headers=headers))
        return tx, self.peer.final(tx)

    def test_session(self) -> None:
        """
        INVITE with the first message in ms-text-format: the message is
        routed, the 200 says Supported: ms-text-format and carries an
        m=message answer; then ACK, MESSAGE and INFO typing in the dialog,
        and BYE.
        """
        self.hub.befriend()
        tx, response = self.invite()
        self.assertEqual(response.status, 200)
        self.assertIn("ms-text-format", response.headers.get_all("Supported"))
        self.assertIn(b"m=message 5061 sip sip:john@acme.test", response.body)
        self.assertEqual(response.headers.get("Content-Type"), "application/sdp")
        self.assertIn("sip.acme.test", response.headers.get("Contact", ""))
        self.assertEqual([self.text(e) for e in self.hub.delivered("message")], ["Hallo wörld!"])
        dialog = self.peer.ack(tx, response)
        self.assertEqual(self.hub.connector.health()["sessions"], 1)

        message = self.peer.in_dialog(dialog, "MESSAGE", b"zwei", "text/plain")
        self.assertEqual(self.peer.final(message).status, 200)
        info = self.peer.in_dialog(dialog, "INFO", KEYBOARD, "application/xml")
        self.assertEqual(self.peer.final(info).status, 200)
        kinds = [e.kind for e in self.hub.delivered()]
        self.assertEqual(kinds, ["message", "message", "typing"])

        bye = self.peer.in_dialog(dialog, "BYE")
        self.assertEqual(self.peer.final(bye).status, 200)
        self.assertEqual(self.hub.connector.health()["sessions"], 0)
        after = self.peer.in_dialog(dialog, "MESSAGE", b"late", "text/plain")
        self.assertEqual(self.peer.final(after).status, 481)

    def test_without_first_message(self) -> None:
        """
        An INVITE without ms-text-format opens the session; the 200 does
        not claim ms-text-format.
        """
        self.hub.befriend()
        _, response = self.invite(first=None)
        self.assertEqual(response.status, 200)
        self.assertNotIn("ms-text-format", response.headers.get_all("Supported"))
        self.assertEqual(self.hub.delivered(), [])

    def test_not_im(self) -> None:
        """
        An INVITE for audio is answered 488.
        """
        self.hub.befriend()
        audio = SDP.replace(b"m=message 5061 sip null", b"m=audio 49170 RTP/AVP 0")
        _, response = self.invite(first=None, sdp=audio)
        self.assertEqual(response.status, 488)

    def test_refused_first_message(self) -> None:
        """
        A first message the router refuses is the INVITE's 403.
        """
        _, response = self.invite()
        self.assertEqual(response.status, 403)
        self.assertIn("not an accepted contact", response.reason)
        self.assertEqual(self.hub.connector.health()["sessions"], 0)

    def test_blocked_without_first_message(self) -> None:
        """
        An INVITE from a blocked domain is refused even without a message.
        """
        self.hub.befriend()
        self.successResultOf(
            self.hub.store.put_domain_policy(
                DomainPolicy("acme.test", "sipco.test", DomainAction.BLOCK)
            )
        )
        self.successResultOf(self.hub.connector.refresh_policy())
        _, response = self.invite(first=None)
        self.assertEqual(response.status, 403)
        self.assertIn("block list", response.reason)

    def test_idle_expiry(self) -> None:
        """
        A session unused for session_idle_timeout is ended with a BYE.
        """
        self.hub.befriend()
        tx, response = self.invite()
        dialog = self.peer.ack(tx, response)
        self.hub.advance(300)
        self.peer.final(self.peer.in_dialog(dialog, "MESSAGE", b"keep", "text/plain"))
        self.hub.advance(599)
        self.assertEqual(self.peer.of("BYE"), [])
        self.hub.advance(2)
        [bye] = self.peer.of("BYE")
        self.assertEqual(bye.request.call_id, dialog.call_id)
        self.assertEqual(self.hub.connector.health()["sessions"], 0)

    def test_reply_in_session(self) -> None:
        """
        The hub user's answer goes inside the SIP user's session, and
        typing as KeyboardActivity INFO.
        """
        self.hub.befriend()
        tx, response = self.invite()
        dialog = self.peer.ack(tx, response)
        self.successResultOf(
            self.hub.route(Typing(sender=JOHN, recipient=ALICE, state=TypingState.COMPOSING))
        )
        outcome = self.successResultOf(
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("ok")))
        )
        self.assertTrue(outcome.delivered)
        [info] = self.peer.of("INFO")
        self.assertIn(b'status="type"', info.request.body)
        [message] = self.peer.of("MESSAGE")
        self.assertEqual(message.request.call_id, dialog.call_id)
        self.assertEqual(message.request.to.tag, dialog.local_tag)
        self.assertEqual(message.request.body, b"ok")

    def held_invite(self) -> Any:
        """
        An INVITE whose first message the hub user's platform holds.
        """
        self.hub.befriend()
        self.hub.alpha.hold = True
        return self.peer.send(
            self.peer.request(
                "INVITE",
                SDP,
                "application/sdp",
                headers=[("ms-text-format", ms_text_format("Hallo"))],
            )
        )

    def test_reply_to_first_message(self) -> None:
        """
        SfB-style session (issue 16): a reply to the message carried in the
        INVITE (an echo) goes in that session after the 200/ACK, never as a
        MESSAGE outside the dialog ahead of the 200.
        """
        tx = self.held_invite()
        reply = self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("re")))
        self.hub.network.flush()
        self.assertNoResult(reply)
        self.assertNoResult(tx.final)
        self.assertEqual(self.peer.of("MESSAGE"), [])
        self.hub.alpha.release()
        self.hub.network.flush()
        response = self.peer.final(tx)
        self.assertEqual(response.status, 200)
        self.assertEqual(self.peer.of("MESSAGE"), [])
        dialog = self.peer.ack(tx, response)
        self.assertTrue(self.successResultOf(reply).delivered)
        [message] = self.peer.of("MESSAGE")
        self.assertEqual(message.request.call_id, dialog.call_id)
        self.assertEqual(message.request.to.tag, dialog.local_tag)
        self.assertEqual(message.request.body, b"re")

    def test_reply_to_first_message_refused(self) -> None:
        """
        When the session never comes up (the first message is refused), a
        waiting reply goes another way (a pager MESSAGE).
        """
        tx = self.held_invite()
        reply = self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("re")))
        self.hub.network.flush()
        self.hub.alpha.failure = DeliveryFailed("recipient-unavailable", "gone")
        pending, self.hub.alpha.pending = self.hub.alpha.pending, []
        for _, d in pending:
            d.errback(self.hub.alpha.failure)
        self.hub.network.flush()
        self.assertEqual(self.peer.final(tx).status, 480)
        self.assertTrue(self.successResultOf(reply).delivered)
        [message] = self.peer.of("MESSAGE")
        self.assertIsNone(message.request.to.tag)
        self.assertEqual(self.hub.connector.health()["sessions"], 0)

    def test_no_ack(self) -> None:
        """
        Without an ACK for its 200 the session is ended with a BYE.
        """
        self.hub.befriend()
        self.invite()
        self.hub.advance(33)
        self.assertEqual(len(self.peer.of("BYE")), 1)
        self.assertEqual(self.hub.connector.health()["sessions"], 0)


class SessionOutboundTests(ConnectorTestCase):
    """
    Sessions the hub opens towards session-mode domains.
    """

    settings = {"session_domains": frozenset({"sipco.test"})}

    def setUp(self) -> None:
        super().setUp()
        self.hub.befriend()

    def answer_invite(self, supported: bool = True) -> Any:
        def answer(tx: Any) -> None:
            if tx.request.method == "INVITE":
                headers = [("Contact", "<sip:alice@sip.sipco.test;transport=tls>")]
                if supported:
                    headers.append(("Supported", "ms-text-format"))
                tx.reply(200, headers=headers, body=SDP)
            else:
                tx.reply(200)

        self.peer.answer = answer

    def send(self, text: str) -> Any:
        return self.successResultOf(
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain(text)))
        )

    def test_first_message_in_invite(self) -> None:
        """
        The first message opens a session and rides in ms-text-format; the
        200 is ACKed; the next message goes inside the dialog.
        """
        self.answer_invite()
        self.assertTrue(self.send("erste").delivered)
        [invite] = self.peer.of("INVITE")
        request = invite.request
        self.assertIn(b"m=message", request.body)
        header = request.headers.get("ms-text-format", "")
        self.assertEqual(base64.b64decode(header.partition("ms-body=")[2]), b"erste")
        self.assertEqual(len(self.peer.acks), 1)
        self.assertEqual(self.peer.of("MESSAGE"), [])
        self.assertTrue(self.send("zweite").delivered)
        [message] = self.peer.of("MESSAGE")
        self.assertEqual(message.request.call_id, request.call_id)
        self.assertEqual(message.request.body, b"zweite")

    def test_first_message_resent(self) -> None:
        """
        A peer that did not take ms-text-format gets the first message as
        an in-dialog MESSAGE.
        """
        self.answer_invite(supported=False)
        self.assertTrue(self.send("erste").delivered)
        [message] = self.peer.of("MESSAGE")
        self.assertEqual(message.request.body, b"erste")

    def test_dead_session(self) -> None:
        """
        481 to an in-dialog MESSAGE ends the session; the message goes in a
        new one.
        """
        self.answer_invite()
        self.send("erste")
        answer = self.peer.answer

        def dead(tx: Any) -> None:
            if tx.request.method == "MESSAGE":
                tx.reply(481)
                self.peer.answer = answer
            else:
                assert answer is not None
                answer(tx)

        self.peer.answer = dead
        self.assertTrue(self.send("zweite").delivered)
        first, second = self.peer.of("INVITE")
        self.assertNotEqual(first.request.call_id, second.request.call_id)
        header = second.request.headers.get("ms-text-format", "")
        self.assertEqual(base64.b64decode(header.partition("ms-body=")[2]), b"zweite")

    def test_invite_refused(self) -> None:
        """
        An INVITE answered 603 fails the delivery.
        """
        self.peer.answer = lambda tx: tx.reply(603)
        outcome = self.send("x")
        self.assertEqual(outcome.condition, "forbidden")
        self.assertEqual(self.hub.connector.health()["sessions"], 0)

    def test_idle_bye(self) -> None:
        """
        Our own session ends with a BYE when idle.
        """
        self.answer_invite()
        self.send("x")
        self.hub.advance(601)
        self.assertEqual(len(self.peer.of("BYE")), 1)

    def test_pager_refused_switches_to_sessions(self) -> None:
        """
        A domain answering pager MESSAGE with 405 is reached with sessions.
        """
        hub = HubFixture(self)
        hub.befriend()

        def answer(tx: Any) -> None:
            if tx.request.method == "MESSAGE" and tx.request.to.tag is None:
                tx.reply(405, headers=[("Allow", "INVITE, ACK, BYE, MESSAGE")])
            elif tx.request.method == "INVITE":
                tx.reply(200, headers=[("Supported", "ms-text-format")], body=SDP)
            else:
                tx.reply(200)

        hub.peer.answer = answer
        outcome = self.successResultOf(
            hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("x")))
        )
        self.assertTrue(outcome.delivered)
        self.assertEqual(len(hub.peer.of("INVITE")), 1)


class NotifierTests(ConnectorTestCase):
    """
    SIP users subscribing to hub users' presence.
    """

    def subscribe(self, expires: int = 600, event: str = "presence", **kwargs: Any) -> Any:
        headers = [
            ("Event", event),
            ("Accept", "application/pidf+xml, application/xpidf+xml"),
            ("Expires", str(expires)),
        ]
        tx = self.peer.send(self.peer.request("SUBSCRIBE", headers=headers, **kwargs))
        return tx, self.peer.final(tx)

    def notifies(self) -> list[Any]:
        return [tx.request for tx in self.peer.of("NOTIFY")]

    def test_contact_active(self) -> None:
        """
        An accepted contact's SUBSCRIBE is answered 200 and NOTIFY active
        with a PIDF document; later presence goes as NOTIFY.
        """
        self.hub.befriend()
        _, response = self.subscribe()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.headers.get("Expires"), "600")
        [notify] = self.notifies()
        self.assertEqual(notify.headers.get("Event"), "presence")
        self.assertTrue(notify.headers.get("Subscription-State", "").startswith("active"))
        self.assertEqual(notify.content_type, "application/pidf+xml")
        self.assertEqual(parse_pidf(notify.body).availability, Availability.UNKNOWN)
        outcome = self.successResultOf(
            self.hub.route(
                Presence(sender=JOHN, recipient=ALICE, availability="away", status="lunch")
            )
        )
        self.assertTrue(outcome.delivered)
        document = parse_pidf(self.notifies()[-1].body)
        self.assertEqual((document.availability, document.note), (Availability.AWAY, "lunch"))

    def test_unknown_watcher_is_contact_request(self) -> None:
        """
        A SUBSCRIBE from someone who is not a contact is a ContactRequest
        (NOTIFY pending); the hub user's accept makes it active, and the
        hub subscribes back.
        """
        _, response = self.subscribe(sender="alice@sipco.test")
        self.assertEqual(response.status, 200)
        [request] = self.hub.delivered("contact_request")
        self.assertEqual(request.sender, ALICE)
        [notify] = self.notifies()
        self.assertTrue(notify.headers.get("Subscription-State", "").startswith("pending"))
        self.assertEqual(notify.body, b"")
        outcome = self.successResultOf(self.hub.route(ContactAccept(sender=JOHN, recipient=ALICE)))
        self.assertTrue(outcome.delivered)
        self.assertTrue(
            self.notifies()[-1].headers.get("Subscription-State", "").startswith("active")
        )
        [subscribe] = self.peer.of("SUBSCRIBE")
        self.assertEqual(subscribe.request.headers.get("Event"), "presence")
        record = self.successResultOf(self.hub.store.get_contact(JOHN, ALICE))
        self.assertEqual(record.state, ContactState.ACCEPTED)

    def test_accept_not_taken(self) -> None:
        """
        When neither the NOTIFY active nor the SUBSCRIBE back is taken, the
        ContactAccept fails, so the router can end the request (issue 14).
        """
        _, response = self.subscribe(sender="alice@sipco.test")
        self.assertEqual(response.status, 200)
        self.peer.answer = lambda tx: tx.reply(480)
        outcome = self.successResultOf(self.hub.route(ContactAccept(sender=JOHN, recipient=ALICE)))
        self.assertFalse(outcome.delivered)
        self.assertEqual(outcome.condition, "recipient-unavailable")
        self.assertIn("acceptance did not reach alice@sipco.test", outcome.reason)
        self.assertEqual(len(self.peer.of("SUBSCRIBE")), 1)

    def test_accept_taken_by_notify(self) -> None:
        """
        A NOTIFY active that is taken delivers the accept even when the
        SUBSCRIBE back fails (a peer without presence of its own).
        """
        self.subscribe(sender="alice@sipco.test")

        def answer(tx: Any) -> None:
            tx.reply(489 if tx.request.method == "SUBSCRIBE" else 200)

        self.peer.answer = answer
        outcome = self.successResultOf(self.hub.route(ContactAccept(sender=JOHN, recipient=ALICE)))
        self.assertTrue(outcome.delivered)

    def test_accept_unreachable(self) -> None:
        """
        An accept to a SIP user whose domain cannot be reached (and who has
        no subscription to tell) fails as remote-server-not-found.
        """
        self.successResultOf(self.hub.route(ContactRequest(sender=ALICE, recipient=JOHN)))
        self.hub.dns.srv.pop("_sipfederationtls._tcp.sipco.test")
        self.hub.dns.a.pop("sip.sipco.test")
        outcome = self.successResultOf(self.hub.route(ContactAccept(sender=JOHN, recipient=ALICE)))
        self.assertFalse(outcome.delivered)
        self.assertEqual(outcome.condition, "remote-server-not-found")
        self.assertEqual(self.peer.of("SUBSCRIBE"), [])

    def subscribe_held(self) -> Any:
        """
        A SUBSCRIBE from a stranger whose contact request is still being
        delivered to the hub user (the platform holds it).
        """
        self.hub.alpha.hold = True
        tx = self.peer.send(
            self.peer.request(
                "SUBSCRIBE",
                headers=[("Event", "presence"), ("Accept", "application/pidf+xml")],
                sender="alice@sipco.test",
            )
        )
        [(request, _)] = self.hub.alpha.pending
        self.assertEqual(request.kind, "contact_request")
        return tx

    def test_accept_while_request_routed(self) -> None:
        """
        Presence race (issue 16): the hub user's acceptance reaches the
        connector while the SIP user's request is still being routed. The
        SUBSCRIBE's first NOTIFY says active (never a pending that stays),
        the acceptance waits for it, and the hub subscribes back.
        """
        tx = self.subscribe_held()
        accepting = self.hub.connector.deliver(ContactAccept(sender=JOHN, recipient=ALICE))
        self.hub.network.flush()
        self.assertNoResult(accepting)
        self.assertEqual(self.notifies(), [])
        self.hub.alpha.release()
        self.hub.network.flush()
        self.assertEqual(self.peer.final(tx).status, 200)
        self.successResultOf(accepting)
        [notify] = self.notifies()
        self.assertTrue(notify.headers.get("Subscription-State", "").startswith("active"))
        self.assertEqual(notify.content_type, "application/pidf+xml")
        self.assertEqual(len(self.peer.of("SUBSCRIBE")), 1)

    def test_accept_while_request_routed_not_taken(self) -> None:
        """
        The waiting acceptance fails when that first NOTIFY is refused and
        the SUBSCRIBE back too.
        """
        tx = self.subscribe_held()
        accepting = self.hub.connector.deliver(ContactAccept(sender=JOHN, recipient=ALICE))
        self.peer.answer = lambda tx: tx.reply(480)
        self.hub.alpha.release()
        self.hub.network.flush()
        self.assertEqual(self.peer.final(tx).status, 200)
        self.failureResultOf(accepting, DeliveryFailed)

    def test_decline_while_request_routed(self) -> None:
        """
        A decline that arrives while the request is routed ends the new
        subscription at once (rejected), instead of leaving it pending.
        """
        tx = self.subscribe_held()
        self.successResultOf(
            self.hub.connector.deliver(ContactDecline(sender=JOHN, recipient=ALICE))
        )
        self.hub.alpha.release()
        self.hub.network.flush()
        self.assertEqual(self.peer.final(tx).status, 200)
        [notify] = self.notifies()
        self.assertEqual(notify.headers.get("Subscription-State"), "terminated;reason=rejected")
        self.assertEqual(self.hub.connector.health()["watchers"], 0)

    def test_declined(self) -> None:
        """
        The hub user's decline ends the subscription (rejected).
        """
        self.subscribe()
        self.successResultOf(self.hub.route(ContactDecline(sender=JOHN, recipient=ALICE)))
        state = self.notifies()[-1].headers.get("Subscription-State")
        self.assertEqual(state, "terminated;reason=rejected")

    def test_blocked(self) -> None:
        """
        A SUBSCRIBE from a blocked domain is answered 403.
        """
        self.successResultOf(
            self.hub.store.put_domain_policy(
                DomainPolicy("acme.test", "sipco.test", DomainAction.BLOCK)
            )
        )
        _, response = self.subscribe()
        self.assertEqual(response.status, 403)
        self.assertIn("block list", response.reason)
        self.assertEqual(self.notifies(), [])

    def test_unknown_event(self) -> None:
        """
        Another event package is answered 489 with Allow-Events.
        """
        _, response = self.subscribe(event="message-summary")
        self.assertEqual(response.status, 489)
        self.assertEqual(response.headers.get("Allow-Events"), "presence")

    def test_too_brief(self) -> None:
        """
        An interval below min_expires is answered 423 with Min-Expires.
        """
        _, response = self.subscribe(expires=10)
        self.assertEqual(response.status, 423)
        self.assertEqual(response.headers.get("Min-Expires"), "60")

    def test_refresh_and_expiry(self) -> None:
        """
        A refresh is answered with the state again; without one the
        subscription ends with terminated;reason=timeout.
        """
        self.hub.befriend()
        tx, response = self.subscribe(expires=600)
        dialog = self.peer.dialog(tx, response)
        self.hub.advance(500)
        refresh = self.peer.in_dialog(
            dialog, "SUBSCRIBE", headers=[("Event", "presence"), ("Expires", "600")]
        )
        self.assertEqual(self.peer.final(refresh).status, 200)
        self.assertEqual(len(self.notifies()), 2)
        self.hub.advance(599)
        self.assertEqual(len(self.notifies()), 2)
        self.hub.advance(2)
        self.assertEqual(
            self.notifies()[-1].headers.get("Subscription-State"), "terminated;reason=timeout"
        )
        self.assertEqual(self.hub.connector.health()["watchers"], 0)

    def test_unsubscribe(self) -> None:
        """
        Expires: 0 in the dialog ends the subscription at once.
        """
        self.hub.befriend()
        tx, response = self.subscribe()
        dialog = self.peer.dialog(tx, response)
        end = self.peer.in_dialog(
            dialog, "SUBSCRIBE", headers=[("Event", "presence"), ("Expires", "0")]
        )
        self.assertEqual(self.peer.final(end).status, 200)
        self.assertTrue(
            self.notifies()[-1].headers.get("Subscription-State", "").startswith("terminated")
        )
        self.assertEqual(self.hub.connector.health()["watchers"], 0)

    def test_presence_before_subscription(self) -> None:
        """
        Presence routed before the SIP user subscribes is in the first
        NOTIFY.
        """
        self.hub.befriend()
        self.successResultOf(
            self.hub.route(Presence(sender=JOHN, recipient=ALICE, availability="busy"))
        )
        self.assertEqual(self.peer.of("NOTIFY"), [])
        self.subscribe()
        self.assertEqual(parse_pidf(self.notifies()[0].body).availability, Availability.BUSY)


class SubscriberTests(ConnectorTestCase):
    """
    Hub users subscribing to SIP users' presence.
    """

    def pidf(self, availability: str = "busy") -> bytes:
        return build_pidf("sip:alice@sipco.test", Availability(availability), "on a call")

    def request_contact(self) -> Any:
        return self.hub.route(ContactRequest(sender=JOHN, recipient=ALICE))

    def notify(self, subscribe: Any, state: str, body: bytes = b"", cseq: int = 1) -> Response:
        return self.peer.notify(subscribe, state, body, cseq)

    def test_subscribe_back_before_accept_stored(self) -> None:
        """
        The NOTIFY active for the hub's SUBSCRIBE back can come before the
        hub user's acceptance of the SIP user's request is stored (still
        pending, inbound): it is never taken as the SIP user accepting a
        request the hub user did not make.
        """
        self.successResultOf(
            self.hub.store.put_contact(
                ContactRecord(JOHN, ALICE, ContactState.PENDING, ContactDirection.INBOUND, T0, T0)
            )
        )
        accepting = self.hub.connector.deliver(ContactAccept(sender=JOHN, recipient=ALICE))
        self.hub.network.flush()
        self.successResultOf(accepting)
        [subscribe] = self.peer.of("SUBSCRIBE")
        self.assertEqual(self.notify(subscribe, "active;expires=3600", self.pidf()).status, 200)
        self.hub.advance(1)
        self.assertEqual(self.hub.delivered("contact_accept"), [])

    def test_notify_before_2xx_route_set(self) -> None:
        """
        Flaky gate (issue 16): a NOTIFY that overtakes the 2xx to our
        SUBSCRIBE without Record-Route makes the dialog; the 2xx's
        Record-Route still routes our later requests (the unsubscribe went
        to the notifier's Contact directly, and the proxy answered 404).
        """
        self.peer.answer = None
        accepting = self.request_contact()
        [subscribe] = self.peer.of("SUBSCRIBE")
        self.assertEqual(self.notify(subscribe, "active;expires=600", self.pidf()).status, 200)
        self.peer.reply(
            subscribe,
            200,
            headers=[
                ("Expires", "600"),
                ("Record-Route", "<sip:proxy.sipco.test;lr>"),
                ("Contact", "<sip:alice@sip.sipco.test;transport=tls>"),
            ],
        )
        self.assertTrue(self.successResultOf(accepting).delivered)
        self.peer.answer = lambda tx: tx.reply(200)
        self.successResultOf(self.hub.route(ContactRemove(sender=JOHN, recipient=ALICE)))
        self.hub.advance(1)
        unsubscribe = self.peer.of("SUBSCRIBE")[-1].request
        self.assertEqual(unsubscribe.headers.get("Expires"), "0")
        self.assertEqual(unsubscribe.headers.get_all("Route"), ["<sip:proxy.sipco.test;lr>"])

    def test_contact_request_subscribes(self) -> None:
        """
        A hub user's ContactRequest is a SUBSCRIBE; NOTIFY active is the
        SIP user's acceptance, its document their presence.
        """
        outcome = self.successResultOf(self.request_contact())
        self.assertTrue(outcome.delivered)
        [subscribe] = self.peer.of("SUBSCRIBE")
        request = subscribe.request
        self.assertEqual(request.headers.get("Event"), "presence")
        self.assertEqual(request.headers.get("Accept"), "application/pidf+xml")
        self.assertEqual(request.headers.get("Expires"), "3600")
        self.assertEqual(self.notify(subscribe, "pending;expires=3600").status, 200)
        self.assertEqual(self.hub.delivered(), [])
        self.assertEqual(self.notify(subscribe, "active;expires=3600", self.pidf(), 2).status, 200)
        accept, presence = self.hub.delivered()
        self.assertIsInstance(accept, ContactAccept)
        assert isinstance(presence, Presence)
        self.assertEqual((presence.availability, presence.status), (Availability.BUSY, "on a call"))
        record = self.successResultOf(self.hub.store.get_contact(JOHN, ALICE))
        self.assertEqual(record.state, ContactState.ACCEPTED)
        self.notify(subscribe, "active;expires=3000", self.pidf("available"), 3)
        self.assertEqual(self.hub.delivered("presence")[-1].availability, Availability.AVAILABLE)
        self.assertEqual(len(self.hub.delivered("contact_accept")), 1)

    def test_notify_before_200(self) -> None:
        """
        A NOTIFY that overtakes the SUBSCRIBE's 200 is taken.
        """
        self.peer.answer = None
        d = self.request_contact()
        [subscribe] = self.peer.of("SUBSCRIBE")
        self.assertEqual(self.notify(subscribe, "active;expires=60", self.pidf()).status, 200)
        self.peer.reply(subscribe, 200, headers=[("Expires", "3600")])
        self.assertTrue(self.successResultOf(d).delivered)
        # The acceptance waits until the router recorded the request.
        self.hub.advance(0.1)
        self.assertEqual([e.kind for e in self.hub.delivered()], ["contact_accept", "presence"])

    def test_refused(self) -> None:
        """
        A SUBSCRIBE answered 403 fails the contact request.
        """
        self.peer.answer = lambda tx: tx.reply(403, "Not allowed")
        outcome = self.successResultOf(self.request_contact())
        self.assertEqual(outcome.condition, "forbidden")
        self.assertEqual(self.hub.connector.health()["subscriptions"], 0)

    def test_rejected(self) -> None:
        """
        NOTIFY terminated;reason=rejected is the SIP user's decline.
        """
        self.successResultOf(self.request_contact())
        [subscribe] = self.peer.of("SUBSCRIBE")
        self.notify(subscribe, "terminated;reason=rejected")
        [decline] = self.hub.delivered()
        self.assertIsInstance(decline, ContactDecline)
        self.assertEqual(self.hub.connector.health()["subscriptions"], 0)

    def test_refresh(self) -> None:
        """
        The subscription is refreshed in its dialog before it expires.
        """
        self.peer.answer = lambda tx: tx.reply(200, headers=[("Expires", "600")])
        self.successResultOf(self.request_contact())
        self.hub.advance(470)
        self.assertEqual(len(self.peer.of("SUBSCRIBE")), 1)
        self.hub.advance(20)
        first, refresh = self.peer.of("SUBSCRIBE")
        self.assertEqual(refresh.request.call_id, first.request.call_id)
        self.assertEqual(refresh.request.to.tag, first.local_tag)
        self.assertEqual(refresh.request.cseq.number, first.request.cseq.number + 1)

    def test_refresh_fails(self) -> None:
        """
        A refresh answered 481 reports the presence as unknown and
        subscribes again (the contact is still wanted).
        """
        self.peer.answer = lambda tx: tx.reply(200, headers=[("Expires", "600")])
        self.successResultOf(self.request_contact())
        [subscribe] = self.peer.of("SUBSCRIBE")
        self.notify(subscribe, "active;expires=600", self.pidf())
        self.peer.answer = lambda tx: tx.reply(
            481 if tx.request.to.tag else 200, headers=[("Expires", "600")]
        )
        self.hub.advance(500)
        self.assertEqual(self.hub.delivered("presence")[-1].availability, Availability.UNKNOWN)
        first, _refresh, again = self.peer.of("SUBSCRIBE")
        self.assertIsNone(again.request.to.tag)
        self.assertNotEqual(again.request.call_id, first.request.call_id)

    def test_remove(self) -> None:
        """
        The hub user's removal unsubscribes (Expires: 0).
        """
        self.hub.befriend()
        self.successResultOf(self.request_contact())
        self.successResultOf(self.hub.route(ContactRemove(sender=JOHN, recipient=ALICE)))
        last = self.peer.of("SUBSCRIBE")[-1].request
        self.assertEqual(last.headers.get("Expires"), "0")
        self.assertEqual(self.hub.connector.health()["subscriptions"], 0)


class MoreTests(ConnectorTestCase):
    """
    OPTIONS, relays, fetches, CANCEL, stopping and policy refreshes.
    """

    def test_options(self) -> None:
        """
        OPTIONS is answered with what the hub allows and accepts.
        """
        response = self.peer.final(self.peer.send(self.peer.request("OPTIONS")))
        self.assertEqual(response.status, 200)
        self.assertIn("SUBSCRIBE", response.headers.get_all("Allow"))
        self.assertEqual(response.headers.get("Allow-Events"), "presence")

    def test_trusted_relay(self) -> None:
        """
        A configured relay speaks plain TCP and may carry any remote From
        domain.
        """
        self.hub.befriend("john@acme.test", "carol@elsewhere.test")
        self.hub.transport.trusted_relays = frozenset({"192.0.2.1"})
        self.hub.network.listen(HUB_IP, 5060, self.hub.transport.server_factory(tls=False))
        raw = self.successResultOf(
            self.hub.network.endpoint(HUB_IP, 5060).connect(RawFactory(None))
        )
        raw.send(
            b"MESSAGE sip:john@acme.test SIP/2.0\r\n"
            b"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKrelay1\r\n"
            b"From: <sip:carol@elsewhere.test>;tag=r1\r\nTo: <sip:john@acme.test>\r\n"
            b"Call-ID: relay-1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 8\r\n\r\nrelayed!"
        )
        self.hub.network.flush()
        [response] = [r for r in raw.responses() if isinstance(r, Response)]
        self.assertEqual(response.status, 200)
        [event] = self.hub.delivered("message")
        self.assertEqual(event.sender, addr("carol@elsewhere.test"))

    def test_trace(self) -> None:
        """
        The transport's trace hook sees what is received and sent.
        """
        self.hub.befriend()
        seen: list[tuple[str, bytes]] = []
        self.hub.transport.trace = lambda connection, direction, data: seen.append(
            (direction, data)
        )
        self.message("traced")
        self.assertIn(b"traced", b"".join(data for direction, data in seen if direction == "in"))
        self.assertIn(b"SIP/2.0 200 OK", b"".join(d for direction, d in seen if direction == "out"))

    def test_fetch(self) -> None:
        """
        A SUBSCRIBE with Expires: 0 gets one NOTIFY, terminated, with the
        state.
        """
        self.hub.befriend()
        headers = [("Event", "presence"), ("Expires", "0")]
        response = self.peer.final(self.peer.send(self.peer.request("SUBSCRIBE", headers=headers)))
        self.assertEqual(response.status, 200)
        [notify] = self.peer.of("NOTIFY")
        self.assertEqual(
            notify.request.headers.get("Subscription-State"), "terminated;reason=timeout"
        )
        self.assertEqual(notify.request.content_type, "application/pidf+xml")
        self.assertEqual(self.hub.connector.health()["watchers"], 0)

    def test_cancel(self) -> None:
        """
        An INVITE cancelled while its first message is being delivered gets
        487 and opens no session.
        """
        self.hub.befriend()
        self.hub.alpha.hold = True
        headers = [("ms-text-format", ms_text_format("hi"))]
        tx = self.peer.send(self.peer.request("INVITE", SDP, "application/sdp", headers=headers))
        self.hub.advance(0.3)  # 100 Trying
        self.assertTrue(self.peer.layer.cancel(tx))
        self.hub.network.flush()
        self.assertEqual(self.peer.final(tx).status, 487)
        self.hub.alpha.release()
        self.hub.network.flush()
        self.assertEqual(self.hub.connector.health()["sessions"], 0)

    def test_stop(self) -> None:
        """
        Stopping ends sessions (BYE) and watchers' subscriptions (NOTIFY
        terminated;reason=deactivated).
        """
        self.hub.befriend()
        headers = [("ms-text-format", ms_text_format("hi"))]
        tx = self.peer.send(self.peer.request("INVITE", SDP, "application/sdp", headers=headers))
        self.peer.ack(tx, self.peer.final(tx))
        self.peer.send(self.peer.request("SUBSCRIBE", headers=[("Event", "presence")]))
        d = self.hub.connector.stopService()
        self.hub.network.flush()
        self.successResultOf(d)
        self.assertEqual(len(self.peer.of("BYE")), 1)
        self.assertEqual(
            self.peer.of("NOTIFY")[-1].request.headers.get("Subscription-State"),
            "terminated;reason=deactivated",
        )
        outcome = self.successResultOf(
            self.hub.route(TextMessage(sender=JOHN, recipient=ALICE, body=RichText.plain("x")))
        )
        self.assertEqual(outcome.condition, "service-unavailable")

    def test_block_ends_dialogs(self) -> None:
        """
        A domain blocked after the fact loses its sessions and
        subscriptions at the next policy refresh.
        """
        self.hub.befriend()
        tx = self.peer.send(self.peer.request("INVITE", SDP, "application/sdp"))
        self.peer.ack(tx, self.peer.final(tx))
        self.peer.send(self.peer.request("SUBSCRIBE", headers=[("Event", "presence")]))
        self.successResultOf(
            self.hub.store.put_domain_policy(
                DomainPolicy("acme.test", "sipco.test", DomainAction.BLOCK)
            )
        )
        self.successResultOf(self.hub.connector.refresh_policy())
        self.hub.network.flush()
        self.assertEqual(len(self.peer.of("BYE")), 1)
        self.assertEqual(
            self.peer.of("NOTIFY")[-1].request.headers.get("Subscription-State"),
            "terminated;reason=rejected",
        )
        health = self.hub.connector.health()
        self.assertEqual((health["sessions"], health["watchers"]), (0, 0))

    def test_typing_refused_once(self) -> None:
        """
        A peer refusing isComposing (415) is not sent typing again.
        """
        self.hub.befriend()
        self.peer.answer = lambda tx: tx.reply(415)
        typing = Typing(sender=JOHN, recipient=ALICE, state=TypingState.COMPOSING)
        self.assertFalse(self.successResultOf(self.hub.route(typing)).delivered)
        self.assertTrue(self.successResultOf(self.hub.route(typing)).delivered)
        self.assertEqual(len(self.peer.of("MESSAGE")), 1)

    def test_no_presence_at_peer(self) -> None:
        """
        A peer answering 489 fails the contact request as
        feature-not-implemented, and is not asked again.
        """
        self.peer.answer = lambda tx: tx.reply(489)
        outcome = self.successResultOf(self.hub.route(ContactRequest(sender=JOHN, recipient=ALICE)))
        self.assertEqual(outcome.condition, "feature-not-implemented")
        self.hub.befriend()
        self.successResultOf(self.hub.route(ContactAccept(sender=JOHN, recipient=ALICE)))
        self.hub.advance(4000)
        self.assertEqual(len(self.peer.of("SUBSCRIBE")), 2)

    def test_unsubscribe_final_notify(self) -> None:
        """
        After unsubscribing, the notifier's last NOTIFY (terminated) is
        still answered 200.
        """
        self.hub.befriend()
        self.successResultOf(self.hub.route(ContactRequest(sender=JOHN, recipient=ALICE)))
        [subscribe] = self.peer.of("SUBSCRIBE")
        from nextplane.model.events import ContactRemove

        self.successResultOf(self.hub.route(ContactRemove(sender=JOHN, recipient=ALICE)))
        dialog = self.peer.uas_dialog(subscribe)
        tx = self.peer.in_dialog(
            dialog,
            "NOTIFY",
            headers=[("Event", "presence"), ("Subscription-State", "terminated;reason=timeout")],
        )
        self.assertEqual(self.peer.final(tx).status, 200)
        again = self.peer.in_dialog(
            dialog, "NOTIFY", headers=[("Event", "presence"), ("Subscription-State", "active")]
        )
        self.assertEqual(self.peer.final(again).status, 481)


class StatusMappingTests(SynchronousTestCase):
    """
    Router conditions to SIP statuses and back.
    """

    def test_status_for(self) -> None:
        self.assertEqual(status_for("not-allowed"), 403)
        self.assertEqual(status_for("forbidden"), 403)
        self.assertEqual(status_for("service-unavailable"), 480)
        self.assertEqual(status_for("remote-server-timeout"), 408)
        self.assertEqual(status_for(None), 500)

    def test_condition_for(self) -> None:
        self.assertEqual(condition_for(403), "forbidden")
        self.assertEqual(condition_for(404), "item-not-found")
        self.assertEqual(condition_for(486), "recipient-unavailable")
        self.assertEqual(condition_for(501), "feature-not-implemented")
        self.assertEqual(condition_for(503), "service-unavailable")
