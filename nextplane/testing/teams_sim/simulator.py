# -*- test-case-name: tests.teams.test_simulator -*-
"""
A local Microsoft Teams, as a Klein application: the Bot Framework's
OpenID metadata and signing keys, the Entra ID token endpoint, and the
Bot Connector REST API (L{nextplane.testing.teams_sim.connector}) over
per-tenant state.

Use it in memory through L{treq.testing.StubTreq} (C{StubTreq(sim.resource())})
or on a real port for benchmarks, with the matching C{base_url}: it is the
C{serviceUrl} of every activity, the token authority and the OpenID host.

  - C{GET /v1/.well-known/openidconfiguration} and C{GET /v1/.well-known/keys}:
    the JWKS of L{TeamsSimulator.key}, endorsed for C{msteams};
  - C{POST /<tenant>/oauth2/v2.0/token}: client credentials, checked
    against the registered L{BotApp}s (single-tenant apps only from their
    own tenant, multi-tenant ones from C{botframework.com});
  - C{/v3/...}: the Connector API;
  - C{PUT /upload/<id>} and C{GET /drive/<id>/<name>}: the upload session
    and the file of an accepted file consent card.

Modes: L{REAL_LIMITS} enforces Teams' rate limits with 429s;
L{CAPACITY} has none, to measure the hub. Time comes from an injected clock.
Users acting in Teams reach the hub through L{TeamsChannel}.
"""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

from klein import Klein
from twisted.internet.interfaces import IListeningPort, IReactorTCP, IReactorTime
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from nextplane.connectors.teams.token import MULTI_TENANT, SCOPE

from ..listen import listen_http
from .connector import ApiResponse, ConnectorApi
from .keys import SigningKey, openid_metadata
from .spec import ConnectorSpec, load_spec
from .state import BotApp, SimUser, Tenant

__all__ = ["CAPACITY", "REAL_LIMITS", "TeamsSimulator"]

#: Enforce Teams' documented limits.
REAL_LIMITS = "real"
#: No limits: measure the hub's own capacity.
CAPACITY = "capacity"


def _json(request: IRequest, status: int, body: Any, headers: Any = ()) -> bytes:
    request.setResponseCode(status)
    for name, value in headers:
        request.setHeader(name, value)
    request.setHeader("X-Correlating-OperationId", secrets.token_hex(8))
    if body is None:
        return b""
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(body).encode("utf-8")


class TeamsSimulator:
    """
    The simulator; see the module docstring.

    @ivar tenants: The state per tenant id, for set-up and assertions.
    @ivar api: The Connector API, with its C{calls}, C{violations} and
        C{rate_limited} records.
    @ivar token_requests: C{(tenant, client_id, granted)} per token request.
    """

    app = Klein()

    def __init__(
        self,
        clock: IReactorTime,
        *,
        mode: str = REAL_LIMITS,
        base_url: str = "https://teams.test",
        key: SigningKey | None = None,
        spec: ConnectorSpec | None = None,
        token_lifetime: int = 3600,
    ) -> None:
        """
        @param clock: The time (token expiry, rate limits).
        @param mode: L{REAL_LIMITS} or L{CAPACITY}.
        @param base_url: How clients reach this simulator.
        @param key: The channel's signing key; a fresh one by default.
        @param token_lifetime: C{expires_in} of issued bot tokens, in seconds.
        """
        if mode not in (REAL_LIMITS, CAPACITY):
            raise ValueError(f"unknown mode {mode!r}")
        self.clock = clock
        self.mode = mode
        self.base_url = base_url.rstrip("/")
        self.key = key if key is not None else SigningKey("sim-key-1")
        self.token_lifetime = token_lifetime
        self.tenants: dict[str, Tenant] = {}
        self.apps: dict[str, BotApp] = {}
        self.token_requests: list[tuple[str, str, bool]] = []
        #: Files users accepted through a consent card and the bot uploaded, by id.
        self.uploads: dict[str, bytes] = {}
        self._tokens: dict[str, tuple[BotApp, float]] = {}
        self._seq = 0
        self.api = ConnectorApi(
            spec if spec is not None else load_spec(),
            self.tenants,
            self._app_for_token,
            clock.seconds,
            mode == REAL_LIMITS,
            self.new_id,
        )

    @property
    def service_url(self) -> str:
        """
        The C{serviceUrl} of activities from this simulator.
        """
        return f"{self.base_url}/"

    @property
    def metadata_url(self) -> str:
        """
        The OpenID metadata URL to configure in the hub.
        """
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    def new_id(self, prefix: str) -> str:
        """
        A fresh id (activity ids are numeric strings, as Teams' are).
        """
        self._seq += 1
        return f"{prefix}{1_700_000_000_000 + self._seq}"

    def add_app(
        self, app_id: str, secret: str, tenant_id: str, multi_tenant: bool = False
    ) -> BotApp:
        """
        Register a bot (app registration) in C{tenant_id}.
        """
        self.add_tenant(tenant_id)
        app = self.apps[app_id] = BotApp(app_id, secret, tenant_id, multi_tenant)
        return app

    def add_tenant(self, tenant_id: str) -> Tenant:
        """
        The tenant C{tenant_id}, created if new.
        """
        return self.tenants.setdefault(tenant_id, Tenant(tenant_id))

    def add_user(
        self, tenant_id: str, name: str, installed: bool = False, email: str | None = None
    ) -> SimUser:
        """
        A new user of C{tenant_id}, with e-mail C{email} (Teams reports it
        as both C{email} and C{userPrincipalName}).
        """
        tenant = self.add_tenant(tenant_id)
        serial = self.new_id("")
        user = SimUser(f"29:{serial}", f"aad-{serial}", name, tenant_id, installed, email=email)
        tenant.users[user.id] = user
        return user

    def resource(self) -> IResource:
        """
        The whole simulated Teams as one resource (metadata, keys, token, C{/v3}).
        """
        return self.app.resource()  # type: ignore[no-any-return]

    def listen(
        self, reactor: IReactorTCP, port: int = 0, interface: str = "127.0.0.1"
    ) -> IListeningPort:
        """
        Benchmarks reach the simulator over loopback: listen and make
        L{base_url} (so C{serviceUrl} and the authority) that address.
        """
        listening, self.base_url = listen_http(reactor, self.resource(), port, interface)
        return listening

    def _app_for_token(self, token: str) -> BotApp | None:
        found = self._tokens.get(token)
        if found is None or found[1] <= self.clock.seconds():
            return None
        return found[0]

    @app.route("/v1/.well-known/openidconfiguration", methods=["GET"])
    def _metadata(self, request: IRequest) -> bytes:
        return _json(request, 200, openid_metadata(self.base_url))

    @app.route("/v1/.well-known/keys", methods=["GET"])
    def _keys(self, request: IRequest) -> bytes:
        return _json(request, 200, {"keys": [self.key.jwk()]})

    @app.route("/<string:tenant>/oauth2/v2.0/token", methods=["POST"])
    def _token(self, request: IRequest, tenant: str) -> bytes:
        raw = request.content.read() if request.content is not None else b""
        form = dict(parse_qsl(raw.decode("utf-8", "replace")))
        app = self.apps.get(form.get("client_id", ""))
        granted = (
            app is not None
            and secrets.compare_digest(form.get("client_secret", ""), app.secret)
            and form.get("grant_type") == "client_credentials"
            and form.get("scope") == SCOPE
            and tenant == (MULTI_TENANT if app.multi_tenant else app.tenant_id)
        )
        self.token_requests.append((tenant, form.get("client_id", ""), granted))
        if not granted or app is None:
            return _json(
                request,
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        token = f"sim-bot-token-{secrets.token_hex(12)}"
        self._tokens[token] = (app, self.clock.seconds() + self.token_lifetime)
        body = {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": token,
        }
        return _json(request, 200, body)

    @app.route("/upload/<string:unique>", methods=["PUT"])
    def _upload(self, request: IRequest, unique: str) -> bytes:
        # The OneDrive upload session of an accepted file consent (bots-filesv4.md).
        raw = request.content.read() if request.content is not None else b""
        header = request.getHeader(b"content-range")
        expected = f"bytes 0-{len(raw) - 1}/{len(raw)}"
        got = header.decode("latin-1") if isinstance(header, bytes) else header
        if not raw or got != expected:
            return _json(request, 400, {"error": {"code": "invalidRange", "message": expected}})
        self.uploads[unique] = raw
        return _json(request, 201, {"id": unique, "size": len(raw)})

    @app.route("/drive/<string:unique>/<string:name>", methods=["GET"])
    def _download(self, request: IRequest, unique: str, name: str) -> bytes:
        if unique not in self.uploads:
            return _json(request, 404, {"error": {"code": "itemNotFound", "message": name}})
        request.setHeader(b"content-type", b"application/octet-stream")
        return self.uploads[unique]

    @app.route("/v3/", branch=True, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def _connector(self, request: IRequest) -> bytes:
        raw = request.content.read() if request.content is not None else b""
        header = request.getHeader(b"authorization")
        authorization = header.decode("latin-1") if isinstance(header, bytes) else header
        response: ApiResponse = self.api.handle(
            request.method.decode("ascii"), request.uri.decode("latin-1"), authorization, raw
        )
        return _json(request, response.status, response.body, response.headers)
