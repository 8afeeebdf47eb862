# -*- test-case-name: tests.federation.test_tls -*-
"""
TLS pieces every federation protocol uses: one context per tenant domain
(server side with SNI, client side presenting the tenant's certificate)
and the connection creators Twisted's TLS wants.

Peers' chains are never judged by OpenSSL here: each context accepts any
certificate (L{nextplane.tls.accept_any_certificate}) and the protocol
checks the chain and identities after the handshake, so the reason can be
logged and answered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from OpenSSL import SSL
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from zope.interface import implementer

from ...tls import Credentials, accept_any_certificate, alpn_selector

__all__ = [
    "ClientCreator",
    "ServerCreator",
    "client_contexts",
    "normalise",
    "server_contexts",
]


def normalise(domain: str) -> str:
    """
    A domain as context tables key it: lower case, no trailing dot.
    """
    return domain.rstrip(".").lower()


@implementer(IOpenSSLServerConnectionCreator)
class ServerCreator:
    """
    Creates the server side of one inbound TLS connection from C{context}
    (whose SNI callback may switch it).
    """

    def __init__(self, context: SSL.Context) -> None:
        self._context = context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N803
        """
        A new connection in C{context}.
        """
        return SSL.Connection(self._context, None)


@implementer(IOpenSSLClientConnectionCreator)
class ClientCreator:
    """
    Creates the client side of one outbound TLS connection from C{context},
    sending C{server_name} as SNI and offering C{alpn} if given.
    """

    def __init__(self, context: SSL.Context, server_name: str, alpn: bytes | None = None) -> None:
        self._context = context
        self._server_name = server_name.encode("idna")
        self._alpn = alpn

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:  # noqa: N803
        """
        A new connection in C{context} with SNI (and ALPN) set.
        """
        connection = SSL.Connection(self._context, None)
        connection.set_tlsext_host_name(self._server_name)
        if self._alpn is not None:
            connection.set_alpn_protos([self._alpn])
        return connection


def server_contexts(
    credentials: Mapping[str, Credentials],
    verify_mode: int,
    alpn: bytes | None,
    for_server_name: Callable[[bytes | None], SSL.Context | None],
) -> dict[str, SSL.Context]:
    """
    One server context per tenant domain (normalised), presenting its
    credentials.

    @param verify_mode: OpenSSL's client-certificate mode (request, or
        require with C{VERIFY_FAIL_IF_NO_PEER_CERT}); the chain itself is
        judged after the handshake.
    @param alpn: The protocol to agree on when a client offers it.
    @param for_server_name: The SNI callback: the context for a server name,
        or L{None} to keep the current one.
    """
    contexts: dict[str, SSL.Context] = {}
    for domain, creds in credentials.items():
        context = creds.context(contextForServerName=for_server_name)
        context.set_verify(verify_mode, accept_any_certificate)
        context.set_alpn_select_callback(alpn_selector(alpn))
        contexts[normalise(domain)] = context
    return contexts


def client_contexts(credentials: Mapping[str, Credentials]) -> dict[str, SSL.Context]:
    """
    One client context per tenant domain (normalised), presenting its
    credentials as client certificate; the server's certificate is judged
    after the handshake.
    """
    contexts: dict[str, SSL.Context] = {}
    for domain, creds in credentials.items():
        context = creds.context()
        context.set_verify(SSL.VERIFY_NONE, accept_any_certificate)
        contexts[normalise(domain)] = context
    return contexts
