# -*- test-case-name: tests.sip.test_message -*-
"""
SIP messages: values and a serializer (RFC 3261 sections 7, 8.2.6, 18.3,
20 and 25; RFC 5626 section 3.5.1); the sans-IO stream parser is in
L{nextplane.connectors.sip.parser}.

No I/O and no reactor: L{nextplane.connectors.sip.parser.StreamParser.feed}
takes the bytes a connection received and returns what they completed,
L{serialize} turns a message into bytes. The Twisted protocol in
L{nextplane.connectors.sip.transport} is a thin layer over these.

Framing on a stream transport (RFC 3261 section 18.3): the header section
ends at the first empty line, then exactly C{Content-Length} I{bytes} of
body follow (section 20.14; a UTF-8 body split across reads is framed by
bytes, never by characters). C{Content-Length} is therefore mandatory on a
stream; it is framing, not content, so it is not kept in L{Headers}: the
parser removes it and L{serialize} writes it from the body's length.

Between messages, CRLFs are skipped (RFC 3261 section 7.5); each C{CRLF
CRLF} pair is reported as a L{KeepAlive} ping (RFC 5626 section 3.5.1),
which the server side of a connection answers with a single C{CRLF}.

Problems come back as L{ParseError} values, never as exceptions:

  - I{fatal} ones (no C{Content-Length}, a start line that is not SIP, a
    header section larger than C{max_header_size}) leave the stream
    unframeable: the transport answers if it can and closes;
  - the others (a malformed header, a missing mandatory header, a body
    larger than C{max_body_size}, which is skipped) leave the connection
    usable; C{ParseError.message} then holds what was read, so the
    transport can answer C{400}/C{413}/C{505} with the request's Via,
    From, To, Call-ID and CSeq.

Header names are case-insensitive and compact forms (C{f t v i m l c k s e
o u ...}) are expanded; L{Headers} keeps canonical names (C{Call-ID},
C{CSeq}, C{WWW-Authenticate}) and, for unknown headers, the spelling
received. Values of list headers (Via, Route, Record-Route, Contact,
Supported, Allow, ...) are split on commas outside quoted strings and
angle brackets into one entry each, I{text unchanged}: a Record-Route
element is later copied byte for byte into a Route header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeAlias, overload

from attrs import evolve, field, frozen

from .uri import (
    NameAddr,
    Params,
    SipSyntaxError,
    format_host,
    is_token,
    parse_host_port,
    parse_name_addr,
    parse_params,
    parse_uri,
)

__all__ = [
    "COMPACT_FORMS",
    "REASONS",
    "SIP_VERSION",
    "CSeq",
    "Headers",
    "KeepAlive",
    "Message",
    "ParseError",
    "ParseResult",
    "Request",
    "Response",
    "Via",
    "canonical_name",
    "check_message",
    "has_control",
    "is_list_header",
    "make_response",
    "parse_cseq",
    "parse_via",
    "serialize",
]

SIP_VERSION = "SIP/2.0"

#: Compact header forms (RFC 3261 section 7.3.3 and the RFCs defining them).
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",  # RFC 3841
    "b": "Referred-By",  # RFC 3892
    "c": "Content-Type",
    "d": "Request-Disposition",  # RFC 3841
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",  # RFC 3841
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",  # RFC 4474
    "o": "Event",  # RFC 6665
    "r": "Refer-To",  # RFC 3515
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",  # RFC 6665
    "v": "Via",
    "x": "Session-Expires",  # RFC 4028
    "y": "Identity",  # RFC 4474
}

_KNOWN_NAMES = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
    "Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition "
    "Content-Encoding Content-Language Content-Length Content-Type CSeq Date Error-Info "
    "Event Expires From Identity Identity-Info In-Reply-To Max-Forwards Min-Expires Min-SE "
    "MIME-Version Organization P-Asserted-Identity P-Preferred-Identity Path Priority "
    "Proxy-Authenticate Proxy-Authorization Proxy-Require RAck Reason Record-Route Refer-To "
    "Referred-By Reject-Contact Reply-To Request-Disposition Require Retry-After Route RSeq "
    "Security-Client Security-Server Security-Verify Server Service-Route Session-Expires "
    "SIP-ETag SIP-If-Match Subject Subscription-State Supported Timestamp To Unsupported "
    "User-Agent Via Warning WWW-Authenticate Ms-Conversation-ID"
).split()

_CANONICAL: dict[str, str] = {name.lower(): name for name in _KNOWN_NAMES}
_CANONICAL.update({short: long for short, long in COMPACT_FORMS.items()})

#: Headers whose values are comma-separated lists (RFC 3261 section 7.3.1);
#: others (Authorization, Date, unknown extensions) are never split.
_LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
        "Call-Info Contact Content-Encoding Content-Language Error-Info In-Reply-To "
        "P-Asserted-Identity P-Preferred-Identity Path Proxy-Require Reason Record-Route "
        "Reject-Contact Request-Disposition Require Route Security-Client Security-Server "
        "Security-Verify Service-Route Supported Unsupported Via Warning"
    ).split()
)

#: Headers that may appear at most once.
_SINGLE_HEADERS = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type", "Expires")

#: Default reason phrases (RFC 3261 section 21 and extensions).
REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

_TEXT_BAD_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_VIA_RE = re.compile(
    r"([^/\s]+)[ \t]*/[ \t]*([^/\s]+)[ \t]*/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(.*)", re.S
)
_CSEQ_RE = re.compile(r"([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)")
_CALL_ID_RE = re.compile(r"[!-~]+")


def canonical_name(name: str) -> str:
    """
    The canonical spelling of a header name: compact forms expanded, known
    names in their RFC spelling, others unchanged.
    """
    return _CANONICAL.get(name.lower(), name)


def has_control(value: str) -> bool:
    """
    Whether C{value} holds a control character other than tab (not allowed
    in a header value or reason phrase).
    """
    return _TEXT_BAD_RE.search(value) is not None


def is_list_header(name: str) -> bool:
    """
    Whether the header's values are comma-separated lists.
    """
    return canonical_name(name).lower() in _LIST_HEADERS


def _canonical_items(
    items: Iterable[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    return tuple((canonical_name(name), value) for name, value in items)


@frozen
class Headers:
    """
    An ordered, immutable list of header fields; names are canonicalised
    (L{canonical_name}) and looked up case-insensitively. Each entry is one
    value: a list header received as C{Via: a, b} is two entries.

    Methods that change headers return a new L{Headers}.

    @ivar items: C{(name, value)} pairs in message order.
    """

    items: tuple[tuple[str, str], ...] = field(default=(), converter=_canonical_items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """
        The first value of C{name}, or C{default}.
        """
        lowered = canonical_name(name).lower()
        for n, v in self.items:
            if n.lower() == lowered:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """
        Every value of C{name}, in order.
        """
        lowered = canonical_name(name).lower()
        return [v for n, v in self.items if n.lower() == lowered]

    def add(self, name: str, value: str) -> Headers:
        """
        A copy with C{name: value} appended.
        """
        return Headers((*self.items, (name, value)))

    def prepend(self, name: str, value: str) -> Headers:
        """
        A copy with C{name: value} first (a new top Via).
        """
        return Headers(((name, value), *self.items))

    def set(self, name: str, *values: str) -> Headers:
        """
        A copy where C{name} has exactly C{values}, at the position of its
        first occurrence (or appended).
        """
        lowered = canonical_name(name).lower()
        out: list[tuple[str, str]] = []
        placed = False
        for n, v in self.items:
            if n.lower() == lowered:
                if not placed:
                    out.extend((name, value) for value in values)
                    placed = True
                continue
            out.append((n, v))
        if not placed:
            out.extend((name, value) for value in values)
        return Headers(out)

    def remove(self, *names: str) -> Headers:
        """
        A copy without any of C{names}.
        """
        lowered = {canonical_name(n).lower() for n in names}
        return Headers(tuple((n, v) for n, v in self.items if n.lower() not in lowered))

    def remove_first(self, name: str) -> Headers:
        """
        A copy without the first value of C{name} (the top Via).
        """
        lowered = canonical_name(name).lower()
        out = list(self.items)
        for index, (n, _) in enumerate(out):
            if n.lower() == lowered:
                del out[index]
                break
        return Headers(out)


@frozen
class Via:
    """
    One Via value (RFC 3261 section 20.42; RFC 3581 C{rport}; RFC 5923
    C{alias}).

    @ivar transport: Upper-case transport (C{TLS}, C{TCP}, C{UDP}).
    @ivar host: Sent-by host (IPv6 without brackets).
    @ivar port: Sent-by port, if given.
    @ivar params: C{branch}, C{received}, C{rport}, C{alias} and unknown
        ones (C{ms-received-port}), in order, as received.
    @ivar protocol: C{"SIP/2.0"}.
    """

    host: str
    port: int | None = None
    transport: str = "TLS"
    params: Params = field(factory=Params)
    protocol: str = SIP_VERSION

    @property
    def branch(self) -> str | None:
        """
        The C{branch} parameter, if any.
        """
        return self.params.get("branch")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """
        C{(host, port)} with the host lower-cased, for transaction matching.
        """
        return (self.host.lower(), self.port)

    def format(self) -> str:
        """
        The value as text.
        """
        port = f":{self.port}" if self.port is not None else ""
        return (
            f"{self.protocol}/{self.transport} {format_host(self.host)}{port}{self.params.format()}"
        )

    def __str__(self) -> str:
        return self.format()


def parse_via(text: str) -> Via:
    """
    Parse one Via value, e.g. C{SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1}.

    @raise SipSyntaxError: Malformed value.
    """
    match = _VIA_RE.fullmatch(text.strip(" \t"))
    if match is None:
        raise SipSyntaxError("Malformed Via header")
    name, version, transport, rest = match.groups()
    protocol = f"{name}/{version}".upper()
    if protocol != SIP_VERSION:
        raise SipSyntaxError("Unsupported Via protocol")
    sent_by, semi, param_text = rest.partition(";")
    sent_by = re.sub(r"[ \t]*:[ \t]*", ":", sent_by.strip(" \t"))
    host, port = parse_host_port(sent_by)
    params = parse_params(";" + param_text) if semi else Params()
    return Via(host, port, transport.upper(), params, protocol)


@frozen
class CSeq:
    """
    A CSeq value (RFC 3261 section 20.16).
    """

    number: int
    method: str

    def format(self) -> str:
        """
        The value as text.
        """
        return f"{self.number} {self.method}"

    def __str__(self) -> str:
        return self.format()


def parse_cseq(text: str) -> CSeq:
    """
    Parse C{"4711 INVITE"}; the number must be below 2**31.

    @raise SipSyntaxError: Malformed value.
    """
    match = _CSEQ_RE.fullmatch(text.strip(" \t"))
    if match is None or int(match.group(1)) >= 2**31:
        raise SipSyntaxError("Malformed CSeq header")
    return CSeq(int(match.group(1)), match.group(2))


class _MessageMixin:
    """
    Typed accessors shared by L{Request} and L{Response}. They parse on
    demand and raise L{SipSyntaxError} on malformed values (a message that
    came from L{StreamParser} without a L{ParseError} has valid ones).
    """

    __slots__ = ()
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        """
        The Call-ID.
        """
        value = self.headers.get("Call-ID")
        if value is None:
            raise SipSyntaxError("Missing Call-ID header")
        return value

    @property
    def cseq(self) -> CSeq:
        """
        The parsed CSeq.
        """
        return parse_cseq(self.headers.get("CSeq", ""))

    @property
    def from_(self) -> NameAddr:
        """
        The parsed From header.
        """
        return parse_name_addr(self.headers.get("From", ""))

    @property
    def to(self) -> NameAddr:
        """
        The parsed To header.
        """
        return parse_name_addr(self.headers.get("To", ""))

    @property
    def vias(self) -> list[Via]:
        """
        Every Via, top first.
        """
        return [parse_via(v) for v in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        """
        The first Via.
        """
        value = self.headers.get("Via")
        if value is None:
            raise SipSyntaxError("Missing Via header")
        return parse_via(value)

    @property
    def contacts(self) -> list[NameAddr]:
        """
        The parsed Contact values (empty for none or C{*}).
        """
        return [parse_name_addr(v) for v in self.headers.get_all("Contact") if v.strip() != "*"]

    @property
    def content_type(self) -> str | None:
        """
        The media type in lower case without parameters, e.g.
        C{"text/plain"}, or L{None}.
        """
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    @property
    def content_params(self) -> Params:
        """
        The Content-Type parameters (C{charset}, C{msgr}, ...).
        """
        value = self.headers.get("Content-Type", "") or ""
        _, semi, rest = value.partition(";")
        return parse_params(";" + rest) if semi else Params()

    def header(self, name: str, default: str | None = None) -> str | None:
        """
        The first value of header C{name}.
        """
        return self.headers.get(name, default)


@frozen
class Request(_MessageMixin):
    """
    A SIP request.

    @ivar method: Upper-case token, e.g. C{"MESSAGE"} (extension methods
        are case-sensitive and kept as received).
    @ivar uri: The Request-URI as text (see L{parse_uri}).
    @ivar headers: Everything but Content-Length.
    @ivar body: The body bytes.
    """

    method: str
    uri: str
    headers: Headers = field(factory=Headers)
    body: bytes = b""

    def with_headers(self, headers: Headers) -> Request:
        """
        A copy with other headers.
        """
        return evolve(self, headers=headers)

    def with_body(self, body: bytes, content_type: str | None = None) -> Request:
        """
        A copy with another body (and Content-Type, if given).
        """
        headers = (
            self.headers if content_type is None else self.headers.set("Content-Type", content_type)
        )
        return evolve(self, headers=headers, body=body)


@frozen
class Response(_MessageMixin):
    """
    A SIP response.

    @ivar status: Status code, 100 to 699.
    @ivar reason: Reason phrase.
    @ivar headers: Everything but Content-Length.
    @ivar body: The body bytes.
    """

    status: int
    reason: str
    headers: Headers = field(factory=Headers)
    body: bytes = b""

    @property
    def provisional(self) -> bool:
        """
        Whether this is a 1xx.
        """
        return self.status < 200

    def with_headers(self, headers: Headers) -> Response:
        """
        A copy with other headers.
        """
        return evolve(self, headers=headers)


Message: TypeAlias = Request | Response


@frozen
class KeepAlive:
    """
    A CRLF CRLF keep-alive ping between messages (RFC 5626 section 3.5.1).
    """


@frozen
class ParseError:
    """
    Why bytes from a peer could not be taken as a message.

    @ivar reason: Short text, fit for a reason phrase (never echoes peer
        data).
    @ivar status: The response status a request deserves: 400, 413, 505
        or 513.
    @ivar fatal: The stream cannot be framed any more; close it.
    @ivar message: What could be read (start line and headers as
        received, body possibly missing), to build the error response; or
        L{None}.
    """

    reason: str
    status: int = 400
    fatal: bool = False
    message: Request | Response | None = None


ParseResult: TypeAlias = Request | Response | KeepAlive | ParseError


def _check_text(value: str, what: str) -> None:
    if _TEXT_BAD_RE.search(value):
        raise ValueError(f"control character in {what}")


def serialize(message: Message) -> bytes:
    """
    The message as bytes, with a C{Content-Length} computed from the body
    (any Content-Length in the headers is ignored).

    @raise ValueError: Something would break the framing: CR or LF in a
        value, a header name that is not a token, a space in the
        Request-URI.
    """
    if isinstance(message, Request):
        if not is_token(message.method) or not message.uri or " " in message.uri:
            raise ValueError("malformed request line")
        _check_text(message.uri, "Request-URI")
        start = f"{message.method} {message.uri} {SIP_VERSION}"
    else:
        if not 100 <= message.status <= 699:
            raise ValueError("status out of range")
        _check_text(message.reason, "reason phrase")
        start = f"{SIP_VERSION} {message.status} {message.reason}"
    lines = [start]
    for name, value in message.headers:
        if not is_token(name):
            raise ValueError(f"malformed header name {name!r}")
        if name.lower() == "content-length":
            continue
        _check_text(value, name)
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + message.body


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
) -> Response:
    """
    Build a response to C{request} (RFC 3261 section 8.2.6.2): Via (all,
    in order), From, To, Call-ID and CSeq copied as received.

    Works on partly malformed requests (a L{ParseError}'s message): only
    the headers present are copied.

    @param to_tag: Added to To if the request's To has no tag and
        C{status} is not 100.
    @param headers: Extra headers, appended.
    @param copy_record_route: Copy Record-Route too (RFC 3261 section
        12.1.1, for dialog-creating responses).
    """
    out: list[tuple[str, str]] = [("Via", v) for v in request.headers.get_all("Via")]
    from_value = request.headers.get("From")
    if from_value is not None:
        out.append(("From", from_value))
    to_value = request.headers.get("To")
    if to_value is not None:
        if to_tag is not None and status != 100 and not _has_tag(to_value):
            to_value = f"{to_value};tag={to_tag}"
        out.append(("To", to_value))
    for name in ("Call-ID", "CSeq"):
        value = request.headers.get(name)
        if value is not None:
            out.append((name, value))
    if status == 100:
        timestamp = request.headers.get("Timestamp")
        if timestamp is not None:
            out.append(("Timestamp", timestamp))
    if copy_record_route:
        out.extend(("Record-Route", v) for v in request.headers.get_all("Record-Route"))
    out.extend(headers)
    return Response(
        status, reason if reason is not None else REASONS.get(status, ""), Headers(out), body
    )


def _has_tag(to_value: str) -> bool:
    try:
        return parse_name_addr(to_value).tag is not None
    except SipSyntaxError:
        return ";tag=" in to_value.replace(" ", "").lower()


def check_message(message: Message) -> None:
    """
    Check the mandatory headers and the syntax of those the transaction and
    dialog layers read (RFC 3261 sections 8.1.1 and 20).

    @raise SipSyntaxError: With a reason fit for a 400 reason phrase.
    """
    headers = message.headers
    if isinstance(message, Request):
        try:
            parse_uri(message.uri)
        except SipSyntaxError:
            raise SipSyntaxError("Malformed Request-URI") from None
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if name not in headers:
            raise SipSyntaxError(f"Missing {name} header")
    for name in _SINGLE_HEADERS:
        if len(headers.get_all(name)) > 1:
            raise SipSyntaxError(f"Duplicate {name} header")
    for value in headers.get_all("Via"):
        parse_via(value)
    for name in ("From", "To"):
        try:
            parse_name_addr(headers.get(name, ""))
        except SipSyntaxError:
            raise SipSyntaxError(f"Malformed {name} header") from None
    for name in ("Contact", "Route", "Record-Route"):
        values = headers.get_all(name)
        if name == "Contact" and values == ["*"]:
            continue
        for value in values:
            try:
                parse_name_addr(value)
            except SipSyntaxError:
                raise SipSyntaxError(f"Malformed {name} header") from None
    if _CALL_ID_RE.fullmatch(headers.get("Call-ID", "")) is None:
        raise SipSyntaxError("Malformed Call-ID header")
    cseq = parse_cseq(headers.get("CSeq", ""))
    if isinstance(message, Request) and cseq.method != message.method:
        raise SipSyntaxError("CSeq method does not match")
    for name, limit in (("Max-Forwards", 255), ("Expires", 2**32 - 1)):
        number = headers.get(name)
        if number is not None and (
            not number.isdigit() or not number.isascii() or int(number) > limit
        ):
            raise SipSyntaxError(f"Malformed {name} header")
