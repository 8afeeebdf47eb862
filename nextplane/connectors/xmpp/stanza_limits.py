# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
Bounds on what a peer's stanza may carry, shared by the readers and writers
of L{nextplane.connectors.xmpp.stanzas}.
"""

__all__ = [
    "MAX_BODY_CHARS",
    "MAX_ERROR_TEXT_CHARS",
    "MAX_ID_CHARS",
    "MAX_JID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_REACTIONS",
    "MAX_REACTION_CHARS",
    "MAX_STATUS_CHARS",
]

#: Longer bodies are refused with C{policy-violation}.
MAX_BODY_CHARS = 65_536
#: Reactions beyond this many in one C{<reactions>} element are ignored.
MAX_REACTIONS = 32
#: Longer reaction strings are ignored (one emoji, even a long ZWJ sequence, fits).
MAX_REACTION_CHARS = 64
#: Longer stanza ids count as absent.
MAX_ID_CHARS = 256
#: Presence status texts are cut to this length.
MAX_STATUS_CHARS = 1024
#: Error texts quoted in a L{DeliveryError} reason are cut to this length.
MAX_ERROR_TEXT_CHARS = 200
#: File names and nicknames are cut to this length.
MAX_NAME_CHARS = 256
#: Longer JIDs are invalid (three parts of at most 1023 bytes, RFC 7622).
MAX_JID_CHARS = 3071
