# -*- test-case-name: tests.admin.test_api -*-
"""
Reading admin API requests: query parameters, JSON bodies and the values in
them (addresses, domains, patterns, times), each refused with an
L{ApiError} that names the parameter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

from twisted.web.iweb import IRequest

from ..model.address import Address, InvalidAddress, validate_domain

__all__ = [
    "MAX_BODY",
    "MAX_PARAMETERS",
    "ApiError",
    "QueryParams",
    "bad",
    "boolean_field",
    "not_found",
    "only_keys",
    "parse_address",
    "parse_day",
    "parse_domain",
    "parse_domain_pattern",
    "parse_pattern",
    "parse_timestamp",
    "read_body",
    "string_field",
]

#: Largest request body accepted, in bytes; admin requests are tiny.
MAX_BODY = 64 * 1024
#: Most query parameters in one request.
MAX_PARAMETERS = 50


class ApiError(Exception):
    """
    A request the API refuses: becomes a JSON error response.

    @ivar code: The HTTP status.
    @ivar error: A short machine-readable name, e.g. C{bad-request}.
    @ivar detail: What was wrong, in words; never internals.
    """

    def __init__(
        self, code: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code, error, detail)
        self.code = code
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def bad(detail: str) -> ApiError:
    return ApiError(400, "bad-request", detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not-found", detail)


# -- input validation --------------------------------------------------------


def parse_address(value: str, name: str) -> Address:
    try:
        return Address.parse(value)
    except (InvalidAddress, ValueError) as e:
        raise bad(f"{name}: {e}") from None


def parse_domain(value: str, name: str) -> str:
    try:
        return validate_domain(value)
    except (InvalidAddress, ValueError) as e:
        raise bad(f"{name}: {e}") from None


def parse_domain_pattern(value: str) -> str:
    """
    Validate and normalise a domain rule pattern: an exact domain
    (C{widget.test}) or a wildcard for every subdomain (C{*.widget.test};
    C{*.test} covers a whole top-level domain).

    @return: The pattern in lower case.
    @raise ValueError: With a message saying what a pattern may be.
    """
    hint = "a pattern is an exact domain (widget.example) or *. and a domain (*.example.com)"
    if value.startswith("*."):
        suffix = value[2:]
        if suffix.startswith("*") or not suffix:
            raise ValueError(f"malformed domain pattern {value!r}: {hint}")
        try:
            # A suffix of one label (a top-level domain) is allowed, which
            # validate_domain alone would refuse: give it a label to check.
            checked = validate_domain(f"x.{suffix}")[2:]
        except (InvalidAddress, ValueError):
            raise ValueError(f"malformed domain pattern {value!r}: {hint}") from None
        return f"*.{checked}"
    if "*" in value:
        raise ValueError(f"malformed domain pattern {value!r}: {hint}")
    try:
        return validate_domain(value)
    except (InvalidAddress, ValueError):
        raise ValueError(f"malformed domain pattern {value!r}: {hint}") from None


def parse_pattern(value: str, name: str) -> str:
    try:
        return parse_domain_pattern(value)
    except ValueError as e:
        raise bad(f"{name}: {e}") from None


def parse_timestamp(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
        # Times without an offset are UTC, like every time the hub records.
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad(
            f"{name}: not an ISO 8601 date or time: {value!r} "
            "(e.g. 2026-11-01 or 2026-11-01T12:00:00Z)"
        ) from None


def parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad(f"{name}: not an ISO 8601 date: {value!r} (e.g. 2026-11-01)") from None


class QueryParams:
    """
    The query string of a request, read one named parameter at a time; an
    unknown or repeated parameter is refused by L{finish}.
    """

    def __init__(self, request: IRequest) -> None:
        # From the URI itself: request.args also holds form fields of a
        # body, which are not query parameters.
        query = request.uri.partition(b"?")[2].partition(b"#")[0]
        try:
            self._values = parse_qs(
                query.decode("utf-8"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_PARAMETERS,
            )
        except UnicodeDecodeError:
            raise bad("the query string is not valid UTF-8") from None
        except ValueError:
            raise bad(f"too many query parameters (at most {MAX_PARAMETERS})") from None
        self._read: set[str] = set()

    def text(self, name: str) -> str | None:
        """
        The one value of C{name}, or C{None} if absent.
        """
        self._read.add(name)
        values = self._values.get(name)
        if values is None:
            return None
        if len(values) != 1:
            raise bad(f"{name}: given {len(values)} times; give it at most once")
        if not values[0]:
            raise bad(f"{name}: must not be empty (leave the parameter out instead)")
        if len(values[0]) > 1024:
            raise bad(f"{name}: too long")
        return values[0]

    def address(self, name: str) -> Address | None:
        value = self.text(name)
        return None if value is None else parse_address(value, name)

    def domain(self, name: str) -> str | None:
        value = self.text(name)
        return None if value is None else parse_domain(value, name)

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        value = self.text(name)
        if value is not None and value not in choices:
            raise bad(f"{name}: must be one of {', '.join(choices)}, not {value!r}")
        return value

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not value.isascii() or not value.isdigit():
            raise bad(f"{name}: must be a whole number from {minimum} to {maximum}")
        number = int(value)
        if not minimum <= number <= maximum:
            raise bad(f"{name}: must be a whole number from {minimum} to {maximum}")
        return number

    def timestamp(self, name: str) -> datetime | None:
        value = self.text(name)
        return None if value is None else parse_timestamp(value, name)

    def day(self, name: str) -> date | None:
        value = self.text(name)
        return None if value is None else parse_day(value, name)

    def finish(self) -> None:
        """
        @raise ApiError: If the request had a parameter nobody read.
        """
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise bad(f"unknown query parameter {unknown[0]!r} (known: {known})")


def _reject_nan(value: str) -> Any:
    raise ValueError(f"{value} is not allowed")


def read_body(request: IRequest) -> dict[str, Any]:
    """
    The request body as a JSON object.

    @raise ApiError: 413 if too large, 400 if not a JSON object.
    """
    content = request.content
    body = content.read(MAX_BODY + 1) if content is not None else b""
    if len(body) > MAX_BODY:
        raise ApiError(413, "payload-too-large", f"the body must be at most {MAX_BODY} bytes")
    if not body.strip():
        raise bad("the request needs a JSON object as its body")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_nan)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(f"the body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise bad("the body must be a JSON object")
    return value


def only_keys(body: dict[str, Any], allowed: Sequence[str], where: str = "body") -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(allowed)})")


def boolean_field(body: dict[str, Any], name: str) -> bool:
    if name not in body:
        raise bad(f"{name}: required field is missing")
    value = body[name]
    if not isinstance(value, bool):
        raise bad(f"{name}: must be true or false")
    return value


def string_field(body: dict[str, Any], name: str, where: str = "") -> str:
    label = f"{where}.{name}" if where else name
    if name not in body:
        raise bad(f"{label}: required field is missing")
    value = body[name]
    if not isinstance(value, str):
        raise bad(f"{label}: must be a string")
    return value
