# -*- test-case-name: tests.teams.test_activity -*-
"""
Inbound Bot Framework activities as typed values, sans-IO.

L{parse_activity} reads the JSON object the Teams channel posts (after its
token was validated) into one of the frozen values below, carrying the
L{ConversationReference} (with the C{serviceUrl}) that outbound calls need.
Shapes follow msteams-docs (C{../shared/notes/platforms.md} §B2, §B7):

  - C{message}: L{Message} with the C{text}, its C{text/html} rendering,
    mentions, file download infos, other attachments, C{replyToId}, and the
    C{value} of an C{Action.Submit} card;
  - C{messageUpdate} / C{messageDelete}: L{MessageEdited} / L{MessageDeleted};
  - C{messageReaction}: L{ReactionsChanged};
  - C{typing}: L{Typing};
  - C{installationUpdate}: L{InstallationChanged};
  - C{conversationUpdate}: L{MembersChanged};
  - C{invoke} C{adaptiveCard/action}: L{CardAction}; C{fileConsent/invoke}:
    L{FileConsent}; any other invoke: L{UnknownInvoke} (answered, not acted on).

Unknown activity types become L{Ignored} and unknown fields are ignored
(Activity spec A2005, A2014). Only a body that is not an activity at all
(not an object, no C{type}) or one lacking what its type needs raises
L{ActivityError} (answer 400). Message content never shows in C{repr}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from attrs import field, frozen

from .api import ConversationRef

__all__ = [
    "FILE_DOWNLOAD_INFO",
    "Activity",
    "ActivityError",
    "Attachment",
    "CardAction",
    "ChannelAccount",
    "ConversationReference",
    "FileConsent",
    "FileDownload",
    "Ignored",
    "InstallationChanged",
    "MembersChanged",
    "MentionEntity",
    "Message",
    "MessageDeleted",
    "MessageEdited",
    "ReactionsChanged",
    "Typing",
    "UnknownInvoke",
    "UploadInfo",
    "parse_activity",
]

#: The content type of a file a Teams user sent the bot.
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"


class ActivityError(ValueError):
    """
    The body is not an activity the hub can use; answer 400.
    """


@frozen
class ChannelAccount:
    """
    A user or bot: C{29:...} users, C{28:<app id>} bots.
    """

    id: str
    name: str | None = None
    aad_object_id: str | None = None


@frozen
class ConversationReference:
    """
    Everything needed to reach a conversation later (proactively).

    @ivar conversation_type: C{personal}, C{groupChat} or C{channel}.
    @ivar bot: The bot as addressed in the activity (the C{recipient}).
    """

    service_url: str
    conversation_id: str
    tenant_id: str | None
    conversation_type: str | None
    bot: ChannelAccount
    channel_id: str = "msteams"

    def outbound(self) -> ConversationRef:
        """
        What the Connector calls about this conversation need.
        """
        return ConversationRef(
            self.service_url, self.conversation_id, self.tenant_id or "", self.bot.id
        )

    def dump(self) -> str:
        """
        A compact JSON form to store (no message content in it).
        """
        return json.dumps(
            {
                "serviceUrl": self.service_url,
                "conversation": self.conversation_id,
                "tenant": self.tenant_id,
                "type": self.conversation_type,
                "bot": self.bot.id,
                "channel": self.channel_id,
            },
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str) -> ConversationReference:
        """
        Read what L{dump} wrote.

        @raise ActivityError: When C{text} is not such a reference.
        """
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ActivityError("stored reference is not JSON") from e
        fields = _dict(data)
        service_url, conversation, bot = (
            _str(fields.get("serviceUrl")),
            _str(fields.get("conversation")),
            _str(fields.get("bot")),
        )
        if not service_url or not conversation or not bot:
            raise ActivityError("stored reference lacks serviceUrl, conversation or bot")
        return cls(
            service_url,
            conversation,
            _str(fields.get("tenant")),
            _str(fields.get("type")),
            ChannelAccount(bot),
            _str(fields.get("channel")) or "msteams",
        )


@frozen
class MentionEntity:
    """
    A mention: C{text} is the C{<at>Name</at>} markup found in the message text.
    """

    id: str
    name: str
    text: str


@frozen
class FileDownload:
    """
    A file a user sent (personal scope): fetch C{download_url} with a plain GET.
    """

    name: str
    download_url: str = field(repr=False)
    unique_id: str | None = None
    file_type: str | None = None


@frozen
class Attachment:
    """
    Any other attachment (cards, inline images behind C{content_url}).
    """

    content_type: str
    content_url: str | None = field(default=None, repr=False)
    name: str | None = None
    content: Any = field(default=None, repr=False)


@frozen
class Message:
    """
    A C{message} activity.

    @ivar html: The C{text/html} rendering, when Teams sent one.
    @ivar value: The data of an C{Action.Submit} press, when this is one.
    """

    id: str
    conversation: ConversationReference
    sender: ChannelAccount
    text: str = field(repr=False)
    text_format: str | None = None
    html: str | None = field(default=None, repr=False)
    mentions: tuple[MentionEntity, ...] = ()
    files: tuple[FileDownload, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    reply_to_id: str | None = None
    value: Any = field(default=None, repr=False)


@frozen
class MessageEdited:
    """
    A C{messageUpdate}: C{event_type} is C{editMessage} or C{undeleteMessage}.
    """

    id: str
    conversation: ConversationReference
    sender: ChannelAccount
    text: str = field(repr=False)
    html: str | None = field(default=None, repr=False)
    event_type: str | None = None


@frozen
class MessageDeleted:
    """
    A C{messageDelete} (C{softDeleteMessage}).
    """

    id: str
    conversation: ConversationReference
    sender: ChannelAccount


@frozen
class ReactionsChanged:
    """
    A C{messageReaction} on message C{reply_to_id}; Teams sends no original text.
    """

    conversation: ConversationReference
    sender: ChannelAccount
    reply_to_id: str | None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@frozen
class Typing:
    """
    A user is typing.
    """

    conversation: ConversationReference
    sender: ChannelAccount


@frozen
class InstallationChanged:
    """
    The app was added or removed (C{add}, C{remove}, C{add-upgrade}, C{remove-upgrade}).
    """

    conversation: ConversationReference
    sender: ChannelAccount
    action: str

    @property
    def installed(self) -> bool:
        """
        Whether the app is installed after this change.
        """
        return self.action.startswith("add")


@frozen
class MembersChanged:
    """
    A C{conversationUpdate}: members added or removed (the bot among them).
    """

    conversation: ConversationReference
    sender: ChannelAccount | None
    added: tuple[ChannelAccount, ...] = ()
    removed: tuple[ChannelAccount, ...] = ()
    event_type: str | None = None

    @property
    def bot_added(self) -> bool:
        """
        Whether the bot itself joined.
        """
        return any(m.id == self.conversation.bot.id for m in self.added)

    @property
    def bot_removed(self) -> bool:
        """
        Whether the bot itself left.
        """
        return any(m.id == self.conversation.bot.id for m in self.removed)


@frozen
class CardAction:
    """
    An C{Action.Execute} press (C{invoke adaptiveCard/action}): needs an
    InvokeResponse within the channel's budget.

    @ivar reply_to_id: The card's activity, to update it in place.
    """

    id: str
    conversation: ConversationReference
    sender: ChannelAccount
    verb: str
    data: Mapping[str, Any] = field(repr=False)
    reply_to_id: str | None = None


@frozen
class UploadInfo:
    """
    Where to put an accepted file (C{PUT} the bytes to C{upload_url}).
    """

    name: str
    upload_url: str = field(repr=False)
    content_url: str = field(repr=False)
    unique_id: str | None = None
    file_type: str | None = None


@frozen
class FileConsent:
    """
    A user's answer to a file consent card (C{invoke fileConsent/invoke}).
    """

    id: str
    conversation: ConversationReference
    sender: ChannelAccount
    accepted: bool
    context: Any = field(repr=False)
    upload: UploadInfo | None = None


@frozen
class UnknownInvoke:
    """
    An invoke the hub does not handle; answered, not acted on.
    """

    id: str
    name: str
    conversation: ConversationReference | None


@frozen
class Ignored:
    """
    An activity of a type the hub does not use.
    """

    type: str


Activity = (
    Message
    | MessageEdited
    | MessageDeleted
    | ReactionsChanged
    | Typing
    | InstallationChanged
    | MembersChanged
    | CardAction
    | FileConsent
    | UnknownInvoke
    | Ignored
)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _account(value: Any) -> ChannelAccount | None:
    data = _dict(value)
    account_id = _str(data.get("id"))
    if not account_id:
        return None
    return ChannelAccount(account_id, _str(data.get("name")), _str(data.get("aadObjectId")))


def _reference(data: Mapping[str, Any]) -> ConversationReference:
    service_url = _str(data.get("serviceUrl"))
    conversation = _dict(data.get("conversation"))
    conversation_id = _str(conversation.get("id"))
    bot = _account(data.get("recipient"))
    if not service_url or not conversation_id or bot is None:
        raise ActivityError("activity without serviceUrl, conversation or recipient")
    tenant = _str(conversation.get("tenantId")) or _str(
        _dict(_dict(data.get("channelData")).get("tenant")).get("id")
    )
    return ConversationReference(
        service_url,
        conversation_id,
        tenant,
        _str(conversation.get("conversationType")),
        bot,
        _str(data.get("channelId")) or "msteams",
    )


def _sender(data: Mapping[str, Any]) -> ChannelAccount:
    sender = _account(data.get("from"))
    if sender is None:
        raise ActivityError("activity without from.id")
    return sender


def _html(attachments: list[Any]) -> str | None:
    for attachment in attachments:
        attachment = _dict(attachment)
        if attachment.get("contentType") == "text/html" and isinstance(
            attachment.get("content"), str
        ):
            return str(attachment["content"])
    return None


def _mentions(entities: list[Any]) -> tuple[MentionEntity, ...]:
    found = []
    for entity in map(_dict, entities):
        mentioned = _dict(entity.get("mentioned"))
        mention_id = _str(mentioned.get("id"))
        if entity.get("type") != "mention" or not mention_id:
            continue
        name = _str(mentioned.get("name")) or ""
        found.append(
            MentionEntity(mention_id, name, _str(entity.get("text")) or f"<at>{name}</at>")
        )
    return tuple(found)


def _attachments(raw: list[Any]) -> tuple[tuple[FileDownload, ...], tuple[Attachment, ...]]:
    files: list[FileDownload] = []
    others: list[Attachment] = []
    for attachment in map(_dict, raw):
        kind = _str(attachment.get("contentType"))
        if not kind or kind == "text/html":
            continue
        content = attachment.get("content")
        if kind == FILE_DOWNLOAD_INFO:
            info = _dict(content)
            url = _str(info.get("downloadUrl"))
            if url:
                name = _str(attachment.get("name")) or _str(info.get("uniqueId")) or "file"
                files.append(
                    FileDownload(name, url, _str(info.get("uniqueId")), _str(info.get("fileType")))
                )
            continue
        others.append(
            Attachment(
                kind, _str(attachment.get("contentUrl")), _str(attachment.get("name")), content
            )
        )
    return tuple(files), tuple(others)


def _message(data: Mapping[str, Any], reference: ConversationReference) -> Message:
    raw = _list(data.get("attachments"))
    files, others = _attachments(raw)
    return Message(
        _str(data.get("id")) or "",
        reference,
        _sender(data),
        _str(data.get("text")) or "",
        _str(data.get("textFormat")),
        _html(raw),
        _mentions(_list(data.get("entities"))),
        files,
        others,
        _str(data.get("replyToId")),
        data.get("value"),
    )


def _reaction_types(value: Any) -> tuple[str, ...]:
    return tuple(t for t in (_str(_dict(r).get("type")) for r in _list(value)) if t)


def _invoke(data: Mapping[str, Any], reference: ConversationReference) -> Activity:
    name = _str(data.get("name")) or ""
    activity_id = _str(data.get("id")) or ""
    value = _dict(data.get("value"))
    if name == "adaptiveCard/action":
        action = _dict(value.get("action"))
        return CardAction(
            activity_id,
            reference,
            _sender(data),
            _str(action.get("verb")) or "",
            _dict(action.get("data")),
            _str(data.get("replyToId")),
        )
    if name == "fileConsent/invoke":
        info = _dict(value.get("uploadInfo"))
        upload_url, content_url = _str(info.get("uploadUrl")), _str(info.get("contentUrl"))
        upload = None
        if upload_url and content_url:
            upload = UploadInfo(
                _str(info.get("name")) or "file",
                upload_url,
                content_url,
                _str(info.get("uniqueId")),
                _str(info.get("fileType")),
            )
        accepted = value.get("action") == "accept"
        return FileConsent(
            activity_id, reference, _sender(data), accepted, value.get("context"), upload
        )
    return UnknownInvoke(activity_id, name, reference)


def parse_activity(data: Any) -> Activity:
    """
    Read one activity.

    @raise ActivityError: When C{data} is not an activity, or lacks what
        its type needs (conversation, C{serviceUrl}, sender).
    """
    if not isinstance(data, dict):
        raise ActivityError("activity is not a JSON object")
    kind = _str(data.get("type"))
    if not kind:
        raise ActivityError("activity without type")
    known = (
        "message",
        "messageUpdate",
        "messageDelete",
        "messageReaction",
        "typing",
        "installationUpdate",
        "conversationUpdate",
        "invoke",
    )
    if kind not in known:
        return Ignored(kind)
    reference = _reference(data)
    if kind == "message":
        return _message(data, reference)
    if kind == "messageUpdate":
        return MessageEdited(
            _str(data.get("id")) or "",
            reference,
            _sender(data),
            _str(data.get("text")) or "",
            _html(_list(data.get("attachments"))),
            _str(_dict(data.get("channelData")).get("eventType")),
        )
    if kind == "messageDelete":
        return MessageDeleted(_str(data.get("id")) or "", reference, _sender(data))
    if kind == "messageReaction":
        return ReactionsChanged(
            reference,
            _sender(data),
            _str(data.get("replyToId")),
            _reaction_types(data.get("reactionsAdded")),
            _reaction_types(data.get("reactionsRemoved")),
        )
    if kind == "typing":
        return Typing(reference, _sender(data))
    if kind == "installationUpdate":
        return InstallationChanged(reference, _sender(data), _str(data.get("action")) or "")
    if kind == "conversationUpdate":
        return MembersChanged(
            reference,
            _account(data.get("from")),
            tuple(a for a in map(_account, _list(data.get("membersAdded"))) if a),
            tuple(a for a in map(_account, _list(data.get("membersRemoved"))) if a),
            _str(_dict(data.get("channelData")).get("eventType")),
        )
    return _invoke(data, reference)
