"""
A SIP message's work record across a restart, through Kamailio (issue 16):
sipp's MESSAGE to a hub user whose platform holds it for its rate limit is
answered 202; the hub goes down with it still held; after the restart the
hub tells alice, in a MESSAGE through Kamailio to sipp, that it was not
delivered, naming its time, never its content.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.interfaces import Queued
from nextplane.storage.records import WorkState
from tests.interop.harness import sipp

from .world import HUB_USER, SipWorld

MARKER = "marker-held-4e1"


class RestartNoticeTests(TestCase):
    """
    bob@a.test (a recording platform) and alice@b.test behind Kamailio.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_held_message_told_after_restart(self) -> Any:
        """
        A MESSAGE answered 202 and still held when the hub stops is, after
        the restart, told to its sender: a text/plain MESSAGE from bob to
        alice's From URI saying "not delivered", without the content; its
        work record is closed as told.
        """
        world = yield SipWorld.create(self)
        hub = world.hub_()
        held: list[defer.Deferred[None]] = []

        def hold(event: Any) -> defer.Deferred[Any]:
            held.append(defer.Deferred())
            return defer.succeed(Queued(held[-1]))

        assert hub.recording is not None
        hub.recording.deliver = hold  # type: ignore[method-assign]
        run = yield world.sipp_uac("held", sipp.message_uac(f"lunch? {MARKER}", status=202))
        yield world.finished(run)
        [record] = yield hub.store.unfinished_work()
        self.assertEqual((record.source, record.state), ("sip", WorkState.HANDED_OVER))
        self.assertEqual(record.sender, "sip:alice@b.test")

        yield hub.stop()
        notice = yield world.sipp_uas(
            "notice",
            sipp.message_uas(
                [
                    "not delivered",
                    f"From: <sip:{HUB_USER}@a.test>",
                    "To: <sip:alice@b.test>",
                    "Content-Type: text/plain",
                ]
            ),
        )
        yield hub.start()
        yield world.finished(notice)
        self.assertNotIn(MARKER, (notice.directory / "messages.log").read_text())
        # Logged once every record is closed.
        yield world.check(hub.wait_for_log("1 senders told of undelivered messages"))
        unfinished = yield hub.store.unfinished_work()
        self.assertEqual(unfinished, [])
        self.assertEqual(len(held), 1)
