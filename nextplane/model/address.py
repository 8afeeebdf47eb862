# -*- test-case-name: tests.test_model -*-
"""
Email-style addresses and chat session identifiers.

Every participant the hub knows, whatever its platform, is named by an
L{Address} such as C{john@acme.test}: the tenant's (or remote server's) domain
plus a local part. Chat sessions between two addresses are named by a
L{ChatSessionId}.
"""

from __future__ import annotations

import functools
import re
import uuid

from attrs import field, frozen

__all__ = ["Address", "ChatSessionId", "InvalidAddress", "validate_domain"]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Local parts follow XMPP/SIP/email practice loosely: no whitespace, no '@',
# no '/', no control characters; at most 1023 bytes like an XMPP localpart.
_BAD_LOCAL = re.compile(r"[\s@/\x00-\x1f\x7f\"<>]")


class InvalidAddress(ValueError):
    """
    A string could not be read as an email-style address or domain.
    """


def validate_domain(domain: str) -> str:
    """
    Return C{domain} normalised to lower case, or raise L{InvalidAddress}.

    Accepts DNS host names (IDNA labels in ASCII form) of at most 253
    characters; a trailing dot is removed.
    """
    if not isinstance(domain, str):
        raise InvalidAddress(f"domain must be a string, not {type(domain).__name__}")
    return _normalised_domain(domain)


# Every address built checks its domain; a hub sees few distinct domains.
@functools.lru_cache(maxsize=4096)
def _normalised_domain(domain: str) -> str:
    candidate = domain.strip().rstrip(".").lower()
    try:
        candidate = candidate.encode("idna").decode("ascii")
    except UnicodeError as e:
        raise InvalidAddress(f"malformed domain {domain!r}") from e
    if not candidate or len(candidate) > 253:
        raise InvalidAddress(f"malformed domain {domain!r}")
    labels = candidate.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidAddress(f"malformed domain {domain!r}")
    if labels[-1].isdigit():
        raise InvalidAddress(f"malformed domain {domain!r}: top-level label is numeric")
    return candidate


def _check_local(instance: object, attribute: object, value: str) -> None:
    if not value or len(value.encode("utf-8")) > 1023 or _BAD_LOCAL.search(value):
        raise InvalidAddress(f"malformed local part {value!r}")


@frozen(order=True)
class Address:
    """
    An email-style address, C{local@domain}.

    The domain is kept in lower case; the local part keeps its case for
    display but compares case-insensitively through L{Address.key}.

    @ivar local: The part before C{@}.
    @ivar domain: The DNS domain after C{@}, normalised.
    """

    local: str = field(validator=_check_local)
    domain: str = field(converter=validate_domain)

    @classmethod
    def parse(cls, text: str) -> Address:
        """
        Parse C{local@domain}; C{sip:}/C{xmpp:}/C{mailto:} prefixes are
        accepted and dropped.

        @raise InvalidAddress: If C{text} is not such an address.
        """
        if not isinstance(text, str):
            raise InvalidAddress("address must be a string")
        value = text.strip()
        for scheme in ("sip:", "sips:", "xmpp:", "mailto:"):
            if value.lower().startswith(scheme):
                value = value[len(scheme) :]
                break
        local, sep, domain = value.rpartition("@")
        if not sep or not local:
            raise InvalidAddress(f"not an address: {text!r}")
        return cls(local, domain)

    @property
    def key(self) -> str:
        """
        The canonical lower-case form, used for storage and comparison.
        """
        return f"{self.local.lower()}@{self.domain}"

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"


@frozen(order=True)
class ChatSessionId:
    """
    Identifies one conversation between two addresses across platforms.
    """

    value: str = field()

    @value.validator
    def _check(self, attribute: object, value: str) -> None:
        if not value or len(value) > 128 or not value.isprintable():
            raise ValueError(f"malformed chat session id {value!r}")

    @classmethod
    def new(cls) -> ChatSessionId:
        """
        Make a fresh random identifier.
        """
        return cls(uuid.uuid4().hex)

    def __str__(self) -> str:
        return self.value
