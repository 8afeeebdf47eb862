# -*- test-case-name: tests.webex.test_simulator -*-
"""
The simulated Webex: people, spaces, memberships, messages, card answers
and webhooks, with ids minted as Webex mints them.

A Webex id is the URL-safe base64 (unpadded) of C{ciscospark://us/<TYPE>/<uuid>};
L{mint_id} makes them from a seeded random source, so runs repeat, and
L{id_type} reads the type back.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections import deque
from typing import Any

from attrs import Factory, define

__all__ = [
    "SimAction",
    "SimFile",
    "SimMembership",
    "SimMessage",
    "SimPerson",
    "SimRoom",
    "SimWebhook",
    "WebexState",
    "id_type",
    "mint_id",
]


def mint_id(kind: str, rng: random.Random) -> str:
    """
    A new id of type C{kind} (C{PEOPLE}, C{ROOM}, C{MESSAGE}, ...).
    """
    raw = f"ciscospark://us/{kind}/{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def id_type(value: str) -> str | None:
    """
    The type an id names, or C{None} when it is not a Webex id.
    """
    try:
        padded = value + "=" * (-len(value) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        return None
    parts = raw.split("/")
    if len(parts) != 5 or parts[0] != "ciscospark:" or parts[1]:
        return None
    return parts[3]


@define
class SimPerson:
    """
    A person or bot; C{token} is its access token.
    """

    id: str
    email: str
    display_name: str
    org_id: str
    type: str = "person"
    token: str | None = None

    def json(self) -> dict[str, Any]:
        """
        The C{Person} object.
        """
        return {
            "id": self.id,
            "emails": [self.email],
            "displayName": self.display_name,
            "orgId": self.org_id,
            "type": self.type,
        }


@define
class SimRoom:
    """
    A space; C{type} is C{group} or C{direct}.
    """

    id: str
    title: str
    type: str
    creator_id: str
    created: str

    def json(self) -> dict[str, Any]:
        """
        The C{Room} object.
        """
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "isLocked": False,
            "creatorId": self.creator_id,
            "created": self.created,
        }


@define
class SimMembership:
    """
    A person in a space.
    """

    id: str
    room_id: str
    person_id: str
    created: str


@define
class SimMessage:
    """
    A message; C{attachments} are the cards it carries.
    """

    id: str
    room_id: str
    person_id: str
    created: str
    text: str | None = None
    markdown: str | None = None
    files: list[str] = Factory(list)
    attachments: list[dict[str, Any]] = Factory(list)
    parent_id: str | None = None
    mentioned: list[str] = Factory(list)
    updated: str | None = None


@define
class SimFile:
    """
    A file someone shared; its URL is C{<base>/contents/<id>}.
    """

    id: str
    name: str
    content_type: str
    data: bytes


@define
class SimAction:
    """
    A card answer (C{Action.Submit}).
    """

    id: str
    message_id: str
    room_id: str
    person_id: str
    inputs: dict[str, Any]
    created: str


@define
class SimWebhook:
    """
    A webhook; C{failures} are the times of recent failed deliveries.
    """

    id: str
    owner_id: str
    name: str
    target_url: str
    resource: str
    event: str
    created: str
    filter: str | None = None
    secret: str | None = None
    status: str = "active"
    failures: deque[float] = Factory(deque)

    def json(self) -> dict[str, Any]:
        """
        The C{Webhook} object.
        """
        document: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "targetUrl": self.target_url,
            "resource": self.resource,
            "event": self.event,
            "status": self.status,
            "created": self.created,
            "ownedBy": "creator",
            "createdBy": self.owner_id,
        }
        if self.filter:
            document["filter"] = self.filter
        if self.secret:
            document["secret"] = self.secret
        return document


@define
class WebexState:
    """
    Everything the simulator keeps, by id.
    """

    org_id: str = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9zaW0"
    seed: int = 1
    people: dict[str, SimPerson] = Factory(dict)
    rooms: dict[str, SimRoom] = Factory(dict)
    memberships: dict[str, SimMembership] = Factory(dict)
    messages: dict[str, SimMessage] = Factory(dict)
    actions: dict[str, SimAction] = Factory(dict)
    webhooks: dict[str, SimWebhook] = Factory(dict)
    files: dict[str, SimFile] = Factory(dict)
    rng: random.Random = Factory(lambda self: random.Random(self.seed), takes_self=True)
    # room id -> person id -> membership: lookups stay O(1) with many spaces
    # (a benchmark's 500 users made each scan of memberships the bottleneck).
    _by_room: dict[str, dict[str, SimMembership]] = Factory(dict)
    _rooms_of: dict[str, set[str]] = Factory(dict)

    def new_id(self, kind: str) -> str:
        """
        Mint an id of type C{kind}.
        """
        return mint_id(kind, self.rng)

    def add_person(
        self, email: str, display_name: str, *, bot: bool = False, token: str | None = None
    ) -> SimPerson:
        """
        Add a person (or a bot, with its token).
        """
        person = SimPerson(
            self.new_id("PEOPLE"),
            email,
            display_name,
            self.org_id,
            "bot" if bot else "person",
            token,
        )
        self.people[person.id] = person
        return person

    def by_token(self, token: str) -> SimPerson | None:
        """
        The person a token belongs to.
        """
        return next((p for p in self.people.values() if p.token == token), None)

    def by_email(self, email: str) -> SimPerson | None:
        """
        The person with this e-mail address (case-insensitive).
        """
        return next((p for p in self.people.values() if p.email.lower() == email.lower()), None)

    def members(self, room_id: str) -> list[str]:
        """
        The person ids in a space.
        """
        return list(self._by_room.get(room_id, {}))

    def membership(self, room_id: str, person_id: str) -> SimMembership | None:
        """
        A person's membership of a space, if any.
        """
        return self._by_room.get(room_id, {}).get(person_id)

    def room_memberships(self, room_id: str) -> list[SimMembership]:
        """
        The memberships of a space.
        """
        return list(self._by_room.get(room_id, {}).values())

    def rooms_of(self, person_id: str) -> set[str]:
        """
        The ids of the spaces a person is in.
        """
        return set(self._rooms_of.get(person_id, ()))

    def add_membership(self, membership: SimMembership) -> None:
        """
        Keep C{membership}.
        """
        self.memberships[membership.id] = membership
        self._by_room.setdefault(membership.room_id, {})[membership.person_id] = membership
        self._rooms_of.setdefault(membership.person_id, set()).add(membership.room_id)

    def remove_membership(self, membership: SimMembership) -> None:
        """
        Forget C{membership}.
        """
        del self.memberships[membership.id]
        self._by_room.get(membership.room_id, {}).pop(membership.person_id, None)
        self._rooms_of.get(membership.person_id, set()).discard(membership.room_id)

    def move_memberships(self, old_room_id: str, new_room_id: str) -> None:
        """
        A space's memberships now belong to its new id (a migration).
        """
        for membership in list(self._by_room.get(old_room_id, {}).values()):
            self.remove_membership(membership)
            membership.room_id = new_room_id
            self.add_membership(membership)

    def room_messages(self, room_id: str) -> list[SimMessage]:
        """
        The messages of a space, oldest first.
        """
        return [m for m in self.messages.values() if m.room_id == room_id]
