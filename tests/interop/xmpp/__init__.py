"""
The hub's XMPP federation against real Prosody and ejabberd.

Run with C{make interop-xmpp} (C{scripts/in-netns}, see L{tests.interop}).
"""
