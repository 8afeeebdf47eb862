# -*- test-case-name: tests.teams.test_simulator -*-
"""
The Teams channel's side: activities as Teams posts them to a bot's
messaging endpoint, signed with the simulator's key.

Shapes follow the msteams-docs pages cited in C{../shared/notes/platforms.md}
§B2: C{channelId: "msteams"}, the C{serviceUrl}, C{from} with the user's
C{29:} id and C{aadObjectId}, a personal C{conversation} with its tenant,
C{recipient} the bot's C{28:} id, and C{channelData.tenant.id}. The user's
own activities are also stored in the simulated conversation, so the hub's
replies and the tests find them.
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen
from twisted.internet.defer import Deferred

from nextplane.connectors.slack.api import HTTPClient

from .keys import TOKEN_LIFETIME
from .simulator import TeamsSimulator
from .state import BotApp, SimActivity, SimConversation, SimUser

__all__ = ["Delivery", "TeamsChannel"]


@frozen
class Delivery:
    """
    One activity posted to the bot and the bot's answer.
    """

    activity: dict[str, Any]
    status: int
    body: bytes


class TeamsChannel:
    """
    Posts users' activities to one bot's endpoint.
    """

    def __init__(self, sim: TeamsSimulator, app: BotApp, http: HTTPClient, endpoint: str) -> None:
        """
        @param sim: The simulated Teams (state, key, clock).
        @param app: The bot the activities are for.
        @param http: A treq-like client reaching the bot (C{StubTreq} of the hub).
        @param endpoint: The bot's messaging endpoint URL.
        """
        self.sim = sim
        self.app = app
        self.http = http
        self.endpoint = endpoint
        self.deliveries: list[Delivery] = []
        self._tokens: dict[str, tuple[str, float]] = {}

    def _token(self, service_url: str) -> str:
        # Like the channel, reuse a token until it nears expiry (and save
        # benchmarks an RSA signature per activity).
        now = self.sim.clock.seconds()
        cached = self._tokens.get(service_url)
        if cached is None or now > cached[1] - 300:
            token = self.sim.key.channel_token(self.app.app_id, service_url, now)
            cached = self._tokens[service_url] = (token, now + TOKEN_LIFETIME)
        return cached[0]

    def conversation(self, user: SimUser) -> SimConversation:
        """
        The personal conversation of C{user} with the bot, created if new.
        """
        tenant = self.sim.tenants[user.tenant_id]
        found = tenant.conversation_with(user.id)
        if found is None:
            found = SimConversation(self.sim.new_id("a:"), tenant.id, user.id)
            tenant.conversations[found.id] = found
        return found

    def base(self, user: SimUser, kind: str, **fields: Any) -> dict[str, Any]:
        """
        The common part of an activity from C{user}.
        """
        conversation = self.conversation(user)
        activity: dict[str, Any] = {
            "type": kind,
            "id": self.sim.new_id(""),
            "timestamp": "2026-12-06T12:00:00.000Z",
            "localTimestamp": "2026-12-06T13:00:00.000+01:00",
            "serviceUrl": self.sim.service_url,
            "channelId": "msteams",
            "from": {"id": user.id, "name": user.name, "aadObjectId": user.aad_object_id},
            "conversation": {
                "conversationType": "personal",
                "tenantId": user.tenant_id,
                "id": conversation.id,
            },
            "recipient": {"id": self.app.bot_id, "name": "nextplane"},
            "entities": [{"type": "clientInfo", "locale": "en-US", "platform": "Web"}],
            "channelData": {"tenant": {"id": user.tenant_id}},
            "locale": "en-US",
        }
        activity.update(fields)
        return activity

    def post(self, activity: dict[str, Any], token: str | None = None) -> Deferred[Delivery]:
        """
        Post C{activity} with a valid channel token (or C{token} as given,
        to test refusals; C{""} sends no C{Authorization}).
        """
        if token is None:
            token = self._token(activity["serviceUrl"])
        headers = {"Content-Type": ["application/json"]}
        if token:
            headers["Authorization"] = [f"Bearer {token}"]
        if "conversation" in activity:
            headers["x-ms-conversation-id"] = [activity["conversation"]["id"]]
            headers["x-ms-tenant-id"] = [activity["conversation"].get("tenantId", "")]
        body = json.dumps(activity).encode("utf-8")

        async def send() -> Delivery:
            response = await self.http.request("POST", self.endpoint, data=body, headers=headers)
            delivery = Delivery(activity, response.code, await response.content())
            self.deliveries.append(delivery)
            return delivery

        return Deferred.fromCoroutine(send())

    def _remember(self, user: SimUser, activity: dict[str, Any]) -> None:
        conversation = self.conversation(user)
        conversation.activities[activity["id"]] = SimActivity(
            activity["id"],
            conversation.id,
            activity["type"],
            user.id,
            activity,
            activity.get("replyToId"),
        )

    def install(self, user: SimUser) -> Deferred[Delivery]:
        """
        C{user} adds the app: an C{installationUpdate} with C{action: add}.
        """
        user.installed = True
        user.blocked = False
        return self.post(self.base(user, "installationUpdate", action="add"))

    def uninstall(self, user: SimUser) -> Deferred[Delivery]:
        """
        C{user} removes the app.
        """
        user.installed = False
        return self.post(self.base(user, "installationUpdate", action="remove"))

    def members_added(self, user: SimUser) -> Deferred[Delivery]:
        """
        The C{conversationUpdate} Teams sends when the bot joins a user's chat.
        """
        added = [{"id": self.app.bot_id}, {"id": user.id, "aadObjectId": user.aad_object_id}]
        return self.post(self.base(user, "conversationUpdate", membersAdded=added))

    def message(
        self,
        user: SimUser,
        text: str,
        html: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        mentions: list[dict[str, Any]] | None = None,
        reply_to: str | None = None,
        value: dict[str, Any] | None = None,
    ) -> Deferred[Delivery]:
        """
        C{user} sends a message (with its C{text/html} rendering, when given).
        """
        fields: dict[str, Any] = {"text": text, "textFormat": "plain"}
        parts = list(attachments or [])
        if html is not None:
            parts.insert(0, {"contentType": "text/html", "content": html})
        if parts:
            fields["attachments"] = parts
        if reply_to is not None:
            fields["replyToId"] = reply_to
        if value is not None:
            fields["value"] = value
        activity = self.base(user, "message", **fields)
        for mention in mentions or []:
            activity["entities"].append({"type": "mention", **mention})
        self._remember(user, activity)
        return self.post(activity)

    def edit(self, user: SimUser, activity_id: str, text: str) -> Deferred[Delivery]:
        """
        C{user} edits their message C{activity_id}.
        """
        stored = self.conversation(user).activities.get(activity_id)
        if stored is not None:
            stored.edits.append(stored.body)
            stored.body = {**stored.body, "text": text}
        activity = self.base(user, "messageUpdate", text=text, textFormat="plain")
        activity["id"] = activity_id
        activity["channelData"]["eventType"] = "editMessage"
        return self.post(activity)

    def delete(self, user: SimUser, activity_id: str) -> Deferred[Delivery]:
        """
        C{user} deletes their message C{activity_id}.
        """
        stored = self.conversation(user).activities.get(activity_id)
        if stored is not None:
            stored.deleted = True
        activity = self.base(user, "messageDelete")
        activity["id"] = activity_id
        activity["channelData"]["eventType"] = "softDeleteMessage"
        return self.post(activity)

    def react(
        self, user: SimUser, activity_id: str, reaction: str, added: bool = True
    ) -> Deferred[Delivery]:
        """
        C{user} adds (or removes) a reaction to message C{activity_id}.
        """
        key = "reactionsAdded" if added else "reactionsRemoved"
        fields = {key: [{"type": reaction}], "replyToId": activity_id}
        return self.post(self.base(user, "messageReaction", **fields))

    def typing(self, user: SimUser) -> Deferred[Delivery]:
        """
        C{user} is typing.
        """
        return self.post(self.base(user, "typing"))

    def card_action(
        self, user: SimUser, verb: str, data: dict[str, Any], reply_to: str | None = None
    ) -> Deferred[Delivery]:
        """
        C{user} presses an C{Action.Execute} button: C{invoke adaptiveCard/action}.
        """
        value = {
            "action": {"type": "Action.Execute", "verb": verb, "data": data},
            "trigger": "manual",
        }
        fields: dict[str, Any] = {"name": "adaptiveCard/action", "value": value}
        if reply_to is not None:
            fields["replyToId"] = reply_to
        return self.post(self.base(user, "invoke", **fields))

    def file_consent(
        self, user: SimUser, accept: bool, context: dict[str, Any], name: str = "file.txt"
    ) -> Deferred[Delivery]:
        """
        C{user} accepts or declines a file consent card: C{invoke fileConsent/invoke}.
        """
        value: dict[str, Any] = {
            "type": "fileUpload",
            "action": "accept" if accept else "decline",
            "context": context,
        }
        if accept:
            unique = self.sim.new_id("")
            value["uploadInfo"] = {
                "contentUrl": f"{self.sim.base_url}/drive/{unique}/{name}",
                "name": name,
                "uploadUrl": f"{self.sim.base_url}/upload/{unique}",
                "uniqueId": unique,
                "fileType": name.rpartition(".")[2],
            }
        return self.post(self.base(user, "invoke", name="fileConsent/invoke", value=value))
