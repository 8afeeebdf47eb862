"""
The hub's neutral, immutable data model: addresses, rich text and events.
"""
