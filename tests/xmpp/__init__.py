"""
Tests for L{nextplane.connectors.xmpp}.
"""
