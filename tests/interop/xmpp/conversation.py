"""
The conversation every real server must have with the hub, in both
directions: messages (RFC 6121), presence subscriptions and presence,
chat states (XEP-0085), corrections (XEP-0308), reactions (XEP-0444),
styling and XHTML-IM (XEP-0393, XEP-0071), replies (XEP-0461/0428), files
by URL (XEP-0066), retractions (XEP-0424), receipts (XEP-0184), disco,
ping and vCard queries (XEP-0030, XEP-0199, XEP-0054), JID escaping
(XEP-0106), stanza errors (RFC 6120) and a long message.

L{ConversationTests} is mixed into one trial test case per server kind,
which provides L{ConversationTests.scenario}.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from nextplane.model.address import Address
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
    TypingState,
)
from nextplane.model.text import Bold, RichText, Text
from nextplane.storage.records import ContactState, UserRecord
from tests.interop.harness.xmppclient import ReceivedMessage

from .scenario import NS_CHATSTATES, NS_CORRECT, NS_REACTIONS, Scenario

__all__ = ["ConversationTests"]

NS_NICK = "http://jabber.org/protocol/nick"
NS_XHTML_IM = "http://jabber.org/protocol/xhtml-im"
NS_XHTML = "http://www.w3.org/1999/xhtml"
NS_REPLY = "urn:xmpp:reply:0"
NS_FALLBACK = "urn:xmpp:fallback:0"
NS_OOB = "jabber:x:oob"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_PING = "urn:xmpp:ping"
NS_VCARD = "vcard-temp"


def _bold(text: RichText) -> list[str]:
    found = []
    stack = list(text.nodes)
    while stack:
        node = stack.pop(0)
        if isinstance(node, Bold):
            found.append("".join(c.text for c in node.children if isinstance(c, Text)))
        stack.extend(getattr(node, "children", ()))
    return found


def _has(namespace: str, name: str, **attributes: str) -> Any:
    def check(message: ReceivedMessage) -> bool:
        child = message.child(namespace, name)
        return child is not None and all(child.get(k) == v for k, v in attributes.items())

    return check


class ConversationTests:
    """
    Mixin for a C{TestCase}: the hub user C{bob@hub.test} and a client of a
    real server talk.
    """

    timeout = 180

    def scenario(self, befriend: bool = True) -> defer.Deferred[Scenario]:
        """
        The peers, started.

        @param befriend: seed the contact as accepted in the hub's store.
        @return: fires with the L{Scenario}.
        """
        raise NotImplementedError

    @property
    def _case(self) -> TestCase:
        assert isinstance(self, TestCase)
        return self

    @defer.inlineCallbacks
    def test_messages_both_ways(self) -> Any:
        """
        A chat message from the remote client reaches the hub user as a
        TextMessage, and one from the hub user reaches the client.
        """
        s = yield self.scenario()
        received = yield s.client_says("hello hub, from a real server", id="msg-1")
        self._case.assertEqual(received.body.plain_text(), "hello hub, from a real server")
        yield s.hub_says("hello real server, from the hub")
        yield s.client_says("and once more", id="msg-2")
        yield s.hub_says("and back")

    @defer.inlineCallbacks
    def test_subscription_from_remote_user(self) -> Any:
        """
        The client subscribes to the hub user: the hub sees a ContactRequest;
        the hub user accepts; the client's server pushes a roster entry with
        subscription 'to' and the hub stores an accepted contact, so chat
        flows without any seeded state.
        """
        s = yield self.scenario(befriend=False)
        yield s.client.send_presence(s.hub_jid, "subscribe")
        request = yield s.check(s.hub.wait_for_event(kind="contact_request"))
        self._case.assertIsInstance(request, ContactRequest)
        self._case.assertEqual((request.sender, request.recipient), (s.remote, s.hub_user))
        yield s.wait_for_contact(ContactState.PENDING)

        yield s.hub_sends(ContactAccept(sender=s.hub_user, recipient=s.remote))
        yield s.wait_for_roster(("to", "both"))
        yield s.wait_for_contact(ContactState.ACCEPTED)

        # Now subscribed, the client gets the hub user's current presence at
        # once (RFC 6121 3.1.5): unknown so far, shown as away, never offline.
        first = yield s.check(s.client.wait_for_presence(s.hub_jid, type="available"))
        self._case.assertEqual(ET.fromstring(first.xml).findtext("{jabber:client}show"), "away")
        self._case.assertIn("not shared", first.status or "")
        # Then every change the platform reports.
        yield s.hub_sends(
            Presence(
                sender=s.hub_user,
                recipient=s.remote,
                availability=Availability.AWAY,
                status="in a meeting",
            )
        )
        presence = yield s.check(
            s.client.wait_for_presence(s.hub_jid, type="available", status="in a meeting")
        )
        element = ET.fromstring(presence.xml)
        self._case.assertEqual(element.findtext("{jabber:client}show"), "away")

        yield s.client_says("we are contacts now")
        yield s.hub_says("indeed we are")

    @defer.inlineCallbacks
    def test_subscription_from_hub_user(self) -> Any:
        """
        The hub user asks to become the client's contact: the client gets a
        'subscribe' presence with the hub user's nickname (XEP-0172),
        approves it, and the hub sees a ContactAccept and stores an accepted
        contact.
        """
        s = yield self.scenario(befriend=False)
        yield s.hub_sends(
            ContactRequest(sender=s.hub_user, recipient=s.remote, display_name="Bob the Builder")
        )
        presence = yield s.check(s.client.wait_for_presence(s.hub_jid, type="subscribe"))
        self._case.assertIn(NS_NICK, presence.xml)
        self._case.assertIn("Bob the Builder", presence.xml)
        yield s.wait_for_contact(ContactState.PENDING)

        yield s.client.send_presence(s.hub_jid, "subscribed")
        accept = yield s.check(s.hub.wait_for_event(kind="contact_accept"))
        self._case.assertEqual((accept.sender, accept.recipient), (s.remote, s.hub_user))
        yield s.wait_for_contact(ContactState.ACCEPTED)
        yield s.wait_for_roster(("from", "both"))
        # Having approved, the client's server sends it its presence.
        available = yield s.check(
            s.hub.wait_for_event(
                lambda e: isinstance(e, Presence) and e.availability == Availability.AVAILABLE,
                kind="presence",
            )
        )
        self._case.assertEqual(available.sender, s.remote)

        yield s.hub_says("thanks for accepting")
        yield s.client_says("you are welcome")

    @defer.inlineCallbacks
    def test_chat_states(self) -> Any:
        """
        XEP-0085: 'composing' and 'paused' from the client become Typing
        events; Typing events from the hub user reach the client as chat
        states.
        """
        s = yield self.scenario()
        for state, expected in (
            ("composing", TypingState.COMPOSING),
            ("paused", TypingState.PAUSED),
        ):
            yield s.client.send_raw(
                f"<message to='{s.hub_jid}' type='chat' id='cs-{state}'>"
                f"<{state} xmlns='{NS_CHATSTATES}'/></message>"
            )
            typing = yield s.check(
                s.hub.wait_for_event(
                    lambda e, expected=expected: isinstance(e, Typing) and e.state == expected,
                    kind="typing",
                )
            )
            self._case.assertEqual(typing.sender, s.remote)
        self._case.assertEqual(s.hub.delivered("message"), [])

        for state in (TypingState.COMPOSING, TypingState.PAUSED):
            yield s.hub_sends(Typing(sender=s.hub_user, recipient=s.remote, state=state))
            yield s.client_gets(_has(NS_CHATSTATES, state.value))

    @defer.inlineCallbacks
    def test_correction(self) -> Any:
        """
        XEP-0308: the client corrects its message and the hub user gets a
        MessageEdit of the right message; the hub user's edit reaches the
        client as a correction of the stanza it received.
        """
        s = yield self.scenario()
        original = yield s.client_says("helo wrld", id="corr-1")
        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='corr-2'><body>hello world</body>"
            f"<replace xmlns='{NS_CORRECT}' id='corr-1'/></message>"
        )
        edit = yield s.check(s.hub.wait_for_event(kind="edit"))
        self._case.assertIsInstance(edit, MessageEdit)
        self._case.assertEqual(edit.message_id, original.message_id)
        self._case.assertEqual(edit.body.plain_text(), "hello world")

        message, received = yield s.hub_says("teh hub speaks")
        yield s.hub_sends(
            MessageEdit(
                sender=s.hub_user,
                recipient=s.remote,
                message_id=message.message_id,
                body=RichText.plain("the hub speaks"),
            )
        )
        corrected = yield s.client_gets(lambda m: m.body == "the hub speaks")
        self._case.assertIsNotNone(_has(NS_CORRECT, "replace", id=received.id)(corrected))

    @defer.inlineCallbacks
    def test_reactions(self) -> Any:
        """
        XEP-0444: the client's reaction sets become ReactionAdd and
        ReactionRemove events for the right messages (its own and the hub
        user's); the hub user's reaction reaches the client as the full set
        on the client's stanza id.
        """
        s = yield self.scenario()
        theirs = yield s.client_says("react to this", id="react-1")
        mine, received = yield s.hub_says("and to this")

        def reactions(target: str, *emojis: str) -> str:
            inner = "".join(f"<reaction>{e}</reaction>" for e in emojis)
            return (
                f"<message to='{s.hub_jid}' type='chat' id='r-{target}-{len(emojis)}'>"
                f"<reactions xmlns='{NS_REACTIONS}' id='{target}'>{inner}</reactions>"
                "<store xmlns='urn:xmpp:hints'/></message>"
            )

        yield s.client.send_raw(reactions("react-1", "👍"))
        added = yield s.check(s.hub.wait_for_event(kind="reaction_add"))
        self._case.assertIsInstance(added, ReactionAdd)
        self._case.assertEqual((added.message_id, added.emoji), (theirs.message_id, "👍"))

        yield s.client.send_raw(reactions(received.id, "🎉"))
        yield s.check(
            s.hub.wait_for_event(
                lambda e: isinstance(e, ReactionAdd) and e.message_id == mine.message_id,
                kind="reaction_add",
            )
        )

        # Replacing 👍 by ❤️ on the first message: one removal, one addition.
        yield s.client.send_raw(reactions("react-1", "❤️"))
        removed = yield s.check(s.hub.wait_for_event(kind="reaction_remove"))
        self._case.assertIsInstance(removed, ReactionRemove)
        self._case.assertEqual((removed.message_id, removed.emoji), (theirs.message_id, "👍"))

        yield s.hub_sends(
            ReactionAdd(
                sender=s.hub_user, recipient=s.remote, message_id=theirs.message_id, emoji="🚀"
            )
        )
        got = yield s.client_gets(_has(NS_REACTIONS, "reactions", id="react-1"))
        element = got.child(NS_REACTIONS, "reactions")
        assert element is not None
        self._case.assertEqual(
            [r.text for r in element.findall(f"{{{NS_REACTIONS}}}reaction")], ["🚀"]
        )

    @defer.inlineCallbacks
    def test_rich_text_and_replies(self) -> Any:
        """
        XEP-0393 styling and XEP-0071 XHTML-IM from the client become rich
        text; a XEP-0461 reply (with its XEP-0428 fallback quote) becomes a
        reply to the right message, without the quote. The hub user's bold
        text and reply reach the client as a styled body, XHTML-IM and a
        reply element naming the client's stanza id.
        """
        s = yield self.scenario()
        styled = yield s.client_says("*bold* move", id="rich-1", plain="bold move")
        self._case.assertEqual(_bold(styled.body), ["bold"])

        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='rich-2'><body>strong words</body>"
            f"<html xmlns='{NS_XHTML_IM}'><body xmlns='{NS_XHTML}'>"
            "<p><strong>strong</strong> words</p></body></html></message>"
        )
        xhtml = yield s.check(
            s.hub.wait_for_event(
                lambda e: isinstance(e, TextMessage) and e.body.plain_text() == "strong words",
                kind="message",
            )
        )
        self._case.assertEqual(_bold(xhtml.body), ["strong"])

        quote = "> *bold* move\n"
        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='rich-3'><body>{quote}a reply</body>"
            f"<reply xmlns='{NS_REPLY}' id='rich-1' to='{s.hub_jid}'/>"
            f"<fallback xmlns='{NS_FALLBACK}' for='{NS_REPLY}'>"
            f"<body start='0' end='{len(quote)}'/></fallback></message>"
        )
        reply = yield s.check(
            s.hub.wait_for_event(
                lambda e: isinstance(e, TextMessage) and e.reply_to is not None, kind="message"
            )
        )
        self._case.assertEqual(reply.reply_to, styled.message_id)
        self._case.assertEqual(reply.body.plain_text().strip(), "a reply")

        yield s.hub_sends(
            TextMessage(
                sender=s.hub_user,
                recipient=s.remote,
                body=RichText((Text("this is "), Bold((Text("important"),)))),
                reply_to=styled.message_id,
            )
        )
        got = yield s.client_gets(lambda m: "important" in m.body)
        self._case.assertEqual(got.body, "this is *important*")
        html = got.child(NS_XHTML_IM, "html")
        self._case.assertIsNotNone(html)
        assert html is not None
        self._case.assertIn("important", "".join(html.itertext()))
        self._case.assertIsNotNone(_has(NS_REPLY, "reply", id="rich-1")(got))

    @defer.inlineCallbacks
    def test_files_and_retraction(self) -> Any:
        """
        XEP-0066: a URL shared out of band becomes a FileShare, and a hub
        FileShare reaches the client with its URL as body and OOB element.
        XEP-0424: retractions cross in both directions, naming the right
        message.
        """
        s = yield self.scenario()
        url = "https://files.example.org/share/cat.png"
        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='file-1'><body>{url}</body>"
            f"<x xmlns='{NS_OOB}'><url>{url}</url></x></message>"
        )
        share = yield s.check(s.hub.wait_for_event(kind="file"))
        self._case.assertIsInstance(share, FileShare)
        self._case.assertEqual(
            (share.url, share.name, share.media_type), (url, "cat.png", "image/png")
        )
        self._case.assertEqual(s.hub.delivered("message"), [])

        theirs = yield s.client_says("regrettable", id="retract-1")
        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='retract-2'>"
            f"<retract xmlns='{NS_RETRACT}' id='retract-1'/>"
            f"<fallback xmlns='{NS_FALLBACK}' for='{NS_RETRACT}'/>"
            "<body>This person attempted to retract a previous message.</body>"
            "<store xmlns='urn:xmpp:hints'/></message>"
        )
        retract = yield s.check(s.hub.wait_for_event(kind="retract"))
        self._case.assertIsInstance(retract, MessageRetract)
        self._case.assertEqual(retract.message_id, theirs.message_id)

        back = "https://files.example.org/share/report.pdf"
        yield s.hub_sends(
            FileShare(
                sender=s.hub_user,
                recipient=s.remote,
                name="report.pdf",
                url=back,
                media_type="application/pdf",
            )
        )
        got = yield s.client_gets(lambda m: m.body == back)
        oob = got.child(NS_OOB, "x")
        assert oob is not None
        self._case.assertEqual(oob.findtext(f"{{{NS_OOB}}}url"), back)

        mine, received = yield s.hub_says("hub regrets this")
        yield s.hub_sends(
            MessageRetract(sender=s.hub_user, recipient=s.remote, message_id=mine.message_id)
        )
        yield s.client_gets(_has(NS_RETRACT, "retract", id=received.id))

    @defer.inlineCallbacks
    def test_receipts_and_queries(self) -> Any:
        """
        XEP-0184: the hub acknowledges a message that asks for a receipt.
        XEP-0030, XEP-0199, XEP-0054: the client's server relays disco#info
        to the hub domain and user, a ping and a vCard request, and the hub
        answers them.
        """
        s = yield self.scenario()
        yield s.hub.store.put_user(
            UserRecord(
                s.hub_user, s.hub.domain, "echo", "U-bob", display_name="Bob Builder", title="Chief"
            )
        )
        yield s.client.send_raw(
            f"<message to='{s.hub_jid}' type='chat' id='rcpt-1'><body>ack me</body>"
            f"<request xmlns='{NS_RECEIPTS}'/></message>"
        )
        yield s.check(s.hub.wait_for_event(kind="message"))
        yield s.client_gets(_has(NS_RECEIPTS, "received", id="rcpt-1"))

        kind, answer = yield s.check(s.client.iq(s.hub.domain, f"<query xmlns='{NS_DISCO_INFO}'/>"))
        self._case.assertEqual(kind, "result")
        identity = answer.find(f"{{{NS_DISCO_INFO}}}query/{{{NS_DISCO_INFO}}}identity")
        assert identity is not None
        self._case.assertEqual((identity.get("category"), identity.get("type")), ("server", "im"))
        features = {f.get("var") for f in answer.iter(f"{{{NS_DISCO_INFO}}}feature")}
        self._case.assertTrue({NS_PING, NS_VCARD} <= features, features)

        kind, answer = yield s.check(s.client.iq(s.hub_jid, f"<query xmlns='{NS_DISCO_INFO}'/>"))
        self._case.assertEqual(kind, "result")
        features = {f.get("var") for f in answer.iter(f"{{{NS_DISCO_INFO}}}feature")}
        self._case.assertTrue(
            {NS_CORRECT, NS_REACTIONS, NS_CHATSTATES, NS_RETRACT} <= features, features
        )

        kind, _ = yield s.check(s.client.iq(s.hub.domain, f"<ping xmlns='{NS_PING}'/>"))
        self._case.assertEqual(kind, "result")

        kind, answer = yield s.check(s.client.iq(s.hub_jid, f"<vCard xmlns='{NS_VCARD}'/>"))
        self._case.assertEqual(kind, "result")
        self._case.assertEqual(
            answer.findtext(f"{{{NS_VCARD}}}vCard/{{{NS_VCARD}}}FN"), "Bob Builder"
        )
        self._case.assertEqual(answer.findtext(f"{{{NS_VCARD}}}vCard/{{{NS_VCARD}}}TITLE"), "Chief")

        kind, answer = yield s.check(s.client.iq(s.hub_jid, "<query xmlns='jabber:iq:version'/>"))
        self._case.assertEqual(kind, "error")
        self._case.assertIn("service-unavailable", ET.tostring(answer, encoding="unicode"))

    @defer.inlineCallbacks
    def test_long_message_with_markup_characters(self) -> Any:
        """
        A long message full of XML special and multi-byte characters crosses
        in both directions unchanged (many TLS records, one stanza).
        """
        s = yield self.scenario()
        line = "<tag attr=\"1\"> & 'quotes' \u2013 ünïcødé ✓ 日本語 🚀\n"
        body = (line * 400).strip()
        self._case.assertGreater(len(body.encode("utf-8")), 20_000)
        yield s.client.send_message(s.hub_jid, body, id="long-1")
        event = yield s.check(s.hub.wait_for_event(kind="message", timeout=30))
        self._case.assertEqual(event.body.plain_text(), body)

        yield s.hub_sends(
            TextMessage(sender=s.hub_user, recipient=s.remote, body=RichText.plain(body + "!"))
        )
        got = yield s.client_gets(lambda m: m.body.endswith("!"), timeout=30)
        self._case.assertEqual(got.body, body + "!")

    @defer.inlineCallbacks
    def test_escaped_local_part(self) -> Any:
        """
        XEP-0106: a hub user whose name has characters a JID cannot hold is
        o\\27brien\\26co@hub.test on the wire and o'brien&co to the hub,
        both ways.
        """
        s = yield self.scenario(befriend=False)
        user = s.hub.address("o'brien&co")
        jid = f"o\\27brien\\26co@{s.hub.domain}"
        yield s.hub.befriend([(user.local, s.remote_jid)])
        yield s.client.send_message(jid, "hello o'brien", id="esc-1")
        event = yield s.check(
            s.hub.wait_for_event(
                lambda e: isinstance(e, TextMessage) and e.recipient == user, kind="message"
            )
        )
        self._case.assertEqual(event.body.plain_text(), "hello o'brien")
        yield s.hub_sends(
            TextMessage(sender=user, recipient=s.remote, body=RichText.plain("top of the morning"))
        )
        got = yield s.check(s.client.wait_for_message(body="top of the morning"))
        self._case.assertEqual(got.sender.split("/")[0], jid)

    @defer.inlineCallbacks
    def test_stanza_errors_both_ways(self) -> Any:
        """
        RFC 6120 stanza errors: a message from someone who is not an
        accepted contact is answered with an error giving the router's
        reason; a message the hub user sends to an account that does not
        exist comes back from the real server as a DeliveryError for that
        message.
        """
        s = yield self.scenario(befriend=False)
        yield s.client.send_message(s.hub_jid, "may I?", id="err-1")
        refused = yield s.check(s.client.wait_for_message(lambda m: m.id == "err-1", type="error"))
        self._case.assertEqual(refused.error_condition, "not-allowed")
        self._case.assertIn("not an accepted contact", refused.xml)
        self._case.assertEqual(s.hub.delivered("message"), [])

        ghost = Address("ghost", s.remote.domain)
        yield s.hub.befriend([("bob", str(ghost))])
        message = TextMessage(sender=s.hub_user, recipient=ghost, body=RichText.plain("anyone?"))
        yield s.hub_sends(message)
        error = yield s.check(s.hub.wait_for_event(kind="delivery_error"))
        self._case.assertEqual(error.message_id, message.message_id)
        self._case.assertEqual((error.sender, error.recipient), (ghost, s.hub_user))
        self._case.assertIn(error.condition, ("service-unavailable", "item-not-found"))
