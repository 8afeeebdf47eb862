"""
The B3 baseline: a bare Twisted SIP-over-TLS receiver relaying MESSAGEs
to Slack, with no routing, policy or storage - the ceiling of this stack
(Twisted, pyOpenSSL, nextplane's SIP parser, treq) for the hub's SIP to
Slack path.

  python -m bench.sip_bare_relay --port P --cert C --key K --ca CA \\
      --api-base-url URL --token T --channels FILE

It listens for mutual TLS (a client certificate chaining to C{--ca} is
required, as on the hub's listener), parses with
L{nextplane.connectors.sip.parser.StreamParser}, answers each MESSAGE
C{200 OK} (L{make_response}) at once and POSTs C{chat.postMessage} (JSON,
bearer token; text, a C{rich_text} block and C{username}, as the hub
sends) through treq over a persistent pool of 8 connections per
host, as the hub's Slack client does. The channel comes from a JSON file
mapping the recipient address (C{user@domain}) to a channel id, so
there is no lookup but a dict. Prints C{ready} once listening. Run it
pinned to the hub's core.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from treq.client import HTTPClient
from twisted.internet import ssl
from twisted.internet.protocol import Factory, Protocol
from twisted.web.client import Agent, HTTPConnectionPool

from nextplane.connectors.sip.message import ParseError, Request, make_response, serialize
from nextplane.connectors.sip.parser import StreamParser

__all__ = ["main"]


class _Relay(Protocol):
    def __init__(self, relay: Any) -> None:
        self._relay = relay
        self._parser = StreamParser()

    def dataReceived(self, data: bytes) -> None:
        for result in self._parser.feed(data):
            if isinstance(result, Request):
                self._relay.request(self, result)
            elif isinstance(result, ParseError) and result.fatal:
                self.transport.loseConnection()  # type: ignore[union-attr]
                return


class BareSipRelay(Factory):
    """
    MESSAGE in, 200 out, C{chat.postMessage} out; see the module docstring.
    """

    def __init__(self, reactor: Any, api_base_url: str, token: str, channels: dict[str, str]):
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 8
        self._http = HTTPClient(Agent(reactor, pool=pool))
        self._url = api_base_url.rstrip("/") + "/chat.postMessage"
        self._headers: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {token}"}
        self._channels = channels
        self.failures = 0

    def buildProtocol(self, addr: Any) -> Protocol:
        return _Relay(self)

    def request(self, connection: _Relay, request: Request) -> None:
        """
        Answer C{request} and relay its text.
        """
        if request.method != "MESSAGE":
            connection.transport.write(serialize(make_response(request, 501)))  # type: ignore[union-attr]
            return
        connection.transport.write(serialize(make_response(request, 200)))  # type: ignore[union-attr]
        recipient = request.uri.removeprefix("sip:").split(";", 1)[0]
        channel = self._channels.get(recipient)
        if channel is None:
            self.failures += 1
            return
        text = request.body.decode("utf-8", "replace")
        sender = request.headers.get("From") or ""
        sender = sender.partition("<sip:")[2].partition(">")[0]
        # The JSON the hub's Slack client sends: text, a rich_text block,
        # the contact shown as themselves.
        post = {
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
            "username": sender,
        }
        d = self._http.request("POST", self._url, json=post, headers=self._headers)
        d.addCallback(lambda response: response.content())
        d.addErrback(self._failed)

    def _failed(self, failure: Any) -> None:
        self.failures += 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sip_bare_relay")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--api-base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--channels", required=True, help="JSON file: address -> channel id")
    args = parser.parse_args(argv)

    from twisted.internet import reactor

    own = ssl.PrivateCertificate.loadPEM(Path(args.cert).read_bytes() + Path(args.key).read_bytes())
    authority = ssl.Certificate.loadPEM(Path(args.ca).read_bytes())
    relay = BareSipRelay(
        reactor, args.api_base_url, args.token, json.loads(Path(args.channels).read_text())
    )
    reactor.listenSSL(  # type: ignore[attr-defined]
        args.port, relay, own.options(authority), interface=args.interface
    )
    print("ready", flush=True)
    reactor.run()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
