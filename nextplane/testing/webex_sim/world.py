# -*- test-case-name: tests.webex.test_simulator -*-
"""
The simulated Webex's behaviour, apart from HTTP: lookups as a person sees
them, changes (posts, deletes, joins, card answers, space migrations) and
the webhooks they fire, and people acting in Webex.

As in Webex, a change fires the matching active webhooks of the members of
the space; a bot in a group space hears only the messages that mention it
(L{WebexWorld.bots_hear_all} lifts that), its own included, and edits fire
nothing (there is no C{messages:updated}).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from .deliveries import WebhookSender, envelope
from .state import (
    SimAction,
    SimFile,
    SimMembership,
    SimMessage,
    SimPerson,
    SimRoom,
    WebexState,
)

__all__ = ["Refused", "WebexWorld"]


class Refused(Exception):
    """
    A request Webex refuses: HTTP C{status} and Webex's C{message}.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WebexWorld:
    """
    State plus behaviour; see the module docstring.

    @ivar deliveries: Webhook deliveries started (tests wait for them).
    """

    def __init__(
        self,
        clock: IReactorTime,
        state: WebexState | None = None,
        sender: WebhookSender | None = None,
        bots_hear_all: bool = False,
        base_url: str = "http://webex.test/v1",
    ) -> None:
        """
        @param clock: The time.
        @param base_url: How clients reach the REST API (file URLs).
        @param state: The state (a new one when C{None}).
        @param sender: Delivers webhooks; none are sent when C{None}.
        @param bots_hear_all: Deliver all group messages to bots.
        """
        self.clock = clock
        self.state = state if state is not None else WebexState()
        self.sender = sender
        self.bots_hear_all = bots_hear_all
        self.deliveries: list[Deferred[None]] = []
        self.base_url = base_url.rstrip("/")

    def now(self) -> str:
        """
        The current time as Webex writes it.
        """
        when = datetime.fromtimestamp(self.clock.seconds(), UTC)
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

    # --- lookups as a person sees them ------------------------------------

    def room(self, person: SimPerson, room_id: Any) -> SimRoom:
        room = self.state.rooms.get(room_id) if isinstance(room_id, str) else None
        if room is None or self.state.membership(room.id, person.id) is None:
            raise Refused(404, "Could not find a room with provided ID.")
        return room

    def message(self, person: SimPerson, message_id: str) -> SimMessage:
        message = self.state.messages.get(message_id)
        if message is None or self.state.membership(message.room_id, person.id) is None:
            raise Refused(404, "Unable to find message.")
        return message

    def message_json(self, message: SimMessage) -> dict[str, Any]:
        """
        The C{Message} object.
        """
        room = self.state.rooms[message.room_id]
        author = self.state.people[message.person_id]
        document: dict[str, Any] = {
            "id": message.id,
            "roomId": room.id,
            "roomType": room.type,
            "personId": author.id,
            "personEmail": author.email,
            "created": message.created,
        }
        for key, value in (
            ("parentId", message.parent_id),
            ("text", message.text),
            ("markdown", message.markdown),
            ("updated", message.updated),
        ):
            if value:
                document[key] = value
        if message.files:
            document["files"] = list(message.files)
        if message.attachments:
            document["attachments"] = list(message.attachments)
        if message.mentioned:
            document["mentionedPeople"] = list(message.mentioned)
        return document

    # --- changes and their webhooks -----------------------------------------

    def membership_json(self, membership: SimMembership) -> dict[str, Any]:
        member = self.state.people[membership.person_id]
        return {
            "id": membership.id,
            "roomId": membership.room_id,
            "personId": member.id,
            "personEmail": member.email,
            "personDisplayName": member.display_name,
            "personOrgId": member.org_id,
            "isModerator": False,
            "isMonitor": False,
            "roomType": self.state.rooms[membership.room_id].type,
            "created": membership.created,
        }

    def join(self, room: SimRoom, person: SimPerson, actor: SimPerson) -> SimMembership:
        membership = SimMembership(self.state.new_id("MEMBERSHIP"), room.id, person.id, self.now())
        self.state.add_membership(membership)
        self.fire("memberships", "created", room, actor, self.membership_json(membership))
        return membership

    def create_room(self, person: SimPerson, title: str) -> SimRoom:
        """
        C{person} creates a group space and is its first member.
        """
        room = SimRoom(self.state.new_id("ROOM"), title, "group", person.id, self.now())
        self.state.rooms[room.id] = room
        self.join(room, person, actor=person)
        return room

    def direct_room(self, person: SimPerson, person_id: Any, email: Any) -> SimRoom:
        other = self.state.people.get(person_id) if person_id else self.state.by_email(str(email))
        if other is None:
            raise Refused(404, "Person not found.")
        for room_id in self.state.rooms_of(person.id) & self.state.rooms_of(other.id):
            room = self.state.rooms[room_id]
            if room.type == "direct" and set(self.state.members(room.id)) == {person.id, other.id}:
                return room
        room = SimRoom(
            self.state.new_id("ROOM"), other.display_name, "direct", person.id, self.now()
        )
        self.state.rooms[room.id] = room
        self.join(room, person, actor=person)
        self.join(room, other, actor=person)
        return room

    def post(self, person: SimPerson, room: SimRoom, **fields: Any) -> SimMessage:
        message = SimMessage(self.state.new_id("MESSAGE"), room.id, person.id, self.now(), **fields)
        self.state.messages[message.id] = message
        data = {k: v for k, v in self.message_json(message).items() if k in _MESSAGE_DATA}
        self.fire("messages", "created", room, person, data, mentioned=message.mentioned)
        return message

    def remove(self, message: SimMessage, actor: SimPerson) -> None:
        data = {k: v for k, v in self.message_json(message).items() if k in _MESSAGE_DATA}
        del self.state.messages[message.id]
        self.fire("messages", "deleted", self.state.rooms[message.room_id], actor, data)

    def fire(
        self,
        resource: str,
        event: str,
        room: SimRoom,
        actor: SimPerson,
        data: dict[str, Any],
        mentioned: list[str] | None = None,
    ) -> None:
        if self.sender is None:
            return
        members = set(self.state.members(room.id))
        for hook in list(self.state.webhooks.values()):
            if (hook.resource, hook.event) != (resource, event) or hook.status != "active":
                continue
            if hook.owner_id not in members:
                continue
            if hook.filter and hook.filter != f"roomId={room.id}":
                continue
            owner = self.state.people[hook.owner_id]
            hears = room.type == "direct" or owner.type != "bot" or self.bots_hear_all
            if resource == "messages" and event == "created" and not hears:
                if hook.owner_id not in (mentioned or []) and actor.id != hook.owner_id:
                    continue
            body = envelope(hook, self.state.org_id, actor.id, data)
            self.deliveries.append(self.sender.deliver(hook, body))

    # --- users acting in Webex ----------------------------------------------

    def user_posts(
        self,
        person_id: str,
        room_id: str,
        *,
        text: str | None = None,
        markdown: str | None = None,
        files: list[str] | None = None,
        parent_id: str | None = None,
        mentions: list[str] | None = None,
    ) -> SimMessage:
        """
        A person posts in a space they are in.
        """
        person = self.state.people[person_id]
        room = self.room(person, room_id)
        return self.post(
            person,
            room,
            text=text or markdown,
            markdown=markdown,
            files=list(files or []),
            parent_id=parent_id,
            mentioned=list(mentions or []),
        )

    def upload(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """
        Store a file a person is about to share; its URL for C{user_posts}.
        """
        shared = SimFile(self.state.new_id("CONTENT"), name, content_type, data)
        self.state.files[shared.id] = shared
        return f"{self.base_url}/contents/{shared.id}"

    def file_for(self, person: SimPerson, file_id: str) -> SimFile:
        """
        A shared file, if C{person} is in a space where it was posted.
        """
        url = f"{self.base_url}/contents/{file_id}"
        for message in self.state.messages.values():
            if url in message.files and self.state.membership(message.room_id, person.id):
                return self.state.files[file_id]
        raise Refused(404, "File not found.")

    def user_leaves(self, person_id: str, room_id: str) -> None:
        """
        A person leaves a group space (Webex has no leaving a direct one).
        """
        person = self.state.people[person_id]
        room = self.room(person, room_id)
        if room.type != "group":
            raise Refused(409, "Cannot leave a direct room.")
        membership = self.state.membership(room.id, person.id)
        assert membership is not None
        data = self.membership_json(membership)
        self.fire("memberships", "deleted", room, person, data)
        self.state.remove_membership(membership)

    def user_deletes(self, person_id: str, message_id: str) -> None:
        """
        A person deletes their message.
        """
        person = self.state.people[person_id]
        self.remove(self.message(person, message_id), person)

    def user_submits(self, person_id: str, message_id: str, inputs: dict[str, Any]) -> SimAction:
        """
        A person presses a card's C{Action.Submit} button.
        """
        person = self.state.people[person_id]
        message = self.message(person, message_id)
        action = SimAction(
            self.state.new_id("ATTACHMENT_ACTION"),
            message.id,
            message.room_id,
            person.id,
            dict(inputs),
            self.now(),
        )
        self.state.actions[action.id] = action
        data = {
            "id": action.id,
            "type": "submit",
            "messageId": message.id,
            "personId": person.id,
            "roomId": message.room_id,
            "created": action.created,
        }
        self.fire("attachmentActions", "created", self.state.rooms[message.room_id], person, data)
        return action

    def migrate_room(self, room_id: str) -> SimRoom:
        """
        Webex moves a space to a new id (C{rooms} C{migrated}).
        """
        old = self.state.rooms.pop(room_id)
        room = SimRoom(self.state.new_id("ROOM"), old.title, old.type, old.creator_id, old.created)
        self.state.rooms[room.id] = room
        self.state.move_memberships(room_id, room.id)
        for message in self.state.messages.values():
            if message.room_id == room_id:
                message.room_id = room.id
        data = {"id": room.id, "title": room.title, "type": room.type, "created": room.created}
        self.fire("rooms", "migrated", room, self.state.people[old.creator_id], data)
        return room


_MESSAGE_DATA = frozenset(
    {"id", "roomId", "roomType", "personId", "personEmail", "created", "mentionedPeople"}
)
