"""
The outage suite: Slack's Web API answers 429 with C{Retry-After}, 503,
500 and not at all (timeouts) for a minute while messages keep coming.
Every message is posted exactly once or its sender is told (never both,
never neither), and what is posted keeps the order it was sent in.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.events import ContactAccept, DeliveryError, TextMessage
from nextplane.model.text import RichText
from nextplane.testing.slack_sim import Fault

from .hub import SlackHub, addr

PETER = addr("peter@widget.test")
JOHN = addr("john@acme.test")


class OutageTests(SynchronousTestCase):
    """
    A minute-long Slack outage, on a fake clock.
    """

    def connect(self, hub: SlackHub) -> Any:
        """John and peter are contacts: their conversation exists."""
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        return hub.conversation(hub.sim_a, hub.john)

    def burst_through_outage(
        self, *faults: Fault, extra: dict[str, Any] | None = None, every: float = 2.0
    ) -> tuple[list[str], list[str], list[str]]:
        """
        Send 30 messages, one every C{every} seconds, into a 60 s outage of
        C{faults}; @return: (sent, posted, told) message texts.
        """
        hub = SlackHub(extra=extra)
        conversation = self.connect(hub)
        start = hub.clock.seconds()
        hub.sim_a.outage(start + 60, *faults)
        sent: list[TextMessage] = []
        # The sender is told at once (the router's outcome: a stanza error
        # on XMPP) or, after the acknowledgement, by a DeliveryError.
        told_at_once: list[str] = []
        for i in range(30):
            text = f"m{i:02}"
            message = TextMessage(sender=PETER, recipient=JOHN, body=RichText.plain(text))
            sent.append(message)
            outcome = hub.inject(message)

            def answered(result: Any, text: str = text) -> None:
                if not result.delivered:
                    told_at_once.append(text)

            outcome.addCallback(answered)
            hub.advance(every)
        hub.advance(400)
        texts = {m.event_id: m.body.plain_text() for m in sent}
        posted = [m.text for m in hub.posts(conversation)]
        told = told_at_once + [
            texts[e.original_event_id]
            for e in hub.delivered("delivery_error")
            if isinstance(e, DeliveryError) and e.original_event_id in texts
        ]
        self.assertEqual(hub.sim_a.violations, [])
        return [texts[m.event_id] for m in sent], posted, told

    def test_not_acted_on_nothing_lost(self) -> None:
        """
        429s (with Retry-After) and 503s for a minute: every message is
        posted once, in order, and nobody is told of a failure.
        """
        sent, posted, told = self.burst_through_outage(
            Fault("ratelimit", retry_after=5), Fault("status", status=503)
        )
        self.assertEqual(posted, sent)
        self.assertEqual(told, [])

    def test_ambiguous_failures_told(self) -> None:
        """
        With 500s and timeouts in the mix, a post that may have arrived is
        not repeated: its sender is told. Nothing is lost silently or
        posted twice, and the posts keep their order.
        """
        sent, posted, told = self.burst_through_outage(
            Fault("ratelimit", retry_after=5),
            Fault("status", status=503),
            Fault("status", status=500),
            Fault("hang"),
        )
        self.assertEqual(len(posted), len(set(posted)))
        self.assertEqual(sorted(posted + told), sent)
        self.assertEqual(posted, sorted(posted))
        self.assertGreater(len(posted), 0)

    def test_queue_bound(self) -> None:
        """
        Past a conversation's bound (C{max_queued}), a message waiting out
        the outage is refused at once and its sender told; the others go out
        in order once Slack is back.
        """
        sent, posted, told = self.burst_through_outage(
            Fault("ratelimit", retry_after=30), extra={"max_queued": 5}, every=0.1
        )
        self.assertEqual(posted, sent[:5])
        self.assertEqual(told, sent[5:])


class InboundRoomTests(SynchronousTestCase):
    """
    Slack events are acknowledged only while the hub has room for them.
    """

    def test_full_hub_answers_503(self) -> None:
        """
        With C{max_inbound_queued} events still being handled (the XMPP side
        does not take them), the next event is answered 503; once they
        drain, Slack's retry is taken and nothing is lost.
        """
        hub = SlackHub(extra={"max_inbound_queued": 2})
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        conversation = hub.conversation(hub.sim_a, hub.john)
        hub.xmpp.hold = True
        for text in ("one", "two", "three"):
            hub.sim_a.user_posts(hub.john.id, conversation.id, text)
            hub.pump()
        self.assertEqual(hub.slack.delivery.receiving, 2)
        self.assertEqual(hub.slack.webhook.refused_busy, 1)
        hub.xmpp.hold = False
        hub.xmpp.release()
        hub.advance(90)  # Slack retries a failed delivery after a minute
        texts = [e.body.plain_text() for e in hub.delivered("message")]  # type: ignore[attr-defined]
        self.assertEqual(texts, ["one", "two", "three"])
        self.assertEqual(hub.slack.delivery.receiving, 0)
