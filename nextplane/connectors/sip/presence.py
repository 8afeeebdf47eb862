# -*- test-case-name: tests.sip.test_presence -*-
"""
Presence documents: PIDF (RFC 3863) with the RPID (RFC 4480) activities
and CIPID (RFC 4482) display name that Skype for Business, Cisco IM&P and
RFC peers send, translated to and from L{Availability} (pure code).

Reading (L{parse_pidf}), in this order:

  1. no C{<basic>} status in any tuple and no activity: C{unknown} (a
     "neutral" document, RFC 3856 section 3.7, or one we cannot judge;
     never shown as offline);
  2. C{<basic>closed</basic>} in every tuple that has one: C{offline};
  3. a do-not-disturb activity (C{<rpid:other>} saying "Do Not
     Disturb"/"DND", or an element named C{dnd} / C{do-not-disturb} in
     any namespace, as Cisco's RPID extension has): C{dnd};
  4. a busy activity (C{busy}, C{on-the-phone}, C{meeting},
     C{performance}, C{presentation}, C{worship}; C{<rpid:other>} "Busy",
     "In a meeting", "In a call", "Presenting"): C{busy};
  5. an away activity (C{away}, C{appointment}, C{breakfast}, C{dinner},
     C{holiday}, C{lunch}, C{meal}, C{permanent-absence}, C{sleeping},
     C{travel}, C{vacation}, C{in-transit}, C{steering}; C{<rpid:other>}
     "Away", "Be Right Back", "Off Work"), or RPID C{<user-input>idle}:
     C{away};
  6. otherwise (open, or activities such as C{unknown}): C{available}.

The status text is the first C{<note>} (person notes first), the display
name the CIPID C{<display-name>}.

Writing (L{build_pidf}) uses the subset MS-PRES section 1.3.3 describes
for federation: one tuple with a basic status, a C{dm:person} with RPID
activities and the CIPID display name. C{unknown} is written as a tuple
whose C{<status>} has no C{<basic>} (allowed by the PIDF schema), which
L{parse_pidf} reads back as unknown.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from attrs import frozen

from ...model.events import Availability
from .im import BodyError, parse_xml

__all__ = [
    "PIDF",
    "PresenceDocument",
    "accepts_pidf",
    "build_pidf",
    "parse_pidf",
]

#: The presence document type the hub sends and accepts.
PIDF = "application/pidf+xml"

NS_PIDF = "urn:ietf:params:xml:ns:pidf"
NS_DM = "urn:ietf:params:xml:ns:pidf:data-model"
NS_RPID = "urn:ietf:params:xml:ns:pidf:rpid"
NS_CIPID = "urn:ietf:params:xml:ns:pidf:cipid"

#: Status texts are cut to this length.
MAX_NOTE = 1000

_BUSY = frozenset({"busy", "on-the-phone", "meeting", "performance", "presentation", "worship"})
_AWAY = frozenset(
    {
        "away",
        "appointment",
        "breakfast",
        "dinner",
        "holiday",
        "lunch",
        "meal",
        "permanent-absence",
        "sleeping",
        "travel",
        "vacation",
        "in-transit",
        "steering",
    }
)
_DND = frozenset({"dnd", "do-not-disturb", "donotdisturb"})
_OTHER_DND = frozenset({"do not disturb", "dnd", "do-not-disturb", "urgent interruptions only"})
_OTHER_BUSY = frozenset(
    {"busy", "in a meeting", "in a call", "in a conference call", "presenting", "on the phone"}
)
_OTHER_AWAY = frozenset({"away", "be right back", "off work", "inactive", "appear away"})
_SPACES = re.compile(r"\s+")

#: RPID activities written for each availability.
_ACTIVITIES: dict[Availability, str] = {
    Availability.AWAY: "<rpid:away/>",
    Availability.BUSY: "<rpid:busy/>",
    Availability.DND: "<rpid:busy/><rpid:other>Do Not Disturb</rpid:other>",
}


@frozen
class PresenceDocument:
    """
    What a presence document says.

    @ivar availability: The normalised availability.
    @ivar note: The status text (may be empty).
    @ivar display_name: The CIPID display name, if any.
    """

    availability: Availability
    note: str = ""
    display_name: str | None = None


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _text(value: str | None) -> str:
    return _SPACES.sub(" ", value or "").strip()


def parse_pidf(body: bytes) -> PresenceDocument:
    """
    Read a PIDF document; see the module docstring.

    An empty body (a NOTIFY for a pending or neutral subscription) is
    C{unknown}.

    @raise BodyError: 400 for malformed XML or a root that is not
        C{<presence>}.
    """
    if not body.strip():
        return PresenceDocument(Availability.UNKNOWN)
    root = parse_xml(body)
    if _local(root.tag) != "presence":
        raise BodyError(400, "Not a PIDF document")
    basics: list[str] = []
    activities: set[str] = set()
    others: set[str] = set()
    idle = False
    person_notes: list[str] = []
    other_notes: list[str] = []
    display_name: str | None = None
    # Walk with parents known, without recursion.
    stack = [(root, "")]
    while stack:
        element, parent = stack.pop()
        name = _local(element.tag)
        if name == "basic":
            basics.append(_text(element.text).lower())
        elif parent == "activities":
            if name == "other":
                others.add(_text(element.text).lower())
            else:
                activities.add(name.lower())
        elif name in _DND:
            activities.add(name)
        elif name == "user-input":
            idle = _text(element.text).lower() == "idle"
        elif name == "note":
            note = _text(element.text)
            if note:
                (person_notes if parent == "person" else other_notes).append(note)
        elif name == "display-name" and display_name is None:
            display_name = _text(element.text) or None
        stack.extend((child, name) for child in reversed(list(element)))
    notes = person_notes + other_notes
    note = notes[0][:MAX_NOTE] if notes else ""
    availability = _availability(basics, activities, others, idle)
    return PresenceDocument(availability, note, display_name)


def _availability(
    basics: list[str], activities: set[str], others: set[str], idle: bool
) -> Availability:
    known = [b for b in basics if b in ("open", "closed")]
    if not known and not activities and not others and not idle:
        return Availability.UNKNOWN
    if known and "open" not in known:
        return Availability.OFFLINE
    if activities & _DND or others & _OTHER_DND:
        return Availability.DND
    if activities & _BUSY or others & _OTHER_BUSY:
        return Availability.BUSY
    if activities & _AWAY or others & _OTHER_AWAY or idle:
        return Availability.AWAY
    return Availability.AVAILABLE


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_BAD.sub("", text)


def build_pidf(
    entity: str,
    availability: Availability,
    note: str = "",
    display_name: str | None = None,
) -> bytes:
    """
    A PIDF document for C{entity} (a C{sip:} URI); see the module
    docstring.
    """
    availability = Availability(availability)
    if availability == Availability.UNKNOWN:
        status = "<status/>"
    else:
        basic = "closed" if availability == Availability.OFFLINE else "open"
        status = f"<status><basic>{basic}</basic></status>"
    note = _clean(note)[:MAX_NOTE]
    note_element = f"<note>{escape(note)}</note>" if note else ""
    person_parts = []
    activity = _ACTIVITIES.get(availability)
    if activity is not None:
        person_parts.append(f"<rpid:activities>{activity}</rpid:activities>")
    if display_name:
        person_parts.append(f"<c:display-name>{escape(_clean(display_name))}</c:display-name>")
    if note:
        person_parts.append(f"<dm:note>{escape(note)}</dm:note>")
    person = f'<dm:person id="p1">{"".join(person_parts)}</dm:person>' if person_parts else ""
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<presence xmlns="{NS_PIDF}" xmlns:dm="{NS_DM}" xmlns:rpid="{NS_RPID}" '
        f'xmlns:c="{NS_CIPID}" entity={quoteattr(_clean(entity))}>'
        f'<tuple id="t1">{status}{note_element}</tuple>{person}</presence>'
    )
    return document.encode("utf-8")


def accepts_pidf(accept: list[str]) -> bool:
    """
    Whether a SUBSCRIBE's C{Accept} values allow PIDF (no Accept header
    means the event package default, which for presence is PIDF).
    """
    if not accept:
        return True
    for value in accept:
        kind = value.split(";", 1)[0].strip().lower()
        if kind in (PIDF, "application/*", "*/*"):
            return True
    return False
