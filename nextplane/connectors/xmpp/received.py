# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
What a received stanza means before its native message ids are mapped to
hub ids (L{Received}), and the XEP-0444 reaction-set arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from attrs import evolve, field, frozen
from twisted.words.xish.domish import Element

from nextplane.model.address import Address
from nextplane.model.events import (
    ContactDecline,
    ContactRemove,
    DeliveryError,
    Event,
    ReactionAdd,
    ReactionRemove,
    new_event_id,
)

from .jids import address_to_jid
from .replies import receipt_stanza

__all__ = [
    "NativeRef",
    "PendingEvent",
    "ReactionSet",
    "Receipt",
    "Received",
    "Resolver",
    "apply_reaction",
    "reaction_changes",
]


@frozen
class NativeRef:
    """
    A native XMPP message id that a received stanza involves.

    @ivar stanza_id: The id as received.
    @ivar new: C{True} for the id of the message this stanza creates (map it
        to a fresh hub id); C{False} for an earlier message it refers to.
    @ivar author: Who sent the message with that id, when the protocol says
        (for an edit or retraction, the sender; for an error, receipt or
        marker, the recipient, who sent the failed or acknowledged stanza);
        C{None} when it may be either party (reactions, replies).
    @ivar origin_id: For a new message, its XEP-0359 C{origin-id} when it
        differs from C{stanza_id}, an alias worth mapping too.
    """

    stanza_id: str
    new: bool
    author: Address | None = None
    origin_id: str | None = None


@frozen
class Receipt:
    """
    The recipient of an earlier message acknowledges it (XEP-0184
    C{<received/>}, or XEP-0333 C{<received/>}, C{<displayed/>},
    C{<acknowledged/>}).

    @ivar sender: Who acknowledges.
    @ivar recipient: Who sent the acknowledged message.
    @ivar message: Its native id.
    @ivar kind: C{received}, C{displayed} or C{acknowledged}.
    """

    sender: Address
    recipient: Address
    message: NativeRef
    kind: str


@frozen
class ReactionSet:
    """
    The complete set of a sender's reactions to one message (XEP-0444).

    @ivar message: The native id of the message reacted to.
    @ivar emojis: The reactions, at most L{MAX_REACTIONS}.
    """

    message: NativeRef
    emojis: frozenset[str]


@frozen
class PendingEvent:
    """
    An event whose id fields still hold native ids.

    @ivar refs: (field name, reference) pairs to resolve.
    """

    event: Event
    refs: tuple[tuple[str, NativeRef], ...] = ()


#: Maps a native id to a hub message id, or C{None} if unknown.
Resolver = Callable[[NativeRef], "str | None"]


@frozen(kw_only=True)
class Received:
    """
    What a received stanza means, before native ids are mapped.

    Call L{bind} to get the events.

    @ivar sender: The sender's address, if the stanza had a valid one.
    @ivar recipient: The recipient's address, if valid.
    @ivar sender_jid: The sender's full JID (normalised), where replies such
        as receipts and errors go.
    @ivar resource: The sender's resource, for presence aggregation.
    @ivar stanza_id: The stanza's C{id}, if any (at most L{MAX_ID_CHARS}).
    @ivar timestamp: When it was sent (XEP-0203 delay, else C{now}).
    @ivar refs: Every native id L{bind} will ask about, without repeats.
    @ivar receipt_request: The sender asked for a XEP-0184 receipt.
    @ivar receipt: An acknowledgement of an earlier message.
    @ivar reactions: The sender's new complete reaction set for a message.
    @ivar unsubscribed: The stanza was C{<presence type='unsubscribed'/>}.
    @ivar probe: The stanza was a presence probe: answer with the
        recipient's presence.
    @ivar error_reply: A stanza error to send back, if the stanza is refused.
    @ivar note: Why the stanza gave nothing, for logs (never content).
    """

    sender: Address | None = None
    recipient: Address | None = None
    sender_jid: str | None = None
    resource: str | None = None
    stanza_id: str | None = None
    timestamp: datetime | None = None
    refs: tuple[NativeRef, ...] = ()
    receipt_request: bool = False
    receipt: Receipt | None = None
    reactions: ReactionSet | None = None
    unsubscribed: bool = False
    probe: bool = False
    error_reply: Element | None = field(default=None, eq=False)
    note: str | None = None
    pending: tuple[PendingEvent, ...] = field(default=(), repr=False)

    def bind(
        self,
        resolve: Resolver | None = None,
        *,
        previous_reactions: Iterable[str] = (),
        request_pending: bool = False,
    ) -> tuple[Event, ...]:
        """
        The events, with native ids replaced by hub ids.

        @param resolve: Maps each of L{refs} to a hub message id, or C{None}
            if unknown. For a new message (C{ref.new}) the caller mints and
            records the id; C{None} makes this method mint one. An event
            referring to an unknown message is dropped (an edit, retraction
            or reaction); a reply keeps no C{reply_to}; an error keeps no
            C{message_id} and has C{original_event_id} C{"unknown"}.
        @param previous_reactions: The sender's reactions to
            C{reactions.message} before this stanza (state kept by the
            caller); only used when L{reactions} is set.
        @param request_pending: Whether the recipient had asked to become a
            contact of the sender and has no answer yet; only used when
            L{unsubscribed} is set: C{True} gives L{ContactDecline}, C{False}
            L{ContactRemove}.
        @return: The events, in order.
        """
        cache: dict[NativeRef, str | None] = {}

        def lookup(ref: NativeRef) -> str | None:
            if ref not in cache:
                value = resolve(ref) if resolve is not None else None
                cache[ref] = value if isinstance(value, str) and value else None
            return cache[ref]

        events: list[Event] = []
        for pending in self.pending:
            changes: dict[str, str | None] = {}
            keep = True
            for name, ref in pending.refs:
                value = lookup(ref)
                if value is not None:
                    changes[name] = value
                elif ref.new:
                    changes[name] = new_event_id()
                elif name == "reply_to":
                    changes[name] = None
                elif isinstance(pending.event, DeliveryError):
                    changes[name] = "unknown" if name == "original_event_id" else None
                else:
                    keep = False
            if keep:
                events.append(evolve(pending.event, **changes))  # type: ignore[arg-type]
        if self.sender is not None and self.recipient is not None and self.timestamp:
            common: dict[str, Any] = {
                "sender": self.sender,
                "recipient": self.recipient,
                "timestamp": self.timestamp,
            }
            if self.reactions is not None:
                message_id = lookup(self.reactions.message)
                if message_id is not None:
                    added, removed = reaction_changes(previous_reactions, self.reactions.emojis)
                    for emoji in added:
                        events.append(ReactionAdd(message_id=message_id, emoji=emoji, **common))
                    for emoji in removed:
                        events.append(ReactionRemove(message_id=message_id, emoji=emoji, **common))
            if self.unsubscribed:
                if request_pending:
                    events.append(ContactDecline(**common))
                else:
                    events.append(ContactRemove(**common))
        return tuple(events)

    def receipt_reply(self, stanza_id: str | None = None) -> Element | None:
        """
        The XEP-0184 C{<received/>} answering this stanza, if it asked for
        one. Send it once the message was accepted.

        @param stanza_id: An id for the receipt message itself, if wanted.
        """
        if not self.receipt_request or self.stanza_id is None:
            return None
        if self.recipient is None or self.sender_jid is None:
            return None
        return receipt_stanza(
            address_to_jid(self.recipient), self.sender_jid, self.stanza_id, stanza_id=stanza_id
        )


def reaction_changes(
    previous: Iterable[str], current: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """
    Compare two complete XEP-0444 reaction sets.

    @param previous: The sender's reactions to a message before.
    @param current: The sender's reactions to it now.
    @return: C{(added, removed)}, each sorted.
    """
    before, after = frozenset(previous), frozenset(current)
    return tuple(sorted(after - before)), tuple(sorted(before - after))


def apply_reaction(previous: Iterable[str], event: ReactionAdd | ReactionRemove) -> frozenset[str]:
    """
    A sender's reaction set after one reaction event.

    @param previous: The set before.
    @param event: The reaction added or removed.
    @return: The set after, which L{event_to_stanzas} sends.
    """
    before = frozenset(previous)
    if isinstance(event, ReactionAdd):
        return before | {event.emoji}
    return before - {event.emoji}
