# -*- test-case-name: tests.xmpp.test_stanzas -*-
"""
Tests for L{nextplane.connectors.xmpp.stanzas}: stanzas written as XML text
in, events out; events in, XML out.

Also the XML helpers the other XMPP translation tests share.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish
from twisted.words.xish.domish import Element

from nextplane.connectors.xmpp.namespaces import NS_SERVER
from nextplane.connectors.xmpp.stanzas import (
    MAX_BODY_CHARS,
    MAX_REACTIONS,
    RETRACT_FALLBACK,
    NativeRef,
    Received,
    address_to_jid,
    apply_reaction,
    build_error,
    error_reply,
    escape_local,
    event_to_stanzas,
    jid_to_address,
    reaction_changes,
    stanza_to_events,
    unescape_local,
)
from nextplane.model.address import Address
from nextplane.model.events import (
    EVENT_TYPES,
    Availability,
    ContactAccept,
    ContactDecline,
    ContactRemove,
    ContactRequest,
    DeliveryError,
    Event,
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
from nextplane.model.text import Bold, Code, Italic, LineBreak, Link, RichText, Text

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
ROMEO = Address.parse("romeo@acme.test")
JULIET = Address.parse("juliet@capulet.test")
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


# -- shared helpers ----------------------------------------------------------


def parse_xml(text: str, namespace: str = NS_SERVER) -> Element:
    """
    Parse one element written as text, as a stream with default namespace
    C{namespace} delivers it.
    """
    elements: list[Element] = []
    stream = domish.elementStream()
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = elements.append
    stream.DocumentEndEvent = lambda: None
    stream.parse(f"<stream xmlns='{namespace}'>{text}</stream>".encode())
    assert len(elements) == 1, elements
    return elements[0]


def canonical(element: Element) -> tuple[Any, ...]:
    """
    A comparable form of an element: namespace, name, sorted attributes,
    children with adjacent text joined; whitespace-only text containing a
    newline (indentation) is left out.
    """
    attributes = tuple(
        sorted(
            (key if isinstance(key, str) else f"{{{key[0]}}}{key[1]}", value)
            for key, value in element.attributes.items()
        )
    )
    children: list[Any] = []
    for child in element.children:
        if isinstance(child, str):
            if children and isinstance(children[-1], str):
                children[-1] += child
            else:
                children.append(child)
        else:
            children.append(canonical(child))
    children = [
        child
        for child in children
        if not (isinstance(child, str) and not child.strip() and "\n" in child)
    ]
    return (element.uri, element.name, attributes, tuple(children))


def assert_xml(case: SynchronousTestCase, element: Element | None, expected: str) -> None:
    """
    Assert that C{element} serialises to XML equal to C{expected} (after
    parsing both), so the check covers serialisation too.
    """
    case.assertIsNotNone(element)
    assert element is not None
    actual = parse_xml(element.toXml())
    case.assertEqual(canonical(actual), canonical(parse_xml(expected)))


def same_ids(ref: NativeRef) -> str:
    """A resolver mapping every native id to itself, prefixed."""
    return f"hub-{ref.stanza_id}"


def read(xml: str, **bind: Any) -> tuple[Received, tuple[Any, ...]]:
    """Read a stanza written as text; bind it with L{same_ids}."""
    received = stanza_to_events(parse_xml(xml), now=NOW)
    return received, received.bind(same_ids, **bind)


def message(body: str = "", *, attributes: str = "type='chat' id='m1'") -> str:
    """A message from Juliet to Romeo with the given payload."""
    return (
        f"<message from='juliet@capulet.test/balcony' to='romeo@acme.test' {attributes}>"
        f"{body}</message>"
    )


class JidTests(SynchronousTestCase):
    """
    Tests for JID and address conversion.
    """

    def test_bare(self) -> None:
        """A full JID gives the address of its bare form, normalised."""
        self.assertEqual(jid_to_address("Juliet@Capulet.TEST/balcony"), JULIET)

    def test_invalid(self) -> None:
        """Domain JIDs, malformed JIDs and non-strings give no address."""
        for value in (
            "capulet.test",
            "capulet.test/res",
            "@capulet.test",
            "juliet@",
            "a b@capulet.test",
            "juliet@capulet",
            "juliet@127.0.0.1",
            "juliet@[::1]",
            "x" * 5000 + "@capulet.test",
            "",
            None,
            42,
        ):
            self.assertIsNone(jid_to_address(value), value)

    def test_escaping(self) -> None:
        """Local parts are escaped per XEP-0106 and unescaped back."""
        address = Address.parse("o'brien&co:x\\27@acme.test")
        jid = address_to_jid(address)
        self.assertEqual(jid, "o\\27brien\\26co\\3ax\\5c27@acme.test")
        self.assertEqual(jid_to_address(jid), address)
        self.assertEqual(unescape_local(escape_local("a\\b")), "a\\b")

    def test_escaped_forbidden(self) -> None:
        """An escaped character an address cannot hold gives no address."""
        self.assertIsNone(jid_to_address("a\\20b@capulet.test"))


class ReadMessageTests(SynchronousTestCase):
    """
    Tests for reading C{<message/>} stanzas.
    """

    def test_chat(self) -> None:
        """A chat message with a styled body is a text message."""
        received, events = read(message("<body>*hi* there</body>"))
        self.assertEqual(
            events,
            (
                TextMessage(
                    sender=JULIET,
                    recipient=ROMEO,
                    timestamp=NOW,
                    event_id=events[0].event_id,
                    message_id="hub-m1",
                    body=RichText([Bold([Text("hi")]), Text(" there")]),
                ),
            ),
        )
        self.assertEqual(received.refs, (NativeRef("m1", new=True, author=JULIET),))
        self.assertEqual(received.sender_jid, "juliet@capulet.test/balcony")
        self.assertEqual(received.resource, "balcony")

    def test_normal_and_unknown_type(self) -> None:
        """Messages of type normal, none or unknown are read like chat."""
        for attributes in ("type='normal' id='m1'", "id='m1'", "type='bogus' id='m1'"):
            _, events = read(message("<body>hi</body>", attributes=attributes))
            self.assertEqual([type(event) for event in events], [TextMessage])

    def test_client_namespace(self) -> None:
        """Stanzas in jabber:client are read too."""
        element = parse_xml(message("<body>hi</body>"), "jabber:client")
        self.assertEqual(len(stanza_to_events(element, now=NOW).bind(same_ids)), 1)

    def test_xhtml_preferred(self) -> None:
        """The XHTML-IM alternative is preferred over the plain body."""
        _, events = read(
            message(
                "<body>hi *there*</body>"
                "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
                "<body xmlns='http://www.w3.org/1999/xhtml'><p>hi <em>there</em></p></body></html>"
            )
        )
        self.assertEqual(events[0].body, RichText([Text("hi "), Italic([Text("there")])]))

    def test_cisco_jabber_xhtml(self) -> None:
        """XHTML-IM as Cisco Jabber sends it (font styles on spans) keeps its text and bold."""
        _, events = read(
            message(
                "<body>Hello team</body><html xmlns='http://jabber.org/protocol/xhtml-im'>"
                "<body xmlns='http://www.w3.org/1999/xhtml'><span style='font-family:Segoe UI;"
                "color:#1a1a1a;font-size:10pt;font-weight:bold;'>Hello</span>"
                "<span style='font-family:Segoe UI;font-size:10pt;'> team</span></body></html>"
                "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
            )
        )
        self.assertEqual(
            [event.body for event in events if isinstance(event, TextMessage)],
            [RichText([Bold([Text("Hello")]), Text(" team")])],
        )

    def test_empty_xhtml_ignored(self) -> None:
        """An XHTML-IM alternative without text falls back to the body."""
        _, events = read(
            message(
                "<body>hi</body><html xmlns='http://jabber.org/protocol/xhtml-im'>"
                "<body xmlns='http://www.w3.org/1999/xhtml'><img src='https://x.test/a.png'/>"
                "</body></html>"
            )
        )
        self.assertEqual(events[0].body, RichText([Text("hi")]))

    def test_unstyled(self) -> None:
        """Under the XEP-0393 unstyled hint the body is plain text."""
        _, events = read(message("<body>*hi*\nyou</body><unstyled xmlns='urn:xmpp:styling:0'/>"))
        self.assertEqual(events[0].body, RichText([Text("*hi*"), LineBreak(), Text("you")]))

    def test_body_language(self) -> None:
        """The body without xml:lang is preferred among several."""
        _, events = read(message("<body xml:lang='de'>hallo</body><body>hello</body>"))
        self.assertEqual(events[0].body.plain_text(), "hello")

    def test_origin_id(self) -> None:
        """The origin-id is the native id when the stanza has none, else an alias."""
        received, _ = read(
            message("<body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>", attributes="")
        )
        self.assertEqual(received.refs, (NativeRef("o1", new=True, author=JULIET),))
        received, _ = read(message("<body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>"))
        self.assertEqual(received.refs, (NativeRef("m1", new=True, author=JULIET, origin_id="o1"),))

    def test_no_id(self) -> None:
        """A message without any id still gets a fresh hub id."""
        received, events = read(message("<body>hi</body>", attributes="type='chat'"))
        self.assertEqual(received.refs, ())
        self.assertTrue(events[0].message_id)

    def test_resolver_mints(self) -> None:
        """A new message the resolver does not map gets a fresh hub id."""
        received = stanza_to_events(parse_xml(message("<body>hi</body>")), now=NOW)
        (event,) = received.bind(lambda ref: None)
        assert isinstance(event, TextMessage)
        self.assertNotEqual(event.message_id, "m1")
        self.assertTrue(event.message_id)

    def test_reply(self) -> None:
        """A XEP-0461 reply refers to its message and loses its fallback quote."""
        received, events = read(
            message(
                "<body>&gt; Anna wrote:\n&gt; hi\nhello back</body>"
                "<reply xmlns='urn:xmpp:reply:0' to='romeo@acme.test/x' id='r1'/>"
                "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
                "<body start='0' end='19'/></fallback>"
            )
        )
        self.assertEqual(events[0].reply_to, "hub-r1")
        self.assertEqual(events[0].body.plain_text(), "hello back")
        self.assertIn(NativeRef("r1", new=False), received.refs)

    def test_reply_unknown(self) -> None:
        """A reply to an unknown message is delivered without reply_to."""
        received = stanza_to_events(
            parse_xml(message("<body>x</body><reply xmlns='urn:xmpp:reply:0' id='r1'/>")),
            now=NOW,
        )
        (event,) = received.bind(lambda ref: "new" if ref.new else None)
        assert isinstance(event, TextMessage)
        self.assertIsNone(event.reply_to)

    def test_bad_fallback_range(self) -> None:
        """Fallback ranges outside the body are ignored."""
        _, events = read(
            message(
                "<body>hello</body><reply xmlns='urn:xmpp:reply:0' id='r1'/>"
                "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>"
                "<body start='3' end='99'/><body start='-1' end='2'/><body/></fallback>"
            )
        )
        self.assertEqual(events[0].body.plain_text(), "hello")

    def test_delay(self) -> None:
        """A XEP-0203 delay stamp in the past is the timestamp; others are not."""
        _, events = read(
            message("<body>x</body><delay xmlns='urn:xmpp:delay' stamp='2026-10-31T08:00:00Z'/>")
        )
        self.assertEqual(events[0].timestamp, datetime(2026, 10, 31, 8, tzinfo=UTC))
        for stamp in (
            "2030-01-01T00:00:00Z",
            "2026-10-31T08:00:00",
            "yesterday",
            "1999-01-01T00:00:00Z",
        ):
            _, events = read(
                message(f"<body>x</body><delay xmlns='urn:xmpp:delay' stamp='{stamp}'/>")
            )
            self.assertEqual(events[0].timestamp, NOW, stamp)

    def test_edit(self) -> None:
        """A XEP-0308 correction edits the replaced message."""
        received, events = read(
            message(
                "<body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='m0'/>",
            )
        )
        self.assertEqual(
            events,
            (
                MessageEdit(
                    sender=JULIET,
                    recipient=ROMEO,
                    timestamp=NOW,
                    event_id=events[0].event_id,
                    message_id="hub-m0",
                    body=RichText([Text("fixed")]),
                ),
            ),
        )
        self.assertEqual(received.refs, (NativeRef("m0", new=False, author=JULIET),))

    def test_edit_of_unknown(self) -> None:
        """An edit of a message the resolver does not know gives no event."""
        received = stanza_to_events(
            parse_xml(
                message("<body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='m0'/>")
            ),
            now=NOW,
        )
        self.assertEqual(received.bind(lambda ref: None), ())
        self.assertEqual(received.bind(), ())

    def test_edit_without_id(self) -> None:
        """A correction without an id is read as a new message."""
        _, events = read(message("<body>x</body><replace xmlns='urn:xmpp:message-correct:0'/>"))
        self.assertEqual([type(event) for event in events], [TextMessage])

    def test_retract(self) -> None:
        """A XEP-0424 retraction retracts the message; its fallback body is ignored."""
        _, events = read(
            message(
                "<retract xmlns='urn:xmpp:message-retract:1' id='m0'/>"
                "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
                f"<body>{RETRACT_FALLBACK}</body><store xmlns='urn:xmpp:hints'/>"
            )
        )
        self.assertEqual(
            events,
            (
                MessageRetract(
                    sender=JULIET,
                    recipient=ROMEO,
                    timestamp=NOW,
                    event_id=events[0].event_id,
                    message_id="hub-m0",
                ),
            ),
        )

    def test_retract_version_0(self) -> None:
        """A version 0 retraction fastened with apply-to is read too."""
        _, events = read(
            message(
                "<apply-to xmlns='urn:xmpp:fasten:0' id='m0'>"
                "<retract xmlns='urn:xmpp:message-retract:0'/></apply-to><body>fallback</body>"
            )
        )
        self.assertEqual([(type(e), e.message_id) for e in events], [(MessageRetract, "hub-m0")])

    def test_reactions(self) -> None:
        """A XEP-0444 set is compared with the previous one."""
        received, events = read(
            message(
                "<reactions xmlns='urn:xmpp:reactions:0' id='m0'>"
                "<reaction>👍</reaction><reaction>🎉</reaction><reaction>👍</reaction>"
                "<reaction> </reaction></reactions>"
            ),
            previous_reactions={"👍", "❤️"},
        )
        self.assertEqual(
            [(type(event), event.message_id, event.emoji) for event in events],
            [(ReactionAdd, "hub-m0", "🎉"), (ReactionRemove, "hub-m0", "❤️")],
        )
        assert received.reactions is not None
        self.assertEqual(received.reactions.emojis, frozenset({"👍", "🎉"}))
        self.assertEqual(received.reactions.message, NativeRef("m0", new=False))

    def test_reactions_cleared(self) -> None:
        """An empty set removes every previous reaction."""
        _, events = read(
            message("<reactions xmlns='urn:xmpp:reactions:0' id='m0'/>"),
            previous_reactions={"👍"},
        )
        self.assertEqual([type(event) for event in events], [ReactionRemove])

    def test_reactions_bounded(self) -> None:
        """Only the first reactions are read, and overlong ones are ignored."""
        many = "".join(f"<reaction>{chr(0x1F600 + n)}</reaction>" for n in range(100))
        received, events = read(
            message(
                f"<reactions xmlns='urn:xmpp:reactions:0' id='m0'><reaction>{'x' * 65}</reaction>"
                f"{many}</reactions>"
            )
        )
        assert received.reactions is not None
        self.assertEqual(len(received.reactions.emojis), MAX_REACTIONS - 1)
        self.assertEqual(len(events), MAX_REACTIONS - 1)

    def test_reactions_without_id(self) -> None:
        """Reactions without a target give nothing."""
        received, events = read(
            message("<reactions xmlns='urn:xmpp:reactions:0'><reaction>👍</reaction></reactions>")
        )
        self.assertEqual(events, ())
        self.assertEqual(received.note, "reactions without a valid id")

    def test_reactions_unknown_message(self) -> None:
        """Reactions to a message the resolver does not know give nothing."""
        received = stanza_to_events(
            parse_xml(
                message(
                    "<reactions xmlns='urn:xmpp:reactions:0' id='m0'><reaction>👍</reaction></reactions>"
                )
            ),
            now=NOW,
        )
        self.assertEqual(received.bind(lambda ref: None), ())

    def test_chat_states(self) -> None:
        """A chat state without a body is a typing notification."""
        for state, expected in (
            ("composing", TypingState.COMPOSING),
            ("paused", TypingState.PAUSED),
            ("active", TypingState.IDLE),
            ("inactive", TypingState.IDLE),
            ("gone", TypingState.IDLE),
        ):
            _, events = read(message(f"<{state} xmlns='http://jabber.org/protocol/chatstates'/>"))
            self.assertEqual(
                events,
                (
                    Typing(
                        sender=JULIET,
                        recipient=ROMEO,
                        timestamp=NOW,
                        event_id=events[0].event_id,
                        state=expected,
                    ),
                ),
            )

    def test_chat_state_with_body(self) -> None:
        """A chat state next to a body gives only the message."""
        _, events = read(
            message("<body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/>")
        )
        self.assertEqual([type(event) for event in events], [TextMessage])

    def test_unknown_chat_state(self) -> None:
        """An unknown element in the chat states namespace gives nothing."""
        _, events = read(message("<dancing xmlns='http://jabber.org/protocol/chatstates'/>"))
        self.assertEqual(events, ())

    def test_oob(self) -> None:
        """An OOB URL with the URL as body is a file share named from the URL."""
        url = "https://share.capulet.test/u/ab%20c/Photo%201.JPG?x=1"
        _, events = read(message(f"<body>{url}</body><x xmlns='jabber:x:oob'><url>{url}</url></x>"))
        self.assertEqual(
            events,
            (
                FileShare(
                    sender=JULIET,
                    recipient=ROMEO,
                    timestamp=NOW,
                    event_id=events[0].event_id,
                    message_id="hub-m1",
                    name="Photo 1.JPG",
                    url=url,
                    media_type="image/jpeg",
                ),
            ),
        )
        self.assertIsNone(events[0].size)

    def test_oob_with_caption(self) -> None:
        """An OOB URL with another body gives the message and the file."""
        _, events = read(
            message("<body>look</body><x xmlns='jabber:x:oob'><url>https://x.test/</url></x>")
        )
        self.assertEqual([type(event) for event in events], [TextMessage, FileShare])
        self.assertEqual(events[0].message_id, "hub-m1")
        self.assertNotEqual(events[1].message_id, "hub-m1")
        self.assertEqual(events[1].name, "file")

    def test_oob_unsafe(self) -> None:
        """OOB URLs that are not http or https are ignored."""
        for url in ("javascript:alert(1)", "file:///etc/passwd", "aesgcm://x.test/a#k", "https://"):
            _, events = read(message(f"<x xmlns='jabber:x:oob'><url>{url}</url></x>"))
            self.assertEqual(events, (), url)

    def test_receipt_request(self) -> None:
        """A receipt request is noted and answered to the sender's full JID."""
        received, _ = read(message("<body>hi</body><request xmlns='urn:xmpp:receipts'/>"))
        self.assertTrue(received.receipt_request)
        assert_xml(
            self,
            received.receipt_reply(),
            "<message from='romeo@acme.test' to='juliet@capulet.test/balcony'>"
            "<received xmlns='urn:xmpp:receipts' id='m1'/></message>",
        )

    def test_receipt_request_without_id(self) -> None:
        """A receipt request on a message without an id cannot be answered."""
        received, _ = read(
            message("<body>hi</body><request xmlns='urn:xmpp:receipts'/>", attributes="")
        )
        self.assertFalse(received.receipt_request)
        self.assertIsNone(received.receipt_reply())

    def test_receipt_request_on_typing(self) -> None:
        """Receipts are only for content messages."""
        received, _ = read(
            message(
                "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
                "<request xmlns='urn:xmpp:receipts'/>"
            )
        )
        self.assertFalse(received.receipt_request)

    def test_receipt(self) -> None:
        """A XEP-0184 receipt is a receipt, not an event."""
        received, events = read(message("<received xmlns='urn:xmpp:receipts' id='m0'/>"))
        self.assertEqual(events, ())
        assert received.receipt is not None
        self.assertEqual(received.receipt.kind, "received")
        self.assertEqual(received.receipt.message, NativeRef("m0", new=False, author=ROMEO))
        self.assertEqual((received.receipt.sender, received.receipt.recipient), (JULIET, ROMEO))

    def test_marker(self) -> None:
        """A XEP-0333 displayed marker is a receipt."""
        received, _ = read(message("<displayed xmlns='urn:xmpp:chat-markers:0' id='m0'/>"))
        assert received.receipt is not None
        self.assertEqual(received.receipt.kind, "displayed")

    def test_ignored_types(self) -> None:
        """Groupchat and headline messages give nothing."""
        for kind in ("groupchat", "headline"):
            received, events = read(message("<body>hi</body>", attributes=f"type='{kind}'"))
            self.assertEqual(events, ())
            self.assertIsNone(received.error_reply)

    def test_empty(self) -> None:
        """A message without a payload, or with a blank body, gives nothing."""
        for body in ("", "<body>  \n </body>", "<body/>", "<thread>t</thread>"):
            received, events = read(message(body))
            self.assertEqual(events, ())
            self.assertEqual(received.note, "no content")

    def test_unknown_namespaces(self) -> None:
        """Elements in unknown namespaces are ignored."""
        _, events = read(
            message("<body>hi</body><x xmlns='urn:example:whatever'><body>no</body></x>")
        )
        self.assertEqual(events[0].body.plain_text(), "hi")
        received = stanza_to_events(
            parse_xml(
                "<message xmlns='urn:example' from='juliet@capulet.test' to='romeo@acme.test'><body>x</body></message>"
            ),
            now=NOW,
        )
        self.assertEqual(received.bind(same_ids), ())

    def test_body_too_long(self) -> None:
        """A body over the limit is refused with policy-violation."""
        received, events = read(message(f"<body>{'a' * (MAX_BODY_CHARS + 1)}</body>"))
        self.assertEqual(events, ())
        assert_xml(
            self,
            received.error_reply,
            "<message from='romeo@acme.test' to='juliet@capulet.test/balcony' id='m1' type='error'>"
            "<error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>message too long</text>"
            "</error></message>",
        )

    def test_to_domain(self) -> None:
        """A message with a body to a bare domain is refused with service-unavailable."""
        received, events = read(
            "<message from='juliet@capulet.test/b' to='acme.test' id='x1'><body>hi</body></message>"
        )
        self.assertEqual(events, ())
        assert_xml(
            self,
            received.error_reply,
            "<message from='acme.test' to='juliet@capulet.test/b' id='x1' type='error'>"
            "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "</error></message>",
        )

    def test_bad_recipient(self) -> None:
        """A message with a body to a malformed JID is refused with jid-malformed."""
        received, _ = read(
            "<message from='juliet@capulet.test' to='a@b@c d' id='x1'><body>hi</body></message>"
        )
        assert received.error_reply is not None
        self.assertEqual(received.error_reply.getAttribute("type"), "error")
        self.assertIn("jid-malformed", received.error_reply.toXml())

    def test_bad_sender(self) -> None:
        """Messages from domains, malformed or missing JIDs give nothing, not even an error."""
        for sender in ("from='capulet.test'", "from='@@'", "", f"from='{'x' * 4000}@capulet.test'"):
            received, events = read(
                f"<message {sender} to='romeo@acme.test' id='x'><body>hi</body></message>"
            )
            self.assertEqual(events, ())
            self.assertIsNone(received.error_reply)
            self.assertEqual(received.note, "sender is not a user JID")

    def test_no_answer_to_typing(self) -> None:
        """A chat state to a bad recipient is dropped without an error."""
        received, _ = read(
            "<message from='juliet@capulet.test' to='acme.test'>"
            "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
        )
        self.assertIsNone(received.error_reply)

    def test_hostile_ids(self) -> None:
        """Overlong or unprintable ids count as absent."""
        received, events = read(
            message(
                "<body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='\x7f'/>",
                attributes=f"id='{'i' * 300}'",
            )
        )
        self.assertIsNone(received.stanza_id)
        self.assertEqual([type(event) for event in events], [TextMessage])

    def test_deep_xhtml(self) -> None:
        """Deeply nested XHTML-IM is read without error, keeping its text."""
        depth = 3000
        html = "<b>" * depth + "deep" + "</b>" * depth
        _, events = read(
            message(
                "<body>deep</body><html xmlns='http://jabber.org/protocol/xhtml-im'>"
                f"<body xmlns='http://www.w3.org/1999/xhtml'>{html}</body></html>"
            )
        )
        self.assertEqual(events[0].body.plain_text(), "deep")

    def test_not_a_stanza(self) -> None:
        """IQs, unknown elements and non-elements give nothing."""
        for element in (
            parse_xml("<iq type='get' from='juliet@capulet.test' to='acme.test' id='1'/>"),
            parse_xml("<foo/>"),
            parse_xml("<message xmlns='urn:x'/>"),
            "<message/>",
            None,
        ):
            received = stanza_to_events(element, now=NOW)  # type: ignore[arg-type]
            self.assertEqual(received.bind(same_ids), ())
            self.assertIsNotNone(received.note)

    def test_unreadable(self) -> None:
        """Even a failure inside the translation gives a result, not an exception."""
        received = stanza_to_events(parse_xml(message("<body>x</body>")), now=datetime(2026, 1, 1))
        self.assertEqual(received.pending, ())
        self.assertTrue(received.note and received.note.startswith("unreadable stanza"))

    @given(
        st.lists(
            st.sampled_from(
                [
                    "<body>hi *x*</body>",
                    "<body/>",
                    "<replace xmlns='urn:xmpp:message-correct:0' id='a'/>",
                    "<replace xmlns='urn:xmpp:message-correct:0'/>",
                    "<retract xmlns='urn:xmpp:message-retract:1'/>",
                    "<retract xmlns='urn:xmpp:message-retract:1' id='b'/>",
                    "<apply-to xmlns='urn:xmpp:fasten:0'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to>",
                    "<reactions xmlns='urn:xmpp:reactions:0' id='c'><reaction>👍</reaction></reactions>",
                    "<reactions xmlns='urn:xmpp:reactions:0'><reaction/></reactions>",
                    "<x xmlns='jabber:x:oob'><url>https://x.test/f.pdf</url></x>",
                    "<x xmlns='jabber:x:oob'/>",
                    "<composing xmlns='http://jabber.org/protocol/chatstates'/>",
                    "<request xmlns='urn:xmpp:receipts'/>",
                    "<received xmlns='urn:xmpp:receipts'/>",
                    "<received xmlns='urn:xmpp:receipts' id='d'/>",
                    "<origin-id xmlns='urn:xmpp:sid:0'/>",
                    "<reply xmlns='urn:xmpp:reply:0'/>",
                    "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='9' end='1'/></fallback>",
                    "<html xmlns='http://jabber.org/protocol/xhtml-im'/>",
                    "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><a href='javascript:x'>y</a></body></html>",
                    "<error><bogus/></error>",
                    "<delay xmlns='urn:xmpp:delay'/>",
                ]
            ),
            max_size=6,
        ),
        st.sampled_from(
            [
                "",
                "type='chat'",
                "type='error'",
                "id=''",
                "type='error' id='e'",
                "type='chat' id='m'",
            ]
        ),
        st.sampled_from(["juliet@capulet.test/r", "capulet.test", "", "juliet@capulet.test"]),
        st.sampled_from(["romeo@acme.test", "acme.test", "x@y@z"]),
    )
    @settings(max_examples=300)
    def test_any_combination(
        self, payload: list[str], attributes: str, sender: str, recipient: str
    ) -> None:
        """Any combination of payloads and attributes is read without error."""
        element = parse_xml(
            f"<message from='{sender}' to='{recipient}' {attributes}>{''.join(payload)}</message>"
        )
        received = stanza_to_events(element, now=NOW)
        self.assertFalse(received.note and received.note.startswith("unreadable"), received.note)
        for event in received.bind(same_ids, previous_reactions={"x"}):
            self.assertIsInstance(event, EVENT_TYPES)


class ReadErrorTests(SynchronousTestCase):
    """
    Tests for reading stanza errors.
    """

    def test_message_error(self) -> None:
        """A bounced message is a delivery error for the original message."""
        received, events = read(
            "<message from='juliet@capulet.test' to='romeo@acme.test/x' type='error' id='m1'>"
            "<body>hi</body><error type='cancel'>"
            "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>No\x09such\nuser</text>"
            "</error></message>"
        )
        self.assertEqual(
            events,
            (
                DeliveryError(
                    sender=JULIET,
                    recipient=ROMEO,
                    timestamp=NOW,
                    event_id=events[0].event_id,
                    condition="item-not-found",
                    reason="the remote server reports: item-not-found (No such user)",
                    original_event_id="hub-m1",
                    original_kind="message",
                    message_id="hub-m1",
                ),
            ),
        )
        self.assertEqual(received.refs, (NativeRef("m1", new=False, author=ROMEO),))
        self.assertIsNone(received.error_reply)

    def test_unknown_condition(self) -> None:
        """A missing or unknown condition is undefined-condition."""
        _, events = read(
            "<message from='juliet@capulet.test' to='romeo@acme.test' type='error' id='m1'>"
            "<error type='cancel'><frobnicated xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<x xmlns='urn:other'/></error></message>"
        )
        self.assertEqual(events[0].condition, "undefined-condition")
        self.assertEqual(events[0].reason, "the remote server reports: undefined-condition")

    def test_unknown_original(self) -> None:
        """An error for an unknown or id-less stanza keeps no message id."""
        received = stanza_to_events(
            parse_xml(
                "<message from='juliet@capulet.test' to='romeo@acme.test' type='error' id='m1'>"
                "<error type='wait'><remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
            ),
            now=NOW,
        )
        (event,) = received.bind(lambda ref: None)
        assert isinstance(event, DeliveryError)
        self.assertEqual((event.message_id, event.original_event_id), (None, "unknown"))
        _, (event,) = read(
            "<message from='juliet@capulet.test' to='romeo@acme.test' type='error'/>"
        )
        self.assertEqual((event.message_id, event.original_event_id), (None, "unknown"))

    def test_original_kinds(self) -> None:
        """The kind of the failed event is guessed from the bounced payload."""
        for payload, kind in (
            ("<composing xmlns='http://jabber.org/protocol/chatstates'/>", "typing"),
            ("<body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='a'/>", "edit"),
            ("<retract xmlns='urn:xmpp:message-retract:1' id='a'/>", "retract"),
            ("<reactions xmlns='urn:xmpp:reactions:0' id='a'/>", "reaction_add"),
            ("<x xmlns='jabber:x:oob'><url>https://x.test/</url></x>", "file"),
        ):
            _, events = read(
                f"<message from='juliet@capulet.test' to='romeo@acme.test' type='error' id='m'>{payload}</message>"
            )
            self.assertEqual(events[0].original_kind, kind)

    def test_presence_error(self) -> None:
        """A bounced presence is a delivery error of kind presence."""
        _, events = read(
            "<presence from='juliet@capulet.test' to='romeo@acme.test' type='error' id='p1'>"
            "<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
        )
        self.assertEqual(
            (events[0].original_kind, events[0].condition), ("presence", "remote-server-not-found")
        )

    def test_error_from_domain(self) -> None:
        """An error from a bare domain gives nothing and is never answered."""
        received, events = read(
            "<message from='capulet.test' to='romeo@acme.test' type='error' id='m1'><error/></message>"
        )
        self.assertEqual(events, ())
        self.assertIsNone(received.error_reply)


class ReadPresenceTests(SynchronousTestCase):
    """
    Tests for reading C{<presence/>} stanzas.
    """

    def presence(self, attributes: str = "", payload: str = "") -> str:
        return (
            f"<presence from='juliet@capulet.test/balcony' to='romeo@acme.test' {attributes}>"
            f"{payload}</presence>"
        )

    def test_show(self) -> None:
        """Show values map to availabilities."""
        for payload, availability in (
            ("", Availability.AVAILABLE),
            ("<show>chat</show>", Availability.AVAILABLE),
            ("<show>away</show>", Availability.AWAY),
            ("<show>xa</show>", Availability.AWAY),
            ("<show>dnd</show>", Availability.DND),
            ("<show>sleeping</show>", Availability.AVAILABLE),
        ):
            _, events = read(self.presence(payload=payload))
            self.assertEqual(events[0].availability, availability, payload)

    def test_unavailable_and_status(self) -> None:
        """Unavailable is offline; the status text comes along, cleaned."""
        received, events = read(
            self.presence(
                "type='unavailable'",
                "<status xml:lang='fr'>parti</status><status>gone\x09 fishing\n</status>",
            )
        )
        self.assertEqual(
            events,
            (
                Presence(
                    sender=JULIET,
                    recipient=ROMEO,
                    timestamp=NOW,
                    event_id=events[0].event_id,
                    availability=Availability.OFFLINE,
                    status="gone fishing",
                ),
            ),
        )
        self.assertEqual(received.resource, "balcony")

    def test_long_status(self) -> None:
        """Statuses are cut."""
        _, events = read(self.presence(payload=f"<status>{'s' * 100_000}</status>"))
        self.assertEqual(len(events[0].status), 1024)

    def test_subscriptions(self) -> None:
        """Subscription types map to contact events."""
        for kind, expected in (
            ("subscribe", ContactRequest),
            ("subscribed", ContactAccept),
            ("unsubscribe", ContactRemove),
        ):
            _, events = read(self.presence(f"type='{kind}'"))
            self.assertEqual([type(event) for event in events], [expected])

    def test_nick(self) -> None:
        """A subscription request carries the XEP-0172 nickname."""
        _, events = read(
            self.presence(
                "type='subscribe'", "<nick xmlns='http://jabber.org/protocol/nick'>Juliet C.</nick>"
            )
        )
        self.assertEqual(events[0].display_name, "Juliet C.")

    def test_unsubscribed(self) -> None:
        """Unsubscribed declines a pending request, otherwise removes the contact."""
        received = stanza_to_events(parse_xml(self.presence("type='unsubscribed'")), now=NOW)
        self.assertTrue(received.unsubscribed)
        self.assertEqual([type(e) for e in received.bind(request_pending=True)], [ContactDecline])
        self.assertEqual([type(e) for e in received.bind(request_pending=False)], [ContactRemove])

    def test_probe(self) -> None:
        """A probe asks for presence and gives no event."""
        received, events = read(self.presence("type='probe'"))
        self.assertTrue(received.probe)
        self.assertEqual(events, ())

    def test_unknown_type(self) -> None:
        """An unknown presence type gives nothing."""
        received, events = read(self.presence("type='dance'"))
        self.assertEqual((events, received.note), ((), "unknown presence type"))

    def test_to_domain(self) -> None:
        """Presence to a domain gives nothing and no error."""
        received, events = read(
            "<presence from='juliet@capulet.test' to='acme.test' type='subscribe'/>"
        )
        self.assertEqual(events, ())
        self.assertIsNone(received.error_reply)


class ReactionHelperTests(SynchronousTestCase):
    """
    Tests for L{reaction_changes} and L{apply_reaction}.
    """

    def test_changes(self) -> None:
        """Additions and removals are sorted differences."""
        self.assertEqual(reaction_changes({"a", "b"}, ["c", "b", "d"]), (("c", "d"), ("a",)))

    def test_apply(self) -> None:
        """Adding and removing one reaction updates the set."""
        add = ReactionAdd(sender=ROMEO, recipient=JULIET, message_id="m", emoji="👍")
        remove = ReactionRemove(sender=ROMEO, recipient=JULIET, message_id="m", emoji="👍")
        self.assertEqual(apply_reaction({"🎉"}, add), frozenset({"🎉", "👍"}))
        self.assertEqual(apply_reaction({"🎉", "👍"}, remove), frozenset({"🎉"}))


class ErrorBuilderTests(SynchronousTestCase):
    """
    Tests for L{build_error} and L{error_reply}.
    """

    def test_unknown_condition(self) -> None:
        """An unknown condition is sent as undefined-condition."""
        assert_xml(
            self,
            build_error("message", "a@b.test", "c@d.test", None, "blocked", None),
            "<message from='a@b.test' to='c@d.test' type='error'><error type='cancel'>"
            "<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
        )

    def test_never_answer_errors(self) -> None:
        """Errors, and stanzas without a sender, are never answered."""
        for xml in (
            "<message from='a@b.test' type='error'/>",
            "<message to='a@b.test'/>",
            "<iq from='a@b.test' type='result' id='1'/>",
            "<foo from='a@b.test'/>",
        ):
            self.assertIsNone(error_reply(parse_xml(xml), "bad-request"), xml)


def _event(kind: type[Event], **fields: Any) -> Event:
    return kind(sender=ROMEO, recipient=JULIET, timestamp=NOW, **fields)


class WriteTests(SynchronousTestCase):
    """
    Tests for L{event_to_stanzas}.
    """

    def assertStanzas(self, stanzas: list[Element], *expected: str) -> None:
        self.assertEqual(len(stanzas), len(expected))
        for element, text in zip(stanzas, expected):
            assert_xml(self, element, text)

    def test_text(self) -> None:
        """A text message has a styled body, XHTML-IM, receipt request, chat state and origin id."""
        event = _event(
            TextMessage,
            body=RichText(
                [Bold([Text("hi")]), Text(" "), Link("https://x.test/", [Text("there")])]
            ),
        )
        self.assertStanzas(
            event_to_stanzas(event, stanza_id="s1"),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s1'>"
            "<body>*hi* there (https://x.test/)</body>"
            "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>"
            "<strong>hi</strong> <a href='https://x.test/'>there</a></body></html>"
            "<active xmlns='http://jabber.org/protocol/chatstates'/>"
            "<request xmlns='urn:xmpp:receipts'/>"
            "<origin-id xmlns='urn:xmpp:sid:0' id='s1'/></message>",
        )

    def test_plain_text(self) -> None:
        """Plain text has no XHTML-IM; receipts and markers are optional."""
        event = _event(TextMessage, body=RichText.plain("a\nb"), reply_to="hub-r")
        self.assertStanzas(
            event_to_stanzas(
                event, stanza_id="s1", reply_to_id="r1", request_receipt=False, markable=True
            ),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s1'>"
            "<body>a\nb</body><reply xmlns='urn:xmpp:reply:0' id='r1'/>"
            "<active xmlns='http://jabber.org/protocol/chatstates'/>"
            "<markable xmlns='urn:xmpp:chat-markers:0'/>"
            "<origin-id xmlns='urn:xmpp:sid:0' id='s1'/></message>",
        )

    def test_empty_text(self) -> None:
        """A message with nothing to show gives no stanza."""
        self.assertEqual(event_to_stanzas(_event(TextMessage, body=RichText()), stanza_id="s"), [])

    def test_xml_invalid_characters(self) -> None:
        """Characters XML cannot carry are dropped, so the stanza serialises."""
        event = _event(TextMessage, body=RichText([Text("a\x00b\x1b"), Code("\ufffe")]))
        (stanza,) = event_to_stanzas(event, stanza_id="s\x01")
        parsed = parse_xml(stanza.toXml())
        self.assertEqual(parsed.getAttribute("id"), "s")

    def test_edit(self) -> None:
        """An edit is a new body replacing the target."""
        event = _event(MessageEdit, message_id="hub-m", body=RichText([Text("fixed")]))
        self.assertStanzas(
            event_to_stanzas(event, stanza_id="s2", target_id="s1"),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s2'>"
            "<body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='s1'/>"
            "<request xmlns='urn:xmpp:receipts'/><origin-id xmlns='urn:xmpp:sid:0' id='s2'/></message>",
        )

    def test_retract(self) -> None:
        """A retraction has both XEP-0424 forms, a fallback body and a store hint."""
        event = _event(MessageRetract, message_id="hub-m")
        self.assertStanzas(
            event_to_stanzas(event, stanza_id="s3", target_id="s1"),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s3'>"
            "<retract xmlns='urn:xmpp:message-retract:1' id='s1'/>"
            "<apply-to xmlns='urn:xmpp:fasten:0' id='s1'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to>"
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
            "<body>This person attempted to retract a previous message, but it's unsupported by your client.</body>"
            "<store xmlns='urn:xmpp:hints'/><origin-id xmlns='urn:xmpp:sid:0' id='s3'/></message>",
        )

    def test_reactions(self) -> None:
        """A reaction event sends the sender's complete set after it."""
        add = _event(ReactionAdd, message_id="hub-m", emoji="👍")
        self.assertStanzas(
            event_to_stanzas(add, stanza_id="s4", target_id="s1", previous_reactions={"🎉"}),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s4'>"
            "<reactions xmlns='urn:xmpp:reactions:0' id='s1'><reaction>🎉</reaction><reaction>👍</reaction></reactions>"
            "<store xmlns='urn:xmpp:hints'/></message>",
        )
        remove = _event(ReactionRemove, message_id="hub-m", emoji="👍")
        self.assertStanzas(
            event_to_stanzas(remove, stanza_id="s5", target_id="s1", previous_reactions={"👍"}),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s5'>"
            "<reactions xmlns='urn:xmpp:reactions:0' id='s1'/><store xmlns='urn:xmpp:hints'/></message>",
        )

    def test_missing_target(self) -> None:
        """Edits, retractions and reactions without a native target give nothing."""
        for event in (
            _event(MessageEdit, message_id="m", body=RichText.plain("x")),
            _event(MessageRetract, message_id="m"),
            _event(ReactionAdd, message_id="m", emoji="x"),
        ):
            self.assertEqual(event_to_stanzas(event, stanza_id="s"), [])

    def test_file(self) -> None:
        """A file share is an OOB URL with the URL as body."""
        event = _event(FileShare, name="a.pdf", url="https://files.acme.test/a.pdf", size=3)
        self.assertStanzas(
            event_to_stanzas(event, stanza_id="s6", request_receipt=False),
            "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='s6'>"
            "<body>https://files.acme.test/a.pdf</body>"
            "<x xmlns='jabber:x:oob'><url>https://files.acme.test/a.pdf</url></x>"
            "<origin-id xmlns='urn:xmpp:sid:0' id='s6'/></message>",
        )

    def test_typing(self) -> None:
        """Typing states are chat states with a no-store hint."""
        for state, element in (
            (TypingState.COMPOSING, "composing"),
            (TypingState.PAUSED, "paused"),
            (TypingState.IDLE, "active"),
        ):
            self.assertStanzas(
                event_to_stanzas(_event(Typing, state=state), stanza_id="t"),
                "<message from='romeo@acme.test' to='juliet@capulet.test' type='chat' id='t'>"
                f"<{element} xmlns='http://jabber.org/protocol/chatstates'/>"
                "<no-store xmlns='urn:xmpp:hints'/></message>",
            )

    def test_presence(self) -> None:
        """Availabilities map to show values; offline is unavailable."""
        for availability, attributes, show in (
            (Availability.AVAILABLE, "", ""),
            (Availability.AWAY, "", "<show>away</show>"),
            (Availability.UNKNOWN, "", "<show>away</show>"),
            (Availability.BUSY, "", "<show>dnd</show>"),
            (Availability.DND, "", "<show>dnd</show>"),
            (Availability.OFFLINE, " type='unavailable'", ""),
        ):
            self.assertStanzas(
                event_to_stanzas(
                    _event(Presence, availability=availability, status="at lunch"), stanza_id="p"
                ),
                f"<presence from='romeo@acme.test' to='juliet@capulet.test' id='p'{attributes}>"
                f"{show}<status>at lunch</status></presence>",
            )

    def test_contacts(self) -> None:
        """Contact events are presence subscription stanzas."""
        self.assertStanzas(
            event_to_stanzas(_event(ContactRequest, display_name="Romeo M."), stanza_id="c"),
            "<presence from='romeo@acme.test' to='juliet@capulet.test' id='c' type='subscribe'>"
            "<nick xmlns='http://jabber.org/protocol/nick'>Romeo M.</nick></presence>",
        )
        self.assertStanzas(
            event_to_stanzas(_event(ContactAccept), stanza_id="c"),
            "<presence from='romeo@acme.test' to='juliet@capulet.test' id='c' type='subscribed'/>",
        )
        self.assertStanzas(
            event_to_stanzas(_event(ContactDecline), stanza_id="c"),
            "<presence from='romeo@acme.test' to='juliet@capulet.test' id='c' type='unsubscribed'/>",
        )
        self.assertStanzas(
            event_to_stanzas(_event(ContactRemove), stanza_id="c"),
            "<presence from='romeo@acme.test' to='juliet@capulet.test' id='c' type='unsubscribe'/>",
            "<presence from='romeo@acme.test' to='juliet@capulet.test' id='c-2' type='unsubscribed'/>",
        )

    def test_delivery_error(self) -> None:
        """A delivery error is a stanza error echoing the failed stanza's id."""
        event = _event(
            DeliveryError,
            condition="not-allowed",
            reason="acme.test does not federate with capulet.test",
            original_event_id="e1",
            original_kind="message",
        )
        self.assertStanzas(
            event_to_stanzas(event, stanza_id="m1"),
            "<message from='romeo@acme.test' to='juliet@capulet.test' id='m1' type='error'>"
            "<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>acme.test does not federate with capulet.test</text>"
            "</error></message>",
        )

    def test_presence_delivery_error(self) -> None:
        """An error about a contact request is a presence error."""
        event = _event(
            DeliveryError,
            condition="recipient-unavailable",
            reason="r",
            original_event_id="e1",
            original_kind="contact_request",
        )
        (stanza,) = event_to_stanzas(event, stanza_id="p1")
        self.assertEqual(stanza.name, "presence")
        self.assertIn("type='wait'", stanza.toXml())

    def test_escaped_addresses(self) -> None:
        """Addresses with characters JIDs cannot hold are escaped."""
        event = TextMessage(
            sender=Address.parse("o'brien@acme.test"), recipient=JULIET, body=RichText.plain("x")
        )
        (stanza,) = event_to_stanzas(event, stanza_id="s")
        self.assertEqual(stanza["from"], "o\\27brien@acme.test")

    def test_round_trip(self) -> None:
        """Every event type read back from its stanzas is the same kind of event."""
        events = [
            _event(TextMessage, body=RichText([Italic([Text("hi")])])),
            _event(MessageEdit, message_id="m", body=RichText.plain("x")),
            _event(MessageRetract, message_id="m"),
            _event(ReactionAdd, message_id="m", emoji="👍"),
            _event(FileShare, name="a.png", url="https://x.test/a.png"),
            _event(Typing, state=TypingState.PAUSED),
            _event(Presence, availability=Availability.DND, status="busy"),
            _event(ContactRequest, display_name="R"),
            _event(ContactAccept),
            _event(ContactDecline),
            _event(
                DeliveryError,
                condition="forbidden",
                reason="no",
                original_event_id="e",
                original_kind="message",
            ),
        ]
        for event in events:
            stanzas = event_to_stanzas(event, stanza_id="s1", target_id="t1")
            received = stanza_to_events(parse_xml(stanzas[0].toXml()), now=NOW)
            back = received.bind(same_ids, request_pending=True)
            self.assertEqual([type(item) for item in back], [type(event)], event)
            self.assertEqual((back[0].sender, back[0].recipient), (ROMEO, JULIET))
        received = stanza_to_events(
            parse_xml(event_to_stanzas(events[0], stanza_id="s1")[0].toXml()), now=NOW
        )
        (text,) = received.bind(same_ids)
        assert isinstance(text, TextMessage) and isinstance(events[0], TextMessage)
        self.assertEqual(text.body, events[0].body)

    def test_every_event_type(self) -> None:
        """Every event type has a stanza form."""
        self.assertEqual(len(EVENT_TYPES), 13)
        samples: dict[type[Event], dict[str, Any]] = {
            TextMessage: {"body": RichText.plain("x")},
            MessageEdit: {"message_id": "m", "body": RichText.plain("x")},
            MessageRetract: {"message_id": "m"},
            ReactionAdd: {"message_id": "m", "emoji": "x"},
            ReactionRemove: {"message_id": "m", "emoji": "x"},
            FileShare: {"name": "n", "url": "https://x.test/"},
            Typing: {"state": TypingState.COMPOSING},
            Presence: {"availability": Availability.AWAY},
            ContactRequest: {},
            ContactAccept: {},
            ContactDecline: {},
            ContactRemove: {},
            DeliveryError: {
                "condition": "c",
                "reason": "r",
                "original_event_id": "e",
                "original_kind": "message",
            },
        }
        for kind in EVENT_TYPES:
            stanzas = event_to_stanzas(_event(kind, **samples[kind]), stanza_id="s", target_id="t")
            self.assertTrue(stanzas, kind)
            for stanza in stanzas:
                parse_xml(stanza.toXml())

    def test_old_timestamp_ignored(self) -> None:
        """Writing does not depend on the event's time."""
        event = _event(Typing, state=TypingState.COMPOSING)
        later = TextMessage(
            sender=ROMEO,
            recipient=JULIET,
            body=RichText.plain("x"),
            timestamp=NOW + timedelta(days=9),
        )
        self.assertTrue(event_to_stanzas(event, stanza_id="a"))
        self.assertTrue(event_to_stanzas(later, stanza_id="a"))


__all__ = ["assert_xml", "canonical", "parse_xml"]
