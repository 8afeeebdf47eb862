# -*- test-case-name: tests.slack.test_simulator -*-
"""
The Slack simulator's Web API methods for messages, reactions,
conversations, users, OAuth and the Home tab.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from twisted.web.iweb import IRequest

from .base import SimulatorBase
from .records import SlackApiError
from .state import Conversation, SimMessage, SimToken

__all__ = ["ChatMethods"]

_CHANNEL_NAME = re.compile(r"[a-z0-9_-]{1,80}")
_REACTION = re.compile(r"[a-z0-9_+'-]+(::skin-tone-[2-6])?")


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


class ChatMethods(SimulatorBase):
    """
    The C{_m_<method>} handlers other than files.
    """

    # --- methods ------------------------------------------------------------

    def _m_auth_test(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        ws = self.workspace
        user = ws.users.get(token.user_id)
        result = {
            "url": f"{self.base_url}/",
            "team": ws.team_name,
            "user": user.name if user else token.user_id,
            "team_id": ws.team_id,
            "user_id": token.user_id,
            "is_enterprise_install": False,
        }
        if token.bot_id:
            result["bot_id"] = token.bot_id
        return result

    def _m_chat_postMessage(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        if conversation.is_archived:
            raise SlackApiError("is_archived")
        self._member(token, conversation)
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise SlackApiError("invalid_blocks") from None
        if blocks is not None and not isinstance(blocks, list):
            raise SlackApiError("invalid_blocks")
        if not text and not blocks:
            raise SlackApiError("no_text")
        if text and len(str(text)) > 40_000:
            raise SlackApiError("msg_too_long")
        custom = any(args.get(k) for k in ("username", "icon_url", "icon_emoji"))
        if custom and "chat:write.customize" not in token.scopes:
            raise SlackApiError("missing_scope", needed="chat:write.customize")
        thread_ts = args.get("thread_ts")
        if thread_ts and conversation.find(str(thread_ts)) is None:
            raise SlackApiError("thread_not_found")
        message = SimMessage(
            ts=self._new_ts(),
            text=str(text or ""),
            user=token.user_id,
            bot_id=token.bot_id,
            username=args.get("username"),
            icon_url=args.get("icon_url"),
            icon_emoji=args.get("icon_emoji"),
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        conversation.messages.append(message)
        if self.echo_bot_messages:
            self._emit_message(conversation, message)
        return {"channel": conversation.id, "ts": message.ts, "message": message.as_json()}

    def _m_chat_update(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        message = conversation.find(str(args.get("ts")))
        if message is None:
            raise SlackApiError("message_not_found")
        self._own(token, message)
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks) if blocks else None
        if text is not None:
            message.text = str(text)
        if blocks is not None:
            message.blocks = blocks
        message.edited_ts = self._new_ts()
        return {"channel": conversation.id, "ts": message.ts, "text": message.text}

    def _m_chat_delete(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        message = conversation.find(str(args.get("ts")))
        if message is None:
            raise SlackApiError("message_not_found")
        if message.user != token.user_id:
            raise SlackApiError("cant_delete_message")
        conversation.messages.remove(message)
        return {"channel": conversation.id, "ts": message.ts}

    def _reaction_target(self, args: Mapping[str, Any]) -> tuple[SimMessage, str]:
        conversation = self._conversation(args.get("channel"))
        message = conversation.find(str(args.get("timestamp")))
        if message is None:
            raise SlackApiError("message_not_found")
        name = str(args.get("name", ""))
        if not _REACTION.fullmatch(name):
            raise SlackApiError("invalid_name")
        return message, name

    def _m_reactions_add(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.setdefault(name, [])
        if token.user_id in users:
            raise SlackApiError("already_reacted")
        users.append(token.user_id)
        return {}

    def _m_reactions_remove(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        message, name = self._reaction_target(args)
        users = message.reactions.get(name, [])
        if token.user_id not in users:
            raise SlackApiError("no_reaction")
        users.remove(token.user_id)
        if not users:
            del message.reactions[name]
        return {}

    def _m_conversations_create(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if not _CHANNEL_NAME.fullmatch(name):
            raise SlackApiError("invalid_name_specials")
        if self.workspace.channel_named(name) is not None:
            raise SlackApiError("name_taken")
        conversation = self.workspace.add_channel(
            name, {token.user_id}, is_private=_flag(args.get("is_private", False))
        )
        conversation.created = int(self.clock.seconds())
        return {"channel": conversation.as_json(token.user_id)}

    def _m_conversations_invite(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        conversation = self._conversation(args.get("channel"))
        if token.user_id not in conversation.members:
            raise SlackApiError("not_in_channel")
        users = _split(args.get("users"))
        for user in users:
            if user == token.user_id:
                raise SlackApiError("cant_invite_self")
            if user not in self.workspace.users:
                raise SlackApiError("user_not_found")
        if all(user in conversation.members for user in users):
            raise SlackApiError("already_in_channel")
        conversation.members.update(users)
        return {"channel": conversation.as_json(token.user_id)}

    def _m_conversations_open(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        if args.get("channel"):
            conversation = self._conversation(args.get("channel"))
        else:
            users = _split(args.get("users"))
            if not users:
                raise SlackApiError("users_list_not_supplied")
            for user in users:
                if user not in self.workspace.users:
                    raise SlackApiError("user_not_found")
            if len(users) == 1:
                conversation = self.workspace.im_with(token.user_id, users[0])
            else:
                conversation = Conversation(
                    self.workspace.new_id("G"),
                    "mpdm-" + "--".join(users),
                    is_private=True,
                    is_mpim=True,
                    members={token.user_id, *users},
                )
                self.workspace.conversations[conversation.id] = conversation
        if _flag(args.get("return_im", False)):
            return {"channel": conversation.as_json(token.user_id)}
        return {"channel": {"id": conversation.id}}

    def _m_users_info(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        return {"user": self._user(args.get("user")).as_json(self.workspace.team_id)}

    def _m_users_lookupByEmail(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.workspace.users.values():
            if user.email and user.email.lower() == email:
                return {"user": user.as_json(self.workspace.team_id)}
        raise SlackApiError("users_not_found")

    def _m_users_getPresence(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        user = self._user(args.get("user"))
        return {"presence": user.presence}

    def _m_oauth_v2_access(
        self, token: SimToken | None, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        client_id = args.get("client_id")
        client_secret = args.get("client_secret")
        user = request.getUser()
        if user:
            client_id = user.decode("utf-8")
            client_secret = request.getPassword().decode("utf-8")
        if client_id != self.client_id:
            raise SlackApiError("invalid_client_id")
        if client_secret != self.client_secret:
            raise SlackApiError("bad_client_secret")
        scopes = self._codes.pop(str(args.get("code")), None)
        if scopes is None:
            raise SlackApiError("invalid_code")
        ws = self.workspace
        issued = ws.add_token(f"xoxb-sim-{ws.new_id('')}", scopes)
        return {
            "access_token": issued.token,
            "token_type": "bot",
            "scope": ",".join(sorted(scopes)),
            "bot_user_id": ws.bot_user_id,
            "app_id": ws.app_id,
            "team": {"id": ws.team_id, "name": ws.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": ws.new_id("U")},
        }

    def _m_views_publish(
        self, token: SimToken, args: Mapping[str, Any], request: IRequest
    ) -> dict[str, Any]:
        user = self._user(args.get("user_id"))
        view = args.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise SlackApiError("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackApiError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or len(blocks) > 100:
            raise SlackApiError("invalid_arguments")
        self.home_views[user.id] = view
        return {
            "view": {
                **view,
                "id": self.workspace.new_id("V"),
                "team_id": self.workspace.team_id,
                "app_id": self.workspace.app_id,
                "bot_id": token.bot_id,
            }
        }
