# -*- test-case-name: tests.teams.test_config -*-
"""
Tests for L{nextplane.connectors.teams.config}.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from nextplane.config import ConfigError, Section
from nextplane.connectors.teams.auth import DEFAULT_METADATA_URL
from nextplane.connectors.teams.config import parse_config

APP = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"


def parse(**data: Any) -> Any:
    values: dict[str, Any] = {"app_id": APP, "app_password": "${PW}", "tenant_id": "t-1"}
    values.update(data)
    values = {k: v for k, v in values.items() if v is not None}
    return parse_config(Section(values, "connectors.teams", {"PW": "pw-from-env"}))


class ConfigTests(SynchronousTestCase):
    """
    The section is validated with single-tenant as the default.
    """

    def test_single_tenant(self) -> None:
        """A single-tenant bot with defaults; the password comes from the environment."""
        config = parse()
        self.assertEqual(
            (config.app_password, config.tenant_id, config.multi_tenant),
            ("pw-from-env", "t-1", False),
        )
        self.assertEqual(config.openid_metadata_url, DEFAULT_METADATA_URL)
        self.assertEqual(config.message_style, "card")
        credentials = config.credentials()
        self.assertEqual(
            credentials.token_url, "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
        )
        self.assertEqual(config.secrets(), ("pw-from-env",))
        self.assertNotIn("pw-from-env", repr(config))

    def test_multi_tenant(self) -> None:
        """A multi-tenant bot takes tokens from botframework.com and has no tenant id."""
        config = parse(tenant_id=None, multi_tenant=True)
        self.assertIn("/botframework.com/", config.credentials().token_url)
        self.assertRaises(ConfigError, parse, multi_tenant=True)

    def test_simulator_urls(self) -> None:
        """Authority and metadata URL can point at a simulator."""
        config = parse(
            authority="http://127.0.0.1:9000/", openid_metadata_url="http://127.0.0.1:9000/v1/x"
        )
        self.assertEqual(
            config.credentials().token_url, "http://127.0.0.1:9000/t-1/oauth2/v2.0/token"
        )

    def test_errors(self) -> None:
        """Bad values name their key."""
        for data, key in (
            ({"app_id": "bot"}, "app_id"),
            ({"tenant_id": None}, "tenant_id"),
            ({"authority": "login.test"}, "authority"),
            ({"message_style": "fancy"}, "message_style"),
            ({"unknown": 1}, "unknown"),
            ({"app_password": None}, "app_password"),
        ):
            error = self.assertRaises(ConfigError, parse, **data)
            self.assertIn(f"connectors.teams.{key}", str(error))
