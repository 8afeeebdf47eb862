"""
Tests for L{nextplane.model}: addresses, rich text and events, including
that no content shows in any repr.
"""

from __future__ import annotations

from datetime import datetime

import attrs
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from nextplane.model.address import Address, ChatSessionId, InvalidAddress, validate_domain
from nextplane.model.events import (
    EVENT_TYPES,
    Category,
    FileShare,
    Presence,
    TextMessage,
)
from nextplane.model.text import (
    Bold,
    Emoji,
    LineBreak,
    Link,
    Mention,
    RichText,
    Text,
    merge_texts,
)

MARKER = "zq-secret-marker-7731"


class AddressTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """Addresses parse with or without URI schemes; domains are lower-cased."""
        self.assertEqual(Address.parse("John@ACME.test"), Address("John", "acme.test"))
        self.assertEqual(Address.parse("sip:bob@lync.test"), Address("bob", "lync.test"))
        self.assertEqual(Address.parse("xmpp:a@b.test").key, "a@b.test")
        self.assertEqual(str(Address.parse("John@acme.test")), "John@acme.test")
        self.assertEqual(Address.parse("John@acme.test").key, "john@acme.test")

    def test_invalid(self) -> None:
        """Malformed addresses and domains are refused."""
        for text in [
            "",
            "nodomain",
            "@acme.test",
            "a b@acme.test",
            "a@",
            "a@acme",
            "a@-x.test",
            "a@x..test",
            "a/b@x.test",
            "a@1.2.3.4",
        ]:
            with self.assertRaises(InvalidAddress, msg=text):
                Address.parse(text)

    def test_idna(self) -> None:
        """Internationalised domains are kept in their ASCII form."""
        self.assertEqual(validate_domain("bücher.test"), "xn--bcher-kva.test")

    def test_session_id(self) -> None:
        """Session ids are fresh and printable."""
        self.assertNotEqual(ChatSessionId.new(), ChatSessionId.new())
        with self.assertRaises(ValueError):
            ChatSessionId("")

    @given(st.text())
    def test_parse_never_crashes(self, text: str) -> None:
        """Parsing arbitrary text raises only InvalidAddress."""
        try:
            Address.parse(text)
        except InvalidAddress:
            pass


class RichTextTests(SynchronousTestCase):
    def test_plain(self) -> None:
        """Plain text round-trips through the tree, newlines as line breaks."""
        tree = RichText.plain("a\nb")
        self.assertEqual(tree.nodes, (Text("a"), LineBreak(), Text("b")))
        self.assertEqual(tree.plain_text(), "a\nb")

    def test_plain_text_of_markup(self) -> None:
        """Markup is dropped, links without labels show the URL, mentions show @name."""
        tree = RichText(
            [
                Bold([Text("hi ")]),
                Mention("Ann"),
                Text(" "),
                Link("https://x.test"),
                Emoji("👍", ":+1:"),
            ]
        )
        self.assertEqual(tree.plain_text(), "hi @Ann https://x.test👍")

    def test_repr_hides_content(self) -> None:
        """A rich text's repr shows no content."""
        self.assertNotIn(MARKER, repr(RichText.plain(MARKER)))


class MergeTextsTests(SynchronousTestCase):
    def test_joins_adjacent_text(self) -> None:
        """Adjacent text nodes become one; other nodes split runs."""
        nodes = [Text("a"), Text("b"), LineBreak(), Text("c"), Text("")]
        self.assertEqual(merge_texts(nodes), [Text("ab"), LineBreak(), Text("c")])

    def test_empty_text(self) -> None:
        """Empty text nodes are dropped, unless kept."""
        nodes = [Text(""), Bold([Text("x")]), Text("")]
        self.assertEqual(merge_texts(nodes), [Bold([Text("x")])])
        self.assertEqual(merge_texts(nodes, keep_empty=True), nodes)


class EventTests(SynchronousTestCase):
    def test_categories(self) -> None:
        """Every event type has a category and a distinct kind."""
        kinds = [t.kind for t in EVENT_TYPES]
        self.assertEqual(len(kinds), len(set(kinds)))
        for event_type in EVENT_TYPES:
            self.assertIsInstance(event_type.category, Category)

    def test_immutable(self) -> None:
        """Events cannot be changed after creation."""
        event = TextMessage(
            sender=Address("a", "x.test"),
            recipient=Address("b", "y.test"),
            body=RichText.plain("x"),
        )
        with self.assertRaises(attrs.exceptions.FrozenInstanceError):
            event.message_id = "other"  # type: ignore[misc]

    def test_timestamps_are_utc(self) -> None:
        """Naive timestamps are refused; aware ones are kept in UTC."""
        with self.assertRaises(ValueError):
            Presence(
                sender=Address("a", "x.test"),
                recipient=Address("b", "y.test"),
                availability="away",
                timestamp=datetime(2026, 1, 1),
            )

    def test_reprs_hide_content(self) -> None:
        """No content field appears in an event's repr, so logs and errors cannot leak it."""
        common = {"sender": Address("a", "x.test"), "recipient": Address("b", "y.test")}
        events = [
            TextMessage(body=RichText.plain(MARKER), **common),
            FileShare(name=MARKER, url=f"https://f.test/{MARKER}", **common),
            Presence(availability="away", status=MARKER, **common),
        ]
        for event in events:
            self.assertNotIn(MARKER, repr(event))
            self.assertNotIn(MARKER, str(event))

    def test_presence_values(self) -> None:
        """Unknown presence values are refused."""
        with self.assertRaises(ValueError):
            Presence(
                sender=Address("a", "x.test"),
                recipient=Address("b", "y.test"),
                availability="sleepy",
            )
