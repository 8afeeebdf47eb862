"""
Tests for the Slack connector and the Slack simulator.
"""
