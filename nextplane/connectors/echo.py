# -*- test-case-name: tests.test_echo -*-
"""
A built-in diagnostic platform: every user of an echo tenant answers back.

An operator binds a tenant (say C{echo.example.com}) to the C{echo}
platform and can then test federation end to end from any XMPP or SIP
client: a contact request to C{anyone@echo.example.com} is accepted at
once, and each message comes back unchanged (optionally prefixed). Nothing
is stored; replies go through the router like any other event, so policy,
metadata and delivery errors apply to them too.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen
from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..config import Section
from ..interfaces import DeliveryFailed, IConnector, IEventSink
from ..model.events import (
    Availability,
    ContactAccept,
    ContactRequest,
    Event,
    Presence,
    TextMessage,
)
from ..model.text import RichText, Text
from .base import ConnectorContext, ConnectorEntry

__all__ = ["ENTRY", "EchoConfig", "EchoConnector", "build", "parse_config"]

log = Logger()


@frozen
class EchoConfig:
    """
    C{[connectors.echo]}.

    @ivar reply_prefix: Put before each echoed message (may be empty).
    @ivar auto_accept: Accept contact requests at once.
    """

    reply_prefix: str = ""
    auto_accept: bool = True


def parse_config(section: Section) -> EchoConfig:
    """
    Validate C{[connectors.echo]}.
    """
    return EchoConfig(
        reply_prefix=section.string("reply_prefix", "", allow_empty=True),
        auto_accept=section.boolean("auto_accept", True),
    )


@implementer(IConnector)
class EchoConnector(Service):
    """
    Serves echo tenants; see the module docstring.
    """

    connector_name = "echo"
    role = "platform"

    def __init__(
        self,
        sink: IEventSink,
        clock: IReactorTime,
        echo_domains: frozenset[str],
        config: EchoConfig,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._echo_domains = echo_domains
        self._config = config
        self._in_flight: set[Deferred[None]] = set()
        self.replies = 0

    def deliver(self, event: Event) -> Deferred[None]:
        """
        Accept C{event}; schedule the echo answer, if any, after returning.
        """
        if not self.running:
            return fail(DeliveryFailed("service-unavailable", "the echo connector is stopped"))
        if event.sender.domain not in self._echo_domains:
            answers = self._answers(event)
            if answers:
                # Answer after this delivery is acknowledged, never inside it.
                answering = Deferred.fromCoroutine(self._answer_later(answers))
                self._in_flight.add(answering)
                answering.addBoth(self._done, answering)
        return succeed(None)

    def _done(self, result: Any, answering: Deferred[None]) -> None:
        self._in_flight.discard(answering)
        if isinstance(result, Failure):
            log.failure("echo answer failed", result)

    def drain(self) -> Deferred[None]:
        """
        Fires once every answer scheduled so far has been routed.
        """
        pending = list(self._in_flight)
        return DeferredList(pending).addCallback(lambda _: None)  # type: ignore[arg-type]

    def stopService(self) -> Deferred[None]:
        """
        Stop taking deliveries; wait for answers already under way.
        """
        Service.stopService(self)
        return self.drain()

    def _answers(self, event: Event) -> list[Event]:
        me, them = event.recipient, event.sender
        if isinstance(event, TextMessage):
            body = event.body
            if self._config.reply_prefix:
                body = RichText((Text(self._config.reply_prefix), *body.nodes))
            return [TextMessage(sender=me, recipient=them, body=body, reply_to=event.message_id)]
        if isinstance(event, ContactRequest) and self._config.auto_accept:
            return [
                ContactAccept(sender=me, recipient=them),
                Presence(
                    sender=me,
                    recipient=them,
                    availability=Availability.AVAILABLE,
                    status="echoing",
                ),
            ]
        return []

    async def _answer_later(self, answers: list[Event]) -> None:
        await deferLater(self._clock, 0)
        for answer in answers:
            outcome = await self._sink.route(answer)
            if outcome.delivered:
                self.replies += 1

    def health(self) -> dict[str, Any]:
        """
        State and how many answers were delivered.
        """
        return {
            "state": "ok" if self.running else "stopped",
            "domains": sorted(self._echo_domains),
            "replies": self.replies,
        }


def build(context: ConnectorContext, config: EchoConfig) -> EchoConnector:
    """
    Build the echo connector for every tenant whose platform is C{echo}.
    """
    domains = frozenset(t.domain for t in context.config.tenants if t.platform == "echo")
    return EchoConnector(context.sink, context.reactor, domains, config)


ENTRY = ConnectorEntry(
    name="echo",
    role="platform",
    parse_config=parse_config,
    build=build,
    summary="Diagnostic platform: echo tenants accept every request and echo messages.",
)
