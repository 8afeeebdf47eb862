"""
nextplane: a universal messaging interoperability hub on Twisted.

Federates Slack, Microsoft Teams and Webex workspaces with XMPP servers and
SIP IM systems: users add external contacts and chat natively; the hub keeps
only metadata.
"""

__all__ = ["__version__"]

__version__ = "0.1.0.dev0"
