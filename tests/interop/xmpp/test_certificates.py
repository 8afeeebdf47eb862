"""
Certificate policy against real peers: when the hub requires certificates
from a domain, a peer whose certificate does not prove that domain is
refused in both directions, and says why.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.events import TextMessage
from nextplane.model.text import RichText

from .scenario import Scenario, prosody_scenario

PROSODY = "prosody1.test"


class CertificateRefusalTests(TestCase):
    """
    Prosody with an s2s certificate that does not prove its domain.
    """

    timeout = 90

    @defer.inlineCallbacks
    def _refused(self, s: Scenario, inbound_reason: str, outbound_reason: str) -> Any:
        yield s.client.send_message(s.hub_jid, "never arrives", id="cert-1")
        bounce = yield s.check(
            s.client.wait_for_message(lambda m: m.id == "cert-1", type="error", timeout=30)
        )
        self.assertIsNotNone(bounce.error_condition)
        self.assertEqual(s.hub.delivered("message"), [])
        self.assertEqual(s.hub.inbound_streams(PROSODY), [])
        yield s.check(s.hub.wait_for_log(inbound_reason))
        # Prosody was told why.
        yield s.check(
            s.server.wait_for_log(
                rf"Session closed by remote with error: not-authorized \({inbound_reason}\)"
            )
        )

        outcome = yield s.hub.inject(
            TextMessage(sender=s.hub_user, recipient=s.remote, body=RichText.plain("nor this"))
        )
        self.assertFalse(outcome.delivered)
        self.assertEqual(outcome.condition, "remote-server-timeout")
        self.assertIn(outbound_reason, outcome.reason)
        self.assertIsNone(s.hub.outbound_stream(PROSODY))
        self.assertEqual(s.hub.delivered("message"), [])

    @defer.inlineCallbacks
    def test_wrong_name_refused_for_secure_domain(self) -> Any:
        """
        Prosody presents a certificate from the trusted CA but for another
        name, and the hub lists its domain in secure_domains: its messages
        never arrive (the hub offers it neither EXTERNAL nor dialback and
        refuses its dialback), and the hub will not send to it either.
        """
        s = yield prosody_scenario(
            self,
            PROSODY,
            prosody=lambda env: {"s2s_cert": env.cert_for(PROSODY, identity="elsewhere.test")},
            hub={"secure_domains": [PROSODY]},
        )
        yield self._refused(
            s,
            f"{PROSODY} must authenticate with a trusted certificate",
            f"certificate is not valid for {PROSODY}",
        )

    @defer.inlineCallbacks
    def test_untrusted_refused_when_certificates_required(self) -> Any:
        """
        With require_certificates on, a Prosody whose certificate comes
        from an untrusted CA is refused the same way.
        """
        s = yield prosody_scenario(
            self,
            PROSODY,
            prosody=lambda env: {
                "s2s_cert": env.cert_for(PROSODY, ca=env.rogue_ca),
                "s2s_insecure_domains": ["hub.test"],
            },
            hub={"require_certificates": True},
        )
        yield self._refused(
            s,
            f"{PROSODY} must authenticate with a trusted certificate",
            "certificate not trusted",
        )
