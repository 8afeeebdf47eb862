# -*- test-case-name: tests.slack.test_simulator -*-
"""
A local Slack: the Web API, the file upload host and file downloads, as a
Klein application over a simulated L{Workspace}.

Use it in memory through L{treq.testing.StubTreq} (C{StubTreq(sim.resource())})
or on a real port (C{Site(sim.resource())}) for benchmarks; pass the
matching C{base_url} so the URLs it hands out (upload URLs, C{url_private})
point back at it.

Every API request is checked against Slack's published description
(L{nextplane.testing.slack_sim.spec}); a violation gets Slack's
C{invalid_arguments} answer and is recorded in L{SlackSimulator.violations},
so a test can assert there were none. Tokens come from the
C{Authorization: Bearer} header and must hold a scope the method needs.

Rate limits: in C{REAL_LIMITS} mode each method is held to its tier per
token (per minute, sliding window) and C{chat.postMessage} to one message
per second per channel, answering HTTP 429 with C{Retry-After}
(U{https://docs.slack.dev/apis/web-api/rate-limits}); C{CAPACITY} mode has
no limits, to measure the hub. Time comes from an injected clock.

L{SlackSimulator.inject} queues faults per method (5xx, hangs and
connection resets before or after acting, error codes, 429s) to exercise
the client's retry rules; L{SlackSimulator.outage} cycles through faults
for every call until a given time.

Users acting in Slack (L{SlackSimulator.user_posts} and friends) change
the workspace and, with an C{EventSender} attached, reach the hub as signed
Events API deliveries.

Parts: L{nextplane.testing.slack_sim.webapi} (the endpoint: checks,
limits, faults), L{nextplane.testing.slack_sim.methods} and
L{nextplane.testing.slack_sim.files} (the methods and file hosts),
L{nextplane.testing.slack_sim.actors} (users acting), over
L{nextplane.testing.slack_sim.base}; the modes and records are in
L{nextplane.testing.slack_sim.records}.
"""

from .actors import UserActions
from .files import FileMethods
from .methods import ChatMethods
from .webapi import WebApi

__all__ = ["SlackSimulator"]


class SlackSimulator(WebApi, ChatMethods, FileMethods, UserActions):
    """
    The simulator; see the module docstring.

    @ivar workspace: The state, for set-up and assertions.
    @ivar calls: Every API request, in order.
    @ivar violations: Requests that broke the spec.
    @ivar rate_limited: Requests answered 429.
    @ivar hung: Requests left without an answer by a hang fault.
    """
