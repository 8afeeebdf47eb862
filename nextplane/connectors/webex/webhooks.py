# -*- test-case-name: tests.webex.test_webhooks -*-
"""
The webhook keeper: the hub keeps its own Webex webhooks.

At start, and when the public URL changes, L{keep_webhooks} lists the
bot's webhooks and makes them match what the hub needs
(L{SUBSCRIPTIONS}): one webhook per resource and event, each signed with
the hub's secret and pointing at C{<public URL>/webex/events}:

  - a missing one is created;
  - one with another target, name or secret is updated in place;
  - a disabled one (Webex switches a webhook off after 100 failed
    deliveries within 5 minutes and never back on) is re-enabled, with a
    warning saying why it was off and that events in between were not
    delivered;
  - surplus copies for the same resource and event are deleted.

Webhooks for other resources, or with a filter, are someone else's and left
alone. Running it twice changes nothing the second time. The routine is
injectable: it takes the REST call as a function (the kit's caller or
L{nextplane.connectors.webex.transport.RestClient.call}).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from attrs import frozen
from twisted.logger import Logger

from .api import (
    ApiRequest,
    Webhook,
    create_webhook,
    delete_webhook,
    list_webhooks,
    parse_webhook,
    parse_webhooks,
    update_webhook,
)

__all__ = [
    "EVENTS_PATH",
    "SUBSCRIPTIONS",
    "KeepReport",
    "Subscription",
    "events_url",
    "keep_webhooks",
]

log = Logger()

#: Where the public listener receives Webex deliveries.
EVENTS_PATH = "/webex/events"
_NAME_PREFIX = "nextplane"
_ACTIVE = "active"

Call = Callable[[ApiRequest], Awaitable[bytes]]


@frozen
class Subscription:
    """
    One resource and event the hub listens to.
    """

    resource: str
    event: str

    @property
    def name(self) -> str:
        """
        The webhook's name, e.g. C{nextplane messages/created}.
        """
        return f"{_NAME_PREFIX} {self.resource}/{self.event}"


#: Everything the hub subscribes to (issue 12).
SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription("messages", "created"),
    Subscription("messages", "deleted"),
    Subscription("attachmentActions", "created"),
    Subscription("memberships", "created"),
    Subscription("memberships", "deleted"),
    Subscription("rooms", "migrated"),
)


@frozen
class KeepReport:
    """
    What L{keep_webhooks} changed, as webhook ids.

    @ivar reenabled: Webhooks that were disabled and are active again;
        events in between were not delivered.
    """

    created: tuple[str, ...]
    updated: tuple[str, ...]
    reenabled: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: tuple[str, ...]


def events_url(public_url: str) -> str:
    """
    The webhook target for the hub's public URL.
    """
    return public_url.rstrip("/") + EVENTS_PATH


def _ours(hook: Webhook, wanted: Subscription) -> bool:
    return hook.resource == wanted.resource and hook.event == wanted.event and not hook.filter


def _current(hook: Webhook, wanted: Subscription, target: str, secret: str) -> bool:
    # Webex may not show the secret; when it does, it must be ours.
    return (
        hook.target_url == target
        and hook.name == wanted.name
        and hook.status == _ACTIVE
        and hook.secret in (None, secret)
    )


async def keep_webhooks(
    call: Call, public_url: str, secret: str, subscriptions: Sequence[Subscription] = SUBSCRIPTIONS
) -> KeepReport:
    """
    Make the bot's webhooks match C{subscriptions}; see the module docstring.

    @param call: Performs one request and returns the answer's body.
    @param public_url: The hub's public base URL.
    @param secret: The secret every webhook is signed with.
    @return: What changed.
    @raise nextplane.connectors.webex.api.WebexApiError: If Webex refuses a
        call; what was done before stays done, a second run completes it.
    """
    if not secret:
        raise ValueError("webhooks need a secret")
    target = events_url(public_url)
    existing = list(parse_webhooks(await call(list_webhooks())))
    created: list[str] = []
    updated: list[str] = []
    reenabled: list[str] = []
    deleted: list[str] = []
    unchanged: list[str] = []
    for wanted in subscriptions:
        matches = [hook for hook in existing if _ours(hook, wanted)]
        # Keep one that is already right when there is one, else the first.
        matches.sort(key=lambda hook: not _current(hook, wanted, target, secret))
        for surplus in matches[1:]:
            await call(delete_webhook(surplus.id))
            deleted.append(surplus.id)
        if not matches:
            request = create_webhook(wanted.name, target, wanted.resource, wanted.event, secret)
            created.append(parse_webhook(await call(request)).id)
            continue
        hook = matches[0]
        if _current(hook, wanted, target, secret):
            unchanged.append(hook.id)
            continue
        if hook.status != _ACTIVE:
            log.warn(
                "Webex webhook {name} was {status}: Webex switches a webhook off after "
                "100 failed deliveries within 5 minutes, so the hub was unreachable or "
                "failing; re-enabling it, events in between were not delivered",
                name=wanted.name,
                status=hook.status,
            )
            reenabled.append(hook.id)
        else:
            updated.append(hook.id)
        await call(update_webhook(hook.id, wanted.name, target, secret))
    return KeepReport(
        tuple(created), tuple(updated), tuple(reenabled), tuple(deleted), tuple(unchanged)
    )
