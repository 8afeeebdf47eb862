"""
Helpers for the Teams tests.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.web.iweb import IRequest
from twisted.web.resource import Resource

from nextplane.testing.teams_sim.keys import SigningKey, openid_metadata

#: Keys are slow to make: the tests share a few.
KEY = SigningKey("key-1")
OTHER_KEY = SigningKey("key-2")
UNENDORSED_KEY = SigningKey("key-3", endorsements=("skype",))


class KeyServer(Resource):
    """
    Publishes OpenID metadata and a JWKS, counting requests.
    """

    isLeaf = True

    def __init__(self, *keys: SigningKey, base: str = "https://login.test") -> None:
        super().__init__()
        self.keys = list(keys)
        self.base = base
        self.requests: list[str] = []
        self.fail = False

    def render(self, request: IRequest) -> bytes:
        path = request.path.decode()
        self.requests.append(path)
        request.setHeader(b"content-type", b"application/json")
        if self.fail:
            request.setResponseCode(503)
            return b"{}"
        if path.endswith("/openidconfiguration"):
            body: Any = openid_metadata(self.base)
        else:
            body = {"keys": [k.jwk() for k in self.keys]}
        return json.dumps(body).encode()


class RecordingBot:
    """
    A bot endpoint that validates the channel's tokens with the hub's
    authenticator and records the activities it accepted.
    """

    def __init__(self, authenticator: Any) -> None:
        self.authenticator = authenticator
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[str] = []

    def resource(self) -> Resource:
        bot = self

        class _Endpoint(Resource):
            isLeaf = True

            def render_POST(self, request: IRequest) -> Any:
                from twisted.internet.defer import Deferred
                from twisted.web.server import NOT_DONE_YET

                activity = json.loads(request.content.read())
                header = request.getHeader(b"authorization")

                async def check() -> None:
                    try:
                        await bot.authenticator.validate(header, activity.get("serviceUrl", ""))
                    except Exception as e:
                        bot.refused.append(type(e).__name__)
                        request.setResponseCode(401)
                    else:
                        bot.accepted.append(activity)
                        request.setResponseCode(201)
                    request.finish()

                Deferred.fromCoroutine(check())
                return NOT_DONE_YET

        return _Endpoint()


async def call(http: Any, request: Any, token: str | None) -> tuple[int, bytes, str | None]:
    """
    Make a L{ConnectorRequest} through C{http} with bot token C{token}.
    """
    headers = {"Content-Type": ["application/json"]}
    if token is not None:
        headers["Authorization"] = [f"Bearer {token}"]
    response = await http.request(
        request.method, request.url, data=request.encoded(), headers=headers
    )
    retry = response.headers.getRawHeaders("retry-after")
    return response.code, await response.content(), retry[0] if retry else None
