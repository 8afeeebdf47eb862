"""
Microsoft Teams through the Bot Framework: inbound token validation,
activity parsing, the outbound token, Connector REST request shapes,
rich-text translation, Adaptive Cards and the Teams app package.

The connector class that wires these to the platform kit comes later; no
C{teams} entry is registered yet.
"""
