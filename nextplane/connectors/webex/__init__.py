"""
Cisco Webex: the pieces of the Webex bot connector that need no wiring.

Webhook signatures (L{signature}), webhook envelopes (L{events}), the
webhook keeper (L{webhooks}), REST request shapes and answers (L{api}),
markdown and HTML translation (L{format}) and Adaptive Cards (L{cards}).
The connector class on the platform kit is built from these.
"""
