"""
Tests for L{nextplane.connectors.sip.presence}: PIDF/RPID documents to and
from availability.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.sip.im import BodyError
from nextplane.connectors.sip.parser import parse_message
from nextplane.connectors.sip.presence import (
    PresenceDocument,
    accepts_pidf,
    build_pidf,
    parse_pidf,
)
from nextplane.model.events import Availability

from . import vectors

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" '
    'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" '
    'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" '
    'xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" entity="sip:carol@cisco.example">'
)


def document(tuple_status: str = "open", person: str = "") -> bytes:
    basic = f"<status><basic>{tuple_status}</basic></status>" if tuple_status else "<status/>"
    person_element = f'<dm:person id="p">{person}</dm:person>' if person else ""
    return (HEAD + f'<tuple id="t">{basic}</tuple>{person_element}</presence>').encode()


class ParseTests(SynchronousTestCase):
    """
    PIDF to availability, in the documented order.
    """

    def availability(self, body: bytes) -> Availability:
        return parse_pidf(body).availability

    def test_open_closed(self) -> None:
        self.assertEqual(self.availability(document("open")), Availability.AVAILABLE)
        self.assertEqual(self.availability(document("closed")), Availability.OFFLINE)

    def test_unknown(self) -> None:
        """
        No basic status and no activity, or an empty body: unknown.
        """
        self.assertEqual(self.availability(document("")), Availability.UNKNOWN)
        self.assertEqual(self.availability(b""), Availability.UNKNOWN)
        self.assertEqual(self.availability((HEAD + "</presence>").encode()), Availability.UNKNOWN)

    def test_activities(self) -> None:
        cases = {
            "<rpid:away/>": Availability.AWAY,
            "<rpid:vacation/>": Availability.AWAY,
            "<rpid:busy/>": Availability.BUSY,
            "<rpid:on-the-phone/>": Availability.BUSY,
            "<rpid:meeting/>": Availability.BUSY,
            "<rpid:other>Do Not Disturb</rpid:other>": Availability.DND,
            "<rpid:busy/><rpid:other>Do Not Disturb</rpid:other>": Availability.DND,
            "<rpid:other>Be Right Back</rpid:other>": Availability.AWAY,
            "<rpid:unknown/>": Availability.AVAILABLE,
        }
        for activity, expected in cases.items():
            body = document("open", f"<rpid:activities>{activity}</rpid:activities>")
            self.assertEqual(self.availability(body), expected, activity)

    def test_closed_wins(self) -> None:
        body = document("closed", "<rpid:activities><rpid:busy/></rpid:activities>")
        self.assertEqual(self.availability(body), Availability.OFFLINE)

    def test_idle(self) -> None:
        body = document("open", "<rpid:user-input>idle</rpid:user-input>")
        self.assertEqual(self.availability(body), Availability.AWAY)

    def test_cisco_dnd(self) -> None:
        body = document(
            "open",
            '<ce:dnd xmlns:ce="urn:cisco:params:xml:ns:pidf:rpid"/>',
        )
        self.assertEqual(self.availability(body), Availability.DND)

    def test_note_and_display_name(self) -> None:
        body = document(
            "open",
            "<c:display-name>Carol  Cisco</c:display-name><dm:note>In Zürich</dm:note>",
        )
        self.assertEqual(
            parse_pidf(body),
            PresenceDocument(Availability.AVAILABLE, "In Zürich", "Carol Cisco"),
        )

    def test_cisco_vector(self) -> None:
        notify = parse_message(vectors.CISCO_NOTIFY)
        result = parse_pidf(notify.body)  # type: ignore[union-attr]
        self.assertEqual(result.availability, Availability.AVAILABLE)
        self.assertEqual(result.note, "Besprechung \u2013 zurück um 15 Uhr")

    def test_malformed(self) -> None:
        for body in (b"<presence", b"<other/>", b'<!DOCTYPE x [<!ENTITY a "b">]><presence/>'):
            with self.assertRaises(BodyError):
                parse_pidf(body)


class BuildTests(SynchronousTestCase):
    """
    Availability to PIDF, and back.
    """

    def test_round_trip(self) -> None:
        for availability in Availability:
            body = build_pidf("sip:bob@a.test", availability, "note ✓", "Bob")
            self.assertEqual(
                parse_pidf(body), PresenceDocument(availability, "note ✓", "Bob"), availability
            )

    def test_shape(self) -> None:
        body = build_pidf("sip:bob@a.test", Availability.AWAY)
        self.assertIn(b'entity="sip:bob@a.test"', body)
        self.assertIn(b"<basic>open</basic>", body)
        self.assertIn(b"<rpid:activities><rpid:away/></rpid:activities>", body)
        self.assertNotIn(b"<basic>", build_pidf("sip:bob@a.test", Availability.UNKNOWN))

    def test_escaping(self) -> None:
        body = build_pidf('sip:"x"@a.test', Availability.AVAILABLE, "<b>&\x00</b>")
        self.assertEqual(parse_pidf(body).note, "<b>&</b>")

    @given(st.text(max_size=100), st.sampled_from(list(Availability)))
    def test_any_note(self, note: str, availability: Availability) -> None:
        parsed = parse_pidf(build_pidf("sip:bob@a.test", availability, note))
        self.assertEqual(parsed.availability, availability)

    def test_accepts(self) -> None:
        self.assertTrue(accepts_pidf([]))
        self.assertTrue(
            accepts_pidf(["application/msrtc-event-categories+xml", "application/pidf+xml"])
        )
        self.assertTrue(accepts_pidf(["*/*"]))
        self.assertFalse(accepts_pidf(["application/xpidf+xml"]))
