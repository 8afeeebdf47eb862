"""
A hub in memory with the Webex connector and a simulated Webex.

Tenant acme.test is served by Webex (users john and ann); widget.test is
reached over a recording XMPP federation connector. Everything runs on one
L{Clock}; L{WebexHub.pump} moves the in-memory HTTP traffic both ways.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from nextplane.config import Section, TenantConfig
from nextplane.connectors.webex.config import parse_config
from nextplane.connectors.webex.connector import WebexConnector, build
from nextplane.connectors.webex.signature import sign
from nextplane.interfaces import IStore
from nextplane.model.address import Address
from nextplane.testing.webex_sim import CAPACITY, WebexSimulator, WebhookSender
from nextplane.testing.webex_sim.state import SimMessage, SimPerson

from ..platform.hub import MemoryHub
from ..slack.helpers import ZeroRandom

BOT_TOKEN = "webex-bot-token-SECRETVALUE"
SECRET = "webex-hook-secret-0123456789"
HUB = "https://hub.test"
SIM_BASE = "http://webex.test/v1"


def addr(text: str) -> Address:
    """Parse an address."""
    return Address.parse(text)


class WebexHub(MemoryHub):
    """
    See the module docstring.

    @ivar sim: The simulated Webex; C{john}, C{ann} and the C{bot}.
    """

    rounds = 300

    def __init__(
        self,
        mode: str = CAPACITY,
        store: IStore | None = None,
        sim: WebexSimulator | None = None,
        clock: Clock | None = None,
        start: bool = True,
        extra_tenants: tuple[TenantConfig, ...] = (),
    ) -> None:
        """
        @param store: The hub's store (another hub's, to restart on it).
        @param sim: The Webex (another hub's, to restart against it).
        @param clock: The clock (another hub's, to restart on it).
        @param extra_tenants: Tenants of other platforms, whose connectors
            a test builds on L{context} (their HTTP in L{http_clients}).
        """
        super().__init__(
            (
                TenantConfig("acme.test", "webex", "org", "unused.crt", "unused.key"),
                TenantConfig("beta.test", "webex", "org-beta", "unused.crt", "unused.key"),
                *extra_tenants,
            ),
            store,
            clock=clock,
        )
        if sim is None:
            sim = WebexSimulator(
                self.clock, mode=mode, sender=WebhookSender(self.hub_http, self.clock)
            )
            sim.state.add_person("nextplane@webex.bot", "nextplane", bot=True, token=BOT_TOKEN)
            sim.state.add_person("john@acme.test", "John Smith", token="john-token")
            sim.state.add_person("ann@acme.test", "Ann Other", token="ann-token")
            sim.state.add_person("mary@beta.test", "Mary Major", token="mary-token")
        else:
            assert sim.world.sender is not None
            sim.world.sender._http = self.hub_http
        self.sim = sim
        self.bot = self._person("nextplane@webex.bot")
        self.john = self._person("john@acme.test")
        self.ann = self._person("ann@acme.test")
        self.mary = self._person("mary@beta.test")
        self.sim_http = StubTreq(self.sim.resource())
        self.http_clients.append(self.sim_http)
        section = Section(
            {"bot_token": BOT_TOKEN, "webhook_secret": SECRET, "api_base_url": SIM_BASE},
            "connectors.webex",
            {},
        )
        self.config = parse_config(section, environ={})
        section.finish()
        self.context = context = self.connector_context(HUB, {"webex": self.config})
        self.webex: WebexConnector = build(
            context,
            self.config,
            http=self.sim_http,
            rng=ZeroRandom(),
        )
        self.router.add_connector(self.webex)
        self.started: Deferred[None] | None = None
        if start:
            self.start()

    def _person(self, email: str) -> SimPerson:
        found = self.sim.state.by_email(email)
        assert found is not None
        return found

    def start(self) -> Deferred[None]:
        """Start the connector (people/me, webhooks) and pump."""
        self.started = self.webex.startService()
        self.pump()
        return self.started

    settle = MemoryHub.wait

    # -- Webex users acting ----------------------------------------------------

    def direct(self, person: SimPerson) -> str:
        """The bot's direct space with C{person} (created when missing)."""
        room = self.sim.world.direct_room(self.bot, person.id, None)
        return room.id

    def says(self, person: SimPerson, text: str, parent: str | None = None) -> SimMessage:
        """C{person} writes C{text} in their direct space with the bot."""
        message = self.sim.world.user_posts(
            person.id, self.direct(person), markdown=text, parent_id=parent
        )
        self.advance(1)
        return message

    def posts(self, person: SimPerson) -> list[SimMessage]:
        """What was posted in C{person}'s direct space, oldest first."""
        return self.sim.state.room_messages(self.direct(person))

    def bot_texts(self, person: SimPerson) -> list[str]:
        """The texts the bot posted in C{person}'s direct space."""
        return [m.text or "" for m in self.posts(person) if m.person_id == self.bot.id]

    def post_raw(self, body: bytes, signature: str | None) -> int:
        """POST C{body} to /webex/events; the status."""
        headers = {b"Content-Type": [b"application/json"]}
        if signature is not None:
            headers[b"X-Spark-Signature"] = [signature.encode()]
        d = self.hub_http.post(HUB + "/webex/events", data=body, headers=headers)
        self.pump()
        codes: list[int] = []
        d.addCallback(lambda r: codes.append(r.code))
        self.pump()
        return codes[0]

    def signed(self, body: dict[str, Any]) -> tuple[bytes, str]:
        """A delivery body and its correct signature."""
        raw = json.dumps(body).encode()
        return raw, sign(SECRET, raw)
