"""
A simulated Webex with a bot, a person, a REST client and a stand-in hub
endpoint that verifies and parses webhook deliveries.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from nextplane.connectors.webex.events import Envelope, EnvelopeError, parse_envelope
from nextplane.connectors.webex.signature import (
    SIGNATURE_HEADER,
    SignatureError,
    WebhookVerifier,
)
from nextplane.connectors.webex.transport import RestClient
from nextplane.testing.webex_sim import CAPACITY, WebexSimulator, WebhookSender

T = TypeVar("T")

BOT_TOKEN = "bot-token"
SECRET = "hook-secret"
PUBLIC_URL = "https://hub.test"
SIM_BASE = "http://webex.test/v1"


class HubEndpoint(Resource):
    """
    Receives deliveries as the hub's C{/webex/events} would: 401 for a bad
    signature, 400 for a bad envelope, else 200 and the envelope recorded.
    Set C{status} to answer something else (an unreachable hub).
    """

    isLeaf = True

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.verifier = WebhookVerifier([secret])
        self.received: list[Envelope] = []
        self.refused: list[str] = []
        self.status = 200

    def render_POST(self, request: IRequest) -> bytes:
        body = request.content.read() if request.content is not None else b""
        if self.status != 200:
            request.setResponseCode(self.status)
            return b""
        try:
            self.verifier.verify(body, request.getHeader(SIGNATURE_HEADER))
            envelope = parse_envelope(body)
        except (SignatureError, EnvelopeError) as e:
            self.refused.append(str(e))
            request.setResponseCode(e.status)
            return b""
        self.received.append(envelope)
        return b"{}"


class WebexCase(SynchronousTestCase):
    """
    A simulator with a bot (C{bot}) and a person (C{alice}), a REST client
    for the bot, and a L{HubEndpoint} receiving deliveries.
    """

    mode = CAPACITY

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.hub = HubEndpoint()
        self.sender = WebhookSender(StubTreq(self.hub), self.clock)
        self.sim = WebexSimulator(self.clock, mode=self.mode, sender=self.sender)
        self.bot = self.sim.state.add_person(
            "nextplane@webex.bot", "nextplane", bot=True, token=BOT_TOKEN
        )
        self.alice = self.sim.state.add_person("alice@example.com", "Alice", token="alice-token")
        self.http = StubTreq(self.sim.resource())
        self.client = RestClient(self.http, BOT_TOKEN, SIM_BASE)

    def tearDown(self) -> None:
        self.assertEqual(self.sim.violations, [])

    def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """
        Run a coroutine that completes without the reactor; its result.
        """
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def fail_async(self, coroutine: Coroutine[Any, Any, Any], *errors: type[Exception]) -> Any:
        """
        Run a coroutine that fails; the exception.
        """
        return self.failureResultOf(Deferred.fromCoroutine(coroutine), *errors).value
