# -*- test-case-name: tests.teams.test_simulator -*-
"""
The simulator's side of Bot Framework authentication: an RSA signing key,
the JWKS and OpenID metadata that publish it, and the RS256 tokens the
channel puts on each activity it posts to a bot.

Tokens carry what the real channel's do (bot-docs
C{bot-framework-rest-connector-authentication.md}): header C{alg}, C{kid},
C{x5t}; claims C{iss}, C{aud}, C{nbf}, C{exp}, C{serviceurl}. Keys are
published with C{endorsements: ["msteams"]}.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from nextplane.connectors.teams.auth import ISSUER

__all__ = ["SigningKey", "openid_metadata"]

#: Lifetime of a channel token, in seconds (the channel's are about an hour).
TOKEN_LIFETIME = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SigningKey:
    """
    One RSA key the simulated channel signs with.
    """

    def __init__(
        self,
        kid: str,
        endorsements: tuple[str, ...] = ("msteams",),
        private_key: rsa.RSAPrivateKey | None = None,
    ) -> None:
        """
        @param kid: The key id published and put in token headers.
        @param endorsements: The channels the key is endorsed for.
        @param private_key: A key to use; a fresh 2048-bit one by default.
        """
        self.kid = kid
        self.endorsements = endorsements
        self.private_key = private_key or rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Not a certificate thumbprint, but stable and unique per key, as x5t is.
        self.x5t = _b64(hashlib.sha1(der).digest())  # noqa: S324

    def jwk(self) -> dict[str, Any]:
        """
        The public key as a JWKS entry, with endorsements.
        """
        entry: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        entry.update({"kid": self.kid, "use": "sig", "x5t": self.x5t})
        entry["endorsements"] = list(self.endorsements)
        return entry

    def sign(self, claims: dict[str, Any], algorithm: str = "RS256") -> str:
        """
        A JWT over C{claims}, with the channel's header.
        """
        headers = {"kid": self.kid, "x5t": self.x5t}
        return jwt.encode(claims, self.private_key, algorithm=algorithm, headers=headers)

    def channel_token(
        self,
        app_id: str,
        service_url: str,
        now: float,
        lifetime: float = TOKEN_LIFETIME,
        issuer: str = ISSUER,
    ) -> str:
        """
        The token the channel sends with an activity to bot C{app_id}.
        """
        claims = {
            "iss": issuer,
            "aud": app_id,
            "nbf": int(now) - 5,
            "exp": int(now + lifetime),
            "serviceurl": service_url,
        }
        return self.sign(claims)


def openid_metadata(base_url: str) -> dict[str, Any]:
    """
    An OpenID configuration pointing at the simulator's JWKS.
    """
    base = base_url.rstrip("/")
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{base}/v1/.well-known/authorize",
        "jwks_uri": f"{base}/v1/.well-known/keys",
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    }
