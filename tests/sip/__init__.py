"""
Tests for L{nextplane.connectors.sip}.
"""
