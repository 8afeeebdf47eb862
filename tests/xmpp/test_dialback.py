# -*- test-case-name: tests.xmpp.test_dialback -*-
"""
Tests for L{nextplane.connectors.xmpp.dialback}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from nextplane.connectors.xmpp import dialback
from nextplane.connectors.xmpp.stream import NS_DIALBACK, NS_STREAMS, StreamError, serialize


def _element(xml: str) -> domish.Element:
    from nextplane.connectors.xmpp.stream import StreamParser

    found: list[domish.Element] = []
    parser = StreamParser(lambda e: None, found.append, lambda: None, max_stanza_size=10000)
    parser.feed(
        b"<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback'"
        b" xmlns:stream='http://etherx.jabber.org/streams'>" + xml.encode()
    )
    return found[0]


class KeyTests(SynchronousTestCase):
    """
    Tests for dialback key generation (XEP-0185).
    """

    def test_xep_0220_vector(self) -> None:
        """
        The key matches the worked example of XEP-0220 section 2.4.
        """
        self.assertEqual(
            dialback.generate_key(
                b"d14lb4ck43v3r", "capulet.example", "montague.example", "417GAF25"
            ),
            "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d",
        )

    def test_matches_wokkel(self) -> None:
        """
        The key is the one C{wokkel.server.generateKey} computes.
        """
        from wokkel.server import generateKey

        self.assertEqual(
            dialback.generate_key(b"s3cret", "hub.test", "peer.test", "abc"),
            generateKey("s3cret", "hub.test", "peer.test", "abc"),
        )

    def test_check(self) -> None:
        """
        DialbackKeys accepts its own keys (surrounding whitespace allowed)
        and refuses others.
        """
        keys = dialback.DialbackKeys(b"x")
        key = keys.key("a.test", "b.test", "id")
        self.assertTrue(keys.check("a.test", "b.test", "id", f"\n {key} \n"))
        self.assertFalse(keys.check("a.test", "b.test", "id2", key))
        self.assertFalse(dialback.DialbackKeys(b"y").check("a.test", "b.test", "id", key))

    def test_random_secret(self) -> None:
        """
        Without a secret, each instance has its own.
        """
        self.assertNotEqual(
            dialback.DialbackKeys().key("a", "b", "c"), dialback.DialbackKeys().key("a", "b", "c")
        )


class ElementTests(SynchronousTestCase):
    """
    Tests for building and reading dialback elements.
    """

    def test_request_round_trip(self) -> None:
        """
        A db:verify request serialises with the db prefix and parses back.
        """
        element = dialback.build_request("verify", "hub.test", "peer.test", "k3y", "sid")
        self.assertEqual(
            serialize(element),
            b"<db:verify from='hub.test' to='peer.test' id='sid'>k3y</db:verify>",
        )
        request = dialback.parse_request(_element(serialize(element).decode()))
        self.assertEqual(
            (request.kind, request.sender, request.target, request.key, request.stream_id),
            ("verify", "hub.test", "peer.test", "k3y", "sid"),
        )

    def test_request_missing_addresses(self) -> None:
        """
        A request without from/to is improper-addressing.
        """
        with self.assertRaises(StreamError) as raised:
            dialback.parse_request(_element("<db:result to='a.test'>k</db:result>"))
        self.assertEqual(raised.exception.condition, "improper-addressing")

    def test_request_without_key(self) -> None:
        """
        A request without a key is bad-format.
        """
        with self.assertRaises(StreamError) as raised:
            dialback.parse_request(_element("<db:result from='b.test' to='a.test'/>"))
        self.assertEqual(raised.exception.condition, "bad-format")

    def test_verify_without_id(self) -> None:
        """
        A db:verify without id is bad-format.
        """
        with self.assertRaises(StreamError) as raised:
            dialback.parse_request(_element("<db:verify from='b.test' to='a.test'>k</db:verify>"))
        self.assertEqual(raised.exception.condition, "bad-format")

    def test_error_answer(self) -> None:
        """
        An error answer carries a stanza error condition that parses back.
        """
        element = dialback.build_answer(
            "result", "hub.test", "peer.test", "error", condition="item-not-found"
        )
        xml = serialize(element).decode()
        self.assertIn("<error type='cancel'><item-not-found", xml)
        answer = dialback.parse_answer(_element(xml))
        self.assertEqual((answer.type, answer.condition), ("error", "item-not-found"))

    def test_answer_bad_type(self) -> None:
        """
        An answer with an unknown type is bad-format.
        """
        with self.assertRaises(StreamError):
            dialback.parse_answer(_element("<db:result from='b.test' to='a.test' type='maybe'/>"))

    def test_feature(self) -> None:
        """
        The feature advertises <errors/>, and received features are read.
        """
        features = domish.Element((NS_STREAMS, "features"))
        self.assertIsNone(dialback.feature_errors_support(features))
        features.addChild(dialback.dialback_feature(errors=False))
        self.assertFalse(dialback.feature_errors_support(features))
        features = domish.Element((NS_STREAMS, "features"))
        features.addChild(dialback.dialback_feature())
        self.assertTrue(dialback.feature_errors_support(features))
        self.assertIn(
            b"<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>",
            serialize(features),
        )

    def test_namespace(self) -> None:
        """
        Built elements are in the dialback namespace.
        """
        self.assertEqual(dialback.build_request("result", "a", "b", "k").uri, NS_DIALBACK)
