"""
The privacy marker test on the Webex paths built so far: content holding a
unique marker goes through webhook deliveries, message fetches, the
formatter, the splitter, cards and refusals; no log line (text or JSON) and
no repr of a parsed value shows it.
"""

from __future__ import annotations

import io
import secrets

from twisted.logger import LogLevel, globalLogPublisher

from nextplane.connectors.webex import api
from nextplane.connectors.webex.api import OutgoingMessage, WebexApiError
from nextplane.connectors.webex.cards import ContactRequest, Person, contact_request_message
from nextplane.connectors.webex.events import EnvelopeError, parse_envelope
from nextplane.connectors.webex.format import parse_html, parse_markdown, to_markdown
from nextplane.connectors.webex.split import MessageTooLong, split_message
from nextplane.connectors.webex.webhooks import keep_webhooks
from nextplane.logs import make_observer
from nextplane.model.text import Bold, RichText, Text

from .helpers import PUBLIC_URL, SECRET, WebexCase


class MarkerTests(WebexCase):
    def test_marker_appears_nowhere(self) -> None:
        """Message content reaches the parsers but no log line or repr."""
        marker = f"MARKER-{secrets.token_hex(8)}"
        logs = [io.StringIO(), io.StringIO()]
        for out, fmt in zip(logs, ("text", "json"), strict=True):
            observer = make_observer(fmt, out, level=LogLevel.debug)
            globalLogPublisher.addObserver(observer)
            self.addCleanup(globalLogPublisher.removeObserver, observer)

        self.run_async(keep_webhooks(self.client.call, PUBLIC_URL, SECRET))
        room = self.sim.world.direct_room(self.alice, self.bot.id, None)
        posted = self.sim.world.user_posts(self.alice.id, room.id, markdown=f"**{marker}**")
        fetched = api.parse_message(self.run_async(self.client.call(api.get_message(posted.id))))
        tree = parse_markdown(fetched.markdown or "")
        shown = [
            repr(self.hub.received),
            repr(fetched),
            repr(tree),
            repr(parse_html(f"<p>{marker}</p>")),
        ]
        reply = OutgoingMessage(room_id=room.id, markdown=to_markdown(tree), text=marker)
        shown += [repr(reply), repr(api.create_message(reply))]
        self.run_async(self.client.call(api.create_message(reply)))
        card = contact_request_message(room.id, ContactRequest("r", "Request", Person(marker)))
        shown.append(repr(card))
        for refused in (
            lambda: parse_envelope(marker.encode()),
            lambda: split_message(RichText([Bold([Text(marker * 1000)])])),
        ):
            try:
                refused()
            except (EnvelopeError, MessageTooLong) as e:
                shown.append(str(e))
        error = self.fail_async(
            self.client.call(api.edit_message(posted.id, room.id, markdown=marker, text=marker)),
            WebexApiError,
        )
        shown.append(str(error))
        for text in [*shown, *(log.getvalue() for log in logs)]:
            self.assertNotIn(marker, text)
