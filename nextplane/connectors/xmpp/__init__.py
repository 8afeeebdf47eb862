"""
XMPP federation: the server-to-server stream layer and stanza mapping.
"""
