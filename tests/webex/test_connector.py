"""
The Webex connector end to end in memory: the simulated Webex, the hub's
router and a recording XMPP side.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.events import (
    ContactAccept,
    ContactRequest,
    FileShare,
    MessageEdit,
    MessageRetract,
    ReactionAdd,
    TextMessage,
)
from nextplane.model.text import RichText, Text

from .hub import SECRET, WebexHub, addr

PETER = addr("peter@widget.test")
JOHN = addr("john@acme.test")


def text(body: str) -> RichText:
    return RichText([Text(body)])


class StartTests(SynchronousTestCase):
    def test_webhooks_kept_at_start(self) -> None:
        """
        At start the hub learns its own id and creates its six webhooks,
        signed and pointing at /webex/events.
        """
        hub = WebexHub()
        self.assertEqual(hub.webex.inbound.me, hub.bot.id)
        hooks = list(hub.sim.state.webhooks.values())
        self.assertEqual(len(hooks), 6)
        self.assertEqual({h.target_url for h in hooks}, {"https://hub.test/webex/events"})
        self.assertEqual({h.secret for h in hooks}, {SECRET})
        self.assertEqual(hub.sim.violations, [])

    def test_public_url_changed(self) -> None:
        """
        A new public URL: the same six webhooks now point there.
        """
        hub = WebexHub()
        ids = set(hub.sim.state.webhooks)
        hub.settle(Deferred.fromCoroutine(hub.webex.public_url_changed("https://new.test")))
        self.assertEqual(set(hub.sim.state.webhooks), ids)
        self.assertEqual(
            {h.target_url for h in hub.sim.state.webhooks.values()},
            {"https://new.test/webex/events"},
        )
        self.assertEqual(len(hub.webex.keeper.updated), 6)  # type: ignore[union-attr]


class Connected(SynchronousTestCase):
    """
    john (Webex) and peter (XMPP) are contacts: john invited, peter accepted.
    """

    def setUp(self) -> None:
        self.hub = WebexHub()
        self.hub.says(self.hub.john, f"invite {PETER}")
        requests = self.hub.xmpp.of_kind(ContactRequest.kind)
        self.assertEqual([e.recipient for e in requests], [PETER])
        self.hub.xmpp.inject(ContactAccept(sender=PETER, recipient=JOHN))
        self.hub.advance(1)

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.violations, [])

    def test_message_out(self) -> None:
        """
        john's plain message goes to peter, his only contact.
        """
        self.hub.says(self.hub.john, "hello **peter**")
        sent = self.hub.xmpp.of_kind(TextMessage.kind)
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0].recipient, PETER)
        self.assertEqual(sent[0].body.plain_text(), "hello peter")

    def test_message_in_threaded(self) -> None:
        """
        peter's messages arrive after his name in bold, in his thread (started
        by the acceptance line); john's reply in it reaches peter.
        """
        self.hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=text("one")))
        self.hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=text("two")))
        self.hub.advance(1)
        mine = [m for m in self.hub.posts(self.hub.john) if m.person_id == self.hub.bot.id]
        one, two = mine[-2:]
        self.assertIn("one", one.text or "")
        self.assertIn("**", one.markdown or "")
        self.assertIsNotNone(one.parent_id)
        self.assertEqual(two.parent_id, one.parent_id)
        self.hub.says(self.hub.john, "reply", parent=one.id)
        self.assertEqual(self.hub.xmpp.of_kind(TextMessage.kind)[-1].recipient, PETER)

    def test_edit_and_delete_in(self) -> None:
        """
        peter's edit is a PUT of the message, his retraction a DELETE.
        """
        message = TextMessage(sender=PETER, recipient=JOHN, body=text("tpyo"))
        self.hub.xmpp.inject(message)
        self.hub.advance(1)
        self.hub.xmpp.inject(
            MessageEdit(
                sender=PETER, recipient=JOHN, message_id=message.message_id, body=text("typo")
            )
        )
        self.hub.advance(1)
        texts = self.hub.bot_texts(self.hub.john)
        self.assertIn("typo", texts[-1])
        self.assertNotIn("tpyo", " ".join(texts))
        count = len(texts)
        self.hub.xmpp.inject(
            MessageRetract(sender=PETER, recipient=JOHN, message_id=message.message_id)
        )
        self.hub.advance(1)
        self.assertEqual(len(self.hub.bot_texts(self.hub.john)), count - 1)

    def test_delete_out(self) -> None:
        """
        john deleting his message retracts it at peter's.
        """
        posted = self.hub.says(self.hub.john, "oops")
        self.hub.sim.world.user_deletes(self.hub.john.id, posted.id)
        self.hub.advance(1)
        retracts = self.hub.xmpp.of_kind(MessageRetract.kind)
        self.assertEqual(len(retracts), 1)
        self.assertEqual(retracts[0].recipient, PETER)

    def test_file_out_as_link(self) -> None:
        """
        A file john shares reaches peter as a signed hub link, which
        streams the file with the bot token.
        """
        file_url = self.hub.sim.world.upload("notes.txt", b"file body", "text/plain")
        self.hub.sim.world.user_posts(
            self.hub.john.id, self.hub.direct(self.hub.john), text="see", files=[file_url]
        )
        self.hub.advance(1)
        shares = self.hub.xmpp.of_kind(FileShare.kind)
        self.assertEqual(len(shares), 1)
        link = shares[0].url
        self.assertTrue(link.startswith("https://hub.test/webex/files/acme.test/"))
        d = self.hub.hub_http.get(link)
        self.hub.pump()
        response = self.successResultOf(d)
        self.assertEqual(response.code, 200)
        d2 = response.content()
        self.hub.pump()
        self.assertEqual(self.successResultOf(d2), b"file body")

    def test_file_in(self) -> None:
        """
        A file peter shares arrives as a link line.
        """
        self.hub.xmpp.inject(
            FileShare(sender=PETER, recipient=JOHN, name="a.pdf", url="https://widget.test/a.pdf")
        )
        self.hub.advance(1)
        self.assertIn("https://widget.test/a.pdf", self.hub.posts(self.hub.john)[-1].markdown or "")

    def test_reaction_told(self) -> None:
        """
        Webex bots cannot react: a reaction is said in a line.
        """
        message = TextMessage(sender=PETER, recipient=JOHN, body=text("hi"))
        self.hub.xmpp.inject(message)
        self.hub.advance(1)
        self.hub.xmpp.inject(
            ReactionAdd(sender=PETER, recipient=JOHN, message_id=message.message_id, emoji="👍")
        )
        self.hub.advance(1)
        self.assertIn("cannot show reactions", self.hub.bot_texts(self.hub.john)[-1])

    def test_own_messages_dropped(self) -> None:
        """
        What the bot posts fires webhooks too; they are not routed back.
        """
        self.hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=text("hi")))
        self.hub.advance(1)
        self.assertEqual(self.hub.xmpp.of_kind(TextMessage.kind), [])

    def test_two_contacts_confirmed(self) -> None:
        """
        With two contacts active, a plain message goes to the last one
        heard from and the bot says so; ``chat`` picks another.
        """
        mary = addr("mary@widget.test")
        self.hub.says(self.hub.john, f"invite {mary}")
        self.hub.xmpp.inject(ContactAccept(sender=mary, recipient=JOHN))
        self.hub.advance(1)
        self.hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=text("p")))
        self.hub.xmpp.inject(TextMessage(sender=mary, recipient=JOHN, body=text("m")))
        self.hub.advance(1)
        self.hub.says(self.hub.john, "to mary")
        self.assertEqual(self.hub.xmpp.of_kind(TextMessage.kind)[-1].recipient, mary)
        self.assertIn(f"sent to {mary}", self.hub.bot_texts(self.hub.john)[-1])
        self.hub.says(self.hub.john, f"chat {PETER}")
        self.hub.says(self.hub.john, "to peter")
        self.assertEqual(self.hub.xmpp.of_kind(TextMessage.kind)[-1].recipient, PETER)

    def test_list_and_help(self) -> None:
        """
        ``list`` and ``help`` answer in the direct space.
        """
        self.hub.says(self.hub.john, "list")
        self.assertIn(str(PETER), self.hub.bot_texts(self.hub.john)[-1])
        self.hub.says(self.hub.john, "help")
        self.assertIn("invite", self.hub.bot_texts(self.hub.john)[-1])


class RequestTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = WebexHub()
        # john has written to the bot once, so the hub knows him.
        self.hub.says(self.hub.john, "help")

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.violations, [])

    def card(self) -> str:
        cards = [m for m in self.hub.posts(self.hub.john) if m.attachments]
        self.assertEqual(len(cards), 1)
        return cards[0].id

    def test_accept_by_card(self) -> None:
        """
        peter's request arrives as an Adaptive Card; Accept (an
        attachmentAction) accepts, and plain messages then go to peter.
        """
        self.hub.xmpp.inject(ContactRequest(sender=PETER, recipient=JOHN, display_name="Peter"))
        self.hub.advance(1)
        card = self.card()
        self.hub.sim.world.user_submits(
            self.hub.john.id, card, {"verb": "contact.accept", "request": str(PETER)}
        )
        self.hub.advance(1)
        self.assertEqual([e.recipient for e in self.hub.xmpp.of_kind(ContactAccept.kind)], [PETER])
        self.hub.says(self.hub.john, "hi peter")
        self.assertEqual(self.hub.xmpp.of_kind(TextMessage.kind)[-1].recipient, PETER)

    def test_decline_by_card(self) -> None:
        """
        Decline declines.
        """
        self.hub.xmpp.inject(ContactRequest(sender=PETER, recipient=JOHN))
        self.hub.advance(1)
        self.hub.sim.world.user_submits(
            self.hub.john.id, self.card(), {"verb": "contact.decline", "request": str(PETER)}
        )
        self.hub.advance(1)
        self.assertEqual(len(self.hub.xmpp.of_kind("contact_decline")), 1)

    def test_forged_card_answer_ignored(self) -> None:
        """
        A card answer with other inputs does nothing.
        """
        self.hub.xmpp.inject(ContactRequest(sender=PETER, recipient=JOHN))
        self.hub.advance(1)
        self.hub.sim.world.user_submits(self.hub.john.id, self.card(), {"verb": "other"})
        self.hub.advance(1)
        self.assertEqual(self.hub.xmpp.of_kind(ContactAccept.kind), [])


class TwoOrgTests(SynchronousTestCase):
    def test_webex_to_webex(self) -> None:
        """
        john (acme.test's Webex org) invites mary (beta.test's); she accepts
        by card; they chat, each in their own direct space with the bot.
        """
        hub = WebexHub()
        mary = addr("mary@beta.test")
        hub.says(hub.mary, "help")  # mary has met the bot
        hub.says(hub.john, f"invite {mary}")
        [card] = [m for m in hub.posts(hub.mary) if m.attachments]
        hub.sim.world.user_submits(
            hub.mary.id, card.id, {"verb": "contact.accept", "request": str(JOHN)}
        )
        hub.advance(1)
        self.assertIn("accepted", hub.bot_texts(hub.john)[-1])
        hub.says(hub.john, "hello mary")
        self.assertIn("hello mary", hub.bot_texts(hub.mary)[-1])
        self.assertIn("John Smith", hub.posts(hub.mary)[-1].markdown or "")
        hub.says(hub.mary, "hello john")
        self.assertIn("hello john", hub.bot_texts(hub.john)[-1])
        self.assertEqual(hub.sim.violations, [])


class MigrationTests(SynchronousTestCase):
    def test_room_migrated_followed(self) -> None:
        """
        Webex moves john's direct space to a new id: the bot posts there.
        """
        hub = WebexHub()
        hub.says(hub.john, f"invite {PETER}")
        hub.xmpp.inject(ContactAccept(sender=PETER, recipient=JOHN))
        hub.advance(1)
        old = hub.direct(hub.john)
        new = hub.sim.world.migrate_room(old).id
        hub.advance(1)
        self.assertEqual(hub.webex.spaces.room_of(hub.john.id), new)
        hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=text("after the move")))
        hub.advance(1)
        self.assertIn("after the move", hub.sim.state.room_messages(new)[-1].text or "")
        self.assertEqual(hub.sim.violations, [])
