"""
Tests for L{nextplane.storage}: one contract, run against every backend.
"""
