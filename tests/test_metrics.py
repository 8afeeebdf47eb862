"""
Tests for L{nextplane.metrics} and C{/readyz}: the composed hub on a memory
reactor, scraped through StubTreq and read with prometheus_client's parser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from treq.testing import StubTreq
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from nextplane import tap
from nextplane.config import parse_config
from nextplane.metrics.links import federation_links
from nextplane.metrics.tally import PlatformTally
from nextplane.model.address import Address
from nextplane.model.events import TextMessage
from nextplane.model.text import RichText
from nextplane.storage.memory import MemoryStore
from nextplane.testing.connectors import TEST_CONNECTORS
from tests.xmpp.certs import pki

TOKEN = "metrics-token-0123456789abcdef"


class HubMetricsTests(SynchronousTestCase):
    def setUp(self) -> None:
        certs = pki()
        self.config = parse_config(
            {
                "web": {"listen": "tcp:0", "admin_token": TOKEN},
                "router": {"require_accepted_contact": False},
                "tenants": [
                    {
                        "domain": domain,
                        "platform": "recording",
                        "workspace": "w",
                        "certificate": tenant.certificate,
                        "private_key": tenant.private_key,
                    }
                    for domain, tenant in (("hub.test", certs.hub), ("other.test", certs.other))
                ],
                "connectors": {"recording": {}},
            },
            environ={},
            registry=TEST_CONNECTORS,
        )
        self.reactor = MemoryReactorClock()
        self.reactor.advance(datetime.now(UTC).timestamp())
        self.hub: Any = tap.build_hub(
            self.config, self.reactor, store=MemoryStore(), resolver=None, registry=TEST_CONNECTORS
        )
        self.client = StubTreq(self.hub.admin_web.resource())

    def get(self, path: str, token: str | None = TOKEN, public: bool = False) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = StubTreq(self.hub.web_app.resource()) if public else self.client
        response = self.successResultOf(client.get(f"http://hub.test{path}", headers=headers))
        return response.code, self.successResultOf(response.text())

    def scrape(self) -> dict[str, Any]:
        code, text = self.get("/metrics")
        self.assertEqual(code, 200, text)
        return {family.name: family for family in text_string_to_metric_families(text)}

    def test_counts_a_routed_message(self) -> None:
        """
        /metrics parses with prometheus_client's parser and counts a routed
        message by source, destination, category and decision, with its
        routing and delivery latency; no label carries an address.
        """
        self.hub.startService()
        self.successResultOf(self.hub.started)
        sent = datetime.fromtimestamp(self.reactor.seconds(), UTC) - timedelta(seconds=2)
        message = TextMessage(
            sender=Address("alice", "hub.test"),
            recipient=Address("bob", "other.test"),
            timestamp=sent,
            body=RichText.plain("hello"),
        )
        outcome = self.successResultOf(self.hub.connectors["recording"].inject(message))
        self.assertTrue(outcome.delivered)

        families = self.scrape()
        [routed] = families["nextplane_events_routed"].samples
        self.assertEqual(routed.name, "nextplane_events_routed_total")
        self.assertEqual(
            routed.labels,
            {
                "source": "recording",
                "destination": "recording",
                "category": "im",
                "decision": "delivered",
            },
        )
        self.assertEqual(routed.value, 1.0)
        counts = {
            s.name: s.value
            for s in families["nextplane_routing_seconds"].samples
            + families["nextplane_delivery_seconds"].samples
            if s.name.endswith("_count")
        }
        self.assertEqual(
            counts,
            {"nextplane_routing_seconds_count": 1.0, "nextplane_delivery_seconds_count": 1.0},
        )
        [delivery_sum] = [
            s for s in families["nextplane_delivery_seconds"].samples if s.name.endswith("_sum")
        ]
        self.assertEqual(delivery_sum.value, 2.0)
        for family in families.values():
            for sample in family.samples:
                for value in sample.labels.values():
                    self.assertNotIn("@", value)
                    self.assertNotIn("hello", value)
        self.successResultOf(self.hub.stopService())

    def test_components_and_certificates(self) -> None:
        """Component states, queue depths and each tenant's certificate expiry are exported."""
        self.hub.startService()
        self.successResultOf(self.hub.started)
        families = self.scrape()
        up = {s.labels["component"]: s.value for s in families["nextplane_component_up"].samples}
        self.assertEqual(up, {"storage": 1.0, "recording": 1.0, "web": 1.0, "admin": 1.0})
        expiry = {
            s.labels["tenant"]: s.value
            for s in families["nextplane_certificate_expiry_seconds"].samples
        }
        self.assertEqual(set(expiry), {"hub.test", "other.test"})
        for seconds in expiry.values():
            self.assertGreater(seconds, 86400)
        self.assertIn("nextplane_federation_connections", families)
        self.assertIn("nextplane_platform_rate_limited", families)
        self.successResultOf(self.hub.stopService())

    def test_token_required(self) -> None:
        """/metrics wants the admin bearer token."""
        self.assertEqual(self.get("/metrics", token=None)[0], 401)
        self.assertEqual(self.get("/metrics", token="wrong-token-0123456789")[0], 401)

    def test_readyz(self) -> None:
        """/readyz is 503 naming what is waited for until the hub started, then 200."""
        code, text = self.get("/readyz", token=None, public=True)
        self.assertEqual(code, 503)
        self.assertIn('"start-up"', text)
        self.assertIn('"storage"', text)
        self.hub.startService()
        self.successResultOf(self.hub.started)
        self.assertEqual(
            self.get("/readyz", token=None, public=True), (200, '{"status": "ready"}\n')
        )
        self.assertEqual(
            self.get("/metrics", public=True)[0], 404, "no metrics on the public listener"
        )
        self.successResultOf(self.hub.stopService())


class FakeStream:
    def __init__(self, pairs: set[tuple[str, str]], sasl: str | None) -> None:
        self.authenticated_pairs = pairs
        self.sasl_domain = sasl


class FakePool:
    def __init__(self, streams: dict[tuple[str, str], Any]) -> None:
        self._streams = streams

    def pairs(self) -> list[tuple[str, str]]:
        return list(self._streams)

    def stream_for(self, local: str, remote: str) -> Any:
        return self._streams.get((local, remote))


class FakeS2S:
    def __init__(self, inbound: list[FakeStream], pool: FakePool) -> None:
        self._inbound = inbound
        self.pool = pool

    def inbound_streams(self) -> list[FakeStream]:
        return self._inbound


class FakeConnection:
    def __init__(self, outbound: bool, remote: str | None, peers: frozenset[str]) -> None:
        self.outbound = outbound
        self.remote_domain = remote
        self.peer_identities = peers
        self.trusted_relay = False


class LinkTests(SynchronousTestCase):
    def test_links(self) -> None:
        """
        XMPP streams and SIP connections are counted by peer domain,
        direction and authentication; an unauthenticated peer is not named.
        """

        class Outbound:
            authentication = "dialback"

        s2s = FakeS2S(
            [
                FakeStream({("prosody.test", "hub.test")}, "prosody.test"),
                FakeStream({("prosody.test", "hub.test")}, "prosody.test"),
                FakeStream(set(), None),
            ],
            FakePool({("hub.test", "ejabberd.test"): Outbound()}),
        )

        class Transport:
            class table:  # noqa: N801
                @staticmethod
                def connections() -> list[FakeConnection]:
                    return [
                        FakeConnection(True, "sip.test", frozenset({"sip.test"})),
                        FakeConnection(False, None, frozenset({"Lync.Test"})),
                    ]

        class Sip:
            transport = Transport()

        links = federation_links({"xmpp": [s2s], "sip": Sip(), "echo": object()})
        self.assertEqual(
            dict(links),
            {
                ("xmpp", "prosody.test", "inbound", "EXTERNAL"): 2,
                ("xmpp", "", "inbound", "negotiating"): 1,
                ("xmpp", "ejabberd.test", "outbound", "dialback"): 1,
                ("sip", "sip.test", "outbound", "mutual-tls"): 1,
                ("sip", "lync.test", "inbound", "mutual-tls"): 1,
            },
        )


class TallyTests(SynchronousTestCase):
    def test_tally(self) -> None:
        """429s and errors are counted per platform; long error codes are cut."""
        tally = PlatformTally()
        tally.limited("slack")
        tally.limited("slack")
        tally.failed("slack", "channel_not_found")
        tally.failed("slack", "x" * 100)
        self.assertEqual(tally.rate_limited["slack"], 2)
        self.assertEqual(tally.errors[("slack", "channel_not_found")], 1)
        self.assertEqual(tally.errors[("slack", "x" * 64)], 1)


class MeteredSinkTests(SynchronousTestCase):
    """
    The metered sink passes the router's options on.
    """

    def test_tell_sender_passed_on(self) -> None:
        """A connector answering the sender itself routes with tell_sender=False."""
        from prometheus_client import CollectorRegistry
        from twisted.internet.defer import succeed
        from twisted.internet.task import Clock

        from nextplane.metrics.routing import MeteredSink, RoutingMetrics

        calls: list[dict[str, Any]] = []

        class Router:
            def route(self, event: Any, **options: Any) -> Any:
                calls.append(options)
                return succeed(None)

        metrics = RoutingMetrics(CollectorRegistry(), Clock(), {}, lambda domain: None)
        sink = MeteredSink(Router(), metrics, "slack")  # type: ignore[arg-type]
        a, b = Address("a", "acme.test"), Address("b", "w.test")
        event = TextMessage(sender=a, recipient=b, body=RichText([]))
        self.successResultOf(sink.route(event, tell_sender=False))
        self.successResultOf(sink.route(event))
        self.assertEqual(calls, [{"tell_sender": False}, {}])
