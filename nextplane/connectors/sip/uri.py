# -*- test-case-name: tests.sip.test_uri -*-
"""
SIP URIs, name-addr values and header parameters (RFC 3261 sections 19.1,
20 and 25.1; IPv6 references per RFC 5118).

Pure functions and immutable values, no I/O:

  - L{SipURI}: C{sip:} and C{sips:} URIs with user, password, host (name,
    IPv4 or IPv6), port, parameters (valueless ones such as C{;lr}
    included) and headers (C{?subject=...}).
  - L{AbsoluteURI}: any other scheme (C{tel:}, C{pres:}, C{im:}, C{urn:}),
    kept opaque.
  - L{NameAddr}: the value of From, To, Contact, Route, Record-Route,
    Reply-To, Referred-By...: optional display name, URI, header
    parameters (C{;tag=}, C{;epid=}, C{;expires=}).
  - L{Params}: an ordered, case-insensitive parameter list; values keep
    their quotes as received so formatting is lossless.
  - L{split_list} / L{split_params}: comma and semicolon splitting outside
    quoted strings and angle brackets.

Parsing is lenient about characters inside parameters (Microsoft servers
put signatures such as C{ms-route-sig=...} there) but strict about
structure; every syntax problem raises L{SipSyntaxError} (a
L{ValueError}) with a short reason.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from attrs import field, frozen

__all__ = [
    "URI",
    "AbsoluteURI",
    "NameAddr",
    "Params",
    "SipSyntaxError",
    "SipURI",
    "format_host",
    "is_token",
    "parse_host_port",
    "parse_name_addr",
    "parse_params",
    "parse_uri",
    "quote_string",
    "split_list",
    "split_params",
    "unquote_string",
]


class SipSyntaxError(ValueError):
    """
    Text that does not follow the SIP grammar.

    The message is short and fit for a C{400 Bad Request} reason phrase.
    """


#: RFC 3261 C{token} characters.
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
#: Characters allowed (leniently) in URI user/password and parameters: no
#: whitespace, controls, quotes, angle brackets or the delimiters that
#: structure a URI.
_URI_CHUNK_RE = re.compile(r"[^\x00-\x20\x7f\"<>;?@]*")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9_])?")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WS = " \t"


def is_token(text: str) -> bool:
    """
    Whether C{text} is an RFC 3261 C{token} (method names, parameter names,
    header names, transports).
    """
    return _TOKEN_RE.fullmatch(text) is not None


def quote_string(text: str) -> str:
    """
    Make an RFC 3261 C{quoted-string}: surround with double quotes and
    escape C{"} and C{\\}.

    @raise SipSyntaxError: C{text} contains CR, LF or another control
        character that cannot appear in a header.
    """
    if _CONTROL_RE.search(text):
        raise SipSyntaxError("Control character in quoted string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scan_quoted(text: str, start: int) -> int:
    """
    Return the index just past the quoted string starting at C{start}
    (which holds C{"}).
    """
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            return index + 1
        index += 1
    raise SipSyntaxError("Unterminated quoted string")


def unquote_string(text: str) -> str:
    """
    Undo L{quote_string}; text that is not quoted is returned unchanged.

    @raise SipSyntaxError: Unbalanced quotes.
    """
    if not text.startswith('"'):
        return text
    end = _scan_quoted(text, 0)
    if end != len(text):
        raise SipSyntaxError("Text after quoted string")
    out = []
    index = 1
    while index < end - 1:
        char = text[index]
        if char == "\\":
            index += 1
            char = text[index]
        out.append(char)
        index += 1
    return "".join(out)


def _split_outside(text: str, separator: str) -> Iterator[str]:
    """
    Split C{text} on C{separator} where it is outside quoted strings and
    angle brackets.
    """
    start = 0
    index = 0
    depth = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _scan_quoted(text, index)
            continue
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            yield text[start:index]
            start = index + 1
        index += 1
    yield text[start:]


def split_list(value: str) -> list[str]:
    """
    Split a comma-separated header value (RFC 3261 section 7.3.1) into its
    elements, honouring quoted strings and C{<...>}; elements are stripped
    and empty ones dropped (an all-empty value gives C{[""]}).

    @raise SipSyntaxError: Unbalanced quotes.
    """
    parts = [p.strip(_WS) for p in _split_outside(value, ",")]
    parts = [p for p in parts if p]
    return parts or [""]


def split_params(text: str) -> list[str]:
    """
    Split on C{;} outside quoted strings and angle brackets, keeping empty
    pieces (so callers can reject C{;;}).
    """
    return list(_split_outside(text, ";"))


@frozen
class Params:
    """
    An ordered list of C{;name=value} parameters; names compare
    case-insensitively, a valueless parameter (C{;lr}) has value L{None}.
    Quoted values keep their quotes (see L{unquote_string}).

    @ivar items: C{(name, value)} pairs in order.
    """

    items: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, *pairs: tuple[str, str | None], **named: str | None) -> Params:
        """
        Build from pairs and keyword arguments (C{Params.of(lr=None)}).
        """
        return cls(tuple(pairs) + tuple(named.items()))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        lowered = name.lower()
        return any(n.lower() == lowered for n, _ in self.items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """
        The value of the first parameter called C{name}; C{default} if absent
        or valueless (use C{in} to tell those apart).
        """
        lowered = name.lower()
        for n, v in self.items:
            if n.lower() == lowered:
                return v if v is not None else default
        return default

    def set(self, name: str, value: str | None = None) -> Params:
        """
        A copy with C{name} set to C{value} (replacing the first occurrence
        in place, dropping others, or appending).
        """
        lowered = name.lower()
        out: list[tuple[str, str | None]] = []
        done = False
        for n, v in self.items:
            if n.lower() == lowered:
                if not done:
                    out.append((n, value))
                    done = True
                continue
            out.append((n, v))
        if not done:
            out.append((name, value))
        return Params(tuple(out))

    def remove(self, *names: str) -> Params:
        """
        A copy without the parameters called C{names}.
        """
        lowered = {n.lower() for n in names}
        return Params(tuple((n, v) for n, v in self.items if n.lower() not in lowered))

    def format(self) -> str:
        """
        C{;a=1;lr}, or the empty string.
        """
        return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in self.items)


def _check_param_value(value: str, allow_quoted: bool) -> None:
    if value.startswith('"'):
        if not allow_quoted:
            raise SipSyntaxError("Quoted value in URI parameter")
        unquote_string(value)  # validates
        return
    if not value or _URI_CHUNK_RE.fullmatch(value) is None or "," in value:
        raise SipSyntaxError("Malformed parameter value")


def parse_params(text: str, allow_quoted: bool = True) -> Params:
    """
    Parse C{;a=1;b;c="x y"} (the leading C{;} included). Whitespace around
    C{;} and C{=} is allowed (RFC 3261 SEMI and EQUAL).

    @param allow_quoted: Accept quoted-string values (header parameters);
        URI parameters never have them.
    @raise SipSyntaxError: Malformed parameters.
    """
    text = text.strip(_WS)
    if not text:
        return Params()
    if not text.startswith(";"):
        raise SipSyntaxError("Expected ';' before parameters")
    pieces = split_params(text[1:])
    items: list[tuple[str, str | None]] = []
    for piece in pieces:
        name, eq, value = piece.partition("=")
        name = name.strip(_WS)
        if not is_token(name):
            raise SipSyntaxError("Malformed parameter name")
        if not eq:
            items.append((name, None))
            continue
        value = value.strip(_WS)
        _check_param_value(value, allow_quoted)
        items.append((name, value))
    return Params(tuple(items))


def _parse_ipv6_reference(text: str) -> str:
    if not (text.startswith("[") and text.endswith("]")):
        raise SipSyntaxError("Malformed IPv6 reference")
    inner = text[1:-1]
    try:
        ipaddress.IPv6Address(inner)
    except ValueError:
        raise SipSyntaxError("Malformed IPv6 reference") from None
    return inner


def _check_host(host: str) -> None:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipSyntaxError("Malformed IPv6 address") from None
        return
    labels = host.rstrip(".").split(".") if host != "." else []
    if not labels or any(_HOSTNAME_RE.fullmatch(label) is None for label in labels):
        raise SipSyntaxError("Malformed host")


def format_host(host: str) -> str:
    """
    C{host} as it appears in a URI or Via: IPv6 addresses in brackets.
    """
    return f"[{host}]" if ":" in host else host


def parse_host_port(text: str) -> tuple[str, int | None]:
    """
    Parse C{host}, C{host:port}, C{[v6]} or C{[v6]:port}; IPv6 hosts are
    returned without brackets.

    @raise SipSyntaxError: Malformed host or port.
    """
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipSyntaxError("Malformed IPv6 reference")
        host = _parse_ipv6_reference(text[: end + 1])
        rest = text[end + 1 :]
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        _check_host(host)
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii():
        raise SipSyntaxError("Malformed port")
    port = int(rest[1:])
    if not 0 < port < 65536:
        raise SipSyntaxError("Port out of range")
    return host, port


@frozen
class SipURI:
    """
    A C{sip:} or C{sips:} URI (RFC 3261 section 19.1).

    @ivar scheme: C{"sip"} or C{"sips"} (lower case).
    @ivar user: The user part as written (escapes kept), or L{None}.
    @ivar password: The password as written, or L{None}.
    @ivar host: Host name, IPv4 address or IPv6 address (no brackets).
    @ivar port: Port, or L{None} if not given.
    @ivar params: URI parameters (C{transport}, C{lr}, C{maddr}, ...).
    @ivar headers: C{?name=value&...} pairs as written.
    """

    host: str
    user: str | None = None
    port: int | None = None
    params: Params = field(factory=Params)
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"
    password: str | None = None

    @property
    def secure(self) -> bool:
        """
        Whether this is a C{sips:} URI.
        """
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """
        The C{transport} parameter in lower case, if any.
        """
        value = self.params.get("transport")
        return value.lower() if value is not None else None

    @property
    def loose_route(self) -> bool:
        """
        Whether the URI carries C{;lr} (RFC 3261 section 16.12.1.1).
        """
        return "lr" in self.params

    @property
    def address_of_record(self) -> str:
        """
        C{user@host} (or C{host}), lower-cased host, for comparisons and
        hub addressing.
        """
        host = self.host.lower()
        return f"{self.user}@{host}" if self.user is not None else host

    def format(self) -> str:
        """
        The URI as text.
        """
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(format_host(self.host))
        if self.port is not None:
            out.append(f":{self.port}")
        out.append(self.params.format())
        if self.headers:
            out.append("?" + "&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(out)

    def __str__(self) -> str:
        return self.format()


@frozen
class AbsoluteURI:
    """
    A URI of a scheme other than C{sip}/C{sips}, kept opaque.

    @ivar scheme: Lower-case scheme, e.g. C{"tel"}.
    @ivar rest: Everything after the colon.
    """

    scheme: str
    rest: str

    def format(self) -> str:
        """
        The URI as text.
        """
        return f"{self.scheme}:{self.rest}"

    def __str__(self) -> str:
        return self.format()


URI = SipURI | AbsoluteURI


def _parse_sip_uri(scheme: str, rest: str) -> SipURI:
    at = rest.rfind("@")
    user: str | None = None
    password: str | None = None
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, password_text = userinfo.partition(":")
        password = password_text if colon else None
        if not user:
            raise SipSyntaxError("Empty user in URI")
        for chunk in (user, password or ""):
            if _URI_CHUNK_RE.fullmatch(chunk.replace(";", "").replace("?", "")) is None:
                raise SipSyntaxError("Malformed user in URI")
    hostport_params, question, header_text = rest.partition("?")
    hostport, semi, param_text = hostport_params.partition(";")
    host, port = parse_host_port(hostport)
    params = parse_params(";" + param_text, allow_quoted=False) if semi else Params()
    headers: list[tuple[str, str]] = []
    if question:
        for pair in header_text.split("&"):
            name, eq, value = pair.partition("=")
            if not name or not eq or _URI_CHUNK_RE.fullmatch(name + value) is None:
                raise SipSyntaxError("Malformed URI header")
            headers.append((name, value))
    return SipURI(
        host=host,
        user=user,
        port=port,
        params=params,
        headers=tuple(headers),
        scheme=scheme,
        password=password,
    )


def parse_uri(text: str) -> URI:
    """
    Parse a URI: L{SipURI} for C{sip:}/C{sips:}, L{AbsoluteURI} otherwise.

    @raise SipSyntaxError: Malformed URI.
    """
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise SipSyntaxError("Malformed URI scheme")
    scheme = scheme.lower()
    if any(c in rest for c in '\x00\r\n \t<>"'):
        raise SipSyntaxError("Malformed URI")
    if scheme in ("sip", "sips"):
        return _parse_sip_uri(scheme, rest)
    if not rest:
        raise SipSyntaxError("Empty URI")
    return AbsoluteURI(scheme, rest)


@frozen
class NameAddr:
    """
    C{"Display Name" <uri>;param=value} (RFC 3261 section 20.10 and
    friends).

    @ivar uri: The address.
    @ivar display_name: Unquoted display name; L{None} if absent.
    @ivar params: Header parameters after the address (C{tag},
        C{epid}, C{expires}, C{q}, ...).
    """

    uri: URI
    display_name: str | None = None
    params: Params = field(factory=Params)

    @property
    def tag(self) -> str | None:
        """
        The C{tag} parameter (RFC 3261 section 19.3), if any.
        """
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        """
        A copy whose C{tag} parameter is C{tag}.
        """
        return NameAddr(self.uri, self.display_name, self.params.set("tag", tag))

    def format(self) -> str:
        """
        The value as text; the URI is always in angle brackets.
        """
        prefix = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{prefix}<{self.uri.format()}>{self.params.format()}"

    def __str__(self) -> str:
        return self.format()


def parse_name_addr(text: str) -> NameAddr:
    """
    Parse a C{name-addr} or C{addr-spec} followed by header parameters.

    In the C{addr-spec} form (no angle brackets), parameters after the URI
    belong to the header (RFC 3261 section 20).

    @raise SipSyntaxError: Malformed value.
    """
    text = text.strip(_WS)
    display: str | None = None
    if text.startswith('"'):
        end = _scan_quoted(text, 0)
        display = unquote_string(text[:end])
        text = text[end:].lstrip(_WS)
        if not text.startswith("<"):
            raise SipSyntaxError("Expected '<' after display name")
    if "<" in text.split(";", 1)[0] or text.startswith("<"):
        before, _, after = text.partition("<")
        before = before.strip(_WS)
        if before:
            if display is not None or not all(is_token(w) for w in before.split()):
                raise SipSyntaxError("Malformed display name")
            display = " ".join(before.split())
        uri_text, close, rest = after.partition(">")
        if not close:
            raise SipSyntaxError("Missing '>'")
        uri = parse_uri(uri_text)
        params = parse_params(rest)
    else:
        uri_text, semi, rest = text.partition(";")
        if any(c in uri_text for c in ",?"):
            raise SipSyntaxError("addr-spec with ',' or '?' needs angle brackets")
        uri = parse_uri(uri_text)
        params = parse_params(";" + rest) if semi else Params()
    return NameAddr(uri, display, params)


def name_addrs(values: Iterable[str]) -> list[NameAddr]:
    """
    Parse every value (already split with L{split_list}).

    @raise SipSyntaxError: One is malformed.
    """
    return [parse_name_addr(v) for v in values]
