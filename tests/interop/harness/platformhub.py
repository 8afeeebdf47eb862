"""
What the interop hubs of the bot platforms (Teams, Webex) share: one hub
with one tenant of the platform inside the network namespace, built by
L{nextplane.tap.build_hub} with its real HTTP client and SQLite store, its
log lines kept for failure messages, and the platform's simulator listening
on the hub's address.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase

from nextplane.config import parse_config
from nextplane.tap import build_hub
from tests.interop.harness.env import InteropEnvironment

__all__ = ["WEB_PORT", "PlatformHub"]

WEB_PORT = 8080


class PlatformHub:
    """
    Subclasses set C{platform}, C{registry}, C{sim} (with C{listen}) and
    give their section with L{platform_section}.

    @ivar cert: The tenant certificate; the environment's by default.
    @ivar log: The hub's log lines.
    """

    platform = ""
    registry: dict[str, Any] = {}
    sim: Any

    def __init__(self, env: InteropEnvironment, connectors: dict[str, Any], domain: str) -> None:
        """
        @param connectors: The federation connectors' configuration sections.
        @param domain: The tenant's domain.
        """
        self.env = env
        self.reactor = env.reactor
        self.domain = domain
        self.address = next(env.addresses)
        self.cert: Any = None
        self.directory = env.directory / f"hub-{self.platform}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.connectors = connectors
        self.service: Any = None
        self.log: list[str] = []

    @property
    def public_url(self) -> str:
        """The hub's public web listener."""
        return f"http://{self.address}:{WEB_PORT}"

    def _observe(self, event: dict[str, Any]) -> None:
        if str(event.get("log_namespace", "")).startswith("nextplane"):
            text = formatEvent(event)
            failure = event.get("log_failure")
            if failure is not None:
                text += "\n" + failure.getTraceback()
            self.log.append(f"[{event.get('log_namespace')}] {text}\n")

    def workspace(self) -> str:
        """The tenant's workspace (the platform's tenant or org id)."""
        raise NotImplementedError

    def platform_section(self) -> dict[str, Any]:
        """The platform connector's configuration section."""
        raise NotImplementedError

    def config_data(self) -> dict[str, Any]:
        """The hub's configuration, as the TOML file would hold it."""
        env = self.env
        cert = self.cert or env.cert_for(self.domain)
        return {
            "hub": {"data_dir": str(self.directory)},
            "storage": {"backend": "sqlite", "sqlite_path": str(self.directory / "hub.sqlite3")},
            "web": {
                "listen": f"tcp:{WEB_PORT}:interface={self.address}",
                "public_url": self.public_url,
            },
            "dns": {"servers": [f"{env.dns_address}:{env.dns_port}"], "timeout": 2},
            "tls": {"ca_certificates": [str(env.ca.cert)]},
            "router": {"delivery_timeout": 30},
            "tenants": [
                {
                    "domain": self.domain,
                    "platform": self.platform,
                    "workspace": self.workspace(),
                    "certificate": str(cert.cert),
                    "private_key": str(cert.key),
                }
            ],
            "connectors": {**self.connectors, self.platform: self.platform_section()},
        }

    @defer.inlineCallbacks
    def start_hub(self, testcase: TestCase) -> Any:
        """Start the simulator on the hub's address, then the hub."""
        globalLogPublisher.addObserver(self._observe)
        testcase.addCleanup(globalLogPublisher.removeObserver, self._observe)
        port = self.sim.listen(self.reactor, 0, interface=self.address)
        testcase.addCleanup(port.stopListening)
        config = parse_config(self.config_data(), environ={}, registry=self.registry)
        self.env.hubs.append(self)  # type: ignore[arg-type]
        self.env.publish(self.domain, self.address)
        hub = build_hub(config, self.reactor, registry=self.registry)
        self.service = hub
        testcase.addCleanup(self.stop)
        hub.startService()
        yield self.env.with_diagnostics(hub.started)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop the hub."""
        hub, self.service = self.service, None
        if hub is not None:
            yield hub.stopService()
