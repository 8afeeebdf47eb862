# -*- test-case-name: tests.sip.test_uri -*-
"""
Tests for L{nextplane.connectors.sip.uri}.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.uri import (
    AbsoluteURI,
    NameAddr,
    Params,
    SipSyntaxError,
    SipURI,
    parse_host_port,
    parse_name_addr,
    parse_params,
    parse_uri,
    quote_string,
    split_list,
    unquote_string,
)

#: A Skype for Business Edge Record-Route (MS-PRES section 4.11 shape).
SFB_ROUTE = (
    "<sip:sip.contoso.com:5061;transport=tls;ms-fe=fe01.contoso.com;"
    "opaque=state:F:Ci.R2a00;lr;ms-route-sig=gaXk8ZB9p-tQ0AAa3mDl6w2MWS2sAAA>"
    ";tag=3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B"
)

TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=8,
)
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,6}[a-z0-9])?", fullmatch=True)
HOSTNAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(str)
HOST = st.one_of(HOSTNAME, IPV4, IPV6)
PORT = st.one_of(st.none(), st.integers(1, 65535))
PARAM_VALUE = st.one_of(
    st.none(), st.from_regex(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]{1,10}", fullmatch=True)
)
URI_PARAMS = st.lists(st.tuples(TOKEN, PARAM_VALUE), max_size=4).map(lambda p: Params(tuple(p)))
USER = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9\-_.!~*'()&=+$,]{1,12}", fullmatch=True))
SIP_URIS = st.builds(
    SipURI,
    host=HOST,
    user=USER,
    port=PORT,
    params=URI_PARAMS,
    headers=st.lists(
        st.tuples(TOKEN, st.from_regex(r"[A-Za-z0-9]{0,6}", fullmatch=True)), max_size=2
    ).map(tuple),
    scheme=st.sampled_from(["sip", "sips"]),
)
HEADER_PARAMS = st.lists(
    st.tuples(
        TOKEN,
        st.one_of(
            PARAM_VALUE,
            st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=8).map(quote_string),
        ),
    ),
    max_size=4,
).map(lambda p: Params(tuple(p)))
DISPLAY = st.one_of(
    st.none(), st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)
)
NAME_ADDRS = st.builds(NameAddr, uri=SIP_URIS, display_name=DISPLAY, params=HEADER_PARAMS)


class SipURITests(SynchronousTestCase):
    """
    Tests for L{parse_uri} and L{SipURI}.
    """

    def test_full(self) -> None:
        """
        Every part of a SIP URI is read.
        """
        uri = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi&x=1")
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.scheme, "sips")
        self.assertEqual(uri.user, "alice")
        self.assertEqual(uri.password, "secret")
        self.assertEqual(uri.host, "2001:db8::1")
        self.assertEqual(uri.port, 5061)
        self.assertEqual(uri.transport, "tls")
        self.assertTrue(uri.loose_route)
        self.assertTrue(uri.secure)
        self.assertEqual(uri.headers, (("subject", "hi"), ("x", "1")))

    def test_host_only(self) -> None:
        """
        A URI may be just a host.
        """
        uri = parse_uri("sip:sip.contoso.com")
        self.assertEqual(uri, SipURI("sip.contoso.com"))
        self.assertEqual(uri.format(), "sip:sip.contoso.com")

    def test_scheme_case(self) -> None:
        """
        The scheme is case-insensitive and formatted in lower case.
        """
        self.assertEqual(parse_uri("SIP:bob@a.test").format(), "sip:bob@a.test")

    def test_telephone_user(self) -> None:
        """
        A user part may hold ';' (telephone-subscriber parameters).
        """
        uri = parse_uri("sip:+15551234;phone-context=example.com@gw.a.test;user=phone")
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.user, "+15551234;phone-context=example.com")
        self.assertEqual(uri.params.get("user"), "phone")

    def test_microsoft_params(self) -> None:
        """
        Microsoft's opaque parameters (with ':' and '-') are kept as written.
        """
        uri = parse_name_addr(SFB_ROUTE).uri
        assert isinstance(uri, SipURI)
        self.assertEqual(uri.params.get("opaque"), "state:F:Ci.R2a00")
        self.assertEqual(uri.params.get("ms-route-sig"), "gaXk8ZB9p-tQ0AAa3mDl6w2MWS2sAAA")
        self.assertTrue(uri.loose_route)

    def test_other_schemes(self) -> None:
        """
        Other schemes are kept opaque.
        """
        self.assertEqual(parse_uri("tel:+1-201-555-0123"), AbsoluteURI("tel", "+1-201-555-0123"))
        self.assertEqual(parse_uri("pres:alice@a.test").format(), "pres:alice@a.test")

    def test_malformed(self) -> None:
        """
        Malformed URIs raise L{SipSyntaxError} with a short reason.
        """
        for text in (
            "",
            "alice@a.test",
            "sip:",
            "sip:@a.test",
            "sip:a test",
            "sip:a.test:0",
            "sip:a.test:99999",
            "sip:a.test:50x",
            "sip:[::1",
            "sip:[not-v6]:5060",
            "sip:a..test",
            "sip:a.test;=x",
            "sip:a.test;p=",
            "sip:a.test?x",
            "1sip:a.test",
        ):
            with self.assertRaises(SipSyntaxError, msg=text):
                parse_uri(text)

    @given(SIP_URIS)
    def test_round_trip(self, uri: SipURI) -> None:
        """
        Formatting then parsing gives the same URI.
        """
        self.assertEqual(parse_uri(uri.format()), uri)


class HostPortTests(SynchronousTestCase):
    """
    Tests for L{parse_host_port}.
    """

    def test_forms(self) -> None:
        """
        Names, IPv4 and bracketed IPv6, with and without port.
        """
        self.assertEqual(parse_host_port("a.test"), ("a.test", None))
        self.assertEqual(parse_host_port("192.0.2.1:5061"), ("192.0.2.1", 5061))
        self.assertEqual(parse_host_port("[2001:db8::1]"), ("2001:db8::1", None))
        self.assertEqual(parse_host_port("[2001:db8::1]:5061"), ("2001:db8::1", 5061))

    def test_unbracketed_ipv6(self) -> None:
        """
        An IPv6 address needs brackets.
        """
        with self.assertRaises(SipSyntaxError):
            parse_host_port("2001:db8::1")


class ParamsTests(SynchronousTestCase):
    """
    Tests for L{Params} and L{parse_params}.
    """

    def test_valueless(self) -> None:
        """
        A parameter without value is present with value L{None}.
        """
        params = parse_params(";lr;transport=tls")
        self.assertIn("lr", params)
        self.assertIn("LR", params)
        self.assertIsNone(params.get("lr"))
        self.assertEqual(params.get("TRANSPORT"), "tls")
        self.assertNotIn("maddr", params)
        self.assertEqual(params.format(), ";lr;transport=tls")

    def test_whitespace(self) -> None:
        """
        Whitespace around ';' and '=' is allowed.
        """
        self.assertEqual(
            parse_params(" ; expires = 3600 ;q=0.5"),
            Params((("expires", "3600"), ("q", "0.5"))),
        )

    def test_quoted(self) -> None:
        """
        Quoted values keep their quotes, and may contain ';'.
        """
        params = parse_params(';reason="a;b \\"c\\"";source=x')
        self.assertEqual(params.get("reason"), '"a;b \\"c\\""')
        self.assertEqual(unquote_string(params.get("reason") or ""), 'a;b "c"')

    def test_ipv6_value(self) -> None:
        """
        A received parameter may carry an IPv6 reference.
        """
        self.assertEqual(parse_params(";received=[2001:db8::9]").get("received"), "[2001:db8::9]")

    def test_set_remove(self) -> None:
        """
        L{Params.set} replaces in place or appends; L{Params.remove} drops.
        """
        params = Params.of(("branch", "z9hG4bK1"), ("rport", None))
        self.assertEqual(params.set("rport", "5061").format(), ";branch=z9hG4bK1;rport=5061")
        self.assertEqual(
            params.set("received", "192.0.2.1").format(),
            ";branch=z9hG4bK1;rport;received=192.0.2.1",
        )
        self.assertEqual(params.remove("RPORT").format(), ";branch=z9hG4bK1")

    def test_malformed(self) -> None:
        """
        Empty names, empty values and stray text are rejected.
        """
        for text in ("lr", ";;lr", ";a=", ";=b", ';a="open', ";a b=c"):
            with self.assertRaises(SipSyntaxError, msg=text):
                parse_params(text)


class NameAddrTests(SynchronousTestCase):
    """
    Tests for L{parse_name_addr}.
    """

    def test_quoted_display_name(self) -> None:
        """
        A quoted display name may hold commas, quotes and non-ASCII text.
        """
        value = parse_name_addr('"Müller, Jürgen \\"JM\\"" <sip:jm@a.test>;tag=1;epid=2b')
        self.assertEqual(value.display_name, 'Müller, Jürgen "JM"')
        self.assertEqual(value.tag, "1")
        self.assertEqual(value.params.get("epid"), "2b")

    def test_token_display_name(self) -> None:
        """
        An unquoted display name is a run of tokens.
        """
        value = parse_name_addr("Alice Example <sip:alice@b.test>")
        self.assertEqual(value.display_name, "Alice Example")
        self.assertEqual(value.format(), '"Alice Example" <sip:alice@b.test>')

    def test_addr_spec_params(self) -> None:
        """
        Without angle brackets, parameters after the URI belong to the header.
        """
        value = parse_name_addr("sip:alice@b.test;tag=abc")
        self.assertEqual(value.uri, SipURI("b.test", "alice"))
        self.assertEqual(value.tag, "abc")

    def test_uri_params_inside_brackets(self) -> None:
        """
        Inside angle brackets, parameters belong to the URI.
        """
        value = parse_name_addr(SFB_ROUTE)
        self.assertEqual(value.tag, "3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B")
        assert isinstance(value.uri, SipURI)
        self.assertEqual(value.uri.port, 5061)
        self.assertIn("lr", value.uri.params)

    def test_contact_instance(self) -> None:
        """
        Quoted header parameters may contain angle brackets (RFC 5626 +sip.instance).
        """
        value = parse_name_addr(
            '<sip:a@192.0.2.4;transport=tls>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1'
        )
        self.assertEqual(
            unquote_string(value.params.get("+sip.instance") or ""),
            "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>",
        )

    def test_with_tag(self) -> None:
        """
        L{NameAddr.with_tag} sets the tag, keeping other parameters.
        """
        value = parse_name_addr("<sip:bob@a.test>;epid=77").with_tag("xyz")
        self.assertEqual(value.format(), "<sip:bob@a.test>;epid=77;tag=xyz")

    def test_malformed(self) -> None:
        """
        Broken name-addr values raise L{SipSyntaxError}.
        """
        for text in (
            "",
            '"Alice <sip:alice@b.test>',
            '"Alice" sip:alice@b.test',
            "<sip:alice@b.test",
            "Al@ice <sip:alice@b.test>",
            "sip:alice@b.test,x",
            "<sip:alice@b.test>;;tag=1",
            "<sip:alice@b.test> junk",
            '"a" "b" <sip:a@b.test>',
        ):
            with self.assertRaises(SipSyntaxError, msg=text):
                parse_name_addr(text)

    @given(NAME_ADDRS)
    def test_round_trip(self, value: NameAddr) -> None:
        """
        Formatting then parsing gives the same value.
        """
        self.assertEqual(parse_name_addr(value.format()), value)

    @given(st.text(max_size=60))
    def test_arbitrary_text(self, text: str) -> None:
        """
        Arbitrary text either parses or raises L{SipSyntaxError}.
        """
        try:
            parse_name_addr(text)
        except SipSyntaxError:
            pass


class SplitTests(SynchronousTestCase):
    """
    Tests for L{split_list}.
    """

    def test_outside_quotes_and_brackets(self) -> None:
        """
        Commas inside quoted strings and angle brackets do not split.
        """
        self.assertEqual(
            split_list('"Doe, John" <sip:j@a.test>, <sip:x@a.test;p=a,b>,sip:y@a.test'),
            ['"Doe, John" <sip:j@a.test>', "<sip:x@a.test;p=a,b>", "sip:y@a.test"],
        )

    def test_empty(self) -> None:
        """
        An empty value is one empty element; empty elements are dropped.
        """
        self.assertEqual(split_list(""), [""])
        self.assertEqual(split_list("a, ,b"), ["a", "b"])

    def test_unbalanced(self) -> None:
        """
        An unterminated quoted string is an error.
        """
        with self.assertRaises(SipSyntaxError):
            split_list('"a, b')

    def test_quote_string(self) -> None:
        """
        L{quote_string} escapes and refuses control characters.
        """
        self.assertEqual(quote_string('a"b\\c'), '"a\\"b\\\\c"')
        self.assertEqual(unquote_string(quote_string('a"b\\c')), 'a"b\\c')
        with self.assertRaises(SipSyntaxError):
            quote_string("a\r\nVia: x")
