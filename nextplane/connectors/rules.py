# -*- test-case-name: tests.xmpp.test_connector -*-
"""
Each tenant's domain rules, kept at hand by the federation connectors so
they can refuse a blocked domain at connection level (stream or TLS) without
a store round trip. The router refuses blocked domains' events in any case;
this cache only closes the door earlier.

Reloaded periodically and at once on a revocation or a rule change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ..interfaces import IStore
from ..policy import domain_rule_for
from ..storage.records import DomainPolicy

__all__ = ["DomainRuleCache"]

log = Logger()


class DomainRuleCache:
    """
    The domain rules of C{tenants}, reloaded every C{interval} seconds and
    by L{refresh}.

    @param on_loaded: Called after each reload, e.g. to end connections of
        domains now blocked.
    """

    def __init__(
        self,
        store: IStore,
        tenants: Iterable[str],
        clock: IReactorTime,
        on_loaded: Callable[[], None],
        interval: float = 15.0,
    ) -> None:
        self._store = store
        self._tenants = tuple(tenants)
        self._on_loaded = on_loaded
        self._interval = interval
        self._rules: dict[str, list[DomainPolicy]] = {}
        self._loader = LoopingCall(self.refresh)
        self._loader.clock = clock
        self.in_flight: Deferred[None] | None = None

    def start(self) -> None:
        """
        Load now and then periodically.
        """
        self._loader.start(self._interval, now=True).addErrback(
            lambda f: log.failure("domain rule reloading stopped", f)
        )

    def stop(self) -> None:
        """
        Stop reloading (a reload under way finishes; see L{in_flight}).
        """
        if self._loader.running:
            self._loader.stop()

    def refresh(self) -> Deferred[None]:
        """
        Reload every tenant's rules, then call C{on_loaded}. Never fails
        (a failed load is logged and the old rules stay).
        """

        async def load() -> None:
            rules = {}
            for domain in self._tenants:
                rules[domain] = list(await self._store.list_domain_policies(domain))
            self._rules = rules
            self._on_loaded()

        d = Deferred.fromCoroutine(load())
        d.addErrback(lambda f: log.failure("loading domain rules failed", f))
        self.in_flight = d

        def done(result: None) -> None:
            if self.in_flight is d:
                self.in_flight = None

        d.addCallback(done)
        return d

    def refusal_reason(self, local: str, remote: str) -> str | None:
        """
        Why C{remote} may not federate with hub domain C{local}, if it may
        not.
        """
        refusal = domain_rule_for(self._rules.get(local, ()), local, remote)
        return refusal.reason if refusal is not None else None
