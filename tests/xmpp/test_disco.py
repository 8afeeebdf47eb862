# -*- test-case-name: tests.xmpp.test_disco -*-
"""
Tests for L{nextplane.connectors.xmpp.disco}: XEP-0030, XEP-0199 and
vCard IQs answered by L{answer_iq}.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish.domish import Element

from nextplane.connectors.xmpp.disco import (
    DOMAIN_FEATURES,
    USER_FEATURES,
    answer_iq,
    ping_request,
)
from nextplane.connectors.xmpp.vcard import Profile
from nextplane.model.address import Address

from .test_stanzas import assert_xml, parse_xml

ERROR = "urn:ietf:params:xml:ns:xmpp-stanzas"


class FakeDirectory:
    """A directory serving acme.test with one user, Romeo."""

    def __init__(self) -> None:
        self.asked: list[object] = []

    def serves_domain(self, domain: str) -> bool:
        self.asked.append(domain)
        return domain == "acme.test"

    def profile(self, address: Address) -> Profile | None:
        self.asked.append(address)
        if address == Address.parse("romeo@acme.test"):
            return Profile("Romeo", None, "https://cdn.acme.test/r.png")
        return None


class BrokenDirectory:
    """A directory that fails."""

    def serves_domain(self, domain: str) -> bool:
        raise RuntimeError("database down")

    def profile(self, address: Address) -> Profile | None:
        raise RuntimeError("database down")


def iq(payload: str, *, to: str = "acme.test", kind: str = "get", extra: str = "") -> str:
    """An IQ from Juliet's server written as text."""
    return (
        f"<iq type='{kind}' id='q1' from='juliet@capulet.test/balcony' to='{to}' {extra}>"
        f"{payload}</iq>"
    )


def features(names: tuple[str, ...]) -> str:
    return "".join(f"<feature var='{name}'/>" for name in sorted(names))


class AnswerTests(SynchronousTestCase):
    """
    Tests for L{answer_iq}.
    """

    def answer(self, text: str) -> Element | None:
        return answer_iq(parse_xml(text), FakeDirectory())

    def assertError(self, text: str, condition: str, error_type: str = "cancel") -> None:
        element = parse_xml(text)
        answer = answer_iq(element, FakeDirectory())
        assert_xml(
            self,
            answer,
            f"<iq type='error' id='{element.getAttribute('id')}' "
            f"from='{element.getAttribute('to')}' to='{element.getAttribute('from')}'>"
            f"<error type='{error_type}'><{condition} xmlns='{ERROR}'/></error></iq>",
        )

    def test_domain_info(self) -> None:
        """A domain is a server/im identity with the domain features."""
        assert_xml(
            self,
            self.answer(iq("<query xmlns='http://jabber.org/protocol/disco#info'/>")),
            "<iq type='result' id='q1' from='acme.test' to='juliet@capulet.test/balcony'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'>"
            "<identity category='server' type='im' name='nextplane'/>"
            f"{features(DOMAIN_FEATURES)}</query></iq>",
        )

    def test_user_info(self) -> None:
        """A user is an account/registered identity with the message features."""
        answer = self.answer(
            iq("<query xmlns='http://jabber.org/protocol/disco#info'/>", to="Romeo@acme.test")
        )
        assert_xml(
            self,
            answer,
            "<iq type='result' id='q1' from='Romeo@acme.test' to='juliet@capulet.test/balcony'>"
            "<query xmlns='http://jabber.org/protocol/disco#info'>"
            "<identity category='account' type='registered' name='Romeo'/>"
            f"{features(USER_FEATURES)}</query></iq>",
        )
        for feature in (
            "urn:xmpp:receipts",
            "http://jabber.org/protocol/chatstates",
            "http://jabber.org/protocol/xhtml-im",
            "urn:xmpp:reactions:0",
            "urn:xmpp:message-correct:0",
            "urn:xmpp:message-retract:1",
            "jabber:x:oob",
            "urn:xmpp:sid:0",
            "urn:xmpp:ping",
            "vcard-temp",
        ):
            self.assertIn(feature, USER_FEATURES)

    def test_items(self) -> None:
        """Items are empty for domains and users."""
        for to in ("acme.test", "romeo@acme.test"):
            assert_xml(
                self,
                self.answer(iq("<query xmlns='http://jabber.org/protocol/disco#items'/>", to=to)),
                f"<iq type='result' id='q1' from='{to}' to='juliet@capulet.test/balcony'>"
                "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
            )

    def test_ping(self) -> None:
        """A ping to a domain or user (full JID too) gets an empty result."""
        for to in ("acme.test", "romeo@acme.test", "romeo@acme.test/any"):
            assert_xml(
                self,
                self.answer(iq("<ping xmlns='urn:xmpp:ping'/>", to=to)),
                f"<iq type='result' id='q1' from='{to}' to='juliet@capulet.test/balcony'/>",
            )

    def test_vcard(self) -> None:
        """A user's vCard comes from their profile."""
        assert_xml(
            self,
            self.answer(iq("<vCard xmlns='vcard-temp'/>", to="romeo@acme.test")),
            "<iq type='result' id='q1' from='romeo@acme.test' to='juliet@capulet.test/balcony'>"
            "<vCard xmlns='vcard-temp'><FN>Romeo</FN><NICKNAME>Romeo</NICKNAME>"
            "<PHOTO><EXTVAL>https://cdn.acme.test/r.png</EXTVAL></PHOTO></vCard></iq>",
        )

    def test_unknown_user(self) -> None:
        """Known namespaces for unknown users are item-not-found."""
        for payload in (
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            "<ping xmlns='urn:xmpp:ping'/>",
            "<vCard xmlns='vcard-temp'/>",
        ):
            self.assertError(iq(payload, to="nobody@acme.test"), "item-not-found")

    def test_unknown_domain(self) -> None:
        """IQs for a domain the hub does not serve are item-not-found."""
        self.assertError(iq("<ping xmlns='urn:xmpp:ping'/>", to="elsewhere.test"), "item-not-found")
        self.assertError(iq("<ping xmlns='urn:xmpp:ping'/>", to="127.0.0.1"), "item-not-found")

    def test_domain_vcard(self) -> None:
        """Domains have no vCard."""
        self.assertError(iq("<vCard xmlns='vcard-temp'/>"), "item-not-found")

    def test_node(self) -> None:
        """Disco nodes are item-not-found."""
        self.assertError(
            iq("<query xmlns='http://jabber.org/protocol/disco#info' node='x#y'/>"),
            "item-not-found",
        )

    def test_unknown_namespace(self) -> None:
        """Unknown payloads are service-unavailable, even for unknown users."""
        for to in ("acme.test", "romeo@acme.test", "nobody@acme.test"):
            self.assertError(iq("<query xmlns='jabber:iq:version'/>", to=to), "service-unavailable")

    def test_set(self) -> None:
        """IQ sets are service-unavailable."""
        self.assertError(
            iq("<vCard xmlns='vcard-temp'><FN>x</FN></vCard>", to="romeo@acme.test", kind="set"),
            "service-unavailable",
        )

    def test_payload_count(self) -> None:
        """An IQ without exactly one payload is bad-request."""
        self.assertError(iq(""), "bad-request", "modify")
        self.assertError(
            iq("<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>"),
            "bad-request",
            "modify",
        )

    def test_malformed_to(self) -> None:
        """A malformed recipient is jid-malformed."""
        answer = answer_iq(
            parse_xml(iq("<ping xmlns='urn:xmpp:ping'/>", to="a@b@c")), FakeDirectory()
        )
        assert answer is not None
        self.assertIn("jid-malformed", answer.toXml())

    def test_no_answer(self) -> None:
        """Results, errors, id-less and sender-less IQs and non-IQs get no answer."""
        for text in (
            iq("<ping xmlns='urn:xmpp:ping'/>", kind="result"),
            iq("<ping xmlns='urn:xmpp:ping'/>", kind="error"),
            iq("<ping xmlns='urn:xmpp:ping'/>", kind="bogus"),
            "<iq type='get' from='juliet@capulet.test' to='acme.test'><ping xmlns='urn:xmpp:ping'/></iq>",
            "<iq type='get' id='1' to='acme.test'><ping xmlns='urn:xmpp:ping'/></iq>",
            "<message type='get' id='1' from='juliet@capulet.test' to='acme.test'/>",
            "<iq xmlns='urn:other' type='get' id='1' from='a@b.test' to='acme.test'/>",
        ):
            self.assertIsNone(self.answer(text), text)
        self.assertIsNone(answer_iq("<iq/>", FakeDirectory()))  # type: ignore[arg-type]

    def test_broken_directory(self) -> None:
        """A failing directory gives internal-server-error, not an exception."""
        answer = answer_iq(parse_xml(iq("<ping xmlns='urn:xmpp:ping'/>")), BrokenDirectory())
        assert answer is not None
        self.assertIn("internal-server-error", answer.toXml())

    def test_asks_only_about_target(self) -> None:
        """The directory is asked only about the addressed domain and user."""
        directory = FakeDirectory()
        answer_iq(parse_xml(iq("<ping xmlns='urn:xmpp:ping'/>", to="romeo@acme.test")), directory)
        self.assertEqual(directory.asked, ["acme.test", Address.parse("romeo@acme.test")])

    @given(
        st.sampled_from(
            [
                "",
                "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                "<query xmlns='http://jabber.org/protocol/disco#items' node=''/>",
                "<ping xmlns='urn:xmpp:ping'/>",
                "<vCard xmlns='vcard-temp'/>",
                "<x/>",
            ]
        ),
        st.sampled_from(["acme.test", "romeo@acme.test", "x@acme.test/r", "", "@", "acme.test/"]),
        st.sampled_from(["get", "set", "result", "error", ""]),
        st.sampled_from(["", "id=''", "id='x'"]),
    )
    @settings(max_examples=200)
    def test_any_combination(self, payload: str, to: str, kind: str, ident: str) -> None:
        """Any combination gives an answer or nothing, never an exception."""
        text = f"<iq type='{kind}' {ident} from='juliet@capulet.test' to='{to}'>{payload}</iq>"
        answer = answer_iq(parse_xml(text), FakeDirectory())
        if answer is not None:
            self.assertIn(answer.getAttribute("type"), ("result", "error"))
            parse_xml(answer.toXml())


class PingRequestTests(SynchronousTestCase):
    """
    Tests for L{ping_request}.
    """

    def test_request(self) -> None:
        """A ping is an IQ get with an empty ping element."""
        assert_xml(
            self,
            ping_request("acme.test", "capulet.test", "p1"),
            "<iq type='get' from='acme.test' to='capulet.test' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
