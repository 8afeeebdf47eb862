"""
Accounting for the crash suite: what became of every message of one leg
(Slack -> XMPP, XMPP -> Slack, SIP -> Slack), as seen from outside the hub.

Each message carries the suite's marker and its sequence number in its
text (L{text}, L{sequence}). For each leg the driver records what was sent,
which messages the hub accepted (the leg's own signal: a Slack webhook
acknowledged, a SIP 2xx, an XMPP work record or answer), each arrival at
the destination and each "not delivered" notice that reached the sender.
L{Leg.figures} then sorts every message into one outcome:

  - delivered: arrived once, no notice;
  - told: no arrival, its sender was told;
  - ambiguous: arrived and told (under way at the kill: the platform took
    it, the hub had not recorded that yet); reported, not a failure;
  - duplicated: arrived more than once: must be 0;
  - lost: accepted, yet neither arrived nor told: must be 0;
  - unaccepted: never accepted and never arrived: its sender saw no
    success, so nothing is owed (Slack gave up retrying, SIP got an error
    or no answer, an XMPP stanza the hub never read);
  - early_success: the sender was told of success (XMPP receipt, SIP 200)
    for a message that never arrived: must be 0.

SIP notices name a conversation, not a message (time and conversation,
never content), so they are matched by count per conversation
(L{Leg.notices_in}).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from attrs import define, field

__all__ = ["MARKER", "Leg", "sequence", "text"]

#: In every message text; must never reach the hub's files or logs.
MARKER = "zq-crash-marker-5183"

_SEQUENCE = re.compile(re.escape(MARKER) + r" ([a-z]+)(\d+)")


def text(leg: str, number: int) -> str:
    """
    The text of message C{number} of C{leg} (letters and digits, kept
    as they are by every platform's formatting).
    """
    return f"{MARKER} {leg}{number} says hello"


def sequence(leg: str, found: str) -> int | None:
    """
    The number of the C{leg} message whose text is in C{found}, or C{None}.
    """
    match = _SEQUENCE.search(found)
    if match is None or match.group(1) != leg:
        return None
    return int(match.group(2))


@define
class Leg:
    """
    One direction's messages and what became of them.

    @ivar name: E.g. C{"slack->xmpp"}.
    @ivar sent: Numbers sent.
    @ivar accepted: Numbers the hub accepted (the leg's signal).
    @ivar arrivals: How often each number arrived.
    @ivar told: Numbers whose sender got a notice naming that message.
    @ivar succeeded: Numbers whose sender was told of success (receipt, 200).
    @ivar conversation: The conversation of each number (for L{told_in}).
    """

    name: str
    sent: set[int] = field(factory=set)
    accepted: set[int] = field(factory=set)
    arrivals: Counter[int] = field(factory=Counter)
    told: set[int] = field(factory=set)
    succeeded: set[int] = field(factory=set)
    conversation: dict[int, str] = field(factory=dict)
    _notices: Counter[str] = field(factory=Counter)

    def arrived(self, number: int | None) -> None:
        """
        Count an arrival (C{None}: not one of this leg's messages).
        """
        if number is not None:
            self.arrivals[number] += 1

    def notices_in(self, conversations: Iterable[str]) -> None:
        """
        The notices that name only their conversation (one item each, all
        received so far).
        """
        self._notices = Counter(conversations)

    def _matched_notices(self) -> tuple[set[int], int]:
        """
        Conversation notices matched to messages: the accepted ones that did
        not arrive first, the rest are notices for messages that arrived.
        """
        told: set[int] = set()
        extra = 0
        pending: defaultdict[str, list[int]] = defaultdict(list)
        for number in sorted(self.accepted - set(self.arrivals)):
            pending[self.conversation.get(number, "")].append(number)
        for conversation, count in self._notices.items():
            waiting = pending.get(conversation, [])
            told.update(waiting[:count])
            extra += max(0, count - len(waiting))
        return told, extra

    def figures(self) -> dict[str, int]:
        """
        Counts by outcome; see the module docstring.
        """
        arrived = set(self.arrivals)
        matched, extra = self._matched_notices()
        told = self.told | matched
        owed = self.accepted - arrived
        return {
            "sent": len(self.sent),
            "accepted": len(self.accepted),
            "delivered": len(arrived - told),
            "told": len(told - arrived),
            "ambiguous": len(told & arrived) + extra,
            "duplicated": sum(1 for count in self.arrivals.values() if count > 1),
            "lost": len(owed - told),
            "unaccepted": len(self.sent - self.accepted - arrived - told),
            "early_success": len(self.succeeded - arrived),
            "strays": len(arrived - self.sent),
        }
