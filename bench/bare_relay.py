"""
The bare relay: the ceiling of this stack for B1 (XMPP s2s in -> Slack).

The same I/O as the hub, nothing else: nextplane's own s2s inbound stream
code (L{S2SService}: STARTTLS, SASL EXTERNAL, XML parsing, from/to checks)
accepts the load peer's stream; each C{<message>} with a body becomes one
C{chat.postMessage} with the same JSON the hub's Slack client sends (text,
a rich_text block, C{username}) over treq with the same connection pool
settings (persistent, 8 per host). No routing, policy, storage, pacing or
retries: the channel comes from a dict keyed by (recipient, sender).

Run as its own process, like the hub (the benchmark pins it to the hub's
core with C{taskset})::

    python -m bench.bare_relay CONFIG.json

CONFIG holds C{listen_port}, C{domain}, C{certificate}, C{private_key},
C{ca_certificate}, C{api_base_url}, C{bot_token} and C{channels}
(C{"<recipient bare JID> <sender bare JID>"} -> channel id). It prints
C{listening <port>} once the listener is up and runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.names.resolve import ResolverChain
from twisted.words.xish import domish

from nextplane.connectors.xmpp.s2s import S2SService, S2SSettings
from nextplane.connectors.xmpp.tls import TenantTLS

__all__ = ["BareRelay", "main"]


def _bare(jid: str) -> str:
    return jid.partition("/")[0].lower()


class BareRelay:
    """
    Stanza in, HTTP POST out; see the module docstring.

    @ivar relayed: Messages posted (answered 2xx).
    @ivar failed: Posts that failed or were refused.
    @ivar unknown: Messages for a (recipient, sender) with no channel.
    """

    def __init__(self, reactor: Any, config: dict[str, Any]) -> None:
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        self.reactor = reactor
        self.config = config
        self.url = config["api_base_url"].rstrip("/") + "/chat.postMessage"
        self.headers: dict[bytes | str, bytes | str] = {
            "Authorization": f"Bearer {config['bot_token']}"
        }
        self.channels: dict[str, str] = dict(config["channels"])
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 8  # as the hub's Slack connector
        self.http = HTTPClient(Agent(reactor, pool=pool, connectTimeout=10))
        self.relayed = 0
        self.failed = 0
        self.unknown = 0
        self.s2s = S2SService(
            domains={config["domain"]: TenantTLS(config["certificate"], config["private_key"])},
            ca_paths=[config["ca_certificate"]],
            resolver=cast(Any, ResolverChain([])),
            reactor=reactor,
            on_stanza=self.stanza,
            # Load generators connect from one loopback address.
            settings=S2SSettings(require_certificates=True, max_streams_per_address=100_000),
        )

    def listen(self) -> Deferred[Any]:
        """
        Accept s2s streams on 127.0.0.1:C{listen_port}.
        """
        endpoint = TCP4ServerEndpoint(
            self.reactor, int(self.config["listen_port"]), interface="127.0.0.1"
        )
        return endpoint.listen(self.s2s.listen_factory())

    def stanza(self, element: domish.Element) -> None:
        """
        Relay one accepted stanza: a chat message with a body is posted.
        """
        if element.name != "message":
            return
        body = next((c for c in element.elements() if c.name == "body"), None)
        if body is None:
            return
        text = str(body)
        sender = _bare(element.getAttribute("from") or "")
        channel = self.channels.get(f"{_bare(element.getAttribute('to') or '')} {sender}")
        if channel is None:
            self.unknown += 1
            return
        payload = {
            "channel": channel,
            "text": text,
            "blocks": [
                {
                    "type": "rich_text",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
            "username": f"{sender.partition('@')[0].capitalize()} ({sender})",
        }
        d = self.http.post(self.url, json=payload, headers=self.headers)
        d.addCallback(self._answered)
        d.addErrback(self._failed)

    def _answered(self, response: Any) -> Deferred[None]:
        def check(body: bytes) -> None:
            if response.code == 200 and json.loads(body).get("ok"):
                self.relayed += 1
            else:
                self.failed += 1

        return cast(Deferred[None], response.content().addCallback(check))

    def _failed(self, failure: Any) -> None:
        self.failed += 1


def main(path: str) -> None:
    """
    Run the relay from the JSON configuration at C{path} until SIGINT or
    SIGTERM.
    """
    from twisted.internet import reactor

    config = json.loads(Path(path).read_text())
    relay = BareRelay(reactor, config)

    def listening(port: Any) -> None:
        print(f"listening {port.getHost().port}", flush=True)

    def failed(failure: Any) -> None:
        print(f"cannot listen: {failure.getErrorMessage()}", flush=True)
        reactor.stop()  # type: ignore[attr-defined]

    def stopping() -> None:
        print(f"relayed {relay.relayed} failed {relay.failed} unknown {relay.unknown}", flush=True)

    reactor.addSystemEventTrigger("before", "shutdown", stopping)  # type: ignore[attr-defined]
    relay.listen().addCallbacks(listening, failed)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1])
