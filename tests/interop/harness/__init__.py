"""
Reusable harness for interop tests with real peers.

  - L{dns}: in-process authoritative DNS server with query recording;
  - L{netns}: isolation guard and loopback address allocation;
  - L{process}: child processes, port/log readiness, no blocking;
  - L{prosody}, L{ejabberd}: private server instances with generated configs,
    both on L{xmppserver} (log, diagnostics, start and stop);
  - L{xmppclient}: slixmpp clients on an asyncio thread, Deferred API;
  - L{hub}: the nextplane hub itself, in-process, as an XMPP or SIP peer
    (L{siphub} keeps the names the SIP tests use);
  - L{env}: L{InteropEnvironment} wiring it all up for one trial test.
"""

from .dns import DnsQuery, DnsServer, DnsZone
from .env import InteropEnvironment, InteropFailure
from .hub import HubOptions, HubUnderTest
from .netns import IsolationError, require_isolation
from .xmppclient import ReceivedMessage, ReceivedPresence, XmppTestClient

__all__ = [
    "DnsQuery",
    "DnsServer",
    "DnsZone",
    "HubOptions",
    "HubUnderTest",
    "InteropEnvironment",
    "InteropFailure",
    "IsolationError",
    "ReceivedMessage",
    "ReceivedPresence",
    "XmppTestClient",
    "require_isolation",
]
