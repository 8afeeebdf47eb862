"""
Interop: a Slack user (simulated workspace over real HTTP) with users of
real XMPP servers, through the hub.
"""
