# -*- test-case-name: tests.teams.test_inbound -*-
"""
Tests for L{nextplane.connectors.teams.inbound}, with activities from the
Teams simulator's channel.
"""

from __future__ import annotations

import json
from typing import Any

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.activity import Ignored, Message
from nextplane.connectors.teams.auth import BotFrameworkAuthenticator, OpenIdKeys
from nextplane.connectors.teams.inbound import InboundRefused, invoke_answer, read_activity
from nextplane.testing.teams_sim.channel import TeamsChannel
from nextplane.testing.teams_sim.simulator import TeamsSimulator

from .helpers import KEY, OTHER_KEY

APP = "app-1"


class ReadTests(SynchronousTestCase):
    """
    L{read_activity} answers as the channel expects.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.sim = TeamsSimulator(self.clock, key=KEY)
        app = self.sim.add_app(APP, "s", "t-1")
        keys = OpenIdKeys(StubTreq(self.sim.resource()), self.clock, self.sim.metadata_url)
        self.auth = BotFrameworkAuthenticator(APP, keys, self.clock)
        self.channel = TeamsChannel(self.sim, app, StubTreq(self.sim.resource()), "unused")
        self.user = self.sim.add_user("t-1", "Ada")

    def read(
        self,
        activity: Any,
        token: str | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> Deferred[Any]:
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        if token is None:
            token = KEY.channel_token(APP, self.sim.service_url, self.clock.seconds())
        return Deferred.fromCoroutine(
            read_activity(self.auth, content_type, f"Bearer {token}", body)
        )

    def refused(self, d: Deferred[Any]) -> int:
        return self.failureResultOf(d, InboundRefused).value.status  # type: ignore[no-any-return]

    def test_accepted(self) -> None:
        """A signed message is read, with the token's serviceUrl."""
        verified = self.successResultOf(
            self.read(self.channel.base(self.user, "message", text="hi"))
        )
        self.assertIsInstance(verified.activity, Message)
        self.assertEqual(verified.token.service_url, self.sim.service_url)

    def test_unknown_type(self) -> None:
        """Unknown types pass verification and are ignored."""
        verified = self.successResultOf(self.read(self.channel.base(self.user, "somethingNew")))
        self.assertEqual(verified.activity, Ignored("somethingNew"))

    def test_not_json(self) -> None:
        """Another content type is 415."""
        self.assertEqual(
            self.refused(self.read({"type": "message"}, content_type="text/plain")), 415
        )

    def test_bad_token_before_parsing(self) -> None:
        """A bad token is 401 even when the body is not an activity."""
        foreign = OTHER_KEY.channel_token(APP, self.sim.service_url, self.clock.seconds())
        self.assertEqual(
            self.refused(self.read(self.channel.base(self.user, "message"), foreign)), 401
        )
        self.assertEqual(self.refused(self.read(b"{not json", foreign)), 401)
        self.assertEqual(self.refused(self.read(b"[]", foreign)), 401)

    def test_service_url_bound(self) -> None:
        """An activity naming another serviceUrl than its token is 401."""
        activity = self.channel.base(self.user, "message", text="x")
        activity["serviceUrl"] = "https://evil.test/"
        self.assertEqual(self.refused(self.read(activity)), 401)

    def test_not_an_activity(self) -> None:
        """A signed body that is not a usable activity is 400."""
        activity = self.channel.base(self.user, "message", text="x")
        del activity["conversation"]
        self.assertEqual(self.refused(self.read(activity)), 400)

    def test_no_content_in_errors_or_reprs(self) -> None:
        """Refusals and parsed activities never carry message content in text."""
        marker = "MARKER-7f3a9c"
        activity = self.channel.base(self.user, "message", text=marker)
        activity["attachments"] = [{"contentType": "text/html", "content": f"<b>{marker}</b>"}]
        verified = self.successResultOf(self.read(activity))
        self.assertNotIn(marker, repr(verified))
        foreign = OTHER_KEY.channel_token(APP, self.sim.service_url, self.clock.seconds())
        bad = self.failureResultOf(self.read(activity, foreign), InboundRefused).value
        del activity["conversation"]
        broken = self.failureResultOf(self.read(activity), InboundRefused).value
        for error in (bad, broken):
            self.assertNotIn(marker, str(error))
            self.assertNotIn(marker, repr(error))

    def test_invoke_answer(self) -> None:
        """Invoke answers carry a JSON body."""
        self.assertEqual(invoke_answer(), (200, b"{}"))
        self.assertEqual(invoke_answer(200, {"statusCode": 200})[1], b'{"statusCode": 200}')
