"""Tests for nextplane.connectors.federation."""
