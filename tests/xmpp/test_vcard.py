# -*- test-case-name: tests.xmpp.test_vcard -*-
"""
Tests for L{nextplane.connectors.xmpp.vcard}: XEP-0054 vcard-temp.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.xmpp.vcard import (
    MAX_FIELD_CHARS,
    Profile,
    build_vcard,
    parse_vcard,
    parse_vcard_result,
    vcard_request,
)

from .test_stanzas import assert_xml, parse_xml


class BuildTests(SynchronousTestCase):
    """
    Tests for L{build_vcard}.
    """

    def test_full(self) -> None:
        """Name, title and avatar URL fill FN, NICKNAME, TITLE and PHOTO/EXTVAL."""
        profile = Profile("Romeo Montague", "Lover", "https://cdn.acme.test/romeo.png")
        assert_xml(
            self,
            build_vcard(profile),
            "<vCard xmlns='vcard-temp'><FN>Romeo Montague</FN><NICKNAME>Romeo Montague</NICKNAME>"
            "<TITLE>Lover</TITLE><PHOTO><EXTVAL>https://cdn.acme.test/romeo.png</EXTVAL></PHOTO></vCard>",
        )

    def test_empty(self) -> None:
        """Empty and unsafe fields are left out."""
        profile = Profile(" \x00 ", None, "javascript:alert(1)")
        assert_xml(self, build_vcard(profile), "<vCard xmlns='vcard-temp'/>")

    def test_cleaned(self) -> None:
        """Fields are one line, without control characters, cut to the limit."""
        element = build_vcard(Profile("a\nb\x07 " + "c" * 1000))
        fields = list(element.elements())
        self.assertEqual(len(str(fields[0])), MAX_FIELD_CHARS)
        self.assertTrue(str(fields[0]).startswith("a b c"))

    @given(st.builds(Profile, st.none() | st.text(), st.none() | st.text(), st.none() | st.text()))
    def test_round_trip(self, profile: Profile) -> None:
        """Any profile is written as valid XML and read back as the same, cleaned."""
        parsed = parse_vcard(parse_xml(build_vcard(profile).toXml()))
        again = parse_vcard(parse_xml(build_vcard(parsed).toXml()))
        self.assertEqual(again, parsed)


class ParseTests(SynchronousTestCase):
    """
    Tests for L{parse_vcard} and L{parse_vcard_result}.
    """

    def test_fields(self) -> None:
        """FN, TITLE and PHOTO/EXTVAL are read."""
        element = parse_xml(
            "<vCard xmlns='vcard-temp'><FN> Juliet  Capulet </FN><NICKNAME>Jules</NICKNAME>"
            "<TITLE>Heiress</TITLE><PHOTO><TYPE>image/png</TYPE><EXTVAL>https://capulet.test/j.png</EXTVAL></PHOTO>"
            "</vCard>"
        )
        self.assertEqual(
            parse_vcard(element),
            Profile("Juliet Capulet", "Heiress", "https://capulet.test/j.png"),
        )

    def test_fallback_names(self) -> None:
        """Without FN the nickname is used, then given and family names."""
        self.assertEqual(
            parse_vcard(parse_xml("<vCard xmlns='vcard-temp'><NICKNAME>Jules</NICKNAME></vCard>")),
            Profile("Jules"),
        )
        self.assertEqual(
            parse_vcard(
                parse_xml(
                    "<vCard xmlns='vcard-temp'><N><FAMILY>Capulet</FAMILY><GIVEN>Juliet</GIVEN></N></vCard>"
                )
            ),
            Profile("Juliet Capulet"),
        )

    def test_hostile(self) -> None:
        """Embedded photos, unsafe URLs, huge fields and foreign elements are handled."""
        element = parse_xml(
            "<vCard xmlns='vcard-temp'>"
            f"<FN>{'x' * 100_000}</FN><TITLE><b xmlns='urn:x'>t</b></TITLE>"
            "<PHOTO><BINVAL>iVBORw0KGgo=</BINVAL><EXTVAL>file:///etc/passwd</EXTVAL></PHOTO>"
            "</vCard>"
        )
        profile = parse_vcard(element)
        self.assertEqual(profile.display_name, "x" * MAX_FIELD_CHARS)
        self.assertIsNone(profile.title)
        self.assertIsNone(profile.avatar_url)

    def test_not_a_vcard(self) -> None:
        """Anything but a vcard-temp vCard is an empty profile."""
        for element in (
            parse_xml("<vCard xmlns='urn:ietf:params:xml:ns:vcard-4.0'><FN>x</FN></vCard>"),
            parse_xml("<query xmlns='vcard-temp'/>"),
            None,
            "vCard",
        ):
            self.assertEqual(parse_vcard(element), Profile())  # type: ignore[arg-type]

    def test_result(self) -> None:
        """An IQ result gives its profile; an empty result an empty one; errors none."""
        self.assertEqual(
            parse_vcard_result(
                parse_xml(
                    "<iq type='result' id='v1' from='juliet@capulet.test' to='romeo@acme.test'>"
                    "<vCard xmlns='vcard-temp'><FN>Juliet</FN></vCard></iq>"
                )
            ),
            Profile("Juliet"),
        )
        self.assertEqual(parse_vcard_result(parse_xml("<iq type='result' id='v1'/>")), Profile())
        self.assertIsNone(
            parse_vcard_result(
                parse_xml(
                    "<iq type='error' id='v1'><vCard xmlns='vcard-temp'><FN>x</FN></vCard></iq>"
                )
            )
        )
        self.assertIsNone(parse_vcard_result(parse_xml("<message type='result'/>")))

    def test_request(self) -> None:
        """A vCard request is an IQ get with an empty vCard."""
        assert_xml(
            self,
            vcard_request("romeo@acme.test", "juliet@capulet.test", "v1"),
            "<iq type='get' from='romeo@acme.test' to='juliet@capulet.test' id='v1'>"
            "<vCard xmlns='vcard-temp'/></iq>",
        )
