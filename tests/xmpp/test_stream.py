# -*- test-case-name: tests.xmpp.test_stream -*-
"""
Tests for L{nextplane.connectors.xmpp.stream}.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from nextplane.connectors.xmpp.stream import (
    NS_DIALBACK,
    NS_SERVER,
    NS_STREAMS,
    BaseStream,
    StreamError,
    StreamLimits,
    StreamParser,
    format_stream_header,
    jid_domain,
    make_error_reply,
    normalise_domain,
    parse_stream_header,
    serialize,
)

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:server'"
    b" xmlns:stream='http://etherx.jabber.org/streams'"
    b" xmlns:db='jabber:server:dialback' to='hub.test' from='peer.test' version='1.0'>"
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>
<message>&lol3;</message>"""


class Recorder:
    """
    Collects parser events.
    """

    def __init__(self, max_stanza_size: int = 1000, **kwargs: int) -> None:
        self.events: list[tuple[str, domish.Element | None]] = []
        self.parser = StreamParser(
            self.header, self.element, self.end, max_stanza_size=max_stanza_size, **kwargs
        )
        self.on_element = lambda e: None

    def header(self, element: domish.Element) -> None:
        self.events.append(("header", element))

    def element(self, element: domish.Element) -> None:
        self.events.append(("element", element))
        self.on_element(element)

    def end(self) -> None:
        self.events.append(("end", None))

    def names(self) -> list[str]:
        return [
            kind if element is None else f"{kind}:{element.name}" for kind, element in self.events
        ]


class StreamParserTests(SynchronousTestCase):
    """
    Tests for L{StreamParser}.
    """

    def test_header_elements_end(self) -> None:
        """
        The parser reports the header, each first-level child and the end.
        """
        r = Recorder()
        r.parser.feed(HEADER + b"<message to='a@b'><body>hi</body></message>  <presence/>")
        r.parser.feed(b"</stream:stream>")
        self.assertEqual(r.names(), ["header:stream", "element:message", "element:presence", "end"])
        message = r.events[1][1]
        assert message is not None
        self.assertEqual((message.uri, str(message.body)), (NS_SERVER, "hi"))

    def test_byte_by_byte(self) -> None:
        """
        Input split at every byte (including inside UTF-8 sequences) parses
        the same.
        """
        r = Recorder()
        data = HEADER + "<message><body>héllo ☃</body></message>".encode()
        for i in range(len(data)):
            r.parser.feed(data[i : i + 1])
        self.assertEqual(r.names(), ["header:stream", "element:message"])
        element = r.events[1][1]
        assert element is not None
        self.assertEqual(str(element.body), "héllo ☃")

    def test_billion_laughs(self) -> None:
        """
        A DTD with entity declarations is refused as restricted XML before
        any entity is expanded.
        """
        r = Recorder()
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(BILLION_LAUGHS)
        self.assertEqual(raised.exception.condition, "restricted-xml")
        self.assertEqual(r.events, [])

    def test_external_entity(self) -> None:
        """
        An external entity (XXE) declaration is refused as restricted XML.
        """
        r = Recorder()
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(
                b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            )
        self.assertEqual(raised.exception.condition, "restricted-xml")

    def test_comment_and_pi(self) -> None:
        """
        Comments and processing instructions are restricted XML.
        """
        for extra in (b"<!-- hi -->", b"<?php evil?>"):
            r = Recorder()
            r.parser.feed(HEADER)
            with self.assertRaises(StreamError) as raised:
                r.parser.feed(extra)
            self.assertEqual(raised.exception.condition, "restricted-xml")

    def test_undefined_entity(self) -> None:
        """
        A reference to an undeclared entity is not well-formed.
        """
        r = Recorder()
        r.parser.feed(HEADER)
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(b"<message>&xxe;</message>")
        self.assertEqual(raised.exception.condition, "not-well-formed")

    def test_predefined_entities_and_cdata(self) -> None:
        """
        Predefined entities, character references and CDATA sections are
        fine.
        """
        r = Recorder()
        r.parser.feed(HEADER + b"<message><body>&lt;&amp;&#x263a;<![CDATA[<b>]]></body></message>")
        element = r.events[1][1]
        assert element is not None
        self.assertEqual(str(element.body), "<&☺<b>")

    def test_malformed(self) -> None:
        """
        Mismatched tags are not well-formed, and later input is ignored.
        """
        r = Recorder()
        r.parser.feed(HEADER)
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(b"<message><body></message>")
        self.assertEqual(raised.exception.condition, "not-well-formed")
        r.parser.feed(b"<presence/>")
        self.assertEqual(r.names(), ["header:stream"])

    def test_stanza_at_limit(self) -> None:
        """
        A stanza exactly within the byte limit is accepted.
        """
        r = Recorder(max_stanza_size=100)
        stanza = b"<message><body>" + b"x" * 59 + b"</body></message>"
        r.parser.feed(HEADER + stanza)
        self.assertEqual(r.names(), ["header:stream", "element:message"])

    def test_oversized_stanza_in_one_chunk(self) -> None:
        """
        A stanza over the limit in a single chunk is refused with
        policy-violation and never delivered.
        """
        r = Recorder(max_stanza_size=100)
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(HEADER + b"<message><body>" + b"x" * 200 + b"</body></message>")
        self.assertEqual(raised.exception.condition, "policy-violation")
        self.assertEqual(r.names(), ["header:stream"])

    def test_oversized_stanza_in_pieces(self) -> None:
        """
        A stanza that grows past the limit over many small chunks is refused
        as soon as the limit is crossed.
        """
        r = Recorder(max_stanza_size=100)
        r.parser.feed(HEADER + b"<message><body>")
        with self.assertRaises(StreamError) as raised:
            for _ in range(200):
                r.parser.feed(b"x")
        self.assertEqual(raised.exception.condition, "policy-violation")

    def test_unterminated_start_tag(self) -> None:
        """
        Bytes buffered towards a start tag that never ends count against the
        limit too (expat reports no event until the tag completes).
        """
        r = Recorder(max_stanza_size=100)
        r.parser.feed(HEADER + b"<presence/><message to='")
        with self.assertRaises(StreamError) as raised:
            for _ in range(20):
                r.parser.feed(b"a" * 10)
        self.assertEqual(raised.exception.condition, "policy-violation")

    def test_header_too_large(self) -> None:
        """
        A stream header that never ends is refused.
        """
        r = Recorder()
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(b"<stream:stream " + b"a='b' " * 2000)
        self.assertEqual(raised.exception.condition, "policy-violation")

    def test_limit_per_stanza(self) -> None:
        """
        The limit applies to each stanza, not to the stream.
        """
        r = Recorder(max_stanza_size=100)
        r.parser.feed(HEADER)
        for _ in range(50):
            r.parser.feed(b"<message><body>" + b"x" * 50 + b"</body></message>\n")
        self.assertEqual(len(r.events), 51)

    def test_depth_limit(self) -> None:
        """
        Deep nesting is a policy violation.
        """
        r = Recorder(max_stanza_size=100000, max_depth=10)
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(HEADER + b"<message>" + b"<a>" * 20)
        self.assertEqual(raised.exception.condition, "policy-violation")

    def test_element_count_limit(self) -> None:
        """
        Too many elements in one stanza is a policy violation.
        """
        r = Recorder(max_stanza_size=100000, max_elements=10)
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(HEADER + b"<message>" + b"<a/>" * 20 + b"</message>")
        self.assertEqual(raised.exception.condition, "policy-violation")

    def test_whitespace_keepalives(self) -> None:
        """
        Whitespace between stanzas (keepalives) is ignored and does not
        accumulate towards the limit.
        """
        r = Recorder(max_stanza_size=100)
        r.parser.feed(HEADER)
        for _ in range(500):
            r.parser.feed(b" ")
        r.parser.feed(b"<presence/>")
        self.assertEqual(r.names(), ["header:stream", "element:presence"])

    def test_text_between_stanzas(self) -> None:
        """
        Text other than whitespace at stream level is bad-format.
        """
        r = Recorder()
        r.parser.feed(HEADER)
        with self.assertRaises(StreamError) as raised:
            r.parser.feed(b"hello")
        self.assertEqual(raised.exception.condition, "bad-format")

    def test_reset_discards_rest_of_chunk(self) -> None:
        """
        A reset requested while handling an element drops whatever followed
        it in the same chunk (STARTTLS injection), and the next header
        parses.
        """
        r = Recorder()
        r.on_element = lambda element: r.parser.reset()
        r.parser.feed(HEADER + b"<starttls/><message>injected</message>")
        self.assertEqual(r.names(), ["header:stream", "element:starttls"])
        r.on_element = lambda element: None
        r.parser.feed(HEADER + b"<presence/>")
        self.assertEqual(
            r.names(), ["header:stream", "element:starttls", "header:stream", "element:presence"]
        )

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def test_fuzz_bytes(self, data: bytes) -> None:
        """
        Arbitrary bytes after a header only ever raise L{StreamError}.
        """
        r = Recorder()
        r.parser.feed(HEADER)
        try:
            r.parser.feed(data)
        except StreamError:
            pass

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet="<>/='\"!?&;[]-abcxyz :\n", max_size=200))
    def test_fuzz_markup(self, text: str) -> None:
        """
        Arbitrary markup-like text only ever raises L{StreamError}.
        """
        r = Recorder()
        try:
            r.parser.feed(HEADER + text.encode())
        except StreamError:
            pass


class HeaderTests(SynchronousTestCase):
    """
    Tests for L{parse_stream_header} and L{format_stream_header}.
    """

    def parse(self, data: bytes) -> domish.Element:
        r = Recorder()
        r.parser.feed(data)
        element = r.events[0][1]
        assert element is not None
        return element

    def test_round_trip(self) -> None:
        """
        Our headers carry from, to, id, version 1.0, xml:lang and the db
        prefix, and parse back.
        """
        data = format_stream_header("hub.test", "peer.test", "abc")
        self.assertIn(b"xml:lang='en'", data)
        header = parse_stream_header(self.parse(data))
        self.assertEqual(
            (header.from_, header.to, header.id, header.version, header.lang, header.dialback),
            ("hub.test", "peer.test", "abc", (1, 0), "en", True),
        )

    def test_no_id(self) -> None:
        """
        An initiating header may omit the id.
        """
        self.assertNotIn(b" id=", format_stream_header("a.test", "b.test", None))

    def test_wrong_stream_namespace(self) -> None:
        """
        A root element outside the streams namespace is invalid-namespace.
        """
        element = self.parse(b"<stream xmlns='jabber:server'>")
        with self.assertRaises(StreamError) as raised:
            parse_stream_header(element)
        self.assertEqual(raised.exception.condition, "invalid-namespace")

    def test_client_namespace(self) -> None:
        """
        A jabber:client stream is invalid-namespace on the s2s port.
        """
        element = self.parse(
            b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        with self.assertRaises(StreamError) as raised:
            parse_stream_header(element)
        self.assertEqual(raised.exception.condition, "invalid-namespace")

    def test_version_two(self) -> None:
        """
        Version 2.0 is unsupported-version.
        """
        element = self.parse(HEADER.replace(b" version='1.0'>", b" version='2.0'>"))
        with self.assertRaises(StreamError) as raised:
            parse_stream_header(element)
        self.assertEqual(raised.exception.condition, "unsupported-version")

    def test_no_version(self) -> None:
        """
        A pre-1.0 header parses with version None.
        """
        element = self.parse(HEADER.replace(b" version='1.0'>", b">"))
        self.assertIsNone(parse_stream_header(element).version)

    def test_domains_normalised(self) -> None:
        """
        Domains are compared in lower case.
        """
        element = self.parse(HEADER.replace(b"to='hub.test'", b"to='HUB.Test'"))
        self.assertEqual(parse_stream_header(element).to, "hub.test")


class HelperTests(SynchronousTestCase):
    """
    Tests for the small helpers.
    """

    def test_serialize_prefixes(self) -> None:
        """
        Dialback elements use the db prefix and stanzas carry no xmlns.
        """
        result = domish.Element((NS_DIALBACK, "result"))
        result["to"] = "a.test"
        self.assertEqual(serialize(result), b"<db:result to='a.test'/>")
        message = domish.Element((NS_SERVER, "message"))
        self.assertEqual(serialize(message), b"<message/>")
        features = domish.Element((NS_STREAMS, "features"))
        self.assertEqual(serialize(features), b"<stream:features/>")

    def test_stream_error_element(self) -> None:
        """
        A stream error serialises with its condition and text.
        """
        xml = serialize(StreamError("policy-violation", "too big").to_element())
        self.assertIn(b"<stream:error><policy-violation xmlns=", xml)
        self.assertIn(b">too big</text>", xml)

    def test_stream_error_from_element(self) -> None:
        """
        A received stream error is read back.
        """
        error = StreamError.from_element(StreamError("host-unknown", "nope").to_element())
        self.assertEqual((error.condition, error.text), ("host-unknown", "nope"))

    def test_error_reply(self) -> None:
        """
        Error replies swap addresses and keep the id.
        """
        message = domish.Element((NS_SERVER, "message"))
        message["from"], message["to"], message["id"] = "a@x.test", "b@y.test", "1"
        reply = make_error_reply(message, "remote-server-not-found", "gone")
        assert reply is not None
        self.assertEqual(
            (reply["from"], reply["to"], reply["id"], reply["type"]),
            ("b@y.test", "a@x.test", "1", "error"),
        )
        self.assertIn(b"remote-server-not-found", serialize(reply))

    def test_no_error_reply_to_error(self) -> None:
        """
        Errors are never answered with errors.
        """
        message = domish.Element((NS_SERVER, "message"))
        message["type"] = "error"
        self.assertIsNone(make_error_reply(message, "service-unavailable"))

    def test_domains(self) -> None:
        """
        JIDs yield their lower-case domain; bare-domain checks refuse users.
        """
        self.assertEqual(jid_domain("Alice@Peer.Test/res"), "peer.test")
        self.assertEqual(normalise_domain("Peer.Test"), "peer.test")
        self.assertRaises(ValueError, normalise_domain, "alice@peer.test")
        self.assertRaises(ValueError, jid_domain, "@")


class _Echo(BaseStream):
    """
    A BaseStream that records elements and can be made to fail.
    """

    def __init__(self) -> None:
        super().__init__(Clock(), StreamLimits(max_unauthenticated_stanza_size=200))
        self.received: list[str] = []
        self.explode = False

    def header_received(self, header: domish.Element) -> None:
        self.send_header("hub.test", None, "id1")

    def element_received(self, element: domish.Element) -> None:
        if self.explode:
            raise RuntimeError("bug")
        self.received.append(element.name)

    def error_header(self) -> bytes:
        return format_stream_header("hub.test", None, "id0")


class BaseStreamTests(SynchronousTestCase):
    """
    Tests for L{BaseStream} over a L{StringTransport}.
    """

    def setUp(self) -> None:
        self.stream = _Echo()
        self.transport = StringTransport()
        self.stream.makeConnection(self.transport)

    def test_error_before_header(self) -> None:
        """
        An error before our header was sent is preceded by a header, then
        the stream error, the close tag, and the connection is dropped.
        """
        self.stream.dataReceived(b"<!DOCTYPE x>")
        value = self.transport.value()
        self.assertTrue(value.startswith(b"<?xml version='1.0'?><stream:stream"))
        self.assertIn(b"<restricted-xml", value)
        self.assertTrue(value.endswith(b"</stream:stream>"))
        self.assertTrue(self.transport.disconnecting)

    def test_nothing_after_error(self) -> None:
        """
        Once a stream error was sent, input is ignored and nothing more is
        written.
        """
        self.stream.dataReceived(HEADER + b"<a><b></a>")
        sent = self.transport.value()
        self.stream.dataReceived(b"<message/>")
        self.assertEqual(self.transport.value(), sent)
        self.assertEqual(self.stream.received, [])
        assert self.stream.error is not None
        self.assertEqual(self.stream.error.condition, "not-well-formed")

    def test_bug_in_handler(self) -> None:
        """
        An unexpected exception in a handler closes only this stream, with
        internal-server-error, and is logged.
        """
        self.stream.explode = True
        self.stream.dataReceived(HEADER + b"<message/>")
        self.assertIn(b"<internal-server-error", self.transport.value())
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_abort_after_close_timeout(self) -> None:
        """
        A connection that does not go away after a stream error is aborted
        after the close timeout.
        """
        aborted = []
        self.transport.abortConnection = lambda: aborted.append(True)  # type: ignore[method-assign]
        self.stream.dataReceived(b"junk<")
        assert isinstance(self.stream.clock, Clock)
        self.stream.clock.advance(self.stream.limits.close_timeout)
        self.assertEqual(aborted, [True])

    def test_peer_close(self) -> None:
        """
        The peer's close tag is answered with ours and the connection dropped.
        """
        self.stream.dataReceived(HEADER + b"</stream:stream>")
        self.assertTrue(self.transport.value().endswith(b"</stream:stream>"))
        self.assertTrue(self.transport.disconnecting)

    def test_graceful_close(self) -> None:
        """
        close() sends the close tag and drops the connection after the close
        timeout if the peer does not answer.
        """
        self.stream.close()
        self.assertTrue(self.transport.value().endswith(b"</stream:stream>"))
        self.assertFalse(self.transport.disconnecting)
        assert isinstance(self.stream.clock, Clock)
        self.stream.clock.advance(self.stream.limits.close_timeout)
        self.assertTrue(self.transport.disconnecting)

    def test_negotiation_timeout(self) -> None:
        """
        A stream still negotiating after the timeout ends with
        connection-timeout.
        """
        assert isinstance(self.stream.clock, Clock)
        self.stream.clock.advance(self.stream.limits.negotiation_timeout)
        self.assertIn(b"<connection-timeout", self.transport.value())
