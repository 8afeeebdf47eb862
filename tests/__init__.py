"""
Tests for nextplane.
"""
