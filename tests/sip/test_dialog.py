# -*- test-case-name: tests.sip.test_dialog -*-
"""
Tests for L{nextplane.connectors.sip.dialog}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.dialog import Dialog, DialogState, DialogTable
from nextplane.connectors.sip.message import (
    Headers,
    ParseError,
    Request,
    Response,
    make_response,
    serialize,
)
from nextplane.connectors.sip.parser import parse_message
from nextplane.connectors.sip.uri import NameAddr, SipSyntaxError, SipURI

from . import vectors

HUB_CONTACT = "<sip:bob@sip.a.test:5061;transport=tls>"
EDGE_ROUTE = (
    "<sip:sip.contoso.com:5061;transport=tls;ms-fe=fe01.contoso.com;"
    "opaque=state:T:F:Ci.R2a00;lr;ms-route-sig=ffPq8z7Z0-AbCdEfGhIjKlMnOpQrSt>;tag=1A2B3C4D"
)
FE_ROUTE = "<sip:fe01.contoso.com:5061;transport=tls;opaque=state:F;lr>"


def parsed(data: bytes) -> Request | Response:
    """
    Parse a vector.
    """
    message = parse_message(data)
    assert not isinstance(message, ParseError), message
    return message


def sfb_invite() -> Request:
    """
    The Skype for Business INVITE vector.
    """
    invite = parsed(vectors.SFB_INVITE)
    assert isinstance(invite, Request)
    return invite


def hub_invite() -> Request:
    """
    The INVITE the hub sent, answered by L{vectors.SFB_INVITE_OK}.
    """
    return Request(
        "INVITE",
        "sip:alice@contoso.com",
        Headers(
            [
                ("Via", "SIP/2.0/TLS sip.a.test:5061;branch=z9hG4bKhub1"),
                ("From", "<sip:bob@a.test>;tag=hubtag7"),
                ("To", "<sip:alice@contoso.com>"),
                ("Call-ID", "hubcall-1"),
                ("CSeq", "1 INVITE"),
                ("Contact", HUB_CONTACT),
            ]
        ),
    )


class UASDialogTests(SynchronousTestCase):
    """
    A dialog the hub creates by accepting a Skype for Business INVITE.
    """

    def setUp(self) -> None:
        self.invite = sfb_invite()
        self.ok = make_response(
            self.invite,
            200,
            to_tag="hubtag1",
            headers=[("Contact", HUB_CONTACT), ("Supported", "ms-text-format")],
            copy_record_route=True,
        )
        self.dialog = Dialog.as_uas(self.invite, self.ok, local_contact=HUB_CONTACT)

    def test_state(self) -> None:
        """
        The dialog state comes from the INVITE and our 2xx (12.1.1).
        """
        dialog = self.dialog
        self.assertEqual(dialog.id.call_id, "9c3f1e7a2b4d4e8f9a0b1c2d3e4f5a6b")
        self.assertEqual(dialog.local_tag, "hubtag1")
        self.assertEqual(dialog.remote_tag, "8f2d1c0b3a")
        self.assertEqual(dialog.route_set, (vectors.SFB_RECORD_ROUTE,))
        self.assertEqual(
            dialog.remote_target,
            "sip:alice@contoso.com;opaque=user:epid:AbCdEfGhIjKlMnOpQrStUv;gruu",
        )
        self.assertEqual((dialog.local_seq, dialog.remote_seq), (None, 1))
        self.assertEqual(dialog.state, DialogState.CONFIRMED)
        self.assertFalse(dialog.secure)
        self.assertEqual(dialog.usage, "INVITE")

    def test_record_route_in_2xx(self) -> None:
        """
        The 2xx copies Record-Route unchanged.
        """
        self.assertEqual(self.ok.headers.get_all("Record-Route"), [vectors.SFB_RECORD_ROUTE])

    def test_message(self) -> None:
        """
        An in-dialog MESSAGE goes to the remote target with the signed route
        copied byte for byte and the peer's epid kept on To.
        """
        message = self.dialog.create_request(
            "MESSAGE", body="Grüße".encode(), content_type="text/plain;charset=UTF-8"
        )
        self.assertEqual(message.uri, self.dialog.remote_target)
        self.assertEqual(message.headers.get_all("Route"), [vectors.SFB_RECORD_ROUTE])
        wire = serialize(message)
        self.assertIn(b"\r\nRoute: " + vectors.SFB_RECORD_ROUTE.encode() + b"\r\n", wire)
        self.assertEqual(message.to.tag, "8f2d1c0b3a")
        self.assertEqual(message.to.params.get("epid"), "5a9b2c7d1e")
        self.assertEqual(message.to.display_name, "Alice Example")
        self.assertEqual(message.from_.tag, "hubtag1")
        self.assertEqual(message.call_id, self.invite.call_id)
        self.assertEqual(message.header("Max-Forwards"), "70")
        self.assertNotIn("Contact", message.headers)
        self.assertNotIn("Via", message.headers)
        self.assertEqual(message.content_type, "text/plain")
        sent = message.with_headers(
            message.headers.prepend("Via", "SIP/2.0/TLS sip.a.test;branch=z9hG4bK1")
        )
        self.assertEqual(parse_message(serialize(sent)), sent)

    def test_cseq_increments(self) -> None:
        """
        Each request takes the next local CSeq.
        """
        first = self.dialog.create_request("MESSAGE").cseq.number
        second = self.dialog.create_request("INFO").cseq.number
        bye = self.dialog.create_request("BYE")
        self.assertEqual((second, bye.cseq.number), (first + 1, first + 2))
        self.assertGreater(first, 0)
        self.assertLess(first, 2**31)
        self.assertEqual(bye.cseq.method, "BYE")

    def test_notify_has_contact(self) -> None:
        """
        Target refresh requests (NOTIFY) carry our Contact and extra headers.
        """
        notify = self.dialog.create_request(
            "NOTIFY", headers=[("Event", "presence"), ("Subscription-State", "active;expires=600")]
        )
        self.assertEqual(notify.header("Contact"), HUB_CONTACT)
        self.assertEqual(notify.header("Event"), "presence")

    def test_incoming_in_dialog(self) -> None:
        """
        The peer's in-dialog MESSAGE (CSeq 2) is accepted and recorded.
        """
        message = parsed(vectors.SFB_MESSAGE)
        assert isinstance(message, Request)
        table = DialogTable()
        dialog = Dialog.as_uas(
            self.invite,
            make_response(self.invite, 200, to_tag="hub-tag-1"),
            local_contact=HUB_CONTACT,
        )
        table.add(dialog)
        self.assertIs(table.dispatch(message), dialog)
        self.assertEqual(dialog.remote_seq, 2)

    def test_out_of_order(self) -> None:
        """
        A request with a lower CSeq than the last one is answered 500 (12.2.2).
        """
        self.dialog.remote_seq = 5
        request = self.dialog_request("INFO", 4)
        response = self.dialog.receive_request(request)
        assert response is not None
        self.assertEqual(response.status, 500)
        self.assertEqual(self.dialog.remote_seq, 5)
        self.assertIsNone(self.dialog.receive_request(self.dialog_request("ACK", 1)))

    def test_target_refresh(self) -> None:
        """
        A re-INVITE's Contact becomes the remote target; a MESSAGE's does not.
        """
        message = self.dialog_request("MESSAGE", 2, contact="<sip:alice@198.51.100.1:5061>")
        self.assertIsNone(self.dialog.receive_request(message))
        self.assertIn("opaque", self.dialog.remote_target)
        reinvite = self.dialog_request("INVITE", 3, contact="<sip:alice@198.51.100.1:5061>")
        self.dialog.receive_request(reinvite)
        self.assertEqual(self.dialog.remote_target, "sip:alice@198.51.100.1:5061")

    def dialog_request(self, method: str, cseq: int, contact: str | None = None) -> Request:
        """
        A request from the peer inside the dialog.
        """
        items = [
            ("Via", "SIP/2.0/TLS 203.0.113.10:5061;branch=z9hG4bKx"),
            ("From", self.invite.header("From") or ""),
            ("To", self.ok.header("To") or ""),
            ("Call-ID", self.invite.call_id),
            ("CSeq", f"{cseq} {method}"),
        ]
        if contact is not None:
            items.append(("Contact", contact))
        return Request(method, "sip:bob@sip.a.test:5061;transport=tls", Headers(items))


class UACDialogTests(SynchronousTestCase):
    """
    A dialog the hub creates when Skype for Business accepts its INVITE.
    """

    def setUp(self) -> None:
        self.invite = hub_invite()
        ok = parsed(vectors.SFB_INVITE_OK)
        assert isinstance(ok, Response)
        self.ok = ok
        self.dialog = Dialog.as_uac(self.invite, ok, local_contact=HUB_CONTACT)

    def test_route_set_reversed(self) -> None:
        """
        The UAC's route set is the 2xx's Record-Route reversed (12.1.2),
        each value unchanged.
        """
        self.assertEqual(self.ok.headers.get_all("Record-Route"), [FE_ROUTE, EDGE_ROUTE])
        self.assertEqual(self.dialog.route_set, (EDGE_ROUTE, FE_ROUTE))

    def test_state(self) -> None:
        """
        Tags, sequence numbers and target come from the INVITE and the 2xx.
        """
        dialog = self.dialog
        self.assertEqual((dialog.local_tag, dialog.remote_tag), ("hubtag7", "8e9f0a1b2c"))
        self.assertEqual((dialog.local_seq, dialog.remote_seq), (1, None))
        self.assertTrue(dialog.remote_target.startswith("sip:alice@contoso.com;opaque="))

    def test_ack(self) -> None:
        """
        The ACK for the 2xx reuses the INVITE's CSeq number and the routes.
        """
        ack = self.dialog.create_ack(1)
        self.assertEqual(ack.header("CSeq"), "1 ACK")
        self.assertEqual(ack.headers.get_all("Route"), [EDGE_ROUTE, FE_ROUTE])
        self.assertEqual(ack.uri, self.dialog.remote_target)
        self.assertEqual(self.dialog.local_seq, 1)
        self.assertEqual(ack.to.params.get("epid"), "5a9b2c7d1e")

    def test_bye(self) -> None:
        """
        BYE takes CSeq 2.
        """
        self.assertEqual(self.dialog.create_request("BYE").header("CSeq"), "2 BYE")

    def test_table_for_response(self) -> None:
        """
        Responses find their dialog by From tag (local) and To tag (remote).
        """
        table = DialogTable()
        table.add(self.dialog)
        self.assertIs(table.for_response(self.ok), self.dialog)
        self.assertEqual(len(table), 1)
        self.assertEqual(list(table), [self.dialog])
        table.remove(self.dialog)
        self.assertIsNone(table.for_response(self.ok))

    def test_early_then_confirmed(self) -> None:
        """
        A 1xx with a To tag makes an early dialog; the 2xx confirms it and
        its Record-Route replaces the route set (13.2.2.4).
        """
        ringing = make_response(
            self.invite, 180, to_tag="8e9f0a1b2c", headers=[("Record-Route", FE_ROUTE)]
        )
        dialog = Dialog.as_uac(self.invite, ringing)
        self.assertEqual(dialog.state, DialogState.EARLY)
        self.assertEqual(dialog.route_set, (FE_ROUTE,))
        dialog.receive_response(self.invite, self.ok)
        self.assertEqual(dialog.state, DialogState.CONFIRMED)
        self.assertEqual(dialog.route_set, (EDGE_ROUTE, FE_ROUTE))
        self.assertEqual(dialog.remote_target, self.dialog.remote_target)

    def test_no_tag(self) -> None:
        """
        A response without To tag creates no dialog.
        """
        with self.assertRaises(SipSyntaxError):
            Dialog.as_uac(self.invite, make_response(self.invite, 200))
        with self.assertRaises(SipSyntaxError):
            Dialog.as_uas(self.invite, make_response(self.invite, 200))


class StrictRoutingTests(SynchronousTestCase):
    """
    Requests through a strict router (RFC 3261 section 12.2.1.1).
    """

    def test_strict(self) -> None:
        """
        Without ;lr the first route becomes the Request-URI and the remote
        target goes last in Route.
        """
        dialog = Dialog(
            call_id="c",
            local_party=NameAddr(
                SipURI("a.test", "bob"), params=NameAddr(SipURI("x")).params.set("tag", "1")
            ),
            remote_party=NameAddr(SipURI("b.test", "alice")).with_tag("2"),
            remote_target="sip:alice@192.0.2.9:5061;transport=tls",
            route_set=("<sip:strict.b.test;transport=tls;method=INVITE?x=y>", "<sip:p2.b.test;lr>"),
            local_seq=10,
        )
        request = dialog.create_request("BYE")
        self.assertEqual(request.uri, "sip:strict.b.test;transport=tls")
        self.assertEqual(
            request.headers.get_all("Route"),
            ["<sip:p2.b.test;lr>", "<sip:alice@192.0.2.9:5061;transport=tls>"],
        )
        self.assertEqual(request.header("CSeq"), "11 BYE")

    def test_no_routes(self) -> None:
        """
        Without a route set, requests go straight to the remote target.
        """
        dialog = Dialog(
            call_id="c",
            local_party=NameAddr(SipURI("a.test", "bob")).with_tag("1"),
            remote_party=NameAddr(SipURI("b.test", "alice")).with_tag("2"),
            remote_target="sip:alice@192.0.2.9",
        )
        request = dialog.create_request("MESSAGE")
        self.assertEqual(request.uri, "sip:alice@192.0.2.9")
        self.assertNotIn("Route", request.headers)


class SubscriptionTests(SynchronousTestCase):
    """
    Subscription dialogs (RFC 6665 section 4.1.2.4).
    """

    def subscribe(self) -> Request:
        """
        The hub's SUBSCRIBE answered by L{vectors.CISCO_NOTIFY}.
        """
        return Request(
            "SUBSCRIBE",
            "sip:carol@cisco.example",
            Headers(
                [
                    ("Via", "SIP/2.0/TLS sip.a.test:5061;branch=z9hG4bKsub"),
                    ("From", "<sip:bob@a.test>;tag=7a6b5c4d"),
                    ("To", "<sip:carol@cisco.example>"),
                    ("Call-ID", "5f4e3d2c-1b0a-4978-8695-a4b3c2d1e0f9"),
                    ("CSeq", "1 SUBSCRIBE"),
                    ("Event", "presence"),
                    ("Accept", "application/pidf+xml"),
                    ("Contact", HUB_CONTACT),
                ]
            ),
        )

    def test_notify_before_2xx(self) -> None:
        """
        A NOTIFY arriving before the 2xx creates the dialog: its Record-Route
        in order, its Contact as target.
        """
        notify = parsed(vectors.CISCO_NOTIFY)
        assert isinstance(notify, Request)
        subscribe = self.subscribe()
        dialog = Dialog.from_notify(subscribe, notify, local_contact=HUB_CONTACT)
        self.assertEqual(dialog.usage, "SUBSCRIBE")
        self.assertEqual((dialog.local_tag, dialog.remote_tag), ("7a6b5c4d", "00112233"))
        self.assertEqual(dialog.route_set, ("<sip:expe.cisco.example:5061;transport=tls;lr>",))
        self.assertEqual(dialog.remote_target, "sip:198.51.100.7:5061;transport=tls")
        self.assertEqual((dialog.local_seq, dialog.remote_seq), (1, 2))
        table = DialogTable()
        table.add(dialog)
        self.assertIs(table.for_request(notify), dialog)
        refresh = dialog.create_request(
            "SUBSCRIBE", headers=[("Event", "presence"), ("Expires", "0")]
        )
        self.assertEqual(refresh.header("CSeq"), "2 SUBSCRIBE")
        self.assertEqual(refresh.header("Contact"), HUB_CONTACT)

    def test_notifier(self) -> None:
        """
        Answering a SUBSCRIBE 200 makes the hub the notifier; its NOTIFYs go
        to the subscriber's Contact.
        """
        subscribe = self.subscribe()
        ok = make_response(subscribe, 200, to_tag="n1", headers=[("Expires", "600")])
        dialog = Dialog.as_uas(subscribe, ok, local_contact=HUB_CONTACT)
        self.assertEqual(dialog.usage, "SUBSCRIBE")
        notify = dialog.create_request("NOTIFY", headers=[("Event", "presence")])
        self.assertEqual(notify.uri, "sip:bob@sip.a.test:5061;transport=tls")
        self.assertEqual(notify.to.tag, "7a6b5c4d")


class DispatchTests(SynchronousTestCase):
    """
    Tests for L{DialogTable.dispatch} (RFC 3261 section 12.2.2).
    """

    def test_out_of_dialog(self) -> None:
        """
        A request without To tag is outside any dialog.
        """
        self.assertIsNone(DialogTable().dispatch(sfb_invite()))

    def test_unknown(self) -> None:
        """
        A To tag of no known dialog gets 481; an ACK gets nothing.
        """
        message = parsed(vectors.SFB_MESSAGE)
        assert isinstance(message, Request)
        response = DialogTable().dispatch(message)
        assert isinstance(response, Response)
        self.assertEqual(
            (response.status, response.reason), (481, "Call/Transaction Does Not Exist")
        )
        ack = Request("ACK", message.uri, message.headers.set("CSeq", "1 ACK"))
        self.assertIsNone(DialogTable().dispatch(ack))

    def test_terminated(self) -> None:
        """
        A terminated dialog answers 481 too.
        """
        invite = sfb_invite()
        dialog = Dialog.as_uas(invite, make_response(invite, 200, to_tag="hub-tag-1"))
        table = DialogTable()
        table.add(dialog)
        dialog.terminate()
        message = parsed(vectors.SFB_MESSAGE)
        assert isinstance(message, Request)
        response = table.dispatch(message)
        assert isinstance(response, Response)
        self.assertEqual(response.status, 481)
