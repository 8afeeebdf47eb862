"""
The Teams connector end to end in memory: the simulated Teams channel and
Connector API, the hub's router, and a recording XMPP side.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from nextplane.connectors.registry import CONNECTORS
from nextplane.connectors.teams.handler import command_text
from nextplane.model.events import (
    ContactAccept,
    ContactRequest,
    FileShare,
    MessageEdit,
    MessageRetract,
    ReactionAdd,
    TextMessage,
    Typing,
)
from nextplane.model.text import RichText, Text

from .helpers import OTHER_KEY, UNENDORSED_KEY
from .hub import APP_ID, KEY, TeamsHub, addr, text_of

ALICE = addr("alice@widget.test")
BOB = addr("bob@widget.test")
TOM = addr("tom@contoso.test")


def text(value: str) -> RichText:
    return RichText([Text(value)])


class Fixture(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = TeamsHub()

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.api.violations, [])

    def connect(self, contact=ALICE) -> None:  # type: ignore[no-untyped-def]
        """tom installs the app and invites C{contact}, who accepts."""
        hub = self.hub
        if not hub.channel.conversation(hub.tom).activities:
            hub.install(hub.tom)
        hub.says(hub.tom, f"invite {contact}")
        hub.inject(ContactAccept(sender=contact, recipient=TOM))

    def from_alice(self, value: str, sender=ALICE, **kwargs) -> TextMessage:  # type: ignore[no-untyped-def]
        message = TextMessage(sender=sender, recipient=TOM, body=text(value), **kwargs)
        self.hub.inject(message)
        return message


class RegistryTests(SynchronousTestCase):
    def test_registered(self) -> None:
        """One entry in the registry, a platform."""
        self.assertEqual(CONNECTORS["teams"].role, "platform")


class CommandTextTests(SynchronousTestCase):
    def test_words(self) -> None:
        """Commands are recognised with or without a prefix; sentences are messages."""
        self.assertEqual(command_text("invite a@b.test"), "invite a@b.test")
        self.assertEqual(command_text("/nextplane list"), "list")
        self.assertEqual(command_text("help"), "help")
        self.assertEqual(command_text("chat a@b.test"), "chat a@b.test")
        self.assertIsNone(command_text("list of things to do"))
        self.assertIsNone(command_text("block party tonight?"))
        self.assertIsNone(command_text("hello"))


class ConversationTests(Fixture):
    def test_invite_accept_and_chat(self) -> None:
        """tom invites alice; she accepts; messages flow both ways; replies need no command."""
        hub = self.hub
        self.connect()
        [request] = hub.delivered("contact_request")
        self.assertEqual(request.sender, TOM)
        self.assertIn("accepted your invitation", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "hello alice")
        [message] = hub.delivered("message")
        self.assertEqual((message.sender, message.recipient), (TOM, ALICE))
        self.assertEqual(message.body.plain_text(), "hello alice")
        self.from_alice("hi tom")
        last = hub.bot_posts(hub.tom)[-1].body
        shown = text_of(last)
        self.assertIn("hi tom", shown)
        self.assertIn("alice@widget.test", shown)
        self.assertEqual(
            last["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive"
        )

    def test_text_style_bold_name(self) -> None:
        """With message_style text, a contact's message starts with their bold name."""
        self.hub = TeamsHub(extra={"message_style": "text"})
        self.connect()
        self.from_alice("hi tom")
        self.assertTrue(self.hub.texts(self.hub.tom)[-1].startswith("**"))

    def test_edit_delete_reaction_typing_from_teams(self) -> None:
        """Edits, deletions, reactions and typing in Teams reach the contact."""
        hub = self.hub
        self.connect()
        sent = hub.says(hub.tom, "helo")
        hub.act(hub.channel.edit(hub.tom, sent.activity["id"], "hello"))
        [message] = hub.delivered("message")
        [edit] = hub.delivered("edit")
        assert isinstance(edit, MessageEdit)
        self.assertEqual(edit.message_id, message.message_id)
        self.assertEqual(edit.body.plain_text(), "hello")
        self.from_alice("how are you?")
        theirs = hub.bot_posts(hub.tom)[-1]
        hub.act(hub.channel.react(hub.tom, theirs.id, "like"))
        [reaction] = hub.delivered("reaction_add")
        assert isinstance(reaction, ReactionAdd)
        self.assertEqual((reaction.recipient, reaction.emoji), (ALICE, "👍"))
        hub.act(hub.channel.typing(hub.tom))
        [typing] = hub.delivered("typing")
        assert isinstance(typing, Typing)
        self.assertEqual(typing.recipient, ALICE)
        hub.act(hub.channel.delete(hub.tom, sent.activity["id"]))
        [retraction] = hub.delivered("retract")
        assert isinstance(retraction, MessageRetract)
        self.assertEqual(retraction.message_id, message.message_id)

    def test_edit_retract_reaction_to_teams(self) -> None:
        """A contact's edit replaces the post, a retraction deletes it, a reaction is a line."""
        hub = self.hub
        self.connect()
        original = self.from_alice("helo")
        post = hub.bot_posts(hub.tom)[-1]
        hub.inject(
            MessageEdit(
                sender=ALICE, recipient=TOM, message_id=original.message_id, body=text("hello")
            )
        )
        self.assertIn("hello", text_of(post.body))
        self.assertEqual(len(post.edits), 1)
        hub.inject(
            ReactionAdd(sender=ALICE, recipient=TOM, message_id=original.message_id, emoji="🎉")
        )
        self.assertIn("reacted 🎉", hub.texts(hub.tom)[-1])
        hub.inject(MessageRetract(sender=ALICE, recipient=TOM, message_id=original.message_id))
        self.assertTrue(post.deleted)

    def test_reply_goes_to_replied_contact(self) -> None:
        """With two contacts, a reply goes to the one replied to; each send is confirmed."""
        hub = self.hub
        self.connect(ALICE)
        self.connect(BOB)
        self.from_alice("from alice")
        alice_post = hub.bot_posts(hub.tom)[-1]
        self.from_alice("from bob", sender=BOB)
        hub.says(hub.tom, "to alice", reply_to=alice_post.id)
        hub.says(hub.tom, "to bob")
        messages = hub.delivered("message")
        self.assertEqual(
            [(m.recipient, m.body.plain_text()) for m in messages],
            [(ALICE, "to alice"), (BOB, "to bob")],
        )
        self.assertIn("sent to", hub.texts(hub.tom)[-1])
        self.assertIn("bob@widget.test", hub.texts(hub.tom)[-1])

    def test_chat_picks_contact(self) -> None:
        """chat <address> picks whom plain messages go to."""
        hub = self.hub
        self.connect(ALICE)
        self.connect(BOB)
        hub.says(hub.tom, "chat alice@widget.test")
        self.assertIn("now go to", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "hi")
        self.assertEqual(hub.delivered("message")[-1].recipient, ALICE)
        hub.says(hub.tom, "chat carol@widget.test")
        self.assertIn("not your contact", hub.texts(hub.tom)[-1])

    def test_nobody_yet(self) -> None:
        """A message with no contact yet is answered with how to get one."""
        hub = self.hub
        hub.install(hub.tom)
        hub.says(hub.tom, "hello?")
        self.assertIn("Nobody to send this to yet", hub.texts(hub.tom)[-1])
        self.assertEqual(hub.delivered("message"), [])

    def test_commands(self) -> None:
        """help, list, remove and block work as typed words."""
        hub = self.hub
        self.connect()
        hub.says(hub.tom, "help")
        self.assertIn("**invite**", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "list")
        self.assertIn("alice@widget.test", hub.texts(hub.tom)[-1])
        self.assertIn("presence unknown", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "block bob@widget.test")
        self.assertIn("Blocked bob@widget.test", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "remove alice@widget.test")
        self.assertIn("Removed alice@widget.test", hub.texts(hub.tom)[-1])
        self.assertEqual(len(hub.delivered("contact_remove")), 1)


class CardTests(Fixture):
    def test_request_card_accepted_in_place(self) -> None:
        """A contact request is a card; Accept answers with the card updated in place."""
        hub = self.hub
        hub.install(hub.tom)
        hub.inject(ContactRequest(sender=ALICE, recipient=TOM, display_name="Alice Liddell"))
        card = hub.bot_posts(hub.tom)[-1]
        self.assertIn("Alice Liddell", text_of(card.body))
        self.assertIn("Action.Execute", text_of(card.body))
        answer = hub.settle(
            hub.channel.card_action(hub.tom, "contact.accept", {"request": str(ALICE)}, card.id)
        )
        self.assertEqual(answer.status, 200)
        import json

        body = json.loads(answer.body)
        self.assertEqual(body["type"], "application/vnd.microsoft.card.adaptive")
        self.assertNotIn("actions", body["value"])
        self.assertIn("Accepted", json.dumps(body["value"]))
        hub.advance(1)
        [accept] = hub.delivered("contact_accept")
        self.assertEqual(accept.recipient, ALICE)
        hub.says(hub.tom, "hello")
        self.assertEqual(hub.delivered("message")[-1].recipient, ALICE)

    def test_slow_answer_within_budget(self) -> None:
        """An Accept whose routing is slow is answered within the channel's 15 s budget."""
        hub = self.hub
        hub.install(hub.tom)
        hub.inject(ContactRequest(sender=ALICE, recipient=TOM))
        card = hub.bot_posts(hub.tom)[-1]
        hub.xmpp.hold = True
        answering = hub.channel.card_action(
            hub.tom, "contact.accept", {"request": str(ALICE)}, card.id
        )
        hub.advance(11)
        self.assertTrue(answering.called)
        answer = hub.settle(answering)
        self.assertEqual(answer.status, 200)
        self.assertEqual(json.loads(answer.body)["value"], "OK")
        hub.xmpp.release()
        hub.advance(2)
        self.assertEqual(len(hub.delivered("contact_accept")), 1)
        # The card is updated in place once the answer is known.
        self.assertEqual(len(card.edits), 1)
        self.assertIn("Accepted", text_of(card.body))
        self.assertNotIn("Action.Execute", text_of(card.body))

    def test_decline(self) -> None:
        """Decline routes a decline."""
        hub = self.hub
        hub.install(hub.tom)
        hub.inject(ContactRequest(sender=ALICE, recipient=TOM))
        answer = hub.settle(
            hub.channel.card_action(hub.tom, "contact.decline", {"request": str(ALICE)})
        )
        self.assertEqual(answer.status, 200)
        hub.advance(1)
        self.assertEqual(len(hub.delivered("contact_decline")), 1)


class FailureTests(Fixture):
    def test_blocked_app_told_to_sender(self) -> None:
        """403 MessageWritesBlocked: the sender is told the user blocked the app."""
        hub = self.hub
        self.connect()
        hub.tom.blocked = True
        outcome = hub.inject(TextMessage(sender=ALICE, recipient=TOM, body=text("anyone?")))
        self.assertFalse(outcome.delivered)
        self.assertIn("blocked or removed the nextplane app", outcome.reason)

    def test_not_installed_told_to_inviter(self) -> None:
        """A Teams user without the app: the inviter learns how to get it installed."""
        hub = self.hub
        self.connect()
        hub.tom.installed = False
        hub.teams.tenants[hub.tom.tenant_id]._refs.clear()
        outcome = hub.inject(TextMessage(sender=ALICE, recipient=TOM, body=text("anyone?")))
        self.assertFalse(outcome.delivered)
        self.assertIn("has not installed the nextplane app", outcome.reason)

    def test_large_message_split(self) -> None:
        """A message above 100 KB is split into several posts, in order."""
        hub = self.hub
        self.connect()
        before = len(hub.bot_posts(hub.tom))
        self.from_alice("word " * 40_000)
        hub.advance(10)
        posts = hub.bot_posts(hub.tom)[before:]
        self.assertGreater(len(posts), 1)
        self.assertEqual(hub.delivered("delivery_error"), [])

    def test_transient_faults_retried(self) -> None:
        """412, 502 and 504 are retried with backoff."""
        hub = self.hub
        self.connect()
        for status in (412, 502, 504):
            hub.sim.api.inject("Conversations_SendToConversation", status)
        self.from_alice("still there")
        hub.advance(30)
        self.assertIn("still there", hub.texts(hub.tom)[-1])
        self.assertEqual(hub.delivered("delivery_error"), [])


class SecurityTests(Fixture):
    def test_bad_tokens_refused(self) -> None:
        """Every bad-JWT class gets 401 and nothing is routed."""
        hub = self.hub
        hub.install(hub.tom)
        self.connect()
        routed = list(hub.xmpp.delivered)
        activity = hub.channel.base(hub.tom, "message", text="invite mallory@widget.test")
        url, now = hub.sim.service_url, hub.clock.seconds()
        tokens = {
            "unsigned": "",
            "garbage": "not-a-jwt",
            "alg none": _unsigned(url, now),
            "forged": OTHER_KEY.channel_token(APP_ID, url, now),
            "not endorsed": UNENDORSED_KEY.channel_token(APP_ID, url, now),
            "expired": KEY.channel_token(APP_ID, url, now - 7200),
            "wrong audience": KEY.channel_token("another-app", url, now),
            "wrong issuer": KEY.channel_token(APP_ID, url, now, issuer="https://evil.test"),
            "wrong serviceUrl": KEY.channel_token(APP_ID, "https://evil.test/", now),
        }
        for name, token in tokens.items():
            delivery = hub.settle(hub.channel.post(activity, token))
            self.assertEqual(delivery.status, 401, name)
        hub.advance(5)
        self.assertEqual(hub.xmpp.delivered, routed)
        self.assertGreaterEqual(sum(hub.teams.webhook.refused.values()), len(tokens))

    def test_unknown_types_ignored(self) -> None:
        """Unknown activity types are accepted and ignored."""
        hub = self.hub
        delivery = hub.settle(hub.channel.post(hub.channel.base(hub.tom, "event", name="x")))
        self.assertEqual(delivery.status, 201)


class BurstTests(Fixture):
    def test_burst_in_order_at_teams_pace(self) -> None:
        """200 messages arrive complete, in order, at Teams' pace, no 429 unhandled."""
        hub = self.hub
        self.connect()
        before = len(hub.bot_posts(hub.tom))
        start = hub.clock.seconds()
        for i in range(200):
            hub.xmpp.inject(TextMessage(sender=ALICE, recipient=TOM, body=text(f"m{i:03d}")))
        hub.advance(600, step=1.0)
        posts = hub.bot_posts(hub.tom)[before:]
        self.assertEqual(
            [text_of(p.body).count(f"m{i:03d}") for i, p in enumerate(posts)], [1] * 200
        )
        self.assertEqual(hub.delivered("delivery_error"), [])
        self.assertEqual(hub.sim.api.rate_limited, [])
        times = [
            c.time for c in hub.sim.api.calls if c.operation == "Conversations_SendToConversation"
        ]
        # 60 per 30 s: 200 sends take more than 90 s, and never burst past 7 per second.
        self.assertGreater(times[-1] - start, 90)
        self.assertTrue(all(times[i + 7] - times[i] >= 1.0 for i in range(len(times) - 7)))


class TenantsTests(Fixture):
    def test_teams_to_teams_across_tenants(self) -> None:
        """tom (contoso) and fay (fabrikam) chat through the one bot."""
        hub = self.hub
        hub.install(hub.tom)
        hub.install(hub.fay)
        hub.says(hub.tom, "invite fay@fabrikam.test")
        card = hub.bot_posts(hub.fay)[-1]
        self.assertIn("tom@contoso.test", text_of(card.body))
        hub.settle(
            hub.channel.card_action(
                hub.fay, "contact.accept", {"request": "tom@contoso.test"}, card.id
            )
        )
        hub.advance(2)
        self.assertIn("accepted your invitation", hub.texts(hub.tom)[-1])
        hub.says(hub.tom, "hello fay")
        self.assertIn("hello fay", hub.texts(hub.fay)[-1])
        self.assertIn("Tom Jones", hub.texts(hub.fay)[-1])
        hub.says(hub.fay, "hello tom")
        self.assertIn("hello tom", hub.texts(hub.tom)[-1])


class FileTests(Fixture):
    def test_file_from_teams_is_a_hub_link(self) -> None:
        """A file sent in Teams reaches the contact as a signed hub link that streams it."""
        hub = self.hub
        self.connect()
        hub.sim.uploads["f1"] = b"file bytes"
        download = {
            "contentType": "application/vnd.microsoft.teams.file.download.info",
            "name": "notes.txt",
            "content": {
                "downloadUrl": f"{hub.sim.base_url}/drive/f1/notes.txt",
                "uniqueId": "f1",
                "fileType": "txt",
            },
        }
        hub.says(hub.tom, "", attachments=[download])
        [shared] = hub.delivered("file")
        assert isinstance(shared, FileShare)
        self.assertTrue(shared.url.startswith("https://hub.test/teams/files/"))
        response = hub.settle(hub.hub_http.get(shared.url))
        self.assertEqual(response.code, 200)
        self.assertEqual(hub.settle(response.content()), b"file bytes")

    def test_file_to_teams_consent(self) -> None:
        """A contact's file comes as a consent card; accepted, it is uploaded and shown."""
        hub = self.hub
        self.connect()
        hub.sim.uploads["src"] = b"hello file"
        hub.inject(
            FileShare(
                sender=ALICE,
                recipient=TOM,
                name="a.txt",
                size=10,
                url=f"{hub.sim.base_url}/drive/src/a.txt",
            )
        )
        consent = hub.bot_posts(hub.tom)[-1].body["attachments"][0]
        self.assertEqual(
            consent["contentType"], "application/vnd.microsoft.teams.card.file.consent"
        )
        context = consent["content"]["acceptContext"]
        hub.settle(hub.channel.file_consent(hub.tom, True, context, name="a.txt"))
        hub.advance(3)
        info = hub.bot_posts(hub.tom)[-1].body["attachments"][0]
        self.assertEqual(info["contentType"], "application/vnd.microsoft.teams.card.file.info")
        self.assertIn(b"hello file", list(hub.sim.uploads.values()))


def _unsigned(url: str, now: float) -> str:
    import jwt

    claims = {
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "exp": int(now) + 600,
        "serviceurl": url,
    }
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "key-1"})  # type: ignore[arg-type]
