"""
The bare relay of B8: the ceiling of this stack for Teams <-> XMPP s2s.

The same I/O as the hub's Teams paths, nothing else:

  - C{POST /teams/messages}: the channel's JWT verified with PyJWT against
    the simulator's published key (RS256, audience, issuer, expiry,
    C{serviceurl}), the activity parsed, and a C{<message>} written on one
    authenticated s2s stream to the sink; answered 201.
  - s2s in (nextplane's own L{S2SService}: STARTTLS, SASL EXTERNAL, XML):
    each C{<message>} with a body is POSTed to the simulated Connector
    (C{/v3/conversations/<id>/activities}) with a bot token fetched once,
    over treq with a persistent pool.

No routing, policy, storage, pacing, cards or retries: conversations come
from a JSON file (C{conversation id -> [owner, contact]}).

    python -m bench.b8_bare_relay --port P --s2s-port Q --config CONFIG.json
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

import jwt
from twisted.names.resolve import ResolverChain
from twisted.web.resource import Resource
from twisted.words.xish import domish

from bench.bare_two_way import run_bare_relay
from bench.xmpp_sink import S2SInitiator
from nextplane.connectors.xmpp.s2s import S2SService, S2SSettings
from nextplane.connectors.xmpp.tls import TenantTLS

__all__ = ["MessagesResource", "main"]

ISSUER = "https://api.botframework.com"


class MessagesResource(Resource):
    """
    C{POST /teams/messages}; see the module docstring.
    """

    isLeaf = True

    def __init__(self, config: dict[str, Any], stream: S2SInitiator) -> None:
        super().__init__()
        self._key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(config["jwk"]))
        self._app_id = config["app_id"]
        self._conversations: dict[str, list[str]] = config["conversations"]
        self._stream = stream
        self.refused = 0

    def render_POST(self, request: Any) -> bytes:
        body = request.content.read()
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        activity = json.loads(body)
        try:
            claims = jwt.decode(
                header.partition(" ")[2],
                self._key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=self._app_id,
                issuer=ISSUER,
                leeway=300,
            )
        except jwt.PyJWTError:
            claims = {}
        if claims.get("serviceurl") != activity.get("serviceUrl"):
            self.refused += 1
            request.setResponseCode(401)
            return b""
        request.setResponseCode(201)
        pair = self._conversations.get(activity.get("conversation", {}).get("id", ""))
        if pair is None or activity.get("type") != "message":
            return b""
        owner, contact = pair
        self._stream.send(
            f"<message from={quoteattr(owner)} to={quoteattr(contact)} type='chat' "
            f"id={quoteattr(activity['id'])}><body>{escape(activity.get('text', ''))}</body>"
            "</message>".encode()
        )
        return b""


class Outbound:
    """
    s2s in, Connector POST out.
    """

    def __init__(self, reactor: Any, config: dict[str, Any], token: str) -> None:
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 32  # as the hub's Teams connector
        self.http = HTTPClient(Agent(reactor, pool=pool, connectTimeout=10))
        self.headers: dict[bytes | str, bytes | str] = {"Authorization": f"Bearer {token}"}
        self.base = config["service_url"].rstrip("/")
        self.bot = f"28:{config['app_id']}"
        self.by_owner = {pair[0]: cid for cid, pair in config["conversations"].items()}
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
        owner = (element.getAttribute("to") or "").partition("/")[0]
        conversation = self.by_owner.get(owner)
        if conversation is None:
            return
        activity = {
            "type": "message",
            "text": f"**{escape(element.getAttribute('from') or '')}**\n\n{body}",
            "textFormat": "markdown",
            "from": {"id": self.bot},
            "conversation": {"id": conversation},
        }
        url = f"{self.base}/v3/conversations/{quote(conversation, safe='')}/activities"
        d = self.http.post(url, json=activity, headers=self.headers)
        d.addCallback(lambda response: response.content())
        d.addErrback(lambda failure: None)


async def _token(reactor: Any, config: dict[str, Any]) -> str:
    from treq import post

    response = await post(
        f"{config['authority']}/{config['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config["app_id"],
            "client_secret": config["app_password"],
            "scope": "https://api.botframework.com/.default",
        },
    )
    return str((await response.json())["access_token"])


async def _build(reactor: Any, config: dict[str, Any], stream: S2SInitiator) -> Any:
    outbound = Outbound(reactor, config, await _token(reactor, config))
    return outbound.s2s.listen_factory(), MessagesResource(config, stream)


def main(argv: list[str]) -> int:
    return run_bare_relay("python -m bench.b8_bare_relay", argv, _build)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
