"""
Tests for L{nextplane.connectors.slack.connector}: the Slack connector in a
hub in memory, against two simulated workspaces and a recording XMPP side.
"""

from __future__ import annotations

import io
import itertools
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twisted.internet.defer import Deferred, succeed
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from nextplane.config import ConfigError, Section
from nextplane.connectors.slack.connector import (
    ENTRY,
    SlackConfig,
    channel_name,
    parse_config,
)
from nextplane.connectors.slack.installation import SlackInstallation
from nextplane.connectors.slack.signature import sign
from nextplane.connectors.slack.webhook import ACCEPT_ACTION, DECLINE_ACTION
from nextplane.interfaces import DeliveryFailed, IConnector
from nextplane.logs import make_observer
from nextplane.model.events import (
    Availability,
    ContactAccept,
    ContactRequest,
    FileShare,
    MessageEdit,
    MessageRetract,
    Presence,
    ReactionAdd,
    ReactionRemove,
    TextMessage,
    Typing,
)
from nextplane.model.profile import Profile
from nextplane.model.text import Bold, RichText, Text
from nextplane.storage.memory import MemoryStore
from nextplane.storage.records import (
    ContactState,
    DomainAction,
    DomainPolicy,
    MetadataQuery,
    PlatformInstallation,
)
from nextplane.testing.slack_sim import CAPACITY

from .helpers import T0
from .hub import HUB, SECRET, TEAM_A, TEAM_B, TOKEN_A, TOKEN_B, SlackHub, addr

PETER = addr("peter@widget.test")
JOHN = addr("john@acme.test")
MARY = addr("mary@beta.test")


def text_message(body: str | RichText, sender: Any = PETER, recipient: Any = JOHN) -> TextMessage:
    """A message from the XMPP side."""
    rich = body if isinstance(body, RichText) else RichText.plain(body)
    return TextMessage(sender=sender, recipient=recipient, body=rich)


class ConfigTests(SynchronousTestCase):
    """
    C{[connectors.slack]} is validated, and its secrets are known.
    """

    def parse(self, data: dict[str, Any]) -> SlackConfig:
        section = Section(data, "connectors.slack", {"TOKEN": "xoxb-from-env"})
        config = parse_config(section)
        section.finish()
        return config

    def test_defaults_and_secrets(self) -> None:
        """Only the signing secret is required; tokens come per workspace, from the environment."""
        config = self.parse(
            {
                "signing_secret": SECRET,
                "workspaces": {"T0001": {"bot_token": "${TOKEN}"}},
                "client_id": "1.2",
                "client_secret": "oauth-secret-value",
            }
        )
        self.assertEqual(config.api_base_url, "https://slack.com/api/")
        self.assertEqual(dict(config.workspaces), {"T0001": "xoxb-from-env"})
        self.assertEqual(set(config.secrets()), {SECRET, "oauth-secret-value", "xoxb-from-env"})
        self.assertNotIn("xoxb", repr(config))
        self.assertNotIn(SECRET, repr(config))
        self.assertEqual(ENTRY.name, "slack")
        self.assertEqual(ENTRY.role, "platform")

    def test_mistakes(self) -> None:
        """Each mistake names its key."""
        for data, key in (
            ({}, "connectors.slack.signing_secret"),
            ({"signing_secret": "short"}, "connectors.slack.signing_secret"),
            (
                {"signing_secret": SECRET, "workspaces": {"T1X": {"bot_token": "xoxp-user"}}},
                "connectors.slack.workspaces.T1X.bot_token",
            ),
            (
                {"signing_secret": SECRET, "workspaces": {"acme": {"bot_token": "xoxb-1"}}},
                "connectors.slack.workspaces.acme",
            ),
            (
                {
                    "signing_secret": SECRET,
                    "workspaces": {"T1X": {"bot_token": "xoxb-1", "extra": 1}},
                },
                "connectors.slack.workspaces.T1X.extra",
            ),
            ({"signing_secret": SECRET, "client_id": "1.2"}, "connectors.slack.client_secret"),
            (
                {"signing_secret": SECRET, "channel_prefix": "Ext!"},
                "connectors.slack.channel_prefix",
            ),
            (
                {"signing_secret": SECRET, "api_base_url": "slack.com"},
                "connectors.slack.api_base_url",
            ),
            ({"signing_secret": SECRET, "bogus": 1}, "connectors.slack.bogus"),
        ):
            with self.assertRaises(ConfigError) as caught:
                self.parse(data)
            self.assertEqual(caught.exception.key, key, data)

    def test_channel_names(self) -> None:
        """Conversation names follow Slack's rules and get suffixes on clashes."""
        name = channel_name("ext", addr("Peter.Smith@Widget.test"), JOHN)
        self.assertEqual(name, "ext-peter-smith-widget-test-john")
        self.assertEqual(channel_name("ext", PETER, JOHN, 2), "ext-peter-widget-test-john-2")
        long = channel_name("ext", addr("p" * 200 + "@widget.test"), JOHN, 5)
        self.assertLessEqual(len(long), 80)
        self.assertRegex(long, r"^[a-z0-9_-]+-[0-9a-f]{6}$")


class ConnectorTests(SynchronousTestCase):
    """
    The connector is an IConnector that reports its workspaces.
    """

    def test_interface_and_health(self) -> None:
        """It provides IConnector; auth.test made every workspace ok."""
        hub = SlackHub()
        self.assertTrue(verifyObject(IConnector, hub.slack))
        health = hub.slack.health()
        self.assertEqual(health["state"], "ok")
        self.assertEqual(
            health["workspaces"],
            {
                TEAM_A: {"domain": "acme.test", "state": "ok"},
                TEAM_B: {"domain": "beta.test", "state": "ok"},
            },
        )
        self.assertEqual(
            [c.method for c in hub.sim_a.calls], ["auth.test"], "one auth.test per workspace"
        )

    def test_not_installed(self) -> None:
        """A tenant without a bot token is degraded; deliveries to it fail clearly."""
        hub = SlackHub(tokens={TEAM_A: TOKEN_A})
        self.assertEqual(hub.slack.health()["state"], "degraded")
        failure = self.failureResultOf(
            hub.slack.deliver(text_message("hi", recipient=MARY)), DeliveryFailed
        )
        self.assertIn("not installed in beta.test's workspace", failure.value.reason)

    def test_wrong_workspace_token(self) -> None:
        """A token of another workspace is refused at start, not used."""
        hub = SlackHub(tokens={TEAM_A: TOKEN_B, TEAM_B: TOKEN_B})
        self.assertIn("auth failed", hub.slack.health()["workspaces"][TEAM_A]["state"])
        self.assertIsNone(hub.slack.workspace(TEAM_A).client)  # type: ignore[union-attr]
        self.flushLoggedErrors()

    def test_stop(self) -> None:
        """A stopped connector refuses deliveries."""
        hub = SlackHub()
        self.successResultOf(hub.slack.stopService())
        self.failureResultOf(hub.slack.deliver(text_message("hi")), DeliveryFailed)
        self.assertEqual(hub.slack.health()["state"], "stopped")


class XmppSideTests(SynchronousTestCase):
    """
    A Slack user of acme.test and peter@widget.test on the XMPP side.
    """

    def setUp(self) -> None:
        self.hub = SlackHub()

    def connect(self) -> Any:
        """John invites peter, who accepts: the conversation exists."""
        hub = self.hub
        answer = hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.assertEqual(
            answer,
            "Invitation sent to peter@widget.test. You will get a private conversation "
            "with them once they accept.",
        )
        [request] = hub.delivered("contact_request")
        self.assertEqual((request.sender, request.recipient), (JOHN, PETER))
        self.assertEqual(request.display_name, "john")  # type: ignore[union-attr]
        outcome = self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        self.assertTrue(outcome.delivered)
        hub.advance(2)
        return hub.conversation(hub.sim_a, hub.john)

    def test_contact_shown_with_fetched_profile(self) -> None:
        """A contact with no hub user record is shown with the profile fetched for them (e.g. their vCard)."""
        hub = self.hub
        fetched = Profile("Peter Smith", "Engineer", "https://img.test/p.png")
        hub.slack.directory.fetch_profile = lambda requester, address: succeed(fetched)
        conversation = self.connect()
        self.successResultOf(hub.inject(text_message(RichText([Text("hi")]))))
        [post] = hub.posts(conversation)
        self.assertEqual(post.username, "Peter Smith (peter@widget.test)")
        self.assertEqual(post.icon_url, "https://img.test/p.png")

    def test_profile_never_delays_a_post(self) -> None:
        """
        A profile fetch that does not answer (a slow XMPP vCard round trip)
        does not hold the post: it goes out with what is known, and the
        profile is used once it came.
        """
        hub = self.hub
        pending: Deferred[Profile | None] = Deferred()
        hub.slack.directory.fetch_profile = lambda requester, address: pending
        conversation = self.connect()
        self.successResultOf(hub.inject(text_message(RichText([Text("one")]))))
        [post] = hub.posts(conversation)
        self.assertEqual((post.username, post.text), ("peter@widget.test", "one"))
        pending.callback(Profile("Peter Smith", None, "https://img.test/p.png"))
        second = hub.inject(text_message(RichText([Text("two")])))
        hub.advance(1)  # Slack's pace: one post per second per channel
        self.assertTrue(self.successResultOf(second).delivered)
        self.assertEqual(hub.posts(conversation)[-1].username, "Peter Smith (peter@widget.test)")

    def test_chat_both_ways(self) -> None:
        """Peter appears as himself in a private conversation; john's plain replies reach him."""
        hub = self.hub
        conversation = self.connect()
        self.assertEqual(conversation.name, "ext-peter-widget-test-john")
        self.assertTrue(conversation.is_private)
        self.assertEqual(conversation.members, {hub.john.id, hub.sim_a.workspace.bot_user_id})
        self.assertIn("accepted your invitation", conversation.messages[-1].text)

        body = RichText([Text("hi "), Bold([Text("john")])])
        outcome = self.successResultOf(hub.inject(text_message(body)))
        self.assertTrue(outcome.delivered)
        [post] = hub.posts(conversation)
        self.assertEqual((post.username, post.text), ("peter@widget.test", "hi *john*"))
        self.assertEqual(post.blocks[0]["type"], "rich_text")  # type: ignore[index]

        hub.advance(1)
        hub.sim_a.user_posts(hub.john.id, conversation.id, "hello _peter_")
        hub.advance(1)
        [reply] = hub.delivered("message")
        self.assertEqual((reply.sender, reply.recipient), (JOHN, PETER))
        self.assertEqual(reply.body.plain_text(), "hello peter")  # type: ignore[union-attr]
        self.assertEqual(hub.sim_a.violations, [])
        self.assertEqual(hub.sim_a.rate_limited, [])
        user = self.successResultOf(hub.store.get_user(JOHN))
        self.assertEqual(
            (user.platform, user.platform_id, user.display_name),
            ("slack", f"{TEAM_A}:{hub.john.id}", "john"),
        )

    def test_edits_deletes_reactions(self) -> None:
        """Edits, retractions and reactions map to the right messages, both ways."""
        hub = self.hub
        conversation = self.connect()
        incoming = text_message("first")
        self.successResultOf(hub.inject(incoming))
        hub.advance(1)
        [post] = hub.posts(conversation)
        mine = hub.sim_a.user_posts(hub.john.id, conversation.id, "mine")
        hub.advance(1)
        [sent] = hub.delivered("message")

        # XMPP -> Slack
        for event in (
            MessageEdit(
                sender=PETER,
                recipient=JOHN,
                message_id=incoming.message_id,
                body=RichText.plain("first, edited"),
            ),
            ReactionAdd(sender=PETER, recipient=JOHN, message_id=sent.message_id, emoji="👍"),  # type: ignore[union-attr]
        ):
            self.assertTrue(self.successResultOf(hub.inject(event)).delivered)
            hub.advance(1)
        self.assertEqual(post.text, "first, edited")
        self.assertEqual(mine.reactions, {"+1": [hub.sim_a.workspace.bot_user_id]})
        self.successResultOf(
            hub.inject(
                ReactionRemove(sender=PETER, recipient=JOHN, message_id=sent.message_id, emoji="👍")
            )  # type: ignore[union-attr]
        )
        hub.advance(1)
        self.assertEqual(mine.reactions, {})

        # Slack -> XMPP
        hub.sim_a.user_edits(hub.john.id, conversation.id, mine.ts, "mine, edited")
        hub.sim_a.user_reacts(hub.john.id, conversation.id, post.ts, "tada")
        hub.sim_a.user_reacts(hub.john.id, conversation.id, post.ts, "tada", added=False)
        hub.advance(1)
        [edit] = hub.delivered("edit")
        self.assertEqual(
            (edit.message_id, edit.body.plain_text()), (sent.message_id, "mine, edited")
        )  # type: ignore[union-attr]
        [added] = hub.delivered("reaction_add")
        [removed] = hub.delivered("reaction_remove")
        for reaction in (added, removed):
            self.assertEqual((reaction.message_id, reaction.emoji), (incoming.message_id, "🎉"))  # type: ignore[union-attr]
        hub.sim_a.user_deletes(hub.john.id, conversation.id, mine.ts)
        hub.advance(1)
        [retract] = hub.delivered("retract")
        self.assertEqual(retract.message_id, sent.message_id)  # type: ignore[union-attr]

        self.successResultOf(
            hub.inject(MessageRetract(sender=PETER, recipient=JOHN, message_id=incoming.message_id))
        )
        hub.advance(1)
        self.assertNotIn(post, conversation.messages)
        # The app's own edits and deletions came back from Slack and were dropped.
        self.assertEqual(len(hub.delivered("edit")), 1)
        self.assertEqual(len(hub.delivered("retract")), 1)
        self.assertEqual(hub.sim_a.violations, [])

    def test_what_slack_cannot_show(self) -> None:
        """An emoji without a shortcode is said in words; a custom one is refused with a notice."""
        hub = self.hub
        conversation = self.connect()
        mine = hub.sim_a.user_posts(hub.john.id, conversation.id, "mine")
        hub.advance(1)
        [sent] = hub.delivered("message")
        self.successResultOf(
            hub.inject(
                ReactionAdd(sender=PETER, recipient=JOHN, message_id=sent.message_id, emoji="★")
            )  # type: ignore[union-attr]
        )
        hub.advance(1)
        self.assertEqual(hub.posts(conversation)[-1].text, "(reacted with ★)")
        self.assertEqual(mine.reactions, {})

        hub.sim_a.user_reacts(hub.john.id, conversation.id, mine.ts, "party-parrot")
        hub.advance(1)
        self.assertEqual(hub.delivered("reaction_add"), [])
        self.assertIn(
            "custom emoji `:party-parrot:` cannot be sent", conversation.messages[-1].text
        )

        outcome = self.successResultOf(
            hub.inject(
                MessageEdit(
                    sender=PETER, recipient=JOHN, message_id="nope", body=RichText.plain("x")
                )
            )
        )
        self.assertEqual(
            (outcome.condition, outcome.reason),
            ("item-not-found", "the message this edit refers to is not in Slack"),
        )

    def test_typing_ignored(self) -> None:
        """Typing is accepted and shows nothing (Slack has no typing for apps)."""
        hub = self.hub
        conversation = self.connect()
        before = len(conversation.messages)
        outcome = self.successResultOf(
            hub.inject(Typing(sender=PETER, recipient=JOHN, state="composing"))
        )
        self.assertTrue(outcome.delivered)
        hub.advance(1)
        self.assertEqual(len(conversation.messages), before)

    def test_delivery_errors_shown(self) -> None:
        """
        A refused or failed message comes back as a clear notice in the
        conversation, in the thread of the message it is about.
        """
        hub = self.hub
        conversation = self.connect()
        self.successResultOf(
            hub.store.put_domain_policy(
                DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK)
            )
        )
        posted = hub.sim_a.user_posts(hub.john.id, conversation.id, "are you there?")
        hub.advance(2)
        self.assertEqual(hub.delivered("message"), [])
        self.assertEqual(
            conversation.messages[-1].text,
            ":warning: Not delivered to *peter@widget.test*: blocked: widget.test is on "
            "acme.test's block list (rule widget.test)",
        )
        self.assertEqual(conversation.messages[-1].thread_ts, posted.ts)
        self.successResultOf(hub.store.remove_domain_policy("acme.test", "widget.test"))
        hub.xmpp.failure = DeliveryFailed(
            "remote-server-not-found", "widget.test cannot be reached"
        )
        posted = hub.sim_a.user_posts(hub.john.id, conversation.id, "hello?")
        hub.advance(2)
        self.assertEqual(
            conversation.messages[-1].text,
            ":warning: Not delivered to *peter@widget.test*: widget.test cannot be reached",
        )
        self.assertEqual(conversation.messages[-1].thread_ts, posted.ts)

    def test_delivery_error_about_a_deleted_message(self) -> None:
        """
        When the failed message was deleted meanwhile (its thread is gone),
        the notice is posted in the conversation on its own.
        """
        hub = self.hub
        conversation = self.connect()
        hub.xmpp.failure = DeliveryFailed(
            "remote-server-not-found", "widget.test cannot be reached"
        )
        posted = hub.sim_a.user_posts(hub.john.id, conversation.id, "hello?")
        conversation.messages.remove(posted)
        hub.advance(2)
        self.assertEqual(
            conversation.messages[-1].text,
            ":warning: Not delivered to *peter@widget.test*: widget.test cannot be reached",
        )
        self.assertIsNone(conversation.messages[-1].thread_ts)

    def test_request_from_outside(self) -> None:
        """Peter's request is a card in john's DM; Accept opens the conversation."""
        hub = self.hub
        outcome = self.successResultOf(
            hub.inject(ContactRequest(sender=PETER, recipient=JOHN, display_name="Peter Smith"))
        )
        self.assertTrue(outcome.delivered)
        hub.advance(1)
        card = hub.dm(hub.sim_a, hub.john).messages[-1]
        self.assertEqual(card.text, "peter@widget.test wants to chat with you")
        self.assertIn("*Peter Smith* (peter@widget.test)", json.dumps(card.blocks))
        hub.click(hub.sim_a, hub.john, card, ACCEPT_ACTION)
        [accept] = hub.delivered("contact_accept")
        self.assertEqual((accept.sender, accept.recipient), (JOHN, PETER))
        conversation = hub.conversation(hub.sim_a, hub.john)
        self.assertIn(f"<#{conversation.id}>", card.text)
        self.assertNotIn(ACCEPT_ACTION, json.dumps(card.blocks))
        contact = self.successResultOf(hub.store.get_contact(JOHN, PETER))
        self.assertEqual(contact.state, ContactState.ACCEPTED)

        self.successResultOf(hub.inject(text_message("thanks!")))
        hub.advance(1)
        self.assertEqual(
            [(m.username, m.text) for m in hub.posts(conversation)],
            [("Peter Smith (peter@widget.test)", "thanks!")],
        )

    def test_decline(self) -> None:
        """Decline is sent and the card says so."""
        hub = self.hub
        self.successResultOf(hub.inject(ContactRequest(sender=PETER, recipient=JOHN)))
        hub.advance(1)
        card = hub.dm(hub.sim_a, hub.john).messages[-1]
        hub.click(hub.sim_a, hub.john, card, DECLINE_ACTION)
        self.assertEqual(len(hub.delivered("contact_decline")), 1)
        self.assertEqual(card.text, "You declined *peter@widget.test*'s request.")
        self.assertEqual(hub.conversations(hub.sim_a, hub.john), [])

    def test_presence_and_home_tab(self) -> None:
        """The Home tab lists contacts; presence is unknown until heard, then refreshed."""
        hub = self.hub
        self.connect()
        hub.sim_a.user_opens_home(hub.john.id)
        hub.advance(1)
        home = json.dumps(hub.sim_a.home_views[hub.john.id])
        self.assertIn("*peter@widget.test* - contact - :grey_question: presence unknown", home)
        self.assertNotIn("offline", home)
        self.assertIn("john@acme.test", home)
        self.successResultOf(
            hub.inject(Presence(sender=PETER, recipient=JOHN, availability=Availability.AVAILABLE))
        )
        hub.advance(6)
        home = json.dumps(hub.sim_a.home_views[hub.john.id])
        self.assertIn(":large_green_circle: available", home)
        self.assertIn("*peter@widget.test* - contact", hub.command(hub.sim_a, hub.john, "list"))
        # A request arriving is shown with its buttons.
        self.successResultOf(
            hub.inject(ContactRequest(sender=addr("paul@widget.test"), recipient=JOHN))
        )
        hub.advance(6)
        home = json.dumps(hub.sim_a.home_views[hub.john.id])
        self.assertIn("*paul@widget.test* - wants to chat with you", home)
        self.assertIn(ACCEPT_ACTION, home)

    def test_files(self) -> None:
        """A shared file reaches the contact as a signed hub link that never carries the token."""
        hub = self.hub
        conversation = self.connect()
        content = b"quarterly numbers\n"
        hub.sim_a.user_shares_file(
            hub.john.id,
            conversation.id,
            "report.txt",
            content,
            mimetype="text/plain",
            comment="see",
        )
        hub.advance(1)
        [message] = hub.delivered("message")
        [share] = hub.delivered("file")
        self.assertEqual(message.body.plain_text(), "see")  # type: ignore[union-attr]
        url = share.url  # type: ignore[union-attr]
        self.assertTrue(url.startswith(f"{HUB}/slack/files/{TEAM_A}/"), url)
        self.assertTrue(url.endswith("/report.txt"))
        self.assertNotIn("xoxb", url)
        self.assertEqual((share.size, share.media_type), (len(content), "text/plain"))  # type: ignore[union-attr]

        response = self.successResultOf(hub.hub_http.get(url))
        self.assertEqual(response.code, 200)
        self.assertEqual(self.successResultOf(response.content()), content)
        self.assertIn(b"attachment", response.headers.getRawHeaders(b"content-disposition")[0])
        parts = url.split("/")
        forged = "/".join([*parts[:-2], "0" * 32, parts[-1]])
        self.assertEqual(self.successResultOf(hub.hub_http.get(forged)).code, 404)
        hub.clock.advance(8 * 86400)
        self.assertEqual(self.successResultOf(hub.hub_http.get(url)).code, 410)

        # Peter's file is a link in Slack, retractable like a message.
        share_in = FileShare(
            sender=PETER, recipient=JOHN, name="a.pdf", size=2048, url="https://widget.test/a.pdf"
        )
        self.successResultOf(hub.inject(share_in))
        hub.advance(1)
        post = hub.posts(conversation)[-1]
        self.assertEqual(post.text, "📎 <https://widget.test/a.pdf|a.pdf> (2.0 KB)")
        self.successResultOf(
            hub.inject(MessageRetract(sender=PETER, recipient=JOHN, message_id=share_in.message_id))
        )
        hub.advance(1)
        self.assertNotIn(post, conversation.messages)

    def test_files_without_public_url(self) -> None:
        """Without a public URL a file stays in Slack and the user is told."""
        self.hub = SlackHub(public_url=None)
        hub = self.hub
        conversation = self.connect()
        hub.sim_a.user_shares_file(hub.john.id, conversation.id, "x.bin", b"1234")
        hub.advance(1)
        self.assertEqual(hub.delivered("file"), [])
        self.assertIn("Files cannot be sent from Slack", conversation.messages[-1].text)

    def test_only_owner_relayed(self) -> None:
        """Someone else posting in the conversation is not relayed, and is told."""
        hub = self.hub
        conversation = self.connect()
        conversation.members.add(hub.ann.id)
        hub.sim_a.user_posts(hub.ann.id, conversation.id, "me too")
        hub.advance(1)
        self.assertEqual(hub.delivered("message"), [])
        self.assertEqual(
            conversation.messages[-1].text,
            f"Only <@{hub.john.id}>'s messages in this conversation are sent to *peter@widget.test*.",
        )

    def test_archived_conversation_replaced(self) -> None:
        """A conversation archived in Slack is replaced by a new one for the next message."""
        hub = self.hub
        old = self.connect()
        old.is_archived = True
        outcome = hub.inject(text_message("still there?"))
        hub.advance(2)
        self.assertTrue(self.successResultOf(outcome).delivered)
        new = [c for c in hub.conversations(hub.sim_a, hub.john) if c is not old]
        [fresh] = new
        self.assertEqual(fresh.name, "ext-peter-widget-test-john-2")
        self.assertEqual([m.text for m in hub.posts(fresh)], ["still there?"])
        self.assertIn("This private conversation is with", fresh.messages[0].text)


class CommandTests(SynchronousTestCase):
    """
    C{/nextplane} answers are ephemeral and clear.
    """

    def setUp(self) -> None:
        self.hub = SlackHub()

    def command(self, text: str) -> str:
        return self.hub.command(self.hub.sim_a, self.hub.john, text)

    def test_answers(self) -> None:
        """Each command and mistake gets a clear answer."""
        hub = self.hub
        self.assertIn("no external contacts yet", self.command("list"))
        self.assertEqual(
            self.command("invite ann@acme.test"),
            "ann@acme.test is in your own organisation: message them in Slack directly.",
        )
        self.assertTrue(
            self.command("invite someone@nowhere.test").startswith(
                "Could not invite someone@nowhere.test: "
            )
        )
        self.successResultOf(
            hub.store.put_domain_policy(DomainPolicy("acme.test", "spam.test", DomainAction.BLOCK))
        )
        self.assertEqual(
            self.command("invite x@spam.test"),
            "Could not invite x@spam.test: blocked: spam.test is on acme.test's block list (rule spam.test)",
        )
        self.assertEqual(
            self.command("remove peter@widget.test"),
            "peter@widget.test is not among your contacts.",
        )
        self.assertTrue(self.command("invite peter@widget.test").startswith("Invitation sent"))
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        channel = hub.conversation(hub.sim_a, hub.john).id
        self.assertEqual(
            self.command("invite peter@widget.test"),
            f"peter@widget.test is already your contact: chat with them in <#{channel}>.",
        )
        self.assertIn(
            "Blocking a whole domain is up to your administrators",
            self.command("block widget.test"),
        )
        self.assertTrue(self.command("help").startswith("*/nextplane invite*"))
        self.assertTrue(self.command("frobnicate").startswith("Sorry, unknown command"))
        self.assertEqual(self.command("remove peter@widget.test"), "Removed peter@widget.test.")
        self.assertEqual(len(hub.delivered("contact_remove")), 1)
        hub.advance(2)
        self.assertIn(
            "You removed *peter@widget.test*",
            hub.conversation(hub.sim_a, hub.john).messages[-1].text,
        )

    def test_block_and_unblock(self) -> None:
        """Blocking stops a contact's requests; inviting again unblocks."""
        hub = self.hub
        self.assertTrue(
            self.command("block peter@widget.test").startswith("Blocked peter@widget.test")
        )
        self.assertEqual(
            self.command("block peter@widget.test"), "peter@widget.test is already blocked."
        )
        outcome = self.successResultOf(hub.inject(ContactRequest(sender=PETER, recipient=JOHN)))
        self.assertEqual(outcome.reason, "blocked: peter@widget.test is blocked by john@acme.test")
        self.assertEqual(hub.dm(hub.sim_a, hub.john).messages, [])
        self.assertTrue(
            self.command("invite peter@widget.test").startswith(
                "You unblocked peter@widget.test. Invitation sent"
            )
        )

    def test_mutual_requests(self) -> None:
        """An invite answering the contact's own request connects at once."""
        hub = self.hub
        self.successResultOf(hub.inject(ContactRequest(sender=PETER, recipient=JOHN)))
        hub.advance(1)
        answer = self.command("invite peter@widget.test")
        channel = hub.conversation(hub.sim_a, hub.john).id
        self.assertEqual(
            answer, f"You and peter@widget.test are now connected: chat in <#{channel}>."
        )

    def test_request_answering_invite(self) -> None:
        """
        A contact's request answering the user's invitation connects them:
        no request card, the conversation says they accepted.
        """
        hub = self.hub
        self.command("invite peter@widget.test")
        self.successResultOf(hub.inject(ContactRequest(sender=PETER, recipient=JOHN)))
        hub.advance(1)
        conversation = hub.conversation(hub.sim_a, hub.john)
        self.assertIn("accepted your invitation", conversation.messages[-1].text)
        contact = self.successResultOf(hub.store.get_contact(JOHN, PETER))
        self.assertEqual(contact.state, ContactState.ACCEPTED)
        cards = [m for m in hub.dm(hub.sim_a, hub.john).messages if "wants to chat" in m.text]
        self.assertEqual(cards, [])

    def test_direct_message_commands(self) -> None:
        """Commands typed in the app's DM are answered there; other words get help."""
        hub = self.hub
        dm = hub.dm(hub.sim_a, hub.john)
        dm.members.add(hub.sim_a.workspace.bot_user_id)
        hub.sim_a.user_posts(hub.john.id, dm.id, "hello")
        hub.advance(1)
        self.assertTrue(dm.messages[-1].text.startswith("Sorry, unknown command 'hello'."))
        hub.sim_a.user_posts(hub.john.id, dm.id, "invite peter@widget.test")
        hub.advance(1)
        self.assertTrue(dm.messages[-1].text.startswith("Invitation sent to peter@widget.test"))
        self.assertEqual(len(hub.delivered("contact_request")), 1)


class SlackToSlackTests(SynchronousTestCase):
    """
    A Slack user of acme.test and one of beta.test, in two workspaces of one
    app, through the hub.
    """

    def test_end_to_end(self) -> None:
        """Invite by command, accept by button, chat both ways, edit, react and delete."""
        hub = SlackHub()
        a, b = hub.sim_a, hub.sim_b
        john, mary = hub.john, hub.mary
        # Ids repeat across the two simulated workspaces.
        self.assertEqual(john.id, mary.id)
        self.assertEqual(
            hub.command(a, john, "invite mary@beta.test"),
            "Invitation sent to mary@beta.test. You will get a private conversation with them "
            "once they accept.",
        )
        card = hub.dm(b, mary).messages[-1]
        self.assertEqual(card.text, "john@acme.test wants to chat with you")
        hub.click(b, mary, card, ACCEPT_ACTION)
        in_a = hub.conversation(a, john)
        in_b = hub.conversation(b, mary)
        self.assertEqual(
            (in_a.name, in_b.name), ("ext-mary-beta-test-john", "ext-john-acme-test-mary")
        )
        self.assertIn("accepted your invitation", in_a.messages[-1].text)
        self.assertIn(f"<#{in_b.id}>", card.text)

        first = a.user_posts(john.id, in_a.id, "hi *mary*")
        hub.advance(2)
        [copy_in_b] = hub.posts(in_b)
        self.assertEqual(
            (copy_in_b.username, copy_in_b.text), ("john (john@acme.test)", "hi *mary*")
        )
        self.assertEqual(copy_in_b.icon_url, "https://avatars.slack.test/72.png")
        answer = b.user_posts(mary.id, in_b.id, "hello john")
        hub.advance(2)
        [copy_in_a] = hub.posts(in_a)
        self.assertEqual(
            (copy_in_a.username, copy_in_a.text), ("mary (mary@beta.test)", "hello john")
        )

        a.user_edits(john.id, in_a.id, first.ts, "hi *Mary*")
        b.user_edits(mary.id, in_b.id, answer.ts, "hello John")
        b.user_reacts(mary.id, in_b.id, copy_in_b.ts, "tada")
        a.user_reacts(john.id, in_a.id, copy_in_a.ts, "+1::skin-tone-3")
        hub.advance(3)
        self.assertEqual((copy_in_b.text, copy_in_a.text), ("hi *Mary*", "hello John"))
        self.assertEqual(first.reactions, {"tada": [a.workspace.bot_user_id]})
        self.assertEqual(answer.reactions, {"+1::skin-tone-3": [b.workspace.bot_user_id]})

        a.user_deletes(john.id, in_a.id, first.ts)
        b.user_deletes(mary.id, in_b.id, answer.ts)
        hub.advance(3)
        self.assertEqual((hub.posts(in_a), hub.posts(in_b)), ([], []))
        self.assertEqual((a.violations, b.violations), ([], []))
        self.assertEqual((a.rate_limited, b.rate_limited), ([], []))
        self.assertEqual(hub.xmpp.delivered, [])
        session = self.successResultOf(
            hub.store.get_or_create_session(JOHN, MARY, hub.router._now())
        )
        self.assertEqual(session.refs, {f"slack:{TEAM_A}": in_a.id, f"slack:{TEAM_B}": in_b.id})


class WebhookSecurityTests(SynchronousTestCase):
    """
    Forged, stale and replayed requests change nothing; retries count once;
    the app's own posts never come back.
    """

    def setUp(self) -> None:
        self.hub = SlackHub()
        hub = self.hub
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        self.conversation = hub.conversation(hub.sim_a, hub.john)
        self.sender = hub.sim_a.events
        assert self.sender is not None

    def body(self, text: str = "forged") -> bytes:
        event = {
            "type": "message",
            "user": self.hub.john.id,
            "text": text,
            "ts": "1700000100.000001",
            "event_ts": "1700000100.000001",
            "channel": self.conversation.id,
            "channel_type": "group",
        }
        return json.dumps(self.sender.envelope(event), separators=(",", ":")).encode()  # type: ignore[union-attr]

    def post(self, body: bytes, headers: dict[str, str], path: str = "/slack/events") -> int:
        response = self.successResultOf(
            self.hub.hub_http.post(HUB + path, data=body, headers=headers)
        )
        return response.code  # type: ignore[no-any-return]

    def test_refused(self) -> None:
        """Unsigned, forged, stale and replayed requests get 401 and route nothing."""
        hub = self.hub
        body = self.body()
        now = str(int(hub.clock.seconds()))
        stale = str(int(hub.clock.seconds()) - 301)
        json_type = {"Content-Type": "application/json"}
        for headers in (
            json_type,
            {
                **json_type,
                "X-Slack-Request-Timestamp": now,
                "X-Slack-Signature": sign("wrong-secret", now, body),
            },
            {
                **json_type,
                "X-Slack-Request-Timestamp": stale,
                "X-Slack-Signature": sign(SECRET, stale, body),
            },
        ):
            self.assertEqual(self.post(body, headers), 401)
        command = (
            b"command=%2Fnextplane&text=invite+x%40widget.test&team_id="
            + TEAM_A.encode()
            + b"&user_id="
            + hub.john.id.encode()
        )
        form = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": sign(SECRET, now, command),
        }
        self.assertEqual(self.post(command, form, "/slack/commands"), 200)
        self.assertEqual(self.post(command, form, "/slack/commands"), 401)  # replayed
        hub.advance(2)
        self.assertEqual(hub.delivered("message"), [])
        self.assertEqual(len(hub.delivered("contact_request")), 2)  # peter's, and x's once
        log = self.successResultOf(hub.store.query_metadata(MetadataQuery(kind="message")))
        self.assertEqual(log, [])

    def test_retries_once(self) -> None:
        """A retried delivery of one event (X-Slack-Retry-Num) is routed once."""
        hub = self.hub
        body = self.body("once")
        headers = self.sender.signed_headers(body, "application/json")  # type: ignore[union-attr]
        self.assertEqual(self.post(body, headers), 200)
        hub.clock.advance(1)
        retry = {
            **self.sender.signed_headers(body, "application/json"),
            "X-Slack-Retry-Num": "1",
            "X-Slack-Retry-Reason": "http_timeout",
        }  # type: ignore[union-attr]
        self.assertEqual(self.post(body, retry), 200)
        hub.advance(1)
        self.assertEqual(len(hub.delivered("message")), 1)

    def test_own_posts_ignored(self) -> None:
        """The app's posts (as the contact, or notices) come back from Slack and are dropped."""
        hub = self.hub
        self.successResultOf(hub.inject(text_message("from peter")))
        hub.advance(1)
        echoes = [d for d in self.sender.deliveries if d.envelope["event"].get("bot_id")]  # type: ignore[union-attr]
        self.assertGreaterEqual(len(echoes), 2)
        self.assertEqual(hub.delivered("message"), [])


class BurstTests(SynchronousTestCase):
    """
    Slack's real limits: one post per second per channel.
    """

    def test_burst_of_200(self) -> None:
        """200 messages from a contact all arrive, in order, one per second, none refused."""
        hub = SlackHub()
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        conversation = hub.conversation(hub.sim_a, hub.john)
        start = hub.clock.seconds()
        outcomes = [hub.xmpp.inject(text_message(f"message {n}")) for n in range(200)]
        hub.pump()
        self.assertNoResult(outcomes[1])  # waits for its turn...
        hub.advance(hub.slack.delivery.ack_after)
        # Answered by then: posted, or queued for long enough (never
        # called delivered before Slack took it).
        answered = [self.successResultOf(o) for o in outcomes]
        self.assertEqual(
            [a.decision.value for a in answered],
            ["delivered"] * 10 + ["queued"] * 190,
        )
        hub.advance(200)
        self.assertTrue(all(self.successResultOf(a.settled).delivered for a in answered[10:]))
        posts = hub.posts(conversation)
        self.assertEqual([p.text for p in posts], [f"message {n}" for n in range(200)])
        times = [c.time for c in hub.sim_a.successful("chat.postMessage") if c.args.get("username")]
        self.assertEqual(len(times), 200)
        self.assertEqual(times[0], start)
        self.assertEqual({round(b - a, 6) for a, b in itertools.pairwise(times)}, {1.0})
        self.assertEqual(hub.sim_a.rate_limited, [])
        self.assertEqual(hub.slack.health()["queued"], 0)
        self.assertEqual(hub.delivered("delivery_error"), [])

    def test_late_failure_reported(self) -> None:
        """A queued message that fails after it was acknowledged is reported to its sender."""
        hub = SlackHub()
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        messages = [text_message(f"m{n}") for n in range(20)]
        outcomes = [hub.xmpp.inject(m) for m in messages]
        hub.advance(12)
        decisions = {self.successResultOf(o).decision.value for o in outcomes}
        self.assertEqual(decisions, {"delivered", "queued"})
        hub.sim_a.workspace.tokens[TOKEN_A].revoked = True
        hub.advance(20)
        errors = hub.delivered("delivery_error")
        self.assertGreater(len(errors), 0)
        posted = len(hub.posts(hub.conversation(hub.sim_a, hub.john)))
        self.assertEqual(posted + len(errors), 20)
        self.assertEqual(
            [e.original_event_id for e in errors],  # type: ignore[union-attr]
            [m.event_id for m in messages[posted:]],
        )
        self.assertEqual(errors[0].condition, "not-authorized")  # type: ignore[union-attr]

    def test_capacity_mode(self) -> None:
        """Without limits the connector still keeps the per-channel pace of Slack."""
        hub = SlackHub(mode=CAPACITY)
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        for n in range(5):
            hub.xmpp.inject(text_message(f"m{n}"))
        hub.advance(5)
        self.assertEqual(len(hub.posts(hub.conversation(hub.sim_a, hub.john))), 5)


class PrivacyTests(SynchronousTestCase):
    """
    Message content and tokens never reach the logs or the store.
    """

    def test_marker_nowhere(self) -> None:
        """A marker in messages, edits, file names and reactions' messages appears in no log line or table."""
        marker = f"MARKER-{secrets.token_hex(8)}"
        text, json_lines = io.StringIO(), io.StringIO()
        for out, fmt in ((text, "text"), (json_lines, "json")):
            observer = make_observer(fmt, out, level=LogLevel.debug)
            globalLogPublisher.addObserver(observer)
            self.addCleanup(globalLogPublisher.removeObserver, observer)
        hub = SlackHub()
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        conversation = hub.conversation(hub.sim_a, hub.john)
        incoming = text_message(f"in {marker}")
        self.successResultOf(hub.inject(incoming))
        hub.advance(1)
        mine = hub.sim_a.user_posts(hub.john.id, conversation.id, f"out {marker}")
        hub.advance(1)
        hub.sim_a.user_edits(hub.john.id, conversation.id, mine.ts, f"edited {marker}")
        hub.sim_a.user_shares_file(hub.john.id, conversation.id, f"{marker}.txt", marker.encode())
        self.successResultOf(
            hub.inject(
                MessageEdit(
                    sender=PETER,
                    recipient=JOHN,
                    message_id=incoming.message_id,
                    body=RichText.plain(marker),
                )
            )
        )
        self.successResultOf(
            hub.store.put_domain_policy(
                DomainPolicy("acme.test", "widget.test", DomainAction.BLOCK)
            )
        )
        hub.sim_a.user_posts(hub.john.id, conversation.id, f"refused {marker}")
        hub.advance(3)
        self.assertEqual(len(hub.delivered("message")), 1)
        self.assertTrue(any(marker in m.text for m in hub.posts(conversation)))
        logs = text.getvalue() + json_lines.getvalue()
        self.assertIn("Slack workspace", logs)  # the capture works
        for secret in (marker, TOKEN_A, TOKEN_B, SECRET):
            self.assertNotIn(secret, logs)
        tables = json.dumps(self.successResultOf(hub.store.dump_tables()), default=str)
        self.assertNotIn(marker, tables)


OAUTH = {"client_id": "1111.2222", "client_secret": "sim-client-secret"}


def _scopes() -> list[str]:
    from nextplane.connectors.slack.connector import SCOPES

    return list(SCOPES)


class _Logged(SynchronousTestCase):
    """
    Captures every log line, as text in C{self.logged} and as JSON.
    """

    def setUp(self) -> None:
        self.logged, self.logged_json = io.StringIO(), io.StringIO()
        for fmt, out in (("text", self.logged), ("json", self.logged_json)):
            observer = make_observer(fmt, out, level=LogLevel.debug)
            globalLogPublisher.addObserver(observer)
            self.addCleanup(globalLogPublisher.removeObserver, observer)

    def assert_unlogged(self, *secrets: str) -> None:
        """No log line, text or JSON, holds any of C{secrets}."""
        for secret in secrets:
            self.assertNotIn(secret, self.logged.getvalue())
            self.assertNotIn(secret, self.logged_json.getvalue())

    def dumped(self, hub: SlackHub) -> str:
        """The store's dump, as text."""
        return json.dumps(self.successResultOf(hub.store.dump_tables()), default=str)

    def install(self, hub: SlackHub, sim: Any = None) -> tuple[int, bytes, str]:
        """
        Install the app in C{sim}'s workspace (beta's by default) through
        C{/slack/install} and the OAuth callback.

        @return: The callback page's status and body, and the new token.
        """
        sim = sim if sim is not None else hub.sim_b
        state = self.install_state(hub)
        before = dict(sim.workspace.tokens)
        code = sim.issue_oauth_code(set(_scopes()))
        d = hub.hub_http.get(f"{HUB}/slack/oauth/callback?code={code}&state={state}")
        hub.settle(d)
        response = self.successResultOf(d)
        body = self.successResultOf(response.content())
        [token] = [t for t, v in sim.workspace.tokens.items() if before.get(t) is not v]
        return response.code, body, token

    def install_state(self, hub: SlackHub) -> str:
        """Follow C{/slack/install}; the OAuth state it carries."""
        status, headers, _ = self.get(hub, "/slack/install")
        self.assertEqual(status, 302)
        location = headers.getRawHeaders(b"location")[0].decode()
        self.assertTrue(location.startswith("https://slack.com/oauth/v2/authorize?"))
        query = parse_qs(urlsplit(location).query)
        self.assertEqual(query["client_id"], ["1111.2222"])
        self.assertEqual(query["redirect_uri"], [f"{HUB}/slack/oauth/callback"])
        self.assertIn("chat:write.customize", query["scope"][0])
        return query["state"][0]

    def get(self, hub: SlackHub, path: str) -> tuple[int, Any, bytes]:
        response = self.successResultOf(hub.hub_http.get(HUB + path, allow_redirects=False))
        return response.code, response.headers, self.successResultOf(response.content())

    def assert_serves_beta(self, hub: SlackHub) -> None:
        """acme's john can reach beta's mary: beta's workspace is served."""
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")
        self.assertTrue(
            hub.command(hub.sim_a, hub.john, "invite mary@beta.test").startswith("Invitation sent")
        )
        self.assertEqual(
            hub.dm(hub.sim_b, hub.mary).messages[-1].text, "john@acme.test wants to chat with you"
        )


class OAuthTests(_Logged):
    """
    Installing the app with OAuth v2 stores the installation.
    """

    def setUp(self) -> None:
        super().setUp()
        self.hub = SlackHub(tokens={TEAM_A: TOKEN_A}, extra=OAUTH)

    def test_install(self) -> None:
        """
        The code becomes beta.test's bot token: stored with the bot's ids
        and scopes, and beta.test is served at once; no token is logged,
        shown or dumped.
        """
        hub = self.hub
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "not installed")
        status, body, token = self.install(hub)
        self.assertEqual(status, 200)
        self.assertIn(b"serves beta.test", body)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")
        stored = SlackInstallation.from_stored(
            self.successResultOf(hub.store.get_installation("slack", TEAM_B))
        )
        self.assertEqual(
            stored,
            SlackInstallation(
                TEAM_B,
                token,
                bot_user_id=f"U{TEAM_B}",
                bot_id=f"B{TEAM_B}",
                scopes=tuple(sorted(_scopes())),
                installed_at=stored.installed_at,
            ),
        )
        self.assertTrue(T0 <= stored.installed_at.timestamp() <= hub.clock.seconds())
        self.assertNotIn(token.encode(), body)
        self.assert_unlogged(token)
        self.assertNotIn(token, self.dumped(hub))
        self.assertNotIn(token, repr(stored))
        self.assertIn("TBETA0001 for beta.test; installation stored", self.logged.getvalue())
        self.assertNotIn("bot_token", self.logged.getvalue())
        self.assert_serves_beta(hub)

    def test_state_used_once(self) -> None:
        """An OAuth state works for one callback only."""
        hub = self.hub
        state = self.install_state(hub)
        code = hub.sim_b.issue_oauth_code(set(_scopes()))
        d = hub.hub_http.get(f"{HUB}/slack/oauth/callback?code={code}&state={state}")
        hub.settle(d)
        self.assertEqual(self.successResultOf(d).code, 200)
        status, _, _ = self.get(hub, f"/slack/oauth/callback?code=other&state={state}")
        self.assertEqual(status, 400)

    def test_reinstall_replaces(self) -> None:
        """Installing again stores the new token in place of the old one."""
        hub = self.hub
        _, _, first = self.install(hub)
        _, _, second = self.install(hub)
        self.assertNotEqual(first, second)
        [stored] = self.successResultOf(hub.store.list_installations())
        self.assertEqual((stored.workspace, stored.credentials), (TEAM_B, second))
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")

    def test_install_over_configured_token(self) -> None:
        """
        Installing in a workspace with a configured token serves it with
        the new token now, stores it, and says the configured one wins
        after a restart.
        """
        hub = self.hub
        status, _, token = self.install(hub, hub.sim_a)
        self.assertEqual(status, 200)
        self.assertEqual(
            self.successResultOf(hub.store.get_installation("slack", TEAM_A)).credentials, token
        )
        self.assertIn(
            "Slack workspace TACME0001 also has a configured bot_token", self.logged.getvalue()
        )
        self.assert_unlogged(token, TOKEN_A)

    def test_storing_fails(self) -> None:
        """
        When the store refuses the installation the workspace is still
        served until a restart, the page says so, and the error's text
        (which might echo the token) is not logged.
        """

        class Refusing(MemoryStore):
            def put_installation(self, installation: PlatformInstallation) -> Any:
                from twisted.internet.defer import fail

                return fail(RuntimeError(f"cannot store {installation.credentials}"))

        hub = SlackHub(tokens={TEAM_A: TOKEN_A}, extra=OAUTH, store=Refusing())
        status, body, token = self.install(hub)
        self.assertEqual(status, 500)
        self.assertIn(b"could not save the installation", body)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")
        self.assertIn("storing the installation failed (RuntimeError)", self.logged.getvalue())
        self.assert_unlogged(token)
        self.assertNotIn(token.encode(), body)

    def test_refusals(self) -> None:
        """
        A forged state, a cancelled install and a workspace that is no
        tenant are refused, and nothing is stored.
        """
        hub = self.hub
        self.assertEqual(self.get(hub, "/slack/oauth/callback?code=x&state=1.2.3")[0], 400)
        _, _, body = self.get(hub, "/slack/oauth/callback?error=access_denied&state=x")
        self.assertIn(b"cancelled", body)
        hub.sim_b.workspace.team_id = "TOTHER001"
        status, _, token = self.install(hub)
        self.assertEqual(status, 403)
        self.assertEqual(self.successResultOf(hub.store.list_installations()), [])
        self.assert_unlogged(token)

    def test_no_oauth_configured(self) -> None:
        """Without client credentials the install routes do not exist."""
        hub = SlackHub()
        response = self.successResultOf(hub.hub_http.get(HUB + "/slack/install"))
        self.assertEqual(response.code, 404)


class StoredInstallationTests(_Logged):
    """
    Stored installations outlive the connector, and uninstalling removes
    them.
    """

    def restarted(self, old: SlackHub, tokens: Any = None, **extra_tokens: str) -> SlackHub:
        """
        A new connector (and simulated Slack that still honours the tokens
        it issued) on C{old}'s store, configured with C{tokens} (acme's
        only by default).
        """
        self.successResultOf(old.slack.stopService())
        hub = SlackHub(
            tokens=tokens if tokens is not None else {TEAM_A: TOKEN_A},
            extra=OAUTH,
            store=old.store,
            start=False,
        )
        for sim, was in ((hub.sim_a, old.sim_a), (hub.sim_b, old.sim_b)):
            for token in was.workspace.tokens.values():
                if token.token not in sim.workspace.tokens:
                    added = sim.workspace.add_token(token.token, token.scopes)
                    added.revoked = token.revoked
        self.successResultOf(hub.start())
        return hub

    def installed(self) -> tuple[SlackHub, str]:
        hub = SlackHub(tokens={TEAM_A: TOKEN_A}, extra=OAUTH)
        status, _, token = self.install(hub)
        self.assertEqual(status, 200)
        return hub, token

    def test_served_after_restart(self) -> None:
        """
        A fresh connector on the same store serves the installed workspace
        without a configured token.
        """
        old, token = self.installed()
        hub = self.restarted(old)
        self.successResultOf(hub.slack.ready)
        self.assertEqual(hub.slack.workspace(TEAM_B).installed_by, "oauth")  # type: ignore[union-attr]
        self.assertIn(
            "Slack workspace TBETA0001 (beta.test) uses its stored OAuth installation",
            self.logged.getvalue(),
        )
        self.assertEqual(
            [c.method for c in hub.sim_b.calls], ["auth.test"], "beta authenticated at start"
        )
        self.assert_serves_beta(hub)
        self.assert_unlogged(token)
        self.assertNotIn(token, self.dumped(hub))

    def test_configured_token_wins(self) -> None:
        """
        With both a configured token and a stored installation, the
        configured token is used (logged, naming the team, not the token)
        and the installation is kept.
        """
        old, token = self.installed()
        hub = self.restarted(old, tokens={TEAM_A: TOKEN_A, TEAM_B: TOKEN_B})
        ws = hub.slack.workspace(TEAM_B)
        assert ws is not None
        self.assertEqual(ws.installed_by, "config")
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")
        self.assertIn(
            "Slack workspace TBETA0001 (beta.test) has a configured bot_token and a stored "
            "OAuth installation; the configured token is used",
            self.logged.getvalue(),
        )
        self.assertIsNotNone(self.successResultOf(hub.store.get_installation("slack", TEAM_B)))
        self.assert_unlogged(token, TOKEN_B)

    def test_configured_token_wins_over_stale_install(self) -> None:
        """
        The configured token is used even when the stored one no longer
        works: the stored one is never tried.
        """
        store = MemoryStore()
        stale = SlackInstallation(TEAM_B, "xoxb-stale-0000", "U1", "B1", ("chat:write",), _t0())
        self.successResultOf(store.put_installation(stale.stored()))
        hub = SlackHub(store=store)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")

    def test_uninstall_removes(self) -> None:
        """
        C{app_uninstalled} (with C{tokens_revoked}) stops serving the
        workspace and deletes its stored installation, so a restart does
        not serve it either.
        """
        hub, token = self.installed()
        hub.sim_b.uninstall_app()
        hub.advance(2)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "uninstalled")
        self.assertIsNone(self.successResultOf(hub.store.get_installation("slack", TEAM_B)))
        failure = self.failureResultOf(
            hub.slack.deliver(text_message("hi", recipient=MARY)), DeliveryFailed
        )
        self.assertIn("not installed in beta.test's workspace", failure.value.reason)
        logged = self.logged.getvalue()
        self.assertIn("the Slack app was uninstalled from TBETA0001 (tokens_revoked)", logged)
        self.assertIn("its stored installation was deleted", logged)
        self.assertEqual(logged.count("the Slack app was uninstalled from"), 1)
        self.assert_unlogged(token)
        again = self.restarted(hub)
        self.assertEqual(again.slack.health()["workspaces"][TEAM_B]["state"], "not installed")
        # Installing again serves it again.
        status, _, _ = self.install(again)
        self.assertEqual(status, 200)
        self.assert_serves_beta(again)

    def test_tokens_revoked_removes(self) -> None:
        """Revoking the bot token alone also deletes the installation."""
        hub, _ = self.installed()
        hub.sim_b.revoke_bot_tokens()
        hub.advance(2)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "uninstalled")
        self.assertEqual(self.successResultOf(hub.store.list_installations()), [])

    def test_user_tokens_revoked_ignored(self) -> None:
        """A C{tokens_revoked} naming only user tokens leaves the bot installed."""
        hub, _ = self.installed()
        hub.sim_b.events.send_event(  # type: ignore[union-attr]
            {
                "type": "tokens_revoked",
                "tokens": {"oauth": ["U0SOMEONE"], "bot": []},
                "event_ts": "1700000000.000100",
            }
        )
        hub.advance(2)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "ok")
        self.assertEqual(len(self.successResultOf(hub.store.list_installations())), 1)

    def test_uninstalled_while_down(self) -> None:
        """
        A stored token Slack says was revoked (the uninstall event was
        missed) is deleted at start.
        """
        old, token = self.installed()
        old.sim_b.workspace.tokens[token].revoked = True
        hub = self.restarted(old)
        self.assertEqual(hub.slack.health()["workspaces"][TEAM_B]["state"], "uninstalled")
        self.assertEqual(self.successResultOf(hub.store.list_installations()), [])
        self.assertIn("its stored installation was deleted", self.logged.getvalue())
        self.assert_unlogged(token)

    def test_installation_of_unknown_workspace(self) -> None:
        """An installation for a workspace no tenant uses is not served, and kept."""
        store = MemoryStore()
        other = SlackInstallation("TOTHER001", "xoxb-other-0000", "U1", "B1", (), _t0())
        self.successResultOf(store.put_installation(other.stored()))
        hub = SlackHub(store=store)
        self.assertIsNone(hub.slack.workspace("TOTHER001"))
        self.assertIn(
            "the Slack app is installed in workspace TOTHER001, which no tenant uses",
            self.logged.getvalue(),
        )
        self.assertEqual(self.successResultOf(store.list_installations()), [other.stored()])
        self.assert_unlogged("xoxb-other-0000")

    def test_start_fails_without_store(self) -> None:
        """
        If the installations cannot be read, starting fails (the hub
        stops) instead of silently not serving installed workspaces.
        """

        class Broken(MemoryStore):
            def list_installations(self, platform: str | None = None) -> Any:
                from twisted.internet.defer import fail

                return fail(RuntimeError("database gone"))

        hub = SlackHub(store=Broken(), start=False)
        self.failureResultOf(hub.start(), RuntimeError)
        self.successResultOf(hub.slack.ready)


def _t0() -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(T0, UTC)


class DeliveryTests(SynchronousTestCase):
    """
    Odds and ends of delivery: slow commands, unknown users, stopping and
    revocation while deliveries wait.
    """

    def connected(self) -> SlackHub:
        hub = SlackHub()
        hub.command(hub.sim_a, hub.john, "invite peter@widget.test")
        self.successResultOf(hub.inject(ContactAccept(sender=PETER, recipient=JOHN)))
        hub.advance(2)
        return hub

    def test_slow_command(self) -> None:
        """An invite slower than Slack's three seconds gets its answer in the app's DM."""
        hub = SlackHub()
        hub.xmpp.hold = True
        self.assertEqual(
            hub.command(hub.sim_a, hub.john, "invite peter@widget.test"), "Working on it…"
        )
        hub.xmpp.release()
        hub.advance(1)
        self.assertTrue(
            hub.dm(hub.sim_a, hub.john)
            .messages[-1]
            .text.startswith("Invitation sent to peter@widget.test")
        )

    def test_stop_reports_queued(self) -> None:
        """Stopping fails the deliveries still queued; their senders are told."""
        hub = self.connected()
        for n in range(15):
            hub.xmpp.inject(text_message(f"m{n}"))
        hub.advance(11)
        self.successResultOf(hub.settle(hub.slack.stopService()))
        # The post under way finished; the others never started.
        posted = len(hub.posts(hub.conversation(hub.sim_a, hub.john)))
        errors = hub.delivered("delivery_error")
        self.assertEqual(len(errors) + posted, 15)
        self.assertEqual(
            {(e.condition, e.reason) for e in errors},  # type: ignore[union-attr]
            {("service-unavailable", "the hub stopped before Slack took it")},
        )

    def test_revocation_drops_queued(self) -> None:
        """An admin revocation drops the queued deliveries it covers."""
        from nextplane.admin.api import Revocation

        hub = self.connected()
        for n in range(15):
            hub.xmpp.inject(text_message(f"m{n}"))
        hub.advance(11)
        posted = len(hub.posts(hub.conversation(hub.sim_a, hub.john)))
        [listener] = hub.revocation_listeners
        listener(Revocation("contact", user=JOHN, external=PETER, tenants=("acme.test",)))
        hub.advance(10)
        self.assertEqual(len(hub.posts(hub.conversation(hub.sim_a, hub.john))), posted)
        errors = hub.delivered("delivery_error")
        self.assertEqual(len(errors) + posted, 15)
        self.assertEqual(errors[0].condition, "forbidden")  # type: ignore[union-attr]

    def test_delivery_error_for_inline_answers_not_repeated(self) -> None:
        """A refused invite is answered once, in the command's reply, not again as a notice."""
        hub = SlackHub()
        hub.command(hub.sim_a, hub.john, "invite someone@nowhere.test")
        hub.advance(2)
        self.assertEqual(hub.dm(hub.sim_a, hub.john).messages, [])

    def test_unknown_recipient(self) -> None:
        """A message to a Slack tenant's address nobody has fails with item-not-found."""
        hub = SlackHub()
        outcome = self.successResultOf(
            hub.inject(ContactRequest(sender=PETER, recipient=addr("nobody@acme.test")))
        )
        self.assertEqual(
            (outcome.condition, outcome.reason),
            ("item-not-found", "nobody@acme.test is not a Slack user of acme.test"),
        )
        self.assertIsInstance(outcome.event, ContactRequest)
        self.assertEqual(hub.delivered("delivery_error"), [])
