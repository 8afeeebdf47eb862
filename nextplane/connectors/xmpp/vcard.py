# -*- test-case-name: tests.xmpp.test_vcard -*-
"""
XEP-0054 vcard-temp: the small part of a user's profile the hub exchanges.

The hub answers vCard requests for its users with a display name (C{FN} and
C{NICKNAME}), a job title (C{TITLE}) and an avatar by URL (C{PHOTO/EXTVAL});
it reads the same fields from remote vCards. Embedded photos
(C{PHOTO/BINVAL}) are neither sent nor read: the hub keeps no content.

Everything here is pure and total: building never fails, reading hostile or
malformed vCards gives an empty L{Profile}. Texts are cut to
L{MAX_FIELD_CHARS} characters; avatar URLs must be C{http} or C{https} and
at most L{nextplane.connectors.xmpp.xhtml.MAX_URL_CHARS} long.
"""

from __future__ import annotations

import unicodedata

from twisted.words.xish.domish import Element

from nextplane.model.profile import Profile

from .namespaces import NS_SERVER, NS_VCARD, STANZA_NAMESPACES, xml_text
from .xhtml import safe_url

__all__ = [
    "MAX_FIELD_CHARS",
    "Profile",
    "build_vcard",
    "parse_vcard",
    "parse_vcard_result",
    "vcard_request",
]

#: Text fields longer than this are cut.
MAX_FIELD_CHARS = 256


def _avatar(url: str | None) -> str | None:
    url = safe_url(url)
    if url is None or not url.lower().startswith(("https://", "http://")):
        return None
    return url


def build_vcard(profile: Profile) -> Element:
    """
    Build the C{<vCard xmlns='vcard-temp'>} payload for a profile.

    @param profile: The profile; empty fields are left out, an unsafe
        avatar URL too.
    @return: The element, to put in an IQ result.
    """
    vcard = Element((NS_VCARD, "vCard"))
    name = _field(profile.display_name or "")
    if name:
        vcard.addElement("FN", content=name)
        vcard.addElement("NICKNAME", content=name)
    title = _field(profile.title or "")
    if title:
        vcard.addElement("TITLE", content=title)
    avatar = _avatar(profile.avatar_url)
    if avatar is not None:
        photo = vcard.addElement("PHOTO")
        photo.addElement("EXTVAL", content=xml_text(avatar))
    return vcard


def _field(text: str) -> str:
    """One line of text: no control characters, whitespace collapsed, cut."""
    text = "".join(
        " " if char.isspace() else char
        for char in xml_text(text[: MAX_FIELD_CHARS * 4])
        if char.isspace() or unicodedata.category(char) not in ("Cc", "Cf", "Cs")
    )
    return " ".join(text.split())[:MAX_FIELD_CHARS]


def _text(element: Element | None) -> str:
    if element is None:
        return ""
    return "".join(child for child in element.children if isinstance(child, str))


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    for child in element.elements():
        if child.uri == NS_VCARD and child.name == name:
            return child
    return None


def parse_vcard(element: Element | None) -> Profile:
    """
    Read a remote C{<vCard xmlns='vcard-temp'>}.

    Never raises.

    @param element: The vCard element (or anything else, or C{None}).
    @return: The profile: the display name from C{FN}, else C{NICKNAME},
        else C{N/GIVEN} and C{N/FAMILY}; the C{TITLE}; the avatar from
        C{PHOTO/EXTVAL} if it is an C{http}/C{https} URL. Missing or unusable
        fields are C{None}.
    """
    if not isinstance(element, Element) or element.uri != NS_VCARD or element.name != "vCard":
        return Profile()
    name = _field(_text(_child(element, "FN"))) or _field(_text(_child(element, "NICKNAME")))
    if not name:
        structured = _child(element, "N")
        name = _field(f"{_text(_child(structured, 'GIVEN'))} {_text(_child(structured, 'FAMILY'))}")
    title = _field(_text(_child(element, "TITLE")))
    avatar = _avatar(_text(_child(_child(element, "PHOTO"), "EXTVAL")))
    return Profile(display_name=name or None, title=title or None, avatar_url=avatar)


def vcard_request(sender: str, recipient: str, stanza_id: str) -> Element:
    """
    An IQ asking for someone's vCard.

    @param sender: The C{from} JID (a hub user or domain).
    @param recipient: The bare JID whose vCard is wanted.
    @param stanza_id: The IQ id, to match the answer.
    """
    iq = Element((NS_SERVER, "iq"))
    iq["type"] = "get"
    iq["from"] = xml_text(sender)
    iq["to"] = xml_text(recipient)
    iq["id"] = xml_text(stanza_id)
    iq.addElement((NS_VCARD, "vCard"))
    return iq


def parse_vcard_result(iq: Element) -> Profile | None:
    """
    Read the answer to L{vcard_request}.

    Never raises.

    @param iq: The received IQ.
    @return: The profile from an IQ result (an empty one if the result
        carries no vCard, as XEP-0054 allows), or C{None} for an error or
        anything that is not an IQ result.
    """
    if not isinstance(iq, Element) or iq.name != "iq" or iq.uri not in STANZA_NAMESPACES:
        return None
    if iq.getAttribute("type") != "result":
        return None
    for child in iq.elements():
        if child.uri == NS_VCARD and child.name == "vCard":
            return parse_vcard(child)
    return Profile()
