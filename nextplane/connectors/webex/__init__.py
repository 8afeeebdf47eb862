"""
Cisco Webex: the pieces of the Webex bot connector that need no wiring.

  - L{signature}: C{X-Spark-Signature} (hex HMAC-SHA1 of the raw body),
    constant-time, several secrets for rotation; refusals are 401.
  - L{events}: webhook envelopes -> typed, ids-only values with a dedupe key.
  - L{webhooks}: the keeper that creates, updates, re-enables and prunes the
    bot's webhooks (C{<public URL>/webex/events}); idempotent.
  - L{api}: REST request shapes and answers, error classes (429/423 with
    C{Retry-After}, 15 s without), file URLs fetched only below the base URL.
  - L{transport}: one exchange over an injected treq client (start-up, tests).
  - L{format}: Webex markdown and HTML <-> the rich-text tree.
  - L{split}: the 7,439-byte limit: pieces cut between nodes or words, or
    a refusal.
  - L{cards}: the Webex specifics of the contact-request card and its
    answers, and the name header of contacts' messages.

The connector class on the platform kit is built from these, with
C{nextplane.testing.webex_sim} as the Webex of the tests.

One Webex rule shapes that connector: in a group space a bot hears only
messages that @mention it. A space the bot creates for a contact (title:
the contact's name, members: the bot and the user) is a group space, so
a plain reply there reaches no webhook; the simulator enforces this. The
bot hears everything in its direct (1:1) space with a user.
"""
