"""
The Webex connector's message refs survive a restart: a new connector on
the same store (and the same Webex) still edits and deletes what the
previous one posted, threads a contact's messages where they were, routes
a reply in a thread to its contact, and passes on a user's deletion.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.events import (
    ContactAccept,
    MessageEdit,
    MessageRetract,
    TextMessage,
)
from nextplane.model.text import RichText, Text
from nextplane.testing.webex_sim import SimMessage

from .hub import WebexHub, addr

PETER = addr("peter@widget.test")
PAUL = addr("paul@widget.test")
JOHN = addr("john@acme.test")


def text(body: str) -> RichText:
    return RichText([Text(body)])


class RestartTests(SynchronousTestCase):
    """
    john (Webex) has two contacts, peter and paul; peter wrote once; then
    the hub restarts on the same store.
    """

    def setUp(self) -> None:
        hub = WebexHub()
        for contact in (PETER, PAUL):
            hub.says(hub.john, f"invite {contact}")
            hub.xmpp.inject(ContactAccept(sender=contact, recipient=JOHN))
            hub.advance(1)
        self.message = TextMessage(sender=PETER, recipient=JOHN, body=text("tpyo"))
        hub.xmpp.inject(self.message)
        hub.advance(1)
        self.shown = self.bot_posts(hub)[-1]
        self.successResultOf(hub.webex.stopService())
        self.first = hub
        self.hub = WebexHub(store=hub.store, sim=hub.sim, clock=hub.clock)
        self.calls = len(self.hub.sim.calls)

    def tearDown(self) -> None:
        self.assertEqual(self.hub.sim.violations, [])

    def bot_posts(self, hub: WebexHub) -> list[SimMessage]:
        return [m for m in hub.posts(hub.john) if m.person_id == hub.bot.id]

    def verbs(self) -> list[str]:
        return [c.verb for c in self.hub.sim.calls[self.calls :]]

    def test_edit_after_restart(self) -> None:
        """
        peter's edit is a PUT of the message the previous process posted,
        not a new message.
        """
        count = len(self.bot_posts(self.hub))
        self.hub.xmpp.inject(
            MessageEdit(
                sender=PETER, recipient=JOHN, message_id=self.message.message_id, body=text("typo")
            )
        )
        self.hub.advance(1)
        self.assertIn("PUT", self.verbs())
        self.assertEqual(len(self.bot_posts(self.hub)), count)
        edited = self.hub.sim.state.messages[self.shown.id]
        self.assertIn("typo", edited.text or "")
        self.assertIsNotNone(edited.updated)

    def test_delete_after_restart(self) -> None:
        """
        peter's retraction is a DELETE of the message the previous process
        posted.
        """
        self.hub.xmpp.inject(
            MessageRetract(sender=PETER, recipient=JOHN, message_id=self.message.message_id)
        )
        self.hub.advance(1)
        self.assertIn("DELETE", self.verbs())
        self.assertNotIn(self.shown.id, self.hub.sim.state.messages)

    def test_thread_kept_after_restart(self) -> None:
        """
        peter's next message goes into the thread he already had.
        """
        self.hub.xmpp.inject(TextMessage(sender=PETER, recipient=JOHN, body=text("again")))
        self.hub.advance(1)
        latest = self.bot_posts(self.hub)[-1]
        self.assertIn("again", latest.text or "")
        self.assertIsNotNone(self.shown.parent_id)
        self.assertEqual(latest.parent_id, self.shown.parent_id)

    def test_reply_in_thread_after_restart(self) -> None:
        """
        john's reply to peter's message reaches peter, although the new
        process heard from no one yet and john has two contacts.
        """
        self.hub.says(self.hub.john, "reply", parent=self.shown.id)
        sent = self.hub.xmpp.of_kind(TextMessage.kind)
        self.assertEqual([e.recipient for e in sent], [PETER])

    def test_user_delete_after_restart(self) -> None:
        """
        A message john sent before the restart, deleted after it, is
        retracted at its contact.
        """
        self.hub = self.first
        self.successResultOf(self.first.webex.startService())
        posted = self.first.says(self.first.john, "oops", parent=self.shown.id)
        self.successResultOf(self.first.webex.stopService())
        self.hub = WebexHub(store=self.first.store, sim=self.first.sim, clock=self.first.clock)
        self.hub.sim.world.user_deletes(self.hub.john.id, posted.id)
        self.hub.advance(1)
        retracts = self.hub.xmpp.of_kind(MessageRetract.kind)
        self.assertEqual([(e.recipient, e.message_id) for e in retracts], [(PETER, posted.id)])

    def test_ids_only_in_store(self) -> None:
        """
        The refs hold ids and addresses, never the text.
        """
        dump = self.successResultOf(self.hub.store.dump_tables())
        self.assertTrue(dump["message_refs"])
        self.assertNotIn("tpyo", repr(dump["message_refs"]))
