# -*- test-case-name: tests.sip.test_im -*-
"""
Instant-message bodies of SIP, translated to and from the neutral
L{RichText} tree, and the two typing notifications (pure code).

Message bodies (RFC 3428 pager MESSAGE, Skype for Business in-dialog
MESSAGE and the first message of an INVITE session):

  - C{text/plain}: decoded with its C{charset} (UTF-8 when absent or
    unknown, undecodable bytes replaced); newlines become line breaks.
  - C{text/html}: read leniently with the standard library's HTML parser
    into an XHTML tree and translated by the XEP-0071 reader of
    L{nextplane.connectors.xmpp.xhtml} (bold, italic, strike, code, pre,
    safe links, line and block breaks; scripts, styles and unknown
    elements never survive as markup).
  - C{multipart/alternative} and C{multipart/related}: the C{text/html}
    part when there is one that is not empty, else the C{text/plain} part.
  - Anything else is refused with a L{BodyError} of status 415 (the
    transaction answers C{415 Unsupported Media Type} with L{ACCEPT}).

Writing (L{encode_text}): C{text/plain;charset=UTF-8} for text without
markup; formatted text as C{multipart/alternative} with a plain and an
HTML part (every peer can show one of them), or as C{text/plain} /
C{text/html} alone when configured.

C{ms-text-format} (pidgin-sipe C{sipe-im.c}): Skype for Business puts the
first message of a session into this INVITE header, as C{TYPE;
params;msgr=...;ms-body=BASE64}. L{decode_ms_text_format} gives back a
L{Content}; L{encode_ms_text_format} writes one (without C{msgr}, which
only carries font hints).

Typing:

  - RFC 3994 C{application/im-iscomposing+xml}, C{<state>active</state>}
    or C{idle}, in a MESSAGE (L{parse_is_composing}, L{build_is_composing});
  - Microsoft's in-dialog INFO with C{application/xml} body
    C{<KeyboardActivity><status status="type"/></KeyboardActivity>}
    (C{status="idle"} to stop; L{parse_keyboard_activity},
    L{build_keyboard_activity}).

XML bodies are read with the standard library parser after refusing any
document type declaration or entity definition (no entity expansion
attacks); they are small and size-limited by the transport.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.message
import email.policy
import re
import secrets
import xml.etree.ElementTree as ET

from attrs import frozen

from ...model.events import TypingState
from ...model.html import html_to_rich, rich_to_html
from ...model.text import RichText
from ...model.xhtml import has_markup, plain_text
from .uri import split_params

__all__ = [
    "ACCEPT",
    "ISCOMPOSING",
    "KEYBOARD_ACTIVITY",
    "TEXT_TYPES",
    "BodyError",
    "Content",
    "build_is_composing",
    "build_keyboard_activity",
    "decode_ms_text_format",
    "decode_text",
    "encode_ms_text_format",
    "encode_text",
    "html_to_rich",
    "media_type",
    "parse_is_composing",
    "parse_keyboard_activity",
    "parse_xml",
    "rich_to_html",
]

#: Body types that carry message text.
TEXT_TYPES = frozenset({"text/plain", "text/html", "multipart/alternative", "multipart/related"})
#: RFC 3994 typing notifications.
ISCOMPOSING = "application/im-iscomposing+xml"
#: Content type of Microsoft's KeyboardActivity INFO.
KEYBOARD_ACTIVITY = "application/xml"
#: The Accept value sent with 415 and OPTIONS answers.
ACCEPT = "text/plain, text/html, multipart/alternative, multipart/related, " + ISCOMPOSING
#: Formats L{encode_text} writes.
FORMATS = ("auto", "plain", "html", "alternative")

_NS_ISCOMPOSING = "urn:ietf:params:xml:ns:im-iscomposing"
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


class BodyError(ValueError):
    """
    A body that cannot be taken.

    @ivar status: The SIP status it deserves: 415 (type not supported) or
        400 (malformed).
    @ivar reason: A short reason phrase.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


@frozen
class Content:
    """
    A body and its C{Content-Type} header value.
    """

    content_type: str
    body: bytes

    @property
    def media_type(self) -> str:
        """
        The media type in lower case, without parameters.
        """
        return media_type(self.content_type)[0]


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """
    Split a C{Content-Type} value into the lower-case media type and its
    parameters (names lower-cased, quotes removed).
    """
    if not value:
        return "", {}
    pieces = split_params(value)
    kind = pieces[0].strip().lower()
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        name, eq, raw = piece.partition("=")
        name = name.strip().lower()
        if not name or not eq:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params.setdefault(name, raw)
    return kind, params


def _decode(body: bytes, charset: str | None) -> str:
    name = (charset or "utf-8").strip().lower() or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        name = "utf-8"
    text = body.decode(name, errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(content_type: str | None, body: bytes) -> RichText:
    """
    The text of a message body; see the module docstring.

    A missing C{Content-Type} is read as C{text/plain} (RFC 3428 section 7
    makes it mandatory for non-empty bodies, but some relays drop it).

    @raise BodyError: 415 for other types, 400 for a multipart body
        without a usable text part.
    """
    kind, params = media_type(content_type) if content_type else ("text/plain", {})
    if kind == "text/plain":
        return RichText.plain(_decode(body, params.get("charset")))
    if kind == "text/html":
        return html_to_rich(_decode(body, params.get("charset")))
    if kind in ("multipart/alternative", "multipart/related", "multipart/mixed"):
        return _decode_multipart(content_type or "", body)
    raise BodyError(415, "Unsupported Media Type")


def _decode_multipart(content_type: str, body: bytes) -> RichText:
    if "boundary" not in media_type(content_type)[1]:
        raise BodyError(400, "Multipart body without boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("utf-8", "replace")
    message = email.message_from_bytes(head + body, policy=email.policy.compat32)
    plain: RichText | None = None
    html: RichText | None = None
    for count, part in enumerate(message.walk()):
        if count > 32:
            break
        if part.is_multipart():
            continue
        kind = part.get_content_type().lower()
        if kind not in ("text/plain", "text/html"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset()
        if kind == "text/html" and html is None:
            candidate = html_to_rich(_decode(payload, charset))
            if candidate.nodes:
                html = candidate
        elif kind == "text/plain" and plain is None:
            plain = RichText.plain(_decode(payload, charset))
    result = html if html is not None else plain
    if result is None:
        raise BodyError(400, "No text part in multipart body")
    return result


def encode_text(text: RichText, style: str = "auto") -> Content:
    """
    Write C{text} as a message body.

    @param style: C{"auto"} (plain text unless there is markup, then
        C{multipart/alternative}), C{"plain"}, C{"html"} or
        C{"alternative"}.
    """
    if style not in FORMATS:
        raise ValueError(f"unknown message format {style!r}")
    plain = plain_text(text.nodes).encode("utf-8")
    if style == "plain" or (style == "auto" and not has_markup(text)):
        return Content("text/plain;charset=UTF-8", plain)
    html = rich_to_html(text).encode("utf-8")
    if style == "html":
        return Content("text/html;charset=UTF-8", html)
    boundary = "np-" + secrets.token_hex(12)
    parts = [
        f"--{boundary}\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\n".encode() + plain,
        f"--{boundary}\r\nContent-Type: text/html;charset=UTF-8\r\n\r\n".encode() + html,
    ]
    body = b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
    return Content(f"multipart/alternative;boundary={boundary}", body)


# -- ms-text-format ---------------------------------------------------------


def decode_ms_text_format(value: str) -> Content | None:
    """
    The first message of a Skype for Business INVITE, from its
    C{ms-text-format} header; L{None} when the header has no C{ms-body}.

    @raise BodyError: 400 for a C{ms-body} that is not base64.
    """
    pieces = split_params(value)
    kind = pieces[0].strip()
    encoded: str | None = None
    kept: list[str] = []
    for piece in pieces[1:]:
        name, _, raw = piece.strip().partition("=")
        lowered = name.strip().lower()
        if lowered == "ms-body":
            encoded = raw.strip()
        elif lowered != "msgr" and piece.strip():
            kept.append(piece.strip())
    if encoded is None:
        return None
    try:
        body = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BodyError(400, "Malformed ms-text-format body") from None
    return Content(";".join([kind, *kept]), body)


def encode_ms_text_format(content: Content) -> str:
    """
    The C{ms-text-format} header value carrying C{content}.
    """
    encoded = base64.b64encode(content.body).decode("ascii")
    return f"{content.content_type};ms-body={encoded}"


# -- typing -------------------------------------------------------------------


def parse_xml(body: bytes) -> ET.Element:
    """
    Parse a small XML body, refusing document type declarations.

    @raise BodyError: 400 for anything that is not well-formed XML without
        a DTD.
    """
    if _DTD.search(body):
        raise BodyError(400, "XML with a document type declaration")
    try:
        return ET.fromstring(body)  # noqa: S314 - no DTD, so no entity expansion
    except ET.ParseError:
        raise BodyError(400, "Malformed XML body") from None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_is_composing(body: bytes) -> TypingState:
    """
    Read an RFC 3994 C{isComposing} document: C{active} is composing,
    anything else idle.

    @raise BodyError: 400 for a malformed document.
    """
    root = parse_xml(body)
    if _local(root.tag) != "isComposing":
        raise BodyError(400, "Not an isComposing document")
    for child in root:
        if _local(child.tag) == "state":
            state = (child.text or "").strip().lower()
            return TypingState.COMPOSING if state == "active" else TypingState.IDLE
    raise BodyError(400, "isComposing without state")


def build_is_composing(state: TypingState, refresh: int = 90) -> Content:
    """
    An RFC 3994 document for C{state} (paused and idle are both C{idle});
    an active state carries C{refresh} seconds.
    """
    active = state == TypingState.COMPOSING
    refresh_element = f"<refresh>{refresh}</refresh>" if active else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<isComposing xmlns="{_NS_ISCOMPOSING}">'
        f"<state>{'active' if active else 'idle'}</state>"
        f"<contenttype>text/plain</contenttype>{refresh_element}</isComposing>"
    )
    return Content(ISCOMPOSING, body.encode("utf-8"))


def parse_keyboard_activity(body: bytes) -> TypingState | None:
    """
    Read Microsoft's KeyboardActivity INFO body: C{status="type"} is
    composing, C{"idle"} idle; L{None} for another document.

    @raise BodyError: 400 for malformed XML.
    """
    root = parse_xml(body)
    if _local(root.tag) != "KeyboardActivity":
        return None
    for child in root:
        if _local(child.tag) == "status":
            status = (child.get("status") or "").strip().lower()
            return TypingState.COMPOSING if status == "type" else TypingState.IDLE
    return None


def build_keyboard_activity(state: TypingState) -> Content:
    """
    Microsoft's KeyboardActivity INFO body for C{state}.
    """
    status = "type" if state == TypingState.COMPOSING else "idle"
    body = f'<?xml version="1.0"?><KeyboardActivity><status status="{status}" /></KeyboardActivity>'
    return Content(KEYBOARD_ACTIVITY, body.encode("utf-8"))
