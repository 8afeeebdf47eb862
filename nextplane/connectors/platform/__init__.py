"""
The platform kit: what every bot-platform connector (Slack, Teams, Webex)
needs apart from its wire format.

  - L{delivery}: per-conversation queues, acknowledgement to the router,
    late failures told to the sender, revocation and stop.
  - L{httpapi} and L{ratelimit}: calling the platform's API (retries by
    what a failure says, backoff with jitter, bounded pool, rate windows).
  - L{commands}: the C{invite | remove | block | list | help} words and
    their answers.
  - L{cards}: the contact-request card model each platform renders.
  - L{directory}: platform users as hub addresses; contacts' profiles.
  - L{conversations}: contact pair <-> platform conversation; reply targets.
  - L{targets}: one bot chat carrying many contacts (Teams, Webex): the
    contact a user's message is for, and when to confirm it.
  - L{files}: signed, expiring file links, streamed through the hub.
  - L{replay}: a bounded replay guard (webhook retries, one-time tokens).
  - L{service}: the connector's service (delivery and directory from the
    hub's settings, stop, revocation, commands, refusals) and its build
    (L{service.platform_builder}).

Each platform is an adapter on these (L{nextplane.connectors.slack});
L{nextplane.testing.kit_platform} is a toy platform built from the kit alone.
"""
