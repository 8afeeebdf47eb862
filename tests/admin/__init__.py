"""
Tests for the admin API (L{nextplane.admin}).
"""
