"""
Shared set-up and steps of the hub-against-real-servers tests.

A L{Scenario} is one test's world: the L{InteropEnvironment}, one real
server (Prosody or ejabberd) with a logged-in slixmpp client, and the hub
(C{hub.test}) whose user C{bob} talks to that client.  The steps are the
conversation primitives the tests repeat in both directions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
from nextplane.model.events import Event, TextMessage
from nextplane.model.text import RichText
from tests.interop.harness.ejabberd import EjabberdServer
from tests.interop.harness.env import InteropEnvironment
from tests.interop.harness.hub import HubUnderTest, wait_for_contact_state
from tests.interop.harness.prosody import ProsodyServer
from tests.interop.harness.xmppclient import ReceivedMessage, XmppTestClient

__all__ = [
    "NS_CHATSTATES",
    "NS_CORRECT",
    "NS_REACTIONS",
    "Scenario",
    "ejabberd_scenario",
    "prosody_scenario",
]

NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_CORRECT = "urn:xmpp:message-correct:0"
NS_REACTIONS = "urn:xmpp:reactions:0"

#: The hub user in every scenario.
HUB_USER = "bob"
PASSWORD = "pw-interop"


@dataclass
class Scenario:
    """
    One test's peers.

    @ivar env: the environment (DNS, certificates, cleanups).
    @ivar server: the real XMPP server.
    @ivar hub: the hub under test.
    @ivar client: the slixmpp client on C{server}.
    @ivar testcase: the running test.
    """

    env: InteropEnvironment
    server: ProsodyServer | EjabberdServer
    hub: HubUnderTest
    client: XmppTestClient
    testcase: TestCase

    @property
    def remote_jid(self) -> str:
        """The client's bare JID."""
        return self.client.jid

    @property
    def remote(self) -> Address:
        """The client's address, as the hub sees it."""
        return Address.parse(self.client.jid)

    @property
    def hub_jid(self) -> str:
        """The hub user's bare JID."""
        return f"{HUB_USER}@{self.hub.domain}"

    @property
    def hub_user(self) -> Address:
        """The hub user's address."""
        return self.hub.address(HUB_USER)

    def check(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        """
        C{d}, failing with every log attached if it fails.

        @param d: what the test waits for.
        @return: C{d}.
        """
        return self.env.with_diagnostics(d)

    # -- remote client -> hub user ------------------------------------------

    @defer.inlineCallbacks
    def client_says(
        self,
        body: str,
        *,
        id: str | None = None,
        plain: str | None = None,
        timeout: float = 20.0,
    ) -> Any:
        """
        The client sends C{body} to the hub user, who must receive it.

        @param body: the text.
        @param id: the stanza id.
        @param plain: the plain text the hub user must get (default: C{body}).
        @param timeout: seconds.
        @return: a Deferred firing with the L{TextMessage} the hub user got.
        """
        expected = body if plain is None else plain
        yield self.client.send_message(self.hub_jid, body, id=id)
        event = yield self.check(
            self.hub.wait_for_event(
                lambda e: isinstance(e, TextMessage) and e.body.plain_text() == expected,
                kind="message",
                timeout=timeout,
            )
        )
        self.testcase.assertEqual(event.sender, self.remote)
        self.testcase.assertEqual(event.recipient, self.hub_user)
        return event

    # -- hub user -> remote client ------------------------------------------

    @defer.inlineCallbacks
    def hub_sends(self, event: Event) -> Any:
        """
        Route C{event} from the hub user; it must be delivered.

        @param event: the event.
        @return: a Deferred firing with the router's outcome.
        """
        outcome = yield self.hub.inject(event)
        if not outcome.delivered:
            raise AssertionError(
                f"the hub did not deliver {event!r}: {outcome.condition} {outcome.reason}"
                f"\n\n{self.env.diagnostics()}"
            )
        return outcome

    @defer.inlineCallbacks
    def hub_says(self, body: str, *, timeout: float = 20.0) -> Any:
        """
        The hub user sends C{body}; the client must receive it.

        @param body: the text.
        @param timeout: seconds.
        @return: a Deferred firing with C{(TextMessage, ReceivedMessage)}.
        """
        message = TextMessage(
            sender=self.hub_user, recipient=self.remote, body=RichText.plain(body)
        )
        yield self.hub_sends(message)
        received = yield self.check(
            self.client.wait_for_message(body=body, sender=self.hub_jid, timeout=timeout)
        )
        self.testcase.assertEqual(received.type, "chat")
        return message, received

    def client_gets(
        self, predicate: Callable[[ReceivedMessage], bool], timeout: float = 20.0
    ) -> defer.Deferred[ReceivedMessage]:
        """
        Wait for a message from the hub user matching C{predicate}.

        @param predicate: test on a L{ReceivedMessage}.
        @param timeout: seconds.
        @return: fires with the message.
        """
        return self.check(
            self.client.wait_for_message(predicate, sender=self.hub_jid, timeout=timeout)
        )

    @defer.inlineCallbacks
    def wait_for_roster(self, subscriptions: Iterable[str], timeout: float = 20.0) -> Any:
        """
        Wait until the client's roster entry for the hub user has one of
        C{subscriptions} (as pushed by its server).

        @param subscriptions: e.g. C{("to", "both")}.
        @param timeout: seconds.
        @return: a Deferred firing with the roster item.
        """
        wanted = set(subscriptions)
        reactor = self.env.reactor
        deadline = reactor.seconds() + timeout
        while True:
            item = yield self.client.roster_item(self.hub_jid)
            if item["subscription"] in wanted:
                return item
            if reactor.seconds() >= deadline:
                raise AssertionError(
                    f"{self.client.jid}'s roster entry for {self.hub_jid} is {item}, "
                    f"not {sorted(wanted)}, after {timeout}s\n\n{self.env.diagnostics()}"
                )
            yield task.deferLater(reactor, 0.1, lambda: None)

    def wait_for_contact(self, state: Any, timeout: float = 20.0) -> Any:
        """
        Wait until the hub stores C{state} for the hub user's contact with
        the client.

        @param state: a L{nextplane.storage.records.ContactState}.
        @param timeout: seconds.
        @return: a Deferred firing when it does.
        """
        return wait_for_contact_state(
            self.env.reactor,
            self.hub.store,
            self.hub.address(HUB_USER),
            Address.parse(self.remote_jid),
            state,
            timeout,
            explain=self.env.diagnostics,
        )

    def dns_stayed_inside(self, *domains: str) -> None:
        """
        Assert that every DNS query was about the test's own domains.

        @param domains: the server domains besides the hub's.
        """
        unexpected = self.env.dns.unexpected([self.hub.domain, *domains])
        self.testcase.assertEqual(unexpected, [], "DNS queries escaped to unexpected names")


def _check_dns_at_end(testcase: TestCase, env: InteropEnvironment, domain: str) -> None:
    """
    After the test (servers and hub stopped, DNS still up), fail it if
    anyone asked DNS about a name outside the test's domains.
    """

    def check() -> None:
        hub_domains = [t.domain for hub in env.hubs for t in hub.config.tenants]
        unexpected = env.dns.unexpected([*hub_domains, domain])
        if unexpected:
            raise AssertionError(f"DNS queries escaped to unexpected names: {unexpected}")

    testcase.addCleanup(check)


Options = dict[str, Any] | Callable[[InteropEnvironment], dict[str, Any]] | None


def _options(options: Options, env: InteropEnvironment) -> dict[str, Any]:
    if options is None:
        return {}
    if callable(options):
        return options(env)
    return dict(options)


@defer.inlineCallbacks
def prosody_scenario(
    testcase: TestCase,
    domain: str = "prosody1.test",
    *,
    befriend: bool = True,
    hub: Options = None,
    prosody: Options = None,
) -> Any:
    """
    Prosody for C{domain} with user C{alice}, the hub, alice logged in.

    @param testcase: the running test.
    @param domain: Prosody's domain.
    @param befriend: store alice as an accepted contact of the hub user.
    @param hub: keyword arguments for L{InteropEnvironment.start_hub}, or a
        function of the environment returning them.
    @param prosody: the same for L{InteropEnvironment.start_prosody}.
    @return: a Deferred firing with the L{Scenario}.
    """
    env = yield InteropEnvironment.create(testcase)
    _check_dns_at_end(testcase, env, domain)
    server = yield env.start_prosody(domain, users={"alice": PASSWORD}, **_options(prosody, env))
    hub_under_test = yield env.start_hub(**_options(hub, env))
    jid = f"alice@{domain}"
    if befriend:
        yield hub_under_test.befriend([(HUB_USER, jid)])
    client = yield env.client(jid, PASSWORD, server)
    return Scenario(env, server, hub_under_test, client, testcase)


@defer.inlineCallbacks
def ejabberd_scenario(
    testcase: TestCase,
    domain: str = "ejabberd1.test",
    *,
    befriend: bool = True,
    hub: Options = None,
    ejabberd: Options = None,
) -> Any:
    """
    ejabberd for C{domain} with user C{carol}, the hub, carol logged in.

    @param testcase: the running test.
    @param domain: ejabberd's domain.
    @param befriend: store carol as an accepted contact of the hub user.
    @param hub: keyword arguments for L{InteropEnvironment.start_hub}, or a
        function of the environment returning them.
    @param ejabberd: the same for L{InteropEnvironment.start_ejabberd}.
    @return: a Deferred firing with the L{Scenario}.
    """
    env = yield InteropEnvironment.create(testcase, programs=("ejabberd",))
    _check_dns_at_end(testcase, env, domain)
    server = yield env.start_ejabberd(domain, users={"carol": PASSWORD}, **_options(ejabberd, env))
    hub_under_test = yield env.start_hub(**_options(hub, env))
    jid = f"carol@{domain}"
    if befriend:
        yield hub_under_test.befriend([(HUB_USER, jid)])
    client = yield env.client(jid, PASSWORD, server)
    return Scenario(env, server, hub_under_test, client, testcase)
