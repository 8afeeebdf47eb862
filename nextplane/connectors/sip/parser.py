# -*- test-case-name: tests.sip.test_message -*-
"""
The sans-IO SIP stream parser (RFC 3261 sections 7.5, 18.3 and 20.14;
RFC 5626 section 3.5.1): L{StreamParser.feed} takes the bytes a
connection received and returns the messages, keep-alives and
L{ParseError} values they completed. See L{nextplane.connectors.sip.message}
for the framing rules and the values.
"""

from __future__ import annotations

import re

from attrs import evolve

from .message import (
    SIP_VERSION,
    Headers,
    KeepAlive,
    Message,
    ParseError,
    ParseResult,
    Request,
    Response,
    canonical_name,
    check_message,
    has_control,
    is_list_header,
)
from .uri import SipSyntaxError, is_token, split_list

__all__ = ["StreamParser", "parse_message"]

_REQUEST_LINE_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) ([^ ]+) ([Ss][Ii][Pp]/[0-9]+\.[0-9]+)")
_STATUS_LINE_RE = re.compile(r"([Ss][Ii][Pp]/[0-9]+\.[0-9]+) ([1-9][0-9][0-9]) (.*)")
#: Bytes no start line contains (controls other than the CRLF ending it).
_START_LINE_BAD_RE = re.compile(rb"[\x00-\x0c\x0e-\x1f\x7f]|\r(?!\n|$)")
#: The longest start line worth waiting for (URIs are short in practice).
_MAX_START_LINE = 8192


class _Framing(Exception):
    """
    A fatal framing problem, raised inside the parser only.
    """

    def __init__(
        self, reason: str, status: int = 400, message: Request | Response | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message


def _split_header_lines(lines: list[bytes]) -> list[bytes]:
    """
    Unfold continuation lines (RFC 3261 section 7.3.1) into one SP.
    """
    logical: list[bytearray] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not logical:
                raise _Framing("Malformed header line")
            logical[-1] += b" " + line.strip(b" \t")
        else:
            logical.append(bytearray(line))
    return [bytes(line) for line in logical]


class _Head:
    """
    A header section read leniently: the start line, the headers that
    parsed, the first problem and the Content-Length.
    """

    def __init__(self, head: bytes, require_length: bool = True) -> None:
        lines = head.split(b"\r\n")
        try:
            start = lines[0].decode("utf-8")
        except UnicodeDecodeError:
            raise _Framing("Malformed start line") from None
        self.error: tuple[str, int] | None = None
        self.message: Request | Response
        self.version: str
        request = _REQUEST_LINE_RE.fullmatch(start)
        status = None if request else _STATUS_LINE_RE.fullmatch(start)
        if request is not None:
            method, uri, self.version = request.groups()
        elif status is not None:
            self.version, code, reason = status.groups()
            if has_control(reason):
                raise _Framing("Malformed start line")
        else:
            raise _Framing("Malformed start line")
        items: list[tuple[str, str]] = []
        lengths: list[str] = []
        for line in _split_header_lines(lines[1:]):
            name_bytes, colon, value_bytes = line.partition(b":")
            name_text = name_bytes.rstrip(b" \t").decode("latin-1")
            if not colon or not is_token(name_text):
                self._fail("Malformed header line")
                continue
            name = canonical_name(name_text)
            try:
                value = value_bytes.decode("utf-8").strip(" \t")
            except UnicodeDecodeError:
                self._fail(f"{_safe(name)} header is not UTF-8")
                continue
            if has_control(value):
                self._fail(f"Control character in {_safe(name)} header")
                continue
            if name == "Content-Length":
                lengths.append(value)
                continue
            if is_list_header(name):
                try:
                    items.extend((name, v) for v in split_list(value))
                except SipSyntaxError:
                    self._fail(f"Malformed {_safe(name)} header")
                continue
            items.append((name, value))
        headers = Headers(items)
        if request is not None:
            self.message = Request(method, uri, headers)
        else:
            self.message = Response(int(code), reason, headers)
        self.content_length = 0
        if not lengths:
            if require_length:
                raise _Framing("Missing Content-Length", 400, self.message)
            return
        if len(set(lengths)) != 1 or not lengths[0].isdigit() or not lengths[0].isascii():
            raise _Framing("Malformed Content-Length", 400, self.message)
        self.content_length = int(lengths[0])

    def _fail(self, reason: str, status: int = 400) -> None:
        if self.error is None:
            self.error = (reason, status)

    def result(self, body: bytes) -> Message | ParseError:
        message = evolve(self.message, body=body)
        if self.version.upper() != SIP_VERSION:
            return ParseError("Version Not Supported", 505, False, message)
        if self.error is not None:
            return ParseError(self.error[0], self.error[1], False, message)
        try:
            check_message(message)
        except SipSyntaxError as e:
            return ParseError(str(e), 400, False, message)
        return message


def _salvage(data: bytes) -> Request | Response | None:
    """
    Read what can be read of a header section that was cut off, so an
    error response can still copy Via, From, To, Call-ID and CSeq.
    """
    end = data.rfind(b"\r\n")
    if end <= 0:
        return None
    try:
        return _Head(data[:end], require_length=False).message
    except _Framing:
        return None


def _safe(name: str) -> str:
    # Header names are tokens; keep reason phrases short and plain.
    return name[:40]


class StreamParser:
    """
    Frames SIP messages on a byte stream; see the module docstring.

    Feed it every chunk a connection receives; results come back in
    order. After a fatal L{ParseError} it returns nothing more.
    """

    def __init__(
        self,
        max_header_size: int = 65536,
        max_body_size: int = 1 << 20,
        max_headers: int = 256,
    ) -> None:
        """
        @param max_header_size: Largest header section accepted (start line
            and headers, bytes); a larger one is a fatal 513.
        @param max_body_size: Largest body accepted; a larger one is
            skipped and reported as a (non-fatal) 413.
        @param max_headers: Most header lines accepted in one message; more
            is a fatal 400 (parsing thousands of tiny headers costs far more
            than their bytes suggest).
        """
        self._max_header = max_header_size
        self._max_body = max_body_size
        self._max_headers = max_headers
        self._buffer = bytearray()
        self._scanned = 0
        self._head: _Head | None = None
        self._discard = 0
        self._failed = False

    @property
    def failed(self) -> bool:
        """
        Whether a fatal error stopped the parser.
        """
        return self._failed

    @property
    def buffered(self) -> int:
        """
        Bytes received and not yet part of a result.
        """
        return len(self._buffer)

    @property
    def idle(self) -> bool:
        """
        Whether the parser is between messages with nothing buffered.
        """
        return not self._buffer and self._head is None and not self._discard

    @property
    def pending(self) -> Request | Response | None:
        """
        The message whose header section was read and whose body is still
        awaited, if any (to answer it when it never completes).
        """
        return self._head.message if self._head is not None else None

    def feed(self, data: bytes) -> list[ParseResult]:
        """
        Add received bytes; return the messages, keep-alives and errors
        they complete, in order.
        """
        if self._failed:
            return []
        self._buffer += data
        results: list[ParseResult] = []
        try:
            while self._step(results):
                pass
        except _Framing as e:
            self._failed = True
            self._buffer.clear()
            results.append(ParseError(e.reason, e.status, True, e.message))
        except Exception:  # pragma: no cover - defence in depth
            self._failed = True
            self._buffer.clear()
            results.append(ParseError("Internal parser error", 400, True, None))
        return results

    def _check_start_line(self, buffer: bytearray) -> None:
        # Fail garbage (random bytes, TLS records, HTTP) at once instead of
        # buffering it until a size limit or a deadline.
        # Only within the header size limit, so that any chunking of the
        # same bytes gives the same error.
        limit = min(_MAX_START_LINE, self._max_header)
        line_end = buffer.find(b"\r\n", 0, limit + 2)
        prefix = bytes(buffer[: line_end if line_end >= 0 else limit])
        if line_end < 0 and len(buffer) > limit and limit < self._max_header:
            raise _Framing("Malformed start line")
        if not _start_line_ok(prefix):
            raise _Framing("Malformed start line")
        if line_end >= 0:
            try:
                start = prefix.decode("utf-8")
            except UnicodeDecodeError:
                raise _Framing("Malformed start line") from None
            if not (_REQUEST_LINE_RE.fullmatch(start) or _STATUS_LINE_RE.fullmatch(start)):
                raise _Framing("Malformed start line")

    def _step(self, results: list[ParseResult]) -> bool:
        buffer = self._buffer
        if self._discard:
            count = min(self._discard, len(buffer))
            del buffer[:count]
            self._discard -= count
            return bool(buffer) and not self._discard
        if self._head is not None:
            length = self._head.content_length
            if len(buffer) < length:
                return False
            body = bytes(buffer[:length])
            del buffer[:length]
            head, self._head = self._head, None
            results.append(head.result(body))
            return True
        # Between messages: CRLF keep-alives (RFC 5626 3.5.1, RFC 3261 7.5).
        while buffer[:2] == b"\r\n":
            if buffer[:4] == b"\r\n\r\n":
                del buffer[:4]
                results.append(KeepAlive())
            elif len(buffer) < 4 and b"\r\n\r\n".startswith(bytes(buffer)):
                return False  # maybe the start of a ping
            else:
                del buffer[:2]
        if not buffer:
            return False
        self._check_start_line(buffer)
        end = buffer.find(b"\r\n\r\n", self._scanned, self._max_header + 4)
        if end < 0:
            if len(buffer) >= self._max_header + 4:
                raise _Framing(
                    "Message Too Large", 513, _salvage(bytes(buffer[: self._max_header]))
                )
            self._scanned = max(0, len(buffer) - 3)
            return False
        self._scanned = 0
        head_bytes = bytes(buffer[:end])
        del buffer[: end + 4]
        if head_bytes.count(b"\r\n") > self._max_headers:
            raise _Framing("Too many headers", 400, _salvage(head_bytes + b"\r\n"))
        head = _Head(head_bytes)
        if head.content_length > self._max_body:
            self._discard = head.content_length
            results.append(ParseError("Request Entity Too Large", 413, False, head.message))
            return bool(buffer)
        self._head = head
        return True


def _start_line_ok(prefix: bytes) -> bool:
    """
    Whether C{prefix}, the start of a start line, may still become a SIP
    start line: printable text only.
    """
    return _START_LINE_BAD_RE.search(prefix) is None


def parse_message(data: bytes, **limits: int) -> Message | ParseError:
    """
    Parse exactly one complete message (for tests and datagram-style use).

    @return: The message, or the first L{ParseError} (also when bytes are
        missing or left over).
    """
    parser = StreamParser(**limits)
    results = [r for r in parser.feed(data) if not isinstance(r, KeepAlive)]
    if not results:
        return ParseError("Incomplete message", 400, True, None)
    first = results[0]
    if isinstance(first, ParseError):
        return first
    if len(results) > 1 or not parser.idle:
        return ParseError("Trailing data after message", 400, True, None)
    return first
