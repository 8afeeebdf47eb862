# -*- test-case-name: tests.slack.test_simulator -*-
"""
Users acting in the simulated Slack: each action changes the workspace
and, with an event sender attached, reaches the hub as an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet.defer import Deferred

from .base import SimulatorBase
from .state import Conversation, SimFile, SimMessage

__all__ = ["UserActions"]


class UserActions(SimulatorBase):
    """
    Posts, edits, reactions, files, commands and clicks by workspace users.
    """

    def user_posts(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        blocks: list[Any] | None = None,
        thread_ts: str | None = None,
    ) -> SimMessage:
        """
        C{user} posts C{text} (mrkdwn) in C{channel}, as a Slack client
        would: with a C{rich_text} block (built with the connector's
        translation unless C{blocks} are given) and a C{client_msg_id}. The
        app gets a C{message} event if it is a member.
        """
        from nextplane.connectors.slack.blocks import rich_text_block
        from nextplane.connectors.slack.mrkdwn import parse_mrkdwn

        conversation = self.workspace.conversations[channel]
        if blocks is None:
            blocks = [rich_text_block(parse_mrkdwn(text), lambda m: m.name)]
        message = SimMessage(
            ts=self._new_ts(), text=text, user=user, blocks=blocks, thread_ts=thread_ts
        )
        conversation.messages.append(message)
        self._emit_message(conversation, message)
        return message

    def user_edits(self, user: str, channel: str, ts: str, text: str) -> SimMessage:
        """
        C{user} edits their message: a C{message_changed} event.
        """
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        assert message is not None and message.user == user
        previous = message.as_json()
        message.text = text
        message.blocks = None
        message.edited_ts = self._new_ts()
        if self.workspace.bot_user_id in conversation.members:
            self._emit(
                {
                    "type": "message",
                    "subtype": "message_changed",
                    "hidden": True,
                    "channel": conversation.id,
                    "channel_type": conversation.channel_type,
                    "ts": message.edited_ts,
                    "event_ts": message.edited_ts,
                    "message": message.as_json(),
                    "previous_message": previous,
                }
            )
        return message

    def user_deletes(self, user: str, channel: str, ts: str) -> None:
        """
        C{user} deletes their message: a C{message_deleted} event.
        """
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        assert message is not None and message.user == user
        conversation.messages.remove(message)
        if self.workspace.bot_user_id in conversation.members:
            event_ts = self._new_ts()
            self._emit(
                {
                    "type": "message",
                    "subtype": "message_deleted",
                    "hidden": True,
                    "channel": conversation.id,
                    "channel_type": conversation.channel_type,
                    "ts": event_ts,
                    "event_ts": event_ts,
                    "deleted_ts": ts,
                    "previous_message": message.as_json(),
                }
            )

    def user_reacts(self, user: str, channel: str, ts: str, name: str, added: bool = True) -> None:
        """
        C{user} adds (or removes) a reaction: C{reaction_added}/C{reaction_removed}.
        """
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        assert message is not None
        users = message.reactions.setdefault(name, [])
        if added and user not in users:
            users.append(user)
        elif not added and user in users:
            users.remove(user)
        if not users:
            del message.reactions[name]
        event_ts = self._new_ts()
        self._emit(
            {
                "type": "reaction_added" if added else "reaction_removed",
                "user": user,
                "reaction": name,
                "item_user": message.user,
                "item": {"type": "message", "channel": conversation.id, "ts": ts},
                "event_ts": event_ts,
            }
        )

    def user_shares_file(
        self,
        user: str,
        channel: str,
        name: str,
        content: bytes,
        *,
        mimetype: str = "application/octet-stream",
        comment: str = "",
    ) -> SimMessage:
        """
        C{user} uploads a file into C{channel} from a Slack client: a
        C{message} event with subtype C{file_share} carrying the file
        object (C{url_private} needs a token with C{files:read}).
        """
        conversation = self.workspace.conversations[channel]
        file = SimFile(
            self.workspace.new_id("F"),
            name,
            len(content),
            content=content,
            uploaded=True,
            completed=True,
            channels=[conversation.id],
            user=user,
            mimetype=mimetype,
        )
        self.workspace.files[file.id] = file
        message = SimMessage(ts=self._new_ts(), text=comment, user=user, files=[file.id])
        conversation.messages.append(message)
        if self.workspace.bot_user_id in conversation.members:
            event = message.as_json()
            event.update(
                subtype="file_share",
                upload=False,
                files=[self._file_json(file)],
                channel=conversation.id,
                event_ts=message.ts,
                channel_type=conversation.channel_type,
                team=self.workspace.team_id,
            )
            self._emit(event)
        return message

    def user_opens_home(self, user: str) -> None:
        """
        C{user} opens the app's Home tab: an C{app_home_opened} event.
        """
        dm = self.workspace.im_with(self.workspace.bot_user_id, user)
        self._emit(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": dm.id,
                "tab": "home",
                "event_ts": self._new_ts(),
            }
        )

    def revoke_bot_tokens(self) -> None:
        """
        The app's bot tokens are revoked (C{auth.revoke}, or an admin in
        the workspace settings): they stop working and the app gets a
        C{tokens_revoked} event naming the bot user.
        """
        ws = self.workspace
        bots = sorted({t.user_id for t in ws.tokens.values() if t.bot_id and not t.revoked})
        for token in ws.tokens.values():
            if token.bot_id:
                token.revoked = True
        self._emit(
            {
                "type": "tokens_revoked",
                "tokens": {"oauth": [], "bot": bots},
                "event_ts": self._new_ts(),
            }
        )

    def uninstall_app(self) -> None:
        """
        A workspace admin removes the app: as Slack does, C{tokens_revoked}
        then C{app_uninstalled}; no token works afterwards.
        """
        self.revoke_bot_tokens()
        for token in self.workspace.tokens.values():
            token.revoked = True
        self._emit({"type": "app_uninstalled", "event_ts": self._new_ts()})

    def user_command(
        self, user: str, channel: str, text: str
    ) -> Deferred[tuple[int | None, bytes]]:
        """
        C{user} types C{/nextplane text} in C{channel}.

        @return: Fires with the hub's (status, body).
        """
        assert self.events is not None, "no EventSender attached"
        name = self.workspace.users[user].name
        return self.events.slash_command(user, channel, text, user_name=name)

    def user_clicks(
        self, user: str, channel: str, ts: str, action_id: str
    ) -> Deferred[tuple[int | None, bytes]]:
        """
        C{user} clicks the button C{action_id} of the app's message C{ts}
        in C{channel}: a C{block_actions} payload built from the message's
        blocks, as Slack sends it.

        @return: Fires with the hub's (status, body).
        @raise LookupError: If the message has no such button.
        """
        assert self.events is not None, "no EventSender attached"
        conversation = self.workspace.conversations[channel]
        message = conversation.find(ts)
        if message is None:
            raise LookupError(f"no message {ts} in {channel}")
        for block in message.blocks or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    return self.events.interaction(
                        self._block_actions(user, block, element, conversation, message)
                    )
        raise LookupError(f"no button {action_id} on message {ts}")

    def _block_actions(
        self,
        user: str,
        block: Mapping[str, Any],
        element: Mapping[str, Any],
        conversation: Conversation,
        message: SimMessage,
    ) -> dict[str, Any]:
        ws = self.workspace
        self._ts_seq += 1
        return {
            "type": "block_actions",
            "user": {"id": user, "username": ws.users[user].name, "team_id": ws.team_id},
            "api_app_id": ws.app_id,
            "token": "sim-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": conversation.id,
                "is_ephemeral": False,
            },
            "trigger_id": f"{self._ts_seq}.{self._ts_seq}.sim",
            "team": {"id": ws.team_id, "domain": ws.domain},
            "channel": {"id": conversation.id, "name": conversation.name},
            "message": message.as_json(),
            "response_url": f"https://hooks.slack.test/actions/{ws.team_id}/{self._ts_seq}",
            "actions": [
                {
                    "action_id": element.get("action_id"),
                    "block_id": block.get("block_id", ""),
                    "text": element.get("text"),
                    "value": element.get("value"),
                    "style": element.get("style"),
                    "type": element.get("type", "button"),
                    "action_ts": f"{int(self.clock.seconds())}.{self._ts_seq:06d}",
                }
            ],
        }
