# -*- test-case-name: tests.xmpp.test_connector -*-
"""
vCard requests (XEP-0054) this hub sent on behalf of its users, waiting for
their answers: each is answered by the remote server's result or error, or
given up after L{PROFILE_TIMEOUT} seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.words.xish.domish import Element

from nextplane.model.address import Address
from nextplane.model.events import new_event_id
from nextplane.model.profile import Profile

from .jids import address_to_jid
from .vcard import parse_vcard_result, vcard_request

__all__ = ["PROFILE_TIMEOUT", "VCardQueries"]

#: Seconds to wait for a remote vCard.
PROFILE_TIMEOUT = 10.0


class VCardQueries:
    """
    The vCard requests in flight, by stanza id.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._waiting: dict[str, Deferred[Profile | None]] = {}

    def ask(
        self, send: Callable[[Element], Deferred[Any]], requester: Address, address: Address
    ) -> Deferred[Profile | None]:
        """
        Send a vCard request for C{address} from hub user C{requester}
        through C{send}; fires with the profile, or C{None} on an error or
        after L{PROFILE_TIMEOUT} seconds. Never fails.
        """
        stanza_id = new_event_id()
        answer: Deferred[Profile | None] = Deferred()
        self._waiting[stanza_id] = answer

        def give_up() -> None:
            if self._waiting.pop(stanza_id, None) is answer:
                answer.callback(None)

        timer = self._clock.callLater(PROFILE_TIMEOUT, give_up)

        def settled(result: Profile | None) -> Profile | None:
            if timer.active():
                timer.cancel()
            return result

        request = vcard_request(address_to_jid(requester), address_to_jid(address), stanza_id)
        send(request).addErrback(lambda f: give_up())
        return answer.addCallback(settled)

    def answered(self, element: Element) -> bool:
        """
        Whether C{element} answers one of our requests (then it is taken).
        """
        if element.getAttribute("type") not in ("result", "error"):
            return False
        waiting = self._waiting.pop(element.getAttribute("id") or "", None)
        if waiting is None:
            return False
        waiting.callback(parse_vcard_result(element))
        return True
