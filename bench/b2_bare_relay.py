"""
The B2 baseline: a bare Twisted web server taking signed Slack Events API
deliveries and writing each message as a stanza on one s2s stream, with
no routing, policy or storage - the ceiling of this stack (twisted.web,
hmac, json, pyOpenSSL) for the hub's Slack to XMPP path.

  python -m bench.b2_bare_relay --port P --secret S --conversations FILE \\
      --sink HOST:PORT --cert C --key K --ca CA

For every C{POST /slack/events} it checks C{X-Slack-Signature} over the
raw body (HMAC-SHA256 of C{v0:<timestamp>:<body>}, 5-minute window) as
Slack documents, parses the JSON envelope, drops a C{event_id} it has
already seen (Slack retries), answers 200 with an empty body, and writes
C{<message type='chat'><body>text</body></message>} from the
conversation's owner to its contact (a dict from a JSON file: channel id
-> [owner, contact]) on an s2s stream it opened to the sink (STARTTLS,
client certificate, SASL EXTERNAL: L{bench.xmpp_sink.S2SInitiator}).
Prints C{ready} once the stream is open and the port listens. Run it
pinned to the hub's core.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import Site

from bench.xmpp_sink import S2SInitiator
from nextplane.devcerts import CertPaths

__all__ = ["EventsResource", "main"]


class EventsResource(Resource):
    """
    C{POST /slack/events}; see the module docstring.
    """

    isLeaf = True

    def __init__(
        self, secret: str, conversations: dict[str, list[str]], stream: S2SInitiator
    ) -> None:
        super().__init__()
        self._secret = secret.encode()
        self._conversations = conversations
        self._stream = stream
        self._seen: set[str] = set()
        self.refused = 0
        self.relayed = 0

    def render_POST(self, request: Any) -> bytes:
        body = request.content.read()
        timestamp = request.getHeader(b"x-slack-request-timestamp") or b""
        signature = request.getHeader(b"x-slack-signature") or b""
        expected = (
            b"v0="
            + hmac.new(self._secret, b"v0:" + timestamp + b":" + body, hashlib.sha256)
            .hexdigest()
            .encode()
        )
        try:
            fresh = abs(time.time() - int(timestamp)) <= 300
        except ValueError:
            fresh = False
        if not fresh or not hmac.compare_digest(expected, signature):
            self.refused += 1
            request.setResponseCode(401)
            return b""
        envelope = json.loads(body)
        event_id = envelope.get("event_id")
        if envelope.get("type") != "event_callback" or event_id in self._seen:
            return b""
        self._seen.add(event_id)
        event = envelope["event"]
        pair = self._conversations.get(event.get("channel", ""))
        if pair is None or event.get("type") != "message":
            return b""
        owner, contact = pair
        text = escape(event.get("text", ""))
        self._stream.send(
            f"<message from={quoteattr(owner)} to={quoteattr(contact)} type='chat' "
            f"id={quoteattr(event_id)}><body>{text}</body></message>".encode()
        )
        self.relayed += 1
        return b""


class _QuietSite(Site):
    """
    No access log: the baseline does only the work the path needs.
    """

    noisy = False

    def log(self, request: Any) -> None:
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.b2_bare_relay")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--secret", required=True)
    parser.add_argument(
        "--conversations", required=True, help="JSON file: channel -> [owner, contact]"
    )
    parser.add_argument("--sink", required=True, help="HOST:PORT of the s2s receiver")
    parser.add_argument("--local", default="acme.test")
    parser.add_argument("--remote", default="widget.test")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args(argv)

    from twisted.internet import reactor

    cert = CertPaths(Path(args.cert), Path(args.key), None)
    ca = CertPaths(Path(args.ca), Path(args.ca), None)
    stream = S2SInitiator(args.local, args.remote, cert, ca)
    host, _, port = args.sink.rpartition(":")
    conversations = json.loads(Path(args.conversations).read_text())

    def listen(_: object) -> None:
        site = _QuietSite(EventsResource(args.secret, conversations, stream))
        reactor.listenTCP(args.port, site, interface=args.interface)  # type: ignore[attr-defined,arg-type]
        print("ready", flush=True)

    def failed(failure: Any) -> None:
        print(f"failed: {failure.getErrorMessage()}", flush=True)
        reactor.stop()  # type: ignore[attr-defined]

    opened: Deferred[Any] = stream.connect(reactor, host, int(port))
    opened.addCallbacks(listen, failed)
    reactor.run()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
