"""
What the federation connectors (XMPP and SIP) share: the TLS connection
creators and per-tenant contexts (L{tls}), the resolver's static routes
and address lookups (L{resolve}), and the wiring of listeners and policy
refresh in their C{build()} (L{wiring}).
"""
