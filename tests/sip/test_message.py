# -*- test-case-name: tests.sip.test_message -*-
"""
Tests for L{nextplane.connectors.sip.message}.
"""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.message import (
    CSeq,
    Headers,
    KeepAlive,
    ParseError,
    ParseResult,
    Request,
    Response,
    Via,
    canonical_name,
    make_response,
    parse_cseq,
    parse_via,
    serialize,
)
from nextplane.connectors.sip.parser import StreamParser, parse_message
from nextplane.connectors.sip.uri import NameAddr, Params, SipSyntaxError, SipURI, parse_name_addr

from . import vectors
from .test_uri import HOST, NAME_ADDRS, PARAM_VALUE, PORT, SIP_URIS, TOKEN


def parse(data: bytes) -> Request | Response:
    """
    Parse one message that must be valid.
    """
    result = parse_message(data)
    assert not isinstance(result, ParseError), result
    return result


def feed_in_chunks(data: bytes, cuts: list[int], **limits: int) -> list[ParseResult]:
    """
    Feed C{data} to a new parser, split at C{cuts}.
    """
    parser = StreamParser(**limits)
    results: list[ParseResult] = []
    last = 0
    for cut in sorted(set(cuts)):
        results += parser.feed(data[last:cut])
        last = cut
    results += parser.feed(data[last:])
    return results


MINIMAL = vectors.wire(
    """
OPTIONS sip:a.test SIP/2.0
Via: SIP/2.0/TLS b.test:5061;branch=z9hG4bKopt
From: <sip:b.test>;tag=1
To: <sip:a.test>
Call-ID: opt-1
CSeq: 7 OPTIONS
Content-Length: 0
"""
)


def minimal_with(*replace: tuple[str, str]) -> bytes:
    """
    L{MINIMAL} with header lines replaced (an empty replacement drops one).
    """
    text = MINIMAL.decode()
    for old, new in replace:
        assert old in text, old
        text = text.replace(old + "\r\n", new + "\r\n" if new else "")
    return text.encode()


class VectorTests(SynchronousTestCase):
    """
    Real-world shaped messages parse, keep every detail and survive a round
    trip.
    """

    def test_all_round_trip(self) -> None:
        """
        Every vector parses cleanly and serialize→parse gives it back.
        """
        for name, data in vectors.ALL.items():
            message = parse(data)
            self.assertEqual(parse(serialize(message)), message, name)

    def test_sfb_invite(self) -> None:
        """
        The Skype for Business INVITE: Microsoft Via parameters, epid, the
        signed Record-Route byte for byte, list headers split, the
        ms-text-format header whole, the SDP body exact.
        """
        invite = parse(vectors.SFB_INVITE)
        assert isinstance(invite, Request)
        self.assertEqual(invite.method, "INVITE")
        self.assertEqual(invite.uri, "sip:bob@a.test")
        vias = invite.vias
        self.assertEqual(len(vias), 2)
        self.assertEqual(vias[0].host, "203.0.113.10")
        self.assertEqual(vias[0].port, 5061)
        self.assertEqual(vias[0].branch, "z9hG4bK3C5E2A1F.A4B7C9D2E1F0A3B5")
        self.assertEqual(vias[0].params.get("ms-received-cid"), "2A00")
        self.assertEqual(invite.from_.params.get("epid"), "5a9b2c7d1e")
        self.assertEqual(invite.from_.display_name, "Alice Example")
        self.assertEqual(invite.headers.get_all("Record-Route"), [vectors.SFB_RECORD_ROUTE])
        self.assertEqual(
            invite.headers.get_all("Allow"),
            "INVITE BYE ACK CANCEL INFO MESSAGE UPDATE REFER NOTIFY BENOTIFY OPTIONS".split(),
        )
        self.assertIn("ms-sender", invite.headers.get_all("Supported"))
        self.assertEqual(len(invite.headers.get_all("ms-text-format")), 1)
        self.assertIn(";ms-body=SGFsbG8gd8O2cmxkIQ==", invite.header("MS-TEXT-FORMAT") or "")
        self.assertEqual(invite.header("EndPoints"), "<sip:alice@contoso.com>, <sip:bob@a.test>")
        self.assertEqual(invite.cseq, CSeq(1, "INVITE"))
        self.assertEqual(invite.content_type, "application/sdp")
        self.assertEqual(invite.body, vectors.SFB_SDP)
        self.assertNotIn("Content-Length", invite.headers)

    def test_utf8_body_bytes(self) -> None:
        """
        Content-Length counts bytes: a body with umlauts and an emoji is
        read exactly.
        """
        message = parse(vectors.SFB_MESSAGE)
        self.assertEqual(message.body.decode("utf-8"), "Grüße aus Köln \u2013 bis gleich! 👋")
        self.assertEqual(message.content_params.get("charset"), "UTF-8")
        self.assertEqual(message.content_type, "text/plain")

    def test_compact_forms(self) -> None:
        """
        Compact header names expand to canonical ones.
        """
        message = parse(vectors.COMPACT_MESSAGE)
        names = [name for name, _ in message.headers]
        self.assertEqual(
            names,
            [
                "Via",
                "Via",
                "Contact",
                "From",
                "To",
                "Call-ID",
                "CSeq",
                "Max-Forwards",
                "Supported",
                "Supported",
                "Content-Type",
            ],
        )
        self.assertIn("alias", message.top_via.params)
        self.assertEqual(message.vias[1].params.get("rport"), "41234")
        self.assertEqual(message.headers.get_all("k"), ["replaces", "norefersub"])
        self.assertEqual(message.body.decode(), "Hallo, wie geht's? ✓")

    def test_cisco_notify(self) -> None:
        """
        The Cisco NOTIFY: valueless rport, PIDF body, Subscription-State.
        """
        notify = parse(vectors.CISCO_NOTIFY)
        self.assertIn("rport", notify.top_via.params)
        self.assertIsNone(notify.top_via.params.get("rport"))
        self.assertEqual(notify.header("subscription-state"), "active;expires=3599")
        self.assertIn("zurück".encode(), notify.body)

    def test_ipv6_response(self) -> None:
        """
        An IPv6 Via, a quoted Warning and an unknown Microsoft header.
        """
        response = parse(vectors.IPV6_RESPONSE)
        assert isinstance(response, Response)
        self.assertEqual(response.status, 606)
        self.assertEqual(response.reason, "Not Acceptable")
        self.assertEqual(response.top_via.host, "2001:db8::1")
        self.assertEqual(response.top_via.params.get("received"), "2001:db8::9")
        self.assertEqual(len(response.headers.get_all("Warning")), 1)
        self.assertIn('reason="Message contents', response.header("ms-diagnostics") or "")


class FramingTests(SynchronousTestCase):
    """
    Tests for L{StreamParser} framing.
    """

    def test_byte_by_byte(self) -> None:
        """
        Every vector fed one byte at a time gives the same message.
        """
        for name, data in vectors.ALL.items():
            results = feed_in_chunks(data, list(range(len(data))))
            self.assertEqual(results, [parse(data)], name)

    def test_pipelined_utf8(self) -> None:
        """
        Two pipelined messages with multi-byte bodies are both framed
        (twisted.protocols.sip counted characters and swallowed the next
        request's first bytes here).
        """
        data = vectors.SFB_MESSAGE + vectors.COMPACT_MESSAGE
        results = StreamParser().feed(data)
        self.assertEqual(results, [parse(vectors.SFB_MESSAGE), parse(vectors.COMPACT_MESSAGE)])

    def test_split_character(self) -> None:
        """
        A body split in the middle of a UTF-8 character is framed whole.
        """
        data = vectors.SFB_MESSAGE
        cut = data.index("ü".encode()) + 1
        parser = StreamParser()
        self.assertEqual(parser.feed(data[:cut]), [])
        self.assertEqual(parser.feed(data[cut:]), [parse(data)])

    def test_keepalive(self) -> None:
        """
        CRLF CRLF between messages is a ping; a lone CRLF before a message
        is skipped (RFC 3261 section 7.5).
        """
        parser = StreamParser()
        self.assertEqual(parser.feed(b"\r\n"), [])
        self.assertEqual(parser.feed(b"\r\n"), [KeepAlive()])
        self.assertEqual(parser.feed(b"\r\n\r\n\r\n\r\n"), [KeepAlive(), KeepAlive()])
        self.assertEqual(parser.feed(b"\r\n" + MINIMAL), [parse(MINIMAL)])
        self.assertTrue(parser.idle)
        self.assertEqual(parser.feed(b"\r\n\r\n\r\n" + MINIMAL), [KeepAlive(), parse(MINIMAL)])

    def test_folding(self) -> None:
        """
        Continuation lines are unfolded into one space.
        """
        data = minimal_with(
            ("Call-ID: opt-1", "Subject: first\r\n  second\r\n\tthird\r\nCall-ID: opt-1")
        )
        self.assertEqual(parse(data).header("Subject"), "first second third")

    def test_case_insensitive_names(self) -> None:
        """
        Header names are case-insensitive; known ones come out canonical.
        """
        data = minimal_with(
            ("Call-ID: opt-1", "cAlL-iD: opt-1"), ("CSeq: 7 OPTIONS", "cseq:7 OPTIONS")
        )
        message = parse(data)
        self.assertEqual(message.call_id, "opt-1")
        self.assertIn(("CSeq", "7 OPTIONS"), list(message.headers))
        self.assertEqual(canonical_name("www-authenticate"), "WWW-Authenticate")
        self.assertEqual(canonical_name("X-Custom"), "X-Custom")

    def test_all_compact_forms(self) -> None:
        """
        Every compact form expands to its full name (RFC 3261 7.3.3 and the
        RFCs that define the others).
        """
        extra = (
            "s: Lunch\r\ne: gzip\r\no: presence\r\nu: presence, dialog\r\nr: <sip:c@b.test>\r\n"
            "b: <sip:d@b.test>\r\nx: 1800\r\na: *;audio\r\nj: *;video\r\nd: proxy\r\n"
            "n: <https://b.test/cert>\r\ny: abc\r\nCall-ID: opt-1"
        )
        message = parse(minimal_with(("Call-ID: opt-1", extra)))
        names = [name for name, _ in message.headers][3:-2]
        self.assertEqual(
            names,
            [
                "Subject",
                "Content-Encoding",
                "Event",
                "Allow-Events",
                "Allow-Events",
                "Refer-To",
                "Referred-By",
                "Session-Expires",
                "Accept-Contact",
                "Reject-Contact",
                "Request-Disposition",
                "Identity-Info",
                "Identity",
            ],
        )

    def test_version_case(self) -> None:
        """
        The SIP version is case-insensitive.
        """
        request = parse(MINIMAL.replace(b"SIP/2.0\r\n", b"sip/2.0\r\n", 1))
        assert isinstance(request, Request)
        self.assertEqual(request.method, "OPTIONS")


class ErrorTests(SynchronousTestCase):
    """
    Malformed input gives L{ParseError}s, never exceptions.
    """

    def assert_error(
        self, data: bytes, reason: str, status: int = 400, fatal: bool = False
    ) -> ParseError:
        """
        C{data} gives exactly one error with these properties.
        """
        results = StreamParser().feed(data)
        self.assertEqual(len(results), 1, results)
        error = results[0]
        assert isinstance(error, ParseError), error
        self.assertEqual((error.reason, error.status, error.fatal), (reason, status, fatal))
        return error

    def test_malformed_headers(self) -> None:
        """
        Broken mandatory headers give a 400 with a reason naming the header,
        with the request attached so the error response can be built.
        """
        cases = [
            (
                ("Via: SIP/2.0/TLS b.test:5061;branch=z9hG4bKopt", "Via: SIP/2.0 b.test"),
                "Malformed Via header",
            ),
            (("Via: SIP/2.0/TLS b.test:5061;branch=z9hG4bKopt", ""), "Missing Via header"),
            (("To: <sip:a.test>", ""), "Missing To header"),
            (("To: <sip:a.test>", "To: <sip:a.test"), "Malformed To header"),
            (("From: <sip:b.test>;tag=1", 'From: "x <sip:b.test>'), "Malformed From header"),
            (("CSeq: 7 OPTIONS", "CSeq: 7 INVITE"), "CSeq method does not match"),
            (("CSeq: 7 OPTIONS", "CSeq: x OPTIONS"), "Malformed CSeq header"),
            (("CSeq: 7 OPTIONS", "CSeq: 2147483648 OPTIONS"), "Malformed CSeq header"),
            (("Call-ID: opt-1", "Call-ID: opt-1\r\ni: opt-2"), "Duplicate Call-ID header"),
            (("Call-ID: opt-1", "Call-ID: a b"), "Malformed Call-ID header"),
            (
                ("Call-ID: opt-1", "Call-ID: opt-1\r\nMax-Forwards: 256"),
                "Malformed Max-Forwards header",
            ),
            (("Call-ID: opt-1", "Call-ID: opt-1\r\nContact: <sip:x"), "Malformed Contact header"),
            (("Call-ID: opt-1", "Call-ID: opt-1\r\nNo Colon Here"), "Malformed header line"),
            (
                ("Call-ID: opt-1", 'Call-ID: opt-1\r\nSupported: "a, b'),
                "Malformed Supported header",
            ),
        ]
        for replace, reason in cases:
            error = self.assert_error(minimal_with(replace), reason)
            assert isinstance(error.message, Request)
            self.assertEqual(error.message.method, "OPTIONS")

    def test_bad_request_uri(self) -> None:
        """
        A Request-URI that does not parse is a 400.
        """
        self.assert_error(
            MINIMAL.replace(b"sip:a.test", b"sip:a..test", 1), "Malformed Request-URI"
        )

    def test_not_utf8(self) -> None:
        """
        Header values that are not UTF-8 or hold control characters are 400s.
        """
        self.assert_error(
            minimal_with(("Call-ID: opt-1", "Call-ID: opt-1\r\nSubject: \xff")).replace(
                "Subject: \xff".encode(), b"Subject: \xff"
            ),
            "Subject header is not UTF-8",
        )
        self.assert_error(
            minimal_with(("Call-ID: opt-1", "Call-ID: opt-1\r\nSubject: a\x00b")),
            "Control character in Subject header",
        )

    def test_version(self) -> None:
        """
        Another SIP version is a 505.
        """
        self.assert_error(
            MINIMAL.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), "Version Not Supported", 505
        )

    def test_missing_content_length(self) -> None:
        """
        Without Content-Length the stream cannot be framed: fatal, with the
        request attached for a last 400.
        """
        error = self.assert_error(
            minimal_with(("Content-Length: 0", "")), "Missing Content-Length", fatal=True
        )
        self.assertIsInstance(error.message, Request)

    def test_bad_content_length(self) -> None:
        """
        Negative, non-numeric and conflicting Content-Lengths are fatal.
        """
        for value in ("-1", "abc", "0\r\nl: 5", "\u0661"):
            self.assert_error(
                minimal_with(("Content-Length: 0", f"Content-Length: {value}")),
                "Malformed Content-Length",
                fatal=True,
            )

    def test_repeated_equal_content_length(self) -> None:
        """
        Repeated, equal Content-Length values are accepted.
        """
        parse(minimal_with(("Content-Length: 0", "Content-Length: 0\r\nl: 0")))

    def test_garbage_start_line(self) -> None:
        """
        A start line that is not SIP is fatal.
        """
        self.assert_error(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "Malformed start line", fatal=True)
        self.assert_error(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n", "Malformed start line", fatal=True
        )

    def test_nothing_after_fatal(self) -> None:
        """
        After a fatal error the parser returns nothing more.
        """
        parser = StreamParser()
        self.assertTrue(parser.feed(b"HELLO\r\n\r\n")[0].fatal)  # type: ignore[union-attr]
        self.assertTrue(parser.failed)
        self.assertEqual(parser.feed(MINIMAL), [])

    def test_connection_usable_after_error(self) -> None:
        """
        After a non-fatal error the next message is parsed.
        """
        bad = minimal_with(("To: <sip:a.test>", ""))
        results = StreamParser().feed(bad + MINIMAL)
        self.assertIsInstance(results[0], ParseError)
        self.assertEqual(results[1:], [parse(MINIMAL)])

    def test_header_too_large(self) -> None:
        """
        A header section over the limit is a fatal 513; what was read is
        attached so the 513 can still be addressed.
        """
        data = minimal_with(("Call-ID: opt-1", "Call-ID: opt-1\r\nSubject: " + "x" * 300))
        parser = StreamParser(max_header_size=250)
        results = parser.feed(data)
        self.assertEqual(len(results), 1)
        error = results[0]
        assert isinstance(error, ParseError)
        self.assertEqual((error.status, error.fatal), (513, True))
        assert isinstance(error.message, Request)
        self.assertEqual(error.message.header("Call-ID"), "opt-1")

    def test_header_too_large_in_pieces(self) -> None:
        """
        The header limit also holds when the header arrives in pieces.
        """
        parser = StreamParser(max_header_size=100)
        self.assertEqual(parser.feed(b"OPTIONS sip:a.test SIP/2.0\r\nSubject: "), [])
        results = parser.feed(b"y" * 200)
        self.assertEqual([(r.status, r.fatal) for r in results], [(513, True)])  # type: ignore[union-attr]

    def test_body_too_large(self) -> None:
        """
        A body over the limit is skipped with a 413 and the stream goes on.
        """
        big = vectors.SFB_INVITE
        parser = StreamParser(max_body_size=100)
        results = parser.feed(big[:200])
        results += parser.feed(big[200:] + MINIMAL)
        error = results[0]
        assert isinstance(error, ParseError)
        self.assertEqual(
            (error.status, error.fatal, error.reason), (413, False, "Request Entity Too Large")
        )
        assert isinstance(error.message, Request)
        self.assertEqual(error.message.method, "INVITE")
        self.assertEqual(results[1:], [parse(MINIMAL)])

    def test_bad_response(self) -> None:
        """
        A malformed response is reported with the response attached.
        """
        data = vectors.IPV6_RESPONSE.replace(b"CSeq: 3 MESSAGE\r\n", b"")
        error = self.assert_error(data, "Missing CSeq header")
        self.assertIsInstance(error.message, Response)

    def test_parse_message_trailing(self) -> None:
        """
        L{parse_message} wants exactly one complete message.
        """
        self.assertIsInstance(parse_message(MINIMAL[:-3]), ParseError)
        self.assertIsInstance(parse_message(MINIMAL + b"OPTIONS"), ParseError)
        self.assertIsInstance(parse_message(MINIMAL + MINIMAL), ParseError)


class ViaTests(SynchronousTestCase):
    """
    Tests for L{parse_via}.
    """

    def test_ipv6(self) -> None:
        """
        An IPv6 sent-by in brackets, with port and branch.
        """
        via = parse_via("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK776asdhds")
        self.assertEqual(via, Via("2001:db8::1", 5061, "TLS", Params.of(branch="z9hG4bK776asdhds")))
        self.assertEqual(via.format(), "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK776asdhds")

    def test_whitespace(self) -> None:
        """
        Whitespace is allowed around '/' and ':' (RFC 3261 LWS/SWS).
        """
        via = parse_via("SIP / 2.0 / tls  edge.b.test : 5061 ; branch=z9hG4bK1 ; rport")
        self.assertEqual((via.transport, via.host, via.port), ("TLS", "edge.b.test", 5061))
        self.assertEqual(via.params.items, (("branch", "z9hG4bK1"), ("rport", None)))
        self.assertEqual(via.sent_by, ("edge.b.test", 5061))

    def test_malformed(self) -> None:
        """
        Broken Via values raise L{SipSyntaxError}.
        """
        for text in (
            "SIP/2.0/TLS",
            "SIP/2.0 b.test",
            "HTTP/1.1/TCP b.test",
            "SIP/2.0/TLS b.test;",
            "SIP/2.0/TLS b.test:x",
        ):
            with self.assertRaises(SipSyntaxError, msg=text):
                parse_via(text)


class CSeqTests(SynchronousTestCase):
    """
    Tests for L{parse_cseq}.
    """

    def test_parse(self) -> None:
        """
        A number and a method, with flexible whitespace.
        """
        self.assertEqual(parse_cseq(" 4711  INVITE "), CSeq(4711, "INVITE"))
        self.assertEqual(str(CSeq(1, "ACK")), "1 ACK")


class HeadersTests(SynchronousTestCase):
    """
    Tests for L{Headers}.
    """

    def test_editing(self) -> None:
        """
        Headers are immutable; edits return new lists in the right order.
        """
        headers = Headers([("v", "a"), ("Via", "b"), ("To", "t")])
        self.assertEqual(headers.get_all("VIA"), ["a", "b"])
        self.assertEqual(headers.prepend("Via", "z").get_all("via"), ["z", "a", "b"])
        self.assertEqual(headers.remove_first("Via").get_all("Via"), ["b"])
        self.assertEqual(list(headers.set("Via", "y")), [("Via", "y"), ("To", "t")])
        self.assertEqual(list(headers.set("Subject", "s"))[-1], ("Subject", "s"))
        self.assertEqual(list(headers.remove("via")), [("To", "t")])
        self.assertEqual(headers.get("From", "none"), "none")
        self.assertNotIn("From", headers)
        self.assertEqual(len(headers), 3)


class SerializeTests(SynchronousTestCase):
    """
    Tests for L{serialize}.
    """

    def test_content_length(self) -> None:
        """
        Content-Length is computed from the body in bytes and comes last.
        """
        request = Request(
            "MESSAGE", "sip:bob@a.test", Headers([("Content-Length", "99")]), "é".encode()
        )
        self.assertEqual(
            serialize(request),
            b"MESSAGE sip:bob@a.test SIP/2.0\r\nContent-Length: 2\r\n\r\n\xc3\xa9",
        )

    def test_injection(self) -> None:
        """
        CR or LF in a value, a bad header name or a spaced URI cannot be
        serialized.
        """
        for message in (
            Request("MESSAGE", "sip:a.test", Headers([("Subject", "x\r\nVia: evil")])),
            Request("MESSAGE", "sip:a.test", Headers([("Bad Name", "x")])),
            Request("MESSAGE", "sip:a.test x", Headers()),
            Request("MES SAGE", "sip:a.test", Headers()),
            Response(200, "OK\r\nVia: x", Headers()),
            Response(99, "Odd", Headers()),
        ):
            with self.assertRaises(ValueError):
                serialize(message)


class MakeResponseTests(SynchronousTestCase):
    """
    Tests for L{make_response}.
    """

    def test_copies(self) -> None:
        """
        Via (all, in order), From, To, Call-ID and CSeq are copied, and the
        To tag added.
        """
        invite = parse(vectors.SFB_INVITE)
        assert isinstance(invite, Request)
        response = make_response(invite, 180, to_tag="t1")
        self.assertEqual(response.reason, "Ringing")
        self.assertEqual(response.headers.get_all("Via"), invite.headers.get_all("Via"))
        self.assertEqual(response.header("From"), invite.header("From"))
        self.assertEqual(response.header("To"), "<sip:bob@a.test>;tag=t1")
        self.assertEqual(response.header("CSeq"), "1 INVITE")
        self.assertNotIn("Record-Route", response.headers)

    def test_record_route(self) -> None:
        """
        Record-Route is copied, unchanged, when asked.
        """
        invite = parse(vectors.SFB_INVITE)
        assert isinstance(invite, Request)
        response = make_response(invite, 200, to_tag="t1", copy_record_route=True)
        self.assertEqual(response.headers.get_all("Record-Route"), [vectors.SFB_RECORD_ROUTE])

    def test_trying(self) -> None:
        """
        A 100 gets no To tag but the Timestamp (RFC 3261 section 8.2.6.1).
        """
        request = parse(minimal_with(("Call-ID: opt-1", "Call-ID: opt-1\r\nTimestamp: 54")))
        assert isinstance(request, Request)
        response = make_response(request, 100, to_tag="t1")
        self.assertEqual(response.header("To"), "<sip:a.test>")
        self.assertEqual(response.header("Timestamp"), "54")

    def test_existing_tag(self) -> None:
        """
        A To tag already present is kept.
        """
        request = parse(vectors.SFB_MESSAGE)
        assert isinstance(request, Request)
        self.assertEqual(
            make_response(request, 200, to_tag="other").header("To"),
            "<sip:bob@a.test>;tag=hub-tag-1",
        )

    def test_partial_request(self) -> None:
        """
        A response can be built for a request missing headers.
        """
        error = StreamParser().feed(minimal_with(("To: <sip:a.test>", "")))[0]
        assert isinstance(error, ParseError) and isinstance(error.message, Request)
        response = make_response(error.message, 400, error.reason)
        self.assertEqual(response.reason, "Missing To header")
        self.assertNotIn("To", response.headers)
        self.assertEqual(response.header("Call-ID"), "opt-1")
        self.assertIsInstance(parse_message(serialize(response)), ParseError)


# Message strategies ----------------------------------------------------------

VIA_PARAMS = st.lists(st.tuples(TOKEN, PARAM_VALUE), max_size=3)
VIAS = st.builds(
    lambda host, port, transport, branch, params: Via(
        host, port, transport, Params((("branch", "z9hG4bK" + branch), *params))
    ),
    HOST,
    PORT,
    st.sampled_from(["TLS", "TCP", "UDP"]),
    TOKEN,
    VIA_PARAMS,
)
HEADER_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30).map(
    lambda t: t.strip(" \t")
)
EXTENSION_HEADERS = st.lists(
    st.tuples(st.from_regex(r"X-[A-Za-z0-9\-]{1,10}", fullmatch=True), HEADER_TEXT), max_size=4
)
METHODS = st.sampled_from(
    [
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "SUBSCRIBE",
        "BYE",
        "OPTIONS",
        "INFO",
        "ACK",
        "CANCEL",
        "BENOTIFY",
    ]
)


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    """
    Valid requests and responses in the parser's canonical form.
    """
    method = draw(METHODS)
    vias = draw(st.lists(VIAS, min_size=1, max_size=3))
    items: list[tuple[str, str]] = [("Via", v.format()) for v in vias]
    from_ = draw(NAME_ADDRS)
    to = draw(NAME_ADDRS)
    items += [
        ("From", from_.format()),
        ("To", to.format()),
        ("Call-ID", draw(st.from_regex(r"[!-~]{1,24}", fullmatch=True))),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
    ]
    if draw(st.booleans()):
        items.append(("Max-Forwards", str(draw(st.integers(0, 255)))))
    items += [("Contact", c.format()) for c in draw(st.lists(NAME_ADDRS, max_size=2))]
    items += [("Record-Route", f"<{u.format()}>") for u in draw(st.lists(SIP_URIS, max_size=2))]
    items += [("Supported", t) for t in draw(st.lists(TOKEN, max_size=3))]
    items += draw(EXTENSION_HEADERS)
    order = draw(st.permutations(range(len(items))))
    # Keep Via order (and every list header's order) while mixing others.
    shuffled = sorted(
        range(len(items)),
        key=lambda i: (
            order[i] if items[i][0] not in ("Via", "Contact", "Record-Route", "Supported") else -1,
            i,
        ),
    )
    headers = Headers([items[i] for i in shuffled])
    body = draw(st.binary(max_size=120))
    if draw(st.booleans()):
        uri = draw(SIP_URIS)
        return Request(method, uri.format(), headers, body)
    status = draw(st.integers(100, 699))
    reason = draw(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20))
    return Response(status, reason, headers, body)


#: Byte soup made of SIP fragments, to reach deeper parser states than
#: uniformly random bytes do.
SIP_SOUP = st.lists(
    st.sampled_from(
        [
            b"\r\n",
            b"\r\n\r\n",
            b"\r",
            b"\n",
            b" ",
            b"\t",
            b":",
            b";",
            b",",
            b'"',
            b"<",
            b">",
            b"INVITE sip:a.test SIP/2.0",
            b"SIP/2.0 200 OK",
            b"Content-Length: 3",
            b"l: 0",
            b"Content-Length: 99999999999",
            b"Via: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1",
            b"f: <sip:b.test>;tag=1",
            b"t: <sip:a.test>",
            b"i: x",
            b"CSeq: 1 INVITE",
            b"\xc3",
            b"\xa9",
            b"\x00",
        ]
    ),
    max_size=40,
).map(b"".join)

STREAM_ITEMS = st.lists(st.one_of(messages(), st.just(b"\r\n\r\n"), st.just(b"\r\n")), max_size=5)


class PropertyTests(SynchronousTestCase):
    """
    Property-based tests of the parser and serializer.
    """

    @settings(max_examples=200)
    @given(messages())
    def test_round_trip(self, message: Request | Response) -> None:
        """
        serialize→parse gives the message back.
        """
        self.assertEqual(parse_message(serialize(message)), message)

    @settings(max_examples=150)
    @given(STREAM_ITEMS, st.lists(st.integers(0, 4000), max_size=12))
    def test_chunking(self, items: list[Request | Response | bytes], cuts: list[int]) -> None:
        """
        However a stream of messages and keep-alives is cut into reads, the
        same results come out.
        """
        data = b"".join(i if isinstance(i, bytes) else serialize(i) for i in items)
        whole = StreamParser().feed(data)
        self.assertEqual(feed_in_chunks(data, [c for c in cuts if c < len(data)]), whole)
        self.assertEqual(
            [r for r in whole if not isinstance(r, KeepAlive)],
            [i for i in items if not isinstance(i, bytes)],
        )

    @settings(max_examples=300)
    @given(st.one_of(st.binary(max_size=400), SIP_SOUP), st.lists(st.integers(0, 400), max_size=8))
    def test_arbitrary_bytes(self, data: bytes, cuts: list[int]) -> None:
        """
        Arbitrary bytes never raise, and chunking does not change results.
        """
        limits = {"max_header_size": 120, "max_body_size": 40}
        whole = StreamParser(**limits).feed(data)
        chunked = feed_in_chunks(data, [c for c in cuts if c < len(data)], **limits)
        self.assertEqual(chunked, whole)
        for result in whole:
            self.assertIsInstance(result, (Request, Response, KeepAlive, ParseError))
            if isinstance(result, ParseError):
                self.assertNotEqual(result.reason, "Internal parser error")

    @settings(max_examples=300)
    @given(
        st.sampled_from(sorted(vectors.ALL)),
        st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 255)), min_size=1, max_size=6),
    )
    def test_mutated_vectors(self, name: str, changes: list[tuple[int, int]]) -> None:
        """
        Real messages with bytes changed never make the parser raise.
        """
        data = bytearray(vectors.ALL[name])
        for position, value in changes:
            data[position % len(data)] = value
        for result in StreamParser().feed(bytes(data)):
            if isinstance(result, ParseError):
                self.assertNotEqual(result.reason, "Internal parser error")

    @given(st.text(max_size=80))
    def test_via_arbitrary(self, text: str) -> None:
        """
        Arbitrary Via text parses or raises L{SipSyntaxError}.
        """
        try:
            parse_via(text)
        except SipSyntaxError:
            pass

    def test_name_addr_of_generated_messages(self) -> None:
        """
        The typed accessors work on a hand-built message.
        """
        request = Request(
            "MESSAGE",
            "sip:bob@a.test",
            Headers(
                [
                    ("Via", Via("hub.test", 5061, params=Params.of(branch="z9hG4bK1")).format()),
                    (
                        "From",
                        NameAddr(SipURI("a.test", "alice"), params=Params.of(tag="1")).format(),
                    ),
                    ("To", "<sip:bob@a.test>"),
                    ("Call-ID", "c"),
                    ("CSeq", "1 MESSAGE"),
                ]
            ),
        )
        self.assertEqual(request.from_.tag, "1")
        self.assertEqual(parse_name_addr(request.header("To") or "").uri, SipURI("a.test", "bob"))
        self.assertEqual(parse_message(serialize(request)), request)


class PurityTests(SynchronousTestCase):
    """
    The pure layers import no Twisted at all.
    """

    def test_no_twisted(self) -> None:
        """
        Importing uri, message and dialog loads no Twisted module.
        """
        code = (
            "import sys\n"
            "import nextplane.connectors.sip.uri, nextplane.connectors.sip.message\n"
            "import nextplane.connectors.sip.dialog\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'twisted'))\n"
        )
        output = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        self.assertEqual(output.strip(), "[]")
