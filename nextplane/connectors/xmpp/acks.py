# -*- test-case-name: tests.xmpp.test_acks -*-
"""
Stream management acknowledgements (XEP-0198) on the hub's outbound s2s
streams: what "sent" means.

A stanza written to a TCP connection is not yet delivered: the peer may
hang or die before it reads it, and the bytes vanish with its socket.
Where the peer offers stream management after authentication (Prosody
does on s2s, with C{smacks_enabled_s2s} on by default; ejabberd 23.01
does not), the outbound stream enables it, without resumption, and a
stanza counts as delivered only once the peer's C{<a h='...'/>} covers
it. If the stream ends first, the stanzas it did not confirm fail with
C{remote-server-timeout} and their senders are told. They are not sent
again: the peer may have acted on some of them just before it died (an
ambiguous failure), and a second copy would be a duplicate.

L{AckQueue} only counts (sans-IO): the stream writes the elements built
here and keeps the one acknowledgement request in flight (L{AckQueue.
request_due}).
"""

from __future__ import annotations

import re
from collections import deque

from twisted.internet.defer import Deferred
from twisted.words.xish import domish

__all__ = [
    "NS_SM",
    "AckQueue",
    "answer",
    "enable",
    "offered",
    "parse_h",
    "request",
]

#: XEP-0198 version 3; Prosody also offers C{urn:xmpp:sm:2}, not used.
NS_SM = "urn:xmpp:sm:3"
#: C{h} counts modulo 2^32 (XEP-0198 section 5).
_WRAP = 2**32


class AckQueue:
    """
    The stanzas sent on one stream and not yet acknowledged, in order.

    @ivar requested: Whether an C{<r/>} is in flight (one at a time: the
        next goes out when its answer leaves stanzas unconfirmed, so a
        burst costs a request per round trip, not per stanza).
    """

    def __init__(self) -> None:
        self._acked = 0
        self._waiting: deque[Deferred[None]] = deque()
        self.requested = False

    @property
    def unacked(self) -> int:
        """How many stanzas wait for the peer's confirmation."""
        return len(self._waiting)

    def sent(self) -> Deferred[None]:
        """
        Count one stanza written to the stream.

        @return: Fires once the peer confirms it; fails as L{fail} says.
        """
        d: Deferred[None] = Deferred()
        self._waiting.append(d)
        return d

    def request_due(self) -> bool:
        """
        Whether to send an C{<r/>} now (then marked as in flight).
        """
        if self.requested or not self._waiting:
            return False
        self.requested = True
        return True

    def acknowledge(self, h: int) -> None:
        """
        The peer handled C{h} stanzas in all: confirm those not yet
        confirmed.

        @raise ValueError: C{h} counts more stanzas than were sent.
        """
        count = (h - self._acked) % _WRAP
        if count > len(self._waiting):
            raise ValueError(
                f"acknowledged {count} stanzas, but {len(self._waiting)} were unconfirmed"
            )
        self._acked = h % _WRAP
        self.requested = False
        for _ in range(count):
            d = self._waiting.popleft()
            if not d.called:  # the caller may have given up waiting
                d.callback(None)

    def fail(self, error: Exception) -> None:
        """
        The stream ended: every unconfirmed stanza fails with C{error}.
        """
        waiting, self._waiting = self._waiting, deque()
        self.requested = False
        for d in waiting:
            if not d.called:
                d.errback(error)


def offered(features: domish.Element) -> bool:
    """
    Whether C{<stream:features/>} offer stream management (version 3).
    """
    return any(True for _ in features.elements(NS_SM, "sm"))


def enable() -> domish.Element:
    """C{<enable/>}, without resumption (XEP-0198 section 3)."""
    return domish.Element((NS_SM, "enable"))


def request() -> domish.Element:
    """C{<r/>}: ask the peer how many stanzas it handled."""
    return domish.Element((NS_SM, "r"))


def answer(handled: int) -> domish.Element:
    """C{<a h='...'/>}: how many stanzas we handled on this stream."""
    element = domish.Element((NS_SM, "a"))
    element["h"] = str(handled % _WRAP)
    return element


def parse_h(element: domish.Element) -> int:
    """
    The C{h} of an C{<a/>}.

    @raise ValueError: Missing or not an unsigned 32-bit integer.
    """
    text = element.getAttribute("h") or ""
    if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) >= _WRAP:
        raise ValueError(f"bad h {text[:20]!r}")
    return int(text)
