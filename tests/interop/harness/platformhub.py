"""
What the interop hubs of the bot platforms share (Slack's in
L{tests.interop.slack.test_slack_xmpp}, Teams' in
L{tests.interop.teams.hub}): a hub with one platform tenant on its own
loopback address, built by L{nextplane.tap.build_hub} from the TOML-shaped
configuration, with the platform's simulator listening beside it and the
hub's log kept for failure messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from treq.client import HTTPClient
from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from nextplane.config import parse_config
from nextplane.tap import build_hub

from .env import InteropEnvironment

__all__ = ["ADMIN_PORT", "WEB_PORT", "PlatformHub"]

#: The hub's web listener port, on its own address.
WEB_PORT = 8080
#: The hub's admin listener port (portal, admin API, metrics), on its own address.
ADMIN_PORT = 8081


class PlatformHub:
    """
    The hub side; a subclass adds its platform's simulator (with a
    C{listen(reactor, port, interface=...)}) as C{sim}.

    @ivar service: The running hub, or C{None}.
    @ivar log: The hub's log lines (C{nextplane} namespaces).
    """

    sim: Any

    def __init__(self, env: InteropEnvironment, platform: str) -> None:
        self.env = env
        self.reactor = env.reactor
        self.platform = platform
        self.address = next(env.addresses)
        self.directory = env.directory / f"hub-{platform}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.web_url = f"http://{self.address}:{WEB_PORT}"
        self.admin_url = f"http://{self.address}:{ADMIN_PORT}"
        self.service: Any = None
        self.log: list[str] = []

    def _observe(self, event: dict[str, Any]) -> None:
        if str(event.get("log_namespace", "")).startswith("nextplane"):
            text = formatEvent(event)
            failure = event.get("log_failure")
            if failure is not None:
                text += "\n" + failure.getTraceback()
            self.log.append(f"[{event.get('log_namespace')}] {text}\n")

    def hub_config(
        self, domain: str, workspace: str, cert: Any, connectors: Mapping[str, Any]
    ) -> dict[str, Any]:
        """
        The hub's configuration, as the TOML file would hold it: one
        tenant C{domain} on the platform's C{workspace}, and C{connectors}.
        """
        env = self.env
        return {
            "hub": {"data_dir": str(self.directory)},
            "storage": {"backend": "sqlite", "sqlite_path": str(self.directory / "hub.sqlite3")},
            "web": {
                "listen": f"tcp:{WEB_PORT}:interface={self.address}",
                "public_url": self.web_url,
                "admin_listen": f"tcp:{ADMIN_PORT}:interface={self.address}",
            },
            "dns": {"servers": [f"{env.dns_address}:{env.dns_port}"], "timeout": 2},
            "tls": {"ca_certificates": [str(env.ca.cert)]},
            "router": {"delivery_timeout": 30},
            "tenants": [
                {
                    "domain": domain,
                    "platform": self.platform,
                    "workspace": workspace,
                    "certificate": str(cert.cert),
                    "private_key": str(cert.key),
                }
            ],
            "connectors": dict(connectors),
        }

    def config_data(self) -> dict[str, Any]:
        """The hub's configuration (see L{hub_config})."""
        raise NotImplementedError

    @defer.inlineCallbacks
    def start_hub(self, testcase: TestCase, domain: str, registry: Mapping[str, Any]) -> Any:
        """
        Start the simulator's listener and the hub serving C{domain}; fires
        once the hub started.
        """
        globalLogPublisher.addObserver(self._observe)
        testcase.addCleanup(globalLogPublisher.removeObserver, self._observe)
        port = self.sim.listen(self.reactor, 0, interface=self.address)
        testcase.addCleanup(port.stopListening)
        self.config = parse_config(self.config_data(), environ={}, registry=registry)
        self.env.hubs.append(self)  # type: ignore[arg-type]
        self.env.publish(domain, self.address)
        hub = build_hub(self.config, self.reactor, registry=registry)
        self.service = hub
        testcase.addCleanup(self.stop)
        hub.startService()
        yield self.env.with_diagnostics(hub.started)

    def web_client(self) -> HTTPClient:
        """An HTTP client for the simulator to reach the hub's web listener."""
        return HTTPClient(
            Agent(self.reactor, pool=HTTPConnectionPool(self.reactor, persistent=False))
        )

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop the hub."""
        hub, self.service = self.service, None
        if hub is not None:
            yield hub.stopService()
