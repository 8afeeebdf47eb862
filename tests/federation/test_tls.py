"""
Tests for L{nextplane.connectors.federation.tls}: per-tenant contexts and
the connection creators.
"""

from __future__ import annotations

from OpenSSL import SSL
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.federation.tls import (
    ClientCreator,
    ServerCreator,
    client_contexts,
    normalise,
    server_contexts,
)
from nextplane.tls import load_credentials

from ..sip.certs import sip_pki


class ContextTests(SynchronousTestCase):
    def setUp(self) -> None:
        pki = sip_pki()
        self.credentials = load_credentials({"Hub.Test": pki.hub, "other.test": pki.other})

    def test_normalise(self) -> None:
        self.assertEqual(normalise("Sip.Example.COM."), "sip.example.com")

    def test_client_contexts(self) -> None:
        """
        One client context per tenant, keyed by normalised domain, judging
        nothing during the handshake.
        """
        contexts = client_contexts(self.credentials)
        self.assertEqual(sorted(contexts), ["hub.test", "other.test"])
        self.assertEqual(contexts["hub.test"].get_verify_mode(), SSL.VERIFY_NONE)

    def test_server_contexts(self) -> None:
        """
        One server context per tenant with the asked client-certificate
        mode.
        """
        mode = SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        contexts = server_contexts(self.credentials, mode, b"xmpp-server", lambda name: None)
        self.assertEqual(sorted(contexts), ["hub.test", "other.test"])
        self.assertEqual(contexts["other.test"].get_verify_mode(), mode)

    def test_creators(self) -> None:
        """
        The client creator sends SNI; both make connections in the given
        context.
        """
        context = client_contexts(self.credentials)["hub.test"]
        client = ClientCreator(context, "sip.peer.test", b"xmpp-server").clientConnectionForTLS(
            None
        )
        self.assertIs(client.get_context(), context)
        self.assertEqual(client.get_servername(), b"sip.peer.test")
        server = ServerCreator(context).serverConnectionForTLS(None)
        self.assertIs(server.get_context(), context)
