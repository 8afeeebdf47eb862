# -*- test-case-name: tests.xmpp.test_inbound_acks -*-
"""
Stream management (XEP-0198) on the s2s streams the hub receives: telling
the sending server which of its stanzas the hub has made safe.

Prosody 0.12 (C{mod_smacks}, C{smacks_enabled_s2s} on by default) enables
stream management on an outgoing s2s stream when the receiving server
offers it after authentication, and when that stream dies it bounces every
stanza not acknowledged (C{recipient-unavailable}) to its sender. Without
it, stanzas Prosody wrote that the hub never read (a C{kill -9}, a crash)
are lost without anyone being told. Prosody asks only after a stream
restart, that is after SASL EXTERNAL: a dialback stream is authenticated
without new features, so it never gets stream management (Prosody itself
offers C{<sm/>} on s2s only to authenticated streams). ejabberd 23.01 has
none on s2s and ignores the feature.

The count C{h} covers a stanza once its handling is durable (see
L{Intake}): a chat message once its work record is claimed
(L{nextplane.connectors.xmpp.inbound_work.claim}) or once it was refused
or answered; any other stanza once handled. C{h} advances in stanza order
(L{HandledCount}): a later stanza made safe first waits for the earlier
ones, so C{h} never covers a stanza the hub could still lose. Whenever
C{h} advances, an unsolicited C{<a/>} goes out at once (XEP-0198 section
4 allows them), before the stanza is routed on. Waiting for Prosody's
next C{<r/>} would leave stanzas the hub already recorded unconfirmed for
a round trip, and Prosody would bounce them if the hub died meanwhile
(its sender told "not delivered" of a message that arrives). An C{<r/>}
is answered at once when every stanza is covered, else by that C{<a/>}.
An C{<a/>} also goes out when the stream closes. Resumption is not
offered. A stanza whose work record could not be written ends the stream
(C{internal-server-error}): the sender then bounces it and whatever
followed, rather than the hub acknowledging past it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from attrs import frozen
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.words.xish import domish

from . import acks
from .stream_parser import StreamError

__all__ = ["MAX_UNCONFIRMED", "HandledCount", "InboundStreamManagement", "Intake", "intake_of"]

#: Stanzas past C{h} (received, not yet covered) one stream may have: a
#: stream that holds more is ended (C{resource-constraint}) rather than
#: remembered without bound. Backpressure stops reading far earlier.
MAX_UNCONFIRMED = 10_000

_log = Logger(namespace="nextplane.xmpp.s2s")


@frozen
class Intake:
    """
    What the hub made of one inbound stanza.

    @ivar handled: Fires once the hub is done with it (the stream's
        backpressure counts it until then); L{None}: already done.
    @ivar durable: Fires with C{True} once its handling survives a crash
        (a work record claimed, an answer sent, or handled), with C{False}
        if that failed; L{None}: durable already.
    """

    handled: Deferred[object] | None
    durable: Deferred[bool] | None


def intake_of(result: object) -> Intake:
    """
    The L{Intake} of an C{on_stanza} result: an L{Intake}, or a
    L{Deferred} firing once the stanza was handled (then durable too), or
    anything else for a stanza handled at once.
    """
    if isinstance(result, Intake):
        return result
    if not isinstance(result, Deferred) or result.called:
        return Intake(None, None)
    durable: Deferred[bool] = Deferred()

    def handled(value: object) -> object:
        durable.callback(True)
        return value

    result.addBoth(handled)
    return Intake(result, durable)


class HandledCount:
    """
    C{h} of one stream (sans-IO): the stanzas received, counted in order
    as each one's handling becomes durable.

    Only the stanzas past C{h} are remembered (a flag each), at most
    C{limit}; positions and C{h} wrap at 2^32 (XEP-0198 section 5).
    """

    def __init__(self, limit: int = MAX_UNCONFIRMED) -> None:
        self._h = 0
        self._limit = limit
        #: Whether each stanza past C{h} is durable, oldest first.
        self._past_h: deque[bool] = deque()

    @property
    def h(self) -> int:
        """The stanzas covered, modulo 2^32."""
        return self._h

    @property
    def unconfirmed(self) -> int:
        """Stanzas received and not yet covered by C{h}."""
        return len(self._past_h)

    def received(self) -> int:
        """
        Count one stanza received.

        @return: Its position, for L{done}.
        @raise OverflowError: Over C{limit} stanzas wait.
        """
        if len(self._past_h) >= self._limit:
            raise OverflowError(f"{len(self._past_h)} stanzas unconfirmed")
        position = (self._h + len(self._past_h)) % acks.WRAP
        self._past_h.append(False)
        return position

    def done(self, position: int) -> bool:
        """
        The stanza at C{position} is durable; C{h} covers it once every
        earlier one is too.

        @return: Whether C{h} advanced.
        """
        index = (position - self._h) % acks.WRAP
        if index >= len(self._past_h):
            return False  # already covered: a second report
        self._past_h[index] = True
        advanced = False
        while self._past_h and self._past_h[0]:
            self._past_h.popleft()
            self._h = (self._h + 1) % acks.WRAP
            advanced = True
        return advanced


class InboundStreamManagement:
    """
    The receiving half of XEP-0198 for one inbound stream: answers
    C{<enable/>} and C{<r/>}, counts stanzas (L{track}).

    @ivar count: C{h}, once the peer enabled stream management.
    """

    def __init__(
        self,
        send: Callable[[domish.Element], object],
        fail: Callable[[StreamError], object],
        describe: Callable[[], str],
    ) -> None:
        """
        @param send: Writes an element to the stream.
        @param fail: Ends the stream with a stream error.
        @param describe: Names the stream, for logs.
        """
        self._send = send
        self._fail = fail
        self._describe = describe
        self.count: HandledCount | None = None

    def element_received(self, element: domish.Element, authenticated: bool) -> None:
        """
        Handle an element in the stream management namespace.

        @param authenticated: Whether the stream is authenticated (only
            then may stream management be enabled).
        @raise StreamError: Not an element a sending server sends.
        """
        name = element.name
        if name == "enable":
            self._on_enable(authenticated)
        elif name == "r":
            # Before <enable/>: ignored, as Prosody does. With stanzas not
            # yet covered, the <a/> that follows their covering answers
            # (an answer now would only make a peer that asks again on
            # each partial answer, as ours does, ask in a loop).
            if self.count is not None and self.count.unconfirmed == 0:
                self._send(acks.answer(self.count.h))
        elif name != "a":  # we never ask, but an <a/> is harmless
            raise StreamError("unsupported-stanza-type", f"unexpected stream management <{name}/>")

    def _on_enable(self, authenticated: bool) -> None:
        if self.count is not None or not authenticated:
            self._send(acks.failed("unexpected-request"))
            return
        self.count = HandledCount()
        self._send(acks.enabled())
        _log.info(
            "Stream management enabled on inbound s2s stream {stream}",
            stream=self._describe(),
        )

    def track(self, durable: Deferred[bool] | None) -> None:
        """
        Count a stanza received (answered, refused or handed over), durable
        once C{durable} fires (L{None}: now).

        @raise StreamError: C{resource-constraint}: too many unconfirmed.
        """
        count = self.count
        if count is None:
            return
        try:
            position = count.received()
        except OverflowError:
            raise StreamError("resource-constraint", "too many stanzas unconfirmed") from None
        if durable is None:
            self._done(count, position, True)
            return
        durable.addCallback(lambda ok: self._done(count, position, ok))
        durable.addErrback(lambda f: _log.failure("durability check failed", f))

    def _done(self, count: HandledCount, position: int, ok: bool) -> None:
        if count is not self.count:
            return  # the stream is gone
        if not ok:
            self._fail(StreamError("internal-server-error", "a stanza could not be recorded"))
            return
        if count.done(position):
            self._send(acks.answer(count.h))

    def closing(self) -> None:
        """
        The stream is about to close: tell the peer what is covered.
        """
        if self.count is not None:
            self._send(acks.answer(self.count.h))

    def lost(self) -> None:
        """
        The connection is gone: stanzas still pending count no more.
        """
        self.count = None
