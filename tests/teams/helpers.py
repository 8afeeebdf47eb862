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
