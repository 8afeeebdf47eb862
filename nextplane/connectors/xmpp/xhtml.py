# -*- test-case-name: tests.xmpp.test_xhtml -*-
"""
XEP-0071 XHTML-IM, translated to and from the neutral L{RichText} tree
(the XHTML itself is read and written by L{nextplane.model.xhtml}).

XHTML-IM is deprecated by the XSF but still sent by some clients (and by
Cisco's Jabber clients); a message carrying it also carries a plain
C{<body>}, which remains the fallback.

Reading (L{parse_xhtml_im}) takes the C{<html
xmlns='http://jabber.org/protocol/xhtml-im'>} wrapper and reads its first
C{<body>} without C{xml:lang} (else the first); writing
(L{format_xhtml_im}) wraps one C{<body>}. What the XHTML means, and what is
written, is L{nextplane.model.xhtml}'s.
"""

from __future__ import annotations

from twisted.words.xish.domish import Element

from nextplane.model.text import RichText
from nextplane.model.xhtml import (
    MAX_DEPTH,
    MAX_URL_CHARS,
    SAFE_SCHEMES,
    format_xhtml_body,
    has_markup,
    parse_xhtml_body,
    plain_text,
    safe_url,
)

from .namespaces import NS_XHTML, NS_XHTML_IM, NS_XML

__all__ = [
    "MAX_DEPTH",
    "MAX_URL_CHARS",
    "SAFE_SCHEMES",
    "format_xhtml_im",
    "has_markup",
    "parse_xhtml_im",
    "plain_text",
    "safe_url",
]


def _lang(element: Element) -> str | None:
    value = element.attributes.get((NS_XML, "lang"))
    if value is None:
        value = element.attributes.get("xml:lang")
    return value if isinstance(value, str) else None


def parse_xhtml_im(element: Element) -> RichText | None:
    """
    Read an XHTML-IM payload.

    Never raises.

    @param element: The C{<html xmlns='http://jabber.org/protocol/xhtml-im'>}
        child of a message.
    @return: The tree, or C{None} if C{element} is not an XHTML-IM wrapper
        with an XHTML C{<body>}. The first C{<body>} without C{xml:lang}
        is read, else the first one.
    """
    if not isinstance(element, Element):
        return None
    if element.uri != NS_XHTML_IM or element.name != "html":
        return None
    bodies = [
        child for child in element.elements() if child.uri == NS_XHTML and child.name == "body"
    ]
    if not bodies:
        return None
    unlabelled = [body for body in bodies if _lang(body) is None]
    return parse_xhtml_body((unlabelled or bodies)[0])


def format_xhtml_im(text: RichText) -> Element:
    """
    Write a tree as an XHTML-IM payload.

    Never raises (see L{format_xhtml_body}).

    @param text: The tree.
    @return: A C{<html xmlns='http://jabber.org/protocol/xhtml-im'>} element
        holding one XHTML C{<body>}.
    """
    html = Element((NS_XHTML_IM, "html"))
    html.addChild(format_xhtml_body(text))
    return html
