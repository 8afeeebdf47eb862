# -*- test-case-name: tests.teams.test_activity -*-
"""
Tests for L{nextplane.connectors.teams.activity}.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.teams.activity import (
    FILE_DOWNLOAD_INFO,
    ActivityError,
    CardAction,
    FileConsent,
    Ignored,
    InstallationChanged,
    MembersChanged,
    Message,
    MessageDeleted,
    MessageEdited,
    ReactionsChanged,
    Typing,
    UnknownInvoke,
    parse_activity,
)

SERVICE = "https://smba.trafficmanager.net/emea/"

# A personal-scope message as in msteams-docs conversation-messages.md.
MESSAGE: dict[str, Any] = {
    "text": "Hi <at>Ada</at>, see **this**",
    "textFormat": "plain",
    "attachments": [
        {"contentType": "text/html", "content": "<div>Hi <at>Ada</at>, see <b>this</b></div>"},
        {
            "contentType": FILE_DOWNLOAD_INFO,
            "contentUrl": "https://contoso.sharepoint.com/personal/x/report.pdf",
            "name": "report.pdf",
            "content": {
                "downloadUrl": "https://download.test/report.pdf?tempauth=x",
                "uniqueId": "1150D938-8870-4044-9F2C-5BBDEBA70C9D",
                "fileType": "pdf",
            },
        },
        {
            "contentType": "image/*",
            "contentUrl": "https://smba.test/v3/attachments/1/views/original",
        },
    ],
    "type": "message",
    "timestamp": "2026-12-06T12:00:00.000Z",
    "id": "1481567603816",
    "channelId": "msteams",
    "serviceUrl": SERVICE,
    "from": {"id": "29:1XJKJMvc5GBtc2JwZq0oj8tHZmzrQgFmB", "name": "Grace", "aadObjectId": "aad-g"},
    "conversation": {"conversationType": "personal", "tenantId": "t-1", "id": "a:17I0kl9EkpE1O9PH"},
    "recipient": {"id": "28:c9e8c047-2a74-40a2-b28a-b162d5f5327c", "name": "nextplane"},
    "entities": [
        {"locale": "en-US", "country": "US", "platform": "Windows", "type": "clientInfo"},
        {"type": "mention", "mentioned": {"id": "29:ada", "name": "Ada"}, "text": "<at>Ada</at>"},
    ],
    "channelData": {"tenant": {"id": "t-1"}},
    "replyToId": "1481567600000",
    "locale": "en-US",
}


def with_(**fields: Any) -> dict[str, Any]:
    activity = copy.deepcopy(MESSAGE)
    for name, value in fields.items():
        if value is None:
            activity.pop(name, None)
        else:
            activity[name] = value
    return activity


class MessageTests(SynchronousTestCase):
    """
    Messages are read with text, HTML, mentions, files and the reference.
    """

    def test_message(self) -> None:
        """Every part of a message is read."""
        message = parse_activity(MESSAGE)
        assert isinstance(message, Message)
        self.assertEqual(message.id, "1481567603816")
        self.assertEqual(message.text, MESSAGE["text"])
        self.assertEqual(message.html, "<div>Hi <at>Ada</at>, see <b>this</b></div>")
        self.assertEqual(message.sender.aad_object_id, "aad-g")
        self.assertEqual([m.name for m in message.mentions], ["Ada"])
        self.assertEqual(message.mentions[0].text, "<at>Ada</at>")
        self.assertEqual(message.files[0].name, "report.pdf")
        self.assertEqual(
            message.files[0].download_url, "https://download.test/report.pdf?tempauth=x"
        )
        self.assertEqual(message.files[0].file_type, "pdf")
        self.assertEqual([a.content_type for a in message.attachments], ["image/*"])
        self.assertEqual(message.reply_to_id, "1481567600000")

    def test_reference(self) -> None:
        """The conversation reference keeps serviceUrl, tenant and bot."""
        reference = parse_activity(MESSAGE).conversation  # type: ignore[union-attr]
        assert reference is not None
        self.assertEqual(reference.service_url, SERVICE)
        self.assertEqual(reference.conversation_id, "a:17I0kl9EkpE1O9PH")
        self.assertEqual(reference.tenant_id, "t-1")
        self.assertEqual(reference.conversation_type, "personal")
        self.assertEqual(reference.bot.id, "28:c9e8c047-2a74-40a2-b28a-b162d5f5327c")

    def test_reference_stored(self) -> None:
        """A reference survives dump and load, and gives the outbound ref."""
        reference = parse_activity(MESSAGE).conversation  # type: ignore[union-attr]
        assert reference is not None
        loaded = type(reference).load(reference.dump())
        self.assertEqual(loaded.dump(), reference.dump())
        self.assertEqual(loaded.service_url, SERVICE)
        outbound = loaded.outbound()
        self.assertEqual(
            (outbound.service_url, outbound.conversation_id, outbound.tenant_id, outbound.bot_id),
            (SERVICE, "a:17I0kl9EkpE1O9PH", "t-1", "28:c9e8c047-2a74-40a2-b28a-b162d5f5327c"),
        )
        for bad in ("{", "[]", '{"serviceUrl": "x"}'):
            self.assertRaises(ActivityError, type(reference).load, bad)

    def test_tenant_from_channel_data(self) -> None:
        """Without conversation.tenantId, channelData.tenant.id is used."""
        activity = with_(conversation={"id": "a:1"})
        self.assertEqual(parse_activity(activity).conversation.tenant_id, "t-1")  # type: ignore[union-attr]

    def test_submit_value(self) -> None:
        """An Action.Submit press is a message with a value."""
        message = parse_activity(with_(text=None, attachments=None, value={"verb": "accept"}))
        assert isinstance(message, Message)
        self.assertEqual((message.text, message.value), ("", {"verb": "accept"}))

    def test_unknown_fields_ignored(self) -> None:
        """Unknown fields anywhere are accepted."""
        activity = with_(futureField={"x": 1}, attachments=[{"contentType": "x/new", "new": 1}, 5])
        activity["from"]["extra"] = True
        message = parse_activity(activity)
        assert isinstance(message, Message)
        self.assertEqual(message.attachments[0].content_type, "x/new")

    def test_repr_hides_content(self) -> None:
        """No message text or HTML shows in repr."""
        text = repr(parse_activity(MESSAGE))
        self.assertNotIn("see", text)
        self.assertNotIn("tempauth", text)

    def test_errors(self) -> None:
        """Non-activities and activities missing their addressing are refused."""
        for bad in (None, [], {}, {"type": ""}, with_(serviceUrl=None), with_(conversation=None)):
            self.assertRaises(ActivityError, parse_activity, bad)
        self.assertRaises(ActivityError, parse_activity, with_(**{"from": None}))
        self.assertRaises(ActivityError, parse_activity, with_(recipient={"name": "x"}))


class OtherTypeTests(SynchronousTestCase):
    """
    The other activity types.
    """

    def test_edit(self) -> None:
        """messageUpdate is an edit with the new text."""
        edit = parse_activity(with_(type="messageUpdate", channelData={"eventType": "editMessage"}))
        assert isinstance(edit, MessageEdited)
        self.assertEqual((edit.event_type, edit.text), ("editMessage", MESSAGE["text"]))
        self.assertIsNotNone(edit.html)

    def test_delete(self) -> None:
        """messageDelete names the deleted activity."""
        deleted = parse_activity(with_(type="messageDelete", text=None))
        assert isinstance(deleted, MessageDeleted)
        self.assertEqual(deleted.id, "1481567603816")

    def test_reactions(self) -> None:
        """messageReaction lists added and removed reaction types."""
        activity = with_(
            type="messageReaction",
            reactionsAdded=[{"type": "like"}, {"type": "heart"}, {}],
            reactionsRemoved=[{"type": "laugh"}],
        )
        reaction = parse_activity(activity)
        assert isinstance(reaction, ReactionsChanged)
        self.assertEqual(reaction.added, ("like", "heart"))
        self.assertEqual(reaction.removed, ("laugh",))
        self.assertEqual(reaction.reply_to_id, "1481567600000")

    def test_typing(self) -> None:
        """typing is read."""
        self.assertIsInstance(parse_activity(with_(type="typing")), Typing)

    def test_installation(self) -> None:
        """installationUpdate add and remove."""
        for action, installed in (("add", True), ("add-upgrade", True), ("remove", False)):
            change = parse_activity(with_(type="installationUpdate", action=action))
            assert isinstance(change, InstallationChanged)
            self.assertEqual(change.installed, installed)
            self.assertEqual(change.conversation.service_url, SERVICE)

    def test_members(self) -> None:
        """conversationUpdate lists members and tells when the bot joined."""
        bot = MESSAGE["recipient"]["id"]
        change = parse_activity(
            with_(
                type="conversationUpdate",
                membersAdded=[{"id": bot}, {"id": "29:x"}],
                membersRemoved=[{"id": "29:y"}, {}],
                channelData={"tenant": {"id": "t-1"}, "eventType": "teamMemberAdded"},
            )
        )
        assert isinstance(change, MembersChanged)
        self.assertTrue(change.bot_added)
        self.assertFalse(change.bot_removed)
        self.assertEqual([m.id for m in change.removed], ["29:y"])
        self.assertEqual(change.event_type, "teamMemberAdded")

    def test_card_action(self) -> None:
        """invoke adaptiveCard/action gives the verb and data."""
        value = {"action": {"type": "Action.Execute", "verb": "accept", "data": {"r": "1"}}}
        action = parse_activity(with_(type="invoke", name="adaptiveCard/action", value=value))
        assert isinstance(action, CardAction)
        self.assertEqual((action.verb, dict(action.data)), ("accept", {"r": "1"}))

    def test_file_consent(self) -> None:
        """fileConsent/invoke: accepted with upload info, or declined."""
        value = {
            "type": "fileUpload",
            "action": "accept",
            "context": {"file": "f1"},
            "uploadInfo": {
                "contentUrl": "https://od.test/f.txt",
                "name": "f.txt",
                "uploadUrl": "https://od.test/upload/1",
                "uniqueId": "u1",
                "fileType": "txt",
            },
        }
        consent = parse_activity(with_(type="invoke", name="fileConsent/invoke", value=value))
        assert isinstance(consent, FileConsent)
        self.assertTrue(consent.accepted)
        assert consent.upload is not None
        self.assertEqual(
            (consent.upload.upload_url, consent.context),
            ("https://od.test/upload/1", {"file": "f1"}),
        )
        declined = parse_activity(
            with_(type="invoke", name="fileConsent/invoke", value={"action": "decline"})
        )
        assert isinstance(declined, FileConsent)
        self.assertEqual((declined.accepted, declined.upload), (False, None))

    def test_unknown_invoke(self) -> None:
        """Other invokes are named, not acted on."""
        invoke = parse_activity(with_(type="invoke", name="composeExtension/query"))
        assert isinstance(invoke, UnknownInvoke)
        self.assertEqual(invoke.name, "composeExtension/query")

    def test_unknown_type(self) -> None:
        """Unknown types are ignored, even without addressing."""
        self.assertEqual(parse_activity({"type": "handoff"}), Ignored("handoff"))
        self.assertEqual(parse_activity({"type": "somethingNew"}), Ignored("somethingNew"))

    @settings(max_examples=40)
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=20,
        )
    )
    def test_never_crashes(self, junk: Any) -> None:
        """Any JSON value either parses or raises ActivityError."""
        for data in (
            junk,
            with_(futureField=junk),
            {**MESSAGE, "attachments": junk, "entities": junk},
        ):
            try:
                parse_activity(data)
            except ActivityError:
                pass
