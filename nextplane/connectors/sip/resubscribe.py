# -*- test-case-name: tests.sip.test_connector -*-
"""
L{Resubscriptions}: subscribing again, later, with a doubling delay, while
the hub user still wants the SIP user's presence (a notifier that said
C{probation}, C{giveup}, or failed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from twisted.internet.interfaces import IDelayedCall

from ...model.address import Address
from ...storage.records import ContactDirection, ContactState
from .core import SipCore, cancel

__all__ = ["Resubscriptions", "still_wanted"]

_FIRST_DELAY = 60.0
_MAX_DELAY = 3600.0


async def still_wanted(core: SipCore, hub_user: Address, remote: Address) -> bool:
    """
    Whether C{hub_user} still wants C{remote}'s presence: an accepted
    contact, or their own request still pending.
    """
    record = await core.store.get_contact(hub_user, remote)
    if record is None:
        return False
    return record.state == ContactState.ACCEPTED or (
        record.state == ContactState.PENDING and record.direction == ContactDirection.OUTBOUND
    )


class Resubscriptions:
    """
    Pending re-subscriptions per C{(hub user key, SIP user key)}.
    """

    def __init__(
        self, core: SipCore, subscribe: Callable[[Address, Address], Awaitable[None]]
    ) -> None:
        """
        @param subscribe: Subscribes quietly (logs a failure and calls
            L{later} again).
        """
        self._core = core
        self._subscribe = subscribe
        self._pending: dict[tuple[str, str], tuple[IDelayedCall, float]] = {}

    def later(self, hub_user: Address, remote: Address) -> None:
        """
        Subscribe again after the next delay (doubling, at most an hour).
        """
        key = (hub_user.key, remote.key)
        if not self._core.running:
            return
        previous = self._pending.get(key)
        delay = min(previous[1] * 2 if previous else _FIRST_DELAY, _MAX_DELAY)
        if previous:
            cancel(previous[0])

        def again() -> None:
            self._pending.pop(key, None)

            async def attempt() -> None:
                if await still_wanted(self._core, hub_user, remote):
                    await self._subscribe(hub_user, remote)
                    if key in self._pending:
                        call, _ = self._pending[key]
                        self._pending[key] = (call, delay)

            self._core.background(attempt(), "subscribing again")

        self._pending[key] = (self._core.clock.callLater(delay, again), delay)

    def cancel(self, key: tuple[str, str]) -> None:
        """
        Cancel a pending re-subscription of the key.
        """
        previous = self._pending.pop(key, None)
        if previous is not None:
            cancel(previous[0])

    def stop(self) -> None:
        """
        Cancel every pending re-subscription.
        """
        for call, _ in self._pending.values():
            cancel(call)
        self._pending.clear()
