# -*- test-case-name: tests.sip.test_connector -*-
"""
Hub addresses as SIP URIs and back.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from ...model.address import Address, InvalidAddress
from .uri import SipURI

__all__ = ["address_of", "address_uri", "user_part"]

#: Characters kept as they are in the user part of a SIP URI (RFC 3261
#: C{unreserved} and C{user-unreserved}).
_USER_SAFE = "-_.!~*'()&=+$,;?/"


def user_part(local: str) -> str:
    """
    A hub local part as the user part of a SIP URI (escaped).
    """
    return quote(local, safe=_USER_SAFE)


def address_uri(address: Address) -> str:
    """
    C{sip:local@domain}.
    """
    return f"sip:{user_part(address.local)}@{address.domain}"


def address_of(uri: object) -> Address:
    """
    The hub address of a SIP URI with a user part.

    @raise InvalidAddress: Not a SIP URI with user, or not a valid address.
    """
    if not isinstance(uri, SipURI) or not uri.user:
        raise InvalidAddress("not a SIP address of record")
    return Address(unquote(uri.user), uri.host)
