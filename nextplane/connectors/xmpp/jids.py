# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
JIDs and hub addresses: XEP-0106 escaping of local parts, and bare JIDs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from twisted.words.protocols.jabber import jid as _jid

from nextplane.model.address import Address, InvalidAddress

from .stanza_limits import MAX_JID_CHARS

__all__ = ["address_to_jid", "escape_local", "jid_to_address", "parse_jid", "unescape_local"]

# XEP-0106 JID Escaping: characters a localpart cannot hold, and their codes.
_ESCAPES: Mapping[str, str] = {
    " ": "\\20",
    '"': "\\22",
    "&": "\\26",
    "'": "\\27",
    "/": "\\2f",
    ":": "\\3a",
    "<": "\\3c",
    ">": "\\3e",
    "@": "\\40",
}
_ESCAPE_CODES = frozenset({"20", "22", "26", "27", "2f", "3a", "3c", "3e", "40", "5c"})
_ESCAPED = re.compile(r"\\(20|22|26|27|2f|3a|3c|3e|40|5c)", re.IGNORECASE)


def escape_local(local: str) -> str:
    """
    Escape a local part for use in a JID (XEP-0106).

    @param local: An address's local part, e.g. C{o'brien}.
    @return: The JID localpart, e.g. C{o\\27brien}.
    """
    out: list[str] = []
    for index, char in enumerate(local):
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char == "\\" and local[index + 1 : index + 3].lower() in _ESCAPE_CODES:
            out.append("\\5c")
        else:
            out.append(char)
    return "".join(out)


def unescape_local(local: str) -> str:
    """
    Undo XEP-0106 escaping of a JID localpart.

    @param local: A JID localpart, e.g. C{o\\27brien}.
    @return: The address local part, e.g. C{o'brien}.
    """
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), local)


def parse_jid(value: object) -> _jid.JID | None:
    """
    Parse a JID received from a peer (stringprep applied, cached).

    @return: The JID, or C{None} if C{value} is not a valid JID of at most
        L{MAX_JID_CHARS} characters.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_JID_CHARS:
        return None
    return _parsed_jid(value)


# Stringprep is costly and the same few JIDs come back on every stanza.
@functools.lru_cache(maxsize=8192)
def _parsed_jid(value: str) -> _jid.JID | None:
    try:
        return _jid.JID(value)
    except Exception:  # InvalidFormat, UnicodeError, stringprep failures
        return None


def jid_to_address(value: object) -> Address | None:
    """
    The address of a JID's bare form.

    Never raises.

    @param value: A JID, bare or full, e.g. C{Juliet@capulet.example/balcony}.
    @return: C{juliet@capulet.example}, or C{None} if C{value} is not a valid
        JID with a local part whose domain is a DNS name.
    """
    parsed = parse_jid(value)
    if parsed is None or not parsed.user:
        return None
    try:
        return Address(unescape_local(parsed.user), parsed.host)
    except (InvalidAddress, ValueError):
        return None


def address_to_jid(address: Address) -> str:
    """
    The bare JID of an address (local part escaped per XEP-0106).
    """
    return f"{escape_local(address.local)}@{address.domain}"
