# -*- test-case-name: tests.platform.test_ratelimit -*-
"""
Rate limits of a platform's API as a sans-IO scheduler.

Platforms publish limits as "N calls per T seconds", often several at once
and per conversation: Teams allows a bot 7 sends per second, 8 per 2 s,
60 per 30 s and 1800 per hour in one conversation; Slack one
C{chat.postMessage} per second per channel and per-minute tiers per
method. A L{Limit} says, for one API method, which L{Window}s apply to the
whole token (C{overall}) and which to each conversation (C{per_key}).

L{RateLimiter} is given the time and answers how long a call must wait;
the caller (L{nextplane.connectors.platform.httpapi.Caller}) does the
waiting on an injected clock. Three more facts come from the platform's
answers:
  - L{RateLimiter.answered}: the platform counts a call when it arrives,
    some time after it was let go; the conversation's pace restarts from the
    answer, so the next call cannot arrive early.
  - L{RateLimiter.block}: a 429's C{Retry-After} holds the method back (or
    only the conversation, for per-conversation limits).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping

from attrs import frozen

__all__ = ["Limit", "RateLimiter", "Window"]


@frozen
class Window:
    """
    At most C{calls} calls in any C{seconds} seconds.
    """

    calls: int
    seconds: float


@frozen
class Limit:
    """
    The windows of one API method.

    @ivar overall: Windows shared by every call of the method.
    @ivar per_key: Windows of each conversation (key) separately; a 429 for
        such a method blocks only the conversation.
    """

    overall: tuple[Window, ...] = ()
    per_key: tuple[Window, ...] = ()


_Slot = tuple[str, Hashable, int]


class RateLimiter:
    """
    Decides when each call may start; see the module docstring. One limiter
    serves one token (one installation).
    """

    def __init__(
        self, limits: Mapping[str, Limit], default: Limit = Limit(), max_keys: int = 4096
    ) -> None:
        """
        @param limits: Each method's limit; others get C{default}.
        @param max_keys: Conversations tracked before idle ones are dropped.
        """
        self._limits = dict(limits)
        self._default = default
        self._max_keys = max_keys
        self._calls: dict[_Slot, deque[float]] = {}
        self._blocked_method: dict[str, float] = {}
        self._blocked_key: dict[tuple[str, Hashable], float] = {}

    def limit_of(self, method: str) -> Limit:
        """
        The L{Limit} that applies to C{method}.
        """
        return self._limits.get(method, self._default)

    def tracked(self) -> int:
        """
        How many per-conversation windows are remembered (bounded).
        """
        return sum(1 for slot in self._calls if slot[1] is not None)

    def _slots(self, method: str, key: Hashable | None) -> list[tuple[_Slot, Window]]:
        limit = self.limit_of(method)
        slots: list[tuple[_Slot, Window]] = [
            ((method, None, i), w) for i, w in enumerate(limit.overall)
        ]
        if key is not None:
            slots += [((method, key, i), w) for i, w in enumerate(limit.per_key)]
        return slots

    def delay(self, method: str, key: Hashable | None, now: float) -> float:
        """
        How long C{method} (in conversation C{key}) must wait before it may
        start.

        @return: C{0.0} when the call may start now; it is then counted.
            Otherwise the seconds to wait before asking again; nothing is
            counted.
        """
        wait = self._blocked_method.get(method, 0.0) - now
        per_key = key is not None and bool(self.limit_of(method).per_key)
        if per_key:
            wait = max(wait, self._blocked_key.get((method, key), 0.0) - now)
        slots = self._slots(method, key)
        for slot, window in slots:
            calls = self._calls.get(slot)
            if calls is None:
                continue
            while calls and calls[0] <= now - window.seconds:
                calls.popleft()
            if len(calls) >= window.calls:
                wait = max(wait, calls[0] + window.seconds - now)
        if wait > 0:
            return wait
        for slot, window in slots:
            calls = self._calls.get(slot)
            if calls is None:
                calls = self._calls[slot] = deque(maxlen=window.calls)
            calls.append(now)
        if per_key and len(self._calls) > self._max_keys:
            self._prune(now)
        return 0.0

    def answered(self, method: str, key: Hashable | None, now: float) -> None:
        """
        Restart C{key}'s pace for C{method} from the platform's answer.
        """
        if key is None:
            return
        for index in range(len(self.limit_of(method).per_key)):
            calls = self._calls.get((method, key, index))
            if calls:
                calls[-1] = max(calls[-1], now)

    def block(self, method: str, key: Hashable | None, until: float) -> None:
        """
        Hold C{method} back until C{until} after a 429; for a method limited
        per conversation, only conversation C{key} is held.
        """
        if key is not None and self.limit_of(method).per_key:
            slot = (method, key)
            self._blocked_key[slot] = max(self._blocked_key.get(slot, 0.0), until)
        else:
            self._blocked_method[method] = max(self._blocked_method.get(method, 0.0), until)

    def _prune(self, now: float) -> None:
        # Windows whose newest call has left them hold no information.
        longest = {
            m: max((w.seconds for w in lim.per_key), default=0.0) for m, lim in self._limits.items()
        }
        fallback = max((w.seconds for w in self._default.per_key), default=0.0)
        self._calls = {
            slot: calls
            for slot, calls in self._calls.items()
            if slot[1] is None or (calls and calls[-1] > now - longest.get(slot[0], fallback))
        }
        self._blocked_key = {k: t for k, t in self._blocked_key.items() if t > now}
