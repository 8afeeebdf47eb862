"""
The Slack side of process-based benchmarks: one simulated Slack workspace
(L{nextplane.testing.slack_sim}, L{CAPACITY} mode: no limits) served over
HTTP on loopback by the load process, and what the hub needs to serve it.

Usage, in the load process (one Twisted reactor for generator and sink)::

    tenant = SlackTenant(reactor, users=50, on_post=sink)    # sink(channel, text, ns)
    tenant.listen()                                          # port 0 on 127.0.0.1
    config = {..., **tenant.hub_config(certs)}               # merge "tenants" lists
    # before the hub starts, with the hub's database path:
    channels = await tenant.seed(db_path, [(0, Address("peter", "widget.test")), ...])
    hub = HubProcess(directory, config)
    await deferToThread(hub.start)                           # the reactor must serve Slack

    # in the sink:
    marker = parse_marker(text)                              # (sequence, scheduled ns) or None

What it provides:

  - Users C{user<i>} (e-mail C{user<i>@<domain>}, so hub address
    C{user<i>@<domain>}), a bot token holding
    L{nextplane.connectors.slack.connector.SCOPES}.
  - L{SlackTenant.on_post}: called for every successful C{chat.postMessage}
    with (channel id, text, monotonic ns when the request was handled);
    the app's intro posts and notices reach it too, so parse what you need
    (L{parse_marker}) and ignore the rest.
  - L{SlackTenant.hub_config}: the hub configuration fragment, C{{"tenants":
    [entry], "connectors": {"slack": section}}}; merge it into yours.
  - L{SlackTenant.seed}: accepted contacts (hub user <-> remote address)
    written into the hub's SQLite database before the hub starts, with the
    hub user records and, by default, each contact's private conversation
    created in the simulator and bound to the chat session. Why: the hub
    otherwise finds users with C{users.lookupByEmail} (Tier 3, 50/min) and
    creates conversations with C{conversations.create} (Tier 2, 20/min), so
    a thousand conversations would take the hub's own rate limiter most of
    an hour to set up. The first message of a contact then goes straight
    to C{chat.postMessage}, as it does in a steady-state deployment.

Mind the hub's own pacing: its Slack client spaces C{chat.postMessage} to
one conversation by one second (Slack's documented limit) whatever the
simulator's mode, so a benchmark offering R messages/s needs well over R
conversations (contacts), spread evenly, or it measures that pacing.

By default the simulator keeps no history (messages and call records are
dropped as they come) so a long run does not grow the load process; pass
C{keep_history=True} to assert on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IListeningPort
from twisted.web.iweb import IRequest

from bench.common import now_ns
from nextplane.connectors.slack.connector import SCOPES, channel_name
from nextplane.connectors.slack.workspace import platform_id
from nextplane.devcerts import CertPaths
from nextplane.model.address import Address
from nextplane.storage.records import (
    ContactDirection,
    ContactRecord,
    ContactState,
    TenantRecord,
    UserRecord,
)
from nextplane.testing.slack_sim import CAPACITY, SimToken, SlackSimulator, Workspace

__all__ = [
    "PostHook",
    "SlackTenant",
    "marker",
    "parse_marker",
]

#: Called for each successful C{chat.postMessage}: (channel id, text,
#: monotonic ns when the simulator handled the request).
PostHook = Callable[[str, str, int], object]

#: Fixed secrets: nothing here is real.
SIGNING_SECRET = "bench-signing-secret-0123456789"
BOT_TOKEN = "xoxb-bench-0000000001"

_MARKER = re.compile(r"bench (\d+) (\d+)")


def marker(sequence: int, scheduled_ns: int) -> str:
    """
    The text a load generator puts in a message body so the sink can tell
    which message arrived and when it was scheduled: survives Slack mrkdwn
    conversion and SIP/XMPP bodies unchanged (letters, digits, spaces).
    """
    return f"bench {sequence} {scheduled_ns}"


def parse_marker(text: str) -> tuple[int, int] | None:
    """
    (sequence, scheduled ns) from a text holding L{marker}, or C{None}.
    """
    found = _MARKER.search(text)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2))


class _BenchSimulator(SlackSimulator):
    """
    The simulator with a hook on every successful post and optional
    forgetting of history.
    """

    def __init__(
        self, *args: Any, on_post: PostHook | None, keep_history: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_post = on_post
        self.keep_history = keep_history
        self.posts = 0

    def _m_chat_postMessage(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        received = now_ns()
        result = super()._m_chat_postMessage(token, args, request)
        self.posts += 1
        channel = str(result.get("channel", ""))
        if not self.keep_history:
            self.workspace.conversations[channel].messages.clear()
            if len(self.calls) > 10_000:
                del self.calls[:]
        if self.on_post is not None:
            self.on_post(channel, str(args.get("text") or ""), received)
        return result


class SlackTenant:
    """
    One Slack workspace for a hub tenant; see the module docstring.

    @ivar simulator: The L{SlackSimulator} (CAPACITY mode).
    @ivar workspace: Its state.
    @ivar user_ids: Slack user id of C{user<i>}, by i.
    @ivar api_base_url: The Web API URL the hub uses (set by L{listen}).
    """

    def __init__(
        self,
        reactor: Any,
        *,
        domain: str = "acme.test",
        users: int = 50,
        team_id: str = "T0BENCH01",
        on_post: PostHook | None = None,
        keep_history: bool = False,
    ) -> None:
        """
        @param reactor: The load process's reactor (clock and TCP).
        @param domain: The hub tenant's domain.
        @param users: How many Slack users (C{user0} ... C{user<users-1>}).
        @param on_post: See L{PostHook}; settable later as L{on_post}.
        @param keep_history: Keep messages and call records.
        """
        self.reactor = reactor
        self.domain = domain
        self.team_id = team_id
        self.workspace = Workspace(team_id=team_id, team_name=f"bench {domain}")
        self.workspace.add_token(BOT_TOKEN, set(SCOPES))
        self.user_ids: list[str] = [
            self.workspace.add_user(f"user{i}", email=f"user{i}@{domain}").id for i in range(users)
        ]
        self.simulator = _BenchSimulator(
            reactor,
            self.workspace,
            mode=CAPACITY,
            echo_bot_messages=False,
            on_post=on_post,
            keep_history=keep_history,
        )
        self.api_base_url = ""
        self._port: IListeningPort | None = None

    @property
    def on_post(self) -> PostHook | None:
        """
        The hook called on every successful C{chat.postMessage}.
        """
        return self.simulator.on_post

    @on_post.setter
    def on_post(self, hook: PostHook | None) -> None:
        self.simulator.on_post = hook

    @property
    def posts(self) -> int:
        """
        Successful C{chat.postMessage} calls so far (intro posts included).
        """
        return self.simulator.posts

    def address(self, index: int) -> Address:
        """
        The hub address of Slack user C{user<index>}.
        """
        return Address(f"user{index}", self.domain)

    def listen(self, port: int = 0, interface: str = "127.0.0.1") -> int:
        """
        Serve the Web API on C{interface}:C{port} (0: any free port).

        @return: The port.
        """
        self._port = self.simulator.listen(self.reactor, port, interface)
        self.api_base_url = f"{self.simulator.base_url}/api/"
        return int(self._port.getHost().port)  # type: ignore[attr-defined]

    def stop(self) -> Any:
        """
        Stop listening; returns a Deferred (or C{None} when not listening).
        """
        port, self._port = self._port, None
        return port.stopListening() if port is not None else None

    def tenant_entry(self, certs: CertPaths) -> dict[str, Any]:
        """
        The C{[[tenants]]} entry: C{domain} on platform C{slack}.
        """
        return {
            "domain": self.domain,
            "platform": "slack",
            "workspace": self.team_id,
            "certificate": str(certs.cert),
            "private_key": str(certs.key),
            "display_name": f"bench {self.domain}",
        }

    def connector_section(self) -> dict[str, Any]:
        """
        C{[connectors.slack]}: the simulator's URL and the bot token.
        """
        if not self.api_base_url:
            raise RuntimeError("call listen() before building the hub configuration")
        return {
            "signing_secret": SIGNING_SECRET,
            "api_base_url": self.api_base_url,
            "workspaces": {self.team_id: {"bot_token": BOT_TOKEN}},
        }

    def hub_config(self, certs: CertPaths) -> dict[str, Any]:
        """
        C{{"tenants": [entry], "connectors": {"slack": section}}}.
        """
        return {
            "tenants": [self.tenant_entry(certs)],
            "connectors": {"slack": self.connector_section()},
        }

    def conversation(self, index: int, contact: Address) -> str:
        """
        Create the private conversation of C{user<index>} with C{contact}
        (members: the user and the app), as the hub would on acceptance.

        @return: Its channel id.
        """
        name = channel_name("ext", contact, self.address(index))
        channel = self.workspace.add_channel(
            name, {self.workspace.bot_user_id, self.user_ids[index]}, is_private=True
        )
        return channel.id

    async def seed(
        self,
        database: Path | str,
        contacts: Iterable[tuple[int, Address]],
        *,
        conversations: bool = True,
    ) -> dict[tuple[int, str], str]:
        """
        Write the tenant, its users and accepted contacts into the hub's
        SQLite database (created with its schema when missing); call it
        before the hub starts (SQLite allows one writer at a time).

        @param database: The hub's C{[storage] sqlite_path}.
        @param contacts: (user index, remote address) pairs.
        @param conversations: Also create each contact's private
            conversation in the simulator and bind it to the chat session.
        @return: (user index, remote address text) -> channel id, for the
            conversations created.
        """
        from nextplane.storage.sqlite import SQLiteStore

        store = SQLiteStore(str(database), reactor=self.reactor)
        await store.open()
        channels: dict[tuple[int, str], str] = {}
        try:
            await store.put_tenant(
                TenantRecord(self.domain, "slack", self.team_id, f"bench {self.domain}")
            )
            pairs = list(contacts)
            users = [
                UserRecord(
                    address=self.address(i),
                    tenant=self.domain,
                    platform="slack",
                    platform_id=platform_id(self.team_id, self.user_ids[i]),
                    display_name=f"user{i}",
                )
                for i in sorted({i for i, _ in pairs})
            ]
            await _in_batches([partial(store.put_user, user) for user in users])
            when = datetime.now(UTC)

            async def one(index: int, remote: Address) -> None:
                owner = self.address(index)
                await store.put_contact(
                    ContactRecord(
                        owner,
                        remote,
                        ContactState.ACCEPTED,
                        ContactDirection.OUTBOUND,
                        when,
                        when,
                    )
                )
                if conversations:
                    session = await store.get_or_create_session(owner, remote, when)
                    channel = self.conversation(index, remote)
                    # The connector's store platform name: SlackWorkspace.platform.
                    await store.set_session_ref(
                        session.session_id, f"slack:{self.team_id}", channel
                    )
                    channels[(index, str(remote))] = channel

            await _in_batches([partial(_deferred, one, index, remote) for index, remote in pairs])
        finally:
            await store.close()
        return channels


def _deferred(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return Deferred.fromCoroutine(function(*args))


async def _in_batches(calls: Sequence[Callable[[], Any]], width: int = 256) -> None:
    """
    Run Deferred-returning C{calls} with at most C{width} outstanding, so
    a large seed does not queue everything on the store's thread pool.
    """
    for start in range(0, len(calls), width):
        await gatherResults([call() for call in calls[start : start + width]])
