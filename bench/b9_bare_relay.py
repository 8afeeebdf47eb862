"""
The bare relay of B9: the ceiling of this stack for Webex <-> XMPP s2s.

The same I/O as the hub's Webex paths, nothing else:

  - C{POST /webex/events}: C{X-Spark-Signature} checked (HMAC-SHA1,
    constant time), the envelope parsed, answered 200; for a message not
    the bot's, one C{GET /messages/{id}} with the bot token, then a
    C{<message>} written on one authenticated s2s stream to the sink.
  - s2s in (nextplane's own L{S2SService}: STARTTLS, SASL EXTERNAL, XML):
    each C{<message>} with a body is POSTed to C{/messages} (C{toPersonId},
    markdown and text) over treq, at most 32 requests in flight over a
    persistent pool of 32, as the hub's kit (L{bench.gated_http}).

No routing, policy, storage, pacing, dedupe or retries: people come from a
JSON file (C{person id -> [owner, contact]}). Failed REST calls (transport
errors and non-2xx answers) are counted in L{Errors} and logged (the first
few and every hundredth), with a total at shutdown: a baseline that
silently delivers nothing measures nothing.

    python -m bench.b9_bare_relay --port P --s2s-port Q --config CONFIG.json
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from typing import Any, cast
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from twisted.names.resolve import ResolverChain
from twisted.web.resource import Resource
from twisted.words.xish import domish

from bench.bare_two_way import run_bare_relay
from bench.gated_http import GatedClient
from bench.xmpp_sink import S2SInitiator
from nextplane.connectors.xmpp.s2s import S2SService, S2SSettings
from nextplane.connectors.xmpp.tls import TenantTLS

__all__ = ["EventsResource", "main"]


def _client(reactor: Any) -> Any:
    return GatedClient(reactor, 32)  # as the hub's Webex connector (max_connections)


class Errors:
    """
    Failed REST calls of one kind, counted and logged.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.count = 0

    def failed(self, reason: str) -> None:
        self.count += 1
        if self.count <= 5 or self.count % 100 == 0:
            print(f"{self.kind} error {self.count}: {reason}", flush=True)

    def check(self, response: Any) -> Any:
        """
        Pass a 2xx C{response} on; count any other as an error (C{None}).
        """
        if 200 <= response.code < 300:
            return response
        self.failed(f"HTTP {response.code}")
        return None

    def errback(self, failure: Any) -> None:
        self.failed(f"{failure.type.__name__}: {failure.getErrorMessage()}")


class EventsResource(Resource):
    """
    C{POST /webex/events}; see the module docstring.
    """

    isLeaf = True

    def __init__(self, reactor: Any, config: dict[str, Any], stream: S2SInitiator) -> None:
        super().__init__()
        self._key = config["secret"].encode()
        self._bot = config["bot_id"]
        self._people: dict[str, list[str]] = config["people"]
        self._base = config["base_url"].rstrip("/")
        self._headers = {"Authorization": f"Bearer {config['bot_token']}"}
        self._http = _client(reactor)
        self._stream = stream
        self.refused = 0
        self.errors = Errors("fetch")

    def render_POST(self, request: Any) -> bytes:
        body = request.content.read()
        given = (request.getHeader(b"x-spark-signature") or b"").decode("latin-1")
        expected = hmac.new(self._key, body, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(given, expected):
            self.refused += 1
            request.setResponseCode(401)
            return b""
        envelope = json.loads(body)
        data = envelope.get("data", {})
        if envelope.get("resource") == "messages" and envelope.get("event") == "created":
            if envelope.get("actorId") != self._bot and data.get("personId") in self._people:
                self._relay(data["id"], self._people[data["personId"]])
        return b"{}"

    def _relay(self, message_id: str, pair: list[str]) -> None:
        url = f"{self._base}/messages/{quote(message_id, safe='')}"
        d = self._http.get(url, headers=self._headers)
        d.addCallback(self.errors.check)
        d.addCallback(lambda response: None if response is None else response.json())

        def write(message: dict[str, Any] | None) -> None:
            if message is None:
                return
            owner, contact = pair
            self._stream.send(
                f"<message from={quoteattr(owner)} to={quoteattr(contact)} type='chat' "
                f"id={quoteattr(message_id)}><body>{escape(message.get('text', ''))}</body>"
                "</message>".encode()
            )

        d.addCallback(write)
        d.addErrback(self.errors.errback)


class Outbound:
    """
    s2s in, C{POST /messages} out.
    """

    def __init__(self, reactor: Any, config: dict[str, Any]) -> None:
        self.http = _client(reactor)
        self.headers = {"Authorization": f"Bearer {config['bot_token']}"}
        self.url = config["base_url"].rstrip("/") + "/messages"
        self.by_owner = {pair[0]: person for person, pair in config["people"].items()}
        self.errors = Errors("post")
        self.s2s = S2SService(
            domains={config["domain"]: TenantTLS(config["certificate"], config["private_key"])},
            ca_paths=[config["ca_certificate"]],
            resolver=cast(Any, ResolverChain([])),
            reactor=reactor,
            on_stanza=self.stanza,
            settings=S2SSettings(require_certificates=True),
        )

    def stanza(self, element: domish.Element) -> None:
        body = next((c for c in element.elements() if c.name == "body"), None)
        if element.name != "message" or body is None:
            return
        person = self.by_owner.get((element.getAttribute("to") or "").partition("/")[0])
        if person is None:
            return
        sender = element.getAttribute("from") or ""
        message = {
            "toPersonId": person,
            "markdown": f"**{sender}**: {body}",
            "text": f"{sender}: {body}",
        }
        d = self.http.post(self.url, json=message, headers=self.headers)
        d.addCallback(self.errors.check)
        d.addCallback(lambda response: None if response is None else response.content())
        d.addErrback(self.errors.errback)


async def _build(reactor: Any, config: dict[str, Any], stream: S2SInitiator) -> Any:
    outbound = Outbound(reactor, config)
    root = Resource()
    webex = Resource()
    root.putChild(b"webex", webex)
    events = EventsResource(reactor, config, stream)
    webex.putChild(b"events", events)

    def totals() -> None:
        print(
            f"errors fetch={events.errors.count} post={outbound.errors.count} "
            f"refused={events.refused}",
            flush=True,
        )

    reactor.addSystemEventTrigger("before", "shutdown", totals)
    return outbound.s2s.listen_factory(), root


def main(argv: list[str]) -> int:
    return run_bare_relay("python -m bench.b9_bare_relay", argv, _build)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
