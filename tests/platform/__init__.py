"""Tests for the platform kit."""
