"""
The process shell both platform bare relays (B8 Teams, B9 Webex) share:
arguments, the s2s stream to the sink, the s2s listener for the outbound
direction, the platform's HTTP listener and the "ready" line the benchmark
waits for. Each relay supplies only what is its platform's own.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.web.resource import Resource
from twisted.web.server import Site

from bench.xmpp_sink import S2SInitiator
from nextplane.devcerts import CertPaths

__all__ = ["QuietSite", "run_bare_relay"]

#: Given the reactor, the relay's config and the s2s stream to the sink:
#: the outbound side's s2s listening factory and the platform's web resource.
Build = Callable[[Any, dict[str, Any], S2SInitiator], Awaitable[tuple[Any, Resource]]]


class QuietSite(Site):
    """
    A site that logs no request lines.
    """

    noisy = False

    def log(self, request: Any) -> None:
        pass


def run_bare_relay(prog: str, argv: list[str], build: Build) -> int:
    """
    Run a bare relay process until it is killed.
    """
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--s2s-port", type=int, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    from twisted.internet import reactor

    config = json.loads(Path(args.config).read_text())
    cert = CertPaths(Path(config["certificate"]), Path(config["private_key"]), None)
    ca = CertPaths(Path(config["ca_certificate"]), Path(config["ca_certificate"]), None)
    stream = S2SInitiator(config["domain"], config["remote"], cert, ca)
    host, _, port = config["sink"].rpartition(":")

    async def start() -> None:
        await stream.connect(reactor, host, int(port))
        s2s_factory, resource = await build(reactor, config, stream)
        endpoint = TCP4ServerEndpoint(reactor, args.s2s_port, interface="127.0.0.1")
        await endpoint.listen(s2s_factory)
        reactor.listenTCP(args.port, QuietSite(resource), interface="127.0.0.1")  # type: ignore[attr-defined,arg-type]
        print("ready", flush=True)

    def failed(failure: Any) -> None:
        print(f"failed: {failure.getErrorMessage()}", flush=True)
        reactor.stop()  # type: ignore[attr-defined]

    started: Deferred[None] = ensureDeferred(start())
    started.addErrback(failed)
    reactor.run()  # type: ignore[attr-defined]
    return 0
