"""
The hub's DNS lookups log nothing: Twisted opens a UDP port per query and
logs its start and close, which the hub's log observer leaves out.
"""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import succeed
from twisted.logger import LogEvent, globalLogPublisher
from twisted.names import common, dns, server
from twisted.trial.unittest import TestCase

from nextplane.logs import make_observer
from nextplane.tap import make_resolver


class _Answers(common.ResolverBase):
    """Answers every question with one SRV record."""

    def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> Any:
        record = dns.Record_SRV(0, 5, 5269, b"xmpp.widget.test", ttl=60)
        answer = dns.RRHeader(name, dns.SRV, dns.IN, 60, record, auth=True)
        return succeed(([answer], [], []))


class QuietLookupTests(TestCase):
    timeout = 30

    async def test_lookup_is_quiet(self) -> None:
        """
        A lookup through the hub's resolver reaches the observer as
        Twisted's port lines, and the hub's observer writes none of them.
        """
        factory = server.DNSServerFactory(clients=[_Answers()])
        port = reactor.listenUDP(0, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        config: Any = SimpleNamespace(
            dns=SimpleNamespace(servers=[("127.0.0.1", port.getHost().port)], timeout=5)
        )
        resolver = make_resolver(config, reactor)
        raw: list[LogEvent] = []
        out = io.StringIO()
        observer = make_observer("json", out)
        globalLogPublisher.addObserver(raw.append)
        globalLogPublisher.addObserver(observer)
        try:
            answers, _, _ = await resolver.lookupService("_xmpp-server._tcp.widget.test")
        finally:
            globalLogPublisher.removeObserver(observer)
            globalLogPublisher.removeObserver(raw.append)
        self.assertEqual(answers[0].payload.target.name, b"xmpp.widget.test")
        self.assertTrue(
            any("starting on" in str(event.get("log_text", "")) for event in raw),
            "the lookup did not open a UDP port as expected",
        )
        written = [json.loads(line)["message"] for line in out.getvalue().splitlines()]
        self.assertEqual([m for m in written if "starting on" in m or "Closed" in m], [])
